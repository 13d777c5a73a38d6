//! The password policy: the rules a new password must meet, checked without I/O.
//!
//! Two presets exist. [`PolicyPreset::Hospital`] is the hospital's written policy: 8 to 128
//! characters, an upper-case letter, a lower-case letter, a digit and a symbol, no run of 3
//! sequential or repeated characters, not a common password, and no email local part or name.
//! [`PolicyPreset::Nist`] follows NIST SP 800-63B-4, which forbids composition rules and requires
//! at least 15 characters when the password is the only authenticator and 8 when it is one factor
//! of multi-factor authentication. It keeps the blocklist and the personal-information checks.
//!
//! Every rule looks at the password's Unicode NFKC form, so `ﬁ` counts as the two characters `fi`
//! and a full-width `Ｐ` as `P`. Only the checks use that form: [`crate::password::Password`] keeps
//! the password as typed, and that is what gets hashed.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use crate::password::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};

/// Minimum length of the `nist` preset for a password that is the account's only authenticator.
pub const NIST_MIN_CHARS: usize = 15;

/// Minimum length of the `nist` preset for an account with multi-factor authentication enforced.
pub const NIST_MFA_MIN_CHARS: usize = 8;

/// Shortest email local part or name part that a password may not contain. Shorter ones, such as
/// the `al` of `al@example.test`, would reject many unrelated passwords.
const PERSONAL_INFO_MIN_CHARS: usize = 3;

/// Shortest run of sequential or repeated characters that the `hospital` preset rejects.
const RUN_MIN_CHARS: usize = 3;

/// Character orders in which a run of [`RUN_MIN_CHARS`] is a sequence, read forwards or backwards:
/// the alphabet, the digits, and the rows of a QWERTY keyboard. The digit row differs from the
/// digits by ending in 0, which makes `890` and `098` sequences too.
const SEQUENCES: [&str; 6] = [
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "1234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
];

/// The shipped list of the 10,000 most common passwords. `domain/data/README.md` names its source.
///
/// NOTE: zxcvbn left out of this list the passwords that its own pattern matchers catch, such as
/// `aaaaaaaa` and `abcdefgh`. The `nist` preset has no sequence or repeat rules, so it accepts
/// them at its minimum length.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// A named set of password rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PolicyPreset {
    /// The hospital's written policy, with composition, sequence and repeat rules.
    #[default]
    Hospital,
    /// NIST SP 800-63B-4: length, blocklist and personal information only.
    Nist,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown password policy preset `{0}`; expected hospital or nist")]
pub struct UnknownPolicyPreset(pub String);

impl PolicyPreset {
    pub const ALL: [PolicyPreset; 2] = [PolicyPreset::Hospital, PolicyPreset::Nist];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyPreset::Hospital => "hospital",
            PolicyPreset::Nist => "nist",
        }
    }

    /// Minimum length in characters when none is configured.
    pub fn default_min_length(self) -> usize {
        match self {
            PolicyPreset::Hospital => PASSWORD_MIN_CHARS,
            PolicyPreset::Nist => NIST_MIN_CHARS,
        }
    }

    fn enforces_composition_and_patterns(self) -> bool {
        self == PolicyPreset::Hospital
    }
}

impl fmt::Display for PolicyPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyPreset {
    type Err = UnknownPolicyPreset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyPreset::ALL
            .into_iter()
            .find(|preset| preset.as_str() == s)
            .ok_or_else(|| UnknownPolicyPreset(s.to_owned()))
    }
}

/// A set of passwords that may not be used, stored in lower case.
#[derive(Clone, Default)]
pub struct Blocklist {
    entries: HashSet<String>,
}

impl Blocklist {
    /// Loads the shipped list of the 10,000 most common passwords.
    pub fn common_passwords() -> Self {
        Self::from_lines(COMMON_PASSWORDS)
    }

    /// Parses one password per line. Surrounding whitespace is trimmed, and blank lines and lines
    /// starting with `#` are skipped, so a password that starts with `#` cannot be listed.
    pub fn from_lines(text: &str) -> Self {
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(comparison_form)
            .collect();
        Self { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks whether the candidate is listed, ignoring case and Unicode compatibility variants.
    pub fn contains(&self, candidate: &str) -> bool {
        self.entries.contains(&comparison_form(candidate))
    }
}

impl fmt::Debug for Blocklist {
    // Thousands of entries would drown any log line, so only the size is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocklist").field("len", &self.len()).finish()
    }
}

/// Details of the account whose password is checked.
#[derive(Clone, Copy, Default)]
pub struct PasswordContext<'a> {
    /// The account's email address. The password may not contain its local part, the text before
    /// the last `@`, unless that is shorter than 3 characters.
    pub email: &'a str,
    /// The account holder's full name. The password may not contain the name or any
    /// whitespace-separated part of it of 3 or more characters.
    pub full_name: &'a str,
    /// Whether the account must sign in with a second factor, which lowers the `nist` minimum to 8.
    pub mfa_enforced: bool,
}

impl fmt::Debug for PasswordContext<'_> {
    // Debug output reaches logs, and an email address and a name are personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordContext")
            .field("email", &"<redacted>")
            .field("full_name", &"<redacted>")
            .field("mfa_enforced", &self.mfa_enforced)
            .finish()
    }
}

/// The rule that a password broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationCode {
    TooShort,
    TooLong,
    MissingUppercase,
    MissingLowercase,
    MissingDigit,
    MissingSymbol,
    CommonPassword,
    ContainsEmail,
    ContainsName,
    SequentialCharacters,
    RepeatedCharacters,
}

impl ViolationCode {
    pub const ALL: [ViolationCode; 11] = [
        ViolationCode::TooShort,
        ViolationCode::TooLong,
        ViolationCode::MissingUppercase,
        ViolationCode::MissingLowercase,
        ViolationCode::MissingDigit,
        ViolationCode::MissingSymbol,
        ViolationCode::CommonPassword,
        ViolationCode::ContainsEmail,
        ViolationCode::ContainsName,
        ViolationCode::SequentialCharacters,
        ViolationCode::RepeatedCharacters,
    ];

    /// Returns the machine-readable code sent to API clients.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationCode::TooShort => "too_short",
            ViolationCode::TooLong => "too_long",
            ViolationCode::MissingUppercase => "missing_uppercase",
            ViolationCode::MissingLowercase => "missing_lowercase",
            ViolationCode::MissingDigit => "missing_digit",
            ViolationCode::MissingSymbol => "missing_symbol",
            ViolationCode::CommonPassword => "common_password",
            ViolationCode::ContainsEmail => "contains_email",
            ViolationCode::ContainsName => "contains_name",
            ViolationCode::SequentialCharacters => "sequential_characters",
            ViolationCode::RepeatedCharacters => "repeated_characters",
        }
    }
}

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule, with a message a form can show next to the password field. The message never
/// contains the password, the email address or the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyViolation {
    pub code: ViolationCode,
    pub message: String,
}

impl PolicyViolation {
    fn new(code: ViolationCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    #[error(
        "password minimum length {requested} is below {PASSWORD_MIN_CHARS}; \
         set a minimum from {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"
    )]
    MinLengthTooLow { requested: usize },
    #[error(
        "password minimum length {requested} is above the maximum length {PASSWORD_MAX_CHARS}; \
         set a minimum from {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"
    )]
    MinLengthTooHigh { requested: usize },
}

/// The rules in force, as published to clients so a form can explain them before submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRules {
    pub preset: PolicyPreset,
    /// Minimum length in characters, after NFKC normalization.
    pub min_length: usize,
    /// Minimum length for an account with multi-factor authentication enforced.
    pub min_length_with_mfa: usize,
    /// Maximum length in characters, after NFKC normalization.
    pub max_length: usize,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    /// A character that is neither a letter nor a digit, such as `!` or a space.
    pub require_symbol: bool,
    /// Runs of 3 such as `abc`, `321` or `qwe`.
    pub forbid_sequences: bool,
    /// Runs of 3 of one character such as `aaa`.
    pub forbid_repeats: bool,
    /// Number of passwords on the blocklist.
    pub blocklist_size: usize,
    /// Whether the email local part and the full name are rejected inside a password.
    pub forbid_personal_info: bool,
}

/// A configured password policy.
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    preset: PolicyPreset,
    min_length: usize,
    min_length_with_mfa: usize,
    blocklist: Arc<Blocklist>,
}

impl PasswordPolicy {
    /// Builds a policy from a preset, an optional minimum length and a blocklist. Without a minimum,
    /// the preset's default applies: 8 for `hospital`, 15 for `nist`. Under `nist`, an account with
    /// MFA enforced needs 8 characters, or the configured minimum when that is lower.
    ///
    /// # Errors
    /// [`PolicyConfigError`] when the minimum is below 8 or above the maximum length of 128.
    pub fn new(
        preset: PolicyPreset,
        min_length: Option<usize>,
        blocklist: Arc<Blocklist>,
    ) -> Result<Self, PolicyConfigError> {
        let min_length = min_length.unwrap_or_else(|| preset.default_min_length());
        if min_length < PASSWORD_MIN_CHARS {
            return Err(PolicyConfigError::MinLengthTooLow { requested: min_length });
        }
        if min_length > PASSWORD_MAX_CHARS {
            return Err(PolicyConfigError::MinLengthTooHigh { requested: min_length });
        }

        let min_length_with_mfa = match preset {
            PolicyPreset::Hospital => min_length,
            PolicyPreset::Nist => min_length.min(NIST_MFA_MIN_CHARS),
        };
        Ok(Self {
            preset,
            min_length,
            min_length_with_mfa,
            blocklist,
        })
    }

    pub fn preset(&self) -> PolicyPreset {
        self.preset
    }

    /// Returns the minimum length that applies to an account with or without MFA enforced.
    pub fn min_length_for(&self, mfa_enforced: bool) -> usize {
        if mfa_enforced {
            self.min_length_with_mfa
        } else {
            self.min_length
        }
    }

    /// Describes the rules in force, for publishing to clients.
    pub fn rules(&self) -> PolicyRules {
        let strict = self.preset.enforces_composition_and_patterns();
        PolicyRules {
            preset: self.preset,
            min_length: self.min_length,
            min_length_with_mfa: self.min_length_with_mfa,
            max_length: PASSWORD_MAX_CHARS,
            require_uppercase: strict,
            require_lowercase: strict,
            require_digit: strict,
            require_symbol: strict,
            forbid_sequences: strict,
            forbid_repeats: strict,
            blocklist_size: self.blocklist.len(),
            forbid_personal_info: true,
        }
    }

    /// Checks a new password against every rule in force.
    ///
    /// # Errors
    /// Every violated rule, in the order of [`ViolationCode`], so a form can list them all at once.
    pub fn check(&self, password: &str, context: &PasswordContext<'_>) -> Result<(), Vec<PolicyViolation>> {
        let rules = self.rules();
        let normalized: String = password.nfkc().collect();
        let chars: Vec<char> = normalized.chars().collect();
        let mut violations = Vec::new();

        let min_length = self.min_length_for(context.mfa_enforced);
        if chars.len() < min_length {
            violations.push(PolicyViolation::new(
                ViolationCode::TooShort,
                format!("password must be at least {min_length} characters long"),
            ));
        }
        if chars.len() > rules.max_length {
            violations.push(PolicyViolation::new(
                ViolationCode::TooLong,
                format!("password must be at most {} characters long", rules.max_length),
            ));
        }

        check_composition(&rules, &chars, &mut violations);

        if self.blocklist.contains(&normalized) {
            violations.push(PolicyViolation::new(
                ViolationCode::CommonPassword,
                format!(
                    "password is one of the {} most common passwords",
                    format_thousands(self.blocklist.len())
                ),
            ));
        }

        if rules.forbid_personal_info {
            check_personal_info(&normalized, context, &mut violations);
        }

        if rules.forbid_sequences && contains_sequence(&chars) {
            violations.push(PolicyViolation::new(
                ViolationCode::SequentialCharacters,
                "password must not contain 3 or more sequential characters, such as abc, 321 or qwe",
            ));
        }
        if rules.forbid_repeats && contains_repeat(&chars) {
            violations.push(PolicyViolation::new(
                ViolationCode::RepeatedCharacters,
                "password must not repeat a character 3 or more times in a row, such as aaa or 111",
            ));
        }

        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

/// Returns the form in which passwords, email local parts and names are compared: NFKC, lower case.
fn comparison_form(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase()
}

fn check_composition(rules: &PolicyRules, chars: &[char], violations: &mut Vec<PolicyViolation>) {
    if rules.require_uppercase && !chars.iter().any(|c| c.is_uppercase()) {
        violations.push(PolicyViolation::new(
            ViolationCode::MissingUppercase,
            "password must contain an upper-case letter",
        ));
    }
    if rules.require_lowercase && !chars.iter().any(|c| c.is_lowercase()) {
        violations.push(PolicyViolation::new(
            ViolationCode::MissingLowercase,
            "password must contain a lower-case letter",
        ));
    }
    if rules.require_digit && !chars.iter().any(|c| c.is_numeric()) {
        violations.push(PolicyViolation::new(
            ViolationCode::MissingDigit,
            "password must contain a digit",
        ));
    }
    if rules.require_symbol && chars.iter().all(|c| c.is_alphanumeric()) {
        violations.push(PolicyViolation::new(
            ViolationCode::MissingSymbol,
            "password must contain a symbol or space: a character that is neither a letter nor a digit",
        ));
    }
}

/// Looks for the email local part, the full name and each part of the name in the password, all
/// in [`comparison_form`]. Parts shorter than [`PERSONAL_INFO_MIN_CHARS`] are not looked for.
fn check_personal_info(
    normalized_password: &str,
    context: &PasswordContext<'_>,
    violations: &mut Vec<PolicyViolation>,
) {
    let password = comparison_form(normalized_password);

    // The local part is everything before the last `@`, because a quoted local part may contain
    // `@` itself. An address without `@` is taken whole.
    let email = comparison_form(context.email.trim());
    let local_part = email.rsplit_once('@').map_or(email.as_str(), |(local, _domain)| local);
    if is_long_enough(local_part) && password.contains(local_part) {
        violations.push(PolicyViolation::new(
            ViolationCode::ContainsEmail,
            "password must not contain the part of your email address before the @",
        ));
    }

    let name = comparison_form(context.full_name);
    let name_parts: Vec<&str> = name.split_whitespace().collect();
    let whole_name = name_parts.join(" ");
    let contains_name = std::iter::once(whole_name.as_str())
        .chain(name_parts.iter().copied())
        .any(|part| is_long_enough(part) && password.contains(part));
    if contains_name {
        violations.push(PolicyViolation::new(
            ViolationCode::ContainsName,
            "password must not contain your name",
        ));
    }
}

fn is_long_enough(personal_info: &str) -> bool {
    personal_info.chars().count() >= PERSONAL_INFO_MIN_CHARS
}

/// Finds a run of [`RUN_MIN_CHARS`] ASCII letters or digits that appears, forwards or backwards,
/// in one of the [`SEQUENCES`]. Letters are compared without case.
fn contains_sequence(chars: &[char]) -> bool {
    chars.windows(RUN_MIN_CHARS).any(|window| {
        let forwards: String = window.iter().map(char::to_ascii_lowercase).collect();
        let backwards: String = forwards.chars().rev().collect();
        SEQUENCES
            .iter()
            .any(|sequence| sequence.contains(&forwards) || sequence.contains(&backwards))
    })
}

/// Finds [`RUN_MIN_CHARS`] equal characters in a row, comparing letters without case.
fn contains_repeat(chars: &[char]) -> bool {
    let same = |a: char, b: char| a == b || a.to_lowercase().eq(b.to_lowercase());
    chars
        .windows(RUN_MIN_CHARS)
        .any(|window| window.windows(2).all(|pair| same(pair[0], pair[1])))
}

/// Formats a count with comma thousands separators, as in `10,000`.
fn format_thousands(count: usize) -> String {
    let digits = count.to_string();
    let mut formatted = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            formatted.push(',');
        }
        formatted.push(digit);
    }
    formatted
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// A password that meets every `hospital` rule for [`alice`].
    const STRONG: &str = "Kp7!vqXm";

    fn shipped_list() -> Arc<Blocklist> {
        static LIST: OnceLock<Arc<Blocklist>> = OnceLock::new();
        LIST.get_or_init(|| Arc::new(Blocklist::common_passwords())).clone()
    }

    fn hospital() -> PasswordPolicy {
        PasswordPolicy::new(PolicyPreset::Hospital, None, shipped_list()).unwrap()
    }

    fn nist() -> PasswordPolicy {
        PasswordPolicy::new(PolicyPreset::Nist, None, shipped_list()).unwrap()
    }

    fn alice() -> PasswordContext<'static> {
        PasswordContext {
            email: "ecmo.lead@example.test",
            full_name: "Alice Martin",
            mfa_enforced: false,
        }
    }

    fn alice_with_mfa() -> PasswordContext<'static> {
        PasswordContext {
            mfa_enforced: true,
            ..alice()
        }
    }

    /// Returns the codes of the violated rules, or none when the password passes.
    fn codes(policy: &PasswordPolicy, password: &str, context: &PasswordContext<'_>) -> Vec<ViolationCode> {
        match policy.check(password, context) {
            Ok(()) => Vec::new(),
            Err(violations) => violations.into_iter().map(|violation| violation.code).collect(),
        }
    }

    #[test]
    fn preset_round_trips_through_its_name() {
        for preset in PolicyPreset::ALL {
            assert_eq!(preset.as_str().parse::<PolicyPreset>().unwrap(), preset);
        }
        assert_eq!(PolicyPreset::Hospital.as_str(), "hospital");
        assert_eq!(PolicyPreset::Nist.as_str(), "nist");
        assert_eq!(PolicyPreset::default(), PolicyPreset::Hospital);
        let error = "NIST".parse::<PolicyPreset>().unwrap_err();
        assert_eq!(error, UnknownPolicyPreset("NIST".to_owned()));
        assert!(error.to_string().contains("expected hospital or nist"));
    }

    #[test]
    fn violation_codes_have_snake_case_names() {
        let names: Vec<&str> = ViolationCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(
            names,
            [
                "too_short",
                "too_long",
                "missing_uppercase",
                "missing_lowercase",
                "missing_digit",
                "missing_symbol",
                "common_password",
                "contains_email",
                "contains_name",
                "sequential_characters",
                "repeated_characters",
            ]
        );
    }

    #[test]
    fn shipped_list_has_10000_entries() {
        let list = shipped_list();
        assert_eq!(list.len(), 10_000);
        for listed in ["password", "123456", "qwerty", "p@ssw0rd", "password1", "letmein"] {
            assert!(list.contains(listed), "{listed:?} is missing");
        }
        assert!(!list.contains("# The 10,000 most common passwords, most common first, one per line, in lower case."));
    }

    #[test]
    fn blocklist_matches_case_insensitively() {
        let list = shipped_list();
        for variant in [
            "PASSWORD",
            "Password",
            "PassWord",
            "pAsSwOrD",
            "QWERTY",
            "P@SSW0RD",
            "Password1",
        ] {
            assert!(list.contains(variant), "{variant:?} was not matched");
        }
        assert!(!list.contains("Correct-Horse-9"));
    }

    #[test]
    fn blocklist_from_lines_skips_comments_and_blanks() {
        let list = Blocklist::from_lines("# a comment\n\nHunter2\r\n  tr0ub4dor  \n#password\n");
        assert_eq!(list.len(), 2);
        assert!(list.contains("hunter2"));
        assert!(list.contains("TR0UB4DOR"));
        assert!(!list.contains("password"));
        assert!(!list.contains("# a comment"));
        assert!(Blocklist::from_lines("").is_empty());
    }

    #[test]
    fn blocklist_debug_shows_only_the_size() {
        let list = Blocklist::from_lines("hunter2\n");
        assert_eq!(format!("{list:?}"), "Blocklist { len: 1 }");
    }

    #[test]
    fn hospital_accepts_a_strong_password() {
        assert_eq!(hospital().check(STRONG, &alice()), Ok(()));
        assert_eq!(hospital().check("Correct-Horse-9", &alice()), Ok(()));
    }

    #[test]
    fn hospital_reports_each_rule_alone() {
        let too_long: String = "Kp7!vq".repeat(22).chars().take(129).collect();
        let exactly_max: String = "Kp7!vq".repeat(22).chars().take(128).collect();
        let cases: [(&str, ViolationCode); 12] = [
            ("Kp7!vqX", ViolationCode::TooShort),
            (&too_long, ViolationCode::TooLong),
            ("kp7!vqxm", ViolationCode::MissingUppercase),
            ("KP7!VQXM", ViolationCode::MissingLowercase),
            ("Kpz!vqXm", ViolationCode::MissingDigit),
            ("Kp7svqXm", ViolationCode::MissingSymbol),
            ("P@ssw0rd", ViolationCode::CommonPassword),
            ("Sasha_007", ViolationCode::CommonPassword),
            ("Ecmo.Lead7!", ViolationCode::ContainsEmail),
            ("Martin#2049", ViolationCode::ContainsName),
            ("Kp7!abcX", ViolationCode::SequentialCharacters),
            ("Kp7!vqqqX", ViolationCode::RepeatedCharacters),
        ];
        for (password, expected) in cases {
            assert_eq!(codes(&hospital(), password, &alice()), [expected], "{password:?}");
        }
        assert_eq!(codes(&hospital(), &exactly_max, &alice()), [], "128 characters");
    }

    #[test]
    fn hospital_reports_every_violation_at_once() {
        assert_eq!(
            codes(&hospital(), "password", &alice()),
            [
                ViolationCode::MissingUppercase,
                ViolationCode::MissingDigit,
                ViolationCode::MissingSymbol,
                ViolationCode::CommonPassword,
            ]
        );
        assert_eq!(
            codes(&hospital(), "aaa", &alice()),
            [
                ViolationCode::TooShort,
                ViolationCode::MissingUppercase,
                ViolationCode::MissingDigit,
                ViolationCode::MissingSymbol,
                ViolationCode::RepeatedCharacters,
            ]
        );
        assert_eq!(
            codes(&hospital(), "alicemartin.ecmo.lead.abc111", &alice()),
            [
                ViolationCode::MissingUppercase,
                ViolationCode::ContainsEmail,
                ViolationCode::ContainsName,
                ViolationCode::SequentialCharacters,
                ViolationCode::RepeatedCharacters,
            ]
        );
        assert_eq!(codes(&hospital(), "", &alice()).len(), 5);
    }

    #[test]
    fn messages_are_plain_and_omit_the_password() {
        let password = "alice-ecmo.lead-aaa";
        let violations = hospital().check(password, &alice()).unwrap_err();
        for violation in &violations {
            assert!(violation.message.starts_with("password "), "{violation:?}");
            assert!(!violation.message.contains(password), "{violation:?}");
            assert!(!violation.message.contains("ecmo.lead"), "{violation:?}");
            assert!(!violation.message.to_lowercase().contains("alice"), "{violation:?}");
        }

        let too_short = &hospital().check("Kp7!", &alice()).unwrap_err()[0];
        assert_eq!(too_short.message, "password must be at least 8 characters long");
        let common = &hospital().check("P@ssw0rd", &alice()).unwrap_err()[0];
        assert_eq!(common.message, "password is one of the 10,000 most common passwords");
        assert_eq!(common.to_string(), common.message);
    }

    #[test]
    fn length_is_counted_after_nfkc() {
        // U+FB01 LATIN SMALL LIGATURE FI becomes "fi" under NFKC: 7 characters typed, 8 checked.
        assert_eq!(codes(&hospital(), "\u{FB01}Kp7!vq", &alice()), []);
        assert_eq!(codes(&hospital(), "fKp7!vq", &alice()), [ViolationCode::TooShort]);

        // NFKC composes "e" + U+0301 COMBINING ACUTE ACCENT into one "é".
        let decomposed = "E\u{301}e\u{301}1!n\u{303}N\u{303}u\u{308}U\u{308}";
        assert_eq!(decomposed.chars().count(), 14);
        assert_eq!(codes(&hospital(), decomposed, &alice()), []);
        let seven = "E\u{301}e\u{301}1!n\u{303}N\u{303}u\u{308}";
        assert_eq!(codes(&hospital(), seven, &alice()), [ViolationCode::TooShort]);

        let max_accented = format!("É1!{}", "ñó".repeat(62) + "x");
        assert_eq!(max_accented.chars().count(), 128);
        assert_eq!(codes(&hospital(), &max_accented, &alice()), []);
        let over = format!("{max_accented}z");
        assert_eq!(codes(&hospital(), &over, &alice()), [ViolationCode::TooLong]);
    }

    #[test]
    fn eight_accented_characters_pass() {
        assert_eq!(codes(&hospital(), "Éé1!ñÑüÜ", &alice()), []);
        assert_eq!(codes(&hospital(), "Éé1!ñÑü", &alice()), [ViolationCode::TooShort]);
    }

    #[test]
    fn non_ascii_letters_count_as_cased_letters() {
        assert_eq!(codes(&hospital(), "Δέλτα-42", &alice()), []);
        assert_eq!(
            codes(&hospital(), "δέλτα-42", &alice()),
            [ViolationCode::MissingUppercase]
        );
        assert_eq!(
            codes(&hospital(), "ΔΈΛΤΑ-42", &alice()),
            [ViolationCode::MissingLowercase]
        );
        // Uncased letters such as Han characters are letters, so they are not symbols.
        assert_eq!(
            codes(&hospital(), "Kp7漢字vqX", &alice()),
            [ViolationCode::MissingSymbol]
        );
        // A space is neither a letter nor a digit, so it counts as a symbol.
        assert_eq!(codes(&hospital(), "Kp7 vqXm", &alice()), []);
    }

    #[test]
    fn blocklist_applies_to_case_and_width_variants() {
        for variant in ["P@ssw0rd", "p@SsW0rD", "P@SSW0Rd", "Sasha_007", "SASHa_007"] {
            assert_eq!(
                codes(&hospital(), variant, &alice()),
                [ViolationCode::CommonPassword],
                "{variant:?}"
            );
        }
        // Full-width "Ｐ" and "＠" become "P" and "@" under NFKC.
        assert_eq!(
            codes(&hospital(), "\u{FF30}\u{FF20}ssw0rd", &alice()),
            [ViolationCode::CommonPassword]
        );
        for variant in [
            "password",
            "PASSWORD",
            "Password",
            "PassWord1",
            "Password1",
            "QWERTY123",
        ] {
            assert_eq!(
                codes(&nist(), variant, &alice_with_mfa()),
                [ViolationCode::CommonPassword],
                "{variant:?}"
            );
        }
    }

    #[test]
    fn email_local_part_is_detected_case_insensitively() {
        for password in ["Ecmo.Lead7!", "ECMO.LEADx7!", "x9!ecmo.leadQ", "Q9!eCmO.lEaD"] {
            assert_eq!(
                codes(&hospital(), password, &alice()),
                [ViolationCode::ContainsEmail],
                "{password:?}"
            );
        }
        // Only the whole local part counts, and the domain is not looked for.
        assert_eq!(codes(&hospital(), "Ecmo-Kp7!", &alice()), []);
        assert_eq!(codes(&hospital(), "Example!7t", &alice()), []);
    }

    #[test]
    fn email_split_at_last_at_sign() {
        let context = PasswordContext {
            email: "\"kp@vq\"@example.test",
            ..alice()
        };
        assert_eq!(
            codes(&hospital(), "X7!\"kp@vq\"", &context),
            [ViolationCode::ContainsEmail]
        );
        assert_eq!(codes(&hospital(), "Kp7!vqXm", &context), []);
    }

    #[test]
    fn short_email_local_part_is_ignored() {
        let context = PasswordContext {
            email: "kp@example.test",
            ..alice()
        };
        assert_eq!(codes(&hospital(), STRONG, &context), []);
        let context = PasswordContext {
            email: "kp7@example.test",
            ..alice()
        };
        assert_eq!(codes(&hospital(), STRONG, &context), [ViolationCode::ContainsEmail]);
    }

    #[test]
    fn full_name_and_its_parts_are_detected() {
        for password in [
            "Alice Martin7!",
            "ALICE MARTINx7!",
            "Xy7!alice",
            "MARTIN#2049x",
            "Martin#2049",
        ] {
            assert_eq!(
                codes(&hospital(), password, &alice()),
                [ViolationCode::ContainsName],
                "{password:?}"
            );
        }
        let spaced = PasswordContext {
            full_name: "  Alice \t Martin ",
            ..alice()
        };
        assert_eq!(
            codes(&hospital(), "Xy7!Alice Martin", &spaced),
            [ViolationCode::ContainsName]
        );
    }

    #[test]
    fn short_name_parts_are_ignored() {
        let context = PasswordContext {
            full_name: "Jo Li",
            ..alice()
        };
        assert_eq!(codes(&hospital(), "Jolie-Kp7!", &context), []);
        assert_eq!(
            codes(&hospital(), "Jo Li-Kp7!", &context),
            [ViolationCode::ContainsName]
        );
    }

    #[test]
    fn empty_context_checks_nothing_personal() {
        let context = PasswordContext::default();
        assert_eq!(codes(&hospital(), STRONG, &context), []);
    }

    #[test]
    fn sequences_are_rejected_both_ways() {
        let sequences = [
            "abc", "xyz", "cba", "ZYX", "aBc", "123", "789", "321", "890", "098", "qwe", "ewq", "iop", "poi", "asd",
            "dsa", "jkl", "lkj", "zxc", "cxz", "mnb", "bnm",
        ];
        for sequence in sequences {
            let password = format!("K7!{sequence}%Vm");
            assert_eq!(
                codes(&hospital(), &password, &alice()),
                [ViolationCode::SequentialCharacters],
                "{password:?}"
            );
        }
    }

    #[test]
    fn near_sequences_are_allowed() {
        // Skipping letters, keyboard columns, wrapping around and crossing rows are not sequences.
        for near in ["ace", "135", "qaz", "yza", "901", "pas", "lzx", "abd"] {
            let password = format!("K7!{near}%Vm");
            assert_eq!(codes(&hospital(), &password, &alice()), [], "{password:?}");
        }
    }

    #[test]
    fn repeats_are_rejected() {
        for repeat in ["aaa", "111", "!!!", "AaA", "ééé", "zzzz"] {
            let password = format!("K7!v{repeat}%Vm");
            assert_eq!(
                codes(&hospital(), &password, &alice()),
                [ViolationCode::RepeatedCharacters],
                "{password:?}"
            );
        }
        assert_eq!(codes(&hospital(), "K7!vaa%Vm", &alice()), []);
    }

    #[test]
    fn nist_needs_15_characters_without_mfa() {
        let fourteen = "correct horse ";
        let fifteen = "correct horse b";
        assert_eq!(codes(&nist(), fourteen, &alice()), [ViolationCode::TooShort]);
        assert_eq!(codes(&nist(), fifteen, &alice()), []);
        let too_short = &nist().check(fourteen, &alice()).unwrap_err()[0];
        assert_eq!(too_short.message, "password must be at least 15 characters long");
    }

    #[test]
    fn nist_needs_8_characters_with_mfa() {
        assert_eq!(codes(&nist(), "horsebat", &alice_with_mfa()), []);
        assert_eq!(codes(&nist(), "horseba", &alice_with_mfa()), [ViolationCode::TooShort]);
        let too_short = &nist().check("horseba", &alice_with_mfa()).unwrap_err()[0];
        assert_eq!(too_short.message, "password must be at least 8 characters long");
    }

    #[test]
    fn nist_has_no_composition_or_pattern_rules() {
        for password in [
            "abcdefghijklmno",
            "aaaaaaaaaaaaaaa",
            "123454321012345",
            "ALL UPPER CASE!",
            "only lower case",
        ] {
            assert_eq!(codes(&nist(), password, &alice()), [], "{password:?}");
        }
    }

    #[test]
    fn nist_keeps_blocklist_and_personal_checks() {
        assert_eq!(
            codes(&nist(), "qwertyuiop", &alice_with_mfa()),
            [ViolationCode::CommonPassword]
        );
        assert_eq!(
            codes(&nist(), "my name is martin", &alice()),
            [ViolationCode::ContainsName]
        );
        assert_eq!(
            codes(&nist(), "write to ECMO.LEAD now", &alice()),
            [ViolationCode::ContainsEmail]
        );
        let too_long = "x".repeat(129);
        assert_eq!(codes(&nist(), &too_long, &alice()), [ViolationCode::TooLong]);
    }

    #[test]
    fn min_length_is_configurable() {
        let policy = PasswordPolicy::new(PolicyPreset::Hospital, Some(12), shipped_list()).unwrap();
        assert_eq!(codes(&policy, "Kp7!vqXmTw4", &alice()), [ViolationCode::TooShort]);
        assert_eq!(codes(&policy, "Kp7!vqXmTw4$", &alice()), []);
        let too_short = &policy.check("Kp7!vqXmTw4", &alice()).unwrap_err()[0];
        assert_eq!(too_short.message, "password must be at least 12 characters long");
        // MFA does not lower the hospital minimum.
        assert_eq!(
            codes(&policy, "Kp7!vqXmTw4", &alice_with_mfa()),
            [ViolationCode::TooShort]
        );

        let nist_20 = PasswordPolicy::new(PolicyPreset::Nist, Some(20), shipped_list()).unwrap();
        assert_eq!(nist_20.min_length_for(false), 20);
        assert_eq!(nist_20.min_length_for(true), 8);
        let nist_8 = PasswordPolicy::new(PolicyPreset::Nist, Some(8), shipped_list()).unwrap();
        assert_eq!(codes(&nist_8, "horsebat", &alice()), []);

        let max = PasswordPolicy::new(PolicyPreset::Hospital, Some(128), shipped_list()).unwrap();
        assert_eq!(max.min_length_for(false), 128);
    }

    #[test]
    fn new_rejects_min_length_outside_8_to_128() {
        for requested in [0, 7] {
            let error = PasswordPolicy::new(PolicyPreset::Hospital, Some(requested), shipped_list()).unwrap_err();
            assert_eq!(error, PolicyConfigError::MinLengthTooLow { requested });
        }
        let error = PasswordPolicy::new(PolicyPreset::Nist, Some(7), shipped_list()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "password minimum length 7 is below 8; set a minimum from 8 to 128 characters"
        );
        let error = PasswordPolicy::new(PolicyPreset::Nist, Some(129), shipped_list()).unwrap_err();
        assert_eq!(error, PolicyConfigError::MinLengthTooHigh { requested: 129 });
        assert!(error.to_string().contains("above the maximum length 128"));
    }

    #[test]
    fn rules_describe_the_hospital_preset() {
        assert_eq!(
            hospital().rules(),
            PolicyRules {
                preset: PolicyPreset::Hospital,
                min_length: 8,
                min_length_with_mfa: 8,
                max_length: 128,
                require_uppercase: true,
                require_lowercase: true,
                require_digit: true,
                require_symbol: true,
                forbid_sequences: true,
                forbid_repeats: true,
                blocklist_size: 10_000,
                forbid_personal_info: true,
            }
        );
    }

    #[test]
    fn rules_describe_the_nist_preset() {
        assert_eq!(
            nist().rules(),
            PolicyRules {
                preset: PolicyPreset::Nist,
                min_length: 15,
                min_length_with_mfa: 8,
                max_length: 128,
                require_uppercase: false,
                require_lowercase: false,
                require_digit: false,
                require_symbol: false,
                forbid_sequences: false,
                forbid_repeats: false,
                blocklist_size: 10_000,
                forbid_personal_info: true,
            }
        );
    }

    #[test]
    fn context_debug_hides_personal_data() {
        let debug_output = format!("{:?}", alice());
        assert!(!debug_output.contains("ecmo.lead"), "{debug_output}");
        assert!(!debug_output.contains("Alice"), "{debug_output}");
        assert!(debug_output.contains("mfa_enforced: false"), "{debug_output}");
    }

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(format_thousands(0), "0");
        assert_eq!(format_thousands(999), "999");
        assert_eq!(format_thousands(1_000), "1,000");
        assert_eq!(format_thousands(10_000), "10,000");
        assert_eq!(format_thousands(1_234_567), "1,234,567");
    }
}
