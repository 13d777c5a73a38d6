//! Lockout counters and rate limits: in process, in Redis, and a wrapper that falls back from
//! Redis to the process when Redis is unreachable.

mod fallback;
mod memory_lockout;
mod memory_rate_limit;
mod redis_store;

pub use fallback::{DegradationReporter, FallbackLockout, FallbackRateLimiter, RedisHealth};
pub use memory_lockout::MemoryLockout;
pub use memory_rate_limit::GovernorRateLimiter;
pub use redis_store::{RedisLockout, RedisRateLimiter, RedisStore};
