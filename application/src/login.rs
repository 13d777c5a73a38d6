//! Password login: checks lockout, verifies the password and starts a session with its first
//! refresh token.

use somnium_domain::lockout::{client_key, AttemptKey, AttemptSource, LockScope};
use somnium_domain::mfa::{ChallengePurpose, TotpEnrollment};
use somnium_domain::password::PASSWORD_MAX_CHARS;
use somnium_domain::session::SESSION_ABSOLUTE_LIFETIME;
use somnium_domain::{
    AccessTokenClaims, AuditEventType, AuditOutcome, Email, NewRefreshToken, Password, PasswordHash, RefreshTokenId,
    RequestContext, Session, SessionId, User, UserStatus,
};
use time::OffsetDateTime;

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::mfa::IssuedChallenge;
use crate::service::{AuthService, TokenPair};

#[derive(Debug)]
pub struct LoginRequest {
    pub email: Email,
    pub password: Password,
    pub remember_me: bool,
    /// The device token from an earlier successful login on this client, if it has one.
    pub device_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email, wrong password, locked or disabled account: the response is the same for each.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in: the session has started.
    Signed(TokenPair),
    /// The account needs a second factor (or, when its role requires one it lacks, an
    /// enrollment) before a session starts.
    SecondFactorRequired(IssuedChallenge),
}

impl AuthService {
    /// Verifies the credentials, then starts a session and returns its token pair with a fresh
    /// device token, or returns the challenge of a second factor.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for every credential failure, including a locked
    /// account, after the same amount of hashing work whether or not the email is known.
    #[tracing::instrument(name = "login", skip_all, fields(user_id = tracing::field::Empty, request_id = context.request_id.as_deref()))]
    pub async fn login(&self, request: LoginRequest, context: &RequestContext) -> Result<LoginOutcome, LoginError> {
        let (user, hash) = self.check_credentials(&request, context).await?;
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        self.rehash_if_outdated(&user, &request.password, &hash).await;

        let enrollment = self
            .ports
            .mfa
            .find_enrollment(user.id)
            .await
            .map_err(UnexpectedError::from)?;
        let purpose = if enrollment.as_ref().is_some_and(TotpEnrollment::is_confirmed) {
            Some(ChallengePurpose::Verify)
        } else if self.settings.mfa.requires(user.role) {
            Some(ChallengePurpose::Enroll)
        } else {
            None
        };
        if let Some(purpose) = purpose {
            let challenge = self
                .issue_challenge(&user, purpose, request.remember_me, context)
                .await?;
            return Ok(LoginOutcome::SecondFactorRequired(challenge));
        }
        Ok(LoginOutcome::Signed(
            self.start_session(&user, request.remember_me, false, context).await?,
        ))
    }

    /// Starts a session for a user who has proved who they are, and returns its token pair
    /// with a fresh device token.
    pub(crate) async fn start_session(
        &self,
        user: &User,
        remember_me: bool,
        mfa_verified: bool,
        context: &RequestContext,
    ) -> Result<TokenPair, UnexpectedError> {
        let now = self.ports.clock.now();
        let limits = self.settings.sessions.limits(user.role);
        let session = Session {
            id: SessionId::from_random_bytes(self.ports.random.bytes()),
            user_id: user.id,
            created_at: now,
            auth_time: now,
            remember_me,
            expires_at: now + limits.absolute.min(SESSION_ABSOLUTE_LIFETIME),
            revoked_at: None,
            last_used_at: now,
            client_ip: context.client_ip.clone(),
            user_agent: context.user_agent.clone(),
            mfa_verified,
        };
        let refresh_token = self.ports.refresh_tokens.mint();
        let first_token = NewRefreshToken {
            id: RefreshTokenId::from_random_bytes(self.ports.random.bytes()),
            session_id: session.id,
            token_hash: self.ports.refresh_tokens.hash(&refresh_token),
            created_at: now,
            expires_at: session.refresh_expiry(now),
        };
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::LoginSucceeded,
            outcome: AuditOutcome::Success,
            user_id: Some(user.id),
            resource: Some(format!("session:{}", session.id)),
            detail: mfa_verified.then_some("mfa"),
            context,
        });
        self.ports.sessions.create(&session, &first_token, &event).await?;

        let claims = AccessTokenClaims {
            user_id: user.id,
            email: user.email.as_str().to_owned(),
            role: user.role,
            session_id: session.id,
            auth_time: now,
            password_change_required: user.must_change_password,
            emergency: None,
            mfa: mfa_verified,
        };
        let access_token = self
            .ports
            .access_tokens
            .issue(&claims, now, session.idle_limit(&limits))?;
        let device_token = self.ports.device_tokens.issue(user.id, now)?;
        tracing::info!(user_id = %user.id, session_id = %session.id, mfa_verified, "login succeeded");
        tracing::info!(target: "somnium::metrics", outcome = "success", monotonic_counter.somnium_logins = 1_u64);

        Ok(TokenPair {
            access_token,
            // The refresh token is unusable once the session idles past its limit, so the
            // client is told the earlier of the two.
            refresh_expires_in_seconds: (first_token.expires_at - now)
                .min(session.idle_limit(&limits))
                .whole_seconds(),
            refresh_token,
            session_id: session.id,
            device_token: Some(device_token),
        })
    }

    async fn check_credentials(
        &self,
        request: &LoginRequest,
        context: &RequestContext,
    ) -> Result<(User, PasswordHash), LoginError> {
        // A password over the maximum can match no account; rejecting it before hashing keeps
        // one request from buying unbounded argon2 work.
        if request.password.char_count() > PASSWORD_MAX_CHARS {
            self.record_login_event(AuditEventType::LoginFailed, None, "password_too_long", context)
                .await?;
            return Err(LoginError::InvalidCredentials);
        }

        let found = self
            .ports
            .users
            .find_credentials(&request.email)
            .await
            .map_err(UnexpectedError::from)?;
        let Some((user, hash)) = found else {
            self.verify_dummy(&request.password).await?;
            self.record_login_event(AuditEventType::LoginFailed, None, "unknown_email", context)
                .await?;
            return Err(LoginError::InvalidCredentials);
        };

        let now = self.ports.clock.now();
        let attempt = self.attempt_key(&user, request, context, now);
        self.check_lockout(&user, &attempt, request, context, now).await?;

        let verified = self
            .ports
            .hasher
            .verify(&request.password, &hash)
            .await
            .map_err(UnexpectedError::from)?;
        if !verified {
            self.record_wrong_password(&user, &attempt, context).await?;
            return Err(LoginError::InvalidCredentials);
        }
        if user.status != UserStatus::Active {
            self.record_login_event(AuditEventType::LoginFailed, Some(&user), "account_disabled", context)
                .await?;
            return Err(LoginError::InvalidCredentials);
        }

        self.ports
            .lockout
            .record_success(&attempt)
            .await
            .map_err(limiter_error)?;
        Ok((user, hash))
    }

    /// Counts a presented device token only when it is valid for this very account; anything
    /// else is treated as a client without one.
    fn attempt_key(
        &self,
        user: &User,
        request: &LoginRequest,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> AttemptKey {
        let device = request
            .device_token
            .as_deref()
            .and_then(|token| self.ports.device_tokens.verify(token, user.id, now));
        let source = match device {
            Some(device_id) => AttemptSource::Device(device_id),
            None => {
                let ip = context.client_ip.as_deref().and_then(|ip| ip.parse().ok());
                AttemptSource::Client(ip.map(client_key).unwrap_or_else(|| "unknown".to_owned()))
            }
        };
        AttemptKey {
            user_id: user.id,
            source,
        }
    }

    /// Rejects the attempt when a lock applies, after the same hashing work as a wrong password
    /// so timing does not reveal a lock.
    async fn check_lockout(
        &self,
        user: &User,
        attempt: &AttemptKey,
        request: &LoginRequest,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<(), LoginError> {
        let start = self
            .ports
            .lockout
            .begin_attempt(attempt, &self.settings.lockout, now)
            .await
            .map_err(limiter_error)?;
        for scope in start.expired {
            tracing::info!(user_id = %user.id, scope = scope.as_str(), "lock expired");
            self.record_login_event(
                AuditEventType::AccountUnlocked,
                Some(user),
                scope_detail(scope),
                context,
            )
            .await?;
        }

        let Some(lock) = start.locked else {
            return Ok(());
        };
        self.verify_dummy(&request.password).await?;
        tracing::info!(user_id = %user.id, scope = lock.scope.as_str(), "login blocked by a lock");
        self.record_login_event(
            AuditEventType::LoginBlocked,
            Some(user),
            scope_detail(lock.scope),
            context,
        )
        .await?;
        Err(LoginError::InvalidCredentials)
    }

    async fn record_wrong_password(
        &self,
        user: &User,
        attempt: &AttemptKey,
        context: &RequestContext,
    ) -> Result<(), LoginError> {
        let now = self.ports.clock.now();
        let outcome = self
            .ports
            .lockout
            .record_failure(attempt, &self.settings.lockout, now)
            .await
            .map_err(limiter_error)?;
        self.record_login_event(AuditEventType::LoginFailed, Some(user), "wrong_password", context)
            .await?;
        for (scope, until) in outcome.new_locks {
            tracing::warn!(user_id = %user.id, scope = scope.as_str(), %until, "account locked after failed logins");
            tracing::info!(target: "somnium::metrics", scope = scope.as_str(), monotonic_counter.somnium_lockouts = 1_u64);
            self.record_login_event(AuditEventType::AccountLocked, Some(user), scope_detail(scope), context)
                .await?;
        }
        Ok(())
    }

    async fn verify_dummy(&self, password: &Password) -> Result<(), LoginError> {
        self.ports
            .hasher
            .verify(password, &self.dummy_hash)
            .await
            .map_err(UnexpectedError::from)?;
        Ok(())
    }

    /// Replaces a hash made with other argon2 parameters than the configured ones. A failure
    /// here is logged and does not fail the login, because the old hash still verifies.
    async fn rehash_if_outdated(&self, user: &User, password: &Password, hash: &PasswordHash) {
        if !self.ports.hasher.needs_rehash(hash) {
            return;
        }
        let rehashed = match self.ports.hasher.hash(password).await {
            Ok(rehashed) => rehashed,
            Err(error) => {
                tracing::error!(user_id = %user.id, %error, "rehashing the password failed");
                return;
            }
        };
        match self
            .ports
            .users
            .update_password_hash(user.id, &rehashed, self.ports.clock.now())
            .await
        {
            Ok(()) => tracing::info!(user_id = %user.id, "password rehashed with the configured argon2 parameters"),
            Err(error) => tracing::error!(user_id = %user.id, %error, "storing the rehashed password failed"),
        }
    }

    async fn record_login_event(
        &self,
        event_type: AuditEventType,
        user: Option<&User>,
        reason: &'static str,
        context: &RequestContext,
    ) -> Result<(), LoginError> {
        let user_id = user.map(|user| user.id);
        if event_type == AuditEventType::LoginFailed || event_type == AuditEventType::LoginBlocked {
            tracing::info!(user_id = user_id.map(tracing::field::display), reason, "login failed");
            tracing::info!(target: "somnium::metrics", outcome = "failure", reason, monotonic_counter.somnium_logins = 1_u64);
        }
        let outcome = match event_type {
            AuditEventType::AccountUnlocked => AuditOutcome::Success,
            _ => AuditOutcome::Failure,
        };
        let event = self.audit_event(EventFacts {
            event_type,
            outcome,
            user_id,
            resource: user_id.map(|id| format!("user:{id}")),
            detail: Some(reason),
            context,
        });
        self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
        Ok(())
    }
}

fn scope_detail(scope: LockScope) -> &'static str {
    scope.as_str()
}

fn limiter_error(error: somnium_domain::ports::LimiterError) -> LoginError {
    UnexpectedError::new("lockout store failed", error).into()
}
