//! Logout: ends the session named by the caller's access token.

use somnium_domain::{AccessTokenClaims, AuditEventType, AuditOutcome, RequestContext};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::AuthService;

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Revokes the caller's session and every refresh token in its family. Logging out of a
    /// session that has already ended succeeds, so a retried logout is harmless.
    ///
    /// # Errors
    /// [`LogoutError::Unexpected`] when storage fails.
    #[tracing::instrument(name = "logout", skip_all, fields(user_id = %caller.user_id, session_id = %caller.session_id, request_id = context.request_id.as_deref()))]
    pub async fn logout(&self, caller: &AccessTokenClaims, context: &RequestContext) -> Result<(), LogoutError> {
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::Logout,
            outcome: AuditOutcome::Success,
            user_id: Some(caller.user_id),
            resource: Some(format!("session:{}", caller.session_id)),
            detail: None,
            context,
        });
        let now = self.ports.clock.now();
        let revoked = self
            .ports
            .sessions
            .revoke(caller.session_id, now, &event)
            .await
            .map_err(UnexpectedError::from)?;
        self.ports.revocations.revoke(caller.session_id, now);
        tracing::info!(revoked, "logout");
        Ok(())
    }
}
