//! Password login: verifies the password and starts a session with its first refresh token.

use somnium_domain::password::PASSWORD_MAX_CHARS;
use somnium_domain::session::SESSION_ABSOLUTE_LIFETIME;
use somnium_domain::{
    AccessTokenClaims, AuditEventType, AuditOutcome, Email, NewRefreshToken, Password, RefreshTokenId, RequestContext,
    Session, SessionId, User, UserStatus,
};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::{AuthService, TokenPair};

#[derive(Debug)]
pub struct LoginRequest {
    pub email: Email,
    pub password: Password,
    pub remember_me: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email, wrong password or disabled account: the response never says which.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Verifies the credentials, starts a session and returns its token pair.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for every credential failure, after the same amount
    /// of hashing work whether or not the email is known.
    #[tracing::instrument(name = "login", skip_all, fields(user_id = tracing::field::Empty, request_id = context.request_id.as_deref()))]
    pub async fn login(&self, request: LoginRequest, context: &RequestContext) -> Result<TokenPair, LoginError> {
        let user = self.check_credentials(&request, context).await?;
        tracing::Span::current().record("user_id", tracing::field::display(user.id));

        let now = self.ports.clock.now();
        let session = Session {
            id: SessionId::from_random_bytes(self.ports.random.bytes()),
            user_id: user.id,
            created_at: now,
            auth_time: now,
            remember_me: request.remember_me,
            expires_at: now + SESSION_ABSOLUTE_LIFETIME,
            revoked_at: None,
            client_ip: context.client_ip.clone(),
            user_agent: context.user_agent.clone(),
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
            detail: None,
            context,
        });
        self.ports
            .sessions
            .create(&session, &first_token, &event)
            .await
            .map_err(UnexpectedError::from)?;

        let claims = AccessTokenClaims {
            user_id: user.id,
            email: user.email.as_str().to_owned(),
            role: user.role,
            session_id: session.id,
            auth_time: now,
        };
        let access_token = self
            .ports
            .access_tokens
            .issue(&claims, now)
            .map_err(UnexpectedError::from)?;
        tracing::info!(user_id = %user.id, session_id = %session.id, "login succeeded");

        Ok(TokenPair {
            access_token,
            refresh_expires_in_seconds: (first_token.expires_at - now).whole_seconds(),
            refresh_token,
            session_id: session.id,
        })
    }

    async fn check_credentials(&self, request: &LoginRequest, context: &RequestContext) -> Result<User, LoginError> {
        // A password over the maximum can match no account; rejecting it before hashing keeps
        // one request from buying unbounded argon2 work.
        if request.password.char_count() > PASSWORD_MAX_CHARS {
            self.record_login_failure(None, "password_too_long", context).await?;
            return Err(LoginError::InvalidCredentials);
        }

        let found = self
            .ports
            .users
            .find_credentials(&request.email)
            .await
            .map_err(UnexpectedError::from)?;
        let Some((user, hash)) = found else {
            self.ports
                .hasher
                .verify(&request.password, &self.dummy_hash)
                .await
                .map_err(UnexpectedError::from)?;
            self.record_login_failure(None, "unknown_email", context).await?;
            return Err(LoginError::InvalidCredentials);
        };

        let verified = self
            .ports
            .hasher
            .verify(&request.password, &hash)
            .await
            .map_err(UnexpectedError::from)?;
        if !verified {
            self.record_login_failure(Some(&user), "wrong_password", context)
                .await?;
            return Err(LoginError::InvalidCredentials);
        }
        if user.status != UserStatus::Active {
            self.record_login_failure(Some(&user), "account_disabled", context)
                .await?;
            return Err(LoginError::InvalidCredentials);
        }
        Ok(user)
    }

    async fn record_login_failure(
        &self,
        user: Option<&User>,
        reason: &'static str,
        context: &RequestContext,
    ) -> Result<(), LoginError> {
        let user_id = user.map(|user| user.id);
        tracing::info!(user_id = user_id.map(tracing::field::display), reason, "login failed");
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::LoginFailed,
            outcome: AuditOutcome::Failure,
            user_id,
            resource: user_id.map(|id| format!("user:{id}")),
            detail: Some(reason),
            context,
        });
        self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
        Ok(())
    }
}
