//! Registration, login, refresh and logout.

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use secrecy::ExposeSecret;
use somnium_application::{
    LoginError, LoginOutcome, LogoutError, RefreshError, RegisterError, TokenPair, UnexpectedError,
};
use somnium_domain::mfa::ChallengePurpose;
use somnium_domain::RefreshToken;

use super::context::request_context;
use super::cookies::{
    clear_session_cookies, cookie, set_cookie, ACCESS_COOKIE, CSRF_COOKIE, DEVICE_COOKIE, REFRESH_COOKIE,
    REFRESH_COOKIE_PATHS,
};
use super::permissions::authorize;
use super::problem::{Problem, ProblemKind};
use super::security::Caller;
use super::state::HttpState;
use super::wire::{
    policy_problems, CookieSessionBody, LoginBody, LoginResponseBody, MfaChallengeBody, PasswordPolicyBody,
    RefreshBody, RegisterBody, TokenDelivery, TokenResponseBody, UserBody,
};
use super::ApiTags;
use crate::jwt::DEVICE_TOKEN_LIFETIME;

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
    /// A new token pair: in the body (bearer mode) or as cookies (cookie mode).
    #[oai(status = 200)]
    Ok(Json<TokenResponseBody>),
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The credentials or the refresh token are not accepted. Every cause gets the same
    /// response, so it reveals nothing about which accounts exist.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// Cookie mode only: the `X-CSRF-Token` header is missing or wrong, or the `Origin` is
    /// not allowed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
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
pub enum LoginResponse {
    /// The password is correct: a token pair in the body (bearer mode) or as cookies (cookie
    /// mode), or, for an account with a second factor, an `mfa_token` for the second step.
    #[oai(status = 200)]
    Ok(Json<LoginResponseBody>),
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The credentials are not accepted. Every cause gets the same response, so it reveals
    /// nothing about which accounts exist.
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
    /// The session is revoked and its refresh tokens no longer work. In cookie mode the cookies
    /// are cleared, with `Clear-Site-Data`.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Clear-Site-Data")] Option<String>),
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// Cookie mode only: the `X-CSRF-Token` header is missing or wrong, or the `Origin` is
    /// not allowed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
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
                "an account with this email already exists; sign in instead",
            ))),
            Err(RegisterError::Unexpected(error)) => RegisterResponse::Internal(internal(&error)),
        }
    }

    /// Sign in with email and password
    ///
    /// Returns an access token (15 minutes) and a refresh token (7 days, or 30 with
    /// `remember_me`), plus a `device_token` to send with later logins from this client. With
    /// `token_delivery: "cookie"` the tokens are set as HttpOnly cookies instead and the body
    /// carries only their expiries and the CSRF token. When the account has a second factor,
    /// or its role requires one, the response carries an `mfa_token` instead of tokens (see
    /// the second-factor operations). Every failure is the same 401, whether the email is
    /// unknown, the password wrong, the account locked or disabled. Anyone may call it; 5
    /// requests per minute per client IP.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(&self, request: &Request, body: Json<LoginBody>) -> LoginResponse {
        let state = state(request);
        let delivery = body.0.token_delivery;
        let mut login = match body.0.try_into_domain() {
            Ok(login) => login,
            Err(errors) => return LoginResponse::Invalid(Json(Problem::validation(errors))),
        };
        if login.device_token.is_none() {
            login.device_token = cookie(request, DEVICE_COOKIE);
        }

        match state.auth.login(login, &request_context(request)).await {
            Ok(LoginOutcome::Signed(pair)) => LoginResponse::Ok(Json(match deliver(state, pair, delivery) {
                TokenResponseBody::Bearer(tokens) => LoginResponseBody::Bearer(tokens),
                TokenResponseBody::Cookie(session) => LoginResponseBody::Cookie(session),
            })),
            Ok(LoginOutcome::SecondFactorRequired(challenge)) => {
                LoginResponse::Ok(Json(LoginResponseBody::MfaRequired(MfaChallengeBody {
                    mfa_required: true,
                    mfa_token: challenge.token.expose_secret().to_owned(),
                    expires_in: challenge.expires_in_seconds,
                    enrollment_required: challenge.purpose == ChallengePurpose::Enroll,
                })))
            }
            Err(LoginError::InvalidCredentials) => LoginResponse::Unauthorized(Json(Problem::new(
                ProblemKind::InvalidCredentials,
                "the email or password is incorrect",
            ))),
            Err(LoginError::Unexpected(error)) => LoginResponse::Internal(internal(&error)),
        }
    }

    /// Rotate a refresh token
    ///
    /// Spends the refresh token and returns a new pair. Presenting the same token again within
    /// the grace period (5 seconds by default) returns the same new refresh token, so
    /// concurrent tabs and retries stay signed in. Presenting it after that revokes the whole
    /// session. In cookie mode the token comes from the `__Secure-somnium_refresh` cookie and
    /// `X-CSRF-Token` is required. A session idle past its limit (30 minutes, or 7 days with
    /// `remember_me`, by default) ends here with a 401. Anyone holding a refresh token may
    /// call it; 10 requests per minute per client IP.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(&self, request: &Request, body: Json<RefreshBody>) -> TokenResponse {
        let state = state(request);
        let context = request_context(request);
        let (token, from_cookie) = match body.0.refresh_token {
            Some(token) => (token.into_inner(), false),
            None => match cookie(request, REFRESH_COOKIE) {
                Some(token) => (token, true),
                None => {
                    return TokenResponse::Invalid(Json(Problem::new(
                        ProblemKind::ValidationFailed,
                        "send refresh_token in the body, or the __Secure-somnium_refresh cookie in cookie mode",
                    )))
                }
            },
        };
        let token = RefreshToken::new(token);

        if from_cookie {
            match state.auth.refresh_token_owner(&token).await {
                Ok(Some((session_id, user_id))) => {
                    if let Err(error) = state.csrf.check(request, session_id) {
                        state
                            .auth
                            .record_csrf_rejection(Some(user_id), Some(session_id), error.reason(), &context)
                            .await;
                        return TokenResponse::Forbidden(Json(Problem::new(
                            ProblemKind::Forbidden,
                            format!("cross-site request refused: {error}"),
                        )));
                    }
                }
                Ok(None) => {}
                Err(error) => return TokenResponse::Internal(internal(&error)),
            }
        }

        let delivery = if from_cookie {
            TokenDelivery::Cookie
        } else {
            body.0.token_delivery
        };
        match state.auth.refresh(token, &context).await {
            Ok(pair) => TokenResponse::Ok(Json(deliver(state, pair, delivery))),
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
    /// Revokes the session of the access token: its refresh tokens stop working, and its
    /// access tokens are rejected within a second on every instance. In cookie mode the
    /// cookies are cleared. Requires a valid access token of any role, as a bearer token or a
    /// cookie (then with `X-CSRF-Token`).
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, request: &Request, auth: Caller) -> LogoutResponse {
        if let Err(problem) = authorize(request, auth.claims(), "logout").await {
            return LogoutResponse::Forbidden(problem);
        }
        let state = state(request);
        match state.auth.logout(auth.claims(), &request_context(request)).await {
            Ok(()) if auth.is_cookie() || cookie(request, REFRESH_COOKIE).is_some() => {
                clear_session_cookies();
                LogoutResponse::LoggedOut(Some(r#""cookies", "storage""#.to_owned()))
            }
            Ok(()) => LogoutResponse::LoggedOut(None),
            Err(LogoutError::Unexpected(error)) => LogoutResponse::Internal(internal(&error)),
        }
    }
}

/// Hands a token pair to the client: in the body, or as cookies with only the expiries and the
/// CSRF token in the body.
pub(crate) fn deliver(state: &HttpState, pair: TokenPair, delivery: TokenDelivery) -> TokenResponseBody {
    if delivery == TokenDelivery::Bearer {
        return TokenResponseBody::Bearer(pair.into());
    }

    let csrf_token = state.csrf.token(pair.session_id);
    let access_seconds = pair.access_token.expires_in_seconds;
    let refresh_seconds = pair.refresh_expires_in_seconds;
    set_cookie(
        ACCESS_COOKIE,
        pair.access_token.token.expose_secret(),
        "/",
        access_seconds,
        true,
    );
    for path in REFRESH_COOKIE_PATHS {
        set_cookie(
            REFRESH_COOKIE,
            pair.refresh_token.expose_secret(),
            path,
            refresh_seconds,
            true,
        );
    }
    set_cookie(CSRF_COOKIE, &csrf_token, "/", refresh_seconds, false);
    if let Some(device_token) = &pair.device_token {
        set_cookie(
            DEVICE_COOKIE,
            device_token.expose_secret(),
            "/",
            DEVICE_TOKEN_LIFETIME.whole_seconds(),
            true,
        );
    }
    TokenResponseBody::Cookie(CookieSessionBody {
        expires_in: access_seconds,
        refresh_expires_in: refresh_seconds,
        csrf_token,
    })
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
