//! Lockout and rate-limit state in Redis, one atomic Lua script per step.
//!
//! Times come from the [`Clock`](somnium_domain::ports::Clock) port as milliseconds since the
//! Unix epoch and are stored as values, not as key TTLs, so a lock that expired is seen and
//! reported as an unlock. TTLs only clean up keys that are no longer used.

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use somnium_domain::lockout::{
    ActiveLock, AttemptKey, AttemptSource, AttemptStart, FailureOutcome, LockScope, LockoutPolicy,
};
use somnium_domain::ports::{LimiterError, LockoutStore, RateLimiter};
use somnium_domain::rate_limit::{RateDecision, RateLimit};
use somnium_domain::UserId;
use time::{Duration, OffsetDateTime};
use tokio::sync::Mutex;

/// How long a lockout hash lives after its last change: longer than the longest lock plus the
/// time a lock is remembered for doubling.
const LOCKOUT_TTL: Duration = Duration::hours(49);

const BEGIN_ATTEMPT: &str = r#"
local now = tonumber(ARGV[1])
local is_client = ARGV[2] == '1'
local source = ARGV[3]
local source_scope = ARGV[4]
local source_threshold = tonumber(ARGV[5])
local account_threshold = tonumber(ARGV[6])
local window = tonumber(ARGV[7])
local ttl = tonumber(ARGV[8])
local result = {'', '0'}
if is_client then
  local account_until = tonumber(redis.call('HGET', KEYS[1], 'account:until') or '0')
  if account_until > 0 then
    if now < account_until then
      result[1] = 'account'; result[2] = tostring(account_until); return result
    end
    redis.call('HDEL', KEYS[1], 'account:until'); table.insert(result, 'account')
  end
end
local source_until = tonumber(redis.call('HGET', KEYS[1], source .. ':until') or '0')
if source_until > 0 then
  if now < source_until then
    result[1] = source_scope; result[2] = tostring(source_until); return result
  end
  redis.call('HDEL', KEYS[1], source .. ':until'); table.insert(result, source_scope)
end
local failures = redis.call('HINCRBY', KEYS[1], source .. ':failures', 1)
redis.call('PEXPIRE', KEYS[1], ttl)
if failures > source_threshold then
  result[1] = source_scope; result[2] = '-1'; return result
end
if is_client then
  local start = tonumber(redis.call('HGET', KEYS[1], 'window:start') or '0')
  if start == 0 or now - start >= window then
    redis.call('HSET', KEYS[1], 'window:start', now, 'window:failures', 0)
  end
  local window_failures = redis.call('HINCRBY', KEYS[1], 'window:failures', 1)
  if window_failures > account_threshold then
    result[1] = 'account'; result[2] = '-1'; return result
  end
end
return result
"#;

const RECORD_FAILURE: &str = r#"
local now = tonumber(ARGV[1])
local is_client = ARGV[2] == '1'
local source = ARGV[3]
local source_scope = ARGV[4]
local source_threshold = tonumber(ARGV[5])
local source_lock = tonumber(ARGV[6])
local account_threshold = tonumber(ARGV[7])
local account_lock = tonumber(ARGV[8])
local account_lock_max = tonumber(ARGV[9])
local memory = tonumber(ARGV[10])
local ttl = tonumber(ARGV[11])
local result = {}
local failures = tonumber(redis.call('HGET', KEYS[1], source .. ':failures') or '0')
if failures >= source_threshold then
  redis.call('HSET', KEYS[1], source .. ':failures', 0, source .. ':until', now + source_lock)
  table.insert(result, source_scope); table.insert(result, tostring(now + source_lock))
end
if is_client then
  local window_failures = tonumber(redis.call('HGET', KEYS[1], 'window:failures') or '0')
  if window_failures >= account_threshold then
    local last = tonumber(redis.call('HGET', KEYS[1], 'account:last') or '0')
    local level = tonumber(redis.call('HGET', KEYS[1], 'account:level') or '0')
    if last > 0 and now - last < memory then level = level + 1 else level = 1 end
    local duration = account_lock
    for _ = 2, math.min(level, 21) do duration = duration * 2 end
    if duration > account_lock_max then duration = account_lock_max end
    redis.call('HSET', KEYS[1], 'account:level', level, 'account:last', now, 'account:until', now + duration,
      'window:failures', 0, 'window:start', 0)
    table.insert(result, 'account'); table.insert(result, tostring(now + duration))
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
return result
"#;

const RECORD_SUCCESS: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1] .. ':failures')
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[1], 'window:failures', 'window:start')
end
return 1
"#;

/// GCRA: the key stores the theoretical arrival time (TAT) in milliseconds.
const RATE_LIMIT: &str = r#"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local period = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, new_tat - now))
return {1, math.floor((now - allow_at) / interval), new_tat - now, 0}
"#;

/// A Redis connection shared by the lockout store and the rate limiter. The connection is
/// made on first use and remade by the connection manager after a failure.
pub struct RedisStore {
    client: redis::Client,
    connection: Mutex<Option<ConnectionManager>>,
    prefix: String,
    timeout: StdDuration,
}

impl RedisStore {
    /// # Errors
    /// A message naming the problem when the URL is not a Redis URL.
    pub fn new(url: &str, prefix: &str, timeout: StdDuration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|error| format!("invalid REDIS_URL: {error}"))?;
        Ok(Self {
            client,
            connection: Mutex::new(None),
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, LimiterError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            self.timeout * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        .map_err(|elapsed| LimiterError::Unavailable(Box::new(elapsed)))?
        .map_err(|error| LimiterError::Unavailable(Box::new(error)))?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    #[tracing::instrument(name = "redis.script", skip_all)]
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        key: &str,
        args: &[String],
    ) -> Result<T, LimiterError> {
        let mut connection = self.connection().await?;
        let mut invocation = script.key(format!("{}{}", self.prefix, key));
        for arg in args {
            invocation.arg(arg);
        }
        tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
            .await
            .map_err(|elapsed| LimiterError::Unavailable(Box::new(elapsed)))?
            .map_err(|error| LimiterError::Unavailable(Box::new(error)))
    }

    /// Checks that Redis responds to a PING.
    pub async fn ping(&self) -> bool {
        let Ok(mut connection) = self.connection().await else {
            return false;
        };
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut connection);
        matches!(tokio::time::timeout(self.timeout, ping).await, Ok(Ok(_)))
    }
}

fn millis(time: OffsetDateTime) -> i64 {
    (time - OffsetDateTime::UNIX_EPOCH).whole_milliseconds() as i64
}

fn from_millis(value: &str) -> Option<OffsetDateTime> {
    let millis: i64 = value.parse().ok()?;
    (millis > 0).then(|| OffsetDateTime::UNIX_EPOCH + Duration::milliseconds(millis))
}

fn parse_scope(name: &str) -> Option<LockScope> {
    match name {
        "client" => Some(LockScope::Client),
        "account" => Some(LockScope::Account),
        "device" => Some(LockScope::Device),
        _ => None,
    }
}

/// Returns the lockout hash key of an account, and the hash field prefix and scope of a source.
fn source_fields(key: &AttemptKey) -> (String, String, &'static str, bool) {
    let hash = format!("lockout:{}", key.user_id);
    match &key.source {
        AttemptSource::Client(ip) => (hash, format!("client:{ip}"), "client", true),
        AttemptSource::Device(device) => (hash, format!("device:{device}"), "device", false),
    }
}

/// [`LockoutStore`] in Redis.
pub struct RedisLockout {
    store: std::sync::Arc<RedisStore>,
    begin: Script,
    failure: Script,
    success: Script,
}

impl RedisLockout {
    pub fn new(store: std::sync::Arc<RedisStore>) -> Self {
        Self {
            store,
            begin: Script::new(BEGIN_ATTEMPT),
            failure: Script::new(RECORD_FAILURE),
            success: Script::new(RECORD_SUCCESS),
        }
    }
}

#[async_trait]
impl LockoutStore for RedisLockout {
    async fn begin_attempt(
        &self,
        key: &AttemptKey,
        policy: &LockoutPolicy,
        now: OffsetDateTime,
    ) -> Result<AttemptStart, LimiterError> {
        let (hash, source, scope, is_client) = source_fields(key);
        let threshold = if is_client {
            policy.client_threshold
        } else {
            policy.device_threshold
        };
        let args = [
            millis(now).to_string(),
            u8::from(is_client).to_string(),
            source,
            scope.to_owned(),
            threshold.to_string(),
            policy.account_threshold.to_string(),
            policy.account_window.whole_milliseconds().to_string(),
            LOCKOUT_TTL.whole_milliseconds().to_string(),
        ];
        let reply: Vec<String> = self.store.run(&self.begin, &hash, &args).await?;

        let locked = reply
            .first()
            .and_then(|name| parse_scope(name))
            .map(|scope| ActiveLock {
                scope,
                until: reply.get(1).and_then(|value| from_millis(value)),
            });
        let expired = reply.iter().skip(2).filter_map(|name| parse_scope(name)).collect();
        Ok(AttemptStart { locked, expired })
    }

    async fn record_failure(
        &self,
        key: &AttemptKey,
        policy: &LockoutPolicy,
        now: OffsetDateTime,
    ) -> Result<FailureOutcome, LimiterError> {
        let (hash, source, scope, is_client) = source_fields(key);
        let (threshold, lock) = if is_client {
            (policy.client_threshold, policy.client_lock)
        } else {
            (policy.device_threshold, policy.device_lock)
        };
        let args = [
            millis(now).to_string(),
            u8::from(is_client).to_string(),
            source,
            scope.to_owned(),
            threshold.to_string(),
            lock.whole_milliseconds().to_string(),
            policy.account_threshold.to_string(),
            policy.account_lock.whole_milliseconds().to_string(),
            policy.account_lock_max.whole_milliseconds().to_string(),
            policy.account_lock_memory.whole_milliseconds().to_string(),
            LOCKOUT_TTL.whole_milliseconds().to_string(),
        ];
        let reply: Vec<String> = self.store.run(&self.failure, &hash, &args).await?;
        let new_locks = reply
            .chunks(2)
            .filter_map(|pair| Some((parse_scope(pair.first()?)?, from_millis(pair.get(1)?)?)))
            .collect();
        Ok(FailureOutcome { new_locks })
    }

    async fn record_success(&self, key: &AttemptKey) -> Result<(), LimiterError> {
        let (hash, source, _, is_client) = source_fields(key);
        let args = [source, u8::from(is_client).to_string()];
        let _: i64 = self.store.run(&self.success, &hash, &args).await?;
        Ok(())
    }

    async fn unlock(&self, user_id: UserId) -> Result<(), LimiterError> {
        let mut connection = self.store.connection().await?;
        let key = format!("{}lockout:{user_id}", self.store.prefix);
        let mut command = redis::cmd("DEL");
        command.arg(key);
        let delete = command.query_async::<i64>(&mut connection);
        tokio::time::timeout(self.store.timeout, delete)
            .await
            .map_err(|elapsed| LimiterError::Unavailable(Box::new(elapsed)))?
            .map_err(|error| LimiterError::Unavailable(Box::new(error)))?;
        Ok(())
    }
}

/// [`RateLimiter`] in Redis with GCRA.
pub struct RedisRateLimiter {
    store: std::sync::Arc<RedisStore>,
    script: Script,
}

impl RedisRateLimiter {
    pub fn new(store: std::sync::Arc<RedisStore>) -> Self {
        Self {
            store,
            script: Script::new(RATE_LIMIT),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, limit: &RateLimit, now: OffsetDateTime) -> Result<RateDecision, LimiterError> {
        let interval = limit.emission_interval().whole_milliseconds().max(1);
        let args = [millis(now).to_string(), interval.to_string(), limit.limit.to_string()];
        let reply: Vec<i64> = self.store.run(&self.script, &format!("rate:{key}"), &args).await?;
        let value = |index: usize| reply.get(index).copied().unwrap_or_default();
        let allowed = value(0) == 1;
        Ok(RateDecision {
            allowed,
            limit: limit.limit,
            remaining: u32::try_from(value(1).max(0)).unwrap_or(0),
            reset_after: Duration::milliseconds(value(2).max(0)),
            retry_after: (!allowed).then(|| Duration::milliseconds(value(3).max(0))),
        })
    }
}
