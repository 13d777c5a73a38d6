//! Black-box tests of the HTTP API. Each case starts its own app on a random port and runs
//! once on SQLite and once on PostgreSQL.

mod access_tokens;
mod account_reads;
mod admin;
mod audit;
mod audit_chain;
mod browser_sessions;
mod database;
mod emergency;
mod encryption;
mod errors;
mod lockout;
mod login;
mod mfa;
mod password_policy;
mod rate_limits;
mod redis_sharing;
mod refresh;
mod registration;
mod sessions;
mod spec;
mod transport;
