//! Schema migrations, shared by PostgreSQL and SQLite.

use sea_orm_migration::prelude::*;

mod m20261204_000001_create_identity_tables;
mod m20261204_000002_sessions_and_password_history;
pub(crate) mod m20261204_000003_audit_chain_and_admin;
mod m20261204_000004_field_encryption_and_signing_keys;
mod m20261204_000005_second_factor;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261204_000001_create_identity_tables::Migration),
            Box::new(m20261204_000002_sessions_and_password_history::Migration),
            Box::new(m20261204_000003_audit_chain_and_admin::Migration),
            Box::new(m20261204_000004_field_encryption_and_signing_keys::Migration),
            Box::new(m20261204_000005_second_factor::Migration),
        ]
    }
}
