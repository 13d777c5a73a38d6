//! The composition root: builds the adapters from the configuration, wires them into the use
//! cases and serves the HTTP app. `main` and the black-box tests both start Somnium through
//! [`Application::build`].

pub mod config;
pub mod keys;
pub mod telemetry;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use poem::listener::{Acceptor, AcceptorExt, BoxAcceptor, Listener, RustlsCertificate, RustlsConfig, TcpListener};
use poem::Server;
use sea_orm::DatabaseConnection;
use somnium_adapters::crypto::{Argon2idHasher, HmacTotpCodes, OsRandom, Sha256RefreshTokens, SystemClock};
use somnium_adapters::http::cookies::CsrfGuard;
use somnium_adapters::http::rate_limit::RateLimitGuard;
use somnium_adapters::http::transport::TransportSettings;
use somnium_adapters::http::{self, GuardSettings, HttpState, ReadinessProbe};
use somnium_adapters::jwt::{Es256AccessTokens, JwtSettings};
use somnium_adapters::limits::{
    DegradationReporter, FallbackLockout, FallbackRateLimiter, GovernorRateLimiter, MemoryLockout, RedisHealth,
    RedisLockout, RedisRateLimiter, RedisStore,
};
use somnium_adapters::revocation;
use somnium_adapters::storage::{self, DatabaseSettings, SqlAuditLog, SqlEmergencyGrants, SqlSessionRepository};
use somnium_adapters::user_cache::CachedUserRepository;
use somnium_application::{AuthService, AuthSettings, Ports};
use somnium_domain::password_policy::{Blocklist, PasswordPolicy};
use somnium_domain::ports::{AuditLog, Clock, LockoutStore, RateLimiter};
use somnium_domain::{AuditEvent, AuditEventId, AuditEventType, AuditOutcome, AuditSeverity, RequestContext};

pub use config::{Config, ConfigError, Environment, SecretSource, SigningKeySource};
pub use somnium_domain::ports::Clock as ClockPort;

/// Replacements for adapters, used by tests to control time.
#[derive(Clone, Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    /// Set when shutdown begins; readiness turns false from then on.
    pub shutting_down: Arc<AtomicBool>,
}

/// A built Somnium, bound to its port and ready to serve.
pub struct Application {
    port: u16,
    shutting_down: Arc<AtomicBool>,
    grace: std::time::Duration,
    acceptor: BoxAcceptor,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
}

impl Application {
    /// Opens the database, applies migrations, loads and checks the keys and binds the listener.
    ///
    /// # Errors
    /// Fails with the cause when the database, the key or the address cannot be used.
    pub async fn build(config: &Config, overrides: Overrides) -> anyhow::Result<Self> {
        let storage = keys::prepare_storage(config).await?;
        let shutting_down = overrides.shutting_down.clone();
        let (state, guard) = build_state(config, storage, overrides).await?;

        let acceptor = bind(config).await?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|address| address.as_socket_addr().map(|socket| socket.port()))
            .context("the listener has no TCP address")?;

        use poem::EndpointExt;
        Ok(Self {
            port,
            shutting_down,
            grace: config.shutdown_grace,
            acceptor,
            endpoint: http::app(state, guard).await.boxed(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    ///
    /// # Errors
    /// Fails when the server stops on an I/O error.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(port = self.port, "somnium is serving");
        let shutting_down = self.shutting_down.clone();
        let grace = self.grace;
        let shutdown = async move {
            shutdown.await;
            shutting_down.store(true, Ordering::Release);
            tracing::info!(
                grace_seconds = grace.as_secs(),
                "shutting down: no new connections, finishing in-flight requests"
            );
        };
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(self.endpoint, shutdown, Some(grace))
            .await
            .context("the HTTP server stopped on an error")?;
        tracing::info!("somnium stopped");
        Ok(())
    }
}

/// Binds the listener, with native TLS when a certificate is configured.
async fn bind(config: &Config) -> anyhow::Result<BoxAcceptor> {
    let listener = TcpListener::bind(config.listen_addr);
    let bind_error = || format!("could not listen on {}; change SOMNIUM_LISTEN_ADDR", config.listen_addr);
    let Some(tls) = &config.tls else {
        return Ok(listener.into_acceptor().await.with_context(bind_error)?.boxed());
    };

    let cert =
        fs::read(&tls.cert).with_context(|| format!("could not read SOMNIUM_TLS_CERT {}", tls.cert.display()))?;
    let key = fs::read(&tls.key).with_context(|| format!("could not read SOMNIUM_TLS_KEY {}", tls.key.display()))?;
    // rustls implements TLS 1.2 and 1.3 only, so older protocol versions are refused.
    let certificate = RustlsCertificate::new().cert(cert).key(key);
    let acceptor = listener
        .rustls(RustlsConfig::new().fallback(certificate))
        .into_acceptor()
        .await
        .with_context(|| {
            format!(
                "could not start TLS with SOMNIUM_TLS_CERT and SOMNIUM_TLS_KEY on {}",
                config.listen_addr
            )
        })?;
    tracing::info!("serving HTTPS with native TLS");
    Ok(acceptor.boxed())
}

/// Connects to the database named by the configuration and applies pending migrations.
///
/// # Errors
/// Fails when the data directory cannot be created or the database cannot be reached or
/// migrated.
pub async fn open_database(config: &Config) -> anyhow::Result<DatabaseConnection> {
    if config.is_sqlite() {
        create_private_dir(&config.data_dir)?;
    }
    let settings = DatabaseSettings {
        url: config.database_url.clone(),
        schema: config.database_schema.clone(),
        max_connections: config.database_max_connections,
    };
    let connection = storage::connect(&settings)
        .await
        .context("could not open the database named by DATABASE_URL")?;
    storage::migrate(&connection).await?;
    Ok(connection)
}

pub(crate) fn create_private_dir(path: &std::path::Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    fs::create_dir_all(path).with_context(|| format!("could not create the data directory {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("could not restrict the data directory {}", path.display()))?;
    Ok(())
}

async fn build_state(
    config: &Config,
    storage: keys::Storage,
    overrides: Overrides,
) -> anyhow::Result<(HttpState, GuardSettings)> {
    let connection = storage.connection.clone();
    let clock: Arc<dyn Clock> = overrides.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
    keys::ensure_signing_key(config, &storage, clock.now()).await?;
    let jwt_settings = JwtSettings {
        issuer: config.jwt_issuer.clone(),
        audience: config.jwt_audience.clone(),
        access_token_lifetime: config.access_token_lifetime,
        leeway: config.jwt_leeway,
    };
    let access_tokens = Arc::new(Es256AccessTokens::with_keys(
        jwt_settings,
        keys::managed_keys(&storage).await?,
    )?);
    keys::spawn_key_refresh(
        storage.clone(),
        Arc::downgrade(&access_tokens),
        config.key_refresh_interval,
    );
    let hasher = Argon2idHasher::new(config.argon2, config.hash_concurrency).map_err(anyhow::Error::msg)?;
    let audit: Arc<dyn AuditLog> = Arc::new(SqlAuditLog::new(connection.clone()));
    let limits = build_limits(config, clock.clone(), audit.clone())?;
    let retention = config.access_token_lifetime + config.jwt_leeway + time::Duration::seconds(60);
    let redis_channel = match &config.redis_url {
        Some(url) => Some((
            redis::Client::open(url.as_str()).context("REDIS_URL is invalid")?,
            config.redis_prefix.clone(),
        )),
        None => None,
    };
    let revocations = revocation::start(retention, clock.clone(), connection.clone(), redis_channel)
        .await
        .context("could not load the revoked sessions")?;
    let csrf = CsrfGuard::new(
        storage.encryption.blind_index_key().derive_secret("somnium csrf"),
        Arc::new(config.cors_origins.clone()),
    );

    let ports = Ports {
        users: Arc::new(CachedUserRepository::new(Arc::new(storage.users()))),
        sessions: Arc::new(SqlSessionRepository::new(connection.clone())),
        audit,
        hasher: Arc::new(hasher),
        access_tokens: access_tokens.clone(),
        refresh_tokens: Arc::new(Sha256RefreshTokens),
        clock: clock.clone(),
        random: Arc::new(OsRandom),
        lockout: limits.lockout,
        device_tokens: access_tokens.clone(),
        revocations: revocations.clone(),
        emergency: Arc::new(SqlEmergencyGrants::new(connection.clone())),
        mfa: Arc::new(storage.mfa()),
        totp: Arc::new(HmacTotpCodes::new(
            storage
                .encryption
                .blind_index_key()
                .derive_secret("somnium recovery codes"),
        )),
    };
    let settings = AuthSettings {
        refresh_grace_period: config.refresh_grace_period,
        sessions: config.sessions.clone(),
        emergency_access_lifetime: config.emergency_access_lifetime,
        lockout: config.lockout.clone(),
        password_policy: Arc::new(password_policy(config)?),
        mfa: config.mfa.clone(),
        mfa_issuer: config.mfa_issuer.clone(),
    };
    let auth = AuthService::new(ports, settings).await?;

    let guard = GuardSettings {
        transport: TransportSettings {
            production: config.environment == Environment::Production,
            cors_origins: Arc::new(config.cors_origins.clone()),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            docs_csp: Arc::default(),
        },
        rate_limits: RateLimitGuard {
            limits: config.rate_limits.clone(),
            limiter: limits.rate_limiter,
            access_tokens: access_tokens.clone(),
            clock: clock.clone(),
        },
    };
    let state = HttpState {
        auth,
        jwks: {
            let access_tokens = access_tokens.clone();
            Arc::new(move |now| access_tokens.jwks(now))
        },
        access_tokens,
        clock,
        readiness: Arc::new(ServiceProbe {
            connection,
            redis: limits.redis.clone(),
            shutting_down: overrides.shutting_down.clone(),
        }),
        revocations,
        csrf,
    };
    Ok((state, guard))
}

fn password_policy(config: &Config) -> anyhow::Result<PasswordPolicy> {
    let blocklist = match &config.password_blocklist_file {
        None => Blocklist::common_passwords(),
        Some(path) => {
            let text = fs::read_to_string(path)
                .with_context(|| format!("could not read SOMNIUM_PASSWORD_BLOCKLIST_FILE {}", path.display()))?;
            Blocklist::from_lines(&text)
        }
    };
    PasswordPolicy::new(config.password_preset, config.password_min_length, Arc::new(blocklist))
        .context("SOMNIUM_PASSWORD_MIN_LENGTH is invalid")
}

struct Limits {
    lockout: Arc<dyn LockoutStore>,
    rate_limiter: Arc<dyn RateLimiter>,
    redis: Option<Arc<RedisStore>>,
}

/// Keeps lockout and rate limits in Redis when `REDIS_URL` is set, with this process as the
/// fallback, and in this process otherwise.
fn build_limits(config: &Config, clock: Arc<dyn Clock>, audit: Arc<dyn AuditLog>) -> anyhow::Result<Limits> {
    let Some(url) = &config.redis_url else {
        return Ok(Limits {
            lockout: Arc::new(MemoryLockout::default()),
            rate_limiter: Arc::new(GovernorRateLimiter::new(clock)),
            redis: None,
        });
    };

    let store = Arc::new(RedisStore::new(url, &config.redis_prefix, config.redis_timeout).map_err(anyhow::Error::msg)?);
    let reporter_clock = clock.clone();
    let reporter: DegradationReporter = Arc::new(move || {
        let event = AuditEvent {
            id: AuditEventId::from_random_bytes(rand_bytes()),
            occurred_at: reporter_clock.now(),
            event_type: AuditEventType::SecurityDegraded,
            user_id: None,
            resource: Some("redis".to_owned()),
            outcome: AuditOutcome::Failure,
            detail: Some("redis_unreachable".to_owned()),
            severity: AuditSeverity::Warning,
            actor_id: None,
            changes: None,
            context: RequestContext::default(),
        };
        let audit = audit.clone();
        tokio::spawn(async move {
            if let Err(error) = audit.record(&event).await {
                tracing::error!(%error, "could not record the security_degraded audit event");
            }
        });
    });
    let health = RedisHealth::new(reporter);
    Ok(Limits {
        lockout: Arc::new(FallbackLockout::new(RedisLockout::new(store.clone()), health.clone())),
        rate_limiter: Arc::new(FallbackRateLimiter::new(
            RedisRateLimiter::new(store.clone()),
            GovernorRateLimiter::new(clock),
            health,
        )),
        redis: Some(store),
    })
}

fn rand_bytes() -> [u8; 16] {
    let mut bytes = [0_u8; 16];
    somnium_domain::ports::SecureRandom::fill(&OsRandom, &mut bytes);
    bytes
}

/// Builds the use cases over a fresh database connection, for the command-line tools.
///
/// # Errors
/// Fails when the database or the keys cannot be used.
pub async fn auth_service(config: &Config) -> anyhow::Result<AuthService> {
    auth_service_with(config, Overrides::default()).await
}

/// Builds the use cases with replaced adapters, as tests do to move time.
///
/// # Errors
/// Fails when the database or the keys cannot be used.
pub async fn auth_service_with(config: &Config, overrides: Overrides) -> anyhow::Result<AuthService> {
    let storage = keys::prepare_storage(config).await?;
    let (state, _) = build_state(config, storage, overrides).await?;
    Ok(state.auth)
}

/// Ready while the database, and Redis when configured, answer and no shutdown has begun.
struct ServiceProbe {
    connection: DatabaseConnection,
    redis: Option<Arc<RedisStore>>,
    shutting_down: Arc<AtomicBool>,
}

#[async_trait]
impl ReadinessProbe for ServiceProbe {
    async fn is_ready(&self) -> bool {
        if self.shutting_down.load(Ordering::Acquire) {
            return false;
        }
        if !storage::ping(&self.connection).await {
            return false;
        }
        match &self.redis {
            Some(redis) => redis.ping().await,
            None => true,
        }
    }
}
