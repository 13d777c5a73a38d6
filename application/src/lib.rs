//! Somnium's use cases. Each takes the caller's [`RequestContext`](somnium_domain::RequestContext),
//! records its audit event through the ports, and returns an error enum of its own.

mod error;
mod events;
mod login;
mod logout;
mod me;
mod refresh;
mod register;
mod service;

pub use error::UnexpectedError;
pub use login::{LoginError, LoginRequest};
pub use logout::LogoutError;
pub use me::CurrentUserError;
pub use refresh::RefreshError;
pub use register::{RegisterError, RegisterRequest};
pub use service::{AuthService, AuthSettings, Ports, TokenPair};
