use std::sync::Arc;

use secrecy::SecretString;
use somnium_domain::lockout::LockoutPolicy;
use somnium_domain::mfa::MfaPolicy;
use somnium_domain::password_policy::PasswordPolicy;
use somnium_domain::ports::{
    AccessTokenIssuer, AuditLog, Clock, DeviceTokens, EmergencyGrants, LockoutStore, MfaRepository, PasswordHasher,
    RefreshTokenMinter, RevocationList, SecureRandom, SessionRepository, TotpCodes, UserRepository,
};
use somnium_domain::session::SessionPolicy;
use somnium_domain::{DeviceToken, IssuedAccessToken, Password, PasswordHash, RefreshToken, SessionId};
use time::Duration;

use crate::error::UnexpectedError;

/// The adapters a use case may call.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub access_tokens: Arc<dyn AccessTokenIssuer>,
    pub refresh_tokens: Arc<dyn RefreshTokenMinter>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn SecureRandom>,
    pub lockout: Arc<dyn LockoutStore>,
    pub device_tokens: Arc<dyn DeviceTokens>,
    pub revocations: Arc<dyn RevocationList>,
    pub emergency: Arc<dyn EmergencyGrants>,
    pub mfa: Arc<dyn MfaRepository>,
    pub totp: Arc<dyn TotpCodes>,
}

/// Settings of the sign-in flow.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// How long a spent refresh token still returns its successor instead of counting as reuse.
    /// Zero turns the grace period off.
    pub refresh_grace_period: Duration,
    pub lockout: LockoutPolicy,
    pub password_policy: Arc<PasswordPolicy>,
    pub sessions: SessionPolicy,
    /// How long an emergency-access grant lasts.
    pub emergency_access_lifetime: Duration,
    /// The roles that must sign in with a second factor.
    pub mfa: MfaPolicy,
    /// The issuer name authenticator apps show next to the account.
    pub mfa_issuer: String,
}

/// The tokens returned by login and refresh.
#[derive(Debug)]
pub struct TokenPair {
    pub access_token: IssuedAccessToken,
    pub refresh_token: RefreshToken,
    pub refresh_expires_in_seconds: i64,
    pub session_id: SessionId,
    /// A new device token, issued at login (not on refresh).
    pub device_token: Option<DeviceToken>,
}

/// The sign-in use cases over one set of ports.
#[derive(Clone)]
pub struct AuthService {
    pub(crate) ports: Ports,
    pub(crate) settings: AuthSettings,
    /// A hash of a random password, verified when an email is unknown so that an unknown email
    /// costs the same time as a wrong password.
    pub(crate) dummy_hash: PasswordHash,
}

impl AuthService {
    /// Builds the service, hashing the dummy password once.
    ///
    /// # Errors
    /// [`UnexpectedError`] when the hasher fails.
    pub async fn new(ports: Ports, settings: AuthSettings) -> Result<Self, UnexpectedError> {
        let random_password: [u8; 32] = ports.random.bytes();
        let dummy = Password::presented(SecretString::from(hex_string(&random_password)));
        let dummy_hash = ports.hasher.hash(&dummy).await?;
        Ok(Self {
            ports,
            settings,
            dummy_hash,
        })
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.settings.password_policy
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
