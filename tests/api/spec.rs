use serde_json::Value;
use somnium_tests::{Backend, TestApp};

fn committed_spec() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    std::fs::read_to_string(path).expect("openapi/openapi.json is committed")
}

#[test]
fn committed_spec_matches_the_code() {
    let generated = somnium_adapters::http::openapi_json();
    assert!(
        committed_spec() == generated,
        "openapi/openapi.json is stale; regenerate it with `cargo run -p somnium -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_spec_and_portal_match() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let served: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: Value = serde_json::from_str(&committed_spec()).unwrap();
    assert!(served == committed, "/openapi.json differs from openapi/openapi.json");

    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = docs.text().await.unwrap();
    assert!(html.to_lowercase().contains("redoc"));
}

#[test]
fn every_operation_has_an_id_tag_and_summary() {
    let spec: Value = serde_json::from_str(&somnium_adapters::http::openapi_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let name = format!("{method} {path}");
            assert!(operation["operationId"].is_string(), "{name} has no operationId");
            assert!(
                operation["tags"].as_array().is_some_and(|tags| !tags.is_empty()),
                "{name} has no tag"
            );
            assert!(operation["summary"].is_string(), "{name} has no summary");
        }
    }
}

#[test]
fn every_operation_declares_its_permission() {
    let spec: Value = serde_json::from_str(&somnium_adapters::http::openapi_json()).unwrap();
    let table = somnium_adapters::http::permissions::OPERATION_PERMISSIONS;
    let mut seen = Vec::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            let declared = operation["x-somnium-permission"].as_str();
            assert!(declared.is_some(), "{method} {path} declares no permission");
            let entry = table.iter().find(|(name, _)| *name == id);
            assert!(entry.is_some(), "{id} is missing from the permission table");
            let expected = entry.unwrap().1.map_or("none", |permission| permission.as_str());
            assert_eq!(declared.unwrap(), expected, "{id}");
            assert!(
                operation["description"]
                    .as_str()
                    .unwrap()
                    .contains("Required permission"),
                "{id}"
            );
            seen.push(id.to_owned());
        }
    }
    for (name, _) in table {
        assert!(
            seen.iter().any(|id| id == name),
            "{name} is in the table but not in the spec"
        );
    }
}

#[test]
fn every_operation_has_request_and_response_examples() {
    let spec: Value = serde_json::from_str(&committed_spec()).unwrap();
    let missing = somnium_adapters::http::examples::missing_examples(&spec);
    assert!(missing.is_empty(), "media types without an example: {missing:#?}");
}

#[test]
fn cookie_authenticated_changes_also_require_the_csrf_header() {
    let spec: Value = serde_json::from_str(&committed_spec()).unwrap();
    assert_eq!(
        spec["components"]["securitySchemes"]["CsrfToken"]["name"],
        "X-CSRF-Token"
    );
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for requirement in operation["security"].as_array().into_iter().flatten() {
                if requirement.get("CookieAuth").is_some() {
                    let needs_csrf = method != "get";
                    assert_eq!(requirement.get("CsrfToken").is_some(), needs_csrf, "{method} {path}");
                }
            }
        }
    }
    assert!(spec["info"]["contact"]["email"].is_string());
}
