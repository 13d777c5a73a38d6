//! The audit trail's hash chain: each event's hash covers its canonical content and the hash
//! of the event before it, so editing, deleting or reordering a stored event breaks the chain
//! at that point.

use sha2::{Digest, Sha256};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use super::entities::audit_event;

/// The hash that precedes the first event of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// UTC with microseconds: the precision both PostgreSQL and SQLite keep, so the hash of a time
/// read back equals the hash of the time written.
const TIME_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Truncates a time to the microsecond precision that is stored and hashed.
pub fn to_stored_precision(time: OffsetDateTime) -> OffsetDateTime {
    let utc = time.to_offset(time::UtcOffset::UTC);
    let micros = utc.nanosecond() / 1_000 * 1_000;
    utc.replace_nanosecond(micros).unwrap_or(utc)
}

fn field(output: &mut String, name: &str, value: Option<&str>) {
    // Length-prefixed values make the encoding unambiguous whatever the values contain.
    match value {
        Some(value) => output.push_str(&format!("{name}={}:{value}\n", value.len())),
        None => output.push_str(&format!("{name}=-\n")),
    }
}

/// The first line of the canonical content, which tags the format version.
pub const CANONICAL_VERSION_LINE: &str = "somnium-audit-v1\n";

/// Returns the canonical content of an event: every stored column except the hash itself, in a fixed
/// order, version-tagged so the format can change without ambiguity.
pub fn canonical(model: &audit_event::Model) -> String {
    let sequence = model.sequence.map(|sequence| sequence.to_string());
    assemble(
        sequence.as_deref(),
        &canonical_body(model),
        model.previous_hash.as_deref(),
    )
}

/// Returns the hash of an event from its place in the chain and its [`canonical_body`], equal to
/// [`hash`] of the stored row.
pub fn chained_hash(sequence: i64, body: &str, previous_hash: &str) -> String {
    let canonical = assemble(Some(&sequence.to_string()), body, Some(previous_hash));
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn assemble(sequence: Option<&str>, body: &str, previous_hash: Option<&str>) -> String {
    let mut output = String::from(CANONICAL_VERSION_LINE);
    field(&mut output, "sequence", sequence);
    output.push_str(body);
    field(&mut output, "previous_hash", previous_hash);
    output
}

/// Returns the part of the canonical content between the sequence number and the previous hash,
/// the part that does not depend on the event's place in the chain. PostgreSQL appends build the
/// rest in SQL, under the chain head's lock.
pub fn canonical_body(model: &audit_event::Model) -> String {
    let mut output = String::new();
    let occurred_at = to_stored_precision(model.occurred_at)
        .format(TIME_FORMAT)
        .unwrap_or_default();
    let id = model.id.to_string();
    let user_id = model.user_id.map(|id| id.to_string());
    let actor_id = model.actor_id.map(|id| id.to_string());
    field(&mut output, "id", Some(&id));
    field(&mut output, "occurred_at", Some(&occurred_at));
    field(&mut output, "event_type", Some(&model.event_type));
    field(&mut output, "user_id", user_id.as_deref());
    field(&mut output, "actor_id", actor_id.as_deref());
    field(&mut output, "resource", model.resource.as_deref());
    field(&mut output, "outcome", Some(&model.outcome));
    field(&mut output, "severity", model.severity.as_deref());
    field(&mut output, "detail", model.detail.as_deref());
    field(&mut output, "changes", model.changes.as_deref());
    field(&mut output, "client_ip", model.client_ip.as_deref());
    field(&mut output, "user_agent", model.user_agent.as_deref());
    field(&mut output, "request_id", model.request_id.as_deref());
    output
}

/// Returns the hex SHA-256 of an event's canonical content, which includes the previous hash.
pub fn hash(model: &audit_event::Model) -> String {
    hex::encode(Sha256::digest(canonical(model).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_hash_matches_stored_row_hash() {
        let model = audit_event::Model {
            id: uuid::Uuid::from_u128(7),
            occurred_at: time::macros::datetime!(2026-12-05 03:04:11.123456 UTC),
            event_type: "token_refreshed".to_owned(),
            user_id: Some(uuid::Uuid::from_u128(9)),
            resource: None,
            outcome: "success".to_owned(),
            detail: Some("Überweisung 患者".to_owned()),
            client_ip: Some("127.0.0.1".to_owned()),
            user_agent: None,
            request_id: Some("req-1".to_owned()),
            sequence: Some(42),
            previous_hash: Some("ab".repeat(32)),
            hash: None,
            severity: Some("info".to_owned()),
            actor_id: None,
            changes: None,
        };
        let from_parts = chained_hash(42, &canonical_body(&model), &"ab".repeat(32));
        assert_eq!(from_parts, hash(&model));
    }
}
