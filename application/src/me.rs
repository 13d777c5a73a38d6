//! The current user, as named by a verified access token.

use somnium_domain::{AccessTokenClaims, User, UserStatus};

use crate::error::UnexpectedError;
use crate::service::AuthService;

#[derive(Debug, thiserror::Error)]
pub enum CurrentUserError {
    /// The token is valid but its account is gone or disabled.
    #[error("the account behind this token is no longer available")]
    AccountUnavailable,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl AuthService {
    /// Returns the caller's account.
    ///
    /// # Errors
    /// [`CurrentUserError::AccountUnavailable`] when the account was removed or disabled after
    /// the token was issued.
    pub async fn current_user(&self, caller: &AccessTokenClaims) -> Result<User, CurrentUserError> {
        let user = self
            .ports
            .users
            .find_by_id_for_display(caller.user_id)
            .await
            .map_err(UnexpectedError::from)?;
        user.filter(|user| user.status == UserStatus::Active)
            .ok_or(CurrentUserError::AccountUnavailable)
    }
}
