//! Several instances sharing one Redis, and Redis going away and coming back.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use serde_json::{json, Value};
use somnium_adapters::http::rate_limit::RateLimits;
use somnium_domain::rate_limit::RateLimit;
use somnium_tests::{redis_url, Backend, LimitStore, TestApp};

const EMAIL: &str = "physician.li@example.test";
const PASSWORD: &str = "Ward-7#Lumen";

async fn two_instances(backend: Backend) -> Option<(TestApp, TestApp)> {
    let first = TestApp::spawn_with_store(backend, LimitStore::Redis, |config| {
        config.rate_limits = RateLimits::default();
    })
    .await?;
    let second = first.spawn_sibling().await;
    Some((first, second))
}

async fn login_limit_case(backend: Backend) {
    let Some((first, second)) = two_instances(backend).await else {
        return;
    };
    let body = json!({ "email": "nobody@example.test", "password": PASSWORD });
    for instance in [&first, &second, &first, &second, &first] {
        assert_eq!(instance.post_json("/api/v1/auth/login", &body).await.status(), 401);
    }
    assert_eq!(second.post_json("/api/v1/auth/login", &body).await.status(), 429);
    assert_eq!(first.post_json("/api/v1/auth/login", &body).await.status(), 429);
}

async fn lockout_case(backend: Backend) {
    let Some(first) = TestApp::spawn_with_store(backend, LimitStore::Redis, |_| {}).await else {
        return;
    };
    let second = first.spawn_sibling().await;
    assert_eq!(first.register(EMAIL, PASSWORD, "Li Wei").await.status(), 201);

    for instance in [&first, &second, &first, &second, &first] {
        assert_eq!(instance.login(EMAIL, "Wrong-7#Lumen").await.status(), 401);
    }
    assert_eq!(
        second.login(EMAIL, PASSWORD).await.status(),
        401,
        "the lock set through one instance holds on the other"
    );
    assert_eq!(first.login(EMAIL, PASSWORD).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_login_limit_sqlite() {
    login_limit_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_login_limit_postgres() {
    login_limit_case(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_lockout_sqlite() {
    lockout_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_lockout_postgres() {
    lockout_case(Backend::Postgres).await;
}

/// A Redis server of the test's own on a spare port, stopped when dropped.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (install Debian's redis-server)");
        Self {
            port,
            child: Some(child),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn wait_until_ready(&self) {
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..100 {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<String>(&mut connection).await.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("the test's redis-server did not answer on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn keys(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut connection)
            .await
            .unwrap()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spare_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Sends a request and fails the test if it takes longer than a generous bound, which would
/// mean a request hangs on the unreachable Redis.
async fn bounded(request: impl std::future::Future<Output = reqwest::Response>) -> reqwest::Response {
    tokio::time::timeout(StdDuration::from_secs(10), request)
        .await
        .expect("a request hung while Redis was down")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_survive_a_redis_outage() {
    if redis_url().is_none() {
        return;
    }
    let port = spare_port();
    let mut redis = OwnRedis::start(port);
    redis.wait_until_ready().await;
    let url = redis.url();
    let app = TestApp::spawn_with(Backend::Sqlite, move |config| {
        config.redis_url = Some(url);
        config.redis_timeout = StdDuration::from_millis(200);
        config.rate_limits.login = RateLimit::per_minute(1000);
    })
    .await
    .unwrap();
    let prefix = app.config.redis_prefix.clone();

    assert_eq!(app.register(EMAIL, PASSWORD, "Li Wei").await.status(), 201);
    assert_eq!(app.login(EMAIL, "Wrong-7#Lumen").await.status(), 401);
    assert!(
        !redis.keys(&format!("{prefix}lockout:*")).await.is_empty(),
        "lockout state is in Redis"
    );
    assert_eq!(app.login(EMAIL, PASSWORD).await.status(), 200);
    assert!(
        !redis.keys(&format!("{prefix}rate:*")).await.is_empty(),
        "rate-limit state is in Redis"
    );

    redis.stop();
    let login: Value = bounded(app.login(EMAIL, PASSWORD)).await.json().await.unwrap();
    let access_token = login["access_token"]
        .as_str()
        .expect("login works without Redis")
        .to_owned();
    assert_eq!(bounded(app.me(&access_token)).await.status(), 200);
    assert_eq!(bounded(app.login(EMAIL, "Wrong-7#Lumen")).await.status(), 401);
    for _ in 0..4 {
        bounded(app.login(EMAIL, "Wrong-7#Lumen")).await;
    }
    assert_eq!(
        bounded(app.login(EMAIL, PASSWORD)).await.status(),
        401,
        "lockout holds in process meanwhile"
    );

    let mut degraded = Vec::new();
    for _ in 0..40 {
        degraded = app.audit_events("security_degraded").await;
        if !degraded.is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(degraded.len(), 1, "one security_degraded event per outage");

    let ready = bounded(async { app.client.get(app.url("/health/ready")).send().await.unwrap() }).await;
    assert_eq!(ready.status(), 503, "readiness reports the configured Redis is down");
    let live = bounded(async { app.client.get(app.url("/health/live")).send().await.unwrap() }).await;
    assert_eq!(live.status(), 200);

    let restarted = OwnRedis::start(port);
    restarted.wait_until_ready().await;
    tokio::time::sleep(StdDuration::from_millis(1200)).await;
    assert_eq!(
        bounded(app.login("someone.else@example.test", PASSWORD)).await.status(),
        401
    );
    assert!(
        !restarted.keys(&format!("{prefix}rate:*")).await.is_empty(),
        "rate limits are back in Redis"
    );
    assert_eq!(app.audit_events("security_degraded").await.len(), 1);
}
