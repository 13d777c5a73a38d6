use serde_json::Value;
use somnium_tests::on_both_backends;

async fn assert_problem(response: reqwest::Response, status: u16, problem_type: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], status);
    assert_eq!(problem["type"], format!("urn:somnium:problem:{problem_type}"));
    assert!(problem["title"].is_string());
    assert_eq!(problem["request_id"], request_id);
    problem
}

on_both_backends! {
    async fn malformed_json_is_400(app: TestApp) {
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body("{\"email\": \"a@example.test\", ")
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "malformed-request").await;
    }

    async fn wrong_content_type_is_415(app: TestApp) {
        for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
            let response = app
                .client
                .post(app.url("/api/v1/auth/register"))
                .header("content-type", content_type)
                .body("{\"email\":\"a@example.test\",\"password\":\"Correct-Horse-9\",\"full_name\":\"A\"}")
                .send()
                .await
                .unwrap();
            assert_problem(response, 415, "unsupported-media-type").await;
        }
        assert!(app.query("SELECT id FROM users").await.is_empty());
    }

    async fn oversized_body_is_413(app: TestApp) {
        let body = format!("{{\"email\":\"{}\"}}", "a".repeat(70 * 1024));
        let response = app
            .client
            .post(app.url("/api/v1/auth/register"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_problem(response, 413, "payload-too-large").await;

        // Without Content-Length (chunked), the limit holds on the bytes received. The server
        // may close the connection before the client has written its last chunk, which the
        // client sees as a send error; such an attempt is repeated.
        let mut response = None;
        for _ in 0..5 {
            let chunks: Vec<_> = body.as_bytes().chunks(8192).map(|chunk| Ok::<_, std::io::Error>(chunk.to_vec())).collect();
            let sent = app
                .client
                .post(app.url("/api/v1/auth/register"))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
                .send()
                .await;
            if let Ok(sent) = sent {
                response = Some(sent);
                break;
            }
        }
        assert_problem(response.expect("a response to one of five attempts"), 413, "payload-too-large").await;
        assert!(app.audit_events("user_registered").await.is_empty());
    }

    async fn unknown_route_is_404(app: TestApp) {
        let response = app.client.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
        let problem = assert_problem(response, 404, "not-found").await;
        assert_eq!(problem["instance"], "/api/v1/nothing-here");
    }

    async fn wrong_method_is_405(app: TestApp) {
        let response = app.client.get(app.url("/api/v1/auth/login")).send().await.unwrap();
        assert_problem(response, 405, "method-not-allowed").await;
    }

    async fn request_id_is_echoed(app: TestApp) {
        let response = app
            .client
            .get(app.url("/health/live"))
            .header("x-request-id", "trace-1234")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "trace-1234");

        let response = app
            .client
            .get(app.url("/health/live"))
            .header("x-request-id", "not plain <script>")
            .send()
            .await
            .unwrap();
        let generated = response.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(generated.len(), 32, "an unusable id is replaced");
    }

    async fn panic_becomes_500_and_serving_continues(app: TestApp) {
        let user = app.signed_in_user().await;
        app.clock.panic_on_next_read();
        let response = app.me(&user.access_token).await;
        let problem = assert_problem(response, 500, "internal-error").await;
        assert!(!problem["detail"].as_str().unwrap().contains("panic"));

        assert_eq!(app.me(&user.access_token).await.status(), 200);
    }

    async fn readiness_turns_false_at_shutdown(app: TestApp) {
        assert_eq!(app.client.get(app.url("/health/ready")).send().await.unwrap().status(), 200);
        app.shutting_down.store(true, std::sync::atomic::Ordering::SeqCst);
        let ready = app.client.get(app.url("/health/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 503);
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["status"], "unavailable");
        assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), 200);
    }

    async fn health_endpoints_answer(app: TestApp) {
        let live = app.client.get(app.url("/health/live")).send().await.unwrap();
        assert_eq!(live.status(), 200);
        let ready = app.client.get(app.url("/health/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_and_booleans_are_not_taken_for_strings() {
    let app = somnium_tests::TestApp::spawn(somnium_tests::Backend::Sqlite)
        .await
        .unwrap();
    let email = somnium_tests::unique_email();
    for body in [
        serde_json::json!({ "email": email, "password": "Correct-Horse-9", "full_name": 42 }),
        serde_json::json!({ "email": email, "password": true, "full_name": "Kim Nakamura" }),
    ] {
        let response = app.post_json("/api/v1/auth/register", &body).await;
        assert_eq!(response.status(), 422, "{body}");
    }
    let verify = serde_json::json!({ "mfa_token": "token", "code": 56107 });
    assert_eq!(app.post_json("/api/v1/auth/mfa/verify", &verify).await.status(), 422);
    assert!(app.query("SELECT id FROM users").await.is_empty());
}
