//! The HTTP API: poem-openapi operations, the spec, its portal, and problem+json errors.

mod auth_api;
mod client_ip;
mod context;
pub mod cookies;
mod meta_api;
pub mod middleware;
pub mod problem;
pub mod rate_limit;
mod security;
mod sessions_api;
mod state;
pub mod transport;
mod users_api;
mod wire;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

pub use state::{HttpState, ReadinessProbe};

use auth_api::AuthApi;
use meta_api::MetaApi;
pub use middleware::GuardSettings;
use middleware::RequestGuard;
use sessions_api::SessionsApi;
use users_api::UsersApi;

#[derive(Tags)]
pub enum ApiTags {
    /// Registration, sign-in, token refresh and sign-out.
    Authentication,
    /// The signed-in user's sessions and password.
    Sessions,
    /// The signed-in user's account.
    Users,
    /// Keys that verify access tokens.
    Keys,
    /// Liveness and readiness probes.
    Health,
}

const DESCRIPTION: &str = "Identity, session and audit service of the Somnium ECMO platform.\n\n\
Errors are RFC 9457 problem details (`application/problem+json`). Access tokens are ES256 JWTs \
sent as `Authorization: Bearer <token>`; verify them with the keys at `/.well-known/jwks.json`.";

fn api_service() -> OpenApiService<(AuthApi, SessionsApi, UsersApi, MetaApi), ()> {
    OpenApiService::new(
        (AuthApi, SessionsApi, UsersApi, MetaApi),
        "Somnium",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
    .license(poem_openapi::LicenseObject::new("Apache-2.0").url("https://www.apache.org/licenses/LICENSE-2.0"))
}

/// Renders the Redoc portal once. The page is served as rendered except for its link to web
/// fonts on a third-party host, which the Content-Security-Policy would block anyway and which
/// would tell that host who reads the docs.
async fn docs_page(service: &OpenApiService<(AuthApi, SessionsApi, UsersApi, MetaApi), ()>) -> String {
    let request = poem::Request::builder().uri(poem::http::Uri::from_static("/")).finish();
    let response = service.redoc().get_response(request).await;
    let html = response.into_body().into_string().await.unwrap_or_default();
    html.lines()
        .filter(|line| !line.contains("fonts.googleapis.com"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Generates the OpenAPI document from the operations, as pretty JSON ending in a newline.
pub fn openapi_json() -> String {
    let mut spec = api_service().spec();
    spec.push('\n');
    spec
}

/// Builds the whole HTTP application.
pub async fn app(state: HttpState, mut guard: GuardSettings) -> impl Endpoint<Output = poem::Response> {
    let service = api_service();
    let spec = service.spec_endpoint();
    let spec_yaml = service.spec_endpoint_yaml();
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
