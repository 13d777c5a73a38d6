use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use somnium_domain::ports::{InsertUserError, RepositoryError, UpdateUserError, UserFilter, UserPage, UserRepository};
use somnium_domain::{Email, FullName, NewUser, PasswordHash, Role, User, UserId, UserStatus};
use time::OffsetDateTime;

use super::audit_log::insert_event;
use super::entities::{password_history, user};
use super::errors::{corrupt_row, is_unique_violation, repository_error};
use somnium_domain::AuditEvent;

/// Accounts in the `users` table.
#[derive(Clone)]
pub struct SqlUserRepository {
    connection: DatabaseConnection,
}

impl SqlUserRepository {
    pub fn new(connection: DatabaseConnection) -> Self {
        Self { connection }
    }
}

#[async_trait]
impl UserRepository for SqlUserRepository {
    #[tracing::instrument(name = "db.users.insert", skip_all)]
    async fn insert(&self, new_user: &NewUser, event: &AuditEvent) -> Result<(), InsertUserError> {
        let user = &new_user.user;
        let model = user::Model {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            email_normalized: user.email.normalized().to_owned(),
            full_name: user.full_name.as_str().to_owned(),
            role: user.role.as_str().to_owned(),
            status: user.status.as_str().to_owned(),
            password_hash: new_user.password_hash.expose_secret().to_owned(),
            created_at: user.created_at,
            updated_at: user.created_at,
            must_change_password: user.must_change_password,
        };

        let transaction = self.connection.begin().await.map_err(repository_error)?;
        // The unique index on the normalized email decides a race between two registrations;
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
            .filter(user::Column::EmailNormalized.eq(email.normalized()))
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        found
            .map(|model| {
                let hash = PasswordHash::new(model.password_hash.clone());
                to_domain(model).map(|user| (user, hash))
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
        found.map(to_domain).transpose()
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
            query = query.filter(user::Column::EmailNormalized.starts_with(prefix.as_str()));
        }
        if let Some((created_at, id)) = filter.after {
            query = query.filter(
                user::Column::CreatedAt.gt(created_at).or(user::Column::CreatedAt
                    .eq(created_at)
                    .and(user::Column::Id.gt(id.as_uuid()))),
            );
        }
        let rows = query
            .limit(limit + 1)
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        let has_more = rows.len() as u64 > limit;
        let users: Vec<User> = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(to_domain)
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
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        if transaction.get_database_backend() == DbBackend::Postgres {
            // Serializes changes that could remove an ADMIN, so two that race cannot both pass
            // the check below. SQLite's single writer serializes them already.
            transaction
                .execute_unprepared("SELECT pg_advisory_xact_lock(7310452001)")
                .await
                .map_err(repository_error)?;
        }
        let updated = user::Entity::update_many()
            .col_expr(user::Column::Role, Expr::value(user.role.as_str()))
            .col_expr(user::Column::Status, Expr::value(user.status.as_str()))
            .col_expr(user::Column::FullName, Expr::value(user.full_name.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(at))
            .filter(user::Column::Id.eq(user.id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        if updated.rows_affected == 0 {
            return Err(UpdateUserError::NotFound);
        }
        let admins = active_admins(&transaction).await?;
        if admins == 0 {
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

fn to_domain(model: user::Model) -> Result<User, RepositoryError> {
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
        email: Email::from_stored(model.email),
        full_name: FullName::from_stored(model.full_name),
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
