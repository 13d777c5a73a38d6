use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder, Set};
use sea_orm_migration::prelude::*;

use crate::storage::audit_chain::{self, GENESIS_HASH};
use crate::storage::entities::audit_event;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Sequence,
    PreviousHash,
    Hash,
    Severity,
    ActorId,
    Changes,
}

#[derive(DeriveIden)]
enum AuditChainHead {
    Table,
    Id,
    Sequence,
    Hash,
}

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Id,
    CreatedAt,
    PrunedBefore,
    FirstSequence,
    PreviousHash,
    PrunedCount,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    MustChangePassword,
}

#[derive(DeriveIden)]
enum EmergencyGrants {
    Table,
    Id,
    UserId,
    SessionId,
    Reason,
    PatientRef,
    CreatedAt,
    ExpiresAt,
    EndedAt,
    EndedBy,
}

const SQLITE_TRIGGERS: [&str; 2] = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
];

const POSTGRES_TRIGGERS: [&str; 3] = [
    "CREATE OR REPLACE FUNCTION somnium_audit_append_only() RETURNS trigger AS $$ \
     BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events \
     FOR EACH ROW EXECUTE FUNCTION somnium_audit_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events \
     FOR EACH STATEMENT EXECUTE FUNCTION somnium_audit_append_only()",
];

/// The statements that make `audit_events` append-only on this backend.
pub fn append_only_triggers(backend: sea_orm::DbBackend) -> &'static [&'static str] {
    match backend {
        sea_orm::DbBackend::Postgres => &POSTGRES_TRIGGERS,
        _ => &SQLITE_TRIGGERS,
    }
}

/// The statements that drop those triggers, for pruning outside retention.
pub fn drop_append_only_triggers(backend: sea_orm::DbBackend) -> &'static [&'static str] {
    match backend {
        sea_orm::DbBackend::Postgres => &[
            "DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events",
            "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
        ],
        _ => &[
            "DROP TRIGGER IF EXISTS audit_events_no_update",
            "DROP TRIGGER IF EXISTS audit_events_no_delete",
        ],
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(AuditEvents::Sequence).big_integer().null().to_owned(),
            ColumnDef::new(AuditEvents::PreviousHash)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(AuditEvents::Hash).string_len(64).null().to_owned(),
            ColumnDef::new(AuditEvents::Severity).string_len(16).null().to_owned(),
            ColumnDef::new(AuditEvents::ActorId).uuid().null().to_owned(),
            ColumnDef::new(AuditEvents::Changes).text().null().to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_audit_events_sequence")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Sequence)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditChainHead::Table)
                    .col(ColumnDef::new(AuditChainHead::Id).integer().not_null().primary_key())
                    .col(ColumnDef::new(AuditChainHead::Sequence).big_integer().not_null())
                    .col(ColumnDef::new(AuditChainHead::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditCheckpoints::Table)
                    .col(ColumnDef::new(AuditCheckpoints::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(AuditCheckpoints::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditCheckpoints::PrunedBefore)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditCheckpoints::FirstSequence).big_integer().not_null())
                    .col(ColumnDef::new(AuditCheckpoints::PreviousHash).string_len(64).not_null())
                    .col(ColumnDef::new(AuditCheckpoints::PrunedCount).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::MustChangePassword)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EmergencyGrants::Table)
                    .col(ColumnDef::new(EmergencyGrants::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(EmergencyGrants::UserId).uuid().not_null())
                    .col(ColumnDef::new(EmergencyGrants::SessionId).uuid().not_null())
                    .col(ColumnDef::new(EmergencyGrants::Reason).text().not_null())
                    .col(ColumnDef::new(EmergencyGrants::PatientRef).string_len(128).null())
                    .col(
                        ColumnDef::new(EmergencyGrants::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EmergencyGrants::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EmergencyGrants::EndedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(EmergencyGrants::EndedBy).uuid().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_emergency_grants_user")
                            .from(EmergencyGrants::Table, EmergencyGrants::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        let head_hash = backfill_chain(manager).await?;
        let connection = manager.get_connection();
        let backend = manager.get_database_backend();
        let head = format!(
            "INSERT INTO audit_chain_head (id, sequence, hash) VALUES (1, {}, '{}')",
            head_hash.0, head_hash.1
        );
        connection.execute_unprepared(&head).await?;
        for statement in append_only_triggers(backend) {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for statement in drop_append_only_triggers(backend) {
            manager.get_connection().execute_unprepared(statement).await?;
        }
        manager
            .drop_table(Table::drop().table(EmergencyGrants::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AuditCheckpoints::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AuditChainHead::Table).to_owned())
            .await
    }
}

/// Chains the events written before the chain existed, oldest first, and returns the head.
async fn backfill_chain(manager: &SchemaManager<'_>) -> Result<(i64, String), DbErr> {
    let connection = manager.get_connection();
    let events = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::OccurredAt)
        .order_by_asc(audit_event::Column::Id)
        .all(connection)
        .await?;
    let mut sequence = 0_i64;
    let mut previous = GENESIS_HASH.to_owned();
    for event in events {
        sequence += 1;
        let mut chained = event.clone();
        chained.sequence = Some(sequence);
        chained.previous_hash = Some(previous.clone());
        chained.severity = Some(chained.severity.unwrap_or_else(|| "info".to_owned()));
        let hash = audit_chain::hash(&chained);
        let mut active = event.into_active_model();
        active.sequence = Set(Some(sequence));
        active.previous_hash = Set(Some(previous));
        active.severity = Set(chained.severity.clone());
        active.hash = Set(Some(hash.clone()));
        active.update(connection).await?;
        previous = hash;
    }
    Ok((sequence, previous))
}
