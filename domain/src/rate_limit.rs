//! Rate limits: how many requests a key may make in a period.

use time::Duration;

/// A limit of `limit` requests per `period`, enforced as a generic cell rate (GCRA): requests
/// may come in a burst of `limit`, after which one more is allowed every `period / limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimit {
    pub limit: u32,
    pub period: Duration,
}

impl RateLimit {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::minutes(1),
        }
    }

    pub fn per_hour(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::hours(1),
        }
    }

    /// Time between two requests once the burst is used up.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.limit.max(1)
    }
}

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Time until the full limit is available again.
    pub reset_after: Duration,
    /// When rejected, time until the next request would be allowed.
    pub retry_after: Option<Duration>,
}
