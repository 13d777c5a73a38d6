//! The signed-in user's own account.

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use somnium_application::CurrentUserError;

use super::auth_api::{internal, state};
use super::problem::{Problem, ProblemKind};
use super::security::Caller;
use super::wire::UserBody;
use super::ApiTags;

pub struct UsersApi;

#[derive(ApiResponse)]
pub enum MeResponse {
    /// The caller's account.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// The access token is missing, invalid or expired, or its account is disabled.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// Get the current user
    ///
    /// Returns the account of the access token's subject. Requires a valid access token of
    /// any role.
    #[oai(path = "/me", method = "get", operation_id = "getCurrentUser")]
    async fn me(&self, request: &Request, auth: Caller) -> MeResponse {
        match state(request).auth.current_user(auth.claims()).await {
            Ok(user) => MeResponse::Ok(Json(user.into())),
            Err(CurrentUserError::AccountUnavailable) => MeResponse::Unauthorized(
                Json(Problem::new(
                    ProblemKind::InvalidToken,
                    "the account of this token is no longer available",
                )),
                r#"Bearer realm="somnium", error="invalid_token""#.to_owned(),
            ),
            Err(CurrentUserError::Unexpected(error)) => MeResponse::Internal(internal(&error)),
        }
    }
}
