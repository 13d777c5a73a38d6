//! Sessions a user can see and end, automatic logoff, password changes and immediate
//! revocation.

use std::time::{Duration as StdDuration, Instant};

use serde_json::{json, Value};
use somnium_domain::session::SessionLimits;
use somnium_domain::Role;
use somnium_tests::{on_both_backends, Backend, LimitStore, TestApp};
use time::Duration;

async fn second_login(app: &TestApp, email: &str, password: &str) -> Value {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", "ward-workstation/2.0")
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap().to_owned()
}

async fn list(app: &TestApp, access_token: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/v1/auth/sessions"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn delete(app: &TestApp, access_token: &str, id: &str) -> u16 {
    app.client
        .delete(app.url(&format!("/api/v1/auth/sessions/{id}")))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn change_password(app: &TestApp, access_token: &str, current: &str, new: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(access_token)
        .json(&json!({ "current_password": current, "new_password": new }))
        .send()
        .await
        .unwrap()
}

on_both_backends! {
    async fn sessions_are_listed(app: TestApp) {
        let user = app.signed_in_user().await;
        second_login(&app, &user.email, &user.password).await;

        let sessions = list(&app, &user.access_token).await;
        assert_eq!(sessions.len(), 2);
        let current: Vec<&Value> = sessions.iter().filter(|session| session["current"] == true).collect();
        assert_eq!(current.len(), 1);
        assert!(sessions.iter().all(|session| session["ip_address"] == "127.0.0.1"));
        assert!(sessions.iter().any(|session| session["user_agent"] == "ward-workstation/2.0"));
        for field in ["id", "started_at", "last_used_at", "expires_at"] {
            assert!(sessions[0][field].is_string(), "{field}");
        }
    }

    async fn ending_a_session_revokes_it_at_once(app: TestApp) {
        let user = app.signed_in_user().await;
        let other = second_login(&app, &user.email, &user.password).await;
        let sessions = list(&app, &user.access_token).await;
        let other_id = text(sessions.iter().find(|session| session["current"] == false).unwrap(), "id");

        assert_eq!(delete(&app, &user.access_token, &other_id).await, 204);
        assert_eq!(app.me(&text(&other, "access_token")).await.status(), 401, "its access token stops at once");
        assert_eq!(app.refresh(&text(&other, "refresh_token")).await.status(), 401);
        assert_eq!(app.me(&user.access_token).await.status(), 200);
        assert_eq!(list(&app, &user.access_token).await.len(), 1);
        assert_eq!(app.audit_events("session_ended").await.len(), 1);
    }

    async fn another_users_session_is_not_found(app: TestApp) {
        let owner = app.signed_in_user().await;
        let stranger = app.signed_in_user().await;
        let owner_session = text(&list(&app, &owner.access_token).await[0], "id");

        assert_eq!(delete(&app, &stranger.access_token, &owner_session).await, 404);
        assert_eq!(delete(&app, &stranger.access_token, &uuid::Uuid::new_v4().to_string()).await, 404);
        assert_eq!(delete(&app, &stranger.access_token, "not-a-uuid").await, 400);
        assert_eq!(app.me(&owner.access_token).await.status(), 200, "the owner's session is untouched");
    }

    async fn logout_all_ends_every_session(app: TestApp) {
        let user = app.signed_in_user().await;
        let other = second_login(&app, &user.email, &user.password).await;
        let response = app
            .client
            .post(app.url("/api/v1/auth/logout-all"))
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(app.me(&user.access_token).await.status(), 401);
        assert_eq!(app.me(&text(&other, "access_token")).await.status(), 401);
        assert_eq!(app.refresh(&user.refresh_token).await.status(), 401);
    }

    async fn idle_session_ends(app: TestApp) {
        let user = app.signed_in_user().await;
        app.clock.advance(Duration::minutes(29));
        let tokens: Value = app.refresh(&user.refresh_token).await.json().await.unwrap();
        app.clock.advance(Duration::minutes(31));
        assert_eq!(app.refresh(&text(&tokens, "refresh_token")).await.status(), 401);
        let expired = app.audit_events("session_expired").await;
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0]["detail"], "idle");
    }

    async fn remember_me_idles_for_seven_days(app: TestApp) {
        let user = app.signed_in_user().await;
        let body = json!({ "email": user.email, "password": user.password, "remember_me": true });
        let login: Value = app.post_json("/api/v1/auth/login", &body).await.json().await.unwrap();
        app.clock.advance(Duration::days(6));
        let tokens: Value = app.refresh(&text(&login, "refresh_token")).await.json().await.unwrap();
        app.clock.advance(Duration::days(7) + Duration::seconds(1));
        assert_eq!(app.refresh(&text(&tokens, "refresh_token")).await.status(), 401);
    }

    async fn password_change_rules(app: TestApp) {
        let user = app.signed_in_user().await;
        let other = second_login(&app, &user.email, &user.password).await;

        let wrong = change_password(&app, &user.access_token, "Not-It-7#Zq", "Fresh-Lumen-8#").await;
        assert_eq!(wrong.status(), 422);
        let problem: Value = wrong.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "current_password");
        assert_eq!(problem["errors"][0]["code"], "incorrect");

        let weak = change_password(&app, &user.access_token, &user.password, "password").await;
        assert_eq!(weak.status(), 422);
        let problem: Value = weak.json().await.unwrap();
        let codes: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|error| error["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&"common_password"), "{codes:?}");
        assert!(problem["errors"].as_array().unwrap().iter().all(|error| error["field"] == "new_password"));

        let same = change_password(&app, &user.access_token, &user.password, &user.password).await;
        let problem: Value = same.json().await.unwrap();
        assert_eq!(problem["errors"][0]["code"], "recently_used");

        let changed = change_password(&app, &user.access_token, &user.password, "Fresh-Lumen-8#").await;
        assert_eq!(changed.status(), 204);
        assert_eq!(app.me(&user.access_token).await.status(), 200, "the current session stays");
        assert_eq!(app.me(&text(&other, "access_token")).await.status(), 401, "other sessions end at once");
        assert_eq!(app.login(&user.email, &user.password).await.status(), 401);
        assert_eq!(app.login(&user.email, "Fresh-Lumen-8#").await.status(), 200);
        let events = app.audit_events("password_changed").await;
        assert!(events.iter().any(|event| event["outcome"] == "success"));
        assert!(events.iter().any(|event| event["detail"] == "wrong_current_password"));
    }

    async fn last_five_passwords_are_refused(app: TestApp) {
        let user = app.signed_in_user().await;
        let passwords = ["Fresh-Lumen-1#", "Fresh-Lumen-2#", "Fresh-Lumen-3#", "Fresh-Lumen-4#", "Fresh-Lumen-5#"];
        let mut current = user.password.clone();
        for next in passwords {
            assert_eq!(change_password(&app, &user.access_token, &current, next).await.status(), 204);
            current = next.to_owned();
        }
        let reuse = change_password(&app, &user.access_token, &current, passwords[0]).await;
        assert_eq!(reuse.status(), 422, "the fifth most recent password is refused");
        let oldest = change_password(&app, &user.access_token, &current, &user.password).await;
        assert_eq!(oldest.status(), 204, "the sixth most recent password is allowed again");
    }

    async fn concurrent_logout_all_succeeds(app: TestApp) {
        // Each logout-all reads the user's sessions and then revokes them in one transaction. On
        // SQLite that write failed at once with "database is locked" (a 500) when another
        // transaction committed between the read and the write.
        let mut users = Vec::new();
        for _ in 0..12 {
            users.push(app.signed_in_user().await);
        }

        let requests = users.iter().map(|user| {
            app.client
                .post(app.url("/api/v1/auth/logout-all"))
                .bearer_auth(&user.access_token)
                .send()
        });
        let responses = futures_util::future::join_all(requests).await;

        for response in responses {
            let response = response.unwrap();
            let status = response.status();
            assert_eq!(status, 204, "{}", response.text().await.unwrap());
        }
        let ended = app.audit_events("session_ended").await;
        let logouts = ended.iter().filter(|event| event["detail"] == "logout_all").count();
        assert_eq!(logouts, users.len());
    }
}

async fn per_role_idle_case(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |config| {
        let short = SessionLimits {
            idle: Duration::minutes(5),
            ..SessionLimits::default()
        };
        config.sessions.per_role = vec![(Role::Patient, short)];
    })
    .await
    else {
        return;
    };
    let user = app.signed_in_user().await;
    app.clock.advance(Duration::minutes(6));
    assert_eq!(app.refresh(&user.refresh_token).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_limit_is_per_role_sqlite() {
    per_role_idle_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_limit_is_per_role_postgres() {
    per_role_idle_case(Backend::Postgres).await;
}

/// Logs out on one instance and waits, for at most one second, for the other to reject the
/// access token.
async fn revocation_reaches_other_instance(backend: Backend, store: LimitStore) {
    let Some(first) = TestApp::spawn_with_store(backend, store, |_| {}).await else {
        return;
    };
    let second = first.spawn_sibling().await;
    let user = first.signed_in_user().await;
    assert_eq!(second.me(&user.access_token).await.status(), 200);

    assert_eq!(first.logout(&user.access_token).await.status(), 204);
    let logged_out = Instant::now();
    loop {
        let status = second.me(&user.access_token).await.status();
        if status == 401 {
            break;
        }
        assert!(
            logged_out.elapsed() < StdDuration::from_secs(1),
            "the other instance still accepts the token after 1 s"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_other_instance_sqlite() {
    revocation_reaches_other_instance(Backend::Sqlite, LimitStore::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_other_instance_postgres() {
    revocation_reaches_other_instance(Backend::Postgres, LimitStore::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_other_instance_sqlite_redis() {
    revocation_reaches_other_instance(Backend::Sqlite, LimitStore::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_other_instance_postgres_redis() {
    revocation_reaches_other_instance(Backend::Postgres, LimitStore::Redis).await;
}

async fn access_token_capped_case(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |config| {
        config.sessions.default = SessionLimits {
            idle: Duration::minutes(2),
            ..SessionLimits::default()
        };
    })
    .await
    else {
        return;
    };
    let user = app.signed_in_user().await;
    let (_, claims) = somnium_tests::jwt_parts(&user.access_token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120,
        "no access token outlives the idle limit"
    );
    app.clock.advance(Duration::minutes(3));
    assert_eq!(app.me(&user.access_token).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_never_outlives_the_idle_limit_sqlite() {
    access_token_capped_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_never_outlives_the_idle_limit_postgres() {
    access_token_capped_case(Backend::Postgres).await;
}
