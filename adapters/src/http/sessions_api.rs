//! The caller's sessions and password.

use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use secrecy::SecretString;
use somnium_application::{ChangePasswordError, EndSessionError};
use somnium_domain::{Password, SessionId};

use super::auth_api::{internal, state};
use super::context::request_context;
use super::cookies::clear_session_cookies;
use super::permissions::authorize;
use super::problem::{FieldProblem, Problem, ProblemKind};
use super::security::Caller;
use super::wire::{policy_problems, ChangePasswordBody, SessionBody};
use super::ApiTags;

pub struct SessionsApi;

#[derive(ApiResponse)]
pub enum SessionListResponse {
    /// The caller's active sessions, most recently used first.
    #[oai(status = 200)]
    Ok(Json<Vec<SessionBody>>),
    /// The access token is missing, invalid or expired.
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
pub enum SessionEndResponse {
    /// The session ended; its tokens stop working within a second on every instance.
    #[oai(status = 204)]
    Ended,
    /// The path parameter is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The role lacks the permission, the temporary password must be changed first, or (cookie
    /// mode) the `X-CSRF-Token` header is missing or wrong or the `Origin` is not allowed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No active session with this id belongs to the caller.
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
pub enum LogoutAllResponse {
    /// Every session of the caller ended, this one included.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Clear-Site-Data")] Option<String>),
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The role lacks the permission, the temporary password must be changed first, or (cookie
    /// mode) the `X-CSRF-Token` header is missing or wrong or the `Origin` is not allowed.
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
pub enum ChangePasswordResponse {
    /// The password changed; every other session of the user ended.
    #[oai(status = 204)]
    Changed,
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The role lacks the permission, the temporary password must be changed first, or (cookie
    /// mode) the `X-CSRF-Token` header is missing or wrong or the `Origin` is not allowed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The current password is wrong (`current_password`: `incorrect`), or the new one breaks
    /// the policy or repeats one of the last five (`new_password`: `recently_used`); `errors`
    /// lists each.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// List my sessions
    ///
    /// Returns the caller's active sessions with when each started and was last used, its IP
    /// address and user agent, and which one is the current one. Requires a valid access token
    /// of any role.
    #[oai(path = "/sessions", method = "get", operation_id = "listSessions")]
    async fn list(&self, request: &Request, auth: Caller) -> SessionListResponse {
        if let Err(problem) = authorize(request, auth.claims(), "listSessions").await {
            return SessionListResponse::Forbidden(problem);
        }
        match state(request).auth.list_sessions(auth.claims()).await {
            Ok(sessions) => SessionListResponse::Ok(Json(sessions.into_iter().map(Into::into).collect())),
            Err(error) => SessionListResponse::Internal(internal(&error)),
        }
    }

    /// End one of my sessions
    ///
    /// Ends one of the caller's own sessions, such as a forgotten ward workstation. Another
    /// user's session id gets 404. Requires a valid access token of any role.
    #[oai(path = "/sessions/:id", method = "delete", operation_id = "endSession")]
    async fn end(&self, request: &Request, auth: Caller, id: Path<uuid::Uuid>) -> SessionEndResponse {
        if let Err(problem) = authorize(request, auth.claims(), "endSession").await {
            return SessionEndResponse::Forbidden(problem);
        }
        let state = state(request);
        let session_id = SessionId::from_uuid(id.0);
        match state
            .auth
            .end_session(auth.claims(), session_id, &request_context(request))
            .await
        {
            Ok(()) => {
                if session_id == auth.claims().session_id && auth.is_cookie() {
                    clear_session_cookies();
                }
                SessionEndResponse::Ended
            }
            Err(EndSessionError::NotFound) => SessionEndResponse::NotFound(Json(Problem::new(
                ProblemKind::NotFound,
                "no active session with this id belongs to you",
            ))),
            Err(EndSessionError::Unexpected(error)) => SessionEndResponse::Internal(internal(&error)),
        }
    }

    /// End all my sessions
    ///
    /// Ends every session of the caller, this one included. Requires a valid access token of
    /// any role.
    #[oai(path = "/logout-all", method = "post", operation_id = "logoutAll")]
    async fn logout_all(&self, request: &Request, auth: Caller) -> LogoutAllResponse {
        if let Err(problem) = authorize(request, auth.claims(), "logoutAll").await {
            return LogoutAllResponse::Forbidden(problem);
        }
        match state(request)
            .auth
            .logout_all(auth.claims(), &request_context(request))
            .await
        {
            Ok(_) if auth.is_cookie() => {
                clear_session_cookies();
                LogoutAllResponse::LoggedOut(Some(r#""cookies", "storage""#.to_owned()))
            }
            Ok(_) => LogoutAllResponse::LoggedOut(None),
            Err(error) => LogoutAllResponse::Internal(internal(&error)),
        }
    }

    /// Change my password
    ///
    /// Checks the current password (failures count toward the account lockout), applies the
    /// password policy, refuses the last five passwords, and ends every other session of the
    /// user. Requires a valid access token of any role.
    #[oai(path = "/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        request: &Request,
        auth: Caller,
        body: Json<ChangePasswordBody>,
    ) -> ChangePasswordResponse {
        if let Err(problem) = authorize(request, auth.claims(), "changePassword").await {
            return ChangePasswordResponse::Forbidden(problem);
        }
        let state = state(request);
        // Length is one rule of the password policy, checked with the others by the use case.
        let new = Password::presented(SecretString::from(body.0.new_password.into_inner()));
        let current = SecretString::from(body.0.current_password.into_inner());

        match state
            .auth
            .change_password(auth.claims(), current, new, &request_context(request))
            .await
        {
            Ok(()) => ChangePasswordResponse::Changed,
            Err(ChangePasswordError::IncorrectCurrentPassword) => {
                ChangePasswordResponse::Invalid(Json(Problem::validation(vec![field(
                    "current_password",
                    "incorrect",
                    "the current password is incorrect",
                )])))
            }
            Err(ChangePasswordError::WeakPassword(violations)) => {
                let errors = policy_problems(violations)
                    .into_iter()
                    .map(|problem| FieldProblem {
                        field: "new_password".into(),
                        ..problem
                    })
                    .collect();
                ChangePasswordResponse::Invalid(Json(Problem::validation(errors)))
            }
            Err(ChangePasswordError::RecentlyUsed) => {
                ChangePasswordResponse::Invalid(Json(Problem::validation(vec![field(
                    "new_password",
                    "recently_used",
                    "choose a password that differs from your last five",
                )])))
            }
            Err(ChangePasswordError::Unexpected(error)) => ChangePasswordResponse::Internal(internal(&error)),
        }
    }
}

fn field(name: &str, code: &str, message: &str) -> FieldProblem {
    FieldProblem {
        field: name.into(),
        code: code.into(),
        message: message.into(),
    }
}
