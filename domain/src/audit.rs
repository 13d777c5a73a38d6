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
    /// An operation refused because the caller's role lacks its permission.
    AccessDenied,
    UserCreated,
    /// An administrator changed a user's role or status.
    UserUpdated,
    /// An administrator cleared a user's lockout.
    UserUnlocked,
    /// An administrator ended all of a user's sessions.
    UserSessionsEnded,
    /// A user's own profile changed.
    ProfileUpdated,
    EmergencyAccessGranted,
    EmergencyAccessEnded,
    /// A user read or exported the audit trail.
    AuditTrailRead,
    /// A user verified the audit trail's hash chain.
    AuditTrailVerified,
    /// Events outside retention were deleted, leaving a checkpoint.
    AuditTrailPruned,
    /// The password was accepted and a second-factor challenge issued.
    MfaChallengeIssued,
    /// A TOTP secret was issued and awaits confirmation.
    MfaEnrollmentStarted,
    /// TOTP was confirmed and turned on.
    MfaEnabled,
    /// The user turned TOTP off.
    MfaDisabled,
    /// An administrator removed a user's TOTP and recovery codes.
    MfaReset,
    /// A second-factor code or recovery code was accepted.
    MfaVerified,
    /// A wrong, replayed or expired second-factor code.
    MfaFailed,
    /// Too many wrong codes: the challenge or the account's second factor is blocked.
    MfaBlocked,
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated,
}

impl AuditEventType {
    pub const ALL: [AuditEventType; 35] = [
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
        AuditEventType::AccessDenied,
        AuditEventType::UserCreated,
        AuditEventType::UserUpdated,
        AuditEventType::UserUnlocked,
        AuditEventType::UserSessionsEnded,
        AuditEventType::ProfileUpdated,
        AuditEventType::EmergencyAccessGranted,
        AuditEventType::EmergencyAccessEnded,
        AuditEventType::AuditTrailRead,
        AuditEventType::AuditTrailVerified,
        AuditEventType::AuditTrailPruned,
        AuditEventType::MfaChallengeIssued,
        AuditEventType::MfaEnrollmentStarted,
        AuditEventType::MfaEnabled,
        AuditEventType::MfaDisabled,
        AuditEventType::MfaReset,
        AuditEventType::MfaVerified,
        AuditEventType::MfaFailed,
        AuditEventType::MfaBlocked,
        AuditEventType::RecoveryCodesRegenerated,
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
            AuditEventType::AccessDenied => "access_denied",
            AuditEventType::UserCreated => "user_created",
            AuditEventType::UserUpdated => "user_updated",
            AuditEventType::UserUnlocked => "user_unlocked",
            AuditEventType::UserSessionsEnded => "user_sessions_ended",
            AuditEventType::ProfileUpdated => "profile_updated",
            AuditEventType::EmergencyAccessGranted => "emergency_access_granted",
            AuditEventType::EmergencyAccessEnded => "emergency_access_ended",
            AuditEventType::AuditTrailRead => "audit_trail_read",
            AuditEventType::AuditTrailVerified => "audit_trail_verified",
            AuditEventType::AuditTrailPruned => "audit_trail_pruned",
            AuditEventType::MfaChallengeIssued => "mfa_challenge_issued",
            AuditEventType::MfaEnrollmentStarted => "mfa_enrollment_started",
            AuditEventType::MfaEnabled => "mfa_enabled",
            AuditEventType::MfaDisabled => "mfa_disabled",
            AuditEventType::MfaReset => "mfa_reset",
            AuditEventType::MfaVerified => "mfa_verified",
            AuditEventType::MfaFailed => "mfa_failed",
            AuditEventType::MfaBlocked => "mfa_blocked",
            AuditEventType::RecoveryCodesRegenerated => "recovery_codes_regenerated",
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

/// How urgently an investigator should look at an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuditSeverity {
    #[default]
    Info,
    Warning,
    /// Break-glass access and similar events that must be reviewed.
    High,
}

impl AuditSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditSeverity::Info => "info",
            AuditSeverity::Warning => "warning",
            AuditSeverity::High => "high",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "info" => Some(AuditSeverity::Info),
            "warning" => Some(AuditSeverity::Warning),
            "high" => Some(AuditSeverity::High),
            _ => None,
        }
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
    pub severity: AuditSeverity,
    /// The user who acted, when it is not the user the event is about (an administrator).
    pub actor_id: Option<UserId>,
    /// What changed, as `field: before -> after` lines; never a secret.
    pub changes: Option<String>,
    pub context: RequestContext,
}

/// Criteria for reading the audit trail, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Events about this user or done by this user.
    pub user_id: Option<UserId>,
    pub event_type: Option<AuditEventType>,
    pub outcome: Option<AuditOutcome>,
    pub client_ip: Option<String>,
    /// Inclusive lower bound of `occurred_at`.
    pub from: Option<OffsetDateTime>,
    /// Exclusive upper bound of `occurred_at`.
    pub until: Option<OffsetDateTime>,
    /// Cursor: only events with a smaller sequence number.
    pub before_sequence: Option<i64>,
}

/// One page of audit events with their sequence numbers.
#[derive(Clone, Debug)]
pub struct AuditEventPage {
    pub events: Vec<(i64, AuditEvent)>,
    /// The cursor of the next page, when there is one.
    pub next_before: Option<i64>,
}

/// The result of walking the hash chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainVerification {
    Intact {
        events: u64,
        last_sequence: i64,
        /// The first sequence number after the latest prune, if the trail was pruned.
        checkpoint_sequence: Option<i64>,
    },
    /// The first broken link: where and why.
    Broken {
        sequence: i64,
        reason: String,
        checked: u64,
    },
}

/// The result of pruning events outside retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneOutcome {
    pub pruned: u64,
    /// The sequence number the remaining chain starts at.
    pub first_sequence: i64,
}
