//! Somnium's adapters: the HTTP API, storage, password hashing and access tokens.
//!
//! Each module implements ports from `somnium_domain::ports` or drives the use cases of
//! `somnium_application`. Framework and driver types stay inside this crate.

pub mod crypto;
pub mod http;
pub mod jwt;
pub mod limits;
pub mod revocation;
pub mod storage;
pub mod user_cache;
