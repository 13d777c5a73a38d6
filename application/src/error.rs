use std::error::Error as StdError;

use somnium_domain::ports::{AccessTokenError, HasherError, RepositoryError};

/// A failure the use case cannot recover from or explain to the caller: storage down, a hash
/// that cannot be parsed, a key that cannot sign. The HTTP adapter answers it with a 500 and
/// logs the source chain.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct UnexpectedError {
    context: &'static str,
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl UnexpectedError {
    pub fn new(context: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            context,
            source: source.into(),
        }
    }
}

impl From<RepositoryError> for UnexpectedError {
    fn from(error: RepositoryError) -> Self {
        Self::new("storage call failed", error)
    }
}

impl From<HasherError> for UnexpectedError {
    fn from(error: HasherError) -> Self {
        Self::new("password hashing failed", error)
    }
}

impl From<AccessTokenError> for UnexpectedError {
    fn from(error: AccessTokenError) -> Self {
        Self::new("access token signing failed", error)
    }
}
