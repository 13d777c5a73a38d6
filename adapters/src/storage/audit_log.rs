use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel};
use somnium_domain::ports::{AuditLog, RepositoryError};
use somnium_domain::AuditEvent;

use super::entities::audit_event;
use super::errors::repository_error;

/// The audit trail in the `audit_events` table.
#[derive(Clone)]
pub struct SqlAuditLog {
    connection: DatabaseConnection,
}

impl SqlAuditLog {
    pub fn new(connection: DatabaseConnection) -> Self {
        Self { connection }
    }
}

#[async_trait]
impl AuditLog for SqlAuditLog {
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        insert_event(&self.connection, event).await
    }
}

/// Inserts one event on `connection`, which may be a transaction so the event commits or rolls
/// back with the change it records.
pub(crate) async fn insert_event<C: ConnectionTrait>(
    connection: &C,
    event: &AuditEvent,
) -> Result<(), RepositoryError> {
    let model = audit_event::Model {
        id: event.id.as_uuid(),
        occurred_at: event.occurred_at,
        event_type: event.event_type.as_str().to_owned(),
        user_id: event.user_id.map(|id| id.as_uuid()),
        resource: event.resource.clone(),
        outcome: event.outcome.as_str().to_owned(),
        detail: event.detail.clone(),
        client_ip: event.context.client_ip.clone(),
        user_agent: event.context.user_agent.clone(),
        request_id: event.context.request_id.clone(),
    };
    audit_event::Entity::insert(model.into_active_model())
        .exec_without_returning(connection)
        .await
        .map_err(repository_error)?;
    Ok(())
}
