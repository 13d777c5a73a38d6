//! Audit events and lookups the HTTP adapter needs for cookie mode.

use somnium_domain::{AuditEventType, AuditOutcome, RefreshToken, RequestContext, SessionId, UserId};

use crate::events::EventFacts;
use crate::service::AuthService;

impl AuthService {
    /// Records a cookie-authenticated request refused for a missing or wrong CSRF token or a
    /// foreign origin. A failure to record is logged, because the request is refused either way.
    pub async fn record_csrf_rejection(
        &self,
        user_id: Option<UserId>,
        session_id: Option<SessionId>,
        reason: &'static str,
        context: &RequestContext,
    ) {
        tracing::warn!(
            user_id = user_id.map(tracing::field::display),
            session_id = session_id.map(tracing::field::display),
            reason,
            "cross-site request refused"
        );
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::CsrfRejected,
            outcome: AuditOutcome::Failure,
            user_id,
            resource: session_id.map(|id| format!("session:{id}")),
            detail: Some(reason),
            context,
        });
        if let Err(error) = self.ports.audit.record(&event).await {
            tracing::error!(%error, "could not record the csrf_rejected audit event");
        }
    }

    /// Returns the session and user a refresh token belongs to, if it is known, so the caller can
    /// check a CSRF token before rotating it.
    ///
    /// # Errors
    /// [`crate::UnexpectedError`] when storage fails.
    pub async fn refresh_token_owner(
        &self,
        token: &RefreshToken,
    ) -> Result<Option<(SessionId, UserId)>, crate::UnexpectedError> {
        let hash = self.ports.refresh_tokens.hash(token);
        let record = self.ports.sessions.find_refresh_token(&hash).await?;
        Ok(record.map(|record| (record.session.id, record.session.user_id)))
    }
}
