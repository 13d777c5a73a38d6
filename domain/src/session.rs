//! Sessions and the refresh-token family each of them owns.
//!
//! A login starts a session and its first refresh token. Every refresh spends the presented
//! token and stores its successor in the same family. The successor is derived from the spent
//! token and a random [`SuccessorSeed`] kept on the spent token's row, so a client that retries
//! within the grace period gets the same successor back although no token is stored in plaintext.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::ids::{RefreshTokenId, SessionId, UserId};

/// Lifetime of a refresh token without "remember me".
pub const REFRESH_LIFETIME: Duration = Duration::days(7);
/// Lifetime of a refresh token with "remember me".
pub const REMEMBER_ME_REFRESH_LIFETIME: Duration = Duration::days(30);
/// No refresh token outlives its session's start by more than this.
pub const SESSION_ABSOLUTE_LIFETIME: Duration = Duration::days(30);

/// A session: one sign-in and the family of refresh tokens rotated from it.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub auth_time: OffsetDateTime,
    pub remember_me: bool,
    /// The session ends here whatever its refresh tokens say.
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// When a refresh token of the session was last used (the login counts as a use).
    pub last_used_at: OffsetDateTime,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The sign-in that began the session included a second factor.
    pub mfa_verified: bool,
}

impl Session {
    /// Tells whether the session went unused for longer than its idle limit (automatic logoff).
    pub fn is_idle_expired(&self, now: OffsetDateTime, limits: &SessionLimits) -> bool {
        let idle = if self.remember_me {
            limits.remember_me_idle
        } else {
            limits.idle
        };
        now - self.last_used_at > idle
    }

    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// The idle limit that applies to this session.
    pub fn idle_limit(&self, limits: &SessionLimits) -> Duration {
        if self.remember_me {
            limits.remember_me_idle
        } else {
            limits.idle
        }
    }

    /// Expiry of a refresh token minted now, capped at the session's absolute end.
    pub fn refresh_expiry(&self, now: OffsetDateTime) -> OffsetDateTime {
        let lifetime = if self.remember_me {
            REMEMBER_ME_REFRESH_LIFETIME
        } else {
            REFRESH_LIFETIME
        };
        (now + lifetime).min(self.expires_at)
    }
}

/// Idle and absolute limits of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session whose refresh token goes unused this long ends.
    pub idle: Duration,
    /// The idle limit of a session started with "remember me".
    pub remember_me_idle: Duration,
    /// A session ends this long after it started, whatever else happens; at most 30 days.
    pub absolute: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            remember_me_idle: Duration::days(7),
            absolute: SESSION_ABSOLUTE_LIFETIME,
        }
    }
}

/// Session limits per role, so a shared ward workstation signed in as ADMIN can log off sooner
/// than a patient's phone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionPolicy {
    pub default: SessionLimits,
    pub per_role: Vec<(crate::user::Role, SessionLimits)>,
}

impl SessionPolicy {
    pub fn limits(&self, role: crate::user::Role) -> SessionLimits {
        self.per_role
            .iter()
            .find(|(candidate, _)| *candidate == role)
            .map_or(self.default, |(_, limits)| *limits)
    }
}

/// A session to be stored at login.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub session: Session,
}

/// 32 random bytes stored with a spent refresh token, from which its successor is derived.
#[derive(Clone, PartialEq, Eq)]
pub struct SuccessorSeed(pub [u8; 32]);

impl fmt::Debug for SuccessorSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SuccessorSeed(<redacted>)")
    }
}

/// A refresh token to be stored: its hash, never its value.
#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    pub id: RefreshTokenId,
    pub session_id: SessionId,
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A stored refresh token with the session it belongs to.
#[derive(Clone, Debug)]
pub struct RefreshTokenRecord {
    pub id: RefreshTokenId,
    pub session: Session,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Set once the token has been spent by a rotation.
    pub rotated_at: Option<OffsetDateTime>,
    pub successor_seed: Option<SuccessorSeed>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn session(remember_me: bool, started: OffsetDateTime) -> Session {
        Session {
            id: SessionId::from_uuid(Uuid::nil()),
            user_id: UserId::from_uuid(Uuid::nil()),
            created_at: started,
            auth_time: started,
            remember_me,
            expires_at: started + SESSION_ABSOLUTE_LIFETIME,
            revoked_at: None,
            last_used_at: started,
            client_ip: None,
            user_agent: None,
            mfa_verified: false,
        }
    }

    #[test]
    fn refresh_expiry_depends_on_remember_me() {
        let start = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(session(false, start).refresh_expiry(start), start + Duration::days(7));
        assert_eq!(session(true, start).refresh_expiry(start), start + Duration::days(30));
    }

    #[test]
    fn idle_limit_depends_on_remember_me() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let limits = SessionLimits::default();
        let later = start + Duration::minutes(31);
        assert!(session(false, start).is_idle_expired(later, &limits));
        assert!(!session(true, start).is_idle_expired(later, &limits));
        assert!(session(true, start).is_idle_expired(start + Duration::days(7) + Duration::seconds(1), &limits));
    }

    #[test]
    fn refresh_expiry_never_passes_the_session_end() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let late = start + Duration::days(27);
        assert_eq!(session(false, start).refresh_expiry(late), start + Duration::days(30));
    }
}
