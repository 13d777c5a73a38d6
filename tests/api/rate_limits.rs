use serde_json::json;
use somnium_adapters::http::rate_limit::RateLimits;
use somnium_domain::rate_limit::RateLimit;
use somnium_tests::{on_every_store, unique_email, Backend, LimitStore, TestApp};
use time::Duration;

async fn app_with_limits(backend: Backend, store: LimitStore, trust_proxy: bool) -> Option<TestApp> {
    TestApp::spawn_with_store(backend, store, |config| {
        config.rate_limits = RateLimits::default();
        if trust_proxy {
            config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await
}

fn header(response: &reqwest::Response, name: &str) -> Option<i64> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().parse().unwrap())
}

async fn unknown_login(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "nobody@example.test", "password": "Ward-7#Lumen" }));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

on_every_store! {
    async fn login_allows_five_per_minute(backend: Backend, store: LimitStore) {
        let Some(app) = app_with_limits(backend, store, false).await else { return };
        for expected_remaining in (0..5).rev() {
            let response = unknown_login(&app, None).await;
            assert_eq!(response.status(), 401);
            assert_eq!(header(&response, "ratelimit-limit"), Some(5));
            assert_eq!(header(&response, "ratelimit-remaining"), Some(expected_remaining));
            assert!(header(&response, "ratelimit-reset").unwrap() > 0);
            assert!(response.headers().get("retry-after").is_none());
        }

        let limited = unknown_login(&app, None).await;
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["content-type"], "application/problem+json");
        let retry_after = header(&limited, "retry-after").unwrap();
        assert!((1..=12).contains(&retry_after), "{retry_after}");
        assert_eq!(header(&limited, "ratelimit-remaining"), Some(0));
        assert_eq!(app.audit_events("login_failed").await.len(), 5, "the limited request never reached login");

        app.clock.advance(Duration::seconds(12));
        assert_eq!(unknown_login(&app, None).await.status(), 401, "one more is allowed after 60/5 seconds");
        assert_eq!(unknown_login(&app, None).await.status(), 429);
    }

    async fn register_allows_three_per_hour(backend: Backend, store: LimitStore) {
        let Some(app) = app_with_limits(backend, store, false).await else { return };
        for _ in 0..3 {
            assert_eq!(app.register(&unique_email(), "Ward-7#Lumen", "Pat Doe").await.status(), 201);
        }
        let limited = app.register(&unique_email(), "Ward-7#Lumen", "Pat Doe").await;
        assert_eq!(limited.status(), 429);
        assert!(header(&limited, "retry-after").unwrap() > 1000);
    }

    async fn refresh_allows_ten_per_minute(backend: Backend, store: LimitStore) {
        let Some(app) = app_with_limits(backend, store, false).await else { return };
        for _ in 0..10 {
            assert_eq!(app.refresh("not-a-real-refresh-token").await.status(), 401);
        }
        assert_eq!(app.refresh("not-a-real-refresh-token").await.status(), 429);
    }

    async fn default_limit_is_per_user(backend: Backend, store: LimitStore) {
        let Some(app) = TestApp::spawn_with_store(backend, store, |config| {
            config.rate_limits.default = RateLimit::per_minute(3);
        }).await else { return };
        let first = app.signed_in_user().await;
        let second = app.signed_in_user().await;
        for _ in 0..3 {
            assert_eq!(app.me(&first.access_token).await.status(), 200);
        }
        let limited = app.me(&first.access_token).await;
        assert_eq!(limited.status(), 429);
        assert_eq!(app.me(&second.access_token).await.status(), 200, "users from one IP have their own budgets");

        for _ in 0..3 {
            assert_eq!(app.client.get(app.url("/api/v1/users/me")).send().await.unwrap().status(), 401);
        }
        let anonymous = app.client.get(app.url("/api/v1/users/me")).send().await.unwrap();
        assert_eq!(anonymous.status(), 429, "anonymous requests are keyed by IP");

        for _ in 0..10 {
            assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), 200);
            assert_eq!(app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().status(), 200);
        }
    }

    async fn spoofed_forwarded_for_is_ignored(backend: Backend, store: LimitStore) {
        let Some(app) = app_with_limits(backend, store, false).await else { return };
        for attempt in 0..5 {
            assert_eq!(unknown_login(&app, Some(&format!("203.0.113.{attempt}"))).await.status(), 401);
        }
        assert_eq!(unknown_login(&app, Some("203.0.113.99")).await.status(), 429);
        let failures = app.audit_events("login_failed").await;
        assert!(failures.iter().all(|event| event["client_ip"] == "127.0.0.1"));
    }

    async fn trusted_proxy_header_sets_the_client(backend: Backend, store: LimitStore) {
        let Some(app) = app_with_limits(backend, store, true).await else { return };
        for _ in 0..5 {
            assert_eq!(unknown_login(&app, Some("203.0.113.1")).await.status(), 401);
        }
        assert_eq!(unknown_login(&app, Some("203.0.113.1")).await.status(), 429);
        assert_eq!(unknown_login(&app, Some("203.0.113.2")).await.status(), 401, "another client has its own budget");
        assert_eq!(unknown_login(&app, Some("198.51.100.1, 203.0.113.3")).await.status(), 401, "the right-most entry counts");
        assert_eq!(unknown_login(&app, Some("203.0.113.1, 127.0.0.1")).await.status(), 429, "trusted hops are skipped");

        let failures = app.audit_events("login_failed").await;
        assert_eq!(failures[0]["client_ip"], "203.0.113.1");
    }

    async fn ipv6_clients_share_their_64(backend: Backend, store: LimitStore) {
        let Some(app) = app_with_limits(backend, store, true).await else { return };
        for host in 1..=5 {
            assert_eq!(unknown_login(&app, Some(&format!("2001:db8:7:8::{host}"))).await.status(), 401);
        }
        assert_eq!(unknown_login(&app, Some("2001:db8:7:8:ffff::1")).await.status(), 429);
        assert_eq!(unknown_login(&app, Some("2001:db8:7:9::1")).await.status(), 401);
    }
}
