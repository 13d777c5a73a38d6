//! RFC 6238 TOTP codes with HMAC-SHA1, and keyed hashes of recovery codes.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use somnium_domain::mfa::{TotpSecret, TOTP_DIGITS};
use somnium_domain::ports::TotpCodes;
use zeroize::Zeroizing;

/// [`TotpCodes`] with HMAC-SHA1 (the algorithm authenticator apps use by default) and
/// recovery codes hashed with HMAC-SHA256 under a server key.
pub struct HmacTotpCodes {
    recovery_code_key: Zeroizing<[u8; 32]>,
}

impl HmacTotpCodes {
    /// `recovery_code_key` keys the recovery-code hash; without it a stolen hash cannot be
    /// tested against guesses.
    pub fn new(recovery_code_key: [u8; 32]) -> Self {
        Self {
            recovery_code_key: Zeroizing::new(recovery_code_key),
        }
    }
}

/// The RFC 4226 HOTP value of `counter`, truncated to `digits` decimal digits.
fn hotp(key: &[u8], counter: u64, digits: usize) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    let modulus = 10_u32.pow(u32::try_from(digits).expect("a handful of digits"));
    format!("{:0width$}", binary % modulus, width = digits)
}

impl TotpCodes for HmacTotpCodes {
    fn code(&self, secret: &TotpSecret, step: i64) -> String {
        // Steps before 1970 do not occur; a negative one gets a code nobody can present.
        let Ok(counter) = u64::try_from(step) else {
            return String::new();
        };
        hotp(secret.expose_bytes(), counter, TOTP_DIGITS)
    }

    fn hash_recovery_code(&self, normalized: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.recovery_code_key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(b"somnium recovery code\0");
        mac.update(normalized.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 test vectors of RFC 6238, appendix B, with the 20-byte ASCII secret
    /// "12345678901234567890" and 8 digits.
    #[test]
    fn codes_match_the_rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59_u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(secret, time / 30, 8), expected, "T = {time}");
        }
    }

    #[test]
    fn six_digit_codes_are_the_last_six_of_the_vector() {
        let secret = TotpSecret::new(*b"12345678901234567890");
        let codes = HmacTotpCodes::new([1; 32]);
        assert_eq!(codes.code(&secret, 59 / 30), "287082");
        assert_eq!(codes.code(&secret, -1), "");
    }

    #[test]
    fn recovery_code_hashes_depend_on_the_key() {
        let first = HmacTotpCodes::new([1; 32]);
        let second = HmacTotpCodes::new([2; 32]);
        assert_eq!(
            first.hash_recovery_code("abcde12345"),
            first.hash_recovery_code("abcde12345")
        );
        assert_ne!(
            first.hash_recovery_code("abcde12345"),
            second.hash_recovery_code("abcde12345")
        );
    }
}
