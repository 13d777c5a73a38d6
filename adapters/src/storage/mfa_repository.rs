use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{CaseStatement, Expr};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    TransactionTrait,
};
use somnium_domain::mfa::{ChallengePurpose, MfaChallenge, TotpEnrollment, TotpSecret, CHALLENGE_MAX_FAILURES};
use somnium_domain::ports::{FieldBinding, FieldEncryption, MfaRepository, MfaStoreError, RepositoryError};
use somnium_domain::{AuditEvent, UserId};
use time::{Duration, OffsetDateTime};

use super::audit_log::insert_event;
use super::connect::begin_write;
use super::entities::{mfa_challenge, mfa_recovery_code, user_mfa};
use super::errors::{corrupt_row, repository_error};

const SECRET_FIELD: &str = "user_mfa.secret";
/// Challenges are deleted this long after they expire; until then they show in the database
/// for an investigation of a sign-in.
const CHALLENGE_RETENTION: Duration = Duration::days(1);

/// TOTP enrollments (secrets sealed by [`FieldEncryption`]), recovery-code hashes and
/// second-factor challenges.
#[derive(Clone)]
pub struct SqlMfaRepository {
    connection: DatabaseConnection,
    encryption: Arc<dyn FieldEncryption>,
}

impl SqlMfaRepository {
    pub fn new(connection: DatabaseConnection, encryption: Arc<dyn FieldEncryption>) -> Self {
        Self { connection, encryption }
    }

    fn seal(&self, user_id: UserId, secret: &TotpSecret) -> Result<String, RepositoryError> {
        let row = user_id.to_string();
        self.encryption
            .seal(
                FieldBinding {
                    field: SECRET_FIELD,
                    row: &row,
                },
                &secret.expose_base32(),
            )
            .map_err(|error| RepositoryError::Unexpected(Box::new(error)))
    }

    fn open(&self, row: &user_mfa::Model) -> Result<TotpSecret, RepositoryError> {
        let id = row.user_id.to_string();
        let text = self
            .encryption
            .open(
                FieldBinding {
                    field: SECRET_FIELD,
                    row: &id,
                },
                &row.secret,
            )
            .map_err(|error| {
                tracing::error!(user_id = %row.user_id, %error, "a TOTP secret failed to decrypt");
                corrupt_row(format!("user_mfa {}: {error}", row.user_id))
            })?;
        TotpSecret::from_base32(&text)
            .ok_or_else(|| corrupt_row(format!("user_mfa {}: not a TOTP secret", row.user_id)))
    }

    /// Seals every TOTP secret not under the current data key with it, writing each only if it
    /// is unchanged since it was read.
    ///
    /// # Errors
    /// [`RepositoryError`] when a secret cannot be opened or the store fails.
    pub async fn reseal(&self) -> Result<u64, RepositoryError> {
        let current = self.encryption.current_key_id();
        let rows = user_mfa::Entity::find()
            .filter(user_mfa::Column::DataKeyId.ne(current.as_str()))
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        let mut resealed = 0;
        for row in rows {
            let secret = self.open(&row)?;
            let sealed = self.seal(UserId::from_uuid(row.user_id), &secret)?;
            let updated = user_mfa::Entity::update_many()
                .col_expr(user_mfa::Column::Secret, Expr::value(sealed))
                .col_expr(user_mfa::Column::DataKeyId, Expr::value(current.clone()))
                .filter(user_mfa::Column::UserId.eq(row.user_id))
                .filter(user_mfa::Column::Secret.eq(row.secret.as_str()))
                .exec(&self.connection)
                .await
                .map_err(repository_error)?;
            resealed += updated.rows_affected;
        }
        Ok(resealed)
    }

    /// Counts TOTP secrets sealed under the data key `key_id`.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    pub async fn count_under(&self, key_id: &str) -> Result<u64, RepositoryError> {
        user_mfa::Entity::find()
            .filter(user_mfa::Column::DataKeyId.eq(key_id))
            .count(&self.connection)
            .await
            .map_err(repository_error)
    }

    async fn find_row(&self, user_id: UserId) -> Result<Option<user_mfa::Model>, RepositoryError> {
        user_mfa::Entity::find_by_id(user_id.as_uuid())
            .one(&self.connection)
            .await
            .map_err(repository_error)
    }
}

fn new_id() -> uuid::Uuid {
    let mut bytes = [0_u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn recovery_code_rows(user_id: UserId, hashes: &[String], now: OffsetDateTime) -> Vec<mfa_recovery_code::ActiveModel> {
    hashes
        .iter()
        .map(|hash| {
            mfa_recovery_code::Model {
                id: new_id(),
                user_id: user_id.as_uuid(),
                code_hash: hash.clone(),
                created_at: now,
                used_at: None,
            }
            .into_active_model()
        })
        .collect()
}

fn failures_in_window(row: &user_mfa::Model, now: OffsetDateTime, window: Duration) -> u32 {
    match row.failure_window_start {
        Some(start) if start > now - window => u32::try_from(row.failure_count).unwrap_or(0),
        _ => 0,
    }
}

#[async_trait]
impl MfaRepository for SqlMfaRepository {
    #[tracing::instrument(name = "db.mfa.find_enrollment", skip_all)]
    async fn find_enrollment(&self, user_id: UserId) -> Result<Option<TotpEnrollment>, RepositoryError> {
        let Some(row) = self.find_row(user_id).await? else {
            return Ok(None);
        };
        Ok(Some(TotpEnrollment {
            user_id,
            secret: self.open(&row)?,
            confirmed_at: row.confirmed_at,
            last_used_step: row.last_used_step,
        }))
    }

    #[tracing::instrument(name = "db.mfa.start_enrollment", skip_all)]
    async fn start_enrollment(
        &self,
        user_id: UserId,
        secret: &TotpSecret,
        now: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), MfaStoreError> {
        let sealed = self.seal(user_id, secret)?;
        let transaction = begin_write(&self.connection).await.map_err(repository_error)?;
        let existing = user_mfa::Entity::find_by_id(user_id.as_uuid())
            .one(&transaction)
            .await
            .map_err(repository_error)?;
        match existing {
            Some(row) if row.confirmed_at.is_some() => return Err(MfaStoreError::AlreadyEnabled),
            Some(_) => {
                // Replacing a pending secret keeps the failure count, so starting over does not
                // reset the account's limit on wrong codes.
                let updated = user_mfa::Entity::update_many()
                    .col_expr(user_mfa::Column::Secret, Expr::value(sealed))
                    .col_expr(
                        user_mfa::Column::DataKeyId,
                        Expr::value(self.encryption.current_key_id()),
                    )
                    .col_expr(user_mfa::Column::CreatedAt, Expr::value(now))
                    .col_expr(user_mfa::Column::LastUsedStep, Expr::value(Option::<i64>::None))
                    .filter(user_mfa::Column::UserId.eq(user_id.as_uuid()))
                    .filter(user_mfa::Column::ConfirmedAt.is_null())
                    .exec(&transaction)
                    .await
                    .map_err(repository_error)?;
                if updated.rows_affected == 0 {
                    return Err(MfaStoreError::AlreadyEnabled);
                }
            }
            None => {
                let row = user_mfa::Model {
                    user_id: user_id.as_uuid(),
                    secret: sealed,
                    data_key_id: self.encryption.current_key_id(),
                    created_at: now,
                    confirmed_at: None,
                    last_used_step: None,
                    failure_count: 0,
                    failure_window_start: None,
                };
                user_mfa::Entity::insert(row.into_active_model())
                    .exec_without_returning(&transaction)
                    .await
                    .map_err(repository_error)?;
            }
        }
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)?;
        Ok(())
    }

    #[tracing::instrument(name = "db.mfa.confirm_enrollment", skip_all)]
    async fn confirm_enrollment(
        &self,
        user_id: UserId,
        step: i64,
        recovery_code_hashes: &[String],
        now: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        let updated = user_mfa::Entity::update_many()
            .col_expr(user_mfa::Column::ConfirmedAt, Expr::value(now))
            .col_expr(user_mfa::Column::LastUsedStep, Expr::value(step))
            .filter(user_mfa::Column::UserId.eq(user_id.as_uuid()))
            .filter(user_mfa::Column::ConfirmedAt.is_null())
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        if updated.rows_affected == 0 {
            transaction.rollback().await.map_err(repository_error)?;
            return Ok(false);
        }
        mfa_recovery_code::Entity::delete_many()
            .filter(mfa_recovery_code::Column::UserId.eq(user_id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        mfa_recovery_code::Entity::insert_many(recovery_code_rows(user_id, recovery_code_hashes, now))
            .exec_without_returning(&transaction)
            .await
            .map_err(repository_error)?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)?;
        Ok(true)
    }

    #[tracing::instrument(name = "db.mfa.accept_step", skip_all)]
    async fn accept_step(&self, user_id: UserId, step: i64) -> Result<bool, RepositoryError> {
        let newer = Condition::any()
            .add(user_mfa::Column::LastUsedStep.is_null())
            .add(user_mfa::Column::LastUsedStep.lt(step));
        let updated = user_mfa::Entity::update_many()
            .col_expr(user_mfa::Column::LastUsedStep, Expr::value(step))
            .filter(user_mfa::Column::UserId.eq(user_id.as_uuid()))
            .filter(user_mfa::Column::ConfirmedAt.is_not_null())
            .filter(newer)
            .exec(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(updated.rows_affected == 1)
    }

    #[tracing::instrument(name = "db.mfa.spend_recovery_code", skip_all)]
    async fn spend_recovery_code(
        &self,
        user_id: UserId,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, RepositoryError> {
        let updated = mfa_recovery_code::Entity::update_many()
            .col_expr(mfa_recovery_code::Column::UsedAt, Expr::value(now))
            .filter(mfa_recovery_code::Column::UserId.eq(user_id.as_uuid()))
            .filter(mfa_recovery_code::Column::CodeHash.eq(hash))
            .filter(mfa_recovery_code::Column::UsedAt.is_null())
            .exec(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(updated.rows_affected > 0)
    }

    #[tracing::instrument(name = "db.mfa.replace_recovery_codes", skip_all)]
    async fn replace_recovery_codes(
        &self,
        user_id: UserId,
        hashes: &[String],
        now: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        mfa_recovery_code::Entity::delete_many()
            .filter(mfa_recovery_code::Column::UserId.eq(user_id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        mfa_recovery_code::Entity::insert_many(recovery_code_rows(user_id, hashes, now))
            .exec_without_returning(&transaction)
            .await
            .map_err(repository_error)?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)
    }

    #[tracing::instrument(name = "db.mfa.unused_recovery_codes", skip_all)]
    async fn unused_recovery_codes(&self, user_id: UserId) -> Result<u64, RepositoryError> {
        mfa_recovery_code::Entity::find()
            .filter(mfa_recovery_code::Column::UserId.eq(user_id.as_uuid()))
            .filter(mfa_recovery_code::Column::UsedAt.is_null())
            .count(&self.connection)
            .await
            .map_err(repository_error)
    }

    #[tracing::instrument(name = "db.mfa.remove", skip_all)]
    async fn remove(&self, user_id: UserId, event: &AuditEvent) -> Result<bool, RepositoryError> {
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        let removed = user_mfa::Entity::delete_many()
            .filter(user_mfa::Column::UserId.eq(user_id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        if removed.rows_affected == 0 {
            transaction.rollback().await.map_err(repository_error)?;
            return Ok(false);
        }
        mfa_recovery_code::Entity::delete_many()
            .filter(mfa_recovery_code::Column::UserId.eq(user_id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        mfa_challenge::Entity::update_many()
            .col_expr(mfa_challenge::Column::UsedAt, Expr::value(event.occurred_at))
            .filter(mfa_challenge::Column::UserId.eq(user_id.as_uuid()))
            .filter(mfa_challenge::Column::UsedAt.is_null())
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)?;
        Ok(true)
    }

    #[tracing::instrument(name = "db.mfa.record_account_failure", skip_all)]
    async fn record_account_failure(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<u32, RepositoryError> {
        // One statement both tests and moves the window, so concurrent failures on several
        // instances all count.
        let in_window = Condition::all()
            .add(user_mfa::Column::FailureWindowStart.is_not_null())
            .add(user_mfa::Column::FailureWindowStart.gt(now - window));
        let count = CaseStatement::new()
            .case(in_window.clone(), Expr::col(user_mfa::Column::FailureCount).add(1))
            .finally(1);
        let start = CaseStatement::new()
            .case(in_window, Expr::col(user_mfa::Column::FailureWindowStart))
            .finally(Expr::value(now));
        user_mfa::Entity::update_many()
            .col_expr(user_mfa::Column::FailureCount, count.into())
            .col_expr(user_mfa::Column::FailureWindowStart, start.into())
            .filter(user_mfa::Column::UserId.eq(user_id.as_uuid()))
            .exec(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(self
            .find_row(user_id)
            .await?
            .map_or(0, |row| failures_in_window(&row, now, window)))
    }

    #[tracing::instrument(name = "db.mfa.account_failures", skip_all)]
    async fn account_failures(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<u32, RepositoryError> {
        Ok(self
            .find_row(user_id)
            .await?
            .map_or(0, |row| failures_in_window(&row, now, window)))
    }

    #[tracing::instrument(name = "db.mfa.create_challenge", skip_all)]
    async fn create_challenge(&self, challenge: &MfaChallenge, event: &AuditEvent) -> Result<(), RepositoryError> {
        let row = mfa_challenge::Model {
            id: challenge.id,
            token_hash: challenge.token_hash.clone(),
            user_id: challenge.user_id.as_uuid(),
            purpose: challenge.purpose.as_str().to_owned(),
            remember_me: challenge.remember_me,
            created_at: challenge.created_at,
            expires_at: challenge.expires_at,
            failed_attempts: 0,
            used_at: None,
        };
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        mfa_challenge::Entity::delete_many()
            .filter(mfa_challenge::Column::ExpiresAt.lt(challenge.created_at - CHALLENGE_RETENTION))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        mfa_challenge::Entity::insert(row.into_active_model())
            .exec_without_returning(&transaction)
            .await
            .map_err(repository_error)?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)
    }

    #[tracing::instrument(name = "db.mfa.find_challenge", skip_all)]
    async fn find_challenge(&self, token_hash: &str) -> Result<Option<MfaChallenge>, RepositoryError> {
        let row = mfa_challenge::Entity::find()
            .filter(mfa_challenge::Column::TokenHash.eq(token_hash))
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        row.map(|row| {
            let purpose = ChallengePurpose::parse(&row.purpose)
                .ok_or_else(|| corrupt_row(format!("mfa_challenge {}: unknown purpose", row.id)))?;
            Ok(MfaChallenge {
                id: row.id,
                token_hash: row.token_hash,
                user_id: UserId::from_uuid(row.user_id),
                purpose,
                remember_me: row.remember_me,
                created_at: row.created_at,
                expires_at: row.expires_at,
                failed_attempts: u32::try_from(row.failed_attempts).unwrap_or(u32::MAX),
                used_at: row.used_at,
            })
        })
        .transpose()
    }

    #[tracing::instrument(name = "db.mfa.fail_challenge", skip_all)]
    async fn fail_challenge(&self, id: uuid::Uuid) -> Result<u32, RepositoryError> {
        mfa_challenge::Entity::update_many()
            .col_expr(
                mfa_challenge::Column::FailedAttempts,
                Expr::col(mfa_challenge::Column::FailedAttempts).add(1),
            )
            .filter(mfa_challenge::Column::Id.eq(id))
            .exec(&self.connection)
            .await
            .map_err(repository_error)?;
        let row = mfa_challenge::Entity::find_by_id(id)
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(row.map_or(CHALLENGE_MAX_FAILURES, |row| {
            u32::try_from(row.failed_attempts).unwrap_or(u32::MAX)
        }))
    }

    #[tracing::instrument(name = "db.mfa.consume_challenge", skip_all)]
    async fn consume_challenge(&self, id: uuid::Uuid, now: OffsetDateTime) -> Result<bool, RepositoryError> {
        let updated = mfa_challenge::Entity::update_many()
            .col_expr(mfa_challenge::Column::UsedAt, Expr::value(now))
            .filter(mfa_challenge::Column::Id.eq(id))
            .filter(mfa_challenge::Column::UsedAt.is_null())
            .filter(mfa_challenge::Column::FailedAttempts.lt(i32::try_from(CHALLENGE_MAX_FAILURES).unwrap_or(i32::MAX)))
            .exec(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(updated.rows_affected == 1)
    }
}
