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
    let mut output = String::from(CANONICAL_VERSION_LINE);
    let sequence = model.sequence.map(|sequence| sequence.to_string());
    field(&mut output, "sequence", sequence.as_deref());
    output.push_str(&canonical_body(model));
    field(&mut output, "previous_hash", model.previous_hash.as_deref());
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
