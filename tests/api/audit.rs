use serde_json::Value;
use sha2::{Digest, Sha256};
use somnium_tests::{on_both_backends, unique_email};
use time::Duration;

const USER_AGENT: &str = "somnium-audit-test/1.0";

on_both_backends! {
    async fn every_step_is_audited_without_secrets(app: TestApp) {
        let client = reqwest::Client::builder().user_agent(USER_AGENT).build().unwrap();
        let email = unique_email();
        let password = "Audit-Trail-Check-7";
        let post = |path: &str, body: Value| client.post(app.url(path)).json(&body).send();

        let registered: Value = post("/api/v1/auth/register", serde_json::json!({ "email": email, "password": password, "full_name": "Audra" }))
            .await.unwrap().json().await.unwrap();
        let user_id = registered["id"].as_str().unwrap().to_owned();
        let wrong = post("/api/v1/auth/login", serde_json::json!({ "email": email, "password": "Not-The-Password-1" })).await.unwrap();
        assert_eq!(wrong.status(), 401);
        let unknown = post("/api/v1/auth/login", serde_json::json!({ "email": unique_email(), "password": password })).await.unwrap();
        assert_eq!(unknown.status(), 401);
        let login: Value = post("/api/v1/auth/login", serde_json::json!({ "email": email, "password": password }))
            .await.unwrap().json().await.unwrap();
        let first_refresh = login["refresh_token"].as_str().unwrap().to_owned();
        let refreshed: Value = post("/api/v1/auth/refresh", serde_json::json!({ "refresh_token": first_refresh }))
            .await.unwrap().json().await.unwrap();
        let access_token = refreshed["access_token"].as_str().unwrap().to_owned();
        let logout = client.post(app.url("/api/v1/auth/logout")).bearer_auth(&access_token).send().await.unwrap();
        assert_eq!(logout.status(), 204);

        // A second session, whose spent token is replayed after the grace period.
        let second: Value = post("/api/v1/auth/login", serde_json::json!({ "email": email, "password": password }))
            .await.unwrap().json().await.unwrap();
        let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
        let rotated: Value = post("/api/v1/auth/refresh", serde_json::json!({ "refresh_token": second_refresh }))
            .await.unwrap().json().await.unwrap();
        app.clock.advance(Duration::seconds(10));
        let replay = post("/api/v1/auth/refresh", serde_json::json!({ "refresh_token": second_refresh })).await.unwrap();
        assert_eq!(replay.status(), 401);

        let expected = [
            ("user_registered", "success", true),
            ("login_failed", "failure", true),
            ("login_succeeded", "success", true),
            ("token_refreshed", "success", true),
            ("logout", "success", true),
            ("refresh_token_reuse_detected", "failure", true),
        ];
        for (event_type, outcome, names_user) in expected {
            let events = app.audit_events(event_type).await;
            assert!(!events.is_empty(), "no {event_type} event");
            let event = &events[0];
            assert_eq!(event["outcome"], outcome, "{event_type}");
            assert_eq!(event["client_ip"], "127.0.0.1", "{event_type}");
            assert_eq!(event["user_agent"], USER_AGENT, "{event_type}");
            assert!(event["request_id"].is_string(), "{event_type}");
            assert!(event["occurred_at"].is_string(), "{event_type}");
            assert!(event["resource"].is_string(), "{event_type}");
            if names_user {
                assert_eq!(event["user_id"], user_id.as_str(), "{event_type}");
            }
        }
        let failures = app.audit_events("login_failed").await;
        let reasons: Vec<&str> = failures.iter().map(|event| event["detail"].as_str().unwrap()).collect();
        assert!(reasons.contains(&"wrong_password"), "{reasons:?}");
        assert!(reasons.contains(&"unknown_email"), "{reasons:?}");

        let mut secrets = vec![
            password.to_owned(),
            "Not-The-Password-1".to_owned(),
            first_refresh.clone(),
            second_refresh.clone(),
            access_token.clone(),
            login["access_token"].as_str().unwrap().to_owned(),
            rotated["refresh_token"].as_str().unwrap().to_owned(),
            refreshed["refresh_token"].as_str().unwrap().to_owned(),
        ];
        for token in [&first_refresh, &second_refresh] {
            secrets.push(hex::encode(Sha256::digest(token.as_bytes())));
        }
        let index = app.email_index(&email);
        let stored_hash = app.query(&format!("SELECT password_hash FROM users WHERE email_index = '{index}'")).await;
        secrets.push(stored_hash[0]["password_hash"].as_str().unwrap().to_owned());

        let all_events = app.query("SELECT event_type, resource, outcome, detail, client_ip, user_agent, request_id FROM audit_events").await;
        assert!(all_events.len() >= 9);
        for event in &all_events {
            let text = event_text(event);
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "an audit row contains a secret: {event}");
            }
            assert!(!text.contains(&email), "an audit row contains the email: {event}");
        }
    }

    async fn refresh_tokens_are_stored_only_as_hashes(app: TestApp) {
        let user = app.signed_in_user().await;
        let rows = app.query("SELECT * FROM refresh_tokens").await;
        assert_eq!(rows.len(), 1);
        let text = rows[0].to_string();
        assert!(!text.contains(&user.refresh_token));
        let hash = hex::encode(Sha256::digest(user.refresh_token.as_bytes()));
        assert_eq!(rows[0]["token_hash"], hash);

        let users = app.query("SELECT password_hash FROM users").await;
        let stored = users[0]["password_hash"].as_str().unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    }
}

fn event_text(event: &Value) -> String {
    event.to_string()
}
