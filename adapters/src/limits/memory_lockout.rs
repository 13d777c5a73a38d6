use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use somnium_domain::lockout::{
    ActiveLock, AttemptKey, AttemptSource, AttemptStart, FailureOutcome, LockScope, LockoutPolicy,
};
use somnium_domain::ports::{LimiterError, LockoutStore};
use somnium_domain::UserId;
use time::OffsetDateTime;

/// Lockout state of one process, for the embedded default and as the fallback when Redis is
/// unreachable. One mutex makes every step atomic.
#[derive(Default)]
pub struct MemoryLockout {
    accounts: Mutex<HashMap<UserId, AccountState>>,
}

/// Per-account bound on tracked clients. Past it, counters of clients without an active lock are
/// dropped; the account-wide counter still counts their failures.
const MAX_SOURCES_PER_ACCOUNT: usize = 1024;

#[derive(Default)]
struct AccountState {
    /// Consecutive failures per client key or device id.
    sources: HashMap<AttemptSource, SourceState>,
    /// Failures from clients without a device token in the current window.
    window_failures: u32,
    window_start: Option<OffsetDateTime>,
    account_lock_until: Option<OffsetDateTime>,
    /// How many account-wide locks came in a row, for doubling.
    lock_level: u32,
    last_lock_at: Option<OffsetDateTime>,
}

#[derive(Default)]
struct SourceState {
    failures: u32,
    lock_until: Option<OffsetDateTime>,
}

fn source_scope(source: &AttemptSource) -> LockScope {
    match source {
        AttemptSource::Client(_) => LockScope::Client,
        AttemptSource::Device(_) => LockScope::Device,
    }
}

fn source_threshold(source: &AttemptSource, policy: &LockoutPolicy) -> u32 {
    match source {
        AttemptSource::Client(_) => policy.client_threshold,
        AttemptSource::Device(_) => policy.device_threshold,
    }
}

impl MemoryLockout {
    fn with_account<T>(&self, user_id: UserId, work: impl FnOnce(&mut AccountState) -> T) -> T {
        // A poisoned mutex only means another request panicked mid-update; the counters are
        // still usable, and losing lockout over it would be worse.
        let mut accounts = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        work(accounts.entry(user_id).or_default())
    }
}

#[async_trait]
impl LockoutStore for MemoryLockout {
    async fn begin_attempt(
        &self,
        key: &AttemptKey,
        policy: &LockoutPolicy,
        now: OffsetDateTime,
    ) -> Result<AttemptStart, LimiterError> {
        Ok(self.with_account(key.user_id, |account| {
            let mut expired = Vec::new();
            let is_client = matches!(key.source, AttemptSource::Client(_));

            if is_client {
                if let Some(until) = account.account_lock_until {
                    if now < until {
                        return locked(LockScope::Account, Some(until), expired);
                    }
                    account.account_lock_until = None;
                    expired.push(LockScope::Account);
                }
            }

            if account.sources.len() >= MAX_SOURCES_PER_ACCOUNT {
                account
                    .sources
                    .retain(|_, source| source.lock_until.is_some_and(|until| now < until));
            }
            let source = account.sources.entry(key.source.clone()).or_default();
            if let Some(until) = source.lock_until {
                if now < until {
                    return locked(source_scope(&key.source), Some(until), expired);
                }
                source.lock_until = None;
                expired.push(source_scope(&key.source));
            }

            source.failures += 1;
            if source.failures > source_threshold(&key.source, policy) {
                return locked(source_scope(&key.source), None, expired);
            }
            if is_client {
                let window_open = account
                    .window_start
                    .is_some_and(|start| now - start < policy.account_window);
                if !window_open {
                    account.window_start = Some(now);
                    account.window_failures = 0;
                }
                account.window_failures += 1;
                if account.window_failures > policy.account_threshold {
                    return locked(LockScope::Account, None, expired);
                }
            }
            AttemptStart { locked: None, expired }
        }))
    }

    async fn record_failure(
        &self,
        key: &AttemptKey,
        policy: &LockoutPolicy,
        now: OffsetDateTime,
    ) -> Result<FailureOutcome, LimiterError> {
        Ok(self.with_account(key.user_id, |account| {
            let mut outcome = FailureOutcome::default();
            let source = account.sources.entry(key.source.clone()).or_default();
            if source.failures >= source_threshold(&key.source, policy) {
                let duration = match key.source {
                    AttemptSource::Client(_) => policy.client_lock,
                    AttemptSource::Device(_) => policy.device_lock,
                };
                source.failures = 0;
                source.lock_until = Some(now + duration);
                outcome.new_locks.push((source_scope(&key.source), now + duration));
            }

            let is_client = matches!(key.source, AttemptSource::Client(_));
            if is_client && account.window_failures >= policy.account_threshold {
                let repeat = account
                    .last_lock_at
                    .is_some_and(|last| now - last < policy.account_lock_memory);
                account.lock_level = if repeat { account.lock_level + 1 } else { 1 };
                let until = now + policy.account_lock_duration(account.lock_level);
                account.last_lock_at = Some(now);
                account.account_lock_until = Some(until);
                account.window_failures = 0;
                account.window_start = None;
                outcome.new_locks.push((LockScope::Account, until));
            }
            outcome
        }))
    }

    async fn record_success(&self, key: &AttemptKey) -> Result<(), LimiterError> {
        self.with_account(key.user_id, |account| {
            account.sources.remove(&key.source);
            if matches!(key.source, AttemptSource::Client(_)) {
                account.window_failures = 0;
                account.window_start = None;
            }
        });
        Ok(())
    }

    async fn unlock(&self, user_id: UserId) -> Result<(), LimiterError> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        accounts.remove(&user_id);
        Ok(())
    }
}

fn locked(scope: LockScope, until: Option<OffsetDateTime>, expired: Vec<LockScope>) -> AttemptStart {
    AttemptStart {
        locked: Some(ActiveLock { scope, until }),
        expired,
    }
}
