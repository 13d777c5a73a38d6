//! Changing one's own password.

use secrecy::SecretString;
use somnium_domain::lockout::{client_key, AttemptKey, AttemptSource};
use somnium_domain::password::PASSWORD_MAX_CHARS;
use somnium_domain::password_policy::{PasswordContext, PolicyViolation};
use somnium_domain::{AccessTokenClaims, AuditEventType, AuditOutcome, Password, RequestContext};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::AuthService;

/// How many recent passwords, the current one included, a new password may not repeat.
pub const PASSWORD_HISTORY_DEPTH: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password is wrong, or too many wrong attempts locked the check.
    #[error("the current password is incorrect")]
    IncorrectCurrentPassword,
    /// The new password breaks the password policy; every broken rule is listed.
    #[error("the new password does not meet the password policy")]
    WeakPassword(Vec<PolicyViolation>),
    /// The new password is one of the last five.
    #[error("the new password was used recently")]
    RecentlyUsed,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Checks the current password and the policy, refuses the last five passwords, sets the
    /// new one and ends every other session of the user.
    ///
    /// # Errors
    /// [`ChangePasswordError`] naming the check that failed.
    #[tracing::instrument(name = "change_password", skip_all, fields(user_id = %caller.user_id, request_id = context.request_id.as_deref()))]
    pub async fn change_password(
        &self,
        caller: &AccessTokenClaims,
        current: SecretString,
        new: Password,
        context: &RequestContext,
    ) -> Result<(), ChangePasswordError> {
        let user = self
            .ports
            .users
            .find_by_id(caller.user_id)
            .await
            .map_err(UnexpectedError::from)?
            .ok_or(ChangePasswordError::IncorrectCurrentPassword)?;
        self.verify_current_password(caller, current, context).await?;

        let policy_context = PasswordContext {
            email: user.email.as_str(),
            full_name: user.full_name.as_str(),
            // Every sign-in of a role that requires a second factor uses one.
            mfa_enforced: self.settings.mfa.requires(user.role),
        };
        self.settings
            .password_policy
            .check(new.expose_secret(), &policy_context)
            .map_err(ChangePasswordError::WeakPassword)?;
        self.refuse_recent_password(caller, &new).await?;

        let hash = self.ports.hasher.hash(&new).await.map_err(UnexpectedError::from)?;
        let now = self.ports.clock.now();
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::PasswordChanged,
            outcome: AuditOutcome::Success,
            user_id: Some(user.id),
            resource: Some(format!("user:{}", user.id)),
            detail: None,
            context,
        });
        self.ports
            .users
            .change_password(user.id, &hash, now, &event)
            .await
            .map_err(UnexpectedError::from)?;
        let ended = self
            .end_sessions(caller, Some(caller.session_id), "password_changed", context)
            .await?;
        tracing::info!(other_sessions_ended = ended, "password changed");
        Ok(())
    }

    /// Verifies the current password under the same lockout counters as a login, so a stolen
    /// access token cannot be used to guess it.
    async fn verify_current_password(
        &self,
        caller: &AccessTokenClaims,
        current: SecretString,
        context: &RequestContext,
    ) -> Result<(), ChangePasswordError> {
        let current = Password::presented(current);
        if current.char_count() > PASSWORD_MAX_CHARS {
            return Err(ChangePasswordError::IncorrectCurrentPassword);
        }
        let found = self
            .ports
            .users
            .find_credentials_by_id(caller.user_id)
            .await
            .map_err(UnexpectedError::from)?;
        let Some(hash) = found else {
            return Err(ChangePasswordError::IncorrectCurrentPassword);
        };

        let ip = context.client_ip.as_deref().and_then(|ip| ip.parse().ok());
        let attempt = AttemptKey {
            user_id: caller.user_id,
            source: AttemptSource::Client(ip.map(client_key).unwrap_or_else(|| "unknown".to_owned())),
        };
        let now = self.ports.clock.now();
        let start = self
            .ports
            .lockout
            .begin_attempt(&attempt, &self.settings.lockout, now)
            .await
            .map_err(|error| UnexpectedError::new("lockout store failed", error))?;
        if start.locked.is_some() {
            tracing::info!("current-password check blocked by a lock");
            return Err(ChangePasswordError::IncorrectCurrentPassword);
        }

        let verified = self
            .ports
            .hasher
            .verify(&current, &hash)
            .await
            .map_err(UnexpectedError::from)?;
        if !verified {
            self.ports
                .lockout
                .record_failure(&attempt, &self.settings.lockout, now)
                .await
                .map_err(|error| UnexpectedError::new("lockout store failed", error))?;
            let event = self.audit_event(EventFacts {
                event_type: AuditEventType::PasswordChanged,
                outcome: AuditOutcome::Failure,
                user_id: Some(caller.user_id),
                resource: Some(format!("user:{}", caller.user_id)),
                detail: Some("wrong_current_password"),
                context,
            });
            self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
            tracing::info!("password change rejected: wrong current password");
            return Err(ChangePasswordError::IncorrectCurrentPassword);
        }
        self.ports
            .lockout
            .record_success(&attempt)
            .await
            .map_err(|error| UnexpectedError::new("lockout store failed", error))?;
        Ok(())
    }

    async fn refuse_recent_password(
        &self,
        caller: &AccessTokenClaims,
        new: &Password,
    ) -> Result<(), ChangePasswordError> {
        let recent = self
            .ports
            .users
            .recent_password_hashes(caller.user_id, PASSWORD_HISTORY_DEPTH)
            .await
            .map_err(UnexpectedError::from)?;
        for hash in &recent {
            if self
                .ports
                .hasher
                .verify(new, hash)
                .await
                .map_err(UnexpectedError::from)?
            {
                tracing::info!("password change rejected: password used recently");
                return Err(ChangePasswordError::RecentlyUsed);
            }
        }
        Ok(())
    }
}
