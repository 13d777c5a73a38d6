use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    EmailNormalized,
    EmailIndex,
    Email,
    FullName,
    DataKeyId,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Generation,
    PrivateKey,
    DataKeyId,
    CreatedAt,
    ActivatesAt,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Rows written before this migration keep their plain values with no data key id;
        // startup seals them, and `email_index` then contains the blind index instead of the
        // normalized email. Renaming keeps the column's unique constraint on both backends.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .rename_column(Users::EmailNormalized, Users::EmailIndex)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::DataKeyId).string_len(40).null())
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            // Sealed values are longer than the plain ones; SQLite does not enforce lengths.
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .modify_column(ColumnDef::new(Users::Email).text().not_null())
                        .modify_column(ColumnDef::new(Users::FullName).text().not_null())
                        .modify_column(ColumnDef::new(Users::EmailIndex).string_len(254).not_null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_users_data_key")
                    .table(Users::Table)
                    .col(Users::DataKeyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(ColumnDef::new(SigningKeys::Kid).string_len(64).not_null().primary_key())
                    .col(
                        ColumnDef::new(SigningKeys::Generation)
                            .integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(SigningKeys::PrivateKey).text().not_null())
                    .col(ColumnDef::new(SigningKeys::DataKeyId).string_len(40).not_null())
                    .col(
                        ColumnDef::new(SigningKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SigningKeys::ActivatesAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SigningKeys::RetiredAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }
}
