//! Cookie mode and CSRF protection.

use std::collections::HashMap;

use reqwest::Response;
use serde_json::{json, Value};
use somnium_tests::{Backend, TestApp};

const PASSWORD: &str = "Ward-7#Lumen";
const ALLOWED_ORIGIN: &str = "https://ward.example.org";

/// One `Set-Cookie` header, split into its value and attributes.
#[derive(Debug)]
struct SetCookie {
    name: String,
    value: String,
    attributes: HashMap<String, String>,
}

impl SetCookie {
    fn has(&self, attribute: &str) -> bool {
        self.attributes.contains_key(&attribute.to_ascii_lowercase())
    }

    fn get(&self, attribute: &str) -> Option<&str> {
        self.attributes.get(&attribute.to_ascii_lowercase()).map(String::as_str)
    }
}

fn set_cookies(response: &Response) -> Vec<SetCookie> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| {
            let text = value.to_str().unwrap();
            let mut parts = text.split(';').map(str::trim);
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let attributes = parts
                .map(|part| match part.split_once('=') {
                    Some((key, value)) => (key.to_ascii_lowercase(), value.to_owned()),
                    None => (part.to_ascii_lowercase(), String::new()),
                })
                .collect();
            SetCookie {
                name: name.to_owned(),
                value: value.to_owned(),
                attributes,
            }
        })
        .collect()
}

/// A browser signed in with cookies: what it would store and send.
struct Browser {
    access: String,
    refresh: String,
    csrf: String,
}

async fn cookie_login(app: &TestApp, email: &str) -> (Browser, Vec<SetCookie>, Value) {
    let body = json!({ "email": email, "password": PASSWORD, "token_delivery": "cookie" });
    let response = app.post_json("/api/v1/auth/login", &body).await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    let body: Value = response.json().await.unwrap();
    let value = |name: &str| cookies.iter().find(|cookie| cookie.name == name).unwrap().value.clone();
    let browser = Browser {
        access: value("__Host-somnium_access"),
        refresh: value("__Secure-somnium_refresh"),
        csrf: value("__Host-somnium_csrf"),
    };
    (browser, cookies, body)
}

async fn app_with_user(backend: Backend) -> Option<(TestApp, String)> {
    let app = TestApp::spawn_with(backend, |config| config.cors_origins = vec![ALLOWED_ORIGIN.to_owned()]).await?;
    let email = "clinician@example.test".to_owned();
    assert_eq!(app.register(&email, PASSWORD, "Cleo Nurse").await.status(), 201);
    Some((app, email))
}

async fn post_with_cookie(
    app: &TestApp,
    path: &str,
    browser: &Browser,
    csrf: Option<&str>,
    origin: Option<&str>,
) -> Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("cookie", format!("__Host-somnium_access={}", browser.access));
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

async fn get_me_with_cookie(app: &TestApp, browser: &Browser) -> u16 {
    app.client
        .get(app.url("/api/v1/users/me"))
        .header("cookie", format!("__Host-somnium_access={}", browser.access))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn csrf_rejections(app: &TestApp, reason: &str) -> usize {
    app.audit_events("csrf_rejected")
        .await
        .iter()
        .filter(|event| event["detail"] == reason)
        .count()
}

async fn cookie_attributes_case(backend: Backend) {
    let Some((app, email)) = app_with_user(backend).await else {
        return;
    };
    let (browser, cookies, body) = cookie_login(&app, &email).await;

    assert_eq!(body["token_delivery"], "cookie");
    assert!(
        body.get("access_token").is_none(),
        "no token in the body in cookie mode"
    );
    assert!(
        body.get("refresh_token").is_none(),
        "no token in the body in cookie mode"
    );
    assert_eq!(body["csrf_token"], browser.csrf.as_str());

    let access: Vec<&SetCookie> = cookies.iter().filter(|c| c.name == "__Host-somnium_access").collect();
    assert_eq!(access.len(), 1);
    assert!(access[0].has("HttpOnly") && access[0].has("Secure"));
    assert_eq!(access[0].get("SameSite"), Some("Strict"));
    assert_eq!(access[0].get("Path"), Some("/"));
    assert_eq!(access[0].get("Max-Age"), Some("900"));

    let refresh: Vec<&SetCookie> = cookies
        .iter()
        .filter(|c| c.name == "__Secure-somnium_refresh")
        .collect();
    let mut paths: Vec<&str> = refresh.iter().map(|c| c.get("Path").unwrap()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/api/v1/auth/logout", "/api/v1/auth/refresh"]);
    for cookie in &refresh {
        assert!(cookie.has("HttpOnly") && cookie.has("Secure"));
        assert_eq!(cookie.get("SameSite"), Some("Strict"));
    }

    let csrf = cookies.iter().find(|c| c.name == "__Host-somnium_csrf").unwrap();
    assert!(
        !csrf.has("HttpOnly"),
        "the CSRF cookie is readable by the page's script"
    );
    assert!(csrf.has("Secure"));
    assert_eq!(csrf.get("SameSite"), Some("Strict"));
    assert_eq!(csrf.get("Path"), Some("/"));

    let device = cookies.iter().find(|c| c.name == "__Host-somnium_device").unwrap();
    assert!(device.has("HttpOnly"));

    assert_eq!(
        get_me_with_cookie(&app, &browser).await,
        200,
        "a GET needs no CSRF token"
    );
}

async fn csrf_checks_case(backend: Backend) {
    let Some((app, email)) = app_with_user(backend).await else {
        return;
    };
    let (browser, _, _) = cookie_login(&app, &email).await;
    let (other_browser, _, _) = cookie_login(&app, &email).await;

    let missing = post_with_cookie(&app, "/api/v1/auth/logout", &browser, None, None).await;
    assert_eq!(missing.status(), 403);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    assert_eq!(csrf_rejections(&app, "missing_csrf_token").await, 1);

    let wrong = post_with_cookie(&app, "/api/v1/auth/logout", &browser, Some("bm90LXRoZS10b2tlbg"), None).await;
    assert_eq!(wrong.status(), 403);
    let from_other_session =
        post_with_cookie(&app, "/api/v1/auth/logout", &browser, Some(&other_browser.csrf), None).await;
    assert_eq!(
        from_other_session.status(),
        403,
        "a CSRF token is bound to its own session"
    );
    assert_eq!(csrf_rejections(&app, "wrong_csrf_token").await, 2);

    let foreign = post_with_cookie(
        &app,
        "/api/v1/auth/logout",
        &browser,
        Some(&browser.csrf),
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(foreign.status(), 403);
    assert_eq!(csrf_rejections(&app, "foreign_origin").await, 1);
    assert_eq!(
        get_me_with_cookie(&app, &browser).await,
        200,
        "refused requests changed nothing"
    );

    let allowed = post_with_cookie(
        &app,
        "/api/v1/auth/logout",
        &browser,
        Some(&browser.csrf),
        Some(ALLOWED_ORIGIN),
    )
    .await;
    assert_eq!(allowed.status(), 204);
    assert_eq!(allowed.headers()["clear-site-data"], r#""cookies", "storage""#);
    let cleared = set_cookies(&allowed);
    for name in [
        "__Host-somnium_access",
        "__Secure-somnium_refresh",
        "__Host-somnium_csrf",
    ] {
        assert!(
            cleared
                .iter()
                .any(|cookie| cookie.name == name && cookie.get("Max-Age") == Some("0")),
            "{name} is cleared"
        );
    }
    assert_eq!(get_me_with_cookie(&app, &browser).await, 401);
}

async fn cookie_refresh_case(backend: Backend) {
    let Some((app, email)) = app_with_user(backend).await else {
        return;
    };
    let (browser, _, _) = cookie_login(&app, &email).await;
    let refresh = |csrf: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", format!("__Secure-somnium_refresh={}", browser.refresh))
            .json(&json!({}));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };

    let without = refresh(None).await.unwrap();
    assert_eq!(without.status(), 403);
    let with = refresh(Some(browser.csrf.clone())).await.unwrap();
    assert_eq!(with.status(), 200);
    let cookies = set_cookies(&with);
    let body: Value = with.json().await.unwrap();
    assert_eq!(body["token_delivery"], "cookie");
    assert!(body.get("refresh_token").is_none());
    let new_refresh = cookies
        .iter()
        .find(|cookie| cookie.name == "__Secure-somnium_refresh")
        .unwrap();
    assert_ne!(new_refresh.value, browser.refresh);
}

async fn bearer_needs_no_csrf_case(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let user = app.signed_in_user().await;
    assert_eq!(app.logout(&user.access_token).await.status(), 204);
    let body: Value = app
        .post_json(
            "/api/v1/auth/login",
            &json!({ "email": user.email, "password": user.password }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["token_delivery"], "bearer");
    assert!(body["access_token"].is_string());
}

macro_rules! both {
    ($($name:ident => $case:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$case(somnium_tests::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$case(somnium_tests::Backend::Postgres).await;
                }
            }
        )*
    };
}

both! {
    cookie_attributes => cookie_attributes_case,
    csrf_checks => csrf_checks_case,
    cookie_refresh_needs_csrf => cookie_refresh_case,
    bearer_needs_no_csrf => bearer_needs_no_csrf_case,
}
