use std::cell::RefCell;
use std::time::Duration;

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
/// hashing. The threads run at a lower priority than the workers, so a login storm slows the
/// logins rather than every other request. Each thread hashes in one block array (19 MiB with
/// the default parameters) that it keeps while busy and frees after [`KEEP_BLOCKS_WHEN_IDLE`],
/// so hashing memory is bounded by the thread count and returns to the system when idle.
#[derive(Clone)]
pub struct Argon2idHasher {
    params: Argon2Params,
    jobs: flume::Sender<Job>,
}

type Job = Box<dyn FnOnce(&Argon2<'static>) + Send>;

impl Argon2idHasher {
    /// # Errors
    /// Returns a message naming the parameter when argon2 rejects the parameters.
    pub fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, String> {
        Self::with_idle_release(params, max_concurrent, KEEP_BLOCKS_WHEN_IDLE)
    }

    fn with_idle_release(params: Argon2Params, max_concurrent: usize, keep_blocks: Duration) -> Result<Self, String> {
        let argon2_params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|error| format!("invalid argon2 parameters: {error}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params);
        let (sender, receiver) = flume::unbounded::<Job>();
        for index in 0..max_concurrent.max(1) {
            let receiver = receiver.clone();
            let argon2 = argon2.clone();
            std::thread::Builder::new()
                .name(format!("argon2id-{index}"))
                .spawn(move || {
                    yield_to_request_threads();
                    hash_jobs(&receiver, &argon2, keep_blocks);
                })
                .map_err(|error| format!("could not start an argon2id thread: {error}"))?;
        }
        Ok(Self { params, jobs: sender })
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

/// How long a hashing thread keeps its block array with no work. Holding it costs 19 MiB of
/// resident memory per thread with the default parameters. Allocating it again costs, by
/// estimate, a few milliseconds of page faults once, at the start of the next burst.
const KEEP_BLOCKS_WHEN_IDLE: Duration = Duration::from_secs(5);

/// Runs jobs until every hasher clone, and with it the sender, is gone.
fn hash_jobs(receiver: &flume::Receiver<Job>, argon2: &Argon2<'static>, keep_blocks: Duration) {
    loop {
        let job = match receiver.recv_timeout(keep_blocks) {
            Ok(job) => job,
            Err(flume::RecvTimeoutError::Timeout) => {
                release_blocks();
                match receiver.recv() {
                    Ok(job) => job,
                    Err(flume::RecvError::Disconnected) => return,
                }
            }
            Err(flume::RecvTimeoutError::Disconnected) => return,
        };
        job(argon2);
    }
}

/// The nice value of the hashing threads. Linux gives a thread at nice 10 about a tenth of the
/// CPU share of one at nice 0 (weights 110 and 1024). During a login storm the async workers
/// that serve every other request therefore run first, and the hashes take the time left over.
/// With nothing else to run, the hashing threads still get whole cores.
#[cfg(target_os = "linux")]
const HASHING_NICE: libc::c_int = 10;

#[cfg(target_os = "linux")]
fn yield_to_request_threads() {
    // SAFETY: setpriority takes plain integers and touches no memory of ours. On Linux the nice
    // value belongs to the thread, and `who = 0` names the calling one.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICE) };
    if result != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "could not lower the priority of a password hashing thread; hashing competes with requests"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn yield_to_request_threads() {}

thread_local! {
    /// The block array of this hashing thread, reused by every hash it computes. Argon2 writes
    /// each block before it reads it, so nothing needs clearing between passwords.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Frees this thread's block array and hands the freed pages back to the system. glibc keeps
/// large freed blocks in the thread's arena once its adaptive mmap threshold has grown past
/// them, so the trim is what lowers the resident set.
fn release_blocks() {
    let released = BLOCKS.with(|blocks| std::mem::take(&mut *blocks.borrow_mut()));
    if released.is_empty() {
        return;
    }
    drop(released);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's own arenas to the kernel,
    // and it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
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
    async fn idle_threads_free_blocks_then_hash() {
        let hasher = Argon2idHasher::with_idle_release(Argon2Params::default(), 1, Duration::from_millis(500)).unwrap();
        let password = Password::presented(secrecy::SecretString::from("Ward-7#Lumen"));
        let hash = hasher.hash(&password).await.unwrap();
        let holds_blocks = || {
            let (sender, receiver) = std::sync::mpsc::channel();
            let job: Job = Box::new(move |_| {
                let _ = sender.send(BLOCKS.with(|blocks| blocks.borrow().len()));
            });
            hasher.jobs.send(job).unwrap();
            receiver.recv().unwrap()
        };
        assert_eq!(holds_blocks(), 19_456, "a busy thread keeps its block array");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(holds_blocks(), 0, "an idle thread frees its block array");
        assert!(hasher.verify(&password, &hash).await.unwrap());
        assert_eq!(holds_blocks(), 19_456);
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
