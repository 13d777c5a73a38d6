use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    MfaVerified,
}

#[derive(DeriveIden)]
enum UserMfa {
    Table,
    UserId,
    Secret,
    DataKeyId,
    CreatedAt,
    ConfirmedAt,
    LastUsedStep,
    FailureCount,
    FailureWindowStart,
}

#[derive(DeriveIden)]
enum MfaRecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
    Id,
    TokenHash,
    UserId,
    Purpose,
    RememberMe,
    CreatedAt,
    ExpiresAt,
    FailedAttempts,
    UsedAt,
}

fn user_fk(
    from_table: impl IntoIden + 'static,
    from_column: impl IntoIden + 'static,
    name: &str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from_table, from_column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(
                        ColumnDef::new(Sessions::MfaVerified)
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
                    .table(UserMfa::Table)
                    .col(ColumnDef::new(UserMfa::UserId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(UserMfa::Secret).text().not_null())
                    .col(ColumnDef::new(UserMfa::DataKeyId).string_len(40).not_null())
                    .col(ColumnDef::new(UserMfa::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(UserMfa::ConfirmedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(UserMfa::LastUsedStep).big_integer().null())
                    .col(ColumnDef::new(UserMfa::FailureCount).integer().not_null().default(0))
                    .col(
                        ColumnDef::new(UserMfa::FailureWindowStart)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut user_fk(UserMfa::Table, UserMfa::UserId, "fk_user_mfa_user"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MfaRecoveryCodes::Table)
                    .col(ColumnDef::new(MfaRecoveryCodes::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(MfaRecoveryCodes::UserId).uuid().not_null())
                    .col(ColumnDef::new(MfaRecoveryCodes::CodeHash).string_len(64).not_null())
                    .col(
                        ColumnDef::new(MfaRecoveryCodes::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MfaRecoveryCodes::UsedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut user_fk(
                        MfaRecoveryCodes::Table,
                        MfaRecoveryCodes::UserId,
                        "fk_mfa_recovery_codes_user",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mfa_recovery_codes_user")
                    .table(MfaRecoveryCodes::Table)
                    .col(MfaRecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MfaChallenges::Table)
                    .col(ColumnDef::new(MfaChallenges::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(MfaChallenges::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(MfaChallenges::UserId).uuid().not_null())
                    .col(ColumnDef::new(MfaChallenges::Purpose).string_len(16).not_null())
                    .col(ColumnDef::new(MfaChallenges::RememberMe).boolean().not_null())
                    .col(
                        ColumnDef::new(MfaChallenges::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MfaChallenges::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MfaChallenges::FailedAttempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(MfaChallenges::UsedAt).timestamp_with_time_zone().null())
                    .foreign_key(&mut user_fk(
                        MfaChallenges::Table,
                        MfaChallenges::UserId,
                        "fk_mfa_challenges_user",
                    ))
                    .to_owned(),
            )
            .await
    }
}
