//! Measures what appending one event to the hash-chained audit trail costs, alone and with
//! eight writers contending for the chain head, on SQLite and (with
//! `SOMNIUM_BENCH_DATABASE_URL=postgres://…`) on PostgreSQL.
//!
//! Run: `cargo bench -p somnium-adapters --bench audit_append`. It prints microseconds per event;
//! figures vary with the machine and its load, so compare runs on one machine.

use std::sync::Arc;
use std::time::Instant;

use somnium_adapters::storage::{connect, migrate, DatabaseSettings, SqlAuditLog};
use somnium_domain::ports::AuditLog;
use somnium_domain::{AuditEvent, AuditEventId, AuditEventType, AuditOutcome, AuditSeverity, RequestContext};
use time::OffsetDateTime;

const EVENTS: usize = 1000;
const WRITERS: usize = 8;

fn event(index: usize) -> AuditEvent {
    let mut id = [0_u8; 16];
    id[..8].copy_from_slice(&(index as u64).to_le_bytes());
    id[8..].copy_from_slice(&rand_bytes());
    AuditEvent {
        id: AuditEventId::from_random_bytes(id),
        occurred_at: OffsetDateTime::now_utc(),
        event_type: AuditEventType::LoginFailed,
        user_id: None,
        resource: None,
        outcome: AuditOutcome::Failure,
        detail: Some("unknown_email".to_owned()),
        severity: AuditSeverity::Info,
        actor_id: None,
        changes: None,
        context: RequestContext {
            client_ip: Some("127.0.0.1".to_owned()),
            user_agent: Some("bench".to_owned()),
            request_id: None,
        },
    }
}

fn rand_bytes() -> [u8; 8] {
    let mut bytes = [0_u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    bytes
}

async fn measure(name: &str, settings: DatabaseSettings) {
    let connection = connect(&settings).await.expect("database answers");
    migrate(&connection).await.expect("migrations apply");
    let log = Arc::new(SqlAuditLog::new(connection));

    let started = Instant::now();
    for index in 0..EVENTS {
        log.record(&event(index)).await.expect("append");
    }
    let sequential = started.elapsed().as_secs_f64() * 1e6 / EVENTS as f64;

    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let log = log.clone();
        writers.push(tokio::spawn(async move {
            for index in 0..EVENTS / WRITERS {
                log.record(&event(EVENTS + writer * EVENTS + index))
                    .await
                    .expect("append");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer finishes");
    }
    let contended = started.elapsed().as_secs_f64() * 1e6 / EVENTS as f64;

    let verdict = log.verify().await.expect("verify runs");
    println!("{name}: {sequential:.0} µs per event alone, {contended:.0} µs per event with {WRITERS} writers; chain after: {verdict:?}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let sqlite = DatabaseSettings {
        url: format!("sqlite://{}?mode=rwc", directory.path().join("bench.db").display()),
        schema: None,
        max_connections: 10,
    };
    measure("SQLite", sqlite).await;

    if let Ok(url) = std::env::var("SOMNIUM_BENCH_DATABASE_URL") {
        let postgres = DatabaseSettings {
            url,
            schema: None,
            max_connections: 10,
        };
        measure("PostgreSQL", postgres).await;
    } else {
        println!("PostgreSQL: skipped; set SOMNIUM_BENCH_DATABASE_URL to measure it");
    }
}
