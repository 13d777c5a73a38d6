//! Audit events: who did what to which resource, from where, and how it ended.
//!
//! An audit event never contains a password, token, hash or key. Its `detail` is a short
//! machine-readable reason such as `wrong_password`, chosen by the use case.

use std::fmt;

use time::OffsetDateTime;

use crate::ids::{AuditEventId, UserId};

/// Where a request came from, passed to every use case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// The kinds of audit events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditEventType {
    UserRegistered,
    LoginSucceeded,
    LoginFailed,
    TokenRefreshed,
    RefreshFailed,
    RefreshTokenReuseDetected,
    Logout,
    /// A login attempt rejected because a lock applies to it.
    LoginBlocked,
    AccountLocked,
    AccountUnlocked,
    /// Lockout or rate-limit state fell back to this instance because Redis is unreachable.
    SecurityDegraded,
    /// A session ended by the idle or absolute limit.
    SessionExpired,
    /// One session ended by its user, or all of them.
    SessionEnded,
    PasswordChanged,
    /// A cookie-authenticated request without a valid CSRF token or from a foreign origin.
    CsrfRejected,
}

impl AuditEventType {
    pub const ALL: [AuditEventType; 15] = [
        AuditEventType::UserRegistered,
        AuditEventType::LoginSucceeded,
        AuditEventType::LoginFailed,
        AuditEventType::TokenRefreshed,
        AuditEventType::RefreshFailed,
        AuditEventType::RefreshTokenReuseDetected,
        AuditEventType::Logout,
        AuditEventType::LoginBlocked,
        AuditEventType::AccountLocked,
        AuditEventType::AccountUnlocked,
        AuditEventType::SecurityDegraded,
        AuditEventType::SessionExpired,
        AuditEventType::SessionEnded,
        AuditEventType::PasswordChanged,
        AuditEventType::CsrfRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditEventType::UserRegistered => "user_registered",
            AuditEventType::LoginSucceeded => "login_succeeded",
            AuditEventType::LoginFailed => "login_failed",
            AuditEventType::TokenRefreshed => "token_refreshed",
            AuditEventType::RefreshFailed => "refresh_failed",
            AuditEventType::RefreshTokenReuseDetected => "refresh_token_reuse_detected",
            AuditEventType::Logout => "logout",
            AuditEventType::LoginBlocked => "login_blocked",
            AuditEventType::AccountLocked => "account_locked",
            AuditEventType::AccountUnlocked => "account_unlocked",
            AuditEventType::SecurityDegraded => "security_degraded",
            AuditEventType::SessionExpired => "session_expired",
            AuditEventType::SessionEnded => "session_ended",
            AuditEventType::PasswordChanged => "password_changed",
            AuditEventType::CsrfRejected => "csrf_rejected",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for AuditEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "success" => Some(AuditOutcome::Success),
            "failure" => Some(AuditOutcome::Failure),
            _ => None,
        }
    }
}

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub occurred_at: OffsetDateTime,
    pub event_type: AuditEventType,
    /// The user the event is about, when known.
    pub user_id: Option<UserId>,
    /// The object acted on, such as `user:<id>` or `session:<id>`.
    pub resource: Option<String>,
    pub outcome: AuditOutcome,
    /// A short reason code; never a secret or free text from the client.
    pub detail: Option<String>,
    pub context: RequestContext,
}
