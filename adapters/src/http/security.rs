//! Bearer authentication: the security scheme declared in the spec and the check behind it.

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;
use somnium_domain::ports::AccessTokenError;
use somnium_domain::AccessTokenClaims;

use super::state::HttpState;

/// An access token in the `Authorization: Bearer` header. Tokens in query strings or cookies
/// are not read.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "JWT",
    key_in = "header",
    checker = "verify_access_token"
)]
pub struct BearerAuth(pub AccessTokenClaims);

/// The error behind a 401 `invalid_token` response. The reason is logged, never sent.
#[derive(Debug, thiserror::Error)]
#[error("access token rejected: {0}")]
pub struct InvalidAccessToken(pub AccessTokenError);

impl poem::error::ResponseError for InvalidAccessToken {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::UNAUTHORIZED
    }
}

async fn verify_access_token(request: &Request, bearer: Bearer) -> poem::Result<AccessTokenClaims> {
    // The state is attached to every route when the app is built, so it is always present.
    let state = request.data::<HttpState>().expect("HttpState is attached to the app");
    let now = state.clock.now();
    state
        .access_tokens
        .verify(&bearer.token, now)
        .map_err(|error| InvalidAccessToken(error).into())
}
