use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, TransactionTrait,
};
use somnium_domain::ports::{
    FieldBinding, FieldEncryption, FieldEncryptionError, InsertUserError, RepositoryError, UpdateUserError, UserFilter,
    UserPage, UserRepository,
};
use somnium_domain::{Email, FullName, NewUser, PasswordHash, Role, User, UserId, UserStatus};
use time::OffsetDateTime;

use super::audit_log::insert_event;
use super::connect::begin_write;
use super::entities::{password_history, user};
use super::errors::{corrupt_row, is_unique_violation, repository_error};
use somnium_domain::AuditEvent;

const EMAIL_FIELD: &str = "users.email";
const FULL_NAME_FIELD: &str = "users.full_name";
/// Rows read per step when a prefix search decrypts and filters emails.
const SCAN_BATCH: u64 = 500;

/// Accounts in the `users` table, with the email and full name sealed by [`FieldEncryption`]
/// and the email findable through its blind index.
#[derive(Clone)]
pub struct SqlUserRepository {
    connection: DatabaseConnection,
    encryption: Arc<dyn FieldEncryption>,
}

/// What one step of re-encryption did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResealStep {
    /// Rows now sealed under the current key.
    pub resealed: u64,
    /// Rows changed by another writer between the read and the write; the next step takes them
    /// again.
    pub raced: u64,
}

/// Why the stored rows and the configured keys do not fit together.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error("{rows} account rows are sealed under data key `{key_id}`, which the key ring does not hold")]
    MissingKey { key_id: String, rows: u64 },
    #[error(
        "account {row} is sealed under data key `{key_id}`, but the key with that id in the ring does not open it"
    )]
    WrongKey { key_id: String, row: uuid::Uuid },
    #[error("the blind-index key does not match the one the stored email index was computed with")]
    WrongBlindIndexKey,
    #[error("account {row} cannot be opened: {source}")]
    Unreadable {
        row: uuid::Uuid,
        #[source]
        source: FieldEncryptionError,
    },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl SqlUserRepository {
    pub fn new(connection: DatabaseConnection, encryption: Arc<dyn FieldEncryption>) -> Self {
        Self { connection, encryption }
    }

    fn seal(&self, field: &'static str, id: uuid::Uuid, plaintext: &str) -> Result<String, RepositoryError> {
        let row = id.to_string();
        self.encryption
            .seal(FieldBinding { field, row: &row }, plaintext)
            .map_err(|error| RepositoryError::Unexpected(Box::new(error)))
    }

    fn open(&self, field: &'static str, id: uuid::Uuid, sealed: &str) -> Result<String, FieldEncryptionError> {
        let row = id.to_string();
        self.encryption.open(FieldBinding { field, row: &row }, sealed)
    }

    fn to_domain(&self, model: user::Model) -> Result<User, RepositoryError> {
        let (email, full_name) = self.open_row(&model).map_err(|error| {
            tracing::error!(user_id = %model.id, %error, "an account row failed to decrypt");
            corrupt_row(format!("user {}: {error}", model.id))
        })?;
        to_domain(model, email, full_name)
    }

    /// Opens the email and full name of a row; rows written before encryption existed carry
    /// their plain values until startup seals them.
    fn open_row(&self, model: &user::Model) -> Result<(String, String), FieldEncryptionError> {
        if model.data_key_id.is_none() {
            return Err(FieldEncryptionError::Malformed);
        }
        let email = self.open(EMAIL_FIELD, model.id, &model.email)?;
        let full_name = self.open(FULL_NAME_FIELD, model.id, &model.full_name)?;
        Ok((email, full_name))
    }

    /// Checks that the key ring opens a row under every data key in use and that the blind-index
    /// key matches the stored index, so a wrong key stops startup instead of serving garbage.
    ///
    /// # Errors
    /// [`KeyCheckError`] describing the first mismatch.
    pub async fn check_keys(&self) -> Result<(), KeyCheckError> {
        let key_ids: Vec<Option<String>> = user::Entity::find()
            .select_only()
            .column(user::Column::DataKeyId)
            .distinct()
            .into_tuple()
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        for key_id in key_ids.into_iter().flatten() {
            let sample = user::Entity::find()
                .filter(user::Column::DataKeyId.eq(key_id.as_str()))
                .order_by_desc(user::Column::UpdatedAt)
                .one(&self.connection)
                .await
                .map_err(repository_error)?;
            let Some(sample) = sample else { continue };
            match self.open_row(&sample) {
                Ok((email, _)) => {
                    let normalized = Email::from_stored(email);
                    if self.encryption.blind_index(normalized.normalized()) != sample.email_index {
                        return Err(KeyCheckError::WrongBlindIndexKey);
                    }
                }
                Err(FieldEncryptionError::UnknownKey(_)) => {
                    let rows = user::Entity::find()
                        .filter(user::Column::DataKeyId.eq(key_id.as_str()))
                        .count(&self.connection)
                        .await
                        .map_err(repository_error)?;
                    return Err(KeyCheckError::MissingKey { key_id, rows });
                }
                Err(FieldEncryptionError::Tampered) => {
                    return Err(KeyCheckError::WrongKey { key_id, row: sample.id });
                }
                Err(source) => return Err(KeyCheckError::Unreadable { row: sample.id, source }),
            }
        }
        Ok(())
    }

    /// Counts accounts whose fields are not sealed under `key_id`.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    pub async fn count_not_under(&self, key_id: &str) -> Result<u64, RepositoryError> {
        user::Entity::find()
            .filter(not_under(key_id))
            .count(&self.connection)
            .await
            .map_err(repository_error)
    }

    /// Counts accounts sealed under `key_id`.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    pub async fn count_under(&self, key_id: &str) -> Result<u64, RepositoryError> {
        user::Entity::find()
            .filter(user::Column::DataKeyId.eq(key_id))
            .count(&self.connection)
            .await
            .map_err(repository_error)
    }

    /// Seals up to `batch` accounts that are not under the current data key with that key. Each
    /// row is written only if it still contains what was read, so a change made meanwhile by the
    /// service is never overwritten; such a row is counted in [`ResealStep::raced`] and taken
    /// again by the next step. With `unsealed_only`, only rows never sealed are taken.
    ///
    /// # Errors
    /// [`KeyCheckError`] when a row cannot be opened, naming the row.
    pub async fn reseal_batch(&self, batch: u64, unsealed_only: bool) -> Result<ResealStep, KeyCheckError> {
        let current = self.encryption.current_key_id();
        let condition = if unsealed_only {
            Condition::all().add(user::Column::DataKeyId.is_null())
        } else {
            not_under(&current)
        };
        let rows = user::Entity::find()
            .filter(condition)
            .order_by_asc(user::Column::Id)
            .limit(batch)
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        let mut step = ResealStep::default();
        for row in rows {
            let (email, full_name) = match &row.data_key_id {
                None => (row.email.clone(), row.full_name.clone()),
                Some(_) => self
                    .open_row(&row)
                    .map_err(|source| KeyCheckError::Unreadable { row: row.id, source })?,
            };
            let index = self
                .encryption
                .blind_index(Email::from_stored(email.clone()).normalized());
            let sealed_email = self.seal(EMAIL_FIELD, row.id, &email)?;
            let sealed_name = self.seal(FULL_NAME_FIELD, row.id, &full_name)?;
            let unchanged = match &row.data_key_id {
                None => user::Column::DataKeyId.is_null(),
                Some(key_id) => user::Column::DataKeyId.eq(key_id.as_str()),
            };
            let updated = user::Entity::update_many()
                .col_expr(user::Column::Email, Expr::value(sealed_email))
                .col_expr(user::Column::FullName, Expr::value(sealed_name))
                .col_expr(user::Column::EmailIndex, Expr::value(index))
                .col_expr(user::Column::DataKeyId, Expr::value(current.clone()))
                .filter(user::Column::Id.eq(row.id))
                .filter(user::Column::Email.eq(row.email.as_str()))
                .filter(user::Column::FullName.eq(row.full_name.as_str()))
                .filter(unchanged)
                .exec(&self.connection)
                .await
                .map_err(repository_error)?;
            if updated.rows_affected == 1 {
                step.resealed += 1;
            } else {
                step.raced += 1;
            }
        }
        Ok(step)
    }

    /// Lists by email prefix. The emails are sealed, so no index can match a prefix: rows are
    /// read in creation order, opened and filtered here, until the page is full.
    async fn list_by_prefix(
        &self,
        base: Select<user::Entity>,
        prefix: &str,
        filter: &UserFilter,
        limit: u64,
    ) -> Result<UserPage, RepositoryError> {
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX).saturating_add(1);
        let mut matches = Vec::new();
        let mut after = filter.after.map(|(created_at, id)| (created_at, id.as_uuid()));
        loop {
            let rows = after_cursor(base.clone(), after)
                .limit(SCAN_BATCH)
                .all(&self.connection)
                .await
                .map_err(repository_error)?;
            let exhausted = (rows.len() as u64) < SCAN_BATCH;
            after = rows.last().map(|row| (row.created_at, row.id)).or(after);
            for row in rows {
                let user = self.to_domain(row)?;
                if user.email.normalized().starts_with(prefix) {
                    matches.push(user);
                    if matches.len() == wanted {
                        break;
                    }
                }
            }
            if matches.len() == wanted || exhausted {
                break;
            }
        }
        let has_more = matches.len() == wanted;
        matches.truncate(wanted - 1);
        let next_after = if has_more {
            matches.last().map(|user| (user.created_at, user.id))
        } else {
            None
        };
        Ok(UserPage {
            users: matches,
            next_after,
        })
    }
}

fn not_under(key_id: &str) -> Condition {
    Condition::any()
        .add(user::Column::DataKeyId.is_null())
        .add(user::Column::DataKeyId.ne(key_id))
}

fn after_cursor(query: Select<user::Entity>, after: Option<(OffsetDateTime, uuid::Uuid)>) -> Select<user::Entity> {
    match after {
        None => query,
        Some((created_at, id)) => query.filter(
            user::Column::CreatedAt
                .gt(created_at)
                .or(user::Column::CreatedAt.eq(created_at).and(user::Column::Id.gt(id))),
        ),
    }
}

#[async_trait]
impl UserRepository for SqlUserRepository {
    #[tracing::instrument(name = "db.users.insert", skip_all)]
    async fn insert(&self, new_user: &NewUser, event: &AuditEvent) -> Result<(), InsertUserError> {
        let user = &new_user.user;
        let id = user.id.as_uuid();
        let model = user::Model {
            id,
            email: self.seal(EMAIL_FIELD, id, user.email.as_str())?,
            email_index: self.encryption.blind_index(user.email.normalized()),
            full_name: self.seal(FULL_NAME_FIELD, id, user.full_name.as_str())?,
            role: user.role.as_str().to_owned(),
            status: user.status.as_str().to_owned(),
            password_hash: new_user.password_hash.expose_secret().to_owned(),
            created_at: user.created_at,
            updated_at: user.created_at,
            must_change_password: user.must_change_password,
            data_key_id: Some(self.encryption.current_key_id()),
        };

        let transaction = self.connection.begin().await.map_err(repository_error)?;
        // The unique blind index of the normalized email decides a race between two registrations;
        // checking first and inserting later would let both through.
        let inserted = user::Entity::insert(model.into_active_model())
            .exec_without_returning(&transaction)
            .await;
        match inserted {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => return Err(InsertUserError::EmailTaken),
            Err(error) => return Err(repository_error(error).into()),
        }
        insert_history(&transaction, user.id, &new_user.password_hash, user.created_at).await?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)?;
        Ok(())
    }

    #[tracing::instrument(name = "db.users.find_credentials", skip_all)]
    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, PasswordHash)>, RepositoryError> {
        let found = user::Entity::find()
            .filter(user::Column::EmailIndex.eq(self.encryption.blind_index(email.normalized())))
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        found
            .map(|model| {
                let hash = PasswordHash::new(model.password_hash.clone());
                self.to_domain(model).map(|user| (user, hash))
            })
            .transpose()
    }

    #[tracing::instrument(name = "db.users.find_credentials_by_id", skip_all)]
    async fn find_credentials_by_id(&self, id: UserId) -> Result<Option<PasswordHash>, RepositoryError> {
        let found = user::Entity::find_by_id(id.as_uuid())
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(found.map(|model| PasswordHash::new(model.password_hash)))
    }

    #[tracing::instrument(name = "db.users.find_by_id", skip_all)]
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        let found = user::Entity::find_by_id(id.as_uuid())
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        found.map(|model| self.to_domain(model)).transpose()
    }

    #[tracing::instrument(name = "db.users.update_password_hash", skip_all)]
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
    ) -> Result<(), RepositoryError> {
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.expose_secret()))
            .col_expr(user::Column::UpdatedAt, Expr::value(at))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .exec(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(())
    }

    #[tracing::instrument(name = "db.users.change_password", skip_all)]
    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.expose_secret()))
            .col_expr(user::Column::UpdatedAt, Expr::value(at))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        user::Entity::update_many()
            .col_expr(user::Column::MustChangePassword, Expr::value(false))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        insert_history(&transaction, id, hash, at).await?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)
    }

    #[tracing::instrument(name = "db.users.list", skip_all)]
    async fn list(&self, filter: &UserFilter, limit: u64) -> Result<UserPage, RepositoryError> {
        let mut query = user::Entity::find()
            .order_by_asc(user::Column::CreatedAt)
            .order_by_asc(user::Column::Id);
        if let Some(role) = filter.role {
            query = query.filter(user::Column::Role.eq(role.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(user::Column::Status.eq(status.as_str()));
        }
        if let Some(prefix) = &filter.email_prefix {
            return self.list_by_prefix(query, prefix, filter, limit).await;
        }
        let query = after_cursor(query, filter.after.map(|(created_at, id)| (created_at, id.as_uuid())));
        let rows = query
            .limit(limit + 1)
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        let has_more = rows.len() as u64 > limit;
        let users: Vec<User> = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|model| self.to_domain(model))
            .collect::<Result<_, _>>()?;
        let next_after = if has_more {
            users.last().map(|user| (user.created_at, user.id))
        } else {
            None
        };
        Ok(UserPage { users, next_after })
    }

    #[tracing::instrument(name = "db.users.update_account", skip_all)]
    async fn update_account(&self, user: &User, at: OffsetDateTime, event: &AuditEvent) -> Result<(), UpdateUserError> {
        let transaction = begin_write(&self.connection).await.map_err(repository_error)?;
        if transaction.get_database_backend() == DbBackend::Postgres {
            // Serializes changes that could remove an ADMIN, so two that race cannot both pass
            // the check below. SQLite's single writer serializes them already.
            transaction
                .execute_unprepared("SELECT pg_advisory_xact_lock(7310452001)")
                .await
                .map_err(repository_error)?;
        }
        let id = user.id.as_uuid();
        let Some(before) = user::Entity::find_by_id(id)
            .one(&transaction)
            .await
            .map_err(repository_error)?
        else {
            return Err(UpdateUserError::NotFound);
        };
        let was_active_admin = before.role == Role::Admin.as_str() && before.status == UserStatus::Active.as_str();
        // Both sealed fields are written anew under the current key, so the row's data key id
        // stays true for all of them.
        let updated = user::Entity::update_many()
            .col_expr(user::Column::Role, Expr::value(user.role.as_str()))
            .col_expr(user::Column::Status, Expr::value(user.status.as_str()))
            .col_expr(
                user::Column::Email,
                Expr::value(self.seal(EMAIL_FIELD, id, user.email.as_str())?),
            )
            .col_expr(
                user::Column::FullName,
                Expr::value(self.seal(FULL_NAME_FIELD, id, user.full_name.as_str())?),
            )
            .col_expr(user::Column::DataKeyId, Expr::value(self.encryption.current_key_id()))
            .col_expr(user::Column::UpdatedAt, Expr::value(at))
            .filter(user::Column::Id.eq(user.id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        if updated.rows_affected == 0 {
            return Err(UpdateUserError::NotFound);
        }
        // Only a change to an active ADMIN can remove the last one; checking every change would
        // refuse all of them on a system that has no administrator yet.
        if was_active_admin && active_admins(&transaction).await? == 0 {
            transaction.rollback().await.map_err(repository_error)?;
            return Err(UpdateUserError::LastAdmin);
        }
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)?;
        Ok(())
    }

    #[tracing::instrument(name = "db.users.count_active_admins", skip_all)]
    async fn count_active_admins(&self) -> Result<u64, RepositoryError> {
        active_admins(&self.connection).await
    }

    #[tracing::instrument(name = "db.users.recent_password_hashes", skip_all)]
    async fn recent_password_hashes(&self, id: UserId, limit: usize) -> Result<Vec<PasswordHash>, RepositoryError> {
        let rows = password_history::Entity::find()
            .filter(password_history::Column::UserId.eq(id.as_uuid()))
            .order_by_desc(password_history::Column::CreatedAt)
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(rows
            .into_iter()
            .map(|row| PasswordHash::new(row.password_hash))
            .collect())
    }
}

async fn insert_history<C: ConnectionTrait>(
    connection: &C,
    user_id: UserId,
    hash: &PasswordHash,
    at: OffsetDateTime,
) -> Result<(), RepositoryError> {
    let mut id = [0_u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    let row = password_history::Model {
        id: uuid::Builder::from_random_bytes(id).into_uuid(),
        user_id: user_id.as_uuid(),
        password_hash: hash.expose_secret().to_owned(),
        created_at: at,
    };
    password_history::Entity::insert(row.into_active_model())
        .exec_without_returning(connection)
        .await
        .map_err(repository_error)?;
    Ok(())
}

fn to_domain(model: user::Model, email: String, full_name: String) -> Result<User, RepositoryError> {
    let role = model
        .role
        .parse::<Role>()
        .map_err(|error| corrupt_row(format!("user {}: {error}", model.id)))?;
    let status = model
        .status
        .parse::<UserStatus>()
        .map_err(|error| corrupt_row(format!("user {}: {error}", model.id)))?;
    Ok(User {
        id: UserId::from_uuid(model.id),
        email: Email::from_stored(email),
        full_name: FullName::from_stored(full_name),
        role,
        status,
        created_at: model.created_at,
        must_change_password: model.must_change_password,
    })
}

async fn active_admins<C: ConnectionTrait>(connection: &C) -> Result<u64, RepositoryError> {
    user::Entity::find()
        .filter(user::Column::Role.eq(Role::Admin.as_str()))
        .filter(user::Column::Status.eq(UserStatus::Active.as_str()))
        .count(connection)
        .await
        .map_err(repository_error)
}
