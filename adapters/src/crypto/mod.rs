//! Password hashing, field encryption, refresh-token minting, randomness and the system clock.

mod argon2id;
mod clock;
pub mod field_encryption;
mod random;
mod refresh_token;
mod totp;

pub use argon2id::{Argon2Params, Argon2idHasher};
pub use clock::SystemClock;
pub use field_encryption::{AesGcmFieldEncryption, BlindIndexKey, KeyMaterialError, KeyRing};
pub use random::OsRandom;
pub use refresh_token::Sha256RefreshTokens;
pub use totp::HmacTotpCodes;
