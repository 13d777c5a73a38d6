use std::cell::RefCell;
use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash as PhcHash, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use somnium_domain::ports::{HasherError, PasswordHasher};
use somnium_domain::{Password, PasswordHash};
use tokio::sync::oneshot;
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

/// Argon2id on a few threads of its own, `max_concurrent` of them (one per core by default).
///
/// A burst of logins queues here, and the async workers keep serving requests that need no
/// hashing. Dedicated threads also bound memory: each hash allocates its 19 MiB block array, and
/// the allocator keeps freed memory per thread arena, so hashing on tokio's blocking pool (up to
/// 512 threads) let the resident set grow by that much for every thread that ever hashed.
#[derive(Clone)]
pub struct Argon2idHasher {
    params: Argon2Params,
    jobs: Arc<Mutex<mpsc::Sender<Job>>>,
}

type Job = Box<dyn FnOnce(&Argon2<'static>) + Send>;

impl Argon2idHasher {
    /// # Errors
    /// Returns a message naming the parameter when argon2 rejects the parameters.
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, String> {
        let argon2_params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|error| format!("invalid argon2 parameters: {error}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..max_concurrent.max(1) {
            let receiver = receiver.clone();
            let argon2 = argon2.clone();
            std::thread::Builder::new()
                .name(format!("argon2id-{index}"))
                .spawn(move || loop {
                    // The lock is held only while taking a job; the threads end when every
                    // hasher clone, and with it the sender, is gone.
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&argon2),
                        Err(_) => return,
                    }
                })
                .map_err(|error| format!("could not start an argon2id thread: {error}"))?;
        }
        Ok(Self {
            params,
            jobs: Arc::new(Mutex::new(sender)),
        })
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HasherError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |argon2| {
            // The receiver is gone only when the request was dropped; nobody wants the result.
            let _ = done.send(work(argon2));
        });
        self.jobs
            .lock()
            .map_err(|_| HasherError::Unexpected("the argon2id queue lock is poisoned".into()))?
            .send(job)
            .map_err(|_| HasherError::Unexpected("the argon2id threads have stopped".into()))?;
        // The wait is traced as a child span on this task. No span handle is moved to the
        // hashing threads: one dropped there can keep the request's trace open and unexported.
        result
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
            .run_blocking(move |argon2| hash_phc(argon2, password.expose_secret().as_bytes()))
            .await??;
        Ok(PasswordHash::new(phc))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HasherError> {
        let password = password.clone();
        let hash = hash.clone();
        self.run_blocking(move |argon2| {
            let parsed = PhcHash::new(hash.expose_secret()).map_err(|_| HasherError::InvalidHash)?;
            verify_phc(argon2, password.expose_secret().as_bytes(), &parsed)
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

thread_local! {
    /// The block array of this hashing thread, reused by every hash it computes. Argon2 writes
    /// each block before it reads it, so nothing needs clearing between passwords.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn with_blocks<T>(count: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        work(&mut blocks[..count])
    })
}

/// Hashes with a fresh salt and returns the PHC string, in the thread's reused block array.
fn hash_phc(argon2: &Argon2<'static>, password: &[u8]) -> Result<String, HasherError> {
    let failed = |error: argon2::Error| HasherError::Unexpected(error.to_string().into());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0_u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|error| HasherError::Unexpected(error.to_string().into()))?;
    let params = argon2.params();
    let mut output = [0_u8; Params::DEFAULT_OUTPUT_LEN];
    with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt_bytes, &mut output, blocks)
    })
    .map_err(failed)?;
    let output = Output::new(&output).map_err(|error| HasherError::Unexpected(error.to_string().into()))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${output}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str()
    ))
}

/// Verifies against the parameters stored in the hash, so old hashes keep verifying after the
/// configured cost changes. Argon2id hashes use the thread's reused block array.
fn verify_phc(argon2: &Argon2<'static>, password: &[u8], parsed: &PhcHash<'_>) -> Result<bool, HasherError> {
    let failed = |error: &dyn std::fmt::Display| HasherError::Unexpected(error.to_string().into());
    let version = parsed.version.and_then(|version| Version::try_from(version).ok());
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HasherError::InvalidHash);
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT || version != Some(Version::V0x13) {
        // Other variants were never written by Somnium; the library's own path handles them.
        return match argon2.verify_password(password, parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(error) => Err(failed(&error)),
        };
    }
    let stored = Params::try_from(parsed).map_err(|_| HasherError::InvalidHash)?;
    let params = Params::new(stored.m_cost(), stored.t_cost(), stored.p_cost(), Some(expected.len()))
        .map_err(|_| HasherError::InvalidHash)?;
    let mut salt_bytes = [0_u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|_| HasherError::InvalidHash)?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut output = vec![0_u8; expected.len()];
    with_blocks(params.block_count(), |blocks| {
        hasher.hash_password_into_with_memory(password, salt_bytes, &mut output, blocks)
    })
    .map_err(|error| failed(&error))?;
    let output = Output::new(&output).map_err(|error| failed(&error))?;
    // `Output` compares in constant time.
    Ok(output == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Argon2idHasher {
        Argon2idHasher::new(Argon2Params::default(), 1).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_here_and_with_the_library() {
        let hasher = hasher();
        let password = Password::presented(secrecy::SecretString::from("Correct-Horse-9"));
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.expose_secret().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify(&password, &hash).await.unwrap());
        let wrong = Password::presented(secrecy::SecretString::from("Correct-Horse-8"));
        assert!(!hasher.verify(&wrong, &hash).await.unwrap());

        let parsed = PhcHash::new(hash.expose_secret()).unwrap();
        assert!(Argon2::default().verify_password(b"Correct-Horse-9", &parsed).is_ok());
        assert!(!hasher.needs_rehash(&hash));
    }

    #[tokio::test]
    async fn hashes_made_by_the_library_with_other_costs_verify() {
        let library = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 3, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon2::PasswordHasher::hash_password(&library, b"Night-Shift-42!", &salt)
            .unwrap()
            .to_string();
        let hasher = hasher();
        let hash = PasswordHash::new(phc);
        let password = Password::presented(secrecy::SecretString::from("Night-Shift-42!"));
        assert!(hasher.verify(&password, &hash).await.unwrap());
        assert!(hasher.needs_rehash(&hash));
        let garbage = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bm90LWJhc2U2NCE$AAAA".to_owned());
        assert!(hasher.verify(&password, &garbage).await.is_err());
    }
}
