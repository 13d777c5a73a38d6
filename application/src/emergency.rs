//! Break-glass emergency access.

use somnium_domain::emergency::{EmergencyClaim, EmergencyGrant, EmergencyRequest};
use somnium_domain::{
    AccessTokenClaims, AuditEventType, AuditOutcome, AuditSeverity, IssuedAccessToken, RequestContext,
};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::AuthService;

#[derive(Debug, thiserror::Error)]
pub enum EndGrantError {
    #[error("emergency grant not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The caller's role requires a second factor and this session began without one.
    #[error("emergency access needs a session that began with a second factor")]
    SecondFactorRequired,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<somnium_domain::ports::RepositoryError> for GrantError {
    fn from(error: somnium_domain::ports::RepositoryError) -> Self {
        Self::Unexpected(error.into())
    }
}

impl From<somnium_domain::ports::AccessTokenError> for GrantError {
    fn from(error: somnium_domain::ports::AccessTokenError) -> Self {
        Self::Unexpected(error.into())
    }
}

impl AuthService {
    /// Opens an emergency grant for the caller's session and returns an access token carrying
    /// its `emergency` claim. Tokens refreshed in the session carry the claim until the grant
    /// expires or an administrator ends it. Each grant is a high-severity audit event.
    ///
    /// # Errors
    /// [`GrantError::SecondFactorRequired`] when the role requires a second factor the session
    /// lacks; [`GrantError::Unexpected`] when storage or signing fails. The permission is the
    /// caller's to check.
    #[tracing::instrument(name = "emergency_access", skip_all, fields(user_id = %caller.user_id, session_id = %caller.session_id, request_id = context.request_id.as_deref()))]
    pub async fn grant_emergency_access(
        &self,
        caller: &AccessTokenClaims,
        request: EmergencyRequest,
        context: &RequestContext,
    ) -> Result<(EmergencyGrant, IssuedAccessToken), GrantError> {
        // Break-glass access opens patient data without the usual checks, so a role that must
        // use a second factor gets it only in a session that began with one.
        if self.settings.mfa.requires(caller.role) && !caller.mfa {
            tracing::info!(user_id = %caller.user_id, "emergency access refused: the session has no second factor");
            return Err(GrantError::SecondFactorRequired);
        }
        let now = self.ports.clock.now();
        let grant = EmergencyGrant {
            id: uuid::Builder::from_random_bytes(self.ports.random.bytes()).into_uuid(),
            user_id: caller.user_id,
            session_id: caller.session_id,
            reason: request.reason,
            patient_ref: request.patient_ref,
            created_at: now,
            expires_at: now + self.settings.emergency_access_lifetime,
            ended_at: None,
            ended_by: None,
        };
        let mut event = self.audit_event(EventFacts {
            event_type: AuditEventType::EmergencyAccessGranted,
            outcome: AuditOutcome::Success,
            user_id: Some(caller.user_id),
            resource: Some(format!("emergency_grant:{}", grant.id)),
            detail: Some("break_glass"),
            context,
        });
        event.severity = AuditSeverity::High;
        event.changes = Some(format!("scope: {}", grant.scope()));
        self.ports.emergency.create(&grant, &event).await?;

        let claims = AccessTokenClaims {
            emergency: Some(EmergencyClaim {
                grant_id: grant.id,
                scope: grant.scope(),
                expires_at: grant.expires_at,
            }),
            ..caller.clone()
        };
        let limits = self.settings.sessions.limits(caller.role);
        let token = self.ports.access_tokens.issue(&claims, now, limits.idle)?;
        tracing::warn!(grant_id = %grant.id, "emergency access granted");
        Ok((grant, token))
    }

    /// Lists recent emergency grants for review.
    ///
    /// # Errors
    /// [`UnexpectedError`] when storage fails.
    pub async fn list_emergency_grants(&self, limit: u64) -> Result<Vec<EmergencyGrant>, UnexpectedError> {
        Ok(self.ports.emergency.list(limit).await?)
    }

    /// Ends a grant early and revokes the session that holds it, so its tokens, emergency claim
    /// included, stop working at once.
    ///
    /// # Errors
    /// [`EndGrantError::NotFound`] for an unknown grant.
    pub async fn end_emergency_grant(
        &self,
        admin: &AccessTokenClaims,
        id: uuid::Uuid,
        context: &RequestContext,
    ) -> Result<EmergencyGrant, EndGrantError> {
        let now = self.ports.clock.now();
        let mut event = self.audit_event(EventFacts {
            event_type: AuditEventType::EmergencyAccessEnded,
            outcome: AuditOutcome::Success,
            user_id: None,
            resource: Some(format!("emergency_grant:{id}")),
            detail: Some("ended_by_admin"),
            context,
        });
        event.severity = AuditSeverity::High;
        event.actor_id = Some(admin.user_id);
        let grant = self
            .ports
            .emergency
            .end(id, admin.user_id, now, &event)
            .await
            .map_err(UnexpectedError::from)?
            .ok_or(EndGrantError::NotFound)?;

        let revoke_event = self.audit_event(EventFacts {
            event_type: AuditEventType::SessionEnded,
            outcome: AuditOutcome::Success,
            user_id: Some(grant.user_id),
            resource: Some(format!("session:{}", grant.session_id)),
            detail: Some("emergency_access_ended"),
            context,
        });
        self.ports
            .sessions
            .revoke(grant.session_id, now, &revoke_event)
            .await
            .map_err(UnexpectedError::from)?;
        self.ports.revocations.revoke(grant.session_id, now);
        tracing::warn!(grant_id = %id, admin_id = %admin.user_id, "emergency access ended early");
        Ok(grant)
    }
}
