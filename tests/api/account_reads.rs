//! `GET /api/v1/users/me` serves the caller's account from a short-lived copy per instance.
//! The instance that made a change shows it in the next read, and another instance within 1 s.

use std::time::{Duration as StdDuration, Instant};

use serde_json::{json, Value};
use somnium_tests::{on_both_backends, TestApp};

async fn full_name_seen_by(app: &TestApp, access_token: &str) -> Value {
    let response = app.me(access_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["full_name"].clone()
}

async fn rename(app: &TestApp, access_token: &str, full_name: &str) {
    let renamed = app
        .client
        .patch(app.url("/api/v1/users/me"))
        .bearer_auth(access_token)
        .json(&json!({ "full_name": full_name }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
}

async fn disable(app: &TestApp, admin_token: &str, user_id: &str) {
    let disabled = app
        .client
        .patch(app.url(&format!("/api/v1/admin/users/{user_id}")))
        .bearer_auth(admin_token)
        .json(&json!({ "status": "disabled" }))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
}

on_both_backends! {
    async fn rename_shows_in_next_read(app: TestApp) {
        let user = app.signed_in_user().await;
        let before = full_name_seen_by(&app, &user.access_token).await;
        assert_ne!(before, "Nia Renamed");

        rename(&app, &user.access_token, "Nia Renamed").await;
        assert_eq!(full_name_seen_by(&app, &user.access_token).await, "Nia Renamed");
        rename(&app, &user.access_token, "Nia Renamed Again").await;
        assert_eq!(full_name_seen_by(&app, &user.access_token).await, "Nia Renamed Again");
    }

    async fn disabled_account_rejected_at_once(app: TestApp) {
        let admin = app.admin().await;
        let user = app.signed_in_user().await;
        assert_eq!(app.me(&user.access_token).await.status(), 200);

        disable(&app, &admin.access_token, &user.id).await;
        assert_eq!(app.me(&user.access_token).await.status(), 401);
    }

    async fn other_instance_shows_rename_within_second(app: TestApp) {
        let other = app.spawn_sibling().await;
        let user = app.signed_in_user().await;
        full_name_seen_by(&other, &user.access_token).await;

        rename(&app, &user.access_token, "Ilse Renamed").await;
        let renamed = Instant::now();
        while full_name_seen_by(&other, &user.access_token).await != "Ilse Renamed" {
            assert!(
                renamed.elapsed() < StdDuration::from_secs(1),
                "the other instance still shows the old name after 1 s"
            );
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }

    async fn other_instance_rejects_disabled_account(app: TestApp) {
        let other = app.spawn_sibling().await;
        let admin = app.admin().await;
        let user = app.signed_in_user().await;
        assert_eq!(other.me(&user.access_token).await.status(), 200);

        disable(&app, &admin.access_token, &user.id).await;
        let disabled_at = Instant::now();
        loop {
            let status = other.me(&user.access_token).await.status();
            if status == 401 {
                break;
            }
            assert_eq!(status, 200, "a token is either still served or refused");
            assert!(
                disabled_at.elapsed() < StdDuration::from_secs(1),
                "the other instance still serves the disabled account after 1 s"
            );
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }
}
