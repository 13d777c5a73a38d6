//! Request and response bodies, and their conversion to and from domain values at the edge.

use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};
use secrecy::SecretString;
use somnium_application::{LoginRequest, RegisterRequest, TokenPair};
use somnium_domain::{Email, EmailError, FullName, FullNameError, Password, PasswordError, RefreshToken, Role, User};
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
    pub email: String,
    /// 8 to 128 characters, used exactly as typed.
    #[oai(write_only)]
    pub password: String,
    /// 1 to 200 characters, without control characters or HTML markup; stored exactly as given.
    pub full_name: String,
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
        let password = Password::new(SecretString::from(self.password)).map_err(password_problem);
        let full_name = FullName::parse(&self.full_name).map_err(full_name_problem);

        match (email, password, full_name) {
            (Ok(email), Ok(password), Ok(full_name)) => Ok(RegisterRequest {
                email,
                password,
                full_name,
            }),
            (email, password, full_name) => Err([email.err(), password.err(), full_name.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

/// Password login.
#[derive(Object)]
#[oai(rename = "LoginRequest", deny_unknown_fields, example)]
pub struct LoginBody {
    pub email: String,
    #[oai(write_only)]
    pub password: String,
    /// Keeps the session's refresh tokens valid for 30 days instead of 7.
    #[oai(default)]
    pub remember_me: bool,
}

impl Example for LoginBody {
    fn example() -> Self {
        LoginBody {
            email: "alice@example.test".into(),
            password: "correct horse battery staple".into(),
            remember_me: false,
        }
    }
}

impl LoginBody {
    pub fn try_into_domain(self) -> Result<LoginRequest, Vec<FieldProblem>> {
        let email = Email::parse(&self.email).map_err(|error| vec![email_problem(error)])?;
        Ok(LoginRequest {
            email,
            password: Password::presented(SecretString::from(self.password)),
            remember_me: self.remember_me,
        })
    }
}

/// A refresh token to rotate.
#[derive(Object)]
#[oai(rename = "RefreshRequest", deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token from the last login or refresh.
    #[oai(write_only)]
    pub refresh_token: String,
}

impl RefreshBody {
    pub fn into_domain(self) -> RefreshToken {
        RefreshToken::new(self.refresh_token)
    }
}

/// A token pair (RFC 6749 section 5.1).
#[derive(Object)]
#[oai(rename = "TokenResponse")]
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
