//! The tamper-evident audit trail: append-only storage, the hash chain and its verification.

use serde_json::Value;
use somnium_tests::{on_both_backends, Backend, SignedInUser, TestApp};

async fn verify(app: &TestApp, admin: &SignedInUser) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/admin/audit/verify"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Statements that remove the append-only triggers, as someone with database access could.
fn drop_triggers(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Postgres => &[
            "DROP TRIGGER audit_events_no_change ON audit_events",
            "DROP TRIGGER audit_events_no_truncate ON audit_events",
        ],
        Backend::Sqlite => &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ],
    }
}

/// An app with a few events in its trail, an administrator, and the triggers dropped.
async fn tampering_setup(app: &TestApp) -> SignedInUser {
    let admin = app.admin().await;
    for _ in 0..3 {
        app.signed_in_user().await;
    }
    assert_eq!(verify(app, &admin).await["intact"], true);
    for statement in drop_triggers(app.backend) {
        app.execute(statement).await.unwrap();
    }
    admin
}

on_both_backends! {
    async fn storage_refuses_to_edit_history(app: TestApp) {
        app.signed_in_user().await;
        let update = app.execute("UPDATE audit_events SET detail = 'rewritten'").await;
        assert!(update.is_err(), "an UPDATE of audit_events must fail");
        let delete = app.execute("DELETE FROM audit_events").await;
        assert!(delete.is_err(), "a DELETE from audit_events must fail");
        assert!(!app.query("SELECT id FROM audit_events").await.is_empty());
    }

    async fn intact_chain_verifies(app: TestApp) {
        let admin = app.admin().await;
        app.signed_in_user().await;
        let report = verify(&app, &admin).await;
        assert_eq!(report["intact"], true);
        assert!(report["events_checked"].as_u64().unwrap() >= 4);
        assert!(report.get("broken_at").is_none());
        let sequences = app.query("SELECT sequence FROM audit_events ORDER BY sequence").await;
        for (index, row) in sequences.iter().enumerate() {
            assert_eq!(row["sequence"].as_i64().unwrap(), index as i64 + 1, "sequence numbers have no gaps");
        }
        assert_eq!(app.audit_events("audit_trail_verified").await.len(), 1, "verifying is itself audited");
    }

    async fn edited_event_breaks_the_chain(app: TestApp) {
        let admin = tampering_setup(&app).await;
        app.execute("UPDATE audit_events SET detail = 'rewritten' WHERE sequence = 3").await.unwrap();
        let report = verify(&app, &admin).await;
        assert_eq!(report["intact"], false);
        assert_eq!(report["broken_at"], 3);
        assert!(report["reason"].as_str().unwrap().contains("altered"), "{report}");
    }

    async fn deleted_event_breaks_the_chain(app: TestApp) {
        let admin = tampering_setup(&app).await;
        app.execute("DELETE FROM audit_events WHERE sequence = 4").await.unwrap();
        let report = verify(&app, &admin).await;
        assert_eq!(report["intact"], false);
        assert_eq!(report["broken_at"], 4);
        assert!(report["reason"].as_str().unwrap().contains("missing"), "{report}");
    }

    async fn deleted_latest_events_break_the_chain(app: TestApp) {
        let admin = tampering_setup(&app).await;
        let last = app.query("SELECT sequence FROM audit_events ORDER BY sequence DESC LIMIT 1").await[0]["sequence"].as_i64().unwrap();
        app.execute(&format!("DELETE FROM audit_events WHERE sequence >= {}", last - 1)).await.unwrap();
        let report = verify(&app, &admin).await;
        assert_eq!(report["intact"], false);
        assert_eq!(report["broken_at"], last - 1);
    }

    async fn reordered_pair_breaks_the_chain(app: TestApp) {
        let admin = tampering_setup(&app).await;
        app.execute("UPDATE audit_events SET sequence = -5 WHERE sequence = 5").await.unwrap();
        app.execute("UPDATE audit_events SET sequence = 5 WHERE sequence = 6").await.unwrap();
        app.execute("UPDATE audit_events SET sequence = 6 WHERE sequence = -5").await.unwrap();
        let report = verify(&app, &admin).await;
        assert_eq!(report["intact"], false);
        assert_eq!(report["broken_at"], 5);
    }

    async fn reading_the_trail_is_audited(app: TestApp) {
        let admin = app.admin().await;
        let user = app.signed_in_user().await;
        app.login(&user.email, "Wrong-7#Lumen").await;

        let url = app.url(&format!("/api/v1/admin/audit-events?user_id={}&event_type=login_failed&outcome=failure&limit=10", user.id));
        let page: Value = app.client.get(url).bearer_auth(&admin.access_token).send().await.unwrap().json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["detail"], "wrong_password");
        assert!(items[0]["sequence"].as_i64().unwrap() > 0);
        assert_eq!(app.audit_events("audit_trail_read").await.len(), 1);

        let all: Value = app
            .client
            .get(app.url("/api/v1/admin/audit-events?limit=2"))
            .bearer_auth(&admin.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cursor = all["next_cursor"].as_str().unwrap();
        let next: Value = app
            .client
            .get(app.url(&format!("/api/v1/admin/audit-events?limit=2&cursor={cursor}")))
            .bearer_auth(&admin.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(next["items"][0]["sequence"].as_i64().unwrap() < all["items"][1]["sequence"].as_i64().unwrap());

        let ndjson = app
            .client
            .get(app.url("/api/v1/admin/audit-events"))
            .header("accept", "application/x-ndjson")
            .bearer_auth(&admin.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
        let text = ndjson.text().await.unwrap();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert!(lines.len() >= 5);

        let csv = app
            .client
            .get(app.url("/api/v1/admin/audit-events?event_type=login_failed"))
            .header("accept", "text/csv")
            .bearer_auth(&admin.access_token)
            .send()
            .await
            .unwrap();
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = csv.text().await.unwrap();
        assert!(csv.starts_with("sequence,id,occurred_at,event_type"));
        assert_eq!(csv.lines().count(), 2);

        let bad = app.client.get(app.url("/api/v1/admin/audit-events?from=yesterday")).bearer_auth(&admin.access_token).send().await.unwrap();
        assert_eq!(bad.status(), 422);
    }
}

async fn concurrent_writers_case(backend: Backend) {
    let Some(first) = TestApp::spawn(backend).await else {
        return;
    };
    let second = first.spawn_sibling().await;
    let admin = first.admin().await;
    let emails: Vec<String> = (0..20).map(|index| format!("nobody-{index}@example.test")).collect();
    let attempts = emails.iter().enumerate().map(|(index, email)| {
        let app = if index % 2 == 0 { &first } else { &second };
        app.login(email, "Wrong-7#Lumen")
    });
    futures_util::future::join_all(attempts).await;

    let report = verify(&first, &admin).await;
    assert_eq!(report["intact"], true, "{report}");
    let failures = first.audit_events("login_failed").await;
    assert_eq!(failures.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_extend_one_chain_sqlite() {
    concurrent_writers_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_extend_one_chain_postgres() {
    concurrent_writers_case(Backend::Postgres).await;
}

async fn prune_case(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = app.admin().await;
    app.signed_in_user().await;
    let before_prune = app.query("SELECT sequence FROM audit_events").await.len();

    // Eight years later, the events above are outside the default seven-year retention.
    let clock = std::sync::Arc::new(somnium_tests::TestClock::default());
    clock.advance(time::Duration::days(8 * 365));
    let overrides = somnium::Overrides {
        clock: Some(clock),
        ..somnium::Overrides::default()
    };
    let auth = somnium::auth_service_with(&app.config, overrides).await.unwrap();
    let context = Default::default();
    auth.verify_audit_trail(None, &context).await.unwrap();

    let inside = time::OffsetDateTime::now_utc() + time::Duration::days(8 * 365 - 30);
    let refused = auth
        .prune_audit_trail(inside, app.config.audit_retention, &context)
        .await;
    assert!(matches!(
        refused,
        Err(somnium_application::AuditPruneError::InsideRetention { .. })
    ));

    let cut = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let outcome = auth
        .prune_audit_trail(cut, app.config.audit_retention, &context)
        .await
        .unwrap();
    assert_eq!(outcome.pruned as usize, before_prune);

    let report = verify(&app, &admin).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["checkpoint_sequence"], outcome.first_sequence);
    assert_eq!(app.query("SELECT id FROM audit_checkpoints").await.len(), 1);
    assert!(
        app.execute("DELETE FROM audit_events").await.is_err(),
        "the triggers are back after pruning"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_outside_retention_keeps_a_verifiable_chain_sqlite() {
    prune_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_outside_retention_keeps_a_verifiable_chain_postgres() {
    prune_case(Backend::Postgres).await;
}
