//! sea-orm models of the tables. They never leave the storage module.

pub mod audit_event;
pub mod password_history;
pub mod refresh_token;
pub mod session;
pub mod user;
