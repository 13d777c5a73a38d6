use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use somnium_domain::ports::{HasherError, PasswordHasher};
use somnium_domain::{Password, PasswordHash};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Argon2id on tokio's blocking pool.
///
/// At most `max_concurrent` hashes run at once (one per core by default), so a burst of logins
/// queues here instead of occupying every blocking thread, and the async workers keep serving
/// requests that need no hashing.
#[derive(Clone)]
pub struct Argon2idHasher {
    argon2: Argon2<'static>,
    params: Argon2Params,
    permits: Arc<Semaphore>,
}

impl Argon2idHasher {
    /// # Errors
    /// Returns a message naming the parameter when argon2 rejects the parameters.
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, String> {
        let argon2_params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|error| format!("invalid argon2 parameters: {error}"))?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params),
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        })
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HasherError> {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the hashing semaphore is never closed");
        let argon2 = self.argon2.clone();
        // The wait is traced as a child span on this task. No span handle is moved to the
        // blocking pool: one dropped there can keep the request's trace open and unexported.
        tokio::task::spawn_blocking(move || work(&argon2))
            .instrument(tracing::info_span!("argon2id"))
            .await
            .map_err(|error| HasherError::Unexpected(Box::new(error)))
    }
}

#[async_trait]
impl PasswordHasher for Argon2idHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HasherError> {
        let password = password.clone();
        let phc = self
            .run_blocking(move |argon2| {
                let salt = SaltString::generate(&mut OsRng);
                argon2
                    .hash_password(password.expose_secret().as_bytes(), &salt)
                    .map(|hash| hash.to_string())
            })
            .await?
            .map_err(|error| HasherError::Unexpected(error.to_string().into()))?;
        Ok(PasswordHash::new(phc))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HasherError> {
        let password = password.clone();
        let hash = hash.clone();
        self.run_blocking(move |argon2| {
            let parsed = PhcHash::new(hash.expose_secret()).map_err(|_| HasherError::InvalidHash)?;
            // The parameters stored in the hash are the ones used, so old hashes keep verifying
            // after the configured cost changes.
            match argon2.verify_password(password.expose_secret().as_bytes(), &parsed) {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::Password) => Ok(false),
                Err(error) => Err(HasherError::Unexpected(error.to_string().into())),
            }
        })
        .await?
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = PhcHash::new(hash.expose_secret()) else {
            return false;
        };
        let Ok(stored) = Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm != argon2::ARGON2ID_IDENT
            || parsed.version != Some(Version::V0x13 as u32)
            || stored.m_cost() != self.params.memory_kib
            || stored.t_cost() != self.params.iterations
            || stored.p_cost() != self.params.parallelism
    }
}
