//! Authentication: the security schemes declared in the spec and the checks behind them.

use poem::Request;
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::SecurityScheme;
use somnium_domain::ports::AccessTokenError;
use somnium_domain::AccessTokenClaims;

use super::context::request_context;
use super::cookies::{cookie, is_state_changing, CsrfError, ACCESS_COOKIE};
use super::state::HttpState;

/// An access token in the `Authorization: Bearer` header, for SDK and server clients. No CSRF
/// token is needed. Tokens in query strings are not read.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", key_in = "header", checker = "verify_bearer")]
pub struct BearerAuth(pub AccessTokenClaims);

/// The access token in the `__Host-somnium_access` cookie, for browsers in cookie mode. Every
/// request that changes state must also send `X-CSRF-Token` with the value of the
/// `__Host-somnium_csrf` cookie, and an `Origin`, when sent, must be an allowed one.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "__Host-somnium_access",
    key_in = "cookie",
    checker = "verify_cookie"
)]
pub struct CookieAuth(pub AccessTokenClaims);

/// The caller of an operation, authenticated by either scheme. The cookie is tried first so
/// that, when both fail, the bearer scheme's error (such as `invalid_token`) is the one
/// returned.
#[derive(SecurityScheme)]
pub enum Caller {
    Cookie(CookieAuth),
    Bearer(BearerAuth),
}

impl Caller {
    pub fn claims(&self) -> &AccessTokenClaims {
        match self {
            Caller::Bearer(BearerAuth(claims)) | Caller::Cookie(CookieAuth(claims)) => claims,
        }
    }

    pub fn is_cookie(&self) -> bool {
        matches!(self, Caller::Cookie(_))
    }
}

/// The error behind a 401 `invalid_token` response. The reason is logged, never sent.
#[derive(Debug, thiserror::Error)]
#[error("access token rejected: {0}")]
pub struct InvalidAccessToken(pub AccessTokenError);

impl poem::error::ResponseError for InvalidAccessToken {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::UNAUTHORIZED
    }
}

fn state(request: &Request) -> &HttpState {
    // The state is attached to every route when the app is built, so it is always present.
    request.data::<HttpState>().expect("HttpState is attached to the app")
}

fn verify_token(state: &HttpState, token: &str) -> Result<AccessTokenClaims, InvalidAccessToken> {
    let claims = state
        .access_tokens
        .verify(token, state.clock.now())
        .map_err(InvalidAccessToken)?;
    if state.revocations.is_revoked(claims.session_id) {
        return Err(InvalidAccessToken(AccessTokenError::Revoked));
    }
    Ok(claims)
}

async fn verify_bearer(request: &Request, bearer: Bearer) -> poem::Result<AccessTokenClaims> {
    Ok(verify_token(state(request), &bearer.token)?)
}

/// Verifies the access cookie. The CSRF check of state-changing requests has already run in the
/// request guard, before any handler.
async fn verify_cookie(request: &Request, cookie: ApiKey) -> poem::Result<AccessTokenClaims> {
    Ok(verify_token(state(request), &cookie.key)?)
}

/// Refuses a state-changing request authenticated by the access cookie when its CSRF token or
/// `Origin` is wrong, and records why. Requests with an `Authorization` header are not checked:
/// a cross-site page cannot add that header without a CORS preflight, which only allowed
/// origins pass. A cookie that does not verify is left to the handler, which returns 401.
pub async fn enforce_csrf(request: &Request) -> Option<CsrfError> {
    if !is_state_changing(request.method()) || request.headers().contains_key(poem::http::header::AUTHORIZATION) {
        return None;
    }
    let token = cookie(request, ACCESS_COOKIE)?;
    let state = request.data::<HttpState>()?;
    let claims = verify_token(state, &token).ok()?;
    let error = state.csrf.check(request, claims.session_id).err()?;
    state
        .auth
        .record_csrf_rejection(
            Some(claims.user_id),
            Some(claims.session_id),
            error.reason(),
            &request_context(request),
        )
        .await;
    Some(error)
}
