//! Access tokens (signed, short-lived) and refresh tokens (opaque, rotated).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::ids::{SessionId, UserId};
use crate::user::Role;

/// What an access token asserts about its bearer. The issuer adds `iss`, `aud`, `jti`, `iat`
/// and `exp`; a verifier returns these claims only after checking all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub session_id: SessionId,
    /// When the user last proved who they are with a password, carried over on refresh.
    pub auth_time: OffsetDateTime,
    /// The account must change its temporary password before anything else.
    pub password_change_required: bool,
    /// Present while the session holds an active emergency-access grant.
    pub emergency: Option<crate::emergency::EmergencyClaim>,
    /// The session began with a password and a second factor; the token's `amr` then reads
    /// `["pwd", "otp"]` instead of `["pwd"]`.
    pub mfa: bool,
}

/// A freshly signed access token.
pub struct IssuedAccessToken {
    pub token: SecretString,
    pub expires_in_seconds: i64,
}

impl fmt::Debug for IssuedAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedAccessToken")
            .field("expires_in_seconds", &self.expires_in_seconds)
            .finish_non_exhaustive()
    }
}

/// An opaque refresh token as held by the client. Only its SHA-256 hash is ever stored.
#[derive(Clone)]
pub struct RefreshToken(SecretString);

impl RefreshToken {
    pub fn new(value: String) -> Self {
        Self(SecretString::from(value))
    }

    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// A signed device token as held by the client.
#[derive(Clone)]
pub struct DeviceToken(SecretString);

impl DeviceToken {
    pub fn new(value: String) -> Self {
        Self(SecretString::from(value))
    }

    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken(<redacted>)")
    }
}
