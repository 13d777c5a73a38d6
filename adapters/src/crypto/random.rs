use rand::rngs::OsRng;
use rand::RngCore;
use somnium_domain::ports::SecureRandom;

/// The operating system's CSPRNG (`getrandom`).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, destination: &mut [u8]) {
        OsRng.fill_bytes(destination);
    }
}
