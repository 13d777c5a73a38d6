use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use governor::clock::Clock as GovernorClock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;
use somnium_domain::ports::{Clock, LimiterError, RateLimiter};
use somnium_domain::rate_limit::{RateDecision, RateLimit};
use time::{Duration, OffsetDateTime};

/// governor's clock driven by the [`Clock`] port, so tests that move time move rate limits too.
#[derive(Clone)]
struct PortClock(Arc<dyn Clock>);

impl GovernorClock for PortClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        nanos_since_epoch(self.0.now())
    }
}

fn nanos_since_epoch(time: OffsetDateTime) -> Nanos {
    let nanos = (time - OffsetDateTime::UNIX_EPOCH).whole_nanoseconds().max(0);
    Nanos::from(u64::try_from(nanos).unwrap_or(u64::MAX))
}

type KeyedLimiter =
    governor::RateLimiter<String, DefaultKeyedStateStore<String>, PortClock, StateInformationMiddleware>;

/// Rate limits of one process with governor (GCRA), one keyed limiter per distinct limit.
pub struct GovernorRateLimiter {
    clock: PortClock,
    limiters: Mutex<HashMap<RateLimit, Arc<KeyedLimiter>>>,
    checks: AtomicU64,
}

/// Every this many checks, keys whose limit has fully replenished are dropped, so a flood of
/// distinct client addresses cannot grow memory without bound.
const PRUNE_EVERY: u64 = 4096;

impl GovernorRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock: PortClock(clock),
            limiters: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    fn limiter(&self, limit: &RateLimit) -> Arc<KeyedLimiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        limiters
            .entry(*limit)
            .or_insert_with(|| {
                let burst = NonZeroU32::new(limit.limit.max(1)).unwrap_or(NonZeroU32::MIN);
                let interval = std::time::Duration::try_from(limit.emission_interval()).unwrap_or_default();
                let quota = Quota::with_period(interval.max(std::time::Duration::from_nanos(1)))
                    .unwrap_or_else(|| Quota::per_second(burst))
                    .allow_burst(burst);
                let store = DefaultKeyedStateStore::default();
                Arc::new(
                    governor::RateLimiter::<String, _, PortClock, governor::middleware::NoOpMiddleware<Nanos>>::new(
                        quota,
                        store,
                        self.clock.clone(),
                    )
                    .with_middleware::<StateInformationMiddleware>(),
                )
            })
            .clone()
    }
}

impl GovernorRateLimiter {
    fn prune(&self) {
        let limiters: Vec<Arc<KeyedLimiter>> = {
            let limiters = self.limiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            limiters.values().cloned().collect()
        };
        for limiter in limiters {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[async_trait]
impl RateLimiter for GovernorRateLimiter {
    async fn check(&self, key: &str, limit: &RateLimit, _now: OffsetDateTime) -> Result<RateDecision, LimiterError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        let limiter = self.limiter(limit);
        let interval = limit.emission_interval();
        let decision = match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateDecision {
                    allowed: true,
                    limit: limit.limit,
                    remaining,
                    reset_after: interval * (limit.limit - remaining.min(limit.limit)),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(GovernorClock::now(&self.clock));
                let wait = Duration::try_from(wait).unwrap_or(interval);
                RateDecision {
                    allowed: false,
                    limit: limit.limit,
                    remaining: 0,
                    reset_after: interval * limit.limit,
                    retry_after: Some(wait),
                }
            }
        };
        Ok(decision)
    }
}
