//! Storage on PostgreSQL or SQLite through sea-orm. The same migrations run on both.

pub mod audit_chain;
mod audit_log;
mod connect;
mod emergency_repository;
pub mod entities;
mod errors;
mod mfa_repository;
pub mod migration;
mod session_repository;
mod signing_keys;
mod user_repository;

pub use audit_log::SqlAuditLog;
pub use connect::{connect, migrate, ping, DatabaseSettings, StorageError};
pub use emergency_repository::SqlEmergencyGrants;
pub use mfa_repository::SqlMfaRepository;
pub use session_repository::SqlSessionRepository;
pub use signing_keys::{SigningKeyStoreError, SqlSigningKeys, StoredSigningKey};
pub use user_repository::{KeyCheckError, ResealStep, SqlUserRepository};
