use std::time::Duration as StdDuration;

use serde_json::{json, Value};
use somnium::keys;
use somnium::SecretSource;
use somnium_tests::{jwt_parts, on_both_backends, unique_email, Backend, TestApp};
use time::Duration;

const PASSWORD: &str = "Correct-Horse-9";

/// Reads every column of every account row as text.
async fn raw_users(app: &TestApp) -> Vec<String> {
    app.query("SELECT * FROM users")
        .await
        .iter()
        .map(Value::to_string)
        .collect()
}

async fn admin_get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap()
}

on_both_backends! {
    async fn raw_rows_hold_no_plain_email_or_name(app: TestApp) {
        let email = format!("Zelda.Quartz-{}@Example.test", uuid::Uuid::new_v4().simple());
        let name = "Zelda Quartzfield";
        let registered = app.register(&email, PASSWORD, name).await;
        assert_eq!(registered.status(), 201);
        let user: Value = registered.json().await.unwrap();

        let local_part = email.split('@').next().unwrap().to_lowercase();
        for row in raw_users(&app).await {
            let row = row.to_lowercase();
            assert!(!row.contains(&local_part), "a row holds the email: {row}");
            assert!(!row.contains("quartzfield"), "a row holds the name: {row}");
        }

        let index = app.email_index(&email);
        let stored = app.query(&format!("SELECT email, full_name, data_key_id FROM users WHERE email_index = '{index}'")).await;
        assert_eq!(stored.len(), 1);
        let id = user["id"].as_str().unwrap();
        let sealed_email = stored[0]["email"].as_str().unwrap();
        assert_eq!(keys::sealed_key_id(sealed_email), stored[0]["data_key_id"].as_str());
        assert_eq!(app.open_sealed("users.email", id, sealed_email).unwrap(), email);
        assert_eq!(app.open_sealed("users.full_name", id, stored[0]["full_name"].as_str().unwrap()).unwrap(), name);

        // Sign-in, the profile and duplicate detection work on the sealed row.
        let signed_in = app.sign_in(&email.to_uppercase(), PASSWORD).await;
        let me: Value = app.me(&signed_in.access_token).await.json().await.unwrap();
        assert_eq!(me["email"], email);
        assert_eq!(me["full_name"], name);
        let duplicate = app.register(&email.to_lowercase(), PASSWORD, "Someone Else").await;
        assert_eq!(duplicate.status(), 409);
    }

    async fn a_ciphertext_copied_to_another_row_does_not_open(app: TestApp) {
        let admin = app.admin().await;
        let victim = app.signed_in_user().await;
        let other = app.signed_in_user().await;
        let victim_index = app.email_index(&victim.email);
        let other_index = app.email_index(&other.email);
        app.execute(&format!(
            "UPDATE users SET email = (SELECT email FROM users WHERE email_index = '{victim_index}'), \
             full_name = (SELECT full_name FROM users WHERE email_index = '{victim_index}') \
             WHERE email_index = '{other_index}'"
        ))
        .await
        .unwrap();

        let moved = app.query(&format!("SELECT email FROM users WHERE email_index = '{other_index}'")).await;
        let error = app.open_sealed("users.email", &other.id, moved[0]["email"].as_str().unwrap()).unwrap_err();
        assert!(error.contains("authentication"), "{error}");

        let response = admin_get(&app, &admin.access_token, &format!("/api/v1/admin/users/{}", other.id)).await;
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let body = response.text().await.unwrap();
        assert!(!body.contains(&victim.email), "{body}");
        assert_eq!(app.login(&other.email, PASSWORD).await.status(), 500);
        // The victim's own row is untouched and still opens.
        assert_eq!(app.login(&victim.email, PASSWORD).await.status(), 200);
    }

    async fn admin_prefix_search_finds_sealed_emails(app: TestApp) {
        let admin = app.admin().await;
        let prefix = format!("ward{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        for n in 0..3 {
            let email = format!("{prefix}.nurse{n}@example.test");
            assert_eq!(app.register(&email, PASSWORD, "Night Nurse").await.status(), 201);
        }
        app.signed_in_user().await;

        let list = |query: String| {
            let app = &app;
            let token = admin.access_token.clone();
            async move {
                let response = admin_get(app, &token, &format!("/api/v1/admin/users{query}")).await;
                assert_eq!(response.status(), 200);
                response.json::<Value>().await.unwrap()
            }
        };
        let all = list(format!("?email_prefix={}", prefix.to_uppercase())).await;
        let emails: Vec<&str> = all["items"].as_array().unwrap().iter().map(|user| user["email"].as_str().unwrap()).collect();
        assert_eq!(emails.len(), 3, "{all}");
        assert!(emails.iter().all(|email| email.starts_with(&prefix)));

        let first = list(format!("?email_prefix={prefix}&limit=2")).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = list(format!("?email_prefix={prefix}&limit=2&cursor={cursor}")).await;
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert!(second.get("next_cursor").is_none());
        assert_eq!(second["items"][0]["email"], format!("{prefix}.nurse2@example.test"));
    }

    async fn rows_stored_in_the_clear_are_sealed_at_startup(app: TestApp) {
        let template = app.signed_in_user().await;
        let template_index = app.email_index(&template.email);
        let email = unique_email();
        let id = uuid::Uuid::new_v4();
        let id_literal = match app.backend {
            Backend::Sqlite => format!("X'{}'", id.simple()),
            Backend::Postgres => format!("'{id}'"),
        };
        // A row as a version without field encryption wrote it: plain values, the normalized
        // email in the index column, no data key id.
        app.execute(&format!(
            "INSERT INTO users (id, email, email_index, full_name, role, status, password_hash, created_at, updated_at, \
             must_change_password) SELECT {id_literal}, '{email}', '{email}', 'Legacy Patient', role, status, password_hash, \
             created_at, updated_at, must_change_password FROM users WHERE email_index = '{template_index}'"
        ))
        .await
        .unwrap();

        let restarted = app.spawn_sibling().await;
        for row in raw_users(&restarted).await {
            assert!(!row.contains(&email), "a row still holds the email: {row}");
            assert!(!row.contains("Legacy Patient"), "a row still holds the name: {row}");
        }
        let signed_in = restarted.sign_in(&email, PASSWORD).await;
        assert_eq!(signed_in.id, id.to_string());
        let me: Value = restarted.me(&signed_in.access_token).await.json().await.unwrap();
        assert_eq!(me["full_name"], "Legacy Patient");
    }
}

/// Runs `case` on SQLite and, when configured, on PostgreSQL, with a short key refresh interval
/// so rotations reach the running app quickly.
async fn spawn_refreshing(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |config| {
        config.key_refresh_interval = StdDuration::from_millis(200);
    })
    .await
}

async fn wait_for(mut condition: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if condition().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("the condition did not hold within 10 seconds");
}

async fn data_key_ids(app: &TestApp, table: &str) -> Vec<String> {
    app.query(&format!("SELECT data_key_id FROM {table}"))
        .await
        .iter()
        .map(|row| row["data_key_id"].as_str().unwrap_or("NULL").to_owned())
        .collect()
}

async fn data_key_rotation(backend: Backend) {
    let Some(app) = spawn_refreshing(backend).await else {
        return;
    };
    let first = app.signed_in_user().await;
    let old_key = data_key_ids(&app, "users").await[0].clone();

    let new_key = keys::rotate_data(&app.config, false, false).await.unwrap();
    assert_ne!(new_key, old_key);
    let refused = keys::retire_data(&app.config, &old_key, false).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("wait"),
        "a ring that just changed: {refused:#}"
    );
    let refused = keys::retire_data(&app.config, &new_key, false).await.unwrap_err();
    assert!(format!("{refused:#}").contains("current key"), "{refused:#}");
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    let refused = keys::retire_data(&app.config, &old_key, false).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("reencrypt"),
        "rows still under the old key: {refused:#}"
    );

    // The running app seals new rows under the new key once it has reread the ring, and still
    // opens rows under the old one.
    let second = app.signed_in_user().await;
    let index = app.email_index(&second.email);
    let row = app
        .query(&format!("SELECT data_key_id FROM users WHERE email_index = '{index}'"))
        .await;
    assert_eq!(row[0]["data_key_id"], new_key.as_str());
    app.sign_in(&first.email, PASSWORD).await;

    let report = keys::reencrypt(&app.config, 1).await.unwrap();
    assert!(report.accounts >= 1, "{report:?}");
    assert!(report.signing_keys >= 1, "{report:?}");
    assert!(data_key_ids(&app, "users").await.iter().all(|id| *id == new_key));
    assert!(data_key_ids(&app, "signing_keys").await.iter().all(|id| *id == new_key));
    // Resumable: a second run finds nothing left to do.
    assert_eq!(keys::reencrypt(&app.config, 1).await.unwrap().accounts, 0);
    app.sign_in(&first.email, PASSWORD).await;
    app.sign_in(&second.email, PASSWORD).await;

    keys::retire_data(&app.config, &old_key, false).await.unwrap();
    let listed = keys::list(&app.config).await.unwrap();
    assert!(!listed.contains(&old_key), "{listed}");
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    app.sign_in(&first.email, PASSWORD).await;

    // A restart with the retired key gone still opens everything.
    let restarted = app.spawn_sibling().await;
    restarted.sign_in(&first.email, PASSWORD).await;
    restarted.sign_in(&second.email, PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_key_rotation_keeps_logins_working_sqlite() {
    data_key_rotation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_key_rotation_keeps_logins_working_postgres() {
    data_key_rotation(Backend::Postgres).await;
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_owned()
}

async fn signing_key_rotation(backend: Backend) {
    let Some(app) = spawn_refreshing(backend).await else {
        return;
    };
    let before = app.signed_in_user().await;
    let old_kid = kid_of(&before.access_token);
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&old_kid));

    // Published at once, signing only after the delay.
    let new_kid = keys::rotate_signing(&app.config, Some(Duration::minutes(5)))
        .await
        .unwrap();
    wait_for(async || jwks_kids(&app).await.contains(&new_kid)).await;
    assert_eq!(jwks_kids(&app).await, [old_kid.clone(), new_kid.clone()]);
    assert_eq!(
        kid_of(&app.sign_in(&before.email, PASSWORD).await.access_token),
        old_kid
    );

    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let after = app.sign_in(&before.email, PASSWORD).await;
    assert_eq!(kid_of(&after.access_token), new_kid);

    // A second instance verifies tokens from before and after the rotation.
    let sibling = app.spawn_sibling().await;
    sibling.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    assert_eq!(sibling.me(&after.access_token).await.status(), 200);
    assert_eq!(app.me(&after.access_token).await.status(), 200);

    // The old key leaves the set once the longest-lived token it signed has expired.
    let lifetime = app.config.access_token_lifetime + app.config.jwt_leeway;
    app.clock.advance(lifetime);
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&new_kid));
    let response = app.me(&before.access_token).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_key_rotation_publishes_then_switches_sqlite() {
    signing_key_rotation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_key_rotation_publishes_then_switches_postgres() {
    signing_key_rotation(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_before_rotation_is_still_accepted() {
    let app = spawn_refreshing(Backend::Sqlite).await.unwrap();
    let before = app.signed_in_user().await;
    let new_kid = keys::rotate_signing(&app.config, Some(Duration::ZERO)).await.unwrap();
    wait_for(async || kid_of(&app.sign_in(&before.email, PASSWORD).await.access_token) == new_kid).await;
    assert_eq!(app.me(&before.access_token).await.status(), 200);
    let refreshed = app.refresh(&before.refresh_token).await;
    assert_eq!(refreshed.status(), 200);
    let tokens: Value = refreshed.json().await.unwrap();
    assert_eq!(kid_of(tokens["access_token"].as_str().unwrap()), new_kid);
}

/// Starting with keys that do not fit the stored rows fails with the reason.
async fn startup_error(app: &TestApp, adjust: impl FnOnce(&mut somnium::Config)) -> String {
    let mut config = app.config.clone();
    config.listen_addr = "127.0.0.1:0".parse().unwrap();
    adjust(&mut config);
    match somnium::Application::build(&config, somnium::Overrides::default()).await {
        Ok(_) => panic!("the app started with keys that do not fit the data"),
        Err(error) => format!("{error:#}"),
    }
}

fn read_key_file(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

async fn startup_refusals(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.signed_in_user().await;
    let SecretSource::Generated(ring_path) = app.config.data_keys.clone() else {
        panic!("generated ring")
    };
    let ring = read_key_file(&ring_path);
    let key_id = ring.split(':').next().unwrap().to_owned();

    let other_ring = format!("other:{}", BASE64_32);
    let error = startup_error(&app, |config| {
        config.data_keys = SecretSource::Inline(other_ring.clone())
    })
    .await;
    assert!(
        error.contains(&format!("data key `{key_id}`, which the key ring does not hold")),
        "{error}"
    );

    let same_id_other_bytes = format!("{key_id}:{BASE64_32}");
    let error = startup_error(&app, |config| {
        config.data_keys = SecretSource::Inline(same_id_other_bytes.clone())
    })
    .await;
    assert!(error.contains("does not open it"), "{error}");

    let error = startup_error(&app, |config| {
        config.blind_index_key = SecretSource::Inline(BASE64_32.to_owned())
    })
    .await;
    assert!(error.contains("blind-index key does not match"), "{error}");

    let short = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(short.path(), "k1:c2hvcnQ=").unwrap();
    let error = startup_error(&app, |config| {
        config.data_keys = SecretSource::File(short.path().to_owned())
    })
    .await;
    assert!(
        error.contains("SOMNIUM_DATA_KEYS_FILE") && error.contains("exactly 32"),
        "{error}"
    );

    let error = startup_error(&app, |config| {
        config.data_keys = SecretSource::File("/nonexistent/somnium/data-keys".into());
    })
    .await;
    assert!(error.contains("SOMNIUM_DATA_KEYS_FILE"), "{error}");

    // The right keys given inline instead of generated files start fine.
    let inline_ring = ring.trim().replace('\n', ",");
    let mut config = app.config.clone();
    config.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.data_keys = SecretSource::Inline(inline_ring);
    assert!(somnium::Application::build(&config, somnium::Overrides::default())
        .await
        .is_ok());
}

/// 32 bytes of base64 that are not any key the app generated.
const BASE64_32: &str = "c29tbml1bS10ZXN0LWtleS0zMi1ieXRlcy1sb25nLiE=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_do_not_fit_the_data_stop_startup_sqlite() {
    startup_refusals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_do_not_fit_the_data_stop_startup_postgres() {
    startup_refusals(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_change_reseals_both_fields_under_the_current_key() {
    let app = spawn_refreshing(Backend::Sqlite).await.unwrap();
    let user = app.signed_in_user().await;
    let new_key = keys::rotate_data(&app.config, false, false).await.unwrap();
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    let response = app
        .client
        .patch(app.url("/api/v1/users/me"))
        .bearer_auth(&user.access_token)
        .json(&json!({ "full_name": "Renamed Patient" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let index = app.email_index(&user.email);
    let row = app
        .query(&format!(
            "SELECT email, full_name, data_key_id FROM users WHERE email_index = '{index}'"
        ))
        .await;
    assert_eq!(row[0]["data_key_id"], new_key.as_str());
    for field in ["email", "full_name"] {
        assert_eq!(
            keys::sealed_key_id(row[0][field].as_str().unwrap()),
            Some(new_key.as_str())
        );
    }
    let me: Value = app
        .me(&app.sign_in(&user.email, PASSWORD).await.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["full_name"], "Renamed Patient");
}
