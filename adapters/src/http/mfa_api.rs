//! The second factor: TOTP enrollment, the second sign-in step, recovery codes and disabling.

use super::strict::JsonString;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use qrcode::render::svg;
use qrcode::QrCode;
use secrecy::SecretString;
use somnium_application::{ConfirmedEnrollment, Enroller, MfaError, MfaStatus, SecondFactor, StartedEnrollment};
use somnium_domain::{Password, RefreshToken};

use super::auth_api::{deliver, internal, state};
use super::context::request_context;
use super::permissions::authorize;
use super::problem::{FieldProblem, Problem, ProblemKind};
use super::security::Caller;
use super::wire::{TokenDelivery, TokenResponseBody};
use super::ApiTags;

pub struct MfaApi;

/// A new TOTP secret. It is shown this once: it is never returned again.
#[derive(Object)]
#[oai(rename = "TotpEnrollment")]
pub struct TotpEnrollmentBody {
    /// The secret in unpadded base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/…` URI with the secret, issuer and parameters (SHA-1, 6 digits, 30 s).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_code_svg: String,
}

/// A signed-in user's TOTP confirmation.
#[derive(Object)]
#[oai(rename = "ConfirmTotpRequest", deny_unknown_fields)]
pub struct ConfirmTotpBody {
    /// The current six-digit code from the authenticator app.
    #[oai(write_only)]
    pub code: JsonString,
}

/// The `mfa_token` of an enrollment challenge, returned by login when the role requires a
/// second factor the user does not have yet.
#[derive(Object)]
#[oai(rename = "EnrollmentChallengeRequest", deny_unknown_fields)]
pub struct EnrollmentChallengeBody {
    #[oai(write_only)]
    pub mfa_token: JsonString,
}

/// Confirmation of an enrollment started with an enrollment challenge; it finishes signing in.
#[derive(Object)]
#[oai(rename = "ConfirmEnrollmentChallengeRequest", deny_unknown_fields)]
pub struct ConfirmEnrollmentChallengeBody {
    #[oai(write_only)]
    pub mfa_token: JsonString,
    /// The current six-digit code from the authenticator app.
    #[oai(write_only)]
    pub code: JsonString,
    /// How to return the tokens, as at login.
    #[oai(default)]
    pub token_delivery: TokenDelivery,
}

/// TOTP turned on.
#[derive(Object)]
#[oai(rename = "TotpConfirmation")]
pub struct TotpConfirmationBody {
    /// Ten single-use recovery codes, shown this once; Somnium keeps only keyed hashes.
    pub recovery_codes: Vec<String>,
    /// The tokens of the new session, when the confirmation finished signing in.
    #[oai(skip_serializing_if_is_none)]
    pub tokens: Option<TokenResponseBody>,
}

/// The second sign-in step: the challenge from login and a TOTP code or a recovery code.
#[derive(Object)]
#[oai(rename = "VerifyMfaRequest", deny_unknown_fields)]
pub struct VerifyMfaBody {
    #[oai(write_only)]
    pub mfa_token: JsonString,
    /// The current six-digit TOTP code. Send this or `recovery_code`, not both.
    #[oai(write_only)]
    pub code: Option<JsonString>,
    /// One unused recovery code; it is spent.
    #[oai(write_only)]
    pub recovery_code: Option<JsonString>,
    /// How to return the tokens, as at login.
    #[oai(default)]
    pub token_delivery: TokenDelivery,
}

/// Turning TOTP off, with the password and a current code.
#[derive(Object)]
#[oai(rename = "DisableMfaRequest", deny_unknown_fields)]
pub struct DisableMfaBody {
    #[oai(write_only)]
    pub password: JsonString,
    #[oai(write_only)]
    pub code: JsonString,
}

/// New recovery codes; the earlier ones no longer work.
#[derive(Object)]
#[oai(rename = "RecoveryCodes")]
pub struct RecoveryCodesBody {
    pub recovery_codes: Vec<String>,
}

/// The state of the caller's second factor.
#[derive(Object)]
#[oai(rename = "MfaStatus")]
pub struct MfaStatusBody {
    /// TOTP is confirmed and asked for at every sign-in.
    pub enabled: bool,
    /// An enrollment awaits its confirming code.
    pub pending: bool,
    /// The caller's role requires a second factor, so it cannot be turned off.
    pub required: bool,
    pub recovery_codes_remaining: u64,
}

impl From<MfaStatus> for MfaStatusBody {
    fn from(status: MfaStatus) -> Self {
        Self {
            enabled: status.enabled,
            pending: status.pending,
            required: status.required,
            recovery_codes_remaining: status.recovery_codes_remaining,
        }
    }
}

#[derive(ApiResponse)]
pub enum EnrollmentResponse {
    /// The new secret, its URI and QR code. TOTP is not on until confirmed.
    #[oai(status = 200)]
    Ok(Json<TotpEnrollmentBody>),
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The access token or the `mfa_token` is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The temporary password must be changed first, or (cookie mode) the CSRF check failed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// TOTP is already on; turn it off (or have an administrator reset it) first.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
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
pub enum ConfirmationResponse {
    /// TOTP is on. The recovery codes are shown this once.
    #[oai(status = 200)]
    Ok(Json<TotpConfirmationBody>),
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The access token or the `mfa_token` is missing, invalid, expired or used up.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The temporary password must be changed first, or (cookie mode) the CSRF check failed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No enrollment is waiting for confirmation.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The code is wrong or outside the accepted clock drift (type `invalid-mfa-code`), or the
    /// body does not match the schema.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// Too many wrong codes for this account within the hour (type `mfa-blocked`), or the rate
    /// limit of this route; see `Retry-After` for the latter.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

#[derive(ApiResponse)]
pub enum VerifyResponse {
    /// Signed in: a token pair in the body (bearer mode) or as cookies (cookie mode).
    #[oai(status = 200)]
    Ok(Json<TokenResponseBody>),
    /// The body is not valid JSON.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The `mfa_token` is invalid, expired, used, or void after five wrong codes; sign in
    /// again.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The code is wrong, replayed, outside the accepted drift or a spent recovery code (type
    /// `invalid-mfa-code`), or the body does not carry exactly one of `code` and
    /// `recovery_code`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
    /// Too many wrong codes for this account within the hour (type `mfa-blocked`), or the rate
    /// limit of this route; see `Retry-After` for the latter.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

/// Declares the response of an operation that checks a current TOTP code: its one success
/// response, the errors such operations share, and how MFA errors map onto them.
macro_rules! code_checked_response {
    ($(#[$meta:meta])* $name:ident { $(#[$success_meta:meta])* $success:ident $(($success_body:ty))? }) => {
        $(#[$meta])*
        #[derive(ApiResponse)]
        pub enum $name {
            $(#[$success_meta])*
            $success $(($success_body))?,
            /// The body is not valid JSON.
            #[oai(status = 400, content_type = "application/problem+json")]
            Malformed(Json<Problem>),
            /// The access token is missing, invalid or expired.
            #[oai(status = 401, content_type = "application/problem+json")]
            Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
            /// The temporary password must be changed first, or (cookie mode) the CSRF check failed.
            #[oai(status = 403, content_type = "application/problem+json")]
            Forbidden(Json<Problem>),
            /// TOTP is not on, or, when turning it off, the role requires it.
            #[oai(status = 409, content_type = "application/problem+json")]
            Conflict(Json<Problem>),
            /// The body is larger than 64 KiB.
            #[oai(status = 413, content_type = "application/problem+json")]
            TooLarge(Json<Problem>),
            /// The body is not `application/json`.
            #[oai(status = 415, content_type = "application/problem+json")]
            UnsupportedMediaType(Json<Problem>),
            /// The code is wrong or was already used (type `invalid-mfa-code`), the password is
            /// incorrect (`errors` names `password` with code `incorrect`), or the body does not
            /// match the schema.
            #[oai(status = 422, content_type = "application/problem+json")]
            Invalid(Json<Problem>),
            /// Too many wrong codes for this account within the hour (type `mfa-blocked`), or the
            /// rate limit of this route; see `Retry-After` for the latter.
            #[oai(status = 429, content_type = "application/problem+json")]
            TooManyRequests(Json<Problem>),
            /// An unexpected server error.
            #[oai(status = 500, content_type = "application/problem+json")]
            Internal(Json<Problem>),
        }

        impl $name {
            fn from_outcome(outcome: Result<Self, MfaError>) -> Self {
                match outcome {
                    Ok(response) => response,
                    Err(error) => {
                        let body = problem(&error);
                        match mfa_problem(&error).0 {
                            ProblemKind::Conflict | ProblemKind::NotFound => Self::Conflict(body),
                            ProblemKind::InvalidMfaCode | ProblemKind::ValidationFailed => Self::Invalid(body),
                            ProblemKind::MfaBlocked => Self::TooManyRequests(body),
                            _ => Self::Internal(body),
                        }
                    }
                }
            }
        }
    };
}

code_checked_response!(DisableMfaResponse {
    /// TOTP is off, and its recovery codes no longer work.
    #[oai(status = 204)]
    Disabled
});

code_checked_response!(RegenerateRecoveryCodesResponse {
    /// New recovery codes; the earlier ones no longer work.
    #[oai(status = 200)]
    RecoveryCodes(Json<RecoveryCodesBody>)
});

#[derive(ApiResponse)]
pub enum StatusResponse {
    /// The state of the caller's second factor.
    #[oai(status = 200)]
    Ok(Json<MfaStatusBody>),
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The temporary password must be changed first.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

/// Maps a use-case error to its problem; every variant has one status.
fn mfa_problem(error: &MfaError) -> (ProblemKind, &'static str) {
    match error {
        MfaError::InvalidChallenge => (
            ProblemKind::InvalidToken,
            "the mfa_token is invalid, expired or used up; sign in again",
        ),
        MfaError::InvalidCode => (ProblemKind::InvalidMfaCode, "the code is incorrect or was already used"),
        MfaError::Blocked => (
            ProblemKind::MfaBlocked,
            "too many wrong codes for this account; every code, recovery codes included, is refused until an hour \
             after the first of them",
        ),
        MfaError::AlreadyEnabled => (
            ProblemKind::Conflict,
            "TOTP is already on; turn it off or have an administrator reset it first",
        ),
        MfaError::NotEnabled => (ProblemKind::Conflict, "TOTP is not on for this account"),
        MfaError::NotPending => (
            ProblemKind::Conflict,
            "no enrollment is waiting for confirmation; start one with POST /api/v1/auth/mfa/totp",
        ),
        MfaError::Required => (
            ProblemKind::Conflict,
            "your role requires a second factor, so it cannot be turned off; an administrator can reset it",
        ),
        MfaError::WrongPassword => (ProblemKind::ValidationFailed, "the password is incorrect"),
        MfaError::NotFound => (ProblemKind::NotFound, "user not found"),
        MfaError::Unexpected(_) => (ProblemKind::Internal, "an unexpected error occurred"),
    }
}

fn problem(error: &MfaError) -> Json<Problem> {
    match error {
        MfaError::Unexpected(unexpected) => return internal(unexpected),
        // The same shape as a wrong current password at a password change.
        MfaError::WrongPassword => {
            return Json(Problem::validation(vec![FieldProblem {
                field: "password".into(),
                code: "incorrect".into(),
                message: "the password is incorrect".into(),
            }]))
        }
        _ => {}
    }
    let (kind, detail) = mfa_problem(error);
    Json(Problem::new(kind, detail))
}

fn enrollment_body(started: StartedEnrollment) -> EnrollmentResponse {
    let qr_code_svg = match QrCode::new(started.otpauth_uri.as_bytes()) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(error) => {
            tracing::error!(%error, "could not render the enrollment QR code");
            return EnrollmentResponse::Internal(Json(Problem::new(
                ProblemKind::Internal,
                "an unexpected error occurred",
            )));
        }
    };
    EnrollmentResponse::Ok(Json(TotpEnrollmentBody {
        secret: started.secret.expose_base32(),
        otpauth_uri: started.otpauth_uri,
        qr_code_svg,
    }))
}

fn enrollment_response(outcome: Result<StartedEnrollment, MfaError>) -> EnrollmentResponse {
    match outcome {
        Ok(started) => enrollment_body(started),
        Err(error) => {
            let body = problem(&error);
            match mfa_problem(&error).0 {
                ProblemKind::InvalidToken | ProblemKind::NotFound => EnrollmentResponse::Unauthorized(body),
                ProblemKind::Conflict => EnrollmentResponse::Conflict(body),
                _ => EnrollmentResponse::Internal(body),
            }
        }
    }
}

fn confirmation_response(
    request: &Request,
    outcome: Result<ConfirmedEnrollment, MfaError>,
    delivery: TokenDelivery,
) -> ConfirmationResponse {
    match outcome {
        Ok(confirmed) => ConfirmationResponse::Ok(Json(TotpConfirmationBody {
            recovery_codes: confirmed
                .recovery_codes
                .iter()
                .map(|code| code.expose().to_owned())
                .collect(),
            tokens: confirmed.tokens.map(|pair| deliver(state(request), pair, delivery)),
        })),
        Err(error) => {
            let body = problem(&error);
            match mfa_problem(&error).0 {
                ProblemKind::InvalidToken | ProblemKind::NotFound => ConfirmationResponse::Unauthorized(body),
                ProblemKind::Conflict => ConfirmationResponse::Conflict(body),
                ProblemKind::InvalidMfaCode => ConfirmationResponse::Invalid(body),
                ProblemKind::MfaBlocked => ConfirmationResponse::TooManyRequests(body),
                _ => ConfirmationResponse::Internal(body),
            }
        }
    }
}

#[OpenApi(prefix_path = "/api/v1/auth/mfa", tag = "ApiTags::SecondFactor")]
impl MfaApi {
    /// Get the second-factor status
    ///
    /// Whether TOTP is on or pending, whether the caller's role requires it, and how many
    /// recovery codes are left. Requires a valid access token of any role.
    #[oai(path = "/", method = "get", operation_id = "getMfaStatus")]
    async fn status(&self, request: &Request, auth: Caller) -> StatusResponse {
        if let Err(problem) = authorize(request, auth.claims(), "getMfaStatus").await {
            return StatusResponse::Forbidden(problem);
        }
        match state(request).auth.mfa_status(auth.claims()).await {
            Ok(status) => StatusResponse::Ok(Json(status.into())),
            Err(error) => StatusResponse::Internal(problem(&error)),
        }
    }

    /// Start TOTP enrollment
    ///
    /// Returns a new 160-bit secret with its `otpauth://` URI and a QR code. Nothing changes at
    /// sign-in until `POST /api/v1/auth/mfa/totp/confirm` accepts a code; calling this again
    /// before that replaces the secret. Requires a valid access token of any role.
    #[oai(path = "/totp", method = "post", operation_id = "startTotpEnrollment")]
    async fn start_enrollment(&self, request: &Request, auth: Caller) -> EnrollmentResponse {
        if let Err(problem) = authorize(request, auth.claims(), "startTotpEnrollment").await {
            return EnrollmentResponse::Forbidden(problem);
        }
        let outcome = state(request)
            .auth
            .start_totp_enrollment(Enroller::Caller(auth.claims()), &request_context(request))
            .await;
        enrollment_response(outcome)
    }

    /// Confirm TOTP enrollment
    ///
    /// Turns TOTP on with a current code and returns ten single-use recovery codes, shown this
    /// once. Requires a valid access token of any role.
    #[oai(path = "/totp/confirm", method = "post", operation_id = "confirmTotpEnrollment")]
    async fn confirm_enrollment(
        &self,
        request: &Request,
        auth: Caller,
        body: Json<ConfirmTotpBody>,
    ) -> ConfirmationResponse {
        if let Err(problem) = authorize(request, auth.claims(), "confirmTotpEnrollment").await {
            return ConfirmationResponse::Forbidden(problem);
        }
        let outcome = state(request)
            .auth
            .confirm_totp_enrollment(Enroller::Caller(auth.claims()), &body.0.code, &request_context(request))
            .await;
        confirmation_response(request, outcome, TokenDelivery::Bearer)
    }

    /// Start TOTP enrollment during sign-in
    ///
    /// For a user whose role requires a second factor they do not have yet: login returned
    /// an `mfa_token` with `enrollment_required: true`, which is good only here and at
    /// `/enroll/confirm`. Anyone holding such a token may call it; the login rate limit applies
    /// (5 requests per minute per client IP by default).
    #[oai(path = "/enroll", method = "post", operation_id = "startEnrollmentChallenge")]
    async fn start_challenge_enrollment(
        &self,
        request: &Request,
        body: Json<EnrollmentChallengeBody>,
    ) -> EnrollmentResponse {
        let token = RefreshToken::new(body.0.mfa_token.into_inner());
        let outcome = state(request)
            .auth
            .start_totp_enrollment(Enroller::Challenge(&token), &request_context(request))
            .await;
        enrollment_response(outcome)
    }

    /// Confirm TOTP enrollment and finish signing in
    ///
    /// Turns TOTP on with a current code, returns ten recovery codes (shown this once) and the
    /// tokens of the new session, whose `amr` is `["pwd", "otp"]`. Anyone holding an enrollment
    /// `mfa_token` may call it; the login rate limit applies (5 requests per minute per client
    /// IP by default).
    #[oai(
        path = "/enroll/confirm",
        method = "post",
        operation_id = "confirmEnrollmentChallenge"
    )]
    async fn confirm_challenge_enrollment(
        &self,
        request: &Request,
        body: Json<ConfirmEnrollmentChallengeBody>,
    ) -> ConfirmationResponse {
        let body = body.0;
        let token = RefreshToken::new(body.mfa_token.into_inner());
        let outcome = state(request)
            .auth
            .confirm_totp_enrollment(Enroller::Challenge(&token), &body.code, &request_context(request))
            .await;
        confirmation_response(request, outcome, body.token_delivery)
    }

    /// Finish signing in with a second factor
    ///
    /// Takes the `mfa_token` from login and a current TOTP `code` (one step of clock drift
    /// either way; a code is accepted once) or an unused `recovery_code` (then spent), and
    /// returns the token pair of the new session, whose `amr` is `["pwd", "otp"]`. Five wrong
    /// codes void the `mfa_token`; ten per account within an hour block the second factor for
    /// the rest of the hour. Anyone holding an `mfa_token` may call it; the login rate limit
    /// applies (5 requests per minute per client IP by default).
    #[oai(path = "/verify", method = "post", operation_id = "verifyMfa")]
    async fn verify(&self, request: &Request, body: Json<VerifyMfaBody>) -> VerifyResponse {
        let body = body.0;
        let factor = match (body.code, body.recovery_code) {
            (Some(code), None) => SecondFactor::Totp(code.into_inner()),
            (None, Some(code)) => SecondFactor::RecoveryCode(code.into_inner()),
            _ => {
                return VerifyResponse::Invalid(Json(Problem::new(
                    ProblemKind::ValidationFailed,
                    "send exactly one of code and recovery_code",
                )))
            }
        };
        let token = RefreshToken::new(body.mfa_token.into_inner());
        let state = state(request);
        match state
            .auth
            .verify_second_factor(&token, factor, &request_context(request))
            .await
        {
            Ok(pair) => VerifyResponse::Ok(Json(deliver(state, pair, body.token_delivery))),
            Err(error) => {
                let problem_body = problem(&error);
                match mfa_problem(&error).0 {
                    ProblemKind::InvalidToken => VerifyResponse::Unauthorized(problem_body),
                    ProblemKind::InvalidMfaCode => VerifyResponse::Invalid(problem_body),
                    ProblemKind::MfaBlocked => VerifyResponse::TooManyRequests(problem_body),
                    _ => VerifyResponse::Internal(problem_body),
                }
            }
        }
    }

    /// Turn TOTP off
    ///
    /// Needs the password and a current code. Refused when the caller's role requires a
    /// second factor; an administrator can reset it instead. Requires a valid access token of
    /// any role.
    #[oai(path = "/totp/disable", method = "post", operation_id = "disableMfa")]
    async fn disable(&self, request: &Request, auth: Caller, body: Json<DisableMfaBody>) -> DisableMfaResponse {
        if let Err(problem) = authorize(request, auth.claims(), "disableMfa").await {
            return DisableMfaResponse::Forbidden(problem);
        }
        let body = body.0;
        let password = Password::presented(SecretString::from(body.password.into_inner()));
        let outcome = state(request)
            .auth
            .disable_mfa(auth.claims(), &password, &body.code, &request_context(request))
            .await;
        DisableMfaResponse::from_outcome(outcome.map(|()| DisableMfaResponse::Disabled))
    }

    /// Regenerate recovery codes
    ///
    /// Needs a current code. Returns ten new recovery codes, shown this once; the earlier ones
    /// stop working. Requires a valid access token of any role.
    #[oai(path = "/recovery-codes", method = "post", operation_id = "regenerateRecoveryCodes")]
    async fn regenerate(
        &self,
        request: &Request,
        auth: Caller,
        body: Json<ConfirmTotpBody>,
    ) -> RegenerateRecoveryCodesResponse {
        if let Err(problem) = authorize(request, auth.claims(), "regenerateRecoveryCodes").await {
            return RegenerateRecoveryCodesResponse::Forbidden(problem);
        }
        let outcome = state(request)
            .auth
            .regenerate_recovery_codes(auth.claims(), &body.0.code, &request_context(request))
            .await;
        RegenerateRecoveryCodesResponse::from_outcome(outcome.map(|codes| {
            RegenerateRecoveryCodesResponse::RecoveryCodes(Json(RecoveryCodesBody {
                recovery_codes: codes.iter().map(|code| code.expose().to_owned()).collect(),
            }))
        }))
    }
}
