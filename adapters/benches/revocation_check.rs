//! Measures the per-request cost of the revocation check next to the access-token verification
//! it follows, with 10,000 sessions in the revocation list.
//!
//! Run: `cargo bench -p somnium-adapters --bench revocation_check`. It prints nanoseconds per
//! operation; figures vary with the machine and its load.

use std::sync::Arc;
use std::time::Instant;

use somnium_adapters::crypto::SystemClock;
use somnium_adapters::jwt::{Es256AccessTokens, JwtSettings, SigningKey};
use somnium_adapters::revocation::RevocationCache;
use somnium_domain::ports::{AccessTokenIssuer, AccessTokenVerifier, Clock, RevocationList};
use somnium_domain::{AccessTokenClaims, Role, SessionId, UserId};
use time::{Duration, OffsetDateTime};

const REVOKED: usize = 10_000;
const CHECKS: usize = 1_000_000;
const VERIFICATIONS: usize = 5_000;

fn session(index: usize) -> SessionId {
    let mut bytes = [0_u8; 16];
    bytes[..8].copy_from_slice(&(index as u64).to_le_bytes());
    SessionId::from_random_bytes(bytes)
}

fn main() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cache = RevocationCache::new(Duration::minutes(16), clock);
    let now = OffsetDateTime::now_utc();
    for index in 0..REVOKED {
        cache.revoke(session(index), now);
    }

    let started = Instant::now();
    let mut hits = 0_usize;
    for index in 0..CHECKS {
        if cache.is_revoked(session(index % (2 * REVOKED))) {
            hits += 1;
        }
    }
    let check_ns = started.elapsed().as_nanos() as f64 / CHECKS as f64;

    let settings = JwtSettings {
        issuer: "somnium".into(),
        audience: "somnium-api".into(),
        access_token_lifetime: Duration::minutes(15),
        leeway: Duration::seconds(30),
    };
    let key = SigningKey::generate().expect("key generates");
    let tokens = Es256AccessTokens::new(settings, &key, &[]).expect("tokens build");
    let claims = AccessTokenClaims {
        user_id: UserId::from_random_bytes([1; 16]),
        email: "bench@example.test".into(),
        role: Role::Nurse,
        session_id: session(REVOKED + 1),
        auth_time: now,
        password_change_required: false,
        emergency: None,
        mfa: false,
    };
    let token = tokens.issue(&claims, now, Duration::minutes(15)).expect("token signs");
    let token = secrecy::ExposeSecret::expose_secret(&token.token).to_owned();
    let started = Instant::now();
    for _ in 0..VERIFICATIONS {
        tokens.verify(&token, now).expect("token verifies");
    }
    let verify_ns = started.elapsed().as_nanos() as f64 / VERIFICATIONS as f64;

    println!(
        "revocation check: {check_ns:.0} ns per lookup ({REVOKED} revoked, {hits} hits); \
         ES256 access-token verification: {:.1} µs",
        verify_ns / 1000.0
    );
}
