//! Starts a real Somnium on a random port for black-box tests, against a fresh SQLite file or a
//! fresh PostgreSQL schema, with a clock the test can move.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::{Client, Response};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, FromQueryResult, Statement};
use serde_json::{json, Value};
use somnium::{Application, ClockPort, Config, Overrides};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

/// The system clock plus an offset the test controls. A test can also make its next read
/// panic, which is how tests reach a panic inside a handler.
#[derive(Default)]
pub struct TestClock {
    offset: Mutex<Duration>,
    panic_on_next_read: AtomicBool,
}

impl TestClock {
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }

    pub fn panic_on_next_read(&self) {
        self.panic_on_next_read.store(true, Ordering::SeqCst);
    }
}

impl ClockPort for TestClock {
    fn now(&self) -> OffsetDateTime {
        if self.panic_on_next_read.swap(false, Ordering::SeqCst) {
            panic!("test clock told to panic");
        }
        OffsetDateTime::now_utc() + *self.offset.lock().unwrap()
    }
}

/// The database a test app runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running app and what a test needs to drive it.
pub struct TestApp {
    pub address: String,
    /// Set it to make the app behave as after SIGTERM: readiness turns false.
    pub shutting_down: Arc<std::sync::atomic::AtomicBool>,
    pub client: Client,
    pub clock: Arc<TestClock>,
    pub database: DatabaseConnection,
    pub backend: Backend,
    pub config: Config,
    /// The PEM private key the app signed with when it started.
    pub signing_key_pem: Vec<u8>,
    _data_dir: TempDir,
}

/// The newest stored signing key of the database `config` names.
pub async fn current_signing_key_pem(config: &Config) -> Vec<u8> {
    let storage = somnium::keys::prepare_storage(config).await.expect("storage opens");
    let keys = storage.signing_keys().load().await.expect("signing keys load");
    keys.last().expect("a signing key is stored").pem.as_bytes().to_vec()
}

/// Computes the RFC 6238 code of a base32 `secret` for `step`, independently of the app's own
/// implementation: HMAC-SHA1, dynamic truncation, six digits.
pub fn totp_code(secret: &str, step: i64) -> String {
    use hmac::{Hmac, Mac};
    let key = base32_decode(secret);
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(&key).unwrap();
    mac.update(&u64::try_from(step).unwrap().to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = String::new();
    for character in text.trim_end_matches('=').chars() {
        let value = ALPHABET.find(character.to_ascii_uppercase()).expect("base32 character");
        bits.push_str(&format!("{value:05b}"));
    }
    bits.as_bytes()
        .chunks(8)
        .filter(|chunk| chunk.len() == 8)
        .map(|chunk| u8::from_str_radix(std::str::from_utf8(chunk).unwrap(), 2).unwrap())
        .collect()
}

/// The PostgreSQL server URL for tests, or `None` when the PostgreSQL suite should be skipped.
///
/// With `SOMNIUM_TEST_REQUIRE_POSTGRES=1` (set by `.ci/run`) a missing URL fails the test
/// instead, so CI cannot pass with the PostgreSQL suite silently skipped.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("SOMNIUM_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let required = std::env::var("SOMNIUM_TEST_REQUIRE_POSTGRES").is_ok_and(|value| value == "1");
    if url.is_none() && required {
        panic!("SOMNIUM_TEST_REQUIRE_POSTGRES=1 but SOMNIUM_TEST_DATABASE_URL is not set");
    }
    if url.is_none() {
        eprintln!("skipped: set SOMNIUM_TEST_DATABASE_URL to run the PostgreSQL suite");
    }
    url
}

impl TestApp {
    /// Starts an app on `backend`, or returns `None` when PostgreSQL is not configured.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a second app on the same database, signing key and Redis prefix, as a second
    /// instance behind a load balancer would run.
    pub async fn spawn_sibling(&self) -> Self {
        Self::spawn_sibling_with(self, self.config.clone()).await
    }

    /// Starts a second app with `config`, which should name the same database as `self`.
    pub async fn spawn_sibling_with(&self, config: Config) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let clock = Arc::new(TestClock::default());
        let overrides = Overrides {
            clock: Some(clock.clone()),
            ..Overrides::default()
        };
        let shutting_down = overrides.shutting_down.clone();
        let application = Application::build(&config, overrides).await.expect("app builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        tokio::spawn(application.run_until(std::future::pending()));
        let database = somnium::open_database(&config).await.expect("test connection");
        Self {
            address,
            shutting_down,
            client: Client::builder().build().unwrap(),
            clock,
            database,
            backend: self.backend,
            signing_key_pem: current_signing_key_pem(&config).await,
            config,
            _data_dir: data_dir,
        }
    }

    /// Starts an app after `adjust` has changed its configuration.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Config::from_vars(&Default::default()).expect("default configuration");
        config.listen_addr = "127.0.0.1:0".parse().unwrap();
        config.set_data_dir(data_dir.path().join("data"));
        // Every test client shares 127.0.0.1, so the production limits would throttle the suite;
        // tests of the limits set their own.
        let generous = somnium_domain::rate_limit::RateLimit::per_minute(100_000);
        config.rate_limits = somnium_adapters::http::rate_limit::RateLimits {
            login: generous,
            register: generous,
            refresh: generous,
            default: generous,
        };
        config.redis_prefix = format!("somnium-test:{}:", uuid::Uuid::new_v4().simple());
        // Staff accounts made by the helpers sign in with a password alone; the second-factor
        // tests turn the requirement back on.
        config.mfa = somnium_domain::mfa::MfaPolicy {
            required_roles: Vec::new(),
        };
        match backend {
            Backend::Sqlite => {
                config.database_url = format!("sqlite://{}?mode=rwc", config.data_dir.join("somnium.db").display());
            }
            Backend::Postgres => {
                let url = postgres_url()?;
                config.database_schema = Some(create_schema(&url).await);
                config.database_url = url;
            }
        }
        adjust(&mut config);

        let clock = Arc::new(TestClock::default());
        let overrides = Overrides {
            clock: Some(clock.clone()),
            ..Overrides::default()
        };
        let shutting_down = overrides.shutting_down.clone();
        let application = Application::build(&config, overrides).await.expect("app builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        tokio::spawn(application.run_until(std::future::pending()));

        let database = somnium::open_database(&config).await.expect("test connection");
        Some(Self {
            address,
            shutting_down,
            client: Client::builder().build().unwrap(),
            clock,
            database,
            backend,
            signing_key_pem: current_signing_key_pem(&config).await,
            config,
            _data_dir: data_dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, email: &str, password: &str, full_name: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({ "email": email, "password": password, "full_name": full_name }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/v1/auth/login", &json!({ "email": email, "password": password }))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/api/v1/auth/refresh", &json!({ "refresh_token": refresh_token }))
            .await
    }

    pub async fn me(&self, access_token: &str) -> Response {
        self.client
            .get(self.url("/api/v1/users/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn logout(&self, access_token: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/logout"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates an administrator directly through the use cases, as `somnium create-admin` does,
    /// and signs them in.
    pub async fn admin(&self) -> SignedInUser {
        let email = unique_email();
        let password = "Admin-Ward-7#Lumen".to_owned();
        let auth = somnium::auth_service(&self.config).await.expect("use cases build");
        let request = somnium_application::CreateUserRequest {
            email: somnium_domain::Email::parse(&email).unwrap(),
            full_name: somnium_domain::FullName::parse("Ada Lovelace").unwrap(),
            role: somnium_domain::Role::Admin,
            temporary_password: somnium_domain::Password::new(password.clone().into()).unwrap(),
        };
        auth.create_user(None, request, &Default::default())
            .await
            .expect("administrator created");
        self.sign_in(&email, &password).await
    }

    /// Has `admin` create a user with `role`, then lets that user replace the temporary
    /// password and sign in again, as a new clinician would on their first day.
    pub async fn user_with_role(&self, admin: &SignedInUser, role: &str) -> SignedInUser {
        let email = unique_email();
        let temporary = "Temp-Ward-7#Lumen";
        let body =
            json!({ "email": email, "full_name": "Staff Member", "role": role, "temporary_password": temporary });
        let created = self
            .client
            .post(self.url("/api/v1/admin/users"))
            .bearer_auth(&admin.access_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "user creation failed");
        let first = self.sign_in(&email, temporary).await;
        let password = "Own-Ward-8#Lumen".to_owned();
        let changed = self
            .client
            .post(self.url("/api/v1/auth/password"))
            .bearer_auth(&first.access_token)
            .json(&json!({ "current_password": temporary, "new_password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 204, "password change failed");
        self.sign_in(&email, &password).await
    }

    /// Signs in an existing account.
    pub async fn sign_in(&self, email: &str, password: &str) -> SignedInUser {
        let login = self.login(email, password).await;
        assert_eq!(login.status(), 200, "login failed");
        let tokens: Value = login.json().await.unwrap();
        let access_token = tokens["access_token"].as_str().unwrap().to_owned();
        let (_, claims) = jwt_parts(&access_token);
        SignedInUser {
            id: claims["sub"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            access_token,
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Runs statements directly on the database, behind the app's back.
    pub async fn execute(&self, sql: &str) -> Result<(), sea_orm::DbErr> {
        self.database.execute_unprepared(sql).await.map(|_| ())
    }

    /// Registers a new user with a unique email and signs them in.
    pub async fn signed_in_user(&self) -> SignedInUser {
        let email = unique_email();
        let password = "Correct-Horse-9".to_owned();
        let registered = self.register(&email, &password, "Test User").await;
        assert_eq!(registered.status(), 201, "registration failed");
        let user: Value = registered.json().await.unwrap();
        let login = self.login(&email, &password).await;
        assert_eq!(login.status(), 200, "login failed");
        let tokens: Value = login.json().await.unwrap();
        SignedInUser {
            id: user["id"].as_str().unwrap().to_owned(),
            email,
            password,
            access_token: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Runs a query and returns each row as a JSON object of its columns.
    pub async fn query(&self, sql: &str) -> Vec<Value> {
        let backend = self.database.get_database_backend();
        let rows = self
            .database
            .query_all(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("query runs");
        rows.iter()
            .map(|row| sea_orm::JsonValue::from_query_result(row, "").expect("row converts to JSON"))
            .collect()
    }

    /// The blind index under which the app stores `email`, to find its row with plain SQL.
    pub fn email_index(&self, email: &str) -> String {
        let encryption = somnium::keys::load_field_encryption(&self.config).expect("the app's keys load");
        let email = somnium_domain::Email::parse(email).expect("a valid email");
        somnium_domain::ports::FieldEncryption::blind_index(&encryption, email.normalized())
    }

    /// Opens a sealed value read with plain SQL, with the app's keys.
    pub fn open_sealed(&self, field: &'static str, row: &str, sealed: &str) -> Result<String, String> {
        let encryption = somnium::keys::load_field_encryption(&self.config).expect("the app's keys load");
        let binding = somnium_domain::ports::FieldBinding { field, row };
        somnium_domain::ports::FieldEncryption::open(&encryption, binding, sealed).map_err(|error| error.to_string())
    }

    /// Audit events of one type, oldest first.
    pub async fn audit_events(&self, event_type: &str) -> Vec<Value> {
        self.query(&format!(
            "SELECT CAST(id AS TEXT) AS id, CAST(occurred_at AS TEXT) AS occurred_at, event_type, \
             CAST(user_id AS TEXT) AS user_id, resource, outcome, detail, client_ip, user_agent, request_id \
             FROM audit_events WHERE event_type = '{event_type}' ORDER BY occurred_at"
        ))
        .await
    }
}

pub struct SignedInUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// The Redis URL for tests, or `None` when the Redis suite should be skipped.
///
/// With `SOMNIUM_TEST_REQUIRE_REDIS=1` (set by `.ci/run`) a missing URL fails the test instead.
pub fn redis_url() -> Option<String> {
    let url = std::env::var("SOMNIUM_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let required = std::env::var("SOMNIUM_TEST_REQUIRE_REDIS").is_ok_and(|value| value == "1");
    if url.is_none() && required {
        panic!("SOMNIUM_TEST_REQUIRE_REDIS=1 but SOMNIUM_TEST_REDIS_URL is not set");
    }
    if url.is_none() {
        eprintln!("skipped: set SOMNIUM_TEST_REDIS_URL to run the Redis suite");
    }
    url
}

/// A password that meets the hospital policy, `length` characters long, made of a cycle of
/// characters with no sequence or repeat.
pub fn strong_password(length: usize) -> String {
    "Zé9!kÖ".chars().cycle().take(length).collect()
}

pub fn unique_email() -> String {
    format!("user-{}@example.test", uuid::Uuid::new_v4().simple())
}

async fn create_schema(url: &str) -> String {
    let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
    let connection = Database::connect(url)
        .await
        .expect("PostgreSQL answers at SOMNIUM_TEST_DATABASE_URL");
    connection
        .execute(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("CREATE SCHEMA {schema}"),
        ))
        .await
        .expect("schema created");
    schema
}

/// Decodes the header and payload of a JWT without verifying it.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut parts = token.split('.');
    let mut decode = || -> Value {
        let part = parts.next().expect("JWT part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    (decode(), decode())
}

/// Declares a test that runs once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn case($app: $crate::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    case($crate::TestApp::spawn($crate::Backend::Sqlite).await.unwrap()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                        case(app).await;
                    }
                }
            }
        )*
    };
}

/// How a test app keeps lockout and rate-limit state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitStore {
    InProcess,
    Redis,
}

impl TestApp {
    /// Starts an app on `backend` with its limits in `store`, or returns `None` when that
    /// backend or Redis is not configured.
    pub async fn spawn_with_store(
        backend: Backend,
        store: LimitStore,
        adjust: impl FnOnce(&mut Config),
    ) -> Option<Self> {
        let redis = match store {
            LimitStore::InProcess => None,
            LimitStore::Redis => Some(redis_url()?),
        };
        Self::spawn_with(backend, |config| {
            config.redis_url = redis;
            adjust(config);
        })
        .await
    }

    /// Sends a login as if from `client_ip`, through a trusted proxy that sets `X-Forwarded-For`.
    pub async fn login_from(&self, client_ip: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .header("x-forwarded-for", client_ip)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }
}

/// Declares a test that runs on SQLite and PostgreSQL, each with in-process limits and with
/// Redis. The case receives the backend and the store and starts its own app.
#[macro_export]
macro_rules! on_every_store {
    ($(async fn $name:ident($backend:ident: Backend, $store:ident: LimitStore) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn case($backend: $crate::Backend, $store: $crate::LimitStore) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    case($crate::Backend::Sqlite, $crate::LimitStore::InProcess).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::postgres_url().is_some() {
                        case($crate::Backend::Postgres, $crate::LimitStore::InProcess).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_redis() {
                    if $crate::redis_url().is_some() {
                        case($crate::Backend::Sqlite, $crate::LimitStore::Redis).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    if $crate::postgres_url().is_some() && $crate::redis_url().is_some() {
                        case($crate::Backend::Postgres, $crate::LimitStore::Redis).await;
                    }
                }
            }
        )*
    };
}
