//! Accounts read for display, kept for a moment per instance.
//!
//! `GET /api/v1/users/me` would otherwise read the caller's account from the database on every
//! call, which costs several times the rest of the request. An account read for display is
//! served for at most [`FRESH_FOR`] and dropped at once when this instance changes it. Another
//! instance's change shows here within [`FRESH_FOR`], the same bound the revocation list gives.
//! A change of role or status also ends the account's sessions, so their access tokens are
//! rejected on every instance within that time, whatever this cache still contains. Reads whose
//! result is written back, or that decide anything, always go to the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use somnium_domain::ports::{InsertUserError, RepositoryError, UpdateUserError, UserFilter, UserPage, UserRepository};
use somnium_domain::{AuditEvent, Email, NewUser, PasswordHash, User, UserId};
use time::OffsetDateTime;

use crate::revocation::POLL_INTERVAL;

/// How long an account read from the database is served from memory.
pub const FRESH_FOR: Duration = POLL_INTERVAL;

const SHARDS: usize = 16;
/// Accounts per shard. Expired entries are dropped when a shard fills, so this bounds memory
/// (an estimated 300 bytes per account) and not the number of callers served.
const PER_SHARD: usize = 1024;

/// A [`UserRepository`] that serves `find_by_id_for_display` from memory while the account is
/// fresh, and passes everything else to the database.
pub struct CachedUserRepository {
    inner: Arc<dyn UserRepository>,
    shards: Vec<Mutex<Shard>>,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<UserId, Entry>,
    /// The number of invalidations of this shard. A read that started before one must not store
    /// its result, because the account may have changed after the database returned it.
    generation: u64,
}

struct Entry {
    user: User,
    read_at: Instant,
}

impl CachedUserRepository {
    pub fn new(inner: Arc<dyn UserRepository>) -> Self {
        Self {
            inner,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    fn shard(&self, id: UserId) -> MutexGuard<'_, Shard> {
        let index = id.as_uuid().as_u128() as usize % SHARDS;
        // A panic while a shard was locked leaves it consistent, because every update is a single
        // map call.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn invalidate(&self, id: UserId) {
        let mut shard = self.shard(id);
        shard.generation += 1;
        shard.entries.remove(&id);
    }
}

#[async_trait]
impl UserRepository for CachedUserRepository {
    async fn insert(&self, user: &NewUser, event: &AuditEvent) -> Result<(), InsertUserError> {
        self.inner.insert(user, event).await
    }

    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, PasswordHash)>, RepositoryError> {
        self.inner.find_credentials(email).await
    }

    async fn find_credentials_by_id(&self, id: UserId) -> Result<Option<PasswordHash>, RepositoryError> {
        self.inner.find_credentials_by_id(id).await
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        self.inner.find_by_id(id).await
    }

    async fn find_by_id_for_display(&self, id: UserId) -> Result<Option<User>, RepositoryError> {
        let generation = {
            let shard = self.shard(id);
            if let Some(entry) = shard.entries.get(&id) {
                if entry.read_at.elapsed() < FRESH_FOR {
                    return Ok(Some(entry.user.clone()));
                }
            }
            shard.generation
        };
        let read_at = Instant::now();
        let found = self.inner.find_by_id(id).await?;
        if let Some(user) = &found {
            let mut shard = self.shard(id);
            if shard.generation == generation {
                if shard.entries.len() >= PER_SHARD {
                    shard.entries.retain(|_, entry| entry.read_at.elapsed() < FRESH_FOR);
                    if shard.entries.len() >= PER_SHARD {
                        shard.entries.clear();
                    }
                }
                shard.entries.insert(
                    id,
                    Entry {
                        user: user.clone(),
                        read_at,
                    },
                );
            }
        }
        Ok(found)
    }

    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
    ) -> Result<(), RepositoryError> {
        let result = self.inner.update_password_hash(id, hash, at).await;
        self.invalidate(id);
        result
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<(), RepositoryError> {
        let result = self.inner.change_password(id, hash, at, event).await;
        self.invalidate(id);
        result
    }

    async fn recent_password_hashes(&self, id: UserId, limit: usize) -> Result<Vec<PasswordHash>, RepositoryError> {
        self.inner.recent_password_hashes(id, limit).await
    }

    async fn list(&self, filter: &UserFilter, limit: u64) -> Result<UserPage, RepositoryError> {
        self.inner.list(filter, limit).await
    }

    async fn update_account(&self, user: &User, at: OffsetDateTime, event: &AuditEvent) -> Result<(), UpdateUserError> {
        let result = self.inner.update_account(user, at, event).await;
        self.invalidate(user.id);
        result
    }

    async fn count_active_admins(&self) -> Result<u64, RepositoryError> {
        self.inner.count_active_admins().await
    }
}
