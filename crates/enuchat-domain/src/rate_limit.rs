//! The rate-limit rule, as a generic cell rate algorithm (GCRA).
//!
//! A bucket of `burst` requests refills one request every `interval`. Instead
//! of a token count, GCRA keeps one number per key: the "theoretical arrival
//! time" (TAT) at which the bucket would be full again. That single number is
//! easy to keep in memory or to update atomically in one SQL statement, which
//! is how the PostgreSQL backend shares one limit between instances.

/// The limit applied to every API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in a burst, also the requests per minute.
    pub burst: u32,
    /// Microseconds for one request to refill.
    pub interval_us: i64,
}

impl RateLimit {
    pub fn per_minute(requests: u32) -> Self {
        let requests = requests.max(1);
        Self {
            burst: requests,
            interval_us: 60_000_000 / i64::from(requests),
        }
    }

    /// How far ahead of now the TAT may be and still admit a request.
    pub fn tolerance_us(&self) -> i64 {
        self.interval_us * i64::from(self.burst)
    }

    /// Decides one request. `tat_us` is the stored TAT (None for a fresh key);
    /// returns the decision and the TAT to store (unchanged when refused).
    pub fn decide(&self, tat_us: Option<i64>, now_us: i64) -> (RateDecision, i64) {
        self.lease(tat_us, now_us, 1)
    }

    /// Decides `n` requests at once, all or none (a lease an instance spends
    /// in memory). When refused, the decision's `remaining` says how many
    /// would fit.
    pub fn lease(&self, tat_us: Option<i64>, now_us: i64, n: u32) -> (RateDecision, i64) {
        let tat = tat_us.unwrap_or(now_us).max(now_us);
        let new_tat = tat + self.interval_us * i64::from(n.max(1));
        if new_tat - now_us <= self.tolerance_us() {
            (self.describe(true, new_tat, now_us), new_tat)
        } else {
            (self.describe(false, tat, now_us), tat)
        }
    }

    /// The headers' view of a stored TAT after a decision.
    pub fn describe(&self, allowed: bool, tat_us: i64, now_us: i64) -> RateDecision {
        let ahead = (tat_us - now_us).max(0);
        let remaining = (self.tolerance_us() - ahead) / self.interval_us;
        // Time until one more request fits.
        let retry_us = (ahead + self.interval_us - self.tolerance_us()).max(0);
        RateDecision {
            allowed,
            limit: self.burst,
            remaining: remaining.clamp(0, i64::from(self.burst)) as u32,
            reset_secs: ceil_secs(ahead),
            retry_after_secs: ceil_secs(retry_us).max(1),
        }
    }
}

/// The outcome of one rate-limit check, with what the response headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests that may still be made right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds to wait before the next request can pass (meaningful when refused).
    pub retry_after_secs: u64,
}

fn ceil_secs(us: i64) -> u64 {
    (us.max(0) as u64).div_ceil(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_limit_passes_then_one_per_interval() {
        let limit = RateLimit::per_minute(60);
        let now = 1_000_000_000;
        let mut tat = None;
        for i in 0..60 {
            let (d, t) = limit.decide(tat, now);
            assert!(d.allowed, "request {i} should pass");
            assert_eq!(d.remaining, 59 - i);
            tat = Some(t);
        }
        let (d, t) = limit.decide(tat, now);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
        assert_eq!(d.remaining, 0);
        assert_eq!(Some(t), tat, "a refused request must not use up capacity");
        // One second later exactly one more request fits.
        let later = now + 1_000_000;
        let (d, t) = limit.decide(tat, later);
        assert!(d.allowed);
        let (d, _) = limit.decide(Some(t), later);
        assert!(!d.allowed);
    }

    #[test]
    fn a_lease_takes_all_or_nothing() {
        let limit = RateLimit::per_minute(60);
        let (d, tat) = limit.lease(None, 0, 50);
        assert!(d.allowed);
        assert_eq!(d.remaining, 10);
        let (d, same) = limit.lease(Some(tat), 0, 11);
        assert!(!d.allowed);
        assert_eq!(same, tat);
        assert_eq!(d.remaining, 10, "a refusal says what would fit");
        let (d, _) = limit.lease(Some(tat), 0, 10);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn an_idle_key_is_full_again_after_a_minute() {
        let limit = RateLimit::per_minute(60);
        let (_, tat) = limit.decide(None, 0);
        let (d, _) = limit.decide(Some(tat), 61_000_000);
        assert_eq!(d.remaining, 59);
        assert_eq!(d.reset_secs, 1);
    }
}
