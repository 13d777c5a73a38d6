//! Security headers, CORS, HTTPS enforcement and native TLS.

use std::process::Command;

use somnium::Environment;
use somnium_tests::{Backend, TestApp};

const ALLOWED_ORIGIN: &str = "https://ward.example.org";

fn assert_security_headers(response: &reqwest::Response, case: &str) {
    let headers = response.headers();
    assert_eq!(headers["x-frame-options"], "DENY", "{case}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{case}");
    assert_eq!(headers["x-xss-protection"], "1; mode=block", "{case}");
    assert_eq!(headers["referrer-policy"], "strict-origin-when-cross-origin", "{case}");
    assert_eq!(
        headers["permissions-policy"], "geolocation=(), microphone=(), camera=(), payment=()",
        "{case}"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{case}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{case}: {csp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_security_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let user = app.signed_in_user().await;

    let ok = app.me(&user.access_token).await;
    assert_security_headers(&ok, "200");
    assert_eq!(ok.headers()["cache-control"], "no-store");
    let unauthorized = app.me("not-a-token").await;
    assert_security_headers(&unauthorized, "401");
    let missing = app.client.get(app.url("/no/such/path")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_security_headers(&missing, "404");
    let login = app.login(&user.email, &user.password).await;
    assert_eq!(
        login.headers()["cache-control"],
        "no-store",
        "token responses are never cached"
    );
    assert!(
        ok.headers().get("strict-transport-security").is_none(),
        "HSTS only in production"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_portal_gets_a_hash_based_csp() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("'sha256-"), "{csp}");
    let script_src = csp
        .split(';')
        .find(|directive| directive.trim().starts_with("script-src"))
        .unwrap();
    assert!(!script_src.contains("unsafe-inline"), "{script_src}");
    let html = docs.text().await.unwrap();
    assert!(
        !html.contains("fonts.googleapis.com"),
        "the portal loads nothing from third parties"
    );
    let yaml = app.client.get(app.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(yaml.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_echoes_only_listed_origins() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.cors_origins = vec![ALLOWED_ORIGIN.to_owned()]
    })
    .await
    .unwrap();

    let allowed = app
        .client
        .get(app.url("/health/live"))
        .header("origin", ALLOWED_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], ALLOWED_ORIGIN);
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");

    let foreign = app
        .client
        .get(app.url("/health/live"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 200);
    assert!(foreign.headers().get("access-control-allow-origin").is_none());

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/logout"))
        .header("origin", ALLOWED_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, x-csrf-token")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], ALLOWED_ORIGIN);
    assert_eq!(headers["access-control-allow-methods"], "GET, POST, PUT, DELETE, PATCH");
    assert_eq!(
        headers["access-control-allow-headers"],
        "Authorization, Content-Type, Accept, X-CSRF-Token"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(headers["access-control-allow-credentials"], "true");

    let foreign_preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/logout"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_preflight.status(), 403);
    assert!(foreign_preflight.headers().get("access-control-allow-origin").is_none());

    let odd_header = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/logout"))
        .header("origin", ALLOWED_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-something-else")
        .send()
        .await
        .unwrap();
    assert_eq!(odd_header.status(), 403);
}

async fn production_app(trust_local_proxy: bool) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |config| {
        config.environment = Environment::Production;
        if trust_local_proxy {
            config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_redirects_plain_http_behind_a_trusted_proxy() {
    let app = production_app(true).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let navigate = client
        .get(app.url("/docs?section=auth"))
        .header("x-forwarded-proto", "http")
        .header("host", "idp.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(navigate.status(), 308);
    assert_eq!(
        navigate.headers()["location"],
        "https://idp.example.org/docs?section=auth"
    );

    let api_call = client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-proto", "http")
        .json(&serde_json::json!({ "email": "a@example.test", "password": "Ward-7#Lumen" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        api_call.status(),
        400,
        "an API call over plain HTTP is refused, not redirected"
    );
    assert_eq!(api_call.headers()["content-type"], "application/problem+json");
    assert!(
        app.audit_events("login_failed").await.is_empty(),
        "the refused request was not processed"
    );

    let over_tls = client
        .get(app.url("/health/live"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(over_tls.status(), 200);
    assert_eq!(
        over_tls.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains; preload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_ignores_forwarded_proto_from_untrusted_peers() {
    let app = production_app(false).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let spoofed = client
        .get(app.url("/docs"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 308, "an untrusted peer cannot claim TLS");
    let probe = client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(probe.status(), 200, "health probes are answered over plain HTTP");
}

/// Writes a self-signed certificate for `localhost` with the openssl command line.
fn test_certificate(directory: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = directory.join("cert.pem");
    let key = directory.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    (cert, key)
}

/// Runs `openssl s_client` with one protocol version and tells whether the handshake worked.
fn handshake_succeeds(port: u16, version_flag: &str) -> bool {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            version_flag,
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the openssl command runs");
    let text = String::from_utf8_lossy(&output.stdout);
    output.status.success() && text.contains("Cipher is") && !text.contains("Cipher is (NONE)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_tls_serves_https_and_refuses_tls_1_1() {
    let directory = tempfile::tempdir().unwrap();
    let (cert, key) = test_certificate(directory.path());
    let cert_pem = std::fs::read(&cert).unwrap();
    let app = TestApp::spawn_with(Backend::Sqlite, move |config| {
        config.tls = Some(somnium::config::TlsFiles { cert, key });
        config.environment = Environment::Production;
    })
    .await
    .unwrap();
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert_pem).unwrap())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{port}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "a request over native TLS counts as HTTPS in production"
    );
    assert!(response.headers().contains_key("strict-transport-security"));

    let (tls12, tls13, tls11) = tokio::task::spawn_blocking(move || {
        (
            handshake_succeeds(port, "-tls1_2"),
            handshake_succeeds(port, "-tls1_3"),
            handshake_succeeds(port, "-tls1_1"),
        )
    })
    .await
    .unwrap();
    assert!(tls12, "TLS 1.2 is accepted");
    assert!(tls13, "TLS 1.3 is accepted");
    assert!(!tls11, "TLS 1.1 is refused");
}
