//! Somnium's use cases. Each takes the caller's [`RequestContext`](somnium_domain::RequestContext),
//! records its audit event through the ports, and returns an error enum of its own.

mod admin;
mod audit_trail;
mod csrf;
mod emergency;
mod error;
mod events;
mod login;
mod logout;
mod me;
mod mfa;
mod password_change;
mod refresh;
mod register;
mod service;
mod sessions;

pub use admin::{AdminError, CreateUserRequest, UpdateUserRequest};
pub use audit_trail::{AuditPruneError, MIN_RETENTION};
pub use emergency::{EndGrantError, GrantError};
pub use error::UnexpectedError;
pub use login::{LoginError, LoginOutcome, LoginRequest};
pub use logout::LogoutError;
pub use me::CurrentUserError;
pub use mfa::{ConfirmedEnrollment, Enroller, IssuedChallenge, MfaError, MfaStatus, SecondFactor, StartedEnrollment};
pub use password_change::{ChangePasswordError, PASSWORD_HISTORY_DEPTH};
pub use refresh::RefreshError;
pub use register::{RegisterError, RegisterRequest};
pub use service::{AuthService, AuthSettings, Ports, TokenPair};
pub use sessions::{EndSessionError, SessionView};
