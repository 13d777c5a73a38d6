//! Self-registration. It always creates a PATIENT: staff accounts are made by an administrator.

use somnium_domain::password_policy::{PasswordContext, PolicyViolation};
use somnium_domain::ports::InsertUserError;
use somnium_domain::{
    AuditEventType, AuditOutcome, Email, FullName, NewUser, Password, RequestContext, Role, User, UserId, UserStatus,
};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::AuthService;

/// A registration whose fields have already been validated.
#[derive(Debug)]
pub struct RegisterRequest {
    pub email: Email,
    pub password: Password,
    pub full_name: FullName,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The password breaks one or more rules of the password policy; every broken rule is listed.
    #[error("the password does not meet the password policy")]
    WeakPassword(Vec<PolicyViolation>),
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Creates a PATIENT account and records `user_registered` in the same transaction.
    ///
    /// # Errors
    /// [`RegisterError::EmailTaken`] when the normalized email is registered already.
    #[tracing::instrument(name = "register", skip_all, fields(user_id = tracing::field::Empty, request_id = context.request_id.as_deref()))]
    pub async fn register(&self, request: RegisterRequest, context: &RequestContext) -> Result<User, RegisterError> {
        let policy_context = PasswordContext {
            email: request.email.as_str(),
            full_name: request.full_name.as_str(),
            // Every sign-in of a role that requires a second factor uses one.
            mfa_enforced: self.settings.mfa.requires(somnium_domain::Role::Patient),
        };
        if let Err(violations) = self
            .settings
            .password_policy
            .check(request.password.expose_secret(), &policy_context)
        {
            let codes: Vec<&str> = violations.iter().map(|violation| violation.code.as_str()).collect();
            tracing::info!(?codes, "registration rejected: weak password");
            return Err(RegisterError::WeakPassword(violations));
        }

        let password_hash = self
            .ports
            .hasher
            .hash(&request.password)
            .await
            .map_err(UnexpectedError::from)?;

        let user = User {
            id: UserId::from_random_bytes(self.ports.random.bytes()),
            email: request.email,
            full_name: request.full_name,
            role: Role::Patient,
            status: UserStatus::Active,
            created_at: self.ports.clock.now(),
            must_change_password: false,
        };
        tracing::Span::current().record("user_id", tracing::field::display(user.id));

        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::UserRegistered,
            outcome: AuditOutcome::Success,
            user_id: Some(user.id),
            resource: Some(format!("user:{}", user.id)),
            detail: None,
            context,
        });
        let new_user = NewUser { user, password_hash };

        match self.ports.users.insert(&new_user, &event).await {
            Ok(()) => {
                tracing::info!(user_id = %new_user.user.id, "user registered");
                Ok(new_user.user)
            }
            Err(InsertUserError::EmailTaken) => {
                tracing::info!("registration rejected: email already registered");
                Err(RegisterError::EmailTaken)
            }
            Err(InsertUserError::Repository(error)) => Err(UnexpectedError::from(error).into()),
        }
    }
}
