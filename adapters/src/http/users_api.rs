//! The signed-in user's own account.

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use somnium_application::{AdminError, CurrentUserError};
use somnium_domain::{FullName, UserId};

use super::admin_wire::UpdateProfileBody;
use super::context::request_context;

use super::auth_api::{internal, state};
use super::permissions::authorize;
use super::problem::{FieldProblem, Problem, ProblemKind};
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
    /// The caller's role lacks the permission this operation requires, or the account must
    /// first change its temporary password.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[derive(ApiResponse)]
pub enum UserByIdResponse {
    /// The account.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// The path parameter is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The account must first change its temporary password.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No account with this id is visible to the caller; another user's id is answered the
    /// same way as an unknown one.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[derive(ApiResponse)]
pub enum UpdateMeResponse {
    /// The updated account.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The temporary password must be changed first, or (cookie mode) the CSRF check failed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The name is invalid, or the body has a field other than `full_name`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// Update the current user
    ///
    /// Changes the caller's own full name, the only field a user may change here; role and
    /// status are for administrators. Requires a valid access token of any role.
    #[oai(path = "/me", method = "patch", operation_id = "updateCurrentUser")]
    async fn update_me(&self, request: &Request, auth: Caller, body: Json<UpdateProfileBody>) -> UpdateMeResponse {
        if let Err(problem) = authorize(request, auth.claims(), "updateCurrentUser").await {
            return UpdateMeResponse::Forbidden(problem);
        }
        let full_name = match FullName::parse(&body.0.full_name) {
            Ok(full_name) => full_name,
            Err(error) => {
                return UpdateMeResponse::Invalid(Json(Problem::validation(vec![FieldProblem {
                    field: "full_name".into(),
                    code: "invalid".into(),
                    message: error.to_string(),
                }])))
            }
        };
        match state(request)
            .auth
            .update_profile(auth.claims(), full_name, &request_context(request))
            .await
        {
            Ok(user) => UpdateMeResponse::Ok(Json(user.into())),
            Err(AdminError::Unexpected(error)) => UpdateMeResponse::Internal(internal(&error)),
            Err(error) => {
                tracing::error!(%error, "profile update failed");
                UpdateMeResponse::Internal(Json(Problem::new(
                    ProblemKind::Internal,
                    "an unexpected error occurred",
                )))
            }
        }
    }

    /// Get a user by id
    ///
    /// Returns the caller's own account; another user's id gets 404 unless the caller may read
    /// users (ADMIN), so ids reveal nothing. Requires a valid access token of any role.
    #[oai(path = "/:id", method = "get", operation_id = "getUserById")]
    async fn by_id(&self, request: &Request, auth: Caller, id: Path<uuid::Uuid>) -> UserByIdResponse {
        if let Err(problem) = authorize(request, auth.claims(), "getUserById").await {
            return UserByIdResponse::Forbidden(problem);
        }
        match state(request)
            .auth
            .get_visible_user(auth.claims(), UserId::from_uuid(id.0))
            .await
        {
            Ok(user) => UserByIdResponse::Ok(Json(user.into())),
            Err(AdminError::NotFound) => UserByIdResponse::NotFound(Json(Problem::new(
                ProblemKind::NotFound,
                "no user with this id is visible to you",
            ))),
            Err(AdminError::Unexpected(error)) => UserByIdResponse::Internal(internal(&error)),
            Err(error) => {
                tracing::error!(%error, "user lookup failed");
                UserByIdResponse::Internal(Json(Problem::new(
                    ProblemKind::Internal,
                    "an unexpected error occurred",
                )))
            }
        }
    }

    /// Get the current user
    ///
    /// Returns the account of the access token's subject. Requires a valid access token of
    /// any role.
    #[oai(path = "/me", method = "get", operation_id = "getCurrentUser")]
    async fn me(&self, request: &Request, auth: Caller) -> MeResponse {
        if let Err(problem) = authorize(request, auth.claims(), "getCurrentUser").await {
            return MeResponse::Forbidden(problem);
        }
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
