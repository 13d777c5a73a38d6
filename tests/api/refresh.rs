use serde_json::{json, Value};
use somnium_tests::{on_both_backends, unique_email, Backend, TestApp};
use time::Duration;

async fn refreshed_tokens(app: &TestApp, refresh_token: &str) -> Value {
    let response = app.refresh(refresh_token).await;
    assert_eq!(response.status(), 200, "refresh failed");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn token(body: &Value, name: &str) -> String {
    body[name].as_str().unwrap().to_owned()
}

on_both_backends! {
    async fn rotation_returns_a_new_pair(app: TestApp) {
        let user = app.signed_in_user().await;
        let tokens = refreshed_tokens(&app, &user.refresh_token).await;
        let successor = token(&tokens, "refresh_token");
        assert_ne!(successor, user.refresh_token);
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(app.me(&token(&tokens, "access_token")).await.status(), 200);

        let next = refreshed_tokens(&app, &successor).await;
        assert_ne!(token(&next, "refresh_token"), successor);
    }

    async fn retry_within_grace_returns_the_same_successor(app: TestApp) {
        let user = app.signed_in_user().await;
        let first = refreshed_tokens(&app, &user.refresh_token).await;
        app.clock.advance(Duration::seconds(4));
        let retry = refreshed_tokens(&app, &user.refresh_token).await;
        assert_eq!(token(&retry, "refresh_token"), token(&first, "refresh_token"));

        let onward = refreshed_tokens(&app, &token(&retry, "refresh_token")).await;
        assert_eq!(app.me(&token(&onward, "access_token")).await.status(), 200);
        assert!(app.audit_events("refresh_token_reuse_detected").await.is_empty());
    }

    async fn sixteen_concurrent_refreshes_rotate_once(app: TestApp) {
        let user = app.signed_in_user().await;
        let requests = (0..16).map(|_| app.refresh(&user.refresh_token));
        let responses = futures_util::future::join_all(requests).await;

        let mut successors = Vec::new();
        for response in responses {
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            successors.push(token(&body, "refresh_token"));
        }
        assert!(successors.iter().all(|successor| *successor == successors[0]), "{successors:?}");

        let rows = app.query("SELECT token_hash FROM refresh_tokens").await;
        assert_eq!(rows.len(), 2, "one login token and exactly one successor");
        let rotations = app.audit_events("token_refreshed").await;
        let real_rotations = rotations.iter().filter(|event| event["detail"].is_null()).count();
        assert_eq!(real_rotations, 1);
        assert!(app.audit_events("refresh_token_reuse_detected").await.is_empty());

        let onward = refreshed_tokens(&app, &successors[0]).await;
        assert_ne!(token(&onward, "refresh_token"), successors[0]);
    }

    async fn reuse_after_grace_revokes_the_family(app: TestApp) {
        let user = app.signed_in_user().await;
        let first = refreshed_tokens(&app, &user.refresh_token).await;
        let second = refreshed_tokens(&app, &token(&first, "refresh_token")).await;

        app.clock.advance(Duration::seconds(6));
        let reuse = app.refresh(&user.refresh_token).await;
        assert_eq!(reuse.status(), 401);
        let problem: Value = reuse.json().await.unwrap();
        assert_eq!(problem["type"], "urn:somnium:problem:invalid-token");

        assert_eq!(app.refresh(&token(&second, "refresh_token")).await.status(), 401, "the newest token is revoked too");
        let events = app.audit_events("refresh_token_reuse_detected").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["outcome"], "failure");
        assert!(events[0]["resource"].as_str().unwrap().starts_with("session:"));
    }

    async fn unknown_refresh_token_is_rejected(app: TestApp) {
        let response = app.refresh("bm90LWEtcmVhbC1yZWZyZXNoLXRva2VuLWF0LWFsbC0xMjM0").await;
        assert_eq!(response.status(), 401);
        let response = app.post_json("/api/v1/auth/refresh", &json!({})).await;
        assert_eq!(response.status(), 422);
    }

    async fn refresh_token_expires_after_seven_days(app: TestApp) {
        let user = app.signed_in_user().await;
        app.clock.advance(Duration::days(7) + Duration::seconds(1));
        assert_eq!(app.refresh(&user.refresh_token).await.status(), 401);
        let failures = app.audit_events("refresh_failed").await;
        assert_eq!(failures.last().unwrap()["detail"], "token_expired");
    }

    async fn session_never_outlives_thirty_days(app: TestApp) {
        let email = unique_email();
        app.register(&email, "Correct-Horse-9", "Pat").await;
        let body = json!({ "email": email, "password": "Correct-Horse-9", "remember_me": true });
        let login: Value = app.post_json("/api/v1/auth/login", &body).await.json().await.unwrap();

        // Refreshing every five days keeps the remember-me session within its 7-day idle limit.
        let mut tokens = login;
        for _ in 0..5 {
            app.clock.advance(Duration::days(5));
            tokens = refreshed_tokens(&app, &token(&tokens, "refresh_token")).await;
        }
        let remaining = tokens["refresh_expires_in"].as_i64().unwrap();
        let five_days = Duration::days(5).whole_seconds();
        assert!((five_days - 10..=five_days).contains(&remaining), "{remaining}");

        app.clock.advance(Duration::days(5) + Duration::seconds(1));
        assert_eq!(app.refresh(&token(&tokens, "refresh_token")).await.status(), 401);
    }
}

async fn grace_period_zero_case(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |config| config.refresh_grace_period = Duration::ZERO).await else {
        return;
    };
    let user = app.signed_in_user().await;
    refreshed_tokens(&app, &user.refresh_token).await;
    assert_eq!(app.refresh(&user.refresh_token).await.status(), 401);
    assert_eq!(app.audit_events("refresh_token_reuse_detected").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_zero_detects_reuse_at_once_sqlite() {
    grace_period_zero_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_zero_detects_reuse_at_once_postgres() {
    grace_period_zero_case(Backend::Postgres).await;
}
