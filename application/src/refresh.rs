//! Refresh-token rotation with a grace period and reuse detection.
//!
//! Presenting an unspent token spends it and returns its successor. Presenting a spent token
//! within the grace period returns the same successor again, so two tabs refreshing at once or a
//! client retrying after a lost response stay signed in. Presenting it later is treated as
//! theft: the whole family is revoked.

use somnium_domain::emergency::EmergencyClaim;
use somnium_domain::ports::{Rotation, RotationOutcome};
use somnium_domain::{
    AccessTokenClaims, AuditEventType, AuditOutcome, NewRefreshToken, RefreshToken, RefreshTokenId, RefreshTokenRecord,
    RequestContext, SuccessorSeed, UserStatus,
};
use time::OffsetDateTime;

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::{AuthService, TokenPair};

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired or revoked token, or a session whose user can no longer sign in.
    #[error("refresh token is invalid or expired")]
    InvalidToken,
    /// A token spent before the grace period was presented again; its family is now revoked.
    #[error("refresh token was already used; the session has been revoked")]
    ReuseDetected,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Rotates a refresh token and returns the new token pair.
    ///
    /// # Errors
    /// [`RefreshError::InvalidToken`] for an unknown, expired or revoked token;
    /// [`RefreshError::ReuseDetected`] for a token spent before the grace period.
    #[tracing::instrument(name = "refresh", skip_all, fields(session_id = tracing::field::Empty, request_id = context.request_id.as_deref()))]
    pub async fn refresh(&self, presented: RefreshToken, context: &RequestContext) -> Result<TokenPair, RefreshError> {
        let now = self.ports.clock.now();
        let hash = self.ports.refresh_tokens.hash(&presented);
        let record = self
            .ports
            .sessions
            .find_refresh_token(&hash)
            .await
            .map_err(UnexpectedError::from)?;
        let Some(record) = record else {
            self.record_refresh_failure(None, "unknown_token", context).await?;
            return Err(RefreshError::InvalidToken);
        };
        tracing::Span::current().record("session_id", tracing::field::display(record.session.id));

        if let Some(reason) = unusable_reason(&record, now) {
            self.record_refresh_failure(Some(&record), reason, context).await?;
            return Err(RefreshError::InvalidToken);
        }
        self.end_if_idle(&record, now, context).await?;

        let record = match record.rotated_at {
            None => match self.try_rotate(&record, &presented, now, context).await? {
                Some(pair) => return Ok(pair),
                None => self.reload(&hash).await?,
            },
            Some(_) => record,
        };
        self.answer_spent_token(&record, &presented, now, context).await
    }

    /// Spends the token. Returns `None` when a concurrent request spent it first.
    async fn try_rotate(
        &self,
        record: &RefreshTokenRecord,
        presented: &RefreshToken,
        now: OffsetDateTime,
        context: &RequestContext,
    ) -> Result<Option<TokenPair>, RefreshError> {
        let seed = SuccessorSeed(self.ports.random.bytes());
        let successor = self.ports.refresh_tokens.derive_successor(presented, &seed);
        let rotation = Rotation {
            spent: record.id,
            rotated_at: now,
            seed,
            successor: NewRefreshToken {
                id: RefreshTokenId::from_random_bytes(self.ports.random.bytes()),
                session_id: record.session.id,
                token_hash: self.ports.refresh_tokens.hash(&successor),
                created_at: now,
                expires_at: record.session.refresh_expiry(now),
            },
        };
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::TokenRefreshed,
            outcome: AuditOutcome::Success,
            user_id: Some(record.session.user_id),
            resource: Some(format!("session:{}", record.session.id)),
            detail: None,
            context,
        });

        match self
            .ports
            .sessions
            .rotate(&rotation, &event)
            .await
            .map_err(UnexpectedError::from)?
        {
            RotationOutcome::Rotated => {
                tracing::info!(session_id = %record.session.id, "refresh token rotated");
                tracing::info!(target: "somnium::metrics", kind = "rotation", monotonic_counter.somnium_refreshes = 1_u64);
                let expires_at = rotation.successor.expires_at;
                self.token_pair(record, successor, expires_at, now, context)
                    .await
                    .map(Some)
            }
            RotationOutcome::AlreadySpent(_) => Ok(None),
        }
    }

    /// Ends a session whose refresh token went unused past its role's idle limit (automatic
    /// logoff), and rejects the refresh.
    async fn end_if_idle(
        &self,
        record: &RefreshTokenRecord,
        now: OffsetDateTime,
        context: &RequestContext,
    ) -> Result<(), RefreshError> {
        let user = self
            .ports
            .users
            .find_by_id(record.session.user_id)
            .await
            .map_err(UnexpectedError::from)?;
        let Some(user) = user else {
            return Ok(());
        };
        let limits = self.settings.sessions.limits(user.role);
        if !record.session.is_idle_expired(now, &limits) {
            return Ok(());
        }

        tracing::info!(session_id = %record.session.id, user_id = %user.id, "session ended after idling past its limit");
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::SessionExpired,
            outcome: AuditOutcome::Failure,
            user_id: Some(user.id),
            resource: Some(format!("session:{}", record.session.id)),
            detail: Some("idle"),
            context,
        });
        self.ports
            .sessions
            .revoke(record.session.id, now, &event)
            .await
            .map_err(UnexpectedError::from)?;
        self.ports.revocations.revoke(record.session.id, now);
        Err(RefreshError::InvalidToken)
    }

    async fn reload(&self, hash: &str) -> Result<RefreshTokenRecord, RefreshError> {
        let record = self
            .ports
            .sessions
            .find_refresh_token(hash)
            .await
            .map_err(UnexpectedError::from)?;
        record.ok_or_else(|| UnexpectedError::new("refresh token vanished during rotation", "no row").into())
    }

    /// Returns the successor again within the grace period, and revokes the family after it.
    async fn answer_spent_token(
        &self,
        record: &RefreshTokenRecord,
        presented: &RefreshToken,
        now: OffsetDateTime,
        context: &RequestContext,
    ) -> Result<TokenPair, RefreshError> {
        let (Some(rotated_at), Some(seed)) = (record.rotated_at, record.successor_seed.as_ref()) else {
            return Err(UnexpectedError::new("spent refresh token has no successor seed", "inconsistent row").into());
        };

        let grace = self.settings.refresh_grace_period;
        if grace.is_positive() && now - rotated_at <= grace && record.session.revoked_at.is_none() {
            let successor = self.ports.refresh_tokens.derive_successor(presented, seed);
            let expires_at = record.session.refresh_expiry(rotated_at);
            let event = self.audit_event(EventFacts {
                event_type: AuditEventType::TokenRefreshed,
                outcome: AuditOutcome::Success,
                user_id: Some(record.session.user_id),
                resource: Some(format!("session:{}", record.session.id)),
                detail: Some("grace_period_retry"),
                context,
            });
            self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
            tracing::info!(session_id = %record.session.id, "spent refresh token presented within the grace period");
            tracing::info!(target: "somnium::metrics", kind = "grace_retry", monotonic_counter.somnium_refreshes = 1_u64);
            return self.token_pair(record, successor, expires_at, now, context).await;
        }

        self.revoke_for_reuse(record, now, context).await?;
        Err(RefreshError::ReuseDetected)
    }

    async fn revoke_for_reuse(
        &self,
        record: &RefreshTokenRecord,
        now: OffsetDateTime,
        context: &RequestContext,
    ) -> Result<(), RefreshError> {
        tracing::warn!(session_id = %record.session.id, user_id = %record.session.user_id, "refresh token reuse detected; revoking the family");
        tracing::info!(target: "somnium::metrics", kind = "reuse", monotonic_counter.somnium_refresh_token_reuse = 1_u64);
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::RefreshTokenReuseDetected,
            outcome: AuditOutcome::Failure,
            user_id: Some(record.session.user_id),
            resource: Some(format!("session:{}", record.session.id)),
            detail: Some("family_revoked"),
            context,
        });
        self.ports
            .sessions
            .revoke(record.session.id, now, &event)
            .await
            .map_err(UnexpectedError::from)?;
        self.ports.revocations.revoke(record.session.id, now);
        Ok(())
    }

    async fn token_pair(
        &self,
        record: &RefreshTokenRecord,
        refresh_token: RefreshToken,
        refresh_expires_at: OffsetDateTime,
        now: OffsetDateTime,
        context: &RequestContext,
    ) -> Result<TokenPair, RefreshError> {
        let user = self
            .ports
            .users
            .find_by_id(record.session.user_id)
            .await
            .map_err(UnexpectedError::from)?;
        let Some(user) = user.filter(|user| user.status == UserStatus::Active) else {
            self.record_refresh_failure(Some(record), "account_unavailable", context)
                .await?;
            return Err(RefreshError::InvalidToken);
        };

        // A session that holds an active emergency grant keeps its claim on refreshed tokens,
        // until the grant expires or an administrator ends it.
        let grant = self
            .ports
            .emergency
            .active_for_session(record.session.id, now)
            .await
            .map_err(UnexpectedError::from)?;
        let limits = self.settings.sessions.limits(user.role);
        let claims = AccessTokenClaims {
            user_id: user.id,
            email: user.email.as_str().to_owned(),
            role: user.role,
            session_id: record.session.id,
            auth_time: record.session.auth_time,
            password_change_required: user.must_change_password,
            emergency: grant.map(|grant| EmergencyClaim {
                grant_id: grant.id,
                scope: grant.scope(),
                expires_at: grant.expires_at,
            }),
            mfa: record.session.mfa_verified,
        };
        let access_token = self
            .ports
            .access_tokens
            .issue(&claims, now, record.session.idle_limit(&limits))
            .map_err(UnexpectedError::from)?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            refresh_expires_in_seconds: (refresh_expires_at - now)
                .min(record.session.idle_limit(&limits))
                .whole_seconds()
                .max(0),
            session_id: record.session.id,
            device_token: None,
        })
    }

    async fn record_refresh_failure(
        &self,
        record: Option<&RefreshTokenRecord>,
        reason: &'static str,
        context: &RequestContext,
    ) -> Result<(), RefreshError> {
        let session = record.map(|record| &record.session);
        tracing::info!(
            session_id = session.map(|session| tracing::field::display(session.id)),
            reason,
            "refresh rejected"
        );
        let event_type = if reason == "session_expired" {
            AuditEventType::SessionExpired
        } else {
            AuditEventType::RefreshFailed
        };
        let event = self.audit_event(EventFacts {
            event_type,
            outcome: AuditOutcome::Failure,
            user_id: session.map(|session| session.user_id),
            resource: session.map(|session| format!("session:{}", session.id)),
            detail: Some(reason),
            context,
        });
        self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
        Ok(())
    }
}

/// Why a stored token cannot be used at `now`, if it cannot. A spent token is not listed here
/// because the grace-period and reuse rules decide its outcome.
fn unusable_reason(record: &RefreshTokenRecord, now: OffsetDateTime) -> Option<&'static str> {
    if record.session.revoked_at.is_some() {
        return Some("session_revoked");
    }
    if now >= record.session.expires_at {
        return Some("session_expired");
    }
    if record.rotated_at.is_none() && now >= record.expires_at {
        return Some("token_expired");
    }
    None
}
