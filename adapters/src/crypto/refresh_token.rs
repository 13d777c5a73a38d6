use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use somnium_domain::ports::RefreshTokenMinter;
use somnium_domain::{RefreshToken, SuccessorSeed};

/// Bytes of CSPRNG output in a minted refresh token (256 bits).
const TOKEN_BYTES: usize = 32;

/// Domain separation for successor derivation, so the HMAC output cannot be confused with any
/// other use of the same key.
const SUCCESSOR_LABEL: &[u8] = b"somnium refresh-token successor v1";

/// Refresh tokens as 43 base64url characters, stored as their SHA-256.
///
/// A successor is HMAC-SHA256 keyed with the spent token over a random seed. A client that
/// presents the spent token again gets the same successor (the grace-period retry). A copy of
/// the database contains the seed but only the spent token's hash, so it cannot derive the
/// successor.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sha256RefreshTokens;

impl RefreshTokenMinter for Sha256RefreshTokens {
    fn mint(&self) -> RefreshToken {
        let mut bytes = [0_u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        RefreshToken::new(URL_SAFE_NO_PAD.encode(bytes))
    }

    fn derive_successor(&self, spent: &RefreshToken, seed: &SuccessorSeed) -> RefreshToken {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(spent.expose_secret().as_bytes()).expect("HMAC takes keys of any length");
        mac.update(SUCCESSOR_LABEL);
        mac.update(&seed.0);
        RefreshToken::new(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn hash(&self, token: &RefreshToken) -> String {
        hex::encode(Sha256::digest(token.expose_secret().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_carry_256_bits() {
        let token = Sha256RefreshTokens.mint();
        let decoded = URL_SAFE_NO_PAD.decode(token.expose_secret()).unwrap();
        assert_eq!(decoded.len(), 32);
        assert_ne!(token.expose_secret(), Sha256RefreshTokens.mint().expose_secret());
    }

    #[test]
    fn successor_depends_on_token_and_seed() {
        let minter = Sha256RefreshTokens;
        let token = minter.mint();
        let other = minter.mint();
        let seed = SuccessorSeed([7; 32]);

        let first = minter.derive_successor(&token, &seed);
        assert_eq!(
            first.expose_secret(),
            minter.derive_successor(&token, &seed).expose_secret()
        );
        assert_ne!(
            first.expose_secret(),
            minter.derive_successor(&other, &seed).expose_secret()
        );
        assert_ne!(
            first.expose_secret(),
            minter.derive_successor(&token, &SuccessorSeed([8; 32])).expose_secret()
        );
    }

    #[test]
    fn hash_is_hex_sha256() {
        let hash = Sha256RefreshTokens.hash(&RefreshToken::new("abc".into()));
        assert_eq!(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
