//! ES256 access tokens (RFC 9068 profile) signed and verified with josekit, and the JWKS that
//! publishes their public keys.

mod keys;
mod tokens;

pub use keys::{SigningKey, SigningKeyError};
pub use tokens::{Es256AccessTokens, JwtSettings, ManagedKey, DEVICE_TOKEN_LIFETIME, MAX_LEEWAY};
