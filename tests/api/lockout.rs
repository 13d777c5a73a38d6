use serde_json::{json, Value};
use somnium_tests::{on_every_store, Backend, LimitStore, TestApp};
use time::Duration;

const EMAIL: &str = "nurse.ana@example.test";
const PASSWORD: &str = "Ward-7#Lumen";

/// An app whose clients are told apart by `X-Forwarded-For`, because the test is the trusted
/// proxy in front of it.
async fn app_behind_proxy(backend: Backend, store: LimitStore) -> Option<TestApp> {
    let app = TestApp::spawn_with_store(backend, store, |config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await?;
    assert_eq!(app.register(EMAIL, PASSWORD, "Ana Souza").await.status(), 201);
    Some(app)
}

fn credentials(password: &str) -> Value {
    json!({ "email": EMAIL, "password": password })
}

async fn count_events(app: &TestApp, event_type: &str, detail: &str) -> usize {
    app.audit_events(event_type)
        .await
        .iter()
        .filter(|event| event["detail"] == detail)
        .count()
}

on_every_store! {
    async fn five_failures_lock_the_client(backend: Backend, store: LimitStore) {
        let Some(app) = app_behind_proxy(backend, store).await else { return };
        for _ in 0..5 {
            assert_eq!(app.login_from("198.51.100.7", &credentials("Wrong-7#Lumen")).await.status(), 401);
        }
        let blocked = app.login_from("198.51.100.7", &credentials(PASSWORD)).await;
        assert_eq!(blocked.status(), 401, "the right password is refused while locked");
        let problem: Value = blocked.json().await.unwrap();
        assert_eq!(problem["type"], "urn:somnium:problem:invalid-credentials");

        assert_eq!(app.login_from("198.51.100.8", &credentials(PASSWORD)).await.status(), 200, "another client is not locked");
        assert_eq!(count_events(&app, "account_locked", "client").await, 1);
        assert_eq!(count_events(&app, "login_blocked", "client").await, 1);

        app.clock.advance(Duration::minutes(15) + Duration::seconds(1));
        assert_eq!(app.login_from("198.51.100.7", &credentials(PASSWORD)).await.status(), 200);
        assert_eq!(count_events(&app, "account_unlocked", "client").await, 1);
    }

    async fn success_resets_the_counters(backend: Backend, store: LimitStore) {
        let Some(app) = app_behind_proxy(backend, store).await else { return };
        for _ in 0..3 {
            for _ in 0..4 {
                assert_eq!(app.login_from("198.51.100.7", &credentials("Wrong-7#Lumen")).await.status(), 401);
            }
            assert_eq!(app.login_from("198.51.100.7", &credentials(PASSWORD)).await.status(), 200);
        }
        assert_eq!(count_events(&app, "account_locked", "client").await, 0);
    }

    async fn email_variants_share_one_counter(backend: Backend, store: LimitStore) {
        let Some(app) = app_behind_proxy(backend, store).await else { return };
        let variants = ["NURSE.ANA@example.test", " nurse.ana@example.test", "Nurse.Ana@Example.Test", "nurse.ana@EXAMPLE.test", "nurse.\u{FF41}na@example.test"];
        for variant in variants {
            let body = json!({ "email": variant, "password": "Wrong-7#Lumen" });
            assert_eq!(app.login_from("198.51.100.7", &body).await.status(), 401);
        }
        assert_eq!(app.login_from("198.51.100.7", &credentials(PASSWORD)).await.status(), 401);
        assert_eq!(count_events(&app, "account_locked", "client").await, 1);
    }

    async fn account_lock_doubles_on_repeat(backend: Backend, store: LimitStore) {
        let Some(app) = app_behind_proxy(backend, store).await else { return };
        for attempt in 0..20 {
            let ip = format!("203.0.113.{attempt}");
            assert_eq!(app.login_from(&ip, &credentials("Wrong-7#Lumen")).await.status(), 401);
        }
        assert_eq!(count_events(&app, "account_locked", "account").await, 1);
        assert_eq!(app.login_from("192.0.2.44", &credentials(PASSWORD)).await.status(), 401, "locked everywhere");

        app.clock.advance(Duration::minutes(15) + Duration::seconds(1));
        for attempt in 0..20 {
            let ip = format!("203.0.113.{}", 100 + attempt);
            assert_eq!(app.login_from(&ip, &credentials("Wrong-7#Lumen")).await.status(), 401);
        }
        assert_eq!(count_events(&app, "account_locked", "account").await, 2);
        app.clock.advance(Duration::minutes(16));
        assert_eq!(app.login_from("192.0.2.45", &credentials(PASSWORD)).await.status(), 401, "the second lock lasts 30 minutes");
        app.clock.advance(Duration::minutes(15));
        assert_eq!(app.login_from("192.0.2.46", &credentials(PASSWORD)).await.status(), 200);
    }

    async fn concurrent_wrong_attempts_stop_at_the_threshold(backend: Backend, store: LimitStore) {
        let Some(app) = app_behind_proxy(backend, store).await else { return };
        let body = credentials("Wrong-7#Lumen");
        let attempts = (0..50).map(|_| app.login_from("198.51.100.7", &body));
        let responses = futures_util::future::join_all(attempts).await;
        assert!(responses.iter().all(|response| response.status() == 401));

        let checked = count_events(&app, "login_failed", "wrong_password").await;
        assert_eq!(checked, 5, "only the threshold's worth of attempts reached the password hash");
        assert_eq!(count_events(&app, "login_blocked", "client").await, 45);
    }

    async fn device_token_survives_an_account_lock(backend: Backend, store: LimitStore) {
        let Some(app) = app_behind_proxy(backend, store).await else { return };
        let login: Value = app.login_from("198.51.100.7", &credentials(PASSWORD)).await.json().await.unwrap();
        let device_token = login["device_token"].as_str().unwrap().to_owned();

        for attempt in 0..20 {
            let ip = format!("203.0.113.{attempt}");
            assert_eq!(app.login_from(&ip, &credentials("Wrong-7#Lumen")).await.status(), 401);
        }
        assert_eq!(app.login_from("198.51.100.7", &credentials(PASSWORD)).await.status(), 401, "locked without the device token");

        let with_device = json!({ "email": EMAIL, "password": PASSWORD, "device_token": device_token });
        assert_eq!(app.login_from("198.51.100.7", &with_device).await.status(), 200);

        assert_eq!(app.register("other@example.test", PASSWORD.replace("Ward", "Nave").as_str(), "Otto Lind").await.status(), 201);
        let other: Value = app.login_from("198.51.100.9", &json!({ "email": "other@example.test", "password": PASSWORD.replace("Ward", "Nave") })).await.json().await.unwrap();
        let foreign = json!({ "email": EMAIL, "password": PASSWORD, "device_token": other["device_token"] });
        assert_eq!(app.login_from("198.51.100.7", &foreign).await.status(), 401, "another account's device token does not help");
    }

    async fn device_token_failures_lock_only_that_device(backend: Backend, store: LimitStore) {
        let Some(app) = app_behind_proxy(backend, store).await else { return };
        let login: Value = app.login_from("198.51.100.7", &credentials(PASSWORD)).await.json().await.unwrap();
        let device_token = login["device_token"].as_str().unwrap().to_owned();
        let wrong = json!({ "email": EMAIL, "password": "Wrong-7#Lumen", "device_token": device_token });
        for _ in 0..5 {
            assert_eq!(app.login_from("198.51.100.7", &wrong).await.status(), 401);
        }
        let right = json!({ "email": EMAIL, "password": PASSWORD, "device_token": device_token });
        assert_eq!(app.login_from("198.51.100.7", &right).await.status(), 401);
        assert_eq!(count_events(&app, "account_locked", "device").await, 1);
        assert_eq!(app.login_from("198.51.100.7", &credentials(PASSWORD)).await.status(), 200, "the client counter is separate");
    }
}
