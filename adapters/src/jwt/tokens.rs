use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use josekit::jwk::KeyPair;
use josekit::jws::alg::ecdsa::{EcdsaJwsSigner, EcdsaJwsVerifier};
use josekit::jws::{JwsHeader, ES256};
use josekit::jwt::{self, JwtPayload};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use somnium_domain::emergency::EmergencyClaim;
use somnium_domain::ports::{AccessTokenError, AccessTokenIssuer, AccessTokenVerifier, DeviceTokens};
use somnium_domain::{AccessTokenClaims, DeviceToken, IssuedAccessToken, Role, SessionId, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::keys::SigningKey;

/// The JWS `typ` of an access token (RFC 9068).
const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Maximum clock skew tolerated when checking `exp` and `iat`.
pub const MAX_LEEWAY: Duration = Duration::seconds(60);

#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub access_token_lifetime: Duration,
    /// Clock skew tolerated on `exp`, at most [`MAX_LEEWAY`].
    pub leeway: Duration,
}

/// A signing key with the times that decide when it signs and when it is published.
#[derive(Clone)]
pub struct ManagedKey {
    pub key: SigningKey,
    /// From this time on the key signs new tokens, unless a newer key has taken over.
    pub activates_at: OffsetDateTime,
    /// When a newer key took over; the key stays published until the tokens it signed expire.
    pub retired_at: Option<OffsetDateTime>,
}

struct KeyEntry {
    kid: String,
    signer: EcdsaJwsSigner,
    verifier: EcdsaJwsVerifier,
    jwk: Value,
    activates_at: OffsetDateTime,
    retired_at: Option<OffsetDateTime>,
}

/// The keys of one moment, oldest activation first.
struct KeySet {
    entries: Vec<KeyEntry>,
}

/// Signs with the newest active key and verifies with every published key. The set can be
/// replaced while serving, which is how a rotation made by another instance arrives.
pub struct Es256AccessTokens {
    settings: JwtSettings,
    keys: RwLock<Arc<KeySet>>,
    verified: VerifiedTokens,
}

impl Es256AccessTokens {
    /// Builds the signer from `current` and verifiers from `current` plus `previous`, whose
    /// tokens stay valid until they expire.
    ///
    /// # Errors
    /// [`AccessTokenError::Signing`] when josekit rejects a key.
    pub fn new(settings: JwtSettings, current: &SigningKey, previous: &[SigningKey]) -> Result<Self, AccessTokenError> {
        let keys = previous
            .iter()
            .map(|key| ManagedKey {
                key: key.clone(),
                activates_at: OffsetDateTime::UNIX_EPOCH,
                retired_at: None,
            })
            .chain(std::iter::once(ManagedKey {
                key: current.clone(),
                activates_at: OffsetDateTime::UNIX_EPOCH + Duration::SECOND,
                retired_at: None,
            }))
            .collect();
        Self::with_keys(settings, keys)
    }

    /// Builds from managed keys, as loaded from storage.
    ///
    /// # Errors
    /// [`AccessTokenError::Signing`] when `keys` is empty or josekit rejects a key.
    pub fn with_keys(settings: JwtSettings, keys: Vec<ManagedKey>) -> Result<Self, AccessTokenError> {
        let settings = JwtSettings {
            leeway: settings.leeway.min(MAX_LEEWAY),
            ..settings
        };
        Ok(Self {
            settings,
            keys: RwLock::new(Arc::new(key_set(keys)?)),
            verified: VerifiedTokens::new(),
        })
    }

    /// Replaces the keys, for a rotation made elsewhere.
    ///
    /// # Errors
    /// [`AccessTokenError::Signing`] when `keys` is empty or josekit rejects a key; the keys in
    /// use stay.
    pub fn install(&self, keys: Vec<ManagedKey>) -> Result<(), AccessTokenError> {
        let set = key_set(keys)?;
        *self.keys.write().expect("signing key lock") = Arc::new(set);
        Ok(())
    }

    /// The JSON Web Key Set at `now`: every key that signs or signed tokens still unexpired.
    pub fn jwks(&self, now: OffsetDateTime) -> Value {
        let keys = self.keys();
        let published: Vec<Value> = keys
            .entries
            .iter()
            .filter(|entry| self.is_published(entry, now))
            .map(|entry| entry.jwk.clone())
            .collect();
        json!({ "keys": published })
    }

    /// The kid new tokens are signed with at `now`.
    pub fn signing_kid(&self, now: OffsetDateTime) -> String {
        let keys = self.keys();
        signer_at(&keys, now).kid.clone()
    }

    fn keys(&self) -> Arc<KeySet> {
        self.keys.read().expect("signing key lock").clone()
    }

    /// Published from creation until the longest-lived token it could have signed has expired.
    fn is_published(&self, entry: &KeyEntry, now: OffsetDateTime) -> bool {
        let retention = self.settings.access_token_lifetime + self.settings.leeway;
        entry.retired_at.is_none_or(|retired_at| now < retired_at + retention)
    }

    fn sign(&self, payload: &JwtPayload, typ: &str, now: OffsetDateTime) -> Result<String, AccessTokenError> {
        let keys = self.keys();
        let entry = signer_at(&keys, now);
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&entry.kid);
        jwt::encode_with_signer(payload, &header, &entry.signer)
            .map_err(|error| AccessTokenError::Signing(error.to_string()))
    }

    fn verify_with_published(
        &self,
        token: &str,
        kid: &str,
        now: OffsetDateTime,
    ) -> Result<JwtPayload, AccessTokenError> {
        let keys = self.keys();
        let entry = keys
            .entries
            .iter()
            .find(|entry| entry.kid == kid && self.is_published(entry, now))
            .ok_or(AccessTokenError::UnknownKey)?;
        let (payload, _header) = jwt::decode_with_verifier(token, &entry.verifier).map_err(|error| match error {
            josekit::JoseError::InvalidSignature(_) => AccessTokenError::BadSignature,
            _ => AccessTokenError::Malformed,
        })?;
        Ok(payload)
    }

    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    fn check_header(token: &str) -> Result<String, AccessTokenError> {
        let header = jwt::decode_header(token).map_err(|_| AccessTokenError::Malformed)?;
        // Pinning the algorithm rejects `none` and HMAC tokens signed with the public key
        // before any key is chosen.
        if header.claim("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(AccessTokenError::Header("alg must be ES256"));
        }
        let typ = header.claim("typ").and_then(Value::as_str).unwrap_or_default();
        if !typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(AccessTokenError::Header("typ must be at+jwt"));
        }
        header
            .claim("kid")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(AccessTokenError::UnknownKey)
    }

    fn check_claims(&self, payload: &JwtPayload, now: OffsetDateTime) -> Result<AccessTokenClaims, AccessTokenError> {
        if payload.claim("type").and_then(Value::as_str) != Some("access") {
            return Err(AccessTokenError::Claim("type must be access"));
        }
        if payload.issuer() != Some(self.settings.issuer.as_str()) {
            return Err(AccessTokenError::Claim("iss"));
        }
        let audience_matches = payload
            .audience()
            .is_some_and(|audience| audience.iter().any(|entry| *entry == self.settings.audience));
        if !audience_matches {
            return Err(AccessTokenError::Claim("aud"));
        }

        let expires_at = payload.expires_at().ok_or(AccessTokenError::Claim("exp is missing"))?;
        if to_offset(expires_at) + self.settings.leeway <= now {
            return Err(AccessTokenError::Expired);
        }
        let issued_at = payload.issued_at().ok_or(AccessTokenError::Claim("iat is missing"))?;
        if to_offset(issued_at) > now + self.settings.leeway {
            return Err(AccessTokenError::Claim("iat is in the future"));
        }

        let uuid_claim = |name: &'static str| {
            payload
                .claim(name)
                .and_then(Value::as_str)
                .and_then(|value| Uuid::parse_str(value).ok())
                .ok_or(AccessTokenError::Claim(name))
        };
        let role = payload
            .claim("role")
            .and_then(Value::as_str)
            .and_then(|value| value.parse::<Role>().ok())
            .ok_or(AccessTokenError::Claim("role"))?;
        let auth_time = payload
            .claim("auth_time")
            .and_then(Value::as_i64)
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
            .ok_or(AccessTokenError::Claim("auth_time"))?;
        let email = payload
            .claim("email")
            .and_then(Value::as_str)
            .ok_or(AccessTokenError::Claim("email"))?;

        Ok(AccessTokenClaims {
            user_id: UserId::from_uuid(uuid_claim("sub")?),
            email: email.to_owned(),
            role,
            session_id: SessionId::from_uuid(uuid_claim("sid")?),
            auth_time,
            password_change_required: payload.claim("pwd_change").and_then(Value::as_bool).unwrap_or(false),
            mfa: payload
                .claim("amr")
                .and_then(Value::as_array)
                .is_some_and(|methods| methods.iter().any(|method| method == "otp")),
            emergency: payload.claim("emergency").and_then(|claim| {
                Some(EmergencyClaim {
                    grant_id: Uuid::parse_str(claim.get("grant_id")?.as_str()?).ok()?,
                    scope: claim.get("scope")?.as_str()?.to_owned(),
                    expires_at: OffsetDateTime::from_unix_timestamp(claim.get("exp")?.as_i64()?).ok()?,
                })
            }),
        })
    }
}

impl AccessTokenIssuer for Es256AccessTokens {
    fn issue(
        &self,
        claims: &AccessTokenClaims,
        now: OffsetDateTime,
        max_lifetime: Duration,
    ) -> Result<IssuedAccessToken, AccessTokenError> {
        let lifetime = self
            .settings
            .access_token_lifetime
            .min(max_lifetime)
            .max(Duration::SECOND);
        let mut jti = [0_u8; 16];
        OsRng.fill_bytes(&mut jti);
        let mut payload = JwtPayload::new();
        payload.set_issuer(&self.settings.issuer);
        payload.set_audience(vec![self.settings.audience.clone()]);
        payload.set_subject(claims.user_id.to_string());
        payload.set_jwt_id(hex::encode(jti));
        // `iat` and `exp` are set as integers: josekit writes `iat` as a float, which some
        // resource servers reject.
        let extra = [
            ("iat", json!(now.unix_timestamp())),
            ("exp", json!((now + lifetime).unix_timestamp())),
            ("type", json!("access")),
            ("email", json!(claims.email)),
            ("role", json!(claims.role.as_str())),
            ("sid", json!(claims.session_id.to_string())),
            ("auth_time", json!(claims.auth_time.unix_timestamp())),
            // RFC 8176 method references, so resource servers can require a second factor.
            (
                "amr",
                if claims.mfa {
                    json!(["pwd", "otp"])
                } else {
                    json!(["pwd"])
                },
            ),
        ];
        let extra: Vec<(&str, Value)> = extra
            .into_iter()
            .chain(claims.password_change_required.then(|| ("pwd_change", json!(true))))
            .chain(claims.emergency.as_ref().map(|grant| {
                let claim = json!({
                    "grant_id": grant.grant_id.to_string(),
                    "scope": grant.scope,
                    "exp": grant.expires_at.unix_timestamp(),
                });
                ("emergency", claim)
            }))
            .collect();
        for (name, value) in extra {
            payload
                .set_claim(name, Some(value))
                .map_err(|error| AccessTokenError::Signing(error.to_string()))?;
        }

        let token = self.sign(&payload, ACCESS_TOKEN_TYP, now)?;
        Ok(IssuedAccessToken {
            token: token.into(),
            expires_in_seconds: lifetime.whole_seconds(),
        })
    }
}

impl AccessTokenVerifier for Es256AccessTokens {
    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessTokenClaims, AccessTokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.verified.get(&digest) {
            // The signature and the fixed claims of these exact bytes were checked before; only
            // what changes with time is checked again: expiry, and that the key is still
            // published. A token that fails either is verified in full below, which rejects it
            // with the precise reason.
            let key_published = self
                .keys()
                .entries
                .iter()
                .any(|entry| entry.kid == hit.kid && self.is_published(entry, now));
            if key_published && now < hit.expires_at + self.settings.leeway {
                return Ok(hit.claims);
            }
        }
        let kid = Self::check_header(token)?;
        let payload = self.verify_with_published(token, &kid, now)?;
        let claims = self.check_claims(&payload, now)?;
        if let Some(expires_at) = payload.expires_at() {
            self.verified.insert(
                digest,
                VerifiedToken {
                    kid,
                    expires_at: to_offset(expires_at),
                    claims: claims.clone(),
                },
                now,
            );
        }
        Ok(claims)
    }
}

/// A token whose signature and claims were verified, kept by the SHA-256 of its exact bytes.
#[derive(Clone)]
struct VerifiedToken {
    kid: String,
    expires_at: OffsetDateTime,
    claims: AccessTokenClaims,
}

/// Shards of verified tokens. ES256 verification costs tens of microseconds, and a client
/// presents the same access token on every request of its lifetime, so each token is verified
/// once per instance. Failures are never kept, so invalid tokens cannot fill it.
struct VerifiedTokens {
    shards: Vec<Mutex<HashMap<[u8; 32], VerifiedToken>>>,
}

const VERIFIED_SHARDS: usize = 16;
/// Entries per shard: with about 300 bytes each, the whole cache stays under 5 MiB.
const VERIFIED_PER_SHARD: usize = 1024;

impl VerifiedTokens {
    fn new() -> Self {
        Self {
            shards: (0..VERIFIED_SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, digest: &[u8; 32]) -> &Mutex<HashMap<[u8; 32], VerifiedToken>> {
        &self.shards[usize::from(digest[0]) % VERIFIED_SHARDS]
    }

    fn get(&self, digest: &[u8; 32]) -> Option<VerifiedToken> {
        self.shard(digest)
            .lock()
            .expect("verified token lock")
            .get(digest)
            .cloned()
    }

    fn insert(&self, digest: [u8; 32], token: VerifiedToken, now: OffsetDateTime) {
        let mut shard = self.shard(&digest).lock().expect("verified token lock");
        if shard.len() >= VERIFIED_PER_SHARD {
            shard.retain(|_, entry| entry.expires_at > now);
            if shard.len() >= VERIFIED_PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(digest, token);
    }
}

fn key_set(mut keys: Vec<ManagedKey>) -> Result<KeySet, AccessTokenError> {
    if keys.is_empty() {
        return Err(AccessTokenError::Signing("no signing key is configured".to_owned()));
    }
    let signing_error = |error: josekit::JoseError| AccessTokenError::Signing(error.to_string());
    keys.sort_by_key(|key| key.activates_at);
    let mut entries = Vec::with_capacity(keys.len());
    for managed in keys {
        let key = &managed.key;
        let mut signer = ES256
            .signer_from_jwk(&key.key_pair().to_jwk_private_key())
            .map_err(signing_error)?;
        signer.set_key_id(key.kid());
        let public = key.key_pair().to_jwk_public_key();
        let mut verifier = ES256.verifier_from_jwk(&public).map_err(signing_error)?;
        verifier.set_key_id(key.kid());
        let mut jwk: serde_json::Map<String, Value> = public.as_ref().clone();
        jwk.insert("kid".into(), json!(key.kid()));
        jwk.insert("alg".into(), json!("ES256"));
        jwk.insert("use".into(), json!("sig"));
        entries.push(KeyEntry {
            kid: key.kid().to_owned(),
            signer,
            verifier,
            jwk: Value::Object(jwk),
            activates_at: managed.activates_at,
            retired_at: managed.retired_at,
        });
    }
    Ok(KeySet { entries })
}

/// The newest key already active at `now`; before any is active, the oldest.
fn signer_at(keys: &KeySet, now: OffsetDateTime) -> &KeyEntry {
    keys.entries
        .iter()
        .rev()
        .find(|entry| entry.activates_at <= now)
        .unwrap_or(&keys.entries[0])
}

fn to_offset(time: SystemTime) -> OffsetDateTime {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The JWS `typ` of a device token, distinct from access tokens so neither can stand in for the
/// other.
const DEVICE_TOKEN_TYP: &str = "device+jwt";

/// How long a device token stays valid.
pub const DEVICE_TOKEN_LIFETIME: Duration = Duration::days(90);

impl DeviceTokens for Es256AccessTokens {
    fn issue(&self, user_id: UserId, now: OffsetDateTime) -> Result<DeviceToken, AccessTokenError> {
        let mut device_id = [0_u8; 16];
        OsRng.fill_bytes(&mut device_id);
        let mut payload = JwtPayload::new();
        payload.set_issuer(&self.settings.issuer);
        payload.set_subject(user_id.to_string());
        let claims = [
            ("type", json!("device")),
            ("did", json!(hex::encode(device_id))),
            ("iat", json!(now.unix_timestamp())),
            ("exp", json!((now + DEVICE_TOKEN_LIFETIME).unix_timestamp())),
        ];
        for (name, value) in claims {
            payload
                .set_claim(name, Some(value))
                .map_err(|error| AccessTokenError::Signing(error.to_string()))?;
        }
        Ok(DeviceToken::new(self.sign(&payload, DEVICE_TOKEN_TYP, now)?))
    }

    fn verify(&self, token: &str, user_id: UserId, now: OffsetDateTime) -> Option<String> {
        let header = jwt::decode_header(token).ok()?;
        if header.claim("alg").and_then(Value::as_str) != Some("ES256")
            || header.claim("typ").and_then(Value::as_str) != Some(DEVICE_TOKEN_TYP)
        {
            return None;
        }
        let kid = header.claim("kid").and_then(Value::as_str)?;
        let payload = self.verify_with_published(token, kid, now).ok()?;

        let valid = payload.claim("type").and_then(Value::as_str) == Some("device")
            && payload.issuer() == Some(self.settings.issuer.as_str())
            && payload.subject() == Some(user_id.to_string().as_str())
            && payload
                .claim("exp")
                .and_then(Value::as_i64)
                .is_some_and(|expires| now.unix_timestamp() < expires);
        if !valid {
            return None;
        }
        payload.claim("did").and_then(Value::as_str).map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JwtSettings {
        JwtSettings {
            issuer: "somnium".into(),
            audience: "somnium-api".into(),
            access_token_lifetime: Duration::minutes(15),
            leeway: Duration::seconds(30),
        }
    }

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            user_id: UserId::from_uuid(Uuid::from_u128(1)),
            email: "nurse@example.org".into(),
            role: Role::Nurse,
            session_id: SessionId::from_uuid(Uuid::from_u128(2)),
            auth_time: OffsetDateTime::UNIX_EPOCH,
            password_change_required: false,
            emergency: None,
            mfa: true,
        }
    }

    #[test]
    fn a_verified_token_still_expires_and_loses_a_dropped_key() {
        let key = SigningKey::generate().unwrap();
        let tokens = Es256AccessTokens::new(settings(), &key, &[]).unwrap();
        let now = OffsetDateTime::now_utc();
        let issued = AccessTokenIssuer::issue(&tokens, &claims(), now, Duration::minutes(15)).unwrap();
        let token = secrecy::ExposeSecret::expose_secret(&issued.token).to_owned();

        assert!(AccessTokenVerifier::verify(&tokens, &token, now).unwrap().mfa);
        assert!(
            AccessTokenVerifier::verify(&tokens, &token, now + Duration::minutes(1)).is_ok(),
            "served from the cache"
        );
        assert!(matches!(
            AccessTokenVerifier::verify(&tokens, &token, now + Duration::minutes(16)),
            Err(AccessTokenError::Expired)
        ));

        let successor = SigningKey::generate().unwrap();
        tokens
            .install(vec![
                ManagedKey {
                    key: key.clone(),
                    activates_at: OffsetDateTime::UNIX_EPOCH,
                    retired_at: Some(now - Duration::hours(1)),
                },
                ManagedKey {
                    key: successor,
                    activates_at: now - Duration::hours(1),
                    retired_at: None,
                },
            ])
            .unwrap();
        assert!(matches!(
            AccessTokenVerifier::verify(&tokens, &token, now),
            Err(AccessTokenError::UnknownKey)
        ));
    }

    #[test]
    fn an_altered_token_is_not_served_from_the_cache() {
        let key = SigningKey::generate().unwrap();
        let tokens = Es256AccessTokens::new(settings(), &key, &[]).unwrap();
        let now = OffsetDateTime::now_utc();
        let issued = AccessTokenIssuer::issue(&tokens, &claims(), now, Duration::minutes(15)).unwrap();
        let token = secrecy::ExposeSecret::expose_secret(&issued.token).to_owned();
        AccessTokenVerifier::verify(&tokens, &token, now).unwrap();
        let mut altered = token.clone();
        altered.pop();
        altered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(AccessTokenVerifier::verify(&tokens, &altered, now).is_err());
    }
}
