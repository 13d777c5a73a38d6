//! Reading, verifying and pruning the audit trail. Reading it is itself audited.

use somnium_domain::audit::{AuditEventPage, AuditFilter, ChainVerification, PruneOutcome};
use somnium_domain::ports::PruneError;
use somnium_domain::{AccessTokenClaims, AuditEventType, AuditOutcome, RequestContext};
use time::{Duration, OffsetDateTime};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::AuthService;

/// The shortest retention Somnium accepts: HIPAA requires documentation to be kept six years.
pub const MIN_RETENTION: Duration = Duration::days(6 * 365);

#[derive(Debug, thiserror::Error)]
pub enum AuditPruneError {
    /// The cut lies inside the retention period.
    #[error("events before {before} are still inside the retention period, which ends at {retained_from}")]
    InsideRetention {
        before: OffsetDateTime,
        retained_from: OffsetDateTime,
    },
    #[error("pruning would delete every event; keep at least the newest")]
    WouldEmptyTrail,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Reads a page of the audit trail and records that it was read.
    ///
    /// # Errors
    /// [`UnexpectedError`] when storage fails.
    pub async fn read_audit_trail(
        &self,
        reader: &AccessTokenClaims,
        filter: &AuditFilter,
        limit: u64,
        detail: &'static str,
        context: &RequestContext,
    ) -> Result<AuditEventPage, UnexpectedError> {
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::AuditTrailRead,
            outcome: AuditOutcome::Success,
            user_id: Some(reader.user_id),
            resource: Some("audit_trail".to_owned()),
            detail: Some(detail),
            context,
        });
        self.ports.audit.record(&event).await?;
        Ok(self.ports.audit.list(filter, limit).await?)
    }

    /// Reads a further page of an export whose reading was already recorded.
    ///
    /// # Errors
    /// [`UnexpectedError`] when storage fails.
    pub async fn audit_trail_page(&self, filter: &AuditFilter, limit: u64) -> Result<AuditEventPage, UnexpectedError> {
        Ok(self.ports.audit.list(filter, limit).await?)
    }

    /// Walks the hash chain. `reader` is `None` when an operator runs it from the command line.
    ///
    /// # Errors
    /// [`UnexpectedError`] when storage fails.
    pub async fn verify_audit_trail(
        &self,
        reader: Option<&AccessTokenClaims>,
        context: &RequestContext,
    ) -> Result<ChainVerification, UnexpectedError> {
        let verification = self.ports.audit.verify().await?;
        let (outcome, detail) = match &verification {
            ChainVerification::Intact { .. } => (AuditOutcome::Success, "intact"),
            ChainVerification::Broken { .. } => (AuditOutcome::Failure, "broken"),
        };
        if let ChainVerification::Broken { sequence, reason, .. } = &verification {
            tracing::error!(sequence, %reason, "audit trail hash chain is broken");
        }
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::AuditTrailVerified,
            outcome,
            user_id: reader.map(|reader| reader.user_id),
            resource: Some("audit_trail".to_owned()),
            detail: Some(detail),
            context,
        });
        self.ports.audit.record(&event).await?;
        Ok(verification)
    }

    /// Deletes events older than `before`, refusing anything inside `retention`.
    ///
    /// # Errors
    /// [`AuditPruneError::InsideRetention`] when `before` is later than now minus retention.
    pub async fn prune_audit_trail(
        &self,
        before: OffsetDateTime,
        retention: Duration,
        context: &RequestContext,
    ) -> Result<PruneOutcome, AuditPruneError> {
        let now = self.ports.clock.now();
        let retained_from = now - retention.max(MIN_RETENTION);
        if before > retained_from {
            return Err(AuditPruneError::InsideRetention { before, retained_from });
        }
        let outcome = match self.ports.audit.prune(before, now).await {
            Ok(outcome) => outcome,
            Err(PruneError::WouldEmptyTrail) => return Err(AuditPruneError::WouldEmptyTrail),
            Err(PruneError::Repository(error)) => return Err(UnexpectedError::from(error).into()),
        };
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::AuditTrailPruned,
            outcome: AuditOutcome::Success,
            user_id: None,
            resource: Some("audit_trail".to_owned()),
            detail: Some("outside_retention"),
            context,
        });
        self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
        tracing::info!(
            pruned = outcome.pruned,
            first_sequence = outcome.first_sequence,
            "audit trail pruned"
        );
        Ok(outcome)
    }

    /// Records an operation refused for lack of permission.
    pub async fn record_access_denied(
        &self,
        caller: &AccessTokenClaims,
        operation: &'static str,
        resource: String,
        context: &RequestContext,
    ) {
        tracing::info!(user_id = %caller.user_id, role = %caller.role, operation, %resource, "access denied");
        let mut event = self.audit_event(EventFacts {
            event_type: AuditEventType::AccessDenied,
            outcome: AuditOutcome::Failure,
            user_id: Some(caller.user_id),
            resource: Some(resource),
            detail: Some(operation),
            context,
        });
        event.severity = somnium_domain::AuditSeverity::Warning;
        if let Err(error) = self.ports.audit.record(&event).await {
            tracing::error!(%error, "could not record the access_denied audit event");
        }
    }
}
