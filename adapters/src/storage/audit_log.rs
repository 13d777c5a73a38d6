use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use somnium_domain::audit::{AuditEventPage, AuditFilter, ChainVerification, PruneOutcome};
use somnium_domain::ports::{AuditLog, PruneError, RepositoryError};
use somnium_domain::{AuditEvent, AuditEventId, AuditEventType, AuditOutcome, AuditSeverity, RequestContext, UserId};
use time::OffsetDateTime;

use super::audit_chain::{self, to_stored_precision, GENESIS_HASH};
use super::connect::begin_write;
use super::entities::{audit_chain_head, audit_checkpoint, audit_event};
use super::errors::{corrupt_row, repository_error};
use super::migration::m20261204_000003_audit_chain_and_admin::{append_only_triggers, drop_append_only_triggers};

/// Rows read per query while verifying the chain.
const VERIFY_BATCH: u64 = 1000;

/// The audit trail in the `audit_events` table, hash-chained and append-only.
#[derive(Clone)]
pub struct SqlAuditLog {
    connection: DatabaseConnection,
}

impl SqlAuditLog {
    pub fn new(connection: DatabaseConnection) -> Self {
        Self { connection }
    }
}

#[async_trait]
impl AuditLog for SqlAuditLog {
    #[tracing::instrument(name = "db.audit.record", skip_all)]
    async fn record(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        let transaction = self.connection.begin().await.map_err(repository_error)?;
        insert_event(&transaction, event).await?;
        transaction.commit().await.map_err(repository_error)
    }

    #[tracing::instrument(name = "db.audit.verify", skip_all)]
    async fn verify(&self) -> Result<ChainVerification, RepositoryError> {
        verify_chain(&self.connection).await
    }

    #[tracing::instrument(name = "db.audit.list", skip_all)]
    async fn list(&self, filter: &AuditFilter, limit: u64) -> Result<AuditEventPage, RepositoryError> {
        let mut query = audit_event::Entity::find().order_by_desc(audit_event::Column::Sequence);
        if let Some(before) = filter.before_sequence {
            query = query.filter(audit_event::Column::Sequence.lt(before));
        }
        if let Some(user_id) = filter.user_id {
            query = query.filter(
                audit_event::Column::UserId
                    .eq(user_id.as_uuid())
                    .or(audit_event::Column::ActorId.eq(user_id.as_uuid())),
            );
        }
        if let Some(event_type) = filter.event_type {
            query = query.filter(audit_event::Column::EventType.eq(event_type.as_str()));
        }
        if let Some(outcome) = filter.outcome {
            query = query.filter(audit_event::Column::Outcome.eq(outcome.as_str()));
        }
        if let Some(ip) = &filter.client_ip {
            query = query.filter(audit_event::Column::ClientIp.eq(ip.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(audit_event::Column::OccurredAt.gte(from));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_event::Column::OccurredAt.lt(until));
        }
        let rows = query
            .limit(limit + 1)
            .all(&self.connection)
            .await
            .map_err(repository_error)?;
        let has_more = rows.len() as u64 > limit;
        let events: Vec<(i64, AuditEvent)> = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| Ok((row.sequence.unwrap_or_default(), to_domain(row)?)))
            .collect::<Result<_, RepositoryError>>()?;
        let next_before = if has_more {
            events.last().map(|(sequence, _)| *sequence)
        } else {
            None
        };
        Ok(AuditEventPage { events, next_before })
    }

    #[tracing::instrument(name = "db.audit.prune", skip_all)]
    async fn prune(&self, before: OffsetDateTime, now: OffsetDateTime) -> Result<PruneOutcome, PruneError> {
        prune(&self.connection, before, now).await
    }
}

/// Appends one event to the chain on `connection`, which must be a transaction so the event
/// commits or rolls back with the change it records.
///
/// The head row is locked first, a row lock on PostgreSQL and the write lock on SQLite, so
/// concurrent appends from this or another instance queue and each extends the chain the
/// previous one left. Callers append as the last statement before the commit, because on
/// PostgreSQL the lock is held until the commit has flushed, and every statement between the
/// lock and the commit lowers the rate of appends the whole deployment can make.
pub(crate) async fn insert_event<C: ConnectionTrait>(
    connection: &C,
    event: &AuditEvent,
) -> Result<(), RepositoryError> {
    if connection.get_database_backend() == DbBackend::Postgres {
        append_in_one_statement(connection, event).await?;
    } else {
        append_in_steps(connection, event).await?;
    }
    tracing::info!(target: "somnium::metrics", event_type = event.event_type.as_str(), monotonic_counter.somnium_audit_appends = 1_u64);
    Ok(())
}

/// Appends on PostgreSQL in one statement: it locks the head, inserts the event with its hash
/// computed in SQL, and moves the head. The lock is then held from that statement until the
/// commit has flushed, one round trip, where computing the hash here would add another. That
/// serial section bounds the appends per second of the whole deployment. The hash is computed
/// again here from the stored values, and a mismatch fails the transaction, so a divergence
/// between the two encodings cannot enter the chain.
async fn append_in_one_statement<C: ConnectionTrait>(
    connection: &C,
    event: &AuditEvent,
) -> Result<(), RepositoryError> {
    let model = unchained_model(event);
    let id = model.id;
    let body = audit_chain::canonical_body(&model);
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        APPEND_SQL,
        [
            model.id.into(),
            model.occurred_at.into(),
            model.event_type.into(),
            model.user_id.into(),
            model.resource.into(),
            model.outcome.into(),
            model.detail.into(),
            model.client_ip.into(),
            model.user_agent.into(),
            model.request_id.into(),
            model.severity.into(),
            model.actor_id.into(),
            model.changes.into(),
            body.clone().into(),
            audit_chain::CANONICAL_VERSION_LINE.into(),
        ],
    );
    let row = connection
        .query_one(statement)
        .await
        .map_err(repository_error)?
        .ok_or_else(|| corrupt_row("the audit chain head row is missing".to_owned()))?;
    let column = |name: &str| row.try_get::<Option<String>>("", name).map_err(repository_error);
    let sequence = row.try_get::<i64>("", "sequence").map_err(repository_error)?;
    let previous_hash = column("previous_hash")?.unwrap_or_default();
    let stored_hash = column("hash")?;
    if stored_hash.as_deref() != Some(audit_chain::chained_hash(sequence, &body, &previous_hash).as_str()) {
        return Err(corrupt_row(format!(
            "the database computed another hash for audit event {id} than Somnium does; the append was rolled back"
        )));
    }
    Ok(())
}

/// The append of [`append_in_one_statement`]. `$1` to `$13` are the event's columns, `$14` its
/// canonical body and `$15` the canonical version line. The SQL adds the sequence number and the
/// previous hash exactly as `audit_chain::canonical` does.
const APPEND_SQL: &str = r#"WITH head AS (
    SELECT "sequence" + 1 AS "sequence", "hash" FROM "audit_chain_head" WHERE "id" = 1 FOR UPDATE
), appended AS (
    INSERT INTO "audit_events" ("id", "occurred_at", "event_type", "user_id", "resource", "outcome", "detail",
        "client_ip", "user_agent", "request_id", "severity", "actor_id", "changes", "sequence", "previous_hash", "hash")
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, head."sequence", head."hash",
        encode(sha256(convert_to(
            $15 || 'sequence=' || length(head."sequence"::text) || ':' || head."sequence"::text || chr(10)
                || $14 || 'previous_hash=' || length(head."hash") || ':' || head."hash" || chr(10),
            'UTF8')), 'hex')
    FROM head
    RETURNING "sequence", "previous_hash", "hash"
)
UPDATE "audit_chain_head" SET "sequence" = appended."sequence", "hash" = appended."hash"
FROM appended
WHERE "audit_chain_head"."id" = 1
RETURNING appended."sequence", appended."previous_hash", appended."hash""#;

/// SQLite: the statements are calls inside the process, and the write lock already serializes
/// every writer, so fewer statements would save nothing measurable.
async fn append_in_steps<C: ConnectionTrait>(connection: &C, event: &AuditEvent) -> Result<(), RepositoryError> {
    audit_chain_head::Entity::update_many()
        .col_expr(
            audit_chain_head::Column::Sequence,
            Expr::col(audit_chain_head::Column::Sequence).add(1),
        )
        .filter(audit_chain_head::Column::Id.eq(1))
        .exec(connection)
        .await
        .map_err(repository_error)?;
    let head = audit_chain_head::Entity::find_by_id(1)
        .one(connection)
        .await
        .map_err(repository_error)?
        .ok_or_else(|| corrupt_row("the audit chain head row is missing".to_owned()))?;
    let model = chained_model(event, head);
    let hash = model.hash.clone().unwrap_or_default();

    audit_event::Entity::insert(model.into_active_model())
        .exec_without_returning(connection)
        .await
        .map_err(repository_error)?;
    audit_chain_head::Entity::update_many()
        .col_expr(audit_chain_head::Column::Hash, Expr::value(hash))
        .filter(audit_chain_head::Column::Id.eq(1))
        .exec(connection)
        .await
        .map_err(repository_error)?;
    Ok(())
}

/// Builds the stored row of `event` before it has a place in the chain.
fn unchained_model(event: &AuditEvent) -> audit_event::Model {
    audit_event::Model {
        id: event.id.as_uuid(),
        occurred_at: to_stored_precision(event.occurred_at),
        event_type: event.event_type.as_str().to_owned(),
        user_id: event.user_id.map(|id| id.as_uuid()),
        resource: event.resource.clone(),
        outcome: event.outcome.as_str().to_owned(),
        detail: event.detail.clone(),
        client_ip: event.context.client_ip.clone(),
        user_agent: event.context.user_agent.clone(),
        request_id: event.context.request_id.clone(),
        sequence: None,
        previous_hash: None,
        hash: None,
        severity: Some(event.severity.as_str().to_owned()),
        actor_id: event.actor_id.map(|id| id.as_uuid()),
        changes: event.changes.clone(),
    }
}

/// Builds the stored row of `event` as the successor of `head`, which already carries the
/// event's sequence number, and computes its hash.
fn chained_model(event: &AuditEvent, head: audit_chain_head::Model) -> audit_event::Model {
    let mut model = unchained_model(event);
    model.sequence = Some(head.sequence);
    model.previous_hash = Some(head.hash);
    model.hash = Some(audit_chain::hash(&model));
    model
}

/// Walks the chain from the latest checkpoint (or the start) in sequence order.
async fn verify_chain(connection: &DatabaseConnection) -> Result<ChainVerification, RepositoryError> {
    let checkpoint = audit_checkpoint::Entity::find()
        .order_by_desc(audit_checkpoint::Column::FirstSequence)
        .one(connection)
        .await
        .map_err(repository_error)?;
    let (mut expected_sequence, mut expected_previous) = match &checkpoint {
        Some(checkpoint) => (checkpoint.first_sequence, checkpoint.previous_hash.clone()),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let head = audit_chain_head::Entity::find_by_id(1)
        .one(connection)
        .await
        .map_err(repository_error)?;
    let mut checked = 0_u64;

    loop {
        let rows = audit_event::Entity::find()
            .filter(audit_event::Column::Sequence.gte(expected_sequence))
            .order_by_asc(audit_event::Column::Sequence)
            .limit(VERIFY_BATCH)
            .all(connection)
            .await
            .map_err(repository_error)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let sequence = row.sequence.unwrap_or_default();
            if sequence != expected_sequence {
                return Ok(ChainVerification::Broken {
                    sequence: expected_sequence,
                    reason: format!("event {expected_sequence} is missing (the next stored event is {sequence})"),
                    checked,
                });
            }
            if row.previous_hash.as_deref() != Some(expected_previous.as_str()) {
                return Ok(ChainVerification::Broken {
                    sequence,
                    reason: format!(
                        "event {sequence} does not follow event {} (reordered or inserted)",
                        sequence - 1
                    ),
                    checked,
                });
            }
            let recomputed = audit_chain::hash(&row);
            if row.hash.as_deref() != Some(recomputed.as_str()) {
                return Ok(ChainVerification::Broken {
                    sequence,
                    reason: format!(
                        "event {sequence} was altered after it was written (its hash does not match its content)"
                    ),
                    checked,
                });
            }
            checked += 1;
            expected_sequence = sequence + 1;
            expected_previous = recomputed;
        }
    }

    if let Some(head) = head {
        if head.sequence >= expected_sequence {
            return Ok(ChainVerification::Broken {
                sequence: expected_sequence,
                reason: format!(
                    "events {expected_sequence} to {} are missing from the end of the trail",
                    head.sequence
                ),
                checked,
            });
        }
        if head.sequence > 0 && head.hash != expected_previous {
            return Ok(ChainVerification::Broken {
                sequence: head.sequence,
                reason: "the last event does not match the chain head".to_owned(),
                checked,
            });
        }
    }
    Ok(ChainVerification::Intact {
        events: checked,
        last_sequence: expected_sequence - 1,
        checkpoint_sequence: checkpoint.map(|checkpoint| checkpoint.first_sequence),
    })
}

/// Deletes events that occurred before `before`, leaving a checkpoint so the rest still
/// verifies. The append-only triggers are dropped and recreated inside the same transaction,
/// so no other writer finds the table without them.
async fn prune(
    connection: &DatabaseConnection,
    before: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<PruneOutcome, PruneError> {
    let transaction = begin_write(connection)
        .await
        .map_err(|error| PruneError::Repository(repository_error(error)))?;
    let backend = transaction.get_database_backend();
    let failed = |error: sea_orm::DbErr| PruneError::Repository(repository_error(error));

    // The first event to keep: the oldest at or after the cut. Everything before it in the
    // chain goes, so the kept part stays contiguous.
    let first_kept = audit_event::Entity::find()
        .filter(audit_event::Column::OccurredAt.gte(before))
        .order_by_asc(audit_event::Column::Sequence)
        .one(&transaction)
        .await
        .map_err(failed)?;
    let Some(first_kept) = first_kept else {
        return Err(PruneError::WouldEmptyTrail);
    };
    let first_sequence = first_kept.sequence.unwrap_or_default();
    let pruned = audit_event::Entity::find()
        .filter(audit_event::Column::Sequence.lt(first_sequence))
        .count(&transaction)
        .await
        .map_err(failed)?;
    if pruned == 0 {
        return Ok(PruneOutcome {
            pruned: 0,
            first_sequence,
        });
    }

    for statement in drop_append_only_triggers(backend) {
        transaction.execute_unprepared(statement).await.map_err(failed)?;
    }
    audit_event::Entity::delete_many()
        .filter(audit_event::Column::Sequence.lt(first_sequence))
        .exec(&transaction)
        .await
        .map_err(failed)?;
    for statement in append_only_triggers(backend) {
        transaction.execute_unprepared(statement).await.map_err(failed)?;
    }

    let mut id = [0_u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    let checkpoint = audit_checkpoint::Model {
        id: uuid::Builder::from_random_bytes(id).into_uuid(),
        created_at: to_stored_precision(now),
        pruned_before: to_stored_precision(before),
        first_sequence,
        previous_hash: first_kept.previous_hash.clone().unwrap_or_default(),
        pruned_count: i64::try_from(pruned).unwrap_or(i64::MAX),
    };
    audit_checkpoint::Entity::insert(checkpoint.into_active_model())
        .exec_without_returning(&transaction)
        .await
        .map_err(failed)?;
    transaction.commit().await.map_err(failed)?;
    Ok(PruneOutcome { pruned, first_sequence })
}

fn to_domain(row: audit_event::Model) -> Result<AuditEvent, RepositoryError> {
    let event_type = AuditEventType::parse(&row.event_type)
        .ok_or_else(|| corrupt_row(format!("audit event {} has an unknown type", row.id)))?;
    let outcome = AuditOutcome::parse(&row.outcome)
        .ok_or_else(|| corrupt_row(format!("audit event {} has an unknown outcome", row.id)))?;
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(row.id),
        occurred_at: row.occurred_at,
        event_type,
        user_id: row.user_id.map(UserId::from_uuid),
        resource: row.resource,
        outcome,
        detail: row.detail,
        severity: row
            .severity
            .as_deref()
            .and_then(AuditSeverity::parse)
            .unwrap_or_default(),
        actor_id: row.actor_id.map(UserId::from_uuid),
        changes: row.changes,
        context: RequestContext {
            client_ip: row.client_ip,
            user_agent: row.user_agent,
            request_id: row.request_id,
        },
    })
}
