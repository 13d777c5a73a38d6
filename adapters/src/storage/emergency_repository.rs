use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use somnium_domain::emergency::EmergencyGrant;
use somnium_domain::ports::{EmergencyGrants, RepositoryError};
use somnium_domain::{AuditEvent, SessionId, UserId};
use time::OffsetDateTime;

use super::audit_log::insert_event;
use super::entities::emergency_grant;
use super::errors::repository_error;

/// Emergency-access grants in `emergency_grants`.
#[derive(Clone)]
pub struct SqlEmergencyGrants {
    connection: DatabaseConnection,
}

impl SqlEmergencyGrants {
    pub fn new(connection: DatabaseConnection) -> Self {
        Self { connection }
    }
}

#[async_trait]
impl EmergencyGrants for SqlEmergencyGrants {
    #[tracing::instrument(name = "db.emergency_grants.create", skip_all)]
    async fn create(&self, grant: &EmergencyGrant, event: &AuditEvent) -> Result<(), RepositoryError> {
        let model = emergency_grant::Model {
            id: grant.id,
            user_id: grant.user_id.as_uuid(),
            session_id: grant.session_id.as_uuid(),
            reason: grant.reason.clone(),
            patient_ref: grant.patient_ref.clone(),
            created_at: grant.created_at,
            expires_at: grant.expires_at,
            ended_at: None,
            ended_by: None,
        };
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        emergency_grant::Entity::insert(model.into_active_model())
            .exec_without_returning(&transaction)
            .await
            .map_err(repository_error)?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)
    }

    #[tracing::instrument(name = "db.emergency_grants.active_for_session", skip_all)]
    async fn active_for_session(
        &self,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<EmergencyGrant>, RepositoryError> {
        let rows = emergency_grant::Entity::find()
            .filter(emergency_grant::Column::SessionId.eq(session_id.as_uuid()))
            .filter(emergency_grant::Column::EndedAt.is_null())
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(rows
            .into_iter()
            .map(to_domain)
            .filter(|grant| grant.is_active(now))
            .max_by_key(|grant| grant.expires_at))
    }

    #[tracing::instrument(name = "db.emergency_grants.list", skip_all)]
    async fn list(&self, limit: u64) -> Result<Vec<EmergencyGrant>, RepositoryError> {
        let rows = emergency_grant::Entity::find()
            .order_by_desc(emergency_grant::Column::CreatedAt)
            .limit(limit)
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        Ok(rows.into_iter().map(to_domain).collect())
    }

    #[tracing::instrument(name = "db.emergency_grants.end", skip_all)]
    async fn end(
        &self,
        id: uuid::Uuid,
        by: UserId,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<Option<EmergencyGrant>, RepositoryError> {
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        let updated = emergency_grant::Entity::update_many()
            .col_expr(emergency_grant::Column::EndedAt, Expr::value(at))
            .col_expr(emergency_grant::Column::EndedBy, Expr::value(by.as_uuid()))
            .filter(emergency_grant::Column::Id.eq(id))
            .filter(emergency_grant::Column::EndedAt.is_null())
            .exec(&transaction)
            .await
            .map_err(repository_error)?;
        let found = emergency_grant::Entity::find_by_id(id)
            .one(&transaction)
            .await
            .map_err(repository_error)?;
        let Some(found) = found else {
            transaction.rollback().await.map_err(repository_error)?;
            return Ok(None);
        };
        if updated.rows_affected > 0 {
            insert_event(&transaction, event).await?;
        }
        transaction.commit().await.map_err(repository_error)?;
        Ok(Some(to_domain(found)))
    }
}

fn to_domain(model: emergency_grant::Model) -> EmergencyGrant {
    EmergencyGrant {
        id: model.id,
        user_id: UserId::from_uuid(model.user_id),
        session_id: SessionId::from_uuid(model.session_id),
        reason: model.reason,
        patient_ref: model.patient_ref,
        created_at: model.created_at,
        expires_at: model.expires_at,
        ended_at: model.ended_at,
        ended_by: model.ended_by.map(UserId::from_uuid),
    }
}
