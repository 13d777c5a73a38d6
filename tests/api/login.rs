use serde_json::{json, Value};
use somnium_tests::{jwt_parts, on_both_backends, unique_email};

on_both_backends! {
    async fn returns_a_token_pair(app: TestApp) {
        let email = unique_email();
        app.register(&email, "Correct-Horse-9", "Pat").await;
        let response = app.login(&email, "Correct-Horse-9").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let tokens: Value = response.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        assert_eq!(tokens["refresh_expires_in"], 30 * 60, "unused for 30 minutes, the session ends");
        let refresh = tokens["refresh_token"].as_str().unwrap();
        assert!(refresh.len() >= 43, "a refresh token carries at least 256 bits");
    }

    async fn remember_me_extends_the_refresh_token(app: TestApp) {
        let email = unique_email();
        app.register(&email, "Correct-Horse-9", "Pat").await;
        let body = json!({ "email": email, "password": "Correct-Horse-9", "remember_me": true });
        let tokens: Value = app.post_json("/api/v1/auth/login", &body).await.json().await.unwrap();
        assert_eq!(tokens["refresh_expires_in"], 7 * 24 * 3600, "the remember-me idle limit");
    }

    async fn access_token_carries_the_claims(app: TestApp) {
        let user = app.signed_in_user().await;
        let (header, claims) = jwt_parts(&user.access_token);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "at+jwt");
        assert!(header["kid"].is_string());

        assert_eq!(claims["iss"], "somnium");
        assert_eq!(claims["aud"], "somnium-api");
        assert_eq!(claims["sub"], user.id);
        assert_eq!(claims["email"], user.email);
        assert_eq!(claims["role"], "PATIENT");
        assert_eq!(claims["type"], "access");
        assert!(claims["sid"].is_string());
        assert!(claims["jti"].is_string());
        let issued_at = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["exp"].as_i64().unwrap() - issued_at, 900);
        assert_eq!(claims["auth_time"].as_i64().unwrap(), issued_at);
    }

    async fn email_variant_signs_in(app: TestApp) {
        let email = unique_email();
        app.register(&email, "Correct-Horse-9", "Pat").await;
        let variant = format!("  {}  ", email.to_uppercase());
        assert_eq!(app.login(&variant, "Correct-Horse-9").await.status(), 200);
    }

    async fn every_failure_is_the_same_401(app: TestApp) {
        let email = unique_email();
        app.register(&email, "Correct-Horse-9", "Pat").await;

        let wrong_password = app.login(&email, "Wrong-Horse-9").await;
        let unknown_email = app.login(&unique_email(), "Correct-Horse-9").await;
        let too_long = app.login(&email, &"x".repeat(5000)).await;
        let mut bodies = Vec::new();
        for response in [wrong_password, unknown_email, too_long] {
            assert_eq!(response.status(), 401);
            assert_eq!(response.headers()["content-type"], "application/problem+json");
            let mut problem: Value = response.json().await.unwrap();
            problem.as_object_mut().unwrap().remove("request_id");
            bodies.push(problem);
        }
        assert_eq!(bodies[0], bodies[1]);
        assert_eq!(bodies[0], bodies[2]);
        assert_eq!(bodies[0]["type"], "urn:somnium:problem:invalid-credentials");
    }

    async fn me_returns_the_current_user(app: TestApp) {
        let user = app.signed_in_user().await;
        let response = app.me(&user.access_token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let me: Value = response.json().await.unwrap();
        assert_eq!(me["id"], user.id);
        assert_eq!(me["email"], user.email);
        assert_eq!(me["role"], "PATIENT");
    }

    async fn logout_revokes_the_session(app: TestApp) {
        let user = app.signed_in_user().await;
        let response = app.logout(&user.access_token).await;
        assert_eq!(response.status(), 204);

        let refresh = app.refresh(&user.refresh_token).await;
        assert_eq!(refresh.status(), 401);
        let again = app.logout(&user.access_token).await;
        assert_eq!(again.status(), 401, "the access token of a revoked session is rejected at once");
        assert_eq!(app.me(&user.access_token).await.status(), 401);
    }

    async fn logout_needs_a_token(app: TestApp) {
        let response = app.client.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="somnium""#);
    }
}
