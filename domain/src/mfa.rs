//! Second factor: TOTP (RFC 6238) secrets and steps, recovery codes, and the challenge a client
//! answers after the password step. Computing a code needs HMAC-SHA1, which lives behind the
//! [`TotpCodes`](crate::ports::TotpCodes) port; everything here is plain data and arithmetic.

use secrecy::{ExposeSecret, SecretBox};
use time::{Duration, OffsetDateTime};

use crate::ids::UserId;
use crate::user::Role;

/// Length of a TOTP code.
pub const TOTP_DIGITS: usize = 6;
/// Seconds per TOTP step.
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Steps of clock drift accepted on either side of the current one.
pub const TOTP_DRIFT_STEPS: i64 = 1;
/// Bytes of a TOTP secret: 160 bits, the HMAC-SHA1 block RFC 4226 recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
/// Recovery codes issued at once.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Wrong codes one challenge takes before it is void.
pub const CHALLENGE_MAX_FAILURES: u32 = 5;
/// How long a challenge issued after the password step stays usable.
pub const CHALLENGE_LIFETIME: Duration = Duration::minutes(5);
/// Wrong codes one account takes per [`ACCOUNT_FAILURE_WINDOW`], across all its challenges,
/// before its second factor is blocked until the window passes.
pub const ACCOUNT_MAX_FAILURES: u32 = 10;
pub const ACCOUNT_FAILURE_WINDOW: Duration = Duration::hours(1);

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A TOTP shared secret. Shown to its user once, at enrollment.
pub struct TotpSecret(SecretBox<[u8; TOTP_SECRET_BYTES]>);

impl TotpSecret {
    pub fn new(bytes: [u8; TOTP_SECRET_BYTES]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Parses the unpadded RFC 4648 base32 form, as stored and as shown to the user.
    pub fn from_base32(text: &str) -> Option<Self> {
        let bytes = base32_decode(text)?;
        let bytes: [u8; TOTP_SECRET_BYTES] = bytes.try_into().ok()?;
        Some(Self::new(bytes))
    }

    pub fn expose_bytes(&self) -> &[u8; TOTP_SECRET_BYTES] {
        self.0.expose_secret()
    }

    /// The unpadded RFC 4648 base32 form authenticator apps read.
    pub fn expose_base32(&self) -> String {
        base32_encode(self.0.expose_secret())
    }

    /// The `otpauth://` URI that authenticator apps import, labelled `issuer:account`.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", percent_encode(issuer), percent_encode(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}",
            self.expose_base32(),
            percent_encode(issuer)
        )
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TotpSecret(<redacted>)")
    }
}

/// The TOTP step that contains `at`.
pub fn step_at(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(TOTP_STEP_SECONDS)
}

/// The steps a presented code may come from at `now`: the current one first, then its
/// neighbours within the accepted drift.
pub fn candidate_steps(now: OffsetDateTime) -> impl Iterator<Item = i64> {
    let current = step_at(now);
    std::iter::once(current).chain((1..=TOTP_DRIFT_STEPS).flat_map(move |offset| [current - offset, current + offset]))
}

/// Compares two codes in time that depends only on their length.
pub fn codes_match(expected: &str, presented: &str) -> bool {
    if expected.len() != presented.len() {
        return false;
    }
    expected
        .bytes()
        .zip(presented.bytes())
        .fold(0_u8, |difference, (left, right)| difference | (left ^ right))
        == 0
}

/// Whether `presented` has the shape of a TOTP code: exactly six ASCII digits.
pub fn is_totp_code(presented: &str) -> bool {
    presented.len() == TOTP_DIGITS && presented.bytes().all(|byte| byte.is_ascii_digit())
}

/// A single-use recovery code, such as `k7mqz-2xfpa`.
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    /// Builds a code from 7 random bytes: 10 base32 characters, 50 bits.
    pub fn from_random(bytes: [u8; 7]) -> Self {
        let text = base32_encode(&bytes).to_ascii_lowercase();
        Self(format!("{}-{}", &text[..5], &text[5..10]))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The form a presented code is compared in: lower case, without dashes or spaces, so a
    /// user may type it either way.
    pub fn normalize(presented: &str) -> String {
        presented
            .chars()
            .filter(|character| !matches!(character, '-' | ' ' | '\t'))
            .flat_map(char::to_lowercase)
            .collect()
    }
}

/// A user's TOTP enrollment as stored.
#[derive(Debug)]
pub struct TotpEnrollment {
    pub user_id: UserId,
    pub secret: TotpSecret,
    /// `None` while the enrollment awaits its first correct code; nothing changes at login
    /// until then.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The newest step whose code was accepted; codes from it or an older step are replays.
    pub last_used_step: Option<i64>,
}

impl TotpEnrollment {
    pub fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

/// What a challenge issued after the password step lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// Present a TOTP or recovery code to finish signing in.
    Verify,
    /// Enroll and confirm TOTP, because the role requires it and the user has none.
    Enroll,
}

impl ChallengePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengePurpose::Verify => "verify",
            ChallengePurpose::Enroll => "enroll",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "verify" => Some(ChallengePurpose::Verify),
            "enroll" => Some(ChallengePurpose::Enroll),
            _ => None,
        }
    }
}

/// A challenge as stored; the token itself is kept only as a hash.
#[derive(Clone, Debug)]
pub struct MfaChallenge {
    pub id: uuid::Uuid,
    pub token_hash: String,
    pub user_id: UserId,
    pub purpose: ChallengePurpose,
    /// Carried from the password step to the session the challenge starts.
    pub remember_me: bool,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub failed_attempts: u32,
    pub used_at: Option<OffsetDateTime>,
}

impl MfaChallenge {
    /// Whether the challenge can still be answered at `now`.
    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        self.used_at.is_none() && now < self.expires_at && self.failed_attempts < CHALLENGE_MAX_FAILURES
    }
}

/// Which roles must use a second factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfaPolicy {
    pub required_roles: Vec<Role>,
}

impl MfaPolicy {
    /// Every staff role: ADMIN, ECMO_SPECIALIST, PHYSICIAN and NURSE. Patients may opt in.
    pub fn staff() -> Self {
        Self {
            required_roles: vec![Role::Admin, Role::EcmoSpecialist, Role::Physician, Role::Nurse],
        }
    }

    pub fn requires(&self, role: Role) -> bool {
        self.required_roles.contains(&role)
    }
}

fn base32_encode(bytes: &[u8]) -> String {
    let mut output = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            output.push(char::from(BASE32_ALPHABET[usize::from((buffer >> bits) & 31)]));
        }
    }
    if bits > 0 {
        output.push(char::from(BASE32_ALPHABET[usize::from((buffer << (5 - bits)) & 31)]));
    }
    output
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut output = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits = 0;
    for character in text.trim_end_matches('=').bytes() {
        let value = BASE32_ALPHABET
            .iter()
            .position(|&letter| letter == character.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u16::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            output.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(output)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut output = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            output.push(char::from(byte));
        } else {
            output.push_str(&format!("%{byte:02X}"));
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips_the_rfc_4648_vectors() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert!(base32_decode("M1").is_none());
    }

    #[test]
    fn a_secret_shows_as_32_base32_characters() {
        let secret = TotpSecret::new([7; TOTP_SECRET_BYTES]);
        let text = secret.expose_base32();
        assert_eq!(text.len(), 32);
        assert_eq!(
            TotpSecret::from_base32(&text).unwrap().expose_bytes(),
            &[7; TOTP_SECRET_BYTES]
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let secret = TotpSecret::new([0; TOTP_SECRET_BYTES]);
        let uri = secret.otpauth_uri("St Mary's ICU", "nurse@example.org");
        assert_eq!(
            uri,
            "otpauth://totp/St%20Mary%27s%20ICU:nurse%40example.org?secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
             &issuer=St%20Mary%27s%20ICU&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn candidate_steps_allow_one_step_of_drift() {
        let now = OffsetDateTime::from_unix_timestamp(59).unwrap();
        assert_eq!(candidate_steps(now).collect::<Vec<_>>(), [1, 0, 2]);
    }

    #[test]
    fn codes_compare_exactly() {
        assert!(codes_match("123456", "123456"));
        assert!(!codes_match("123456", "123457"));
        assert!(!codes_match("123456", "12345"));
        assert!(is_totp_code("000123"));
        assert!(!is_totp_code("12345a"));
        assert!(!is_totp_code("1234567"));
    }

    #[test]
    fn recovery_codes_normalize_case_and_dashes() {
        let code = RecoveryCode::from_random([0xab; 7]);
        assert_eq!(code.expose().len(), 11);
        assert_eq!(code.expose().chars().nth(5), Some('-'));
        assert_eq!(
            RecoveryCode::normalize(&code.expose().to_uppercase()),
            code.expose().replace('-', "")
        );
        assert_eq!(RecoveryCode::normalize(" abcde fghij "), "abcdefghij");
    }

    #[test]
    fn staff_roles_require_a_second_factor() {
        let policy = MfaPolicy::staff();
        assert!(policy.requires(Role::Nurse));
        assert!(policy.requires(Role::Admin));
        assert!(!policy.requires(Role::Patient));
    }
}
