use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, Statement,
    TransactionTrait,
};
use somnium_domain::ports::{RepositoryError, Rotation, RotationOutcome, SessionRepository};
use somnium_domain::{
    AuditEvent, NewRefreshToken, RefreshTokenId, RefreshTokenRecord, Session, SessionId, SuccessorSeed, UserId,
};
use time::OffsetDateTime;

use super::audit_log::insert_event;
use super::connect::begin_write;
use super::entities::{refresh_token, session};
use super::errors::{corrupt_row, repository_error};

/// Sessions in `sessions` and their refresh-token families in `refresh_tokens`.
#[derive(Clone)]
pub struct SqlSessionRepository {
    connection: DatabaseConnection,
}

impl SqlSessionRepository {
    pub fn new(connection: DatabaseConnection) -> Self {
        Self { connection }
    }
}

#[async_trait]
impl SessionRepository for SqlSessionRepository {
    #[tracing::instrument(name = "db.sessions.create", skip_all)]
    async fn create(
        &self,
        session: &Session,
        first_token: &NewRefreshToken,
        event: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let model = session::Model {
            id: session.id.as_uuid(),
            user_id: session.user_id.as_uuid(),
            created_at: session.created_at,
            auth_time: session.auth_time,
            expires_at: session.expires_at,
            remember_me: session.remember_me,
            revoked_at: session.revoked_at,
            last_used_at: Some(session.last_used_at),
            client_ip: session.client_ip.clone(),
            user_agent: session.user_agent.clone(),
            mfa_verified: session.mfa_verified,
        };

        let transaction = self.connection.begin().await.map_err(repository_error)?;
        session::Entity::insert(model.into_active_model())
            .exec_without_returning(&transaction)
            .await
            .map_err(repository_error)?;
        insert_token(&transaction, first_token).await?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)
    }

    #[tracing::instrument(name = "db.sessions.find_refresh_token", skip_all)]
    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>, RepositoryError> {
        let found = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .find_also_related(session::Entity)
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        match found {
            None => Ok(None),
            Some((token, Some(session))) => to_record(token, session).map(Some),
            Some((token, None)) => Err(corrupt_row(format!("refresh token {} has no session", token.id))),
        }
    }

    #[tracing::instrument(name = "db.sessions.rotate", skip_all)]
    async fn rotate(&self, rotation: &Rotation, event: &AuditEvent) -> Result<RotationOutcome, RepositoryError> {
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        let spent = if transaction.get_database_backend() == DbBackend::Postgres {
            rotate_in_one_statement(&transaction, rotation).await?
        } else {
            rotate_in_steps(&transaction, rotation).await?
        };

        if !spent {
            transaction.rollback().await.map_err(repository_error)?;
            let current = self.find_by_token_id(rotation.spent).await?;
            return Ok(RotationOutcome::AlreadySpent(Box::new(current)));
        }
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)?;
        Ok(RotationOutcome::Rotated)
    }

    #[tracing::instrument(name = "db.sessions.revoke", skip_all)]
    async fn revoke(
        &self,
        session_id: SessionId,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        let revoked = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(at))
            .filter(session::Column::Id.eq(session_id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)?;
        Ok(revoked.rows_affected > 0)
    }

    #[tracing::instrument(name = "db.sessions.find", skip_all)]
    async fn find(&self, session_id: SessionId) -> Result<Option<Session>, RepositoryError> {
        let found = session::Entity::find_by_id(session_id.as_uuid())
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(found.map(to_session))
    }

    #[tracing::instrument(name = "db.sessions.list_active", skip_all)]
    async fn list_active(&self, user_id: UserId, now: OffsetDateTime) -> Result<Vec<Session>, RepositoryError> {
        let found = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null())
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        let mut sessions: Vec<Session> = found
            .into_iter()
            .map(to_session)
            .filter(|session| session.expires_at > now)
            .collect();
        sessions.sort_by_key(|session| std::cmp::Reverse(session.last_used_at));
        Ok(sessions)
    }

    #[tracing::instrument(name = "db.sessions.revoke_all", skip_all)]
    async fn revoke_all(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<Vec<SessionId>, RepositoryError> {
        let transaction = begin_write(&self.connection).await.map_err(repository_error)?;
        let mut query = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id.as_uuid()))
            .filter(session::Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            query = query.filter(session::Column::Id.ne(keep.as_uuid()));
        }
        let targets: Vec<uuid::Uuid> = query
            .all(&transaction)
            .await
            .map_err(repository_error)?
            .into_iter()
            .map(|session| session.id)
            .collect();
        if !targets.is_empty() {
            session::Entity::update_many()
                .col_expr(session::Column::RevokedAt, Expr::value(at))
                .filter(session::Column::Id.is_in(targets.clone()))
                .filter(session::Column::RevokedAt.is_null())
                .exec(&transaction)
                .await
                .map_err(repository_error)?;
        }
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)?;
        Ok(targets.into_iter().map(SessionId::from_uuid).collect())
    }
}

fn to_session(session: session::Model) -> Session {
    Session {
        id: SessionId::from_uuid(session.id),
        user_id: UserId::from_uuid(session.user_id),
        created_at: session.created_at,
        auth_time: session.auth_time,
        remember_me: session.remember_me,
        expires_at: session.expires_at,
        revoked_at: session.revoked_at,
        last_used_at: session.last_used_at.unwrap_or(session.created_at),
        client_ip: session.client_ip,
        user_agent: session.user_agent,
        mfa_verified: session.mfa_verified,
    }
}

impl SqlSessionRepository {
    async fn find_by_token_id(&self, id: RefreshTokenId) -> Result<RefreshTokenRecord, RepositoryError> {
        let found = refresh_token::Entity::find_by_id(id.as_uuid())
            .find_also_related(session::Entity)
            .one(&self.connection)
            .await
            .map_err(repository_error)?;
        match found {
            Some((token, Some(session))) => to_record(token, session),
            _ => Err(corrupt_row(format!("refresh token {id} vanished during rotation"))),
        }
    }
}

/// Spends the token, stores its successor and touches the session, in that order. Returns
/// whether the token was still unspent. The conditional update is the transaction's first
/// statement. On SQLite it takes the write lock before anything is read, so concurrent rotations
/// wait on the busy timeout rather than fail.
async fn rotate_in_steps<C: ConnectionTrait>(connection: &C, rotation: &Rotation) -> Result<bool, RepositoryError> {
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RotatedAt, Expr::value(rotation.rotated_at))
        .col_expr(
            refresh_token::Column::SuccessorSeed,
            Expr::value(hex::encode(rotation.seed.0)),
        )
        .filter(refresh_token::Column::Id.eq(rotation.spent.as_uuid()))
        .filter(refresh_token::Column::RotatedAt.is_null())
        .exec(connection)
        .await
        .map_err(repository_error)?;
    if spent.rows_affected == 0 {
        return Ok(false);
    }
    insert_token(connection, &rotation.successor).await?;
    session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(rotation.rotated_at))
        .filter(session::Column::Id.eq(rotation.successor.session_id.as_uuid()))
        .exec(connection)
        .await
        .map_err(repository_error)?;
    Ok(true)
}

/// Makes the same three writes as [`rotate_in_steps`] in one PostgreSQL statement, which saves
/// two round trips per rotation. The successor and the session change depend on the spending update
/// returning its row. A concurrent rotation of the same token waits for this one's row lock and
/// then finds the token spent, so it writes nothing.
async fn rotate_in_one_statement<C: ConnectionTrait>(
    connection: &C,
    rotation: &Rotation,
) -> Result<bool, RepositoryError> {
    let successor = &rotation.successor;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        ROTATE_SQL,
        [
            rotation.rotated_at.into(),
            hex::encode(rotation.seed.0).into(),
            rotation.spent.as_uuid().into(),
            successor.id.as_uuid().into(),
            successor.session_id.as_uuid().into(),
            successor.token_hash.clone().into(),
            successor.created_at.into(),
            successor.expires_at.into(),
        ],
    );
    let row = connection
        .query_one(statement)
        .await
        .map_err(repository_error)?
        .ok_or_else(|| corrupt_row("the rotation statement returned no row".to_owned()))?;
    let spent: i64 = row.try_get("", "spent").map_err(repository_error)?;
    Ok(spent > 0)
}

/// The rotation of [`rotate_in_one_statement`]: `$1` the time of the rotation, `$2` the
/// successor seed, `$3` the spent token, `$4` to `$8` the successor's columns.
const ROTATE_SQL: &str = r#"WITH spent AS (
    UPDATE "refresh_tokens" SET "rotated_at" = $1, "successor_seed" = $2
    WHERE "id" = $3 AND "rotated_at" IS NULL
    RETURNING "id"
), successor AS (
    INSERT INTO "refresh_tokens" ("id", "session_id", "token_hash", "created_at", "expires_at")
    SELECT $4, $5, $6, $7, $8 FROM spent
), touched AS (
    UPDATE "sessions" SET "last_used_at" = $1
    WHERE "id" = $5 AND EXISTS (SELECT 1 FROM spent)
)
SELECT count(*) AS "spent" FROM spent"#;

async fn insert_token<C: ConnectionTrait>(connection: &C, token: &NewRefreshToken) -> Result<(), RepositoryError> {
    let model = refresh_token::Model {
        id: token.id.as_uuid(),
        session_id: token.session_id.as_uuid(),
        token_hash: token.token_hash.clone(),
        created_at: token.created_at,
        expires_at: token.expires_at,
        rotated_at: None,
        successor_seed: None,
    };
    refresh_token::Entity::insert(model.into_active_model())
        .exec_without_returning(connection)
        .await
        .map_err(repository_error)?;
    Ok(())
}

fn to_record(token: refresh_token::Model, session: session::Model) -> Result<RefreshTokenRecord, RepositoryError> {
    let successor_seed = token
        .successor_seed
        .as_deref()
        .map(|encoded| {
            let mut seed = [0_u8; 32];
            hex::decode_to_slice(encoded, &mut seed)
                .map_err(|_| corrupt_row(format!("refresh token {} has an unreadable successor seed", token.id)))?;
            Ok(SuccessorSeed(seed))
        })
        .transpose()?;

    Ok(RefreshTokenRecord {
        id: RefreshTokenId::from_uuid(token.id),
        session: to_session(session),
        created_at: token.created_at,
        expires_at: token.expires_at,
        rotated_at: token.rotated_at,
        successor_seed,
    })
}
