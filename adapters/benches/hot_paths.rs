//! Criterion micro-benchmarks of the work on every request or sign-in besides argon2: access-token
//! verification (first sight and cached), the password policy check, refresh-token minting and
//! lookup hashing, and audit-chain hashing.
//!
//! Run: `cargo bench -p somnium-adapters --bench hot_paths`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use secrecy::ExposeSecret;
use somnium_adapters::crypto::Sha256RefreshTokens;
use somnium_adapters::jwt::{Es256AccessTokens, JwtSettings, SigningKey};
use somnium_adapters::storage::audit_chain;
use somnium_adapters::storage::entities::audit_event;
use somnium_domain::password_policy::{Blocklist, PasswordContext, PasswordPolicy, PolicyPreset};
use somnium_domain::ports::{AccessTokenIssuer, AccessTokenVerifier, RefreshTokenMinter};
use somnium_domain::{AccessTokenClaims, Role, SessionId, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn claims(index: u128) -> AccessTokenClaims {
    AccessTokenClaims {
        user_id: UserId::from_uuid(Uuid::from_u128(index)),
        email: "charge.nurse@hospital.example".into(),
        role: Role::Nurse,
        session_id: SessionId::from_uuid(Uuid::from_u128(index + 1)),
        auth_time: OffsetDateTime::now_utc(),
        password_change_required: false,
        emergency: None,
        mfa: true,
    }
}

fn access_tokens(c: &mut Criterion) {
    let settings = JwtSettings {
        issuer: "somnium".into(),
        audience: "somnium-api".into(),
        access_token_lifetime: Duration::minutes(15),
        leeway: Duration::seconds(30),
    };
    let key = SigningKey::generate().expect("a key generates");
    let tokens = Es256AccessTokens::new(settings, &key, &[]).expect("tokens build");
    let now = OffsetDateTime::now_utc();
    let issue = |index: u128| {
        let issued = tokens
            .issue(&claims(index), now, Duration::minutes(15))
            .expect("a token signs");
        issued.token.expose_secret().to_owned()
    };

    c.bench_function("access token: sign", |b| b.iter(|| black_box(issue(7))));
    let mut counter = 0_u128;
    c.bench_function("access token: verify, first sight", |b| {
        b.iter_batched(
            || {
                counter += 2;
                issue(counter)
            },
            |token| black_box(tokens.verify(&token, now).expect("verifies")),
            BatchSize::SmallInput,
        )
    });
    let cached = issue(1);
    tokens.verify(&cached, now).expect("verifies");
    c.bench_function("access token: verify, cached", |b| {
        b.iter(|| black_box(tokens.verify(black_box(&cached), now).expect("verifies")))
    });
}

fn password_policy(c: &mut Criterion) {
    let policy = PasswordPolicy::new(PolicyPreset::Hospital, None, Arc::new(Blocklist::common_passwords()))
        .expect("the default policy builds");
    let context = PasswordContext {
        email: "charge.nurse@hospital.example",
        full_name: "Kim Nakamura",
        mfa_enforced: true,
    };
    c.bench_function("password policy: check a strong password", |b| {
        b.iter(|| black_box(policy.check(black_box("Night-Shift-42!"), &context)))
    });
}

fn refresh_tokens(c: &mut Criterion) {
    let minter = Sha256RefreshTokens;
    c.bench_function("refresh token: mint", |b| b.iter(|| black_box(minter.mint())));
    let token = minter.mint();
    c.bench_function("refresh token: lookup hash", |b| {
        b.iter(|| black_box(minter.hash(black_box(&token))))
    });
}

fn audit_chain_hash(c: &mut Criterion) {
    let event = audit_event::Model {
        id: Uuid::from_u128(42),
        occurred_at: OffsetDateTime::now_utc(),
        event_type: "login_succeeded".into(),
        user_id: Some(Uuid::from_u128(1)),
        resource: Some(format!("session:{}", Uuid::from_u128(2))),
        outcome: "success".into(),
        detail: Some("mfa".into()),
        client_ip: Some("10.20.30.40".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        request_id: Some("c2f51bab8134e52361b1aa9e9cd61775".into()),
        sequence: Some(4211),
        previous_hash: Some("9f".repeat(32)),
        hash: None,
        severity: Some("info".into()),
        actor_id: None,
        changes: None,
    };
    c.bench_function("audit chain: hash one event", |b| {
        b.iter(|| black_box(audit_chain::hash(black_box(&event))))
    });
}

criterion_group!(
    hot_paths,
    access_tokens,
    password_policy,
    refresh_tokens,
    audit_chain_hash
);
criterion_main!(hot_paths);
