//! Redis first, this process when Redis is unreachable.
//!
//! A request never fails or waits long because Redis is down: every Redis step has a bounded
//! timeout, and after a failure Redis is skipped for a short pause before it is tried again.
//! The first failure of an outage logs one warning and reports the degradation (an audit event);
//! the first success after it logs that Redis is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use somnium_domain::lockout::{AttemptKey, AttemptStart, FailureOutcome, LockoutPolicy};
use somnium_domain::ports::{LimiterError, LockoutStore, RateLimiter};
use somnium_domain::rate_limit::{RateDecision, RateLimit};
use somnium_domain::UserId;
use time::OffsetDateTime;

use super::memory_lockout::MemoryLockout;
use super::memory_rate_limit::GovernorRateLimiter;
use super::redis_store::{RedisLockout, RedisRateLimiter};

/// Called once at the start of each Redis outage.
pub type DegradationReporter = Arc<dyn Fn() + Send + Sync>;

/// How long Redis is skipped after a failure before it is tried again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Whether Redis is in use, shared by everything that talks to one Redis.
pub struct RedisHealth {
    degraded: AtomicBool,
    retry_at: Mutex<Instant>,
    reporter: DegradationReporter,
}

impl RedisHealth {
    pub fn new(reporter: DegradationReporter) -> Arc<Self> {
        Arc::new(Self {
            degraded: AtomicBool::new(false),
            retry_at: Mutex::new(Instant::now()),
            reporter,
        })
    }

    fn should_try_redis(&self) -> bool {
        if !self.degraded.load(Ordering::Acquire) {
            return true;
        }
        let mut retry_at = self.retry_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if Instant::now() < *retry_at {
            return false;
        }
        // One request probes Redis per pause; the others stay local meanwhile.
        *retry_at = Instant::now() + RETRY_PAUSE;
        true
    }

    fn succeeded(&self) {
        if self.degraded.swap(false, Ordering::AcqRel) {
            tracing::info!("Redis is reachable again; lockout and rate limits are shared across instances again");
        }
    }

    fn failed(&self, error: &LimiterError) {
        *self.retry_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now() + RETRY_PAUSE;
        if !self.degraded.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %error_chain(error), "Redis is unreachable; lockout and rate limits fall back to this instance");
            (self.reporter)();
        }
    }

    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }
}

fn error_chain(error: &LimiterError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// [`LockoutStore`] in Redis with an in-process fallback.
pub struct FallbackLockout {
    redis: RedisLockout,
    local: MemoryLockout,
    health: Arc<RedisHealth>,
}

impl FallbackLockout {
    pub fn new(redis: RedisLockout, health: Arc<RedisHealth>) -> Self {
        Self {
            redis,
            local: MemoryLockout::default(),
            health,
        }
    }
}

#[async_trait]
impl LockoutStore for FallbackLockout {
    async fn begin_attempt(
        &self,
        key: &AttemptKey,
        policy: &LockoutPolicy,
        now: OffsetDateTime,
    ) -> Result<AttemptStart, LimiterError> {
        if self.health.should_try_redis() {
            match self.redis.begin_attempt(key, policy, now).await {
                Ok(start) => {
                    self.health.succeeded();
                    return Ok(start);
                }
                Err(error) => self.health.failed(&error),
            }
        }
        self.local.begin_attempt(key, policy, now).await
    }

    async fn record_failure(
        &self,
        key: &AttemptKey,
        policy: &LockoutPolicy,
        now: OffsetDateTime,
    ) -> Result<FailureOutcome, LimiterError> {
        if self.health.should_try_redis() {
            match self.redis.record_failure(key, policy, now).await {
                Ok(outcome) => {
                    self.health.succeeded();
                    return Ok(outcome);
                }
                Err(error) => self.health.failed(&error),
            }
        }
        self.local.record_failure(key, policy, now).await
    }

    async fn record_success(&self, key: &AttemptKey) -> Result<(), LimiterError> {
        // Both stores are reset, so counts kept locally during an outage do not linger.
        self.local.record_success(key).await?;
        if self.health.should_try_redis() {
            match self.redis.record_success(key).await {
                Ok(()) => self.health.succeeded(),
                Err(error) => self.health.failed(&error),
            }
        }
        Ok(())
    }

    async fn unlock(&self, user_id: UserId) -> Result<(), LimiterError> {
        self.local.unlock(user_id).await?;
        // An unlock that cannot reach Redis must not report success.
        self.redis.unlock(user_id).await
    }
}

/// [`RateLimiter`] in Redis with an in-process (governor) fallback.
pub struct FallbackRateLimiter {
    redis: RedisRateLimiter,
    local: GovernorRateLimiter,
    health: Arc<RedisHealth>,
}

impl FallbackRateLimiter {
    pub fn new(redis: RedisRateLimiter, local: GovernorRateLimiter, health: Arc<RedisHealth>) -> Self {
        Self { redis, local, health }
    }
}

#[async_trait]
impl RateLimiter for FallbackRateLimiter {
    async fn check(&self, key: &str, limit: &RateLimit, now: OffsetDateTime) -> Result<RateDecision, LimiterError> {
        if self.health.should_try_redis() {
            match self.redis.check(key, limit, now).await {
                Ok(decision) => {
                    self.health.succeeded();
                    return Ok(decision);
                }
                Err(error) => self.health.failed(&error),
            }
        }
        self.local.check(key, limit, now).await
    }
}
