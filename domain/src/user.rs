//! Users, their roles and the validated values they are made of.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;

use crate::ids::UserId;
use crate::password::PasswordHash;

/// Maximum length of an email address in characters (RFC 5321 limits a path to 256 octets,
/// of which 254 remain for the address itself).
pub const EMAIL_MAX_CHARS: usize = 254;

/// Maximum length of a full name in characters.
pub const FULL_NAME_MAX_CHARS: usize = 200;

/// An email address as the user typed it (trimmed), with its normalized form.
///
/// Two addresses are the same account when their normalized forms are equal: the input is
/// trimmed, put in Unicode NFKC form and case folded, so `Alice@Example.test` and
/// ` alice@example.test` compare equal.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is empty")]
    Empty,
    #[error("email is longer than {EMAIL_MAX_CHARS} characters")]
    TooLong,
    #[error("email must look like name@domain.example, with no spaces or control characters")]
    Malformed,
}

impl Email {
    /// Parses an address typed by a user.
    ///
    /// # Errors
    /// [`EmailError`] when the address is empty, too long or not of the form `local@domain`.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let display = input.trim();
        if display.is_empty() {
            return Err(EmailError::Empty);
        }
        if display.chars().count() > EMAIL_MAX_CHARS {
            return Err(EmailError::TooLong);
        }

        let normalized = normalize_email(display);
        if !is_plausible_address(&normalized) {
            return Err(EmailError::Malformed);
        }

        Ok(Self {
            display: display.to_owned(),
            normalized,
        })
    }

    /// Rebuilds an address read back from storage, which was validated when it was stored.
    pub fn from_stored(display: String) -> Self {
        let normalized = normalize_email(&display);
        Self { display, normalized }
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// Returns the form used to compare addresses and to find an account.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Debug for Email {
    // Debug output reaches logs; an email address is personal data and stays out of them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// Trims, applies Unicode NFKC and full case folding.
pub fn normalize_email(input: &str) -> String {
    let nfkc: String = input.trim().nfkc().collect();
    caseless::default_case_fold_str(&nfkc)
}

fn is_plausible_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || c == '@' || c == '<' || c == '>';
    if local.is_empty() || local.len() > 64 || local.chars().any(forbidden) {
        return false;
    }
    if domain.is_empty() || domain.chars().any(forbidden) {
        return false;
    }

    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
}

/// A person's full name, stored exactly as given.
#[derive(Clone, PartialEq, Eq)]
pub struct FullName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullNameError {
    #[error("full_name is empty")]
    Empty,
    #[error("full_name is longer than {FULL_NAME_MAX_CHARS} characters")]
    TooLong,
    #[error("full_name contains a control character")]
    ControlCharacter,
    #[error("full_name contains HTML markup or an event-handler attribute")]
    Markup,
}

impl FullName {
    /// Validates a name without altering it: a name that needs changing is rejected, never fixed.
    ///
    /// # Errors
    /// [`FullNameError`] when the name is blank, longer than 200 characters, contains a control
    /// character, or contains HTML markup such as `<b>` or an attribute such as `onclick=`.
    pub fn parse(input: &str) -> Result<Self, FullNameError> {
        if input.trim().is_empty() {
            return Err(FullNameError::Empty);
        }
        if input.chars().count() > FULL_NAME_MAX_CHARS {
            return Err(FullNameError::TooLong);
        }
        if input.chars().any(char::is_control) {
            return Err(FullNameError::ControlCharacter);
        }
        if contains_markup(input) {
            return Err(FullNameError::Markup);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FullName(<redacted>)")
    }
}

/// Detects a tag opener (`<b`, `</`, `<!`, `<?`), an HTML character reference, or an
/// event-handler attribute (`on…=`). Plain `<` followed by a space or digit is allowed, so
/// names keep punctuation they may really contain.
fn contains_markup(input: &str) -> bool {
    let lower = input.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();

    let opens_tag = chars
        .windows(2)
        .any(|pair| pair[0] == '<' && (pair[1].is_alphabetic() || matches!(pair[1], '/' | '!' | '?')));
    let character_reference = chars
        .windows(2)
        .any(|pair| pair[0] == '&' && (pair[1] == '#' || pair[1].is_alphabetic()))
        && lower.contains(';');

    opens_tag || character_reference || contains_event_handler(&chars)
}

fn contains_event_handler(chars: &[char]) -> bool {
    for start in 0..chars.len() {
        let at_word_start = start == 0 || !chars[start - 1].is_alphanumeric();
        if !at_word_start || chars.get(start) != Some(&'o') || chars.get(start + 1) != Some(&'n') {
            continue;
        }
        let mut index = start + 2;
        let letters_start = index;
        while index < chars.len() && chars[index].is_ascii_alphabetic() {
            index += 1;
        }
        if index == letters_start {
            continue;
        }
        while index < chars.len() && chars[index].is_whitespace() {
            index += 1;
        }
        if chars.get(index) == Some(&'=') {
            return true;
        }
    }
    false
}

/// The five roles of the platform, from the most to the least privileged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    EcmoSpecialist,
    Physician,
    Nurse,
    Patient,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; expected ADMIN, ECMO_SPECIALIST, PHYSICIAN, NURSE or PATIENT")]
pub struct UnknownRole(pub String);

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::EcmoSpecialist,
        Role::Physician,
        Role::Nurse,
        Role::Patient,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::EcmoSpecialist => "ECMO_SPECIALIST",
            Role::Physician => "PHYSICIAN",
            Role::Nurse => "NURSE",
            Role::Patient => "PATIENT",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Whether an account may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
}

impl FromStr for UserStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(UserStatus::Active),
            "disabled" => Ok(UserStatus::Disabled),
            other => Err(format!("unknown user status `{other}`")),
        }
    }
}

/// A stored account.
#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub full_name: FullName,
    pub role: Role,
    pub status: UserStatus,
    pub created_at: OffsetDateTime,
    /// Set for accounts an administrator created with a temporary password: until the user
    /// changes it, their tokens allow nothing but changing it.
    pub must_change_password: bool,
}

/// An account about to be stored, with its password already hashed.
#[derive(Debug)]
pub struct NewUser {
    pub user: User,
    pub password_hash: PasswordHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_variants_share_one_normalized_form() {
        let variants = [
            "alice@example.test",
            "Alice@Example.test",
            " alice@example.test ",
            "ALICE@EXAMPLE.TEST",
            "\u{FF41}lice@example.test", // fullwidth "a", folded by NFKC
        ];
        for variant in variants {
            let email = Email::parse(variant).expect(variant);
            assert_eq!(email.normalized(), "alice@example.test", "{variant:?}");
        }
    }

    #[test]
    fn email_keeps_the_typed_form_for_display() {
        let email = Email::parse("  Alice@Example.test ").unwrap();
        assert_eq!(email.as_str(), "Alice@Example.test");
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for input in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.test",
            "a b@example.test",
            "alice@example",
            "a@b@example.test",
            "alice@.test",
        ] {
            assert!(Email::parse(input).is_err(), "{input:?} was accepted");
        }
    }

    #[test]
    fn email_rejects_overlong_addresses() {
        let long = format!("{}@{}.test", "a".repeat(60), "b".repeat(200));
        assert_eq!(Email::parse(&long).unwrap_err(), EmailError::TooLong);
    }

    #[test]
    fn full_name_is_kept_exactly() {
        let name = FullName::parse("  Zoë O'Brien-Łukasz  ").unwrap();
        assert_eq!(name.as_str(), "  Zoë O'Brien-Łukasz  ");
    }

    #[test]
    fn full_name_rejects_markup_and_handlers() {
        let rejected = [
            "<script>alert(1)</script>",
            "Bob <b>bold</b>",
            "x</title>",
            "<img src=x onerror=alert(1)>",
            "Bob onclick=steal()",
            "Bob ONMOUSEOVER = x",
            "Bob &lt;b&gt;",
        ];
        for input in rejected {
            assert_eq!(FullName::parse(input).unwrap_err(), FullNameError::Markup, "{input:?}");
        }
    }

    #[test]
    fn full_name_allows_ordinary_punctuation() {
        for input in [
            "Ana María Díaz",
            "Dr. Chen & Partners",
            "Ono Yoko",
            "A < 3",
            "Léon",
            "Jean-Luc d'Artagnan",
        ] {
            assert!(FullName::parse(input).is_ok(), "{input:?} was rejected");
        }
    }

    #[test]
    fn full_name_limits() {
        assert_eq!(FullName::parse("").unwrap_err(), FullNameError::Empty);
        assert_eq!(FullName::parse("   ").unwrap_err(), FullNameError::Empty);
        assert_eq!(
            FullName::parse("Tab\tName").unwrap_err(),
            FullNameError::ControlCharacter
        );
        assert!(FullName::parse(&"é".repeat(200)).is_ok());
        assert_eq!(FullName::parse(&"é".repeat(201)).unwrap_err(), FullNameError::TooLong);
    }

    #[test]
    fn role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
