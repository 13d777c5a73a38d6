//! The ports: traits the application calls and the adapters implement.
//!
//! Storage ports write an audit event in the same transaction as the change it records, so the
//! trail can never miss a change that happened or show one that did not.

use std::error::Error as StdError;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditEventPage, AuditFilter, ChainVerification, PruneOutcome};
use crate::emergency::EmergencyGrant;
use crate::ids::{RefreshTokenId, SessionId, UserId};
use crate::lockout::{AttemptKey, AttemptStart, FailureOutcome, LockoutPolicy};
use crate::mfa::{MfaChallenge, TotpEnrollment, TotpSecret};
use crate::password::{Password, PasswordHash};
use crate::rate_limit::{RateDecision, RateLimit};
use crate::session::{NewRefreshToken, RefreshTokenRecord, Session, SuccessorSeed};
use crate::token::{AccessTokenClaims, DeviceToken, IssuedAccessToken, RefreshToken};
use crate::user::{Email, NewUser, Role, User, UserStatus};

/// A failure of the storage behind a repository. Adapters translate every driver error into
/// this type, so no database type crosses a port.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The store is unreachable (connection refused, pool exhausted, timed out).
    #[error("storage is unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// Anything else the adapter did not expect, including stored data it cannot read.
    #[error("storage failed unexpectedly")]
    Unexpected(#[source] Box<dyn StdError + Send + Sync>),
}

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// An account with the same normalized email exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Criteria for listing accounts, in order of creation.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    /// A prefix of the normalized email.
    pub email_prefix: Option<String>,
    /// Cursor: only accounts created after this one (creation time, then id).
    pub after: Option<(OffsetDateTime, UserId)>,
}

/// One page of accounts.
#[derive(Clone, Debug)]
pub struct UserPage {
    pub users: Vec<User>,
    /// The cursor of the next page, when there is one.
    pub next_after: Option<(OffsetDateTime, UserId)>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    /// The change would leave no active ADMIN.
    #[error("the change would leave no active administrator")]
    LastAdmin,
    #[error("user not found")]
    NotFound,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Why a stored value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum FieldEncryptionError {
    /// The value names a data key the key ring does not hold.
    #[error("no data key with id `{0}` is in the key ring")]
    UnknownKey(String),
    /// The value is not in the sealed format.
    #[error("the stored value is not a sealed value")]
    Malformed,
    /// Authentication failed: the value was altered, belongs to another row or field, or the key
    /// with its id has other bytes than the one that sealed it.
    #[error("the sealed value failed authentication")]
    Tampered,
}

/// Which field of which row a sealed value belongs to. Both are bound into the ciphertext, so a
/// value copied to another row or another column no longer opens.
#[derive(Clone, Copy, Debug)]
pub struct FieldBinding<'a> {
    /// The table and column, such as `users.email`.
    pub field: &'static str,
    /// The row's id.
    pub row: &'a str,
}

/// Encryption of personal data and second-factor secrets at rest. Storage adapters seal values
/// before writing and open them after reading; use cases only ever see plain values.
pub trait FieldEncryption: Send + Sync {
    /// Encrypts `plaintext` under the current data key; the result names that key.
    ///
    /// # Errors
    /// [`FieldEncryptionError`] when no current key is usable.
    fn seal(&self, binding: FieldBinding<'_>, plaintext: &str) -> Result<String, FieldEncryptionError>;

    /// Decrypts a value sealed by [`FieldEncryption::seal`] for the same binding.
    ///
    /// # Errors
    /// [`FieldEncryptionError`] when the key is unknown or the value fails authentication.
    fn open(&self, binding: FieldBinding<'_>, sealed: &str) -> Result<String, FieldEncryptionError>;

    /// The id of the data key new values are sealed under.
    fn current_key_id(&self) -> String;

    /// A keyed, deterministic digest of a normalized email, so accounts can be found and kept
    /// unique by email without storing the email in the clear.
    fn blind_index(&self, normalized_email: &str) -> String;
}

/// Accounts and their password hashes.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new account and its registration event in one transaction.
    ///
    /// # Errors
    /// [`InsertUserError::EmailTaken`] when the normalized email is already registered, even
    /// when two registrations race; [`InsertUserError::Repository`] otherwise.
    async fn insert(&self, user: &NewUser, event: &AuditEvent) -> Result<(), InsertUserError>;

    /// Finds an account and its password hash by normalized email.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails; an unknown email is `Ok(None)`.
    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, PasswordHash)>, RepositoryError>;

    /// Finds the password hash of an account by id.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails; an unknown id is `Ok(None)`.
    async fn find_credentials_by_id(&self, id: UserId) -> Result<Option<PasswordHash>, RepositoryError>;

    /// Finds an account by id.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails; an unknown id is `Ok(None)`.
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError>;

    /// Finds an account by id for a read that changes nothing, such as showing the caller their
    /// own account. The result may be a copy up to a fraction of a second old when another
    /// instance changed the account, the bound the revocation list already gives. A change made
    /// through this repository shows at once. Code that writes what it read uses
    /// [`UserRepository::find_by_id`], so a copy never overwrites a newer change.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails; an unknown id is `Ok(None)`.
    async fn find_by_id_for_display(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        self.find_by_id(id).await
    }

    /// Replaces an account's password hash with the same password hashed anew (a rehash); the
    /// password history is not touched.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
    ) -> Result<(), RepositoryError>;

    /// Sets a new password, adds it to the password history and records `event`, in one
    /// transaction.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// Returns the hashes of the account's most recent passwords, newest first, the current one
    /// included.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn recent_password_hashes(&self, id: UserId, limit: usize) -> Result<Vec<PasswordHash>, RepositoryError>;

    /// Lists up to `limit` accounts matching `filter`, oldest first.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn list(&self, filter: &UserFilter, limit: u64) -> Result<UserPage, RepositoryError>;

    /// Sets an account's role, status and full name, and records `event`, in one transaction
    /// that is refused when it would leave no active ADMIN, even when two such changes race.
    ///
    /// # Errors
    /// [`UpdateUserError::LastAdmin`], [`UpdateUserError::NotFound`], or the store's failure.
    async fn update_account(&self, user: &User, at: OffsetDateTime, event: &AuditEvent) -> Result<(), UpdateUserError>;

    /// Counts the active ADMIN accounts.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn count_active_admins(&self) -> Result<u64, RepositoryError>;
}

/// A rotation: the spent token, when it was spent, the seed its successor is derived from, and
/// the successor itself.
#[derive(Clone, Debug)]
pub struct Rotation {
    pub spent: RefreshTokenId,
    pub rotated_at: OffsetDateTime,
    pub seed: SuccessorSeed,
    pub successor: NewRefreshToken,
}

#[derive(Clone, Debug)]
pub enum RotationOutcome {
    /// This call spent the token and stored the successor.
    Rotated,
    /// Another call spent the token first; here is the token as it is stored now.
    AlreadySpent(Box<RefreshTokenRecord>),
}

/// Sessions and their refresh-token families.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session, its first refresh token and the login event in one transaction.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn create(
        &self,
        session: &Session,
        first_token: &NewRefreshToken,
        event: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// Finds a refresh token by the hex SHA-256 of its value, with its session.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails; an unknown hash is `Ok(None)`.
    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>, RepositoryError>;

    /// Spends a refresh token and stores its successor with the refresh event, atomically and
    /// only if the token is still unspent. Of any number of concurrent calls for one token,
    /// exactly one returns [`RotationOutcome::Rotated`]; the event is written only by that one.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn rotate(&self, rotation: &Rotation, event: &AuditEvent) -> Result<RotationOutcome, RepositoryError>;

    /// Revokes a session, and with it every refresh token of its family, recording `event` in
    /// the same transaction. Returns false when the session was already revoked.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn revoke(
        &self,
        session_id: SessionId,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<bool, RepositoryError>;

    /// Finds a session by id, revoked or not.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn find(&self, session_id: SessionId) -> Result<Option<Session>, RepositoryError>;

    /// Lists a user's sessions that are neither revoked nor past their absolute end at `now`,
    /// most recently used first.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn list_active(&self, user_id: UserId, now: OffsetDateTime) -> Result<Vec<Session>, RepositoryError>;

    /// Revokes every unrevoked session of a user except `keep`, recording `event` in the same
    /// transaction, and returns the ids it revoked.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn revoke_all(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<Vec<SessionId>, RepositoryError>;
}

/// The sessions whose access tokens must be rejected before they expire. Each instance keeps the
/// list in memory, so checking a token costs no I/O; the adapter keeps instances in sync.
pub trait RevocationList: Send + Sync {
    /// Records that a session was revoked, on this instance at once and on the others within a
    /// second.
    fn revoke(&self, session_id: SessionId, at: OffsetDateTime);

    /// Tells whether a session has been revoked.
    fn is_revoked(&self, session_id: SessionId) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// Every stored event is older than the cut; at least the newest must stay.
    #[error("pruning would delete every event; keep at least the newest")]
    WouldEmptyTrail,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The audit trail: a hash chain of events that storage refuses to update or delete.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends one event that accompanies no other change (a failed login, for example).
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError>;

    /// Walks the hash chain and reports the first broken link, or that it is intact.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn verify(&self) -> Result<ChainVerification, RepositoryError>;

    /// Reads up to `limit` events matching `filter`, newest first.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails or a row cannot be read.
    async fn list(&self, filter: &AuditFilter, limit: u64) -> Result<AuditEventPage, RepositoryError>;

    /// Deletes the events that occurred before `before` and leaves a checkpoint so the rest
    /// still verifies. The retention rule is the caller's to check.
    ///
    /// # Errors
    /// [`PruneError`] when nothing would remain or the store fails.
    async fn prune(&self, before: OffsetDateTime, now: OffsetDateTime) -> Result<PruneOutcome, PruneError>;
}

#[derive(Debug, thiserror::Error)]
pub enum HasherError {
    /// A stored hash could not be parsed.
    #[error("stored password hash is invalid")]
    InvalidHash,
    #[error("password hashing failed")]
    Unexpected(#[source] Box<dyn StdError + Send + Sync>),
}

/// Slow, salted password hashing.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password with a fresh salt.
    ///
    /// # Errors
    /// [`HasherError::Unexpected`] when hashing fails.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HasherError>;

    /// Checks a password against a stored hash in constant time.
    ///
    /// # Errors
    /// [`HasherError::InvalidHash`] when the stored hash cannot be parsed; a wrong password is
    /// `Ok(false)`.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HasherError>;

    /// Tells whether a stored hash was made with other parameters than the configured ones, so
    /// it should be replaced after the next successful login.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;
}

/// Why an access token was rejected. The client gets the same 401 for every variant, and
/// the distinction is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    #[error("token is not a well-formed JWT")]
    Malformed,
    #[error("token header is not accepted: {0}")]
    Header(&'static str),
    #[error("token is signed with an unknown key")]
    UnknownKey,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token claim is invalid: {0}")]
    Claim(&'static str),
    #[error("token has expired")]
    Expired,
    #[error("token's session has been revoked")]
    Revoked,
    #[error("token could not be signed")]
    Signing(String),
}

/// Signs access tokens.
pub trait AccessTokenIssuer: Send + Sync {
    /// Signs an access token with the given claims, valid from `now`.
    ///
    ///
    /// # Errors
    /// [`AccessTokenError::Signing`] when the signing key fails.
    /// The token lives for the configured lifetime, or `max_lifetime` when that is shorter, so
    /// no access token outlives the idle limit of its session.
    fn issue(
        &self,
        claims: &AccessTokenClaims,
        now: OffsetDateTime,
        max_lifetime: time::Duration,
    ) -> Result<IssuedAccessToken, AccessTokenError>;
}

/// Verifies access tokens.
pub trait AccessTokenVerifier: Send + Sync {
    /// Checks a token's algorithm, signature, type and claims at `now`, and returns its claims.
    ///
    /// # Errors
    /// An [`AccessTokenError`] naming the first check that failed.
    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessTokenClaims, AccessTokenError>;
}

/// Mints, derives and hashes opaque refresh tokens.
pub trait RefreshTokenMinter: Send + Sync {
    /// Returns a new token carrying at least 256 bits from a CSPRNG.
    fn mint(&self) -> RefreshToken;

    /// Derives the successor of `spent` from `seed`. The same inputs always give the same
    /// successor, and without `spent` the seed reveals nothing about it.
    fn derive_successor(&self, spent: &RefreshToken, seed: &SuccessorSeed) -> RefreshToken;

    /// Returns the lowercase hex SHA-256 of a token, the only form in which it is stored.
    fn hash(&self, token: &RefreshToken) -> String;
}

/// The current time. Use cases never read the system clock directly, so tests can move time.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// A cryptographically secure random source.
pub trait SecureRandom: Send + Sync {
    fn fill(&self, destination: &mut [u8]);
}

impl dyn SecureRandom {
    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0_u8; N];
        self.fill(&mut bytes);
        bytes
    }
}

/// A failure of the store behind lockout counters or rate limits.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("limiter store is unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
}

/// Failed-login counters and locks, shared by every instance when backed by Redis.
///
/// Every method is one atomic step of the store, so concurrent attempts on one account see
/// each other's counts.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// Counts an attempt before its password is checked, and reports a lock that applies to it.
    /// Expired locks found on the way are removed and listed.
    ///
    /// # Errors
    /// [`LimiterError`] when the store is unreachable.
    async fn begin_attempt(
        &self,
        key: &AttemptKey,
        policy: &LockoutPolicy,
        now: OffsetDateTime,
    ) -> Result<AttemptStart, LimiterError>;

    /// Records that the attempt's password was wrong, setting any lock its counters now reach.
    ///
    /// # Errors
    /// [`LimiterError`] when the store is unreachable.
    async fn record_failure(
        &self,
        key: &AttemptKey,
        policy: &LockoutPolicy,
        now: OffsetDateTime,
    ) -> Result<FailureOutcome, LimiterError>;

    /// Resets the counters of the attempt's source after a successful login.
    ///
    /// # Errors
    /// [`LimiterError`] when the store is unreachable.
    async fn record_success(&self, key: &AttemptKey) -> Result<(), LimiterError>;

    /// Removes every lock and counter of an account.
    ///
    /// # Errors
    /// [`LimiterError`] when the store is unreachable.
    async fn unlock(&self, user_id: UserId) -> Result<(), LimiterError>;
}

/// Request rate limits, shared by every instance when backed by Redis.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request against `key` and returns whether it is within `limit`.
    ///
    /// # Errors
    /// [`LimiterError`] when the store is unreachable.
    async fn check(&self, key: &str, limit: &RateLimit, now: OffsetDateTime) -> Result<RateDecision, LimiterError>;
}

/// Signed device tokens: proof that a client signed in to an account before, so its attempts
/// are not blocked by an account-wide lock that other clients caused.
pub trait DeviceTokens: Send + Sync {
    /// Issues a token binding a new device id to the account.
    ///
    /// # Errors
    /// [`AccessTokenError::Signing`] when the key fails.
    fn issue(&self, user_id: UserId, now: OffsetDateTime) -> Result<DeviceToken, AccessTokenError>;

    /// Returns the device id of a token that is valid for `user_id` at `now`.
    fn verify(&self, token: &str, user_id: UserId, now: OffsetDateTime) -> Option<String>;
}

/// Emergency-access grants.
#[async_trait]
pub trait EmergencyGrants: Send + Sync {
    /// Stores a grant and its audit event in one transaction.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn create(&self, grant: &EmergencyGrant, event: &AuditEvent) -> Result<(), RepositoryError>;

    /// Finds the active grant of a session at `now`, if there is one.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn active_for_session(
        &self,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<EmergencyGrant>, RepositoryError>;

    /// Lists the most recent grants, newest first.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn list(&self, limit: u64) -> Result<Vec<EmergencyGrant>, RepositoryError>;

    /// Ends a grant early and records `event`; returns the grant as it was, or `None` when the
    /// id is unknown.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn end(
        &self,
        id: uuid::Uuid,
        by: UserId,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<Option<EmergencyGrant>, RepositoryError>;
}

/// HMAC-based one-time codes (RFC 4226 and 6238) and the keyed hash of recovery codes.
pub trait TotpCodes: Send + Sync {
    /// The six-digit code of `secret` for TOTP step `step`.
    fn code(&self, secret: &TotpSecret, step: i64) -> String;

    /// A keyed hash of a normalized recovery code, the only form in which it is stored, so a
    /// copy of the database cannot be searched for codes offline.
    fn hash_recovery_code(&self, normalized: &str) -> String;
}

#[derive(Debug, thiserror::Error)]
pub enum MfaStoreError {
    /// TOTP is already on for the account; disable or reset it before enrolling again.
    #[error("a second factor is already enabled")]
    AlreadyEnabled,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// TOTP enrollments, recovery codes and the challenges issued after the password step. Every
/// check-and-set here is one conditional write, so two instances racing on the same code, step
/// or challenge cannot both succeed.
#[async_trait]
pub trait MfaRepository: Send + Sync {
    /// # Errors
    /// [`RepositoryError`] when the store fails; no enrollment is `Ok(None)`.
    async fn find_enrollment(&self, user_id: UserId) -> Result<Option<TotpEnrollment>, RepositoryError>;

    /// Stores a new unconfirmed secret, replacing an earlier unconfirmed one.
    ///
    /// # Errors
    /// [`MfaStoreError::AlreadyEnabled`] when a confirmed enrollment exists.
    async fn start_enrollment(
        &self,
        user_id: UserId,
        secret: &TotpSecret,
        now: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), MfaStoreError>;

    /// Confirms the pending enrollment with the step of its first code and stores the recovery
    /// code hashes. Returns `false` when there is no pending enrollment any more.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn confirm_enrollment(
        &self,
        user_id: UserId,
        step: i64,
        recovery_code_hashes: &[String],
        now: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<bool, RepositoryError>;

    /// Records `step` as used if it is newer than every step used before. Returns `false` for a
    /// replay.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn accept_step(&self, user_id: UserId, step: i64) -> Result<bool, RepositoryError>;

    /// Marks an unused recovery code as spent. Returns `false` when no unused code matches.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn spend_recovery_code(
        &self,
        user_id: UserId,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, RepositoryError>;

    /// Replaces every recovery code of the account.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn replace_recovery_codes(
        &self,
        user_id: UserId,
        hashes: &[String],
        now: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), RepositoryError>;

    /// Counts the account's unused recovery codes.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn unused_recovery_codes(&self, user_id: UserId) -> Result<u64, RepositoryError>;

    /// Removes the enrollment and recovery codes and ends the account's open challenges.
    /// Returns `false` when there was no enrollment.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn remove(&self, user_id: UserId, event: &AuditEvent) -> Result<bool, RepositoryError>;

    /// Counts a wrong code against the account and returns the wrong codes within the window
    /// that ends at `now`.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn record_account_failure(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<u32, RepositoryError>;

    /// Returns the wrong codes of the account within the window that ends at `now`.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn account_failures(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<u32, RepositoryError>;

    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn create_challenge(&self, challenge: &MfaChallenge, event: &AuditEvent) -> Result<(), RepositoryError>;

    /// # Errors
    /// [`RepositoryError`] when the store fails; an unknown token is `Ok(None)`.
    async fn find_challenge(&self, token_hash: &str) -> Result<Option<MfaChallenge>, RepositoryError>;

    /// Counts a wrong code against the challenge and returns its wrong codes so far.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn fail_challenge(&self, id: uuid::Uuid) -> Result<u32, RepositoryError>;

    /// Marks the challenge used if it still is not. Returns `false` when another request used
    /// it first.
    ///
    /// # Errors
    /// [`RepositoryError`] when the store fails.
    async fn consume_challenge(&self, id: uuid::Uuid, now: OffsetDateTime) -> Result<bool, RepositoryError>;
}
