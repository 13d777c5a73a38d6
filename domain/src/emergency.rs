//! Emergency access ("break glass"): a physician's time-limited, justified, audited access to
//! patient data beyond their usual scope.

use time::{Duration, OffsetDateTime};

use crate::ids::{SessionId, UserId};

/// Default lifetime of a grant.
pub const EMERGENCY_ACCESS_LIFETIME: Duration = Duration::minutes(60);

/// Shortest justification accepted, in characters.
pub const MIN_REASON_CHARS: usize = 20;
/// Maximum justification length, in characters.
pub const MAX_REASON_CHARS: usize = 2000;
/// Maximum patient reference length, in characters.
pub const MAX_PATIENT_REF_CHARS: usize = 128;

/// A break-glass grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyGrant {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub session_id: SessionId,
    /// The caller's justification, kept for review.
    pub reason: String,
    /// The clinical system's patient identifier the grant is scoped to; `None` is unscoped.
    pub patient_ref: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    pub ended_by: Option<UserId>,
}

impl EmergencyGrant {
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }

    /// Returns the scope resource servers see: `patient:<ref>` or `all`.
    pub fn scope(&self) -> String {
        match &self.patient_ref {
            Some(reference) => format!("patient:{reference}"),
            None => "all".to_owned(),
        }
    }
}

/// The `emergency` claim of an access token issued under a grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyClaim {
    pub grant_id: uuid::Uuid,
    pub scope: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmergencyRequestError {
    #[error("reason must be at least {MIN_REASON_CHARS} characters: say why the access is needed")]
    ReasonTooShort,
    #[error("reason must be at most {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
    #[error("reason contains a control character")]
    ReasonControlCharacter,
    #[error("patient_ref must be 1 to {MAX_PATIENT_REF_CHARS} letters, digits or . _ : / -")]
    InvalidPatientRef,
}

/// A validated request for emergency access.
#[derive(Clone, Debug)]
pub struct EmergencyRequest {
    pub reason: String,
    pub patient_ref: Option<String>,
}

impl EmergencyRequest {
    /// # Errors
    /// [`EmergencyRequestError`] naming the invalid field.
    pub fn parse(reason: &str, patient_ref: Option<&str>) -> Result<Self, EmergencyRequestError> {
        let reason = reason.trim();
        let length = reason.chars().count();
        if length < MIN_REASON_CHARS {
            return Err(EmergencyRequestError::ReasonTooShort);
        }
        if length > MAX_REASON_CHARS {
            return Err(EmergencyRequestError::ReasonTooLong);
        }
        if reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(EmergencyRequestError::ReasonControlCharacter);
        }
        let patient_ref = match patient_ref.map(str::trim) {
            None => None,
            Some(reference) => {
                let valid = !reference.is_empty()
                    && reference.chars().count() <= MAX_PATIENT_REF_CHARS
                    && reference
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-'));
                if !valid {
                    return Err(EmergencyRequestError::InvalidPatientRef);
                }
                Some(reference.to_owned())
            }
        };
        Ok(Self {
            reason: reason.to_owned(),
            patient_ref,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_needs_twenty_characters() {
        assert_eq!(
            EmergencyRequest::parse("too short", None).unwrap_err(),
            EmergencyRequestError::ReasonTooShort
        );
        assert!(EmergencyRequest::parse("Cardiac arrest on ward 4, no consent", None).is_ok());
    }

    #[test]
    fn patient_ref_is_checked() {
        let reason = "Cardiac arrest on ward 4, no consent";
        assert_eq!(
            EmergencyRequest::parse(reason, Some("MRN:12345"))
                .unwrap()
                .patient_ref
                .as_deref(),
            Some("MRN:12345")
        );
        assert_eq!(
            EmergencyRequest::parse(reason, Some("<script>")).unwrap_err(),
            EmergencyRequestError::InvalidPatientRef
        );
        assert_eq!(
            EmergencyRequest::parse(reason, Some("")).unwrap_err(),
            EmergencyRequestError::InvalidPatientRef
        );
    }
}
