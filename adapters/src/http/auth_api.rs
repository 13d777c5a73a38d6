//! Registration, login, refresh and logout.

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use somnium_application::{LoginError, LogoutError, RefreshError, RegisterError, UnexpectedError};

use super::context::request_context;
use super::problem::{Problem, ProblemKind};
use super::security::BearerAuth;
use super::state::HttpState;
use super::wire::{policy_problems, LoginBody, PasswordPolicyBody, RefreshBody, RegisterBody, TokenBody, UserBody};
use super::ApiTags;

pub struct AuthApi;

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// The account was created with the PATIENT role.
    #[oai(status = 201)]
    Created(Json<UserBody>),
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// An account with the same normalized email exists.
    #[oai(status = 409, content_type = "application/problem+json")]
    EmailTaken(Json<Problem>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// A field is invalid, or the body has an unknown field such as `role`; `errors` names each.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[derive(ApiResponse)]
pub enum TokenResponse {
    /// A new token pair.
    #[oai(status = 200)]
    Ok(Json<TokenBody>),
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The credentials or the refresh token are not accepted. Every cause gets the same
    /// response, so it reveals nothing about which accounts exist.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The body does not match the schema.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// The session is revoked; its refresh tokens no longer work.
    #[oai(status = 204)]
    LoggedOut,
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Authentication")]
impl AuthApi {
    /// Register a patient account
    ///
    /// Creates an account with the PATIENT role; staff accounts are created by administrators.
    /// Anyone may call it.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(&self, request: &Request, body: Json<RegisterBody>) -> RegisterResponse {
        let state = state(request);
        let registration = match body.0.try_into_domain() {
            Ok(registration) => registration,
            Err(errors) => return RegisterResponse::Invalid(Json(Problem::validation(errors))),
        };

        match state.auth.register(registration, &request_context(request)).await {
            Ok(user) => RegisterResponse::Created(Json(user.into())),
            Err(RegisterError::WeakPassword(violations)) => {
                RegisterResponse::Invalid(Json(Problem::validation(policy_problems(violations))))
            }
            Err(RegisterError::EmailTaken) => RegisterResponse::EmailTaken(Json(Problem::new(
                ProblemKind::EmailTaken,
                "an account with this email already exists; sign in or reset the password",
            ))),
            Err(RegisterError::Unexpected(error)) => RegisterResponse::Internal(internal(&error)),
        }
    }

    /// Sign in with email and password
    ///
    /// Returns an access token (15 minutes) and a refresh token (7 days, or 30 with
    /// `remember_me`). Every failure is the same 401, whether the email is unknown, the
    /// password wrong or the account disabled. Anyone may call it.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(&self, request: &Request, body: Json<LoginBody>) -> TokenResponse {
        let state = state(request);
        let login = match body.0.try_into_domain() {
            Ok(login) => login,
            Err(errors) => return TokenResponse::Invalid(Json(Problem::validation(errors))),
        };

        match state.auth.login(login, &request_context(request)).await {
            Ok(pair) => TokenResponse::Ok(Json(pair.into())),
            Err(LoginError::InvalidCredentials) => TokenResponse::Unauthorized(Json(Problem::new(
                ProblemKind::InvalidCredentials,
                "the email or password is incorrect",
            ))),
            Err(LoginError::Unexpected(error)) => TokenResponse::Internal(internal(&error)),
        }
    }

    /// Rotate a refresh token
    ///
    /// Spends the refresh token and returns a new pair. Presenting the same token again within
    /// the grace period (5 seconds by default) returns the same new refresh token, so
    /// concurrent tabs and retries stay signed in; presenting it after that revokes the whole
    /// session. Anyone holding a refresh token may call it.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(&self, request: &Request, body: Json<RefreshBody>) -> TokenResponse {
        let state = state(request);
        match state
            .auth
            .refresh(body.0.into_domain(), &request_context(request))
            .await
        {
            Ok(pair) => TokenResponse::Ok(Json(pair.into())),
            Err(RefreshError::InvalidToken) => TokenResponse::Unauthorized(Json(Problem::new(
                ProblemKind::InvalidToken,
                "the refresh token is invalid, expired or revoked; sign in again",
            ))),
            Err(RefreshError::ReuseDetected) => TokenResponse::Unauthorized(Json(Problem::new(
                ProblemKind::InvalidToken,
                "the refresh token was already used, so the session has been revoked; sign in again",
            ))),
            Err(RefreshError::Unexpected(error)) => TokenResponse::Internal(internal(&error)),
        }
    }

    /// Get the password policy
    ///
    /// Returns the rules a new password must meet, so a form can show them before submitting.
    /// Anyone may call it.
    #[oai(path = "/password-policy", method = "get", operation_id = "getPasswordPolicy")]
    async fn password_policy(&self, request: &Request) -> PasswordPolicyResponse {
        PasswordPolicyResponse::Ok(Json(state(request).auth.password_policy().rules().into()))
    }

    /// Sign out
    ///
    /// Revokes the session of the access token; its refresh tokens stop working. Requires a
    /// valid access token of any role.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, request: &Request, auth: BearerAuth) -> LogoutResponse {
        let state = state(request);
        match state.auth.logout(&auth.0, &request_context(request)).await {
            Ok(()) => LogoutResponse::LoggedOut,
            Err(LogoutError::Unexpected(error)) => LogoutResponse::Internal(internal(&error)),
        }
    }
}

#[derive(ApiResponse)]
pub enum PasswordPolicyResponse {
    /// The rules a new password must meet.
    #[oai(status = 200)]
    Ok(Json<PasswordPolicyBody>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
}

pub(crate) fn state(request: &Request) -> &HttpState {
    // The state is attached to every route when the app is built, so it is always present.
    request.data::<HttpState>().expect("HttpState is attached to the app")
}

/// Logs an unexpected failure with its whole source chain and returns the fixed 500 problem.
pub(crate) fn internal(error: &UnexpectedError) -> Json<Problem> {
    let mut chain = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain.join(": "), "request failed unexpectedly");
    Json(Problem::new(ProblemKind::Internal, "an unexpected error occurred"))
}
