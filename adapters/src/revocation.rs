//! The revocation list of one instance, kept in sync with the others.
//!
//! Revoked session ids live in memory, so checking an access token costs one hash lookup. Every
//! instance polls the database for sessions revoked recently, which bounds how late another
//! instance learns of a revocation by the poll interval. With Redis, a revocation is also
//! published on a channel and arrives at the other instances at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration as StdDuration;

use futures_util::StreamExt;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use somnium_domain::ports::{Clock, RevocationList};
use somnium_domain::SessionId;
use time::{Duration, OffsetDateTime};
use tokio::sync::mpsc;

use crate::storage::entities::session;

/// How often each instance looks for sessions revoked elsewhere.
pub const POLL_INTERVAL: StdDuration = StdDuration::from_millis(250);

/// Revoked sessions, each kept until every access token it could have issued has expired.
pub struct RevocationCache {
    revoked: RwLock<HashMap<SessionId, OffsetDateTime>>,
    /// The maximum access-token lifetime plus leeway: after that, no token of a revoked session
    /// is accepted anyway.
    retention: Duration,
    clock: Arc<dyn Clock>,
    publisher: Option<mpsc::UnboundedSender<SessionId>>,
}

impl RevocationCache {
    pub fn new(retention: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            retention,
            clock,
            publisher: None,
        }
    }

    fn insert(&self, session_id: SessionId, at: OffsetDateTime) {
        let mut revoked = self.revoked.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        revoked.entry(session_id).or_insert(at);
    }

    fn prune(&self) {
        let horizon = self.clock.now() - self.retention;
        let mut revoked = self.revoked.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        revoked.retain(|_, at| *at >= horizon);
    }

    /// Loads the sessions revoked within the retention window from the database.
    ///
    /// # Errors
    /// The database error, when the query fails.
    pub async fn poll(&self, connection: &DatabaseConnection) -> Result<usize, sea_orm::DbErr> {
        let horizon = self.clock.now() - self.retention;
        let rows: Vec<(uuid::Uuid, Option<OffsetDateTime>)> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .column(session::Column::RevokedAt)
            .filter(session::Column::RevokedAt.gte(horizon))
            .into_tuple()
            .all(connection)
            .await?;
        let count = rows.len();
        for (id, at) in rows {
            self.insert(SessionId::from_uuid(id), at.unwrap_or(horizon));
        }
        self.prune();
        Ok(count)
    }
}

impl RevocationList for RevocationCache {
    fn revoke(&self, session_id: SessionId, at: OffsetDateTime) {
        self.insert(session_id, at);
        if let Some(publisher) = &self.publisher {
            // The receiver lives as long as the publishing task; if it is gone, the database
            // poll still carries the revocation to other instances.
            let _ = publisher.send(session_id);
        }
    }

    fn is_revoked(&self, session_id: SessionId) -> bool {
        let revoked = self.revoked.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        revoked.contains_key(&session_id)
    }
}

/// Builds the cache and starts keeping it in sync: the database poll always, and Redis
/// publish/subscribe when `redis` is given. The first poll completes before this returns, so a
/// restarted instance has every recent revocation before it serves.
///
/// # Errors
/// The database error when the first poll fails.
pub async fn start(
    retention: Duration,
    clock: Arc<dyn Clock>,
    connection: DatabaseConnection,
    redis: Option<(redis::Client, String)>,
) -> Result<Arc<RevocationCache>, sea_orm::DbErr> {
    let mut cache = RevocationCache::new(retention, clock.clone());
    let mut channel_setup = None;
    if let Some((client, prefix)) = redis {
        let (sender, receiver) = mpsc::unbounded_channel();
        cache.publisher = Some(sender);
        channel_setup = Some((client, format!("{prefix}revocations"), receiver));
    }
    let cache = Arc::new(cache);
    cache.poll(&connection).await?;

    tokio::spawn(poll_forever(Arc::downgrade(&cache), connection));
    if let Some((client, channel, receiver)) = channel_setup {
        tokio::spawn(publish_forever(client.clone(), channel.clone(), receiver));
        tokio::spawn(subscribe_forever(Arc::downgrade(&cache), client, channel));
    }
    Ok(cache)
}

async fn poll_forever(cache: std::sync::Weak<RevocationCache>, connection: DatabaseConnection) {
    let mut failing = false;
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        match cache.poll(&connection).await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("revocation poll works again");
            }
            Ok(_) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "revocation poll failed; retrying");
            }
            Err(_) => {}
        }
    }
}

async fn publish_forever(client: redis::Client, channel: String, mut receiver: mpsc::UnboundedReceiver<SessionId>) {
    let mut connection = None;
    while let Some(session_id) = receiver.recv().await {
        if connection.is_none() {
            connection = client.get_multiplexed_async_connection().await.ok();
        }
        let Some(active) = connection.as_mut() else {
            tracing::warn!(%session_id, "could not publish a revocation to Redis; the database poll carries it");
            continue;
        };
        let mut command = redis::cmd("PUBLISH");
        command.arg(&channel).arg(session_id.to_string());
        if let Err(error) = command.query_async::<i64>(active).await {
            tracing::warn!(%error, %session_id, "could not publish a revocation to Redis; the database poll carries it");
            connection = None;
        }
    }
}

async fn subscribe_forever(cache: std::sync::Weak<RevocationCache>, client: redis::Client, channel: String) {
    loop {
        if cache.upgrade().is_none() {
            return;
        }
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channel).await.is_ok() {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Some(cache) = cache.upgrade() else {
                            return;
                        };
                        let payload: String = message.get_payload().unwrap_or_default();
                        if let Ok(id) = uuid::Uuid::parse_str(&payload) {
                            cache.insert(SessionId::from_uuid(id), cache.clock.now());
                        }
                    }
                }
                tracing::warn!("Redis revocation subscription ended; reconnecting");
            }
            Err(error) => tracing::debug!(%error, "Redis revocation subscription unavailable; retrying"),
        }
        tokio::time::sleep(StdDuration::from_secs(1)).await;
    }
}
