//! Black-box tests of the HTTP API. Each case starts its own app on a random port and runs
//! once on SQLite and once on PostgreSQL.

mod access_tokens;
mod audit;
mod errors;
mod login;
mod refresh;
mod registration;
mod spec;
