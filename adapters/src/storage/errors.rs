//! Translation of sea-orm errors into the ports' error types.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use somnium_domain::ports::RepositoryError;

pub(crate) fn repository_error(error: DbErr) -> RepositoryError {
    tracing::error!(error = %error, "database call failed");
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(RuntimeErr::SqlxError(_)) => {
            RepositoryError::Unavailable(Box::new(error))
        }
        other => RepositoryError::Unexpected(Box::new(other)),
    }
}

pub(crate) fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Reports a stored value the code cannot read back, such as an unknown role name.
pub(crate) fn corrupt_row(what: String) -> RepositoryError {
    tracing::error!(problem = %what, "stored row cannot be read");
    RepositoryError::Unexpected(what.into())
}
