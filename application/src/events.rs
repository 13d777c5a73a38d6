//! Building audit events with an id and time from the ports.

use somnium_domain::{AuditEvent, AuditEventId, AuditEventType, AuditOutcome, AuditSeverity, RequestContext, UserId};

use crate::service::AuthService;

pub(crate) struct EventFacts<'a> {
    pub event_type: AuditEventType,
    pub outcome: AuditOutcome,
    pub user_id: Option<UserId>,
    pub resource: Option<String>,
    pub detail: Option<&'static str>,
    pub context: &'a RequestContext,
}

impl AuthService {
    pub(crate) fn audit_event(&self, facts: EventFacts<'_>) -> AuditEvent {
        AuditEvent {
            id: AuditEventId::from_random_bytes(self.ports.random.bytes()),
            occurred_at: self.ports.clock.now(),
            event_type: facts.event_type,
            user_id: facts.user_id,
            resource: facts.resource,
            outcome: facts.outcome,
            detail: facts.detail.map(str::to_owned),
            severity: AuditSeverity::Info,
            actor_id: None,
            changes: None,
            context: facts.context.clone(),
        }
    }
}
