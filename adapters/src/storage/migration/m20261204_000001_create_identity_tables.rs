use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    EmailNormalized,
    FullName,
    Role,
    Status,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    AuthTime,
    ExpiresAt,
    RememberMe,
    RevokedAt,
    ClientIp,
    UserAgent,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    SessionId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    SuccessorSeed,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    EventType,
    UserId,
    Resource,
    Outcome,
    Detail,
    ClientIp,
    UserAgent,
    RequestId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Users::Email).string_len(254).not_null())
                    .col(
                        ColumnDef::new(Users::EmailNormalized)
                            .string_len(254)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::FullName).string_len(800).not_null())
                    .col(ColumnDef::new(Users::Role).string_len(32).not_null())
                    .col(ColumnDef::new(Users::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Users::PasswordHash).text().not_null())
                    .col(ColumnDef::new(Users::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Users::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(ColumnDef::new(Sessions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Sessions::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(Sessions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Sessions::AuthTime).timestamp_with_time_zone().not_null())
                    .col(
                        ColumnDef::new(Sessions::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Sessions::RememberMe).boolean().not_null())
                    .col(ColumnDef::new(Sessions::RevokedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Sessions::ClientIp).string_len(64).null())
                    .col(ColumnDef::new(Sessions::UserAgent).string_len(512).null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(ColumnDef::new(RefreshTokens::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(RefreshTokens::SessionId).uuid().not_null())
                    .col(
                        ColumnDef::new(RefreshTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::RotatedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(RefreshTokens::SuccessorSeed).string_len(64).null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_session")
                            .from(RefreshTokens::Table, RefreshTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_refresh_tokens_session")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::SessionId)
                    .to_owned(),
            )
            .await?;

        // Audit rows carry no foreign key: the trail must outlive the users and sessions it
        // describes.
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(ColumnDef::new(AuditEvents::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(AuditEvents::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::EventType).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEvents::UserId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::Resource).string_len(128).null())
                    .col(ColumnDef::new(AuditEvents::Outcome).string_len(16).not_null())
                    .col(ColumnDef::new(AuditEvents::Detail).string_len(128).null())
                    .col(ColumnDef::new(AuditEvents::ClientIp).string_len(64).null())
                    .col(ColumnDef::new(AuditEvents::UserAgent).string_len(512).null())
                    .col(ColumnDef::new(AuditEvents::RequestId).string_len(128).null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_audit_events_occurred_at", AuditEvents::OccurredAt),
            ("ix_audit_events_user", AuditEvents::UserId),
            ("ix_audit_events_type", AuditEvents::EventType),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RefreshTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}
