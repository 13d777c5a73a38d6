//! The HTTP API: poem-openapi operations, the spec, its portal, and problem+json errors.

mod admin_api;
mod admin_wire;
mod auth_api;
mod client_ip;
mod context;
pub mod cookies;
mod emergency_api;
pub mod examples;
mod meta_api;
mod mfa_api;
pub mod middleware;
pub mod permissions;
pub mod problem;
pub mod rate_limit;
mod security;
mod sessions_api;
mod state;
pub mod strict;
pub mod transport;
mod users_api;
mod wire;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

pub use state::{HttpState, ReadinessProbe};

use admin_api::AdminApi;
use auth_api::AuthApi;
use emergency_api::EmergencyApi;
use meta_api::MetaApi;
use mfa_api::MfaApi;
pub use middleware::GuardSettings;
use middleware::RequestGuard;
use sessions_api::SessionsApi;
use users_api::UsersApi;

#[derive(Tags)]
pub enum ApiTags {
    /// Registration, sign-in, token refresh and sign-out.
    Authentication,
    /// The second factor: TOTP enrollment, the second sign-in step and recovery codes.
    SecondFactor,
    /// The signed-in user's sessions and password.
    Sessions,
    /// The signed-in user's account.
    Users,
    /// Break-glass access to patient data, and its review.
    EmergencyAccess,
    /// Administration of users, lockouts, sessions and the audit trail (ADMIN only).
    Administration,
    /// Keys that verify access tokens.
    Keys,
    /// Liveness and readiness probes.
    Health,
}

const DESCRIPTION: &str = "Identity, session and audit service of the Somnium ECMO platform.\n\n\
Errors are RFC 9457 problem details (`application/problem+json`). Access tokens are ES256 JWTs \
sent as `Authorization: Bearer <token>`; verify them with the keys at `/.well-known/jwks.json`.\n\n\
Every `/api/` route is rate limited. By default: login and the second sign-in steps 5 per minute, \
registration 3 per hour, refresh 10 per minute (each per client IP), and every other route 100 \
per hour per user (or client IP without a token). Limited responses carry `RateLimit-Limit`, \
`RateLimit-Remaining` and `RateLimit-Reset`; a rejected request gets a 429 with `Retry-After`.";

/// Every group of operations the service serves, in the order the spec lists them.
type Apis = (AuthApi, MfaApi, SessionsApi, UsersApi, EmergencyApi, AdminApi, MetaApi);

fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (AuthApi, MfaApi, SessionsApi, UsersApi, EmergencyApi, AdminApi, MetaApi),
        "Somnium",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
    .license(poem_openapi::LicenseObject::new("Apache-2.0").url("https://www.apache.org/licenses/LICENSE-2.0"))
}

/// Renders the Redoc portal once. The page is served as rendered except for its link to web
/// fonts on a third-party host, which the Content-Security-Policy would block anyway and which
/// would tell that host who reads the docs.
async fn docs_page(service: &OpenApiService<Apis, ()>) -> String {
    let request = poem::Request::builder().uri(poem::http::Uri::from_static("/")).finish();
    let response = service.redoc().get_response(request).await;
    let html = response.into_body().into_string().await.unwrap_or_default();
    // The portal shows the same annotated spec that /openapi.json serves.
    let html = html.replace(&service.spec(), &openapi_json());
    html.lines()
        .filter(|line| !line.contains("fonts.googleapis.com"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Generates the OpenAPI document from the operations, with each operation's required
/// permission added, as pretty JSON ending in a newline.
pub fn openapi_json() -> String {
    let mut spec: serde_json::Value =
        serde_json::from_str(&api_service().spec()).expect("poem-openapi generates valid JSON");
    permissions::annotate_spec(&mut spec);
    complete_spec(&mut spec);
    examples::add_examples(&mut spec);
    let mut text = serde_json::to_string_pretty(&spec).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// Fills in what poem-openapi leaves out: the server, and examples of write-only fields, which
/// it drops from the examples it generates although the schemas require them.
fn complete_spec(spec: &mut serde_json::Value) {
    spec["servers"] = serde_json::json!([{ "url": "/", "description": "The Somnium instance serving this document" }]);
    spec["info"]["contact"] = serde_json::json!({
        "name": "Somnium engineering",
        "email": "engineering@somnium.invalid",
    });
    // The CSRF header is a second credential that cookie-authenticated requests which change
    // state must send along with the access cookie.
    spec["components"]["securitySchemes"]["CsrfToken"] = serde_json::json!({
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "The value of the `__Host-somnium_csrf` cookie, required with the access cookie on every \
                        request that changes state (POST, PUT, PATCH, DELETE).",
    });
    add_csrf_requirement(spec);
    simplify_property_refs(spec);
    let examples = [
        ("RegisterRequest", "password", "Correct-Horse-9"),
        ("LoginRequest", "password", "Correct-Horse-9"),
    ];
    for (schema, field, value) in examples {
        if let Some(example) = spec["components"]["schemas"][schema]["example"].as_object_mut() {
            example.insert(field.to_owned(), serde_json::Value::String(value.to_owned()));
        }
    }
}

/// Drops the second `allOf` entry poem-openapi writes next to a `$ref` property to carry its
/// description and default. The property states both already, and some generators (such as
/// openapi-python-client) refuse `allOf` over a schema that is not an object.
fn simplify_property_refs(spec: &mut serde_json::Value) {
    let Some(schemas) = spec["components"]["schemas"].as_object_mut() else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(properties) = schema
            .get_mut("properties")
            .and_then(|properties| properties.as_object_mut())
        else {
            continue;
        };
        for property in properties.values_mut() {
            let Some(all_of) = property.get_mut("allOf").and_then(|all_of| all_of.as_array_mut()) else {
                continue;
            };
            let only_annotations = |entry: &serde_json::Value| {
                entry
                    .as_object()
                    .is_some_and(|entry| entry.keys().all(|key| key == "description" || key == "default"))
            };
            if all_of.len() == 2 && all_of[0].get("$ref").is_some() && only_annotations(&all_of[1]) {
                all_of.truncate(1);
            }
        }
    }
}

/// Pairs the cookie scheme with the CSRF header on every operation that changes state, so the
/// spec says what the server enforces: a cookie alone is not enough there.
fn add_csrf_requirement(spec: &mut serde_json::Value) {
    let Some(paths) = spec["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            if method == "get" {
                continue;
            }
            let Some(requirements) = operation["security"].as_array_mut() else {
                continue;
            };
            for requirement in requirements.iter_mut() {
                if let Some(requirement) = requirement.as_object_mut() {
                    if requirement.contains_key("CookieAuth") {
                        requirement.insert("CsrfToken".to_owned(), serde_json::json!([]));
                    }
                }
            }
        }
    }
}

/// The same document as YAML.
pub fn openapi_yaml() -> String {
    let spec: serde_json::Value = serde_json::from_str(&openapi_json()).expect("the spec is valid JSON");
    serde_yaml::to_string(&spec).expect("a JSON value serializes as YAML")
}

/// Builds the whole HTTP application.
pub async fn app(state: HttpState, mut guard: GuardSettings) -> impl Endpoint<Output = poem::Response> {
    let service = api_service();
    let spec_json = openapi_json();
    let spec_yaml = openapi_yaml();
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(spec_json.clone())
    });
    let spec_yaml = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/yaml; charset=utf-8")
            .body(spec_yaml.clone())
    });
    let docs_html = docs_page(&service).await;
    guard.transport.docs_csp = std::sync::Arc::new(transport::docs_csp(&docs_html));
    let docs = poem::endpoint::make_sync(move |_| poem::web::Html(docs_html.clone()));
    Route::new()
        .nest("/", service)
        .at("/openapi.json", spec)
        .at("/openapi.yaml", spec_yaml)
        .at("/docs", docs)
        .with(RequestGuard(guard))
        .data(state)
}
