//! The sessions a user can see and end.

use somnium_domain::{AccessTokenClaims, AuditEventType, AuditOutcome, RequestContext, Session, SessionId};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::AuthService;

/// A session as its user sees it.
#[derive(Clone, Debug)]
pub struct SessionView {
    pub session: Session,
    /// The session of the request that asked.
    pub current: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EndSessionError {
    /// No active session with this id belongs to the caller. Another user's session is
    /// reported the same way, so ids reveal nothing.
    #[error("session not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Lists the caller's active sessions, most recently used first. Sessions past their idle
    /// limit are left out; they end at their next refresh.
    ///
    /// # Errors
    /// [`UnexpectedError`] when storage fails.
    pub async fn list_sessions(&self, caller: &AccessTokenClaims) -> Result<Vec<SessionView>, UnexpectedError> {
        let now = self.ports.clock.now();
        let limits = self.settings.sessions.limits(caller.role);
        let sessions = self.ports.sessions.list_active(caller.user_id, now).await?;
        Ok(sessions
            .into_iter()
            .filter(|session| !session.is_idle_expired(now, &limits))
            .map(|session| SessionView {
                current: session.id == caller.session_id,
                session,
            })
            .collect())
    }

    /// Ends one of the caller's own sessions.
    ///
    /// # Errors
    /// [`EndSessionError::NotFound`] when the id names no active session of the caller.
    #[tracing::instrument(name = "end_session", skip_all, fields(user_id = %caller.user_id, target = %session_id, request_id = context.request_id.as_deref()))]
    pub async fn end_session(
        &self,
        caller: &AccessTokenClaims,
        session_id: SessionId,
        context: &RequestContext,
    ) -> Result<(), EndSessionError> {
        let found = self
            .ports
            .sessions
            .find(session_id)
            .await
            .map_err(UnexpectedError::from)?;
        let owned = found.filter(|session| session.user_id == caller.user_id && session.revoked_at.is_none());
        if owned.is_none() {
            tracing::info!("session to end not found among the caller's");
            return Err(EndSessionError::NotFound);
        }

        let now = self.ports.clock.now();
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::SessionEnded,
            outcome: AuditOutcome::Success,
            user_id: Some(caller.user_id),
            resource: Some(format!("session:{session_id}")),
            detail: Some("ended_by_user"),
            context,
        });
        self.ports
            .sessions
            .revoke(session_id, now, &event)
            .await
            .map_err(UnexpectedError::from)?;
        self.ports.revocations.revoke(session_id, now);
        tracing::info!("session ended by its user");
        Ok(())
    }

    /// Ends every session of the caller, the current one included.
    ///
    /// # Errors
    /// [`UnexpectedError`] when storage fails.
    #[tracing::instrument(name = "logout_all", skip_all, fields(user_id = %caller.user_id, request_id = context.request_id.as_deref()))]
    pub async fn logout_all(
        &self,
        caller: &AccessTokenClaims,
        context: &RequestContext,
    ) -> Result<usize, UnexpectedError> {
        let ended = self.end_sessions(caller, None, "logout_all", context).await?;
        tracing::info!(ended, "all sessions ended");
        Ok(ended)
    }

    /// Revokes the caller's sessions except `keep`, in storage and in every instance's
    /// revocation list, and returns how many ended.
    pub(crate) async fn end_sessions(
        &self,
        caller: &AccessTokenClaims,
        keep: Option<SessionId>,
        reason: &'static str,
        context: &RequestContext,
    ) -> Result<usize, UnexpectedError> {
        let now = self.ports.clock.now();
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::SessionEnded,
            outcome: AuditOutcome::Success,
            user_id: Some(caller.user_id),
            resource: Some(format!("user:{}", caller.user_id)),
            detail: Some(reason),
            context,
        });
        let revoked = self
            .ports
            .sessions
            .revoke_all(caller.user_id, keep, now, &event)
            .await?;
        for session_id in &revoked {
            self.ports.revocations.revoke(*session_id, now);
        }
        Ok(revoked.len())
    }
}
