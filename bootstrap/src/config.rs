//! Configuration, read from environment variables and validated before anything starts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use somnium_adapters::crypto::{Argon2Params, BlindIndexKey, KeyRing};
use somnium_adapters::http::rate_limit::RateLimits;
use somnium_domain::lockout::LockoutPolicy;
use somnium_domain::mfa::MfaPolicy;
use somnium_domain::password_policy::PolicyPreset;
use somnium_domain::rate_limit::RateLimit;
use somnium_domain::session::{SessionLimits, SessionPolicy, SESSION_ABSOLUTE_LIFETIME};
use somnium_domain::Role;
use time::Duration;

/// The deployment environment. Production rejects the development conveniences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Where the first ES256 signing key comes from. Signing keys live in the database, sealed under
/// the data key, so every instance shares them; a key given here is added there when its kid is
/// not stored yet, which is also how an operator rotates through files.
#[derive(Clone)]
pub enum SigningKeySource {
    /// `SOMNIUM_SIGNING_KEY`: the PEM text itself.
    Pem(String),
    /// `SOMNIUM_SIGNING_KEY_FILE`: a PEM file the operator manages.
    File(PathBuf),
    /// Neither set: a key is generated at the first start and kept in the database.
    Stored,
}

impl std::fmt::Debug for SigningKeySource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pem(_) => formatter.write_str("Pem(<redacted>)"),
            Self::File(path) => formatter.debug_tuple("File").field(path).finish(),
            Self::Stored => formatter.write_str("Stored"),
        }
    }
}

/// Where a key that protects data at rest comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// The variable contains the key itself.
    Inline(String),
    /// The `_FILE` variable names a file the operator manages.
    File(PathBuf),
    /// Development only: generated once under the data directory with mode 0600.
    Generated(PathBuf),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => formatter.write_str("Inline(<redacted>)"),
            Self::File(path) => formatter.debug_tuple("File").field(path).finish(),
            Self::Generated(path) => formatter.debug_tuple("Generated").field(path).finish(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    /// `SOMNIUM_LISTEN_ADDR`, default `127.0.0.1:8080`.
    pub listen_addr: SocketAddr,
    /// `SOMNIUM_DATA_DIR`, default `./data`: the SQLite file and the development key.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`; without it, SQLite at `<data dir>/somnium.db`.
    pub database_url: String,
    /// PostgreSQL schema; set by tests to isolate each case.
    pub database_schema: Option<String>,
    /// `SOMNIUM_DB_MAX_CONNECTIONS`, 1 to 200, default 10.
    pub database_max_connections: u32,
    pub signing_key: SigningKeySource,
    /// `SOMNIUM_DATA_KEYS` or `SOMNIUM_DATA_KEYS_FILE`: the key ring sealing personal data,
    /// `id:base64` entries of 32 random bytes, the current key first.
    pub data_keys: SecretSource,
    /// `SOMNIUM_BLIND_INDEX_KEY` or `SOMNIUM_BLIND_INDEX_KEY_FILE`: at least 32 random bytes,
    /// base64, keying the email blind index.
    pub blind_index_key: SecretSource,
    /// `SOMNIUM_KEY_REFRESH_SECONDS`, 1 to 3600, default 30: how often the data key ring file
    /// and the stored signing keys are reread, so rotations reach every instance.
    pub key_refresh_interval: std::time::Duration,
    /// `SOMNIUM_JWT_ISSUER`, default `somnium`.
    pub jwt_issuer: String,
    /// `SOMNIUM_JWT_AUDIENCE`, default `somnium-api`.
    pub jwt_audience: String,
    /// `SOMNIUM_ACCESS_TOKEN_TTL_SECONDS`, 60 to 900, default 900.
    pub access_token_lifetime: Duration,
    /// `SOMNIUM_JWT_LEEWAY_SECONDS`, 0 to 60, default 30.
    pub jwt_leeway: Duration,
    /// `SOMNIUM_REFRESH_GRACE_SECONDS`, 0 to 60, default 5; 0 turns the grace period off.
    pub refresh_grace_period: Duration,
    /// `SOMNIUM_ARGON2_MEMORY_KIB` (default 19456), `SOMNIUM_ARGON2_ITERATIONS` (2),
    /// `SOMNIUM_ARGON2_PARALLELISM` (1).
    pub argon2: Argon2Params,
    /// `SOMNIUM_HASH_CONCURRENCY`, default the number of cores.
    pub hash_concurrency: usize,
    /// `SOMNIUM_TLS_CERT` and `SOMNIUM_TLS_KEY`: PEM files for native TLS (1.2 and 1.3 only).
    /// Without them Somnium serves plain HTTP, for a TLS-terminating proxy in front.
    pub tls: Option<TlsFiles>,
    /// `SOMNIUM_CORS_ORIGINS`: comma-separated origins (`https://ward.example.org`) allowed to
    /// call the API from a browser, with credentials. `*` is rejected.
    pub cors_origins: Vec<String>,
    /// `SOMNIUM_TRUSTED_PROXIES`: comma-separated CIDRs whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `REDIS_URL`: shares lockout and rate limits between instances; unset keeps them in process.
    pub redis_url: Option<String>,
    /// `SOMNIUM_REDIS_PREFIX`, default `somnium:`: prefix of every Redis key.
    pub redis_prefix: String,
    /// `SOMNIUM_REDIS_TIMEOUT_MS`, 10 to 5000, default 250: bound on each Redis call.
    pub redis_timeout: std::time::Duration,
    /// `SOMNIUM_RATE_LIMIT_LOGIN` (`5/minute`), `_REGISTER` (`3/hour`), `_REFRESH` (`10/minute`)
    /// and `_DEFAULT` (`100/hour`), each written `<count>/<second|minute|hour|day>`.
    pub rate_limits: RateLimits,
    /// `SOMNIUM_LOCKOUT_*`: thresholds and durations of account lockout.
    pub lockout: LockoutPolicy,
    /// `SOMNIUM_SESSION_IDLE_SECONDS` (1800), `SOMNIUM_SESSION_REMEMBER_ME_IDLE_SECONDS`
    /// (604800) and `SOMNIUM_SESSION_ABSOLUTE_SECONDS` (2592000, at most 30 days), each also
    /// per role with the role as a suffix, such as `SOMNIUM_SESSION_IDLE_SECONDS_ADMIN`.
    pub sessions: SessionPolicy,
    /// `SOMNIUM_AUDIT_RETENTION_DAYS`, at least 2190 (6 years), default 2557 (7 years): audit
    /// events younger than this are never pruned.
    pub audit_retention: Duration,
    /// `SOMNIUM_EMERGENCY_ACCESS_MINUTES`, 5 to 240, default 60: how long a break-glass grant
    /// lasts.
    pub emergency_access_lifetime: Duration,
    /// `SOMNIUM_SHUTDOWN_GRACE_SECONDS`, 1 to 300, default 30: how long in-flight requests may
    /// finish after SIGTERM.
    pub shutdown_grace: std::time::Duration,
    /// `SOMNIUM_LOG_FORMAT`: `json` (the default in production) or `text` (in development).
    pub log_format: LogFormat,
    /// `RUST_LOG`, default `info`: the log filter.
    pub log_filter: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: where traces and metrics go; unset turns telemetry off.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`, default `somnium`.
    pub otel_service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs added to every span and metric.
    pub otel_resource_attributes: Vec<(String, String)>,
    /// `SOMNIUM_PASSWORD_POLICY` (`hospital` or `nist`).
    pub password_preset: PolicyPreset,
    /// `SOMNIUM_PASSWORD_MIN_LENGTH`, 8 to 128; default 8 (hospital) or 15 (nist).
    pub password_min_length: Option<usize>,
    /// `SOMNIUM_PASSWORD_BLOCKLIST_FILE`: a file of common passwords (one per line) used instead
    /// of the shipped list of 10,000.
    pub password_blocklist_file: Option<PathBuf>,
    /// `SOMNIUM_MFA_REQUIRED_ROLES`: comma-separated roles that must sign in with a second
    /// factor, default every staff role (`ADMIN,ECMO_SPECIALIST,PHYSICIAN,NURSE`); `none` for
    /// no role.
    pub mfa: MfaPolicy,
    /// `SOMNIUM_MFA_ISSUER`, default `Somnium`: the name authenticator apps show.
    pub mfa_issuer: String,
}

/// The format of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// The certificate chain and private key of native TLS, both PEM files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Every `SOMNIUM_*` variable the configuration reads; any other is a misspelling and rejected.
const KNOWN_VARIABLES: &[&str] = &[
    "SOMNIUM_ACCESS_TOKEN_TTL_SECONDS",
    "SOMNIUM_ARGON2_ITERATIONS",
    "SOMNIUM_ARGON2_MEMORY_KIB",
    "SOMNIUM_ARGON2_PARALLELISM",
    "SOMNIUM_AUDIT_RETENTION_DAYS",
    "SOMNIUM_BLIND_INDEX_KEY",
    "SOMNIUM_BLIND_INDEX_KEY_FILE",
    "SOMNIUM_CORS_ORIGINS",
    "SOMNIUM_DATA_DIR",
    "SOMNIUM_DATA_KEYS",
    "SOMNIUM_DATA_KEYS_FILE",
    "SOMNIUM_DB_MAX_CONNECTIONS",
    "SOMNIUM_EMERGENCY_ACCESS_MINUTES",
    "SOMNIUM_ENV",
    "SOMNIUM_HASH_CONCURRENCY",
    "SOMNIUM_JWT_AUDIENCE",
    "SOMNIUM_JWT_ISSUER",
    "SOMNIUM_JWT_LEEWAY_SECONDS",
    "SOMNIUM_KEY_REFRESH_SECONDS",
    "SOMNIUM_LISTEN_ADDR",
    "SOMNIUM_LOCKOUT_ACCOUNT_MAX_SECONDS",
    "SOMNIUM_LOCKOUT_ACCOUNT_SECONDS",
    "SOMNIUM_LOCKOUT_ACCOUNT_THRESHOLD",
    "SOMNIUM_LOCKOUT_ACCOUNT_WINDOW_SECONDS",
    "SOMNIUM_LOCKOUT_CLIENT_SECONDS",
    "SOMNIUM_LOCKOUT_CLIENT_THRESHOLD",
    "SOMNIUM_LOCKOUT_DEVICE_SECONDS",
    "SOMNIUM_LOCKOUT_DEVICE_THRESHOLD",
    "SOMNIUM_LOG_FORMAT",
    "SOMNIUM_MFA_ISSUER",
    "SOMNIUM_MFA_REQUIRED_ROLES",
    "SOMNIUM_PASSWORD_BLOCKLIST_FILE",
    "SOMNIUM_PASSWORD_MIN_LENGTH",
    "SOMNIUM_PASSWORD_POLICY",
    "SOMNIUM_RATE_LIMIT_DEFAULT",
    "SOMNIUM_RATE_LIMIT_LOGIN",
    "SOMNIUM_RATE_LIMIT_REFRESH",
    "SOMNIUM_RATE_LIMIT_REGISTER",
    "SOMNIUM_REDIS_PREFIX",
    "SOMNIUM_REDIS_TIMEOUT_MS",
    "SOMNIUM_REFRESH_GRACE_SECONDS",
    "SOMNIUM_SESSION_ABSOLUTE_SECONDS",
    "SOMNIUM_SESSION_IDLE_SECONDS",
    "SOMNIUM_SESSION_REMEMBER_ME_IDLE_SECONDS",
    "SOMNIUM_SHUTDOWN_GRACE_SECONDS",
    "SOMNIUM_SIGNING_KEY",
    "SOMNIUM_SIGNING_KEY_FILE",
    "SOMNIUM_TLS_CERT",
    "SOMNIUM_TLS_KEY",
    "SOMNIUM_TRUSTED_PROXIES",
];

/// Variables that may also be set per role, with the role as a suffix.
const PER_ROLE_VARIABLES: [&str; 3] = [
    "SOMNIUM_SESSION_IDLE_SECONDS",
    "SOMNIUM_SESSION_REMEMBER_ME_IDLE_SECONDS",
    "SOMNIUM_SESSION_ABSOLUTE_SECONDS",
];

/// A configuration error that names the variable and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that is missing or invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        let production = vars
            .get("SOMNIUM_ENV")
            .is_some_and(|value| value.trim() == "production");
        if !production {
            // Development reads `.env` from the working directory too; a variable set in the
            // environment wins over the file. Production takes its settings from the
            // environment only, where the deployment puts them.
            if let Ok(text) = std::fs::read_to_string(".env") {
                for (name, value) in parse_dotenv(&text)? {
                    vars.entry(name).or_insert(value);
                }
            }
        }
        Self::from_vars(&vars)
    }

    /// Reads the configuration from the given variables.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that is missing or invalid.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        reject_unknown_variables(vars)?;
        let get = |name: &str| {
            vars.get(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };

        let environment = match get("SOMNIUM_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "SOMNIUM_ENV",
                    format!("`{other}` is not an environment; use development or production"),
                ))
            }
        };
        let production = environment == Environment::Production;

        let listen_addr = match get("SOMNIUM_LISTEN_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(value) => value.parse().map_err(|_| {
                invalid(
                    "SOMNIUM_LISTEN_ADDR",
                    format!("`{value}` is not an address such as 0.0.0.0:8080"),
                )
            })?,
        };
        let data_dir = PathBuf::from(get("SOMNIUM_DATA_DIR").unwrap_or_else(|| "./data".into()));

        let database_url = match get("DATABASE_URL") {
            Some(url) => url,
            None if production => {
                return Err(invalid(
                    "DATABASE_URL",
                    "is required in production; set it to postgres://user:password@host/database",
                ))
            }
            None => format!("sqlite://{}?mode=rwc", data_dir.join("somnium.db").display()),
        };

        let signing_key = match (get("SOMNIUM_SIGNING_KEY"), get("SOMNIUM_SIGNING_KEY_FILE")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "SOMNIUM_SIGNING_KEY",
                    "set either SOMNIUM_SIGNING_KEY or SOMNIUM_SIGNING_KEY_FILE, not both",
                ))
            }
            (Some(pem), None) => SigningKeySource::Pem(pem),
            (None, Some(path)) => SigningKeySource::File(PathBuf::from(path)),
            (None, None) => SigningKeySource::Stored,
        };
        let data_keys = secret_source(
            &get,
            ("SOMNIUM_DATA_KEYS", "SOMNIUM_DATA_KEYS_FILE"),
            production,
            data_dir.join("data-keys"),
            "a key ring such as `k1:<base64 of 32 random bytes>`; create one with `echo \"k1:$(openssl rand -base64 32)\"`",
        )?;
        if let SecretSource::Inline(text) = &data_keys {
            KeyRing::parse(text).map_err(|error| invalid("SOMNIUM_DATA_KEYS", error.to_string()))?;
        }
        let blind_index_key = secret_source(
            &get,
            ("SOMNIUM_BLIND_INDEX_KEY", "SOMNIUM_BLIND_INDEX_KEY_FILE"),
            production,
            data_dir.join("blind-index-key"),
            "at least 32 random bytes in base64; create them with `openssl rand -base64 32`",
        )?;
        if let SecretSource::Inline(text) = &blind_index_key {
            BlindIndexKey::parse(text).map_err(|error| invalid("SOMNIUM_BLIND_INDEX_KEY", error.to_string()))?;
        }

        let default_cores = std::thread::available_parallelism().map_or(1, usize::from);
        let config = Self {
            environment,
            listen_addr,
            data_dir,
            database_url,
            database_schema: None,
            database_max_connections: number(&get, "SOMNIUM_DB_MAX_CONNECTIONS", 10, 1..=200)?,
            signing_key,
            data_keys,
            blind_index_key,
            key_refresh_interval: std::time::Duration::from_secs(number(
                &get,
                "SOMNIUM_KEY_REFRESH_SECONDS",
                30,
                1..=3600,
            )?),
            jwt_issuer: get("SOMNIUM_JWT_ISSUER").unwrap_or_else(|| "somnium".into()),
            jwt_audience: get("SOMNIUM_JWT_AUDIENCE").unwrap_or_else(|| "somnium-api".into()),
            access_token_lifetime: Duration::seconds(number(&get, "SOMNIUM_ACCESS_TOKEN_TTL_SECONDS", 900, 60..=900)?),
            jwt_leeway: Duration::seconds(number(&get, "SOMNIUM_JWT_LEEWAY_SECONDS", 30, 0..=60)?),
            refresh_grace_period: Duration::seconds(number(&get, "SOMNIUM_REFRESH_GRACE_SECONDS", 5, 0..=60)?),
            argon2: Argon2Params {
                memory_kib: number(&get, "SOMNIUM_ARGON2_MEMORY_KIB", 19_456, 8..=4_194_304)?,
                iterations: number(&get, "SOMNIUM_ARGON2_ITERATIONS", 2, 1..=100)?,
                parallelism: number(&get, "SOMNIUM_ARGON2_PARALLELISM", 1, 1..=16)?,
            },
            hash_concurrency: number(&get, "SOMNIUM_HASH_CONCURRENCY", default_cores, 1..=256)?,
            tls: match (get("SOMNIUM_TLS_CERT"), get("SOMNIUM_TLS_KEY")) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: PathBuf::from(cert),
                    key: PathBuf::from(key),
                }),
                (None, None) => None,
                (Some(_), None) => return Err(invalid("SOMNIUM_TLS_KEY", "is required when SOMNIUM_TLS_CERT is set")),
                (None, Some(_)) => return Err(invalid("SOMNIUM_TLS_CERT", "is required when SOMNIUM_TLS_KEY is set")),
            },
            cors_origins: cors_origins(get("SOMNIUM_CORS_ORIGINS"))?,
            trusted_proxies: trusted_proxies(get("SOMNIUM_TRUSTED_PROXIES"))?,
            redis_url: get("REDIS_URL"),
            redis_prefix: get("SOMNIUM_REDIS_PREFIX").unwrap_or_else(|| "somnium:".into()),
            redis_timeout: std::time::Duration::from_millis(number(&get, "SOMNIUM_REDIS_TIMEOUT_MS", 250, 10..=5000)?),
            rate_limits: rate_limits(&get)?,
            lockout: lockout_policy(&get)?,
            sessions: session_policy(&get)?,
            emergency_access_lifetime: Duration::minutes(number(
                &get,
                "SOMNIUM_EMERGENCY_ACCESS_MINUTES",
                60,
                5..=240,
            )?),
            shutdown_grace: std::time::Duration::from_secs(number(
                &get,
                "SOMNIUM_SHUTDOWN_GRACE_SECONDS",
                30,
                1..=300,
            )?),
            log_format: match get("SOMNIUM_LOG_FORMAT").as_deref() {
                None if production => LogFormat::Json,
                None => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some("text") => LogFormat::Text,
                Some(other) => {
                    return Err(invalid(
                        "SOMNIUM_LOG_FORMAT",
                        format!("`{other}` is not a format; use json or text"),
                    ))
                }
            },
            log_filter: get("RUST_LOG").unwrap_or_else(|| "info".into()),
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            otel_service_name: get("OTEL_SERVICE_NAME").unwrap_or_else(|| "somnium".into()),
            otel_resource_attributes: resource_attributes(get("OTEL_RESOURCE_ATTRIBUTES"))?,
            audit_retention: Duration::days(number(&get, "SOMNIUM_AUDIT_RETENTION_DAYS", 2557, 2190..=36_500)?),
            password_preset: match get("SOMNIUM_PASSWORD_POLICY") {
                None => PolicyPreset::Hospital,
                Some(name) => name.parse().map_err(|_| {
                    invalid(
                        "SOMNIUM_PASSWORD_POLICY",
                        format!("`{name}` is not a preset; use hospital or nist"),
                    )
                })?,
            },
            password_min_length: match get("SOMNIUM_PASSWORD_MIN_LENGTH") {
                None => None,
                Some(_) => Some(number(&get, "SOMNIUM_PASSWORD_MIN_LENGTH", 8, 8..=128)?),
            },
            password_blocklist_file: get("SOMNIUM_PASSWORD_BLOCKLIST_FILE").map(PathBuf::from),
            mfa: mfa_policy(get("SOMNIUM_MFA_REQUIRED_ROLES"))?,
            mfa_issuer: get("SOMNIUM_MFA_ISSUER").unwrap_or_else(|| "Somnium".into()),
        };
        config.check_production()
    }

    /// Applies the rules production adds on top of each variable's own range.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable and the fix.
    fn check_production(self) -> Result<Self, ConfigError> {
        if self.environment != Environment::Production {
            return Ok(self);
        }
        let filter = self.log_filter.to_ascii_lowercase();
        if filter.contains("debug") || filter.contains("trace") {
            return Err(invalid(
                "RUST_LOG",
                "debug and trace logging are refused in production, because they may record request data; use info",
            ));
        }
        if self.is_sqlite() {
            return Err(invalid(
                "DATABASE_URL",
                "SQLite is the development default; production needs postgres://user:password@host/database",
            ));
        }
        if self.tls.is_none() && self.trusted_proxies.is_empty() {
            return Err(invalid(
                "SOMNIUM_TLS_CERT",
                "production refuses plain HTTP: set SOMNIUM_TLS_CERT and SOMNIUM_TLS_KEY, or SOMNIUM_TRUSTED_PROXIES \
                 for the TLS-terminating proxy in front",
            ));
        }
        Ok(self)
    }

    /// Moves the data directory, and with it the keys generated there in development.
    pub fn set_data_dir(&mut self, data_dir: PathBuf) {
        for (source, name) in [
            (&mut self.data_keys, "data-keys"),
            (&mut self.blind_index_key, "blind-index-key"),
        ] {
            if let SecretSource::Generated(path) = source {
                *path = data_dir.join(name);
            }
        }
        self.data_dir = data_dir;
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn mfa_policy(value: Option<String>) -> Result<MfaPolicy, ConfigError> {
    let Some(value) = value else {
        return Ok(MfaPolicy::staff());
    };
    if value.eq_ignore_ascii_case("none") {
        return Ok(MfaPolicy {
            required_roles: Vec::new(),
        });
    }
    let mut required_roles = Vec::new();
    for name in value.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        let role = name.to_ascii_uppercase().parse::<Role>().map_err(|_| {
            invalid(
                "SOMNIUM_MFA_REQUIRED_ROLES",
                format!("`{name}` is not a role; use ADMIN, ECMO_SPECIALIST, PHYSICIAN, NURSE or PATIENT, or none"),
            )
        })?;
        if !required_roles.contains(&role) {
            required_roles.push(role);
        }
    }
    Ok(MfaPolicy { required_roles })
}

/// Reads a key given inline or as a file; development generates it under the data directory.
fn secret_source(
    get: &impl Fn(&str) -> Option<String>,
    (inline, file): (&'static str, &'static str),
    production: bool,
    generated: PathBuf,
    how: &str,
) -> Result<SecretSource, ConfigError> {
    match (get(inline), get(file)) {
        (Some(_), Some(_)) => Err(invalid(inline, format!("set either {inline} or {file}, not both"))),
        (Some(value), None) => Ok(SecretSource::Inline(value)),
        (None, Some(path)) => Ok(SecretSource::File(PathBuf::from(path))),
        (None, None) if production => Err(invalid(
            file,
            format!("is required in production (or {inline}): {how}; keep it outside the database and its backups"),
        )),
        (None, None) => Ok(SecretSource::Generated(generated)),
    }
}

/// Parses `NAME=value` lines, skipping blank lines and `#` comments; a value may be wrapped in
/// single or double quotes.
fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            let problem = format!("line {} of .env is not NAME=value", index + 1);
            return Err(invalid(".env", problem));
        };
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|rest| rest.strip_suffix('\'')))
            .unwrap_or(value);
        pairs.push((name.trim().to_owned(), unquoted.to_owned()));
    }
    Ok(pairs)
}

/// Rejects a `SOMNIUM_*` variable the configuration does not read, so a misspelled limit is an
/// error instead of a silently ignored setting. `SOMNIUM_TEST_*` belongs to the test suite.
fn reject_unknown_variables(vars: &HashMap<String, String>) -> Result<(), ConfigError> {
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        if !name.starts_with("SOMNIUM_")
            || name.starts_with("SOMNIUM_TEST_")
            || KNOWN_VARIABLES.contains(&name.as_str())
        {
            continue;
        }
        let per_role = PER_ROLE_VARIABLES.iter().any(|base| {
            name.strip_prefix(base)
                .and_then(|suffix| suffix.strip_prefix('_'))
                .is_some_and(|role| role.parse::<Role>().is_ok())
        });
        if per_role {
            continue;
        }
        // The name lives for the rest of the process, which is about to exit with this error.
        let variable: &'static str = Box::leak(name.clone().into_boxed_str());
        return Err(invalid(
            variable,
            "is not a variable Somnium reads; check the spelling (infra/.env.example lists every variable, and per-role \
             session limits end in _ADMIN, _ECMO_SPECIALIST, _PHYSICIAN, _NURSE or _PATIENT)",
        ));
    }
    Ok(())
}

fn resource_attributes(value: Option<String>) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                invalid(
                    "OTEL_RESOURCE_ATTRIBUTES",
                    format!("`{pair}` is not key=value; write deployment.environment=prod,…"),
                )
            })?;
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn cors_origins(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|origin| {
            if origin == "*" {
                return Err(invalid(
                    "SOMNIUM_CORS_ORIGINS",
                    "`*` cannot be combined with credentials; list each allowed origin, such as https://ward.example.org",
                ));
            }
            let (scheme, host) = origin.split_once("://").unwrap_or_default();
            let valid = matches!(scheme, "http" | "https")
                && !host.is_empty()
                && !host.contains('/')
                && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !valid {
                return Err(invalid(
                    "SOMNIUM_CORS_ORIGINS",
                    format!("`{origin}` is not an origin; write scheme://host[:port] without a path"),
                ));
            }
            Ok(origin.to_owned())
        })
        .collect()
}

fn trusted_proxies(value: Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "SOMNIUM_TRUSTED_PROXIES",
                        format!("`{entry}` is not an address or CIDR such as 10.0.0.0/8"),
                    )
                })
        })
        .collect()
}

fn rate_limits(get: &impl Fn(&str) -> Option<String>) -> Result<RateLimits, ConfigError> {
    let defaults = RateLimits::default();
    let read = |variable: &'static str, default: RateLimit| match get(variable) {
        None => Ok(default),
        Some(text) => parse_rate(&text).ok_or_else(|| {
            invalid(
                variable,
                format!(
                    "`{text}` is not a rate; write it as <count>/<second|minute|hour|day> with a count from 1 to \
                     1000000, such as 5/minute"
                ),
            )
        }),
    };
    Ok(RateLimits {
        login: read("SOMNIUM_RATE_LIMIT_LOGIN", defaults.login)?,
        register: read("SOMNIUM_RATE_LIMIT_REGISTER", defaults.register)?,
        refresh: read("SOMNIUM_RATE_LIMIT_REFRESH", defaults.refresh)?,
        default: read("SOMNIUM_RATE_LIMIT_DEFAULT", defaults.default)?,
    })
}

fn parse_rate(text: &str) -> Option<RateLimit> {
    let (count, unit) = text.split_once('/')?;
    let limit: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|limit| *limit > 0 && *limit <= 1_000_000)?;
    let period = match unit.trim() {
        "second" | "s" => Duration::seconds(1),
        "minute" | "m" => Duration::minutes(1),
        "hour" | "h" => Duration::hours(1),
        "day" | "d" => Duration::days(1),
        _ => return None,
    };
    Some(RateLimit { limit, period })
}

fn session_policy(get: &impl Fn(&str) -> Option<String>) -> Result<SessionPolicy, ConfigError> {
    const IDLE: &str = "SOMNIUM_SESSION_IDLE_SECONDS";
    const REMEMBER_ME_IDLE: &str = "SOMNIUM_SESSION_REMEMBER_ME_IDLE_SECONDS";
    const ABSOLUTE: &str = "SOMNIUM_SESSION_ABSOLUTE_SECONDS";
    let max = SESSION_ABSOLUTE_LIFETIME.whole_seconds();
    let read = |variable: &'static str, role: Option<Role>, default: Duration| -> Result<Duration, ConfigError> {
        let name = match role {
            Some(role) => format!("{variable}_{}", role.as_str()),
            None => variable.to_owned(),
        };
        let Some(text) = get(&name) else {
            return Ok(default);
        };
        // The leaked name lives for the whole process; there are at most 18 such variables.
        let static_name: &'static str = Box::leak(name.into_boxed_str());
        let seconds: i64 = text
            .parse()
            .map_err(|_| invalid(static_name, format!("`{text}` is not a whole number of seconds")))?;
        if !(60..=max).contains(&seconds) {
            return Err(invalid(
                static_name,
                format!("{seconds} is outside the allowed range 60 to {max} seconds"),
            ));
        }
        Ok(Duration::seconds(seconds))
    };
    let base = SessionLimits::default();
    let default = SessionLimits {
        idle: read(IDLE, None, base.idle)?,
        remember_me_idle: read(REMEMBER_ME_IDLE, None, base.remember_me_idle)?,
        absolute: read(ABSOLUTE, None, base.absolute)?,
    };
    let mut per_role = Vec::new();
    for role in Role::ALL {
        let limits = SessionLimits {
            idle: read(IDLE, Some(role), default.idle)?,
            remember_me_idle: read(REMEMBER_ME_IDLE, Some(role), default.remember_me_idle)?,
            absolute: read(ABSOLUTE, Some(role), default.absolute)?,
        };
        if limits != default {
            per_role.push((role, limits));
        }
    }
    Ok(SessionPolicy { default, per_role })
}

fn lockout_policy(get: &impl Fn(&str) -> Option<String>) -> Result<LockoutPolicy, ConfigError> {
    let defaults = LockoutPolicy::default();
    let seconds = |variable: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        let value = number(get, variable, default.whole_seconds(), 1..=7 * 24 * 3600)?;
        Ok(Duration::seconds(value))
    };
    Ok(LockoutPolicy {
        client_threshold: number(
            get,
            "SOMNIUM_LOCKOUT_CLIENT_THRESHOLD",
            defaults.client_threshold,
            1..=1000,
        )?,
        client_lock: seconds("SOMNIUM_LOCKOUT_CLIENT_SECONDS", defaults.client_lock)?,
        account_threshold: number(
            get,
            "SOMNIUM_LOCKOUT_ACCOUNT_THRESHOLD",
            defaults.account_threshold,
            1..=10_000,
        )?,
        account_window: seconds("SOMNIUM_LOCKOUT_ACCOUNT_WINDOW_SECONDS", defaults.account_window)?,
        account_lock: seconds("SOMNIUM_LOCKOUT_ACCOUNT_SECONDS", defaults.account_lock)?,
        account_lock_max: seconds("SOMNIUM_LOCKOUT_ACCOUNT_MAX_SECONDS", defaults.account_lock_max)?,
        account_lock_memory: defaults.account_lock_memory,
        device_threshold: number(
            get,
            "SOMNIUM_LOCKOUT_DEVICE_THRESHOLD",
            defaults.device_threshold,
            1..=1000,
        )?,
        device_lock: seconds("SOMNIUM_LOCKOUT_DEVICE_SECONDS", defaults.device_lock)?,
    })
}

fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(text) = get(variable) else {
        return Ok(default);
    };
    let value: T = text
        .parse()
        .map_err(|_| invalid(variable, format!("`{text}` is not a whole number")))?;
    if !range.contains(&value) {
        return Err(invalid(
            variable,
            format!(
                "{value} is outside the allowed range {} to {}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_run_on_sqlite_in_development() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.environment, Environment::Development);
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8080");
        assert!(config.database_url.starts_with("sqlite://./data/somnium.db"));
        assert!(matches!(config.signing_key, SigningKeySource::Stored));
        assert!(matches!(&config.data_keys, SecretSource::Generated(path) if path.ends_with("data-keys")));
        assert!(matches!(&config.blind_index_key, SecretSource::Generated(_)));
        assert_eq!(config.access_token_lifetime, Duration::minutes(15));
    }

    #[test]
    fn production_requires_a_database_url() {
        let error = Config::from_vars(&vars(&[("SOMNIUM_ENV", "production")])).unwrap_err();
        assert_eq!(error.variable, "DATABASE_URL");
    }

    #[test]
    fn production_refuses_plain_http_sqlite_and_debug_logs() {
        let base = [
            ("SOMNIUM_ENV", "production"),
            ("DATABASE_URL", "postgres://db/somnium"),
            ("SOMNIUM_DATA_KEYS_FILE", "/run/secrets/data-keys"),
            ("SOMNIUM_BLIND_INDEX_KEY_FILE", "/run/secrets/blind-index-key"),
        ];
        let error = Config::from_vars(&vars(&base)).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_TLS_CERT");

        let behind_proxy = [&base[..], &[("SOMNIUM_TRUSTED_PROXIES", "10.0.0.0/8")]].concat();
        let config = Config::from_vars(&vars(&behind_proxy)).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);

        let debug = [&behind_proxy[..], &[("RUST_LOG", "somnium=debug")]].concat();
        assert_eq!(Config::from_vars(&vars(&debug)).unwrap_err().variable, "RUST_LOG");

        let mut sqlite = behind_proxy.clone();
        sqlite[1] = ("DATABASE_URL", "sqlite:///tmp/x.db");
        assert_eq!(Config::from_vars(&vars(&sqlite)).unwrap_err().variable, "DATABASE_URL");
    }

    #[test]
    fn production_requires_the_data_keys_and_the_blind_index_key() {
        let base = [("SOMNIUM_ENV", "production"), ("DATABASE_URL", "postgres://db/somnium")];
        let error = Config::from_vars(&vars(&base)).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_DATA_KEYS_FILE");
        assert!(error.problem.contains("openssl rand"), "{error}");

        let ring = format!("k1:{}", "A".repeat(43) + "=");
        let with_ring = [&base[..], &[("SOMNIUM_DATA_KEYS", ring.as_str())]].concat();
        let error = Config::from_vars(&vars(&with_ring)).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_BLIND_INDEX_KEY_FILE");
    }

    #[test]
    fn short_or_malformed_keys_are_refused_with_the_variable() {
        let short_key = "k1:c2hvcnQ=";
        let error = Config::from_vars(&vars(&[("SOMNIUM_DATA_KEYS", short_key)])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_DATA_KEYS");
        assert!(error.problem.contains("exactly 32"), "{error}");

        let error = Config::from_vars(&vars(&[("SOMNIUM_BLIND_INDEX_KEY", "c2hvcnQ=")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_BLIND_INDEX_KEY");
        assert!(error.problem.contains("at least 32"), "{error}");

        let both = [
            ("SOMNIUM_DATA_KEYS", short_key),
            ("SOMNIUM_DATA_KEYS_FILE", "/run/secrets/data-keys"),
        ];
        assert_eq!(
            Config::from_vars(&vars(&both)).unwrap_err().variable,
            "SOMNIUM_DATA_KEYS"
        );
    }

    #[test]
    fn mfa_is_required_of_staff_unless_configured() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert!(config.mfa.requires(Role::Nurse) && !config.mfa.requires(Role::Patient));
        let config = Config::from_vars(&vars(&[("SOMNIUM_MFA_REQUIRED_ROLES", "admin, PATIENT")])).unwrap();
        assert_eq!(config.mfa.required_roles, [Role::Admin, Role::Patient]);
        let config = Config::from_vars(&vars(&[("SOMNIUM_MFA_REQUIRED_ROLES", "none")])).unwrap();
        assert!(config.mfa.required_roles.is_empty());
        let error = Config::from_vars(&vars(&[("SOMNIUM_MFA_REQUIRED_ROLES", "ADMIN,JANITOR")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_MFA_REQUIRED_ROLES");
    }

    #[test]
    fn key_material_never_appears_in_debug_output() {
        let ring = format!("k1:{}", "QUFB".repeat(10) + "QUE=");
        let config = Config::from_vars(&vars(&[
            ("SOMNIUM_DATA_KEYS", ring.as_str()),
            ("SOMNIUM_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----"),
        ]))
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("QUFB"), "{printed}");
        assert!(!printed.contains("BEGIN PRIVATE KEY"), "{printed}");
    }

    #[test]
    fn rates_and_proxies_parse() {
        let config = Config::from_vars(&vars(&[
            ("SOMNIUM_RATE_LIMIT_LOGIN", "7/minute"),
            ("SOMNIUM_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1, 2001:db8::/32"),
        ]))
        .unwrap();
        assert_eq!(config.rate_limits.login, RateLimit::per_minute(7));
        assert_eq!(config.rate_limits.register, RateLimit::per_hour(3));
        assert_eq!(config.trusted_proxies.len(), 3);

        let error = Config::from_vars(&vars(&[("SOMNIUM_RATE_LIMIT_REFRESH", "ten per minute")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_RATE_LIMIT_REFRESH");
        let error = Config::from_vars(&vars(&[("SOMNIUM_TRUSTED_PROXIES", "10.0.0.0/33")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_TRUSTED_PROXIES");
        let error = Config::from_vars(&vars(&[("SOMNIUM_CORS_ORIGINS", "https://a.example, *")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_CORS_ORIGINS");
        let error = Config::from_vars(&vars(&[("SOMNIUM_CORS_ORIGINS", "https://a.example/path")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_CORS_ORIGINS");
        let error = Config::from_vars(&vars(&[("SOMNIUM_PASSWORD_POLICY", "lenient")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_PASSWORD_POLICY");
    }

    #[test]
    fn session_limits_can_differ_per_role() {
        let config = Config::from_vars(&vars(&[
            ("SOMNIUM_SESSION_IDLE_SECONDS_ADMIN", "300"),
            ("SOMNIUM_SESSION_REMEMBER_ME_IDLE_SECONDS", "86400"),
        ]))
        .unwrap();
        assert_eq!(config.sessions.limits(Role::Admin).idle, Duration::minutes(5));
        assert_eq!(config.sessions.limits(Role::Patient).idle, Duration::minutes(30));
        assert_eq!(
            config.sessions.limits(Role::Patient).remember_me_idle,
            Duration::days(1)
        );

        let error = Config::from_vars(&vars(&[("SOMNIUM_SESSION_ABSOLUTE_SECONDS_NURSE", "9999999")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_SESSION_ABSOLUTE_SECONDS_NURSE");
    }

    #[test]
    fn dotenv_lines_parse() {
        let pairs =
            parse_dotenv("# comment\n\nSOMNIUM_LISTEN_ADDR=127.0.0.1:9000\nexport RUST_LOG=\"warn\"\nX='a b'\n")
                .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("SOMNIUM_LISTEN_ADDR".to_owned(), "127.0.0.1:9000".to_owned()),
                ("RUST_LOG".to_owned(), "warn".to_owned()),
                ("X".to_owned(), "a b".to_owned()),
            ]
        );
        assert_eq!(parse_dotenv("not a pair").unwrap_err().variable, ".env");
    }

    #[test]
    fn misspelled_variables_are_rejected() {
        let error = Config::from_vars(&vars(&[("SOMNIUM_RATE_LIMIT_FOO", "5/minute")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_RATE_LIMIT_FOO");
        let error = Config::from_vars(&vars(&[("SOMNIUM_SESSION_IDLE_SECONDS_DOCTOR", "60")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_SESSION_IDLE_SECONDS_DOCTOR");
        assert!(Config::from_vars(&vars(&[("SOMNIUM_SESSION_IDLE_SECONDS_NURSE", "600")])).is_ok());
        assert!(Config::from_vars(&vars(&[("SOMNIUM_TEST_DATABASE_URL", "postgres://x")])).is_ok());
    }

    #[test]
    fn out_of_range_numbers_name_the_variable() {
        let error = Config::from_vars(&vars(&[("SOMNIUM_ACCESS_TOKEN_TTL_SECONDS", "3600")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_ACCESS_TOKEN_TTL_SECONDS");
        let error = Config::from_vars(&vars(&[("SOMNIUM_REFRESH_GRACE_SECONDS", "soon")])).unwrap_err();
        assert_eq!(error.variable, "SOMNIUM_REFRESH_GRACE_SECONDS");
    }
}
