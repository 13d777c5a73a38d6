use serde_json::{json, Value};
use somnium_tests::{on_both_backends, strong_password, unique_email};

on_both_backends! {
    async fn creates_a_patient(app: TestApp) {
        let email = unique_email();
        let response = app.register(&email, "Correct-Horse-9", "Ana María Díaz").await;
        assert_eq!(response.status(), 201);
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["email"], email);
        assert_eq!(user["full_name"], "Ana María Díaz");
        assert_eq!(user["role"], "PATIENT");
        assert!(user["id"].as_str().unwrap().len() == 36);
        assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(user.get("password").is_none());
        assert!(user.get("password_hash").is_none());
    }

    async fn role_in_body_is_rejected(app: TestApp) {
        let body = json!({ "email": unique_email(), "password": "Correct-Horse-9", "full_name": "Eve", "role": "ADMIN" });
        let response = app.post_json("/api/v1/auth/register", &body).await;
        assert_eq!(response.status(), 422);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let problem: Value = response.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains("role"));
        let admins = app.query("SELECT id FROM users WHERE role <> 'PATIENT'").await;
        assert!(admins.is_empty());
    }

    async fn unknown_field_is_rejected(app: TestApp) {
        let body = json!({ "email": unique_email(), "password": "Correct-Horse-9", "full_name": "Eve", "is_admin": true });
        let response = app.post_json("/api/v1/auth/register", &body).await;
        assert_eq!(response.status(), 422);
    }

    async fn email_variants_are_one_account(app: TestApp) {
        let local = format!("alice-{}", uuid::Uuid::new_v4().simple());
        let first = app.register(&format!("{local}@example.test"), "Correct-Horse-9", "Alice").await;
        assert_eq!(first.status(), 201);

        let fullwidth_a = local.replacen('a', "\u{FF41}", 1);
        let variants = [
            format!("{}@Example.test", local.to_uppercase()),
            format!(" {local}@example.test"),
            format!("{local}@example.test\t"),
            format!("{}@EXAMPLE.TEST", local),
            format!("{fullwidth_a}@example.test"),
        ];
        for variant in variants {
            let response = app.register(&variant, "Correct-Horse-9", "Alice").await;
            assert_eq!(response.status(), 409, "{variant:?}");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["type"], "urn:somnium:problem:email-taken");
        }
        let index = app.email_index(&format!("{local}@example.test"));
        let count = app.query(&format!("SELECT id FROM users WHERE email_index = '{index}'")).await;
        assert_eq!(count.len(), 1);
    }

    async fn concurrent_duplicates_create_one_account(app: TestApp) {
        let email = unique_email();
        let attempts = (0..6).map(|_| app.register(&email, "Correct-Horse-9", "Twin"));
        let statuses: Vec<u16> = futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|status| **status == 201).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|status| **status == 409).count(), 5, "{statuses:?}");
    }

    async fn every_invalid_field_is_listed(app: TestApp) {
        let response = app.register("not-an-email", "short", "<b>Bold</b>").await;
        assert_eq!(response.status(), 422);
        let problem: Value = response.json().await.unwrap();
        let errors = problem["errors"].as_array().unwrap();
        let fields: Vec<(&str, &str)> = errors
            .iter()
            .map(|error| (error["field"].as_str().unwrap(), error["code"].as_str().unwrap()))
            .collect();
        assert_eq!(fields, [("email", "invalid_format"), ("password", "too_short"), ("full_name", "markup")]);
    }

    async fn short_password_lists_every_broken_rule(app: TestApp) {
        let response = app.register("bob@example.test", "bob123", "Bob Smith").await;
        assert_eq!(response.status(), 422);
        let problem: Value = response.json().await.unwrap();
        let codes: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|error| error["code"].as_str().unwrap()).collect();
        for code in ["too_short", "missing_uppercase", "missing_symbol", "sequential_characters", "contains_email"] {
            assert!(codes.contains(&code), "{code} missing from {codes:?}");
        }
        assert_eq!(problem["detail"], "invalid fields: password");
    }

    async fn password_length_is_counted_in_characters(app: TestApp) {
        let seven = strong_password(7);
        assert_eq!(app.register(&unique_email(), &seven, "Short").await.status(), 422);
        assert_eq!(app.register(&unique_email(), &strong_password(8), "Eight").await.status(), 201);
        assert_eq!(app.register(&unique_email(), &strong_password(128), "Max").await.status(), 201);
        let response = app.register(&unique_email(), &strong_password(129), "Long").await;
        assert_eq!(response.status(), 422);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["code"], "too_long");
    }

    async fn password_is_neither_truncated_nor_case_folded(app: TestApp) {
        let email = unique_email();
        let password = format!("{}-Tail", strong_password(100));
        assert_eq!(app.register(&email, &password, "Long Password").await.status(), 201);

        let first_72: String = password.chars().take(72).collect();
        assert_eq!(app.login(&email, &first_72).await.status(), 401);
        assert_eq!(app.login(&email, &password.to_uppercase()).await.status(), 401);
        assert_eq!(app.login(&email, &password).await.status(), 200);
    }

    async fn full_name_rules(app: TestApp) {
        let rejected = [
            ("", "empty"),
            ("   ", "empty"),
            ("Line\nBreak", "control_character"),
            ("Nul\u{0}Byte", "control_character"),
            ("<script>alert(1)</script>", "markup"),
            ("Bob onclick=alert(1)", "markup"),
            ("<img src=x onerror=alert(1)>", "markup"),
        ];
        for (name, code) in rejected {
            let response = app.register(&unique_email(), "Correct-Horse-9", name).await;
            assert_eq!(response.status(), 422, "{name:?}");
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["errors"][0]["field"], "full_name", "{name:?}");
            assert_eq!(problem["errors"][0]["code"], code, "{name:?}");
        }

        let too_long = "n".repeat(201);
        assert_eq!(app.register(&unique_email(), "Correct-Horse-9", &too_long).await.status(), 422);
        let longest = "ñ".repeat(200);
        assert_eq!(app.register(&unique_email(), "Correct-Horse-9", &longest).await.status(), 201);
    }

    async fn full_name_is_stored_exactly(app: TestApp) {
        let name = "  Zoë  O'Brien-Łukasz ";
        let response = app.register(&unique_email(), "Correct-Horse-9", name).await;
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["full_name"], name);
        let id = user["id"].as_str().unwrap();
        let index = app.email_index(user["email"].as_str().unwrap());
        let stored = app.query(&format!("SELECT full_name FROM users WHERE email_index = '{index}'")).await;
        let sealed = stored[0]["full_name"].as_str().unwrap();
        assert_ne!(sealed, name);
        assert_eq!(app.open_sealed("users.full_name", id, sealed).unwrap(), name);
    }
}
