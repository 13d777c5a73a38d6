//! The second factor: TOTP enrollment and confirmation, the second step of sign-in, recovery
//! codes, disabling and an administrator's reset.

use somnium_domain::mfa::{
    candidate_steps, codes_match, is_totp_code, ChallengePurpose, MfaChallenge, RecoveryCode, TotpEnrollment,
    TotpSecret, ACCOUNT_FAILURE_WINDOW, ACCOUNT_MAX_FAILURES, CHALLENGE_LIFETIME, CHALLENGE_MAX_FAILURES,
    RECOVERY_CODE_COUNT,
};
use somnium_domain::ports::MfaStoreError;
use somnium_domain::{
    AccessTokenClaims, AuditEventType, AuditOutcome, AuditSeverity, Password, RefreshToken, RequestContext, User,
    UserId, UserStatus,
};

use crate::error::UnexpectedError;
use crate::events::EventFacts;
use crate::service::{AuthService, TokenPair};

/// Who is enrolling: a signed-in user opting in, or the holder of an enrollment challenge
/// issued after the password step because their role requires a second factor.
#[derive(Debug)]
pub enum Enroller<'a> {
    Caller(&'a AccessTokenClaims),
    Challenge(&'a RefreshToken),
}

/// The second factor presented to finish signing in.
#[derive(Debug)]
pub enum SecondFactor {
    Totp(String),
    RecoveryCode(String),
}

/// A challenge handed to the client after the password step.
#[derive(Debug)]
pub struct IssuedChallenge {
    pub token: RefreshToken,
    pub expires_in_seconds: i64,
    pub purpose: ChallengePurpose,
}

/// A new TOTP secret, shown once.
#[derive(Debug)]
pub struct StartedEnrollment {
    pub secret: TotpSecret,
    pub otpauth_uri: String,
}

/// The outcome of a confirmed enrollment: the recovery codes, shown once, and when the
/// enrollment finished a sign-in, its tokens.
#[derive(Debug)]
pub struct ConfirmedEnrollment {
    pub recovery_codes: Vec<RecoveryCode>,
    pub tokens: Option<TokenPair>,
}

/// The second factor of an account as its owner sees it.
#[derive(Clone, Copy, Debug)]
pub struct MfaStatus {
    pub enabled: bool,
    pub pending: bool,
    pub required: bool,
    pub recovery_codes_remaining: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The challenge token is unknown, expired, used up or for another purpose.
    #[error("the MFA token is invalid, expired or already used; sign in again")]
    InvalidChallenge,
    /// The code is wrong, outside the accepted drift, or was accepted before.
    #[error("the code is incorrect or was already used")]
    InvalidCode,
    /// Too many wrong codes for this account within the hour.
    #[error("too many wrong codes; try again later")]
    Blocked,
    #[error("a second factor is already enabled")]
    AlreadyEnabled,
    #[error("no second factor is enabled")]
    NotEnabled,
    #[error("no enrollment is waiting for confirmation; start one first")]
    NotPending,
    /// The role requires a second factor, so the user may not turn it off.
    #[error("the role requires a second factor")]
    Required,
    #[error("the password is incorrect")]
    WrongPassword,
    #[error("user not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<somnium_domain::ports::RepositoryError> for MfaError {
    fn from(error: somnium_domain::ports::RepositoryError) -> Self {
        Self::Unexpected(error.into())
    }
}

impl AuthService {
    /// Issues the challenge the client answers after a correct password.
    pub(crate) async fn issue_challenge(
        &self,
        user: &User,
        purpose: ChallengePurpose,
        remember_me: bool,
        context: &RequestContext,
    ) -> Result<IssuedChallenge, UnexpectedError> {
        let now = self.ports.clock.now();
        let token = self.ports.refresh_tokens.mint();
        let challenge = MfaChallenge {
            id: uuid::Builder::from_random_bytes(self.ports.random.bytes()).into_uuid(),
            token_hash: self.ports.refresh_tokens.hash(&token),
            user_id: user.id,
            purpose,
            remember_me,
            created_at: now,
            expires_at: now + CHALLENGE_LIFETIME,
            failed_attempts: 0,
            used_at: None,
        };
        let event = self.audit_event(EventFacts {
            event_type: AuditEventType::MfaChallengeIssued,
            outcome: AuditOutcome::Success,
            user_id: Some(user.id),
            resource: Some(format!("user:{}", user.id)),
            detail: Some(purpose.as_str()),
            context,
        });
        self.ports.mfa.create_challenge(&challenge, &event).await?;
        tracing::info!(user_id = %user.id, purpose = purpose.as_str(), "password accepted; second factor required");
        Ok(IssuedChallenge {
            token,
            expires_in_seconds: CHALLENGE_LIFETIME.whole_seconds(),
            purpose,
        })
    }

    /// Starts TOTP enrollment with a fresh 160-bit secret. Calling it again before confirming
    /// replaces the secret; nothing changes at sign-in until it is confirmed.
    ///
    /// # Errors
    /// [`MfaError::AlreadyEnabled`] when TOTP is on; [`MfaError::InvalidChallenge`] for a bad
    /// enrollment challenge.
    #[tracing::instrument(name = "mfa_enroll", skip_all, fields(request_id = context.request_id.as_deref()))]
    pub async fn start_totp_enrollment(
        &self,
        enroller: Enroller<'_>,
        context: &RequestContext,
    ) -> Result<StartedEnrollment, MfaError> {
        let (user, _) = self.enrolling_user(&enroller).await?;
        let secret = TotpSecret::new(self.ports.random.bytes());
        let now = self.ports.clock.now();
        let event = self.mfa_event(AuditEventType::MfaEnrollmentStarted, &user, None, context);
        match self.ports.mfa.start_enrollment(user.id, &secret, now, &event).await {
            Ok(()) => {}
            Err(MfaStoreError::AlreadyEnabled) => return Err(MfaError::AlreadyEnabled),
            Err(MfaStoreError::Repository(error)) => return Err(error.into()),
        }
        tracing::info!(user_id = %user.id, "TOTP enrollment started");
        let otpauth_uri = secret.otpauth_uri(&self.settings.mfa_issuer, user.email.as_str());
        Ok(StartedEnrollment { secret, otpauth_uri })
    }

    /// Confirms the pending enrollment with a current code, turns TOTP on and returns ten
    /// recovery codes. Through an enrollment challenge it also finishes signing in.
    ///
    /// # Errors
    /// [`MfaError::InvalidCode`] for a wrong code, [`MfaError::NotPending`] without a pending
    /// enrollment, [`MfaError::Blocked`] after too many wrong codes.
    #[tracing::instrument(name = "mfa_confirm", skip_all, fields(request_id = context.request_id.as_deref()))]
    pub async fn confirm_totp_enrollment(
        &self,
        enroller: Enroller<'_>,
        code: &str,
        context: &RequestContext,
    ) -> Result<ConfirmedEnrollment, MfaError> {
        let (user, challenge) = self.enrolling_user(&enroller).await?;
        self.check_account_not_blocked(&user, context).await?;
        let enrollment = self
            .ports
            .mfa
            .find_enrollment(user.id)
            .await?
            .filter(|enrollment| !enrollment.is_confirmed())
            .ok_or(MfaError::NotPending)?;
        let Some(step) = self.matching_step(&enrollment, code) else {
            self.count_failure(&user, challenge.as_ref(), "wrong_code", context)
                .await?;
            return Err(MfaError::InvalidCode);
        };

        let (codes, hashes) = self.new_recovery_codes();
        let now = self.ports.clock.now();
        let event = self.mfa_event(AuditEventType::MfaEnabled, &user, None, context);
        if !self
            .ports
            .mfa
            .confirm_enrollment(user.id, step, &hashes, now, &event)
            .await?
        {
            return Err(MfaError::NotPending);
        }
        tracing::info!(user_id = %user.id, "TOTP enabled");

        let tokens = match challenge {
            Some(challenge) => {
                if !self.ports.mfa.consume_challenge(challenge.id, now).await? {
                    return Err(MfaError::InvalidChallenge);
                }
                Some(self.start_session(&user, challenge.remember_me, true, context).await?)
            }
            None => None,
        };
        Ok(ConfirmedEnrollment {
            recovery_codes: codes,
            tokens,
        })
    }

    /// Finishes signing in with a TOTP code or a recovery code and returns the token pair.
    ///
    /// # Errors
    /// [`MfaError::InvalidChallenge`] for a bad challenge, [`MfaError::InvalidCode`] for a
    /// wrong, replayed or spent code, [`MfaError::Blocked`] after too many wrong codes.
    #[tracing::instrument(name = "mfa_verify", skip_all, fields(user_id = tracing::field::Empty, request_id = context.request_id.as_deref()))]
    pub async fn verify_second_factor(
        &self,
        token: &RefreshToken,
        factor: SecondFactor,
        context: &RequestContext,
    ) -> Result<TokenPair, MfaError> {
        let (challenge, user) = self.open_challenge(token, ChallengePurpose::Verify).await?;
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        self.check_account_not_blocked(&user, context).await?;
        let enrollment = self
            .ports
            .mfa
            .find_enrollment(user.id)
            .await?
            .filter(TotpEnrollment::is_confirmed)
            .ok_or(MfaError::InvalidChallenge)?;

        let now = self.ports.clock.now();
        let method = match &factor {
            SecondFactor::Totp(code) => {
                let rejection = match self.matching_step(&enrollment, code) {
                    Some(step) if self.ports.mfa.accept_step(user.id, step).await? => None,
                    Some(_) => Some("replayed_code"),
                    None => Some("wrong_code"),
                };
                if let Some(reason) = rejection {
                    self.count_failure(&user, Some(&challenge), reason, context).await?;
                    return Err(MfaError::InvalidCode);
                }
                "totp"
            }
            SecondFactor::RecoveryCode(code) => {
                let hash = self.ports.totp.hash_recovery_code(&RecoveryCode::normalize(code));
                if !self.ports.mfa.spend_recovery_code(user.id, &hash, now).await? {
                    self.count_failure(&user, Some(&challenge), "wrong_recovery_code", context)
                        .await?;
                    return Err(MfaError::InvalidCode);
                }
                "recovery_code"
            }
        };
        if !self.ports.mfa.consume_challenge(challenge.id, now).await? {
            return Err(MfaError::InvalidChallenge);
        }
        let event = self.mfa_event(AuditEventType::MfaVerified, &user, Some(method), context);
        self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
        tracing::info!(user_id = %user.id, method, "second factor accepted");
        Ok(self.start_session(&user, challenge.remember_me, true, context).await?)
    }

    /// Turns TOTP off after checking the password and a current code.
    ///
    /// # Errors
    /// [`MfaError::WrongPassword`], [`MfaError::InvalidCode`], [`MfaError::NotEnabled`], or
    /// [`MfaError::Required`] when the role requires a second factor.
    #[tracing::instrument(name = "mfa_disable", skip_all, fields(user_id = %caller.user_id, request_id = context.request_id.as_deref()))]
    pub async fn disable_mfa(
        &self,
        caller: &AccessTokenClaims,
        password: &Password,
        code: &str,
        context: &RequestContext,
    ) -> Result<(), MfaError> {
        let user = self.active_user(caller.user_id).await?;
        if self.settings.mfa.requires(user.role) {
            return Err(MfaError::Required);
        }
        let hash = self
            .ports
            .users
            .find_credentials_by_id(user.id)
            .await?
            .ok_or(MfaError::NotFound)?;
        if !self
            .ports
            .hasher
            .verify(password, &hash)
            .await
            .map_err(UnexpectedError::from)?
        {
            let event = self.mfa_event(AuditEventType::MfaFailed, &user, Some("wrong_password"), context);
            self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
            return Err(MfaError::WrongPassword);
        }
        self.check_current_code(&user, code, context).await?;
        let event = self.mfa_event(AuditEventType::MfaDisabled, &user, None, context);
        self.ports.mfa.remove(user.id, &event).await?;
        tracing::info!(user_id = %user.id, "TOTP disabled");
        Ok(())
    }

    /// Replaces the recovery codes after checking a current code; the old ones stop working.
    ///
    /// # Errors
    /// [`MfaError::InvalidCode`] or [`MfaError::NotEnabled`].
    #[tracing::instrument(name = "mfa_recovery_codes", skip_all, fields(user_id = %caller.user_id, request_id = context.request_id.as_deref()))]
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &AccessTokenClaims,
        code: &str,
        context: &RequestContext,
    ) -> Result<Vec<RecoveryCode>, MfaError> {
        let user = self.active_user(caller.user_id).await?;
        self.check_current_code(&user, code, context).await?;
        let (codes, hashes) = self.new_recovery_codes();
        let event = self.mfa_event(AuditEventType::RecoveryCodesRegenerated, &user, None, context);
        self.ports
            .mfa
            .replace_recovery_codes(user.id, &hashes, self.ports.clock.now(), &event)
            .await?;
        tracing::info!(user_id = %user.id, "recovery codes regenerated");
        Ok(codes)
    }

    /// Removes a user's TOTP and recovery codes, for a user who lost their device. With a role
    /// that requires a second factor, their next sign-in leads to enrollment again.
    ///
    /// # Errors
    /// [`MfaError::NotFound`] for an unknown user, [`MfaError::NotEnabled`] when there is
    /// nothing to reset.
    #[tracing::instrument(name = "mfa_reset", skip_all, fields(actor_id = %caller.user_id, user_id = %user_id, request_id = context.request_id.as_deref()))]
    pub async fn reset_mfa(
        &self,
        caller: &AccessTokenClaims,
        user_id: UserId,
        context: &RequestContext,
    ) -> Result<(), MfaError> {
        let user = self.ports.users.find_by_id(user_id).await?.ok_or(MfaError::NotFound)?;
        let mut event = self.mfa_event(AuditEventType::MfaReset, &user, None, context);
        event.actor_id = Some(caller.user_id);
        event.severity = AuditSeverity::High;
        if !self.ports.mfa.remove(user.id, &event).await? {
            return Err(MfaError::NotEnabled);
        }
        tracing::warn!(user_id = %user.id, "second factor reset by an administrator");
        Ok(())
    }

    /// Returns the state of the caller's second factor.
    ///
    /// # Errors
    /// [`MfaError::Unexpected`] when storage fails.
    pub async fn mfa_status(&self, caller: &AccessTokenClaims) -> Result<MfaStatus, MfaError> {
        let enrollment = self.ports.mfa.find_enrollment(caller.user_id).await?;
        let enabled = enrollment.as_ref().is_some_and(TotpEnrollment::is_confirmed);
        let recovery_codes_remaining = if enabled {
            self.ports.mfa.unused_recovery_codes(caller.user_id).await?
        } else {
            0
        };
        Ok(MfaStatus {
            enabled,
            pending: enrollment.is_some() && !enabled,
            required: self.settings.mfa.requires(caller.role),
            recovery_codes_remaining,
        })
    }

    async fn active_user(&self, user_id: UserId) -> Result<User, MfaError> {
        self.ports
            .users
            .find_by_id(user_id)
            .await?
            .filter(|user| user.status == UserStatus::Active)
            .ok_or(MfaError::NotFound)
    }

    async fn enrolling_user(&self, enroller: &Enroller<'_>) -> Result<(User, Option<MfaChallenge>), MfaError> {
        match enroller {
            Enroller::Caller(claims) => Ok((self.active_user(claims.user_id).await?, None)),
            Enroller::Challenge(token) => {
                let (challenge, user) = self.open_challenge(token, ChallengePurpose::Enroll).await?;
                Ok((user, Some(challenge)))
            }
        }
    }

    async fn open_challenge(
        &self,
        token: &RefreshToken,
        purpose: ChallengePurpose,
    ) -> Result<(MfaChallenge, User), MfaError> {
        let hash = self.ports.refresh_tokens.hash(token);
        let challenge = self
            .ports
            .mfa
            .find_challenge(&hash)
            .await?
            .filter(|challenge| challenge.purpose == purpose && challenge.is_open(self.ports.clock.now()))
            .ok_or(MfaError::InvalidChallenge)?;
        let user = self
            .ports
            .users
            .find_by_id(challenge.user_id)
            .await?
            .filter(|user| user.status == UserStatus::Active)
            .ok_or(MfaError::InvalidChallenge)?;
        Ok((challenge, user))
    }

    /// The step whose code `code` is, among the current step and its drift neighbours.
    fn matching_step(&self, enrollment: &TotpEnrollment, code: &str) -> Option<i64> {
        let code = code.trim();
        if !is_totp_code(code) {
            return None;
        }
        candidate_steps(self.ports.clock.now())
            .find(|&step| codes_match(&self.ports.totp.code(&enrollment.secret, step), code))
    }

    /// Checks a current code of a confirmed enrollment for a signed-in user, spending its step.
    async fn check_current_code(&self, user: &User, code: &str, context: &RequestContext) -> Result<(), MfaError> {
        self.check_account_not_blocked(user, context).await?;
        let enrollment = self
            .ports
            .mfa
            .find_enrollment(user.id)
            .await?
            .filter(TotpEnrollment::is_confirmed)
            .ok_or(MfaError::NotEnabled)?;
        let accepted = match self.matching_step(&enrollment, code) {
            Some(step) => self.ports.mfa.accept_step(user.id, step).await?,
            None => false,
        };
        if !accepted {
            self.count_failure(user, None, "wrong_code", context).await?;
            return Err(MfaError::InvalidCode);
        }
        Ok(())
    }

    async fn check_account_not_blocked(&self, user: &User, context: &RequestContext) -> Result<(), MfaError> {
        let failures = self
            .ports
            .mfa
            .account_failures(user.id, self.ports.clock.now(), ACCOUNT_FAILURE_WINDOW)
            .await?;
        if failures < ACCOUNT_MAX_FAILURES {
            return Ok(());
        }
        let event = self.mfa_event(AuditEventType::MfaBlocked, user, Some("account_blocked"), context);
        self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
        tracing::info!(user_id = %user.id, failures, "second factor blocked for this account");
        Err(MfaError::Blocked)
    }

    /// Counts a wrong code against the challenge and the account, each an audit event, and
    /// records when either limit is reached. The password lockout counters are not touched, so
    /// wrong codes cannot lock the password step and wrong passwords cannot lock this one.
    async fn count_failure(
        &self,
        user: &User,
        challenge: Option<&MfaChallenge>,
        reason: &'static str,
        context: &RequestContext,
    ) -> Result<(), MfaError> {
        let now = self.ports.clock.now();
        let event = self.mfa_event(AuditEventType::MfaFailed, user, Some(reason), context);
        self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
        tracing::info!(user_id = %user.id, reason, "second factor rejected");
        if let Some(challenge) = challenge {
            let failures = self.ports.mfa.fail_challenge(challenge.id).await?;
            if failures == CHALLENGE_MAX_FAILURES {
                let event = self.mfa_event(AuditEventType::MfaBlocked, user, Some("challenge_void"), context);
                self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
            }
        }
        let failures = self
            .ports
            .mfa
            .record_account_failure(user.id, now, ACCOUNT_FAILURE_WINDOW)
            .await?;
        if failures == ACCOUNT_MAX_FAILURES {
            let event = self.mfa_event(AuditEventType::MfaBlocked, user, Some("account_blocked"), context);
            self.ports.audit.record(&event).await.map_err(UnexpectedError::from)?;
            tracing::warn!(user_id = %user.id, "second factor blocked after too many wrong codes");
        }
        Ok(())
    }

    fn new_recovery_codes(&self) -> (Vec<RecoveryCode>, Vec<String>) {
        let codes: Vec<RecoveryCode> = (0..RECOVERY_CODE_COUNT)
            .map(|_| RecoveryCode::from_random(self.ports.random.bytes()))
            .collect();
        let hashes = codes
            .iter()
            .map(|code| {
                self.ports
                    .totp
                    .hash_recovery_code(&RecoveryCode::normalize(code.expose()))
            })
            .collect();
        (codes, hashes)
    }

    fn mfa_event(
        &self,
        event_type: AuditEventType,
        user: &User,
        detail: Option<&'static str>,
        context: &RequestContext,
    ) -> somnium_domain::AuditEvent {
        let outcome = match event_type {
            AuditEventType::MfaFailed | AuditEventType::MfaBlocked => AuditOutcome::Failure,
            _ => AuditOutcome::Success,
        };
        self.audit_event(EventFacts {
            event_type,
            outcome,
            user_id: Some(user.id),
            resource: Some(format!("user:{}", user.id)),
            detail,
            context,
        })
    }
}
