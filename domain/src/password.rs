//! Passwords and their hashes, both kept in secret types from the moment they are parsed.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Minimum password length in Unicode characters.
pub const PASSWORD_MIN_CHARS: usize = 8;

/// Maximum password length in Unicode characters; it also bounds the work of one hash.
pub const PASSWORD_MAX_CHARS: usize = 128;

/// A password as typed: never truncated, trimmed or case folded.
#[derive(Clone)]
pub struct Password(SecretString);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {PASSWORD_MIN_CHARS} characters long")]
    TooShort,
    #[error("password must be at most {PASSWORD_MAX_CHARS} characters long")]
    TooLong,
}

impl Password {
    /// Accepts a new password of 8 to 128 characters.
    ///
    /// # Errors
    /// [`PasswordError`] when the length is outside that range.
    pub fn new(input: SecretString) -> Result<Self, PasswordError> {
        let length = input.expose_secret().chars().count();
        if length < PASSWORD_MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if length > PASSWORD_MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(input))
    }

    /// Wraps a password presented at login. Its length is not checked against the policy, so
    /// an old password still verifies, but anything longer than the maximum is rejected by the
    /// caller before it reaches the hasher.
    pub fn presented(input: SecretString) -> Self {
        Self(input)
    }

    pub fn char_count(&self) -> usize {
        self.0.expose_secret().chars().count()
    }

    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string format.
#[derive(Clone)]
pub struct PasswordHash(SecretString);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(SecretString::from(phc))
    }

    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> Result<Password, PasswordError> {
        Password::new(SecretString::from(text.to_owned()))
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert_eq!(password("ééééééé").unwrap_err(), PasswordError::TooShort);
        assert!(password("éééééééé").is_ok());
        assert!(password(&"é".repeat(128)).is_ok());
        assert_eq!(password(&"é".repeat(129)).unwrap_err(), PasswordError::TooLong);
    }

    #[test]
    fn password_is_kept_as_typed() {
        let typed = " Secret Phrase ";
        assert_eq!(password(typed).unwrap().expose_secret(), typed);
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!("{:?}", password("hunter2hunter2").unwrap());
        assert!(!shown.contains("hunter2"));
    }
}
