//! The administrators' use cases: the user base, lockouts and sessions of other users.

use somnium_domain::password_policy::{PasswordContext, PolicyViolation};
use somnium_domain::ports::{InsertUserError, UpdateUserError, UserFilter, UserPage};
use somnium_domain::{
    AccessTokenClaims, AuditEventType, AuditOutcome, Email, FullName, NewUser, Password, RequestContext, Role, User,
    UserId, UserStatus,
};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::AuthService;

/// A user created by an administrator with a temporary password.
#[derive(Debug)]
pub struct CreateUserRequest {
    pub email: Email,
    pub full_name: FullName,
    pub role: Role,
    pub temporary_password: Password,
}

/// The changes an administrator makes to an account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UpdateUserRequest {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("user not found")]
    NotFound,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the temporary password does not meet the password policy")]
    WeakPassword(Vec<PolicyViolation>),
    /// The change would leave no active ADMIN.
    #[error("the change would leave no active administrator")]
    LastAdmin,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Lists accounts, oldest first, a page at a time.
    ///
    /// # Errors
    /// [`UnexpectedError`] when storage fails.
    pub async fn list_users(&self, filter: &UserFilter, limit: u64) -> Result<UserPage, UnexpectedError> {
        Ok(self.ports.users.list(filter, limit).await?)
    }

    /// Returns one account.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown id.
    pub async fn get_user(&self, id: UserId) -> Result<User, AdminError> {
        self.ports
            .users
            .find_by_id(id)
            .await
            .map_err(UnexpectedError::from)?
            .ok_or(AdminError::NotFound)
    }

    /// Creates an account with any role and a temporary password the user must change at first
    /// login.
    ///
    /// # Errors
    /// [`AdminError::EmailTaken`] or [`AdminError::WeakPassword`].
    #[tracing::instrument(name = "create_user", skip_all, fields(admin_id = admin.map(|admin| tracing::field::display(admin.user_id)), user_id = tracing::field::Empty, request_id = context.request_id.as_deref()))]
    pub async fn create_user(
        &self,
        admin: Option<&AccessTokenClaims>,
        request: CreateUserRequest,
        context: &RequestContext,
    ) -> Result<User, AdminError> {
        let policy_context = PasswordContext {
            email: request.email.as_str(),
            full_name: request.full_name.as_str(),
            // Every sign-in of a role that requires a second factor uses one.
            mfa_enforced: self.settings.mfa.requires(request.role),
        };
        self.settings
            .password_policy
            .check(request.temporary_password.expose_secret(), &policy_context)
            .map_err(AdminError::WeakPassword)?;
        let password_hash = self
            .ports
            .hasher
            .hash(&request.temporary_password)
            .await
            .map_err(UnexpectedError::from)?;

        let user = User {
            id: UserId::from_random_bytes(self.ports.random.bytes()),
            email: request.email,
            full_name: request.full_name,
            role: request.role,
            status: UserStatus::Active,
            created_at: self.ports.clock.now(),
            must_change_password: admin.is_some(),
        };
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        let mut event = self.audit_event(EventFacts {
            event_type: AuditEventType::UserCreated,
            outcome: AuditOutcome::Success,
            user_id: Some(user.id),
            resource: Some(format!("user:{}", user.id)),
            detail: Some(if admin.is_some() {
                "created_by_admin"
            } else {
                "created_from_cli"
            }),
            context,
        });
        event.actor_id = admin.map(|admin| admin.user_id);
        event.changes = Some(format!("role: - -> {}\nstatus: - -> active", user.role));

        let new_user = NewUser { user, password_hash };
        match self.ports.users.insert(&new_user, &event).await {
            Ok(()) => {
                tracing::info!(role = %new_user.user.role, "user created by an administrator");
                Ok(new_user.user)
            }
            Err(InsertUserError::EmailTaken) => Err(AdminError::EmailTaken),
            Err(InsertUserError::Repository(error)) => Err(UnexpectedError::from(error).into()),
        }
    }

    /// Changes an account's role or status. A change of either ends all of the user's sessions
    /// at once, because their tokens carry the old role.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], or [`AdminError::LastAdmin`] when the change would leave no
    /// active ADMIN.
    #[tracing::instrument(name = "update_user", skip_all, fields(admin_id = %admin.user_id, user_id = %id, request_id = context.request_id.as_deref()))]
    pub async fn update_user(
        &self,
        admin: &AccessTokenClaims,
        id: UserId,
        request: UpdateUserRequest,
        context: &RequestContext,
    ) -> Result<User, AdminError> {
        let before = self.get_user(id).await?;
        let mut after = before.clone();
        after.role = request.role.unwrap_or(before.role);
        after.status = request.status.unwrap_or(before.status);
        let mut changes = Vec::new();
        if after.role != before.role {
            changes.push(format!("role: {} -> {}", before.role, after.role));
        }
        if after.status != before.status {
            changes.push(format!(
                "status: {} -> {}",
                before.status.as_str(),
                after.status.as_str()
            ));
        }
        if changes.is_empty() {
            return Ok(before);
        }

        let now = self.ports.clock.now();
        let mut event = self.audit_event(EventFacts {
            event_type: AuditEventType::UserUpdated,
            outcome: AuditOutcome::Success,
            user_id: Some(id),
            resource: Some(format!("user:{id}")),
            detail: None,
            context,
        });
        event.actor_id = Some(admin.user_id);
        event.changes = Some(changes.join("\n"));
        match self.ports.users.update_account(&after, now, &event).await {
            Ok(()) => {}
            Err(UpdateUserError::LastAdmin) => {
                tracing::info!("user update rejected: it would leave no active administrator");
                return Err(AdminError::LastAdmin);
            }
            Err(UpdateUserError::NotFound) => return Err(AdminError::NotFound),
            Err(UpdateUserError::Repository(error)) => return Err(UnexpectedError::from(error).into()),
        }

        let ended = self.end_all_sessions_of(admin, id, "account_changed", context).await?;
        tracing::info!(changes = %changes.join(", "), sessions_ended = ended, "user updated by an administrator");
        Ok(after)
    }

    /// Clears every lockout of an account.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], or an unexpected failure of the lockout store.
    pub async fn unlock_user(
        &self,
        admin: &AccessTokenClaims,
        id: UserId,
        context: &RequestContext,
    ) -> Result<(), AdminError> {
        self.get_user(id).await?;
        self.ports
            .lockout
            .unlock(id)
            .await
            .map_err(|error| UnexpectedError::new("lockout store failed", error))?;
        let mut event = self.audit_event(EventFacts {
            event_type: AuditEventType::UserUnlocked,
            outcome: AuditOutcome::Success,
            user_id: Some(id),
            resource: Some(format!("user:{id}")),
            detail: None,
            context,
        });
        event.actor_id = Some(admin.user_id);
        self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
        tracing::info!(admin_id = %admin.user_id, user_id = %id, "lockout cleared by an administrator");
        Ok(())
    }

    /// Ends every session of an account.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown id.
    pub async fn end_user_sessions(
        &self,
        admin: &AccessTokenClaims,
        id: UserId,
        context: &RequestContext,
    ) -> Result<usize, AdminError> {
        self.get_user(id).await?;
        Ok(self.end_all_sessions_of(admin, id, "ended_by_admin", context).await?)
    }

    async fn end_all_sessions_of(
        &self,
        admin: &AccessTokenClaims,
        id: UserId,
        reason: &'static str,
        context: &RequestContext,
    ) -> Result<usize, UnexpectedError> {
        let now = self.ports.clock.now();
        let mut event = self.audit_event(EventFacts {
            event_type: AuditEventType::UserSessionsEnded,
            outcome: AuditOutcome::Success,
            user_id: Some(id),
            resource: Some(format!("user:{id}")),
            detail: Some(reason),
            context,
        });
        event.actor_id = Some(admin.user_id);
        let revoked = self.ports.sessions.revoke_all(id, None, now, &event).await?;
        for session_id in &revoked {
            self.ports.revocations.revoke(*session_id, now);
        }
        Ok(revoked.len())
    }

    /// Counts the active administrators, for the first-administrator command.
    ///
    /// # Errors
    /// [`UnexpectedError`] when storage fails.
    pub async fn count_active_admins(&self) -> Result<u64, UnexpectedError> {
        Ok(self.ports.users.count_active_admins().await?)
    }
}

impl AuthService {
    /// Returns an account to its owner, or to a caller allowed to read users. Anyone else gets
    /// [`AdminError::NotFound`], exactly as for an id that does not exist.
    ///
    /// # Errors
    /// [`AdminError::NotFound`].
    pub async fn get_visible_user(&self, caller: &AccessTokenClaims, id: UserId) -> Result<User, AdminError> {
        let may_read_others = caller.role.has(somnium_domain::Permission::UsersRead);
        if id != caller.user_id && !may_read_others {
            return Err(AdminError::NotFound);
        }
        self.get_user(id).await
    }

    /// Changes the caller's own full name.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] when the account is gone.
    pub async fn update_profile(
        &self,
        caller: &AccessTokenClaims,
        full_name: FullName,
        context: &RequestContext,
    ) -> Result<User, AdminError> {
        let mut user = self.get_user(caller.user_id).await?;
        if user.full_name == full_name {
            return Ok(user);
        }
        user.full_name = full_name;
        let mut event = self.audit_event(EventFacts {
            event_type: AuditEventType::ProfileUpdated,
            outcome: AuditOutcome::Success,
            user_id: Some(user.id),
            resource: Some(format!("user:{}", user.id)),
            detail: None,
            context,
        });
        // The name itself is personal data and stays out of the trail.
        event.changes = Some("full_name: changed".to_owned());
        match self
            .ports
            .users
            .update_account(&user, self.ports.clock.now(), &event)
            .await
        {
            Ok(()) => Ok(user),
            Err(UpdateUserError::NotFound) => Err(AdminError::NotFound),
            Err(UpdateUserError::LastAdmin) => Err(AdminError::LastAdmin),
            Err(UpdateUserError::Repository(error)) => Err(UnexpectedError::from(error).into()),
        }
    }
}
