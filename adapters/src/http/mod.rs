//! The HTTP API: poem-openapi operations, the spec, its portal, and problem+json errors.

mod auth_api;
mod client_ip;
mod context;
mod meta_api;
pub mod middleware;
pub mod problem;
pub mod rate_limit;
mod security;
mod state;
mod users_api;
mod wire;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

pub use state::{HttpState, ReadinessProbe};

use auth_api::AuthApi;
use meta_api::MetaApi;
pub use middleware::GuardSettings;
use middleware::RequestGuard;
use users_api::UsersApi;

#[derive(Tags)]
pub enum ApiTags {
    /// Registration, sign-in, token refresh and sign-out.
    Authentication,
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

fn api_service() -> OpenApiService<(AuthApi, UsersApi, MetaApi), ()> {
    OpenApiService::new((AuthApi, UsersApi, MetaApi), "Somnium", env!("CARGO_PKG_VERSION"))
        .description(DESCRIPTION)
        .license(poem_openapi::LicenseObject::new("Apache-2.0").url("https://www.apache.org/licenses/LICENSE-2.0"))
}

/// Generates the OpenAPI document from the operations, as pretty JSON ending in a newline.
pub fn openapi_json() -> String {
    let mut spec = api_service().spec();
    spec.push('\n');
    spec
}

/// Builds the whole HTTP application.
pub fn app(state: HttpState, guard: GuardSettings) -> impl Endpoint<Output = poem::Response> {
    let service = api_service();
    let spec = service.spec_endpoint();
    let docs = service.redoc();
    Route::new()
        .nest("/", service)
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .data(state)
        .with(RequestGuard(guard))
}
