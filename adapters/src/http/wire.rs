//! Request and response bodies, and their conversion to and from domain values at the edge.

use super::strict::JsonString;
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object, Union};
use secrecy::SecretString;
use somnium_application::{LoginRequest, RegisterRequest, SessionView, TokenPair};
use somnium_domain::password_policy::{PolicyRules, PolicyViolation};
use somnium_domain::{Email, EmailError, FullName, FullNameError, Password, PasswordError, Role, User};
use time::format_description::well_known::Rfc3339;

use super::problem::FieldProblem;

/// A role of the platform, from the most to the least privileged.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "Role", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleBody {
    Admin,
    EcmoSpecialist,
    Physician,
    Nurse,
    Patient,
}

impl From<Role> for RoleBody {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => RoleBody::Admin,
            Role::EcmoSpecialist => RoleBody::EcmoSpecialist,
            Role::Physician => RoleBody::Physician,
            Role::Nurse => RoleBody::Nurse,
            Role::Patient => RoleBody::Patient,
        }
    }
}

/// Self-registration. Only these three fields are accepted: a `role` or any other field is
/// rejected with 422, because self-registration always creates a PATIENT.
#[derive(Object)]
#[oai(rename = "RegisterRequest", deny_unknown_fields, example)]
pub struct RegisterBody {
    /// Email address; compared after trimming, Unicode NFKC and case folding.
    pub email: JsonString,
    /// 8 to 128 characters, used exactly as typed.
    #[oai(write_only)]
    pub password: JsonString,
    /// 1 to 200 characters, without control characters or HTML markup; stored exactly as given.
    pub full_name: JsonString,
}

impl Example for RegisterBody {
    fn example() -> Self {
        RegisterBody {
            email: "alice@example.test".into(),
            password: "correct horse battery staple".into(),
            full_name: "Alice Martin".into(),
        }
    }
}

impl RegisterBody {
    /// Validates every field and reports all invalid ones at once.
    pub fn try_into_domain(self) -> Result<RegisterRequest, Vec<FieldProblem>> {
        let email = Email::parse(&self.email).map_err(email_problem);
        let full_name = FullName::parse(&self.full_name).map_err(full_name_problem);
        let password = SecretString::from(self.password.into_inner());

        match (email, full_name) {
            // Length is one rule of the password policy, which the use case checks with all the
            // others once the email and name it compares against are valid.
            (Ok(email), Ok(full_name)) => Ok(RegisterRequest {
                email,
                password: Password::presented(password),
                full_name,
            }),
            (email, full_name) => {
                let password_length = Password::new(password).err().map(password_problem);
                Err([email.err(), password_length, full_name.err()]
                    .into_iter()
                    .flatten()
                    .collect())
            }
        }
    }
}

/// Password login.
#[derive(Object)]
#[oai(rename = "LoginRequest", deny_unknown_fields, example)]
pub struct LoginBody {
    pub email: JsonString,
    #[oai(write_only)]
    pub password: JsonString,
    /// Keeps the session's refresh tokens valid for 30 days instead of 7.
    #[oai(default)]
    pub remember_me: bool,
    /// The `device_token` from an earlier successful login on this client. With it, this
    /// client's attempts are counted on their own and an account-wide lock caused by other
    /// clients does not block it.
    #[oai(write_only)]
    pub device_token: Option<JsonString>,
    /// `bearer` (the default) returns the tokens in the body; `cookie` sets them as HttpOnly
    /// cookies for a browser and never puts them in the body.
    #[oai(default)]
    pub token_delivery: TokenDelivery,
}

/// How tokens are handed to the client.
#[derive(Enum, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum TokenDelivery {
    /// In the response body, for SDK and server clients.
    #[default]
    Bearer,
    /// In HttpOnly cookies, for browsers.
    Cookie,
}

impl Example for LoginBody {
    fn example() -> Self {
        LoginBody {
            email: "alice@example.test".into(),
            password: "correct horse battery staple".into(),
            remember_me: false,
            device_token: None,
            token_delivery: TokenDelivery::Bearer,
        }
    }
}

impl LoginBody {
    pub fn try_into_domain(self) -> Result<LoginRequest, Vec<FieldProblem>> {
        let email = Email::parse(&self.email).map_err(|error| vec![email_problem(error)])?;
        Ok(LoginRequest {
            email,
            password: Password::presented(SecretString::from(self.password.into_inner())),
            remember_me: self.remember_me,
            device_token: self.device_token.map(JsonString::into_inner),
        })
    }
}

/// A refresh token to rotate.
#[derive(Object)]
#[oai(rename = "RefreshRequest", deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token from the last login or refresh. Omit it in cookie mode: the
    /// `__Secure-somnium_refresh` cookie is used, and `X-CSRF-Token` is then required.
    #[oai(write_only)]
    pub refresh_token: Option<JsonString>,
    /// How to return the new tokens; cookie mode is implied when the token came from the cookie.
    #[oai(default)]
    pub token_delivery: TokenDelivery,
}

/// A token pair, in the body or in cookies.
#[derive(Union)]
#[oai(rename = "TokenResponse", discriminator_name = "token_delivery")]
pub enum TokenResponseBody {
    #[oai(mapping = "bearer")]
    Bearer(TokenBody),
    #[oai(mapping = "cookie")]
    Cookie(CookieSessionBody),
}

/// The outcome of a correct password: a token pair, or a second-factor challenge.
#[derive(Union)]
#[oai(rename = "LoginResponse", discriminator_name = "token_delivery")]
pub enum LoginResponseBody {
    #[oai(mapping = "bearer")]
    Bearer(TokenBody),
    #[oai(mapping = "cookie")]
    Cookie(CookieSessionBody),
    /// No tokens yet: finish with `POST /api/v1/auth/mfa/verify`, or when
    /// `enrollment_required` is true, enroll with `POST /api/v1/auth/mfa/enroll`.
    #[oai(mapping = "none")]
    MfaRequired(MfaChallengeBody),
}

/// A second factor is needed before a session starts.
#[derive(Object)]
#[oai(rename = "MfaChallenge")]
pub struct MfaChallengeBody {
    /// Always true.
    pub mfa_required: bool,
    /// Single-use token for the second step; good for nothing else.
    pub mfa_token: String,
    /// Seconds until the `mfa_token` expires.
    pub expires_in: i64,
    /// The role requires a second factor the user has not set up: enroll with the
    /// `mfa_token` at `POST /api/v1/auth/mfa/enroll` and `/enroll/confirm`.
    pub enrollment_required: bool,
}

/// A browser session whose tokens were set as HttpOnly cookies.
#[derive(Object)]
#[oai(rename = "CookieSession")]
pub struct CookieSessionBody {
    /// Seconds until the access-token cookie expires.
    pub expires_in: i64,
    /// Seconds until the refresh-token cookie expires.
    pub refresh_expires_in: i64,
    /// Send this value as `X-CSRF-Token` on every request that changes state; it is also in
    /// the readable `__Host-somnium_csrf` cookie.
    pub csrf_token: String,
}

/// One of the caller's active sessions.
#[derive(Object)]
#[oai(rename = "Session")]
pub struct SessionBody {
    pub id: uuid::Uuid,
    /// RFC 3339 time of the sign-in.
    pub started_at: String,
    /// RFC 3339 time the session's refresh token was last used (or the sign-in).
    pub last_used_at: String,
    /// RFC 3339 time after which the session ends whatever happens.
    pub expires_at: String,
    /// Absent when the client's address was not known at sign-in.
    #[oai(skip_serializing_if_is_none)]
    pub ip_address: Option<String>,
    /// Absent when the client sent no `User-Agent`.
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    /// The session of this request.
    pub current: bool,
}

impl From<SessionView> for SessionBody {
    fn from(view: SessionView) -> Self {
        let session = view.session;
        Self {
            id: session.id.as_uuid(),
            started_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            ip_address: session.client_ip,
            user_agent: session.user_agent,
            current: view.current,
        }
    }
}

/// A password change.
#[derive(Object)]
#[oai(rename = "ChangePasswordRequest", deny_unknown_fields)]
pub struct ChangePasswordBody {
    #[oai(write_only)]
    pub current_password: JsonString,
    /// Must meet the password policy and differ from the last five passwords.
    #[oai(write_only)]
    pub new_password: JsonString,
}

fn rfc3339(time: time::OffsetDateTime) -> String {
    // RFC 3339 formatting fails only for years outside 0000 to 9999, which no stored time
    // reaches.
    time.format(&Rfc3339).unwrap_or_default()
}

/// A token pair in the body (RFC 6749 section 5.1).
#[derive(Object)]
#[oai(rename = "BearerTokens")]
pub struct TokenBody {
    /// ES256-signed JWT for the `Authorization: Bearer` header.
    pub access_token: String,
    /// Opaque token for `POST /api/v1/auth/refresh`; single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
    /// Present after a login: keep it on this client and send it with later logins.
    #[oai(skip_serializing_if_is_none)]
    pub device_token: Option<String>,
}

impl From<TokenPair> for TokenBody {
    fn from(pair: TokenPair) -> Self {
        use secrecy::ExposeSecret;
        Self {
            access_token: pair.access_token.token.expose_secret().to_owned(),
            refresh_token: pair.refresh_token.expose_secret().to_owned(),
            token_type: "Bearer".into(),
            expires_in: pair.access_token.expires_in_seconds,
            refresh_expires_in: pair.refresh_expires_in_seconds,
            device_token: pair.device_token.map(|token| token.expose_secret().to_owned()),
        }
    }
}

/// An account.
#[derive(Object)]
#[oai(rename = "User")]
pub struct UserBody {
    pub id: uuid::Uuid,
    /// The address as registered (trimmed).
    pub email: String,
    pub full_name: String,
    pub role: RoleBody,
    /// RFC 3339 time of registration.
    pub created_at: String,
}

impl From<User> for UserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            full_name: user.full_name.as_str().to_owned(),
            role: user.role.into(),
            // RFC 3339 formatting fails only for years outside 0000 to 9999, which no stored
            // time reaches.
            created_at: user.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// The password rules in force.
#[derive(Object)]
#[oai(rename = "PasswordPolicy")]
pub struct PasswordPolicyBody {
    /// `hospital` (composition and sequence rules) or `nist` (length and blocklist only).
    pub preset: String,
    /// Minimum length in Unicode characters, after NFKC normalization.
    pub min_length: u32,
    /// Minimum length for accounts with multi-factor authentication enforced.
    pub min_length_with_mfa: u32,
    pub max_length: u32,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    /// At least one character that is neither a letter nor a digit.
    pub require_symbol: bool,
    /// Runs of 3 or more sequential characters, such as `abc`, `321` or `qwe`, are rejected.
    pub forbid_sequences: bool,
    /// A character repeated 3 or more times in a row is rejected.
    pub forbid_repeats: bool,
    /// Number of common passwords rejected, compared case-insensitively.
    pub blocklist_size: u32,
    /// The email's local part and the user's name may not appear in the password.
    pub forbid_personal_info: bool,
}

impl From<PolicyRules> for PasswordPolicyBody {
    fn from(rules: PolicyRules) -> Self {
        let count = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
        Self {
            preset: rules.preset.as_str().to_owned(),
            min_length: count(rules.min_length),
            min_length_with_mfa: count(rules.min_length_with_mfa),
            max_length: count(rules.max_length),
            require_uppercase: rules.require_uppercase,
            require_lowercase: rules.require_lowercase,
            require_digit: rules.require_digit,
            require_symbol: rules.require_symbol,
            forbid_sequences: rules.forbid_sequences,
            forbid_repeats: rules.forbid_repeats,
            blocklist_size: count(rules.blocklist_size),
            forbid_personal_info: rules.forbid_personal_info,
        }
    }
}

/// One problem entry per broken password rule, so a form can show all of them.
pub fn policy_problems(violations: Vec<PolicyViolation>) -> Vec<FieldProblem> {
    violations
        .into_iter()
        .map(|violation| field_problem("password", violation.code.as_str(), violation.message))
        .collect()
}

fn field_problem(field: &str, code: &str, message: String) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        code: code.into(),
        message,
    }
}

fn email_problem(error: EmailError) -> FieldProblem {
    let code = match error {
        EmailError::Empty => "empty",
        EmailError::TooLong => "too_long",
        EmailError::Malformed => "invalid_format",
    };
    field_problem("email", code, error.to_string())
}

fn password_problem(error: PasswordError) -> FieldProblem {
    let code = match error {
        PasswordError::TooShort => "too_short",
        PasswordError::TooLong => "too_long",
    };
    field_problem("password", code, error.to_string())
}

fn full_name_problem(error: FullNameError) -> FieldProblem {
    let code = match error {
        FullNameError::Empty => "empty",
        FullNameError::TooLong => "too_long",
        FullNameError::ControlCharacter => "control_character",
        FullNameError::Markup => "markup",
    };
    field_problem("full_name", code, error.to_string())
}
