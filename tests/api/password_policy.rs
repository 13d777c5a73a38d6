use serde_json::Value;
use somnium_domain::password_policy::PolicyPreset;
use somnium_tests::{on_both_backends, Backend, TestApp};

async fn violation_codes(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|error| assert_eq!(error["field"], "password"))
        .map(|error| error["code"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends! {
    async fn weak_password_lists_every_rule(app: TestApp) {
        let response = app.register("pat@example.test", "password", "Pat Doe").await;
        let codes = violation_codes(response).await;
        assert_eq!(codes, ["missing_uppercase", "missing_digit", "missing_symbol", "common_password"]);
    }

    async fn blocklist_ignores_case(app: TestApp) {
        let codes = violation_codes(app.register("pat@example.test", "PaSsWoRd", "Pat Doe").await).await;
        assert!(codes.contains(&"common_password".to_owned()), "{codes:?}");
    }

    async fn sequences_and_repeats_are_rejected(app: TestApp) {
        let codes = violation_codes(app.register("pat@example.test", "Xy-abc-9Z!", "Pat Doe").await).await;
        assert_eq!(codes, ["sequential_characters"]);
        let codes = violation_codes(app.register("pat@example.test", "Xy-qwe-9Z!", "Pat Doe").await).await;
        assert_eq!(codes, ["sequential_characters"]);
        let codes = violation_codes(app.register("pat@example.test", "Xy-ooo-9Z!", "Pat Doe").await).await;
        assert_eq!(codes, ["repeated_characters"]);
    }

    async fn personal_details_are_rejected(app: TestApp) {
        let codes = violation_codes(app.register("marguerite@example.test", "Marguerite-7#", "Pat Doe").await).await;
        assert_eq!(codes, ["contains_email"]);
        let codes = violation_codes(app.register("pat@example.test", "Franklin-7#Zu", "Rosalind Franklin").await).await;
        assert_eq!(codes, ["contains_name"]);
    }

    async fn strong_password_is_accepted(app: TestApp) {
        assert_eq!(app.register("pat@example.test", "Ward-7#Lumen", "Pat Doe").await.status(), 201);
    }

    async fn policy_endpoint_describes_the_rules(app: TestApp) {
        let response = app.client.get(app.url("/api/v1/auth/password-policy")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let rules: Value = response.json().await.unwrap();
        assert_eq!(rules["preset"], "hospital");
        assert_eq!(rules["min_length"], 8);
        assert_eq!(rules["max_length"], 128);
        assert_eq!(rules["require_uppercase"], true);
        assert_eq!(rules["require_symbol"], true);
        assert_eq!(rules["forbid_sequences"], true);
        assert_eq!(rules["blocklist_size"], 10_000);
    }
}

async fn nist_preset_case(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |config| config.password_preset = PolicyPreset::Nist).await else {
        return;
    };
    let rules: Value = app
        .client
        .get(app.url("/api/v1/auth/password-policy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["preset"], "nist");
    assert_eq!(rules["min_length"], 15);
    assert_eq!(rules["require_uppercase"], false);

    let passphrase = "correct horse battery staple";
    assert_eq!(
        app.register("pat@example.test", passphrase, "Pat Doe").await.status(),
        201
    );
    let codes = violation_codes(app.register("sam@example.test", "Short-Pass-9#", "Sam Roe").await).await;
    assert_eq!(codes, ["too_short"]);
    let codes = violation_codes(app.register("sam@example.test", "mailcreated5240", "Sam Roe").await).await;
    assert_eq!(codes, ["common_password"], "no composition rule applies under nist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nist_preset_sqlite() {
    nist_preset_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nist_preset_postgres() {
    nist_preset_case(Backend::Postgres).await;
}

async fn rehash_case(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    assert_eq!(
        app.register("pat@example.test", "Ward-7#Lumen", "Pat Doe")
            .await
            .status(),
        201
    );

    let mut cheaper = app.config.clone();
    cheaper.argon2.memory_kib = 12_288;
    let mut sibling_config = cheaper;
    sibling_config.listen_addr = "127.0.0.1:0".parse().unwrap();
    let sibling = TestApp::spawn_sibling_with(&app, sibling_config).await;
    assert_eq!(sibling.login("pat@example.test", "Ward-7#Lumen").await.status(), 200);

    let rows = app.query("SELECT password_hash FROM users").await;
    let hash = rows[0]["password_hash"].as_str().unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=12288,t=2,p=1$"), "{hash}");
    assert_eq!(
        app.login("pat@example.test", "Ward-7#Lumen").await.status(),
        200,
        "the new hash verifies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_argon2_parameters_rehash_sqlite() {
    rehash_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_argon2_parameters_rehash_postgres() {
    rehash_case(Backend::Postgres).await;
}
