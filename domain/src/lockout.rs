//! Account lockout: how many failed logins lock what, and for how long.
//!
//! Counters are keyed by the account's id, never by the identifier typed, so every spelling of
//! one email shares them. A store counts an attempt before the password is checked, which makes
//! the threshold hold under concurrency: of any number of simultaneous wrong attempts, no more
//! than the threshold reach the password hash.

use time::{Duration, OffsetDateTime};

use crate::ids::UserId;

/// Thresholds and durations of the lockout rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures from one client (IP) that lock the account for that client.
    pub client_threshold: u32,
    pub client_lock: Duration,
    /// Failures from any client within `account_window` that lock the account everywhere.
    pub account_threshold: u32,
    pub account_window: Duration,
    /// Duration of the first account-wide lock; each repeat doubles it up to `account_lock_max`.
    pub account_lock: Duration,
    pub account_lock_max: Duration,
    /// A repeat counts toward doubling only if it comes within this time of the previous lock.
    pub account_lock_memory: Duration,
    /// Consecutive failures with one device token that lock that device token.
    pub device_threshold: u32,
    pub device_lock: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            client_threshold: 5,
            client_lock: Duration::minutes(15),
            account_threshold: 20,
            account_window: Duration::hours(1),
            account_lock: Duration::minutes(15),
            account_lock_max: Duration::hours(24),
            account_lock_memory: Duration::hours(24),
            device_threshold: 5,
            device_lock: Duration::minutes(15),
        }
    }
}

impl LockoutPolicy {
    /// Duration of the `level`-th account-wide lock in a row (1 for the first).
    pub fn account_lock_duration(&self, level: u32) -> Duration {
        let doublings = level.saturating_sub(1).min(20);
        let factor = 1_i64 << doublings;
        let seconds = self.account_lock.whole_seconds().saturating_mul(factor);
        Duration::seconds(seconds).min(self.account_lock_max)
    }
}

/// The source of a login attempt on an account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttemptSource {
    /// A client without a valid device token, identified by its IP key (an IPv6 client by its /64).
    Client(String),
    /// A client presenting a valid device token for the account. Its attempts are counted on
    /// their own and the account-wide lock caused by other clients does not apply to it.
    Device(String),
}

/// The counters one login attempt touches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttemptKey {
    pub user_id: UserId,
    pub source: AttemptSource,
}

/// The extent of a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockScope {
    /// The account, for one client.
    Client,
    /// The account, for every client without a device token.
    Account,
    /// One device token of the account.
    Device,
}

impl LockScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LockScope::Client => "client",
            LockScope::Account => "account",
            LockScope::Device => "device",
        }
    }
}

/// The result of counting an attempt, before the password is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptStart {
    /// `Some` when the attempt must be rejected without checking the password.
    pub locked: Option<ActiveLock>,
    /// Locks found expired and removed while checking; each is an unlock to record.
    pub expired: Vec<LockScope>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveLock {
    pub scope: LockScope,
    /// When the lock ends. `None` when the attempt was refused because concurrent attempts
    /// already used up the threshold and the lock is being set.
    pub until: Option<OffsetDateTime>,
}

/// Locks set because of a failed attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailureOutcome {
    pub new_locks: Vec<(LockScope, OffsetDateTime)>,
}

/// Returns the key that lockout and rate limits use for a client address: the address itself for IPv4,
/// and the /64 network for IPv6, because one IPv6 client usually controls a whole /64.
pub fn client_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let segments = v6.segments();
                format!(
                    "{:x}:{:x}:{:x}:{:x}::/64",
                    segments[0], segments[1], segments[2], segments[3]
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_lock_doubles_up_to_the_maximum() {
        let policy = LockoutPolicy::default();
        assert_eq!(policy.account_lock_duration(1), Duration::minutes(15));
        assert_eq!(policy.account_lock_duration(2), Duration::minutes(30));
        assert_eq!(policy.account_lock_duration(3), Duration::hours(1));
        assert_eq!(policy.account_lock_duration(7), Duration::hours(16));
        assert_eq!(policy.account_lock_duration(8), Duration::hours(24));
        assert_eq!(policy.account_lock_duration(100), Duration::hours(24));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let first: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let second: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(first), client_key(second));
        assert_ne!(client_key(first), client_key(other));
        assert_eq!(client_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(client_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
