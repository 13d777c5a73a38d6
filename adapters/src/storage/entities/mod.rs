//! sea-orm models of the tables. They never leave the storage module.

pub mod audit_chain_head;
pub mod audit_checkpoint;
pub mod audit_event;
pub mod emergency_grant;
pub mod mfa_challenge;
pub mod mfa_recovery_code;
pub mod password_history;
pub mod refresh_token;
pub mod session;
pub mod signing_key;
pub mod user;
pub mod user_mfa;
