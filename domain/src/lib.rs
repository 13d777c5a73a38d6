//! Somnium's domain: the identity, session and audit model of the ECMO platform and the ports
//! through which the application reaches the outside world.
//!
//! This crate depends on no async runtime, web framework, ORM, Redis client or cryptographic
//! implementation. Adapters implement the traits in [`ports`]; the use cases in the application
//! crate call them.

pub mod audit;
pub mod authorization;
pub mod emergency;
pub mod ids;
pub mod lockout;
pub mod mfa;
pub mod password;
pub mod password_policy;
pub mod ports;
pub mod rate_limit;
pub mod session;
pub mod token;
pub mod user;

pub use audit::{AuditEvent, AuditEventType, AuditOutcome, AuditSeverity, RequestContext};
pub use authorization::Permission;
pub use ids::{AuditEventId, RefreshTokenId, SessionId, UserId};
pub use password::{Password, PasswordError, PasswordHash};
pub use password_policy::{
    Blocklist, PasswordContext, PasswordPolicy, PolicyConfigError, PolicyPreset, PolicyRules, PolicyViolation,
    UnknownPolicyPreset, ViolationCode,
};
pub use session::{
    NewRefreshToken, NewSession, RefreshTokenRecord, Session, SessionLimits, SessionPolicy, SuccessorSeed,
};
pub use token::{AccessTokenClaims, DeviceToken, IssuedAccessToken, RefreshToken};
pub use user::{Email, EmailError, FullName, FullNameError, NewUser, Role, User, UserStatus};
