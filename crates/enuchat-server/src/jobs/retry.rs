//! When a failed job runs again: exponential backoff with a cap, and a
//! limit on attempts after which the job stays `failed` for people to see.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Wait after the first failure; doubled after each further one.
    pub first: Duration,
    /// The longest wait between attempts.
    pub cap: Duration,
    /// Attempts in all (the first one included).
    pub max_attempts: i32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(2),
            cap: Duration::from_secs(300),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// How long to wait before the next attempt after `attempts` failed
    /// ones, or `None` when the job has had all its attempts.
    pub fn next_delay(&self, attempts: i32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(30);
        Some(self.first.saturating_mul(1 << doublings).min(self.cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_then_gives_up() {
        let policy = RetryPolicy::default();
        let delays: Vec<_> = (1..=8).map(|a| policy.next_delay(a)).collect();
        assert_eq!(delays[0], Some(Duration::from_secs(2)));
        assert_eq!(delays[1], Some(Duration::from_secs(4)));
        assert_eq!(delays[2], Some(Duration::from_secs(8)));
        assert_eq!(delays[6], Some(Duration::from_secs(128)));
        assert_eq!(delays[7], None);
        let capped = RetryPolicy {
            max_attempts: 100,
            ..policy
        };
        assert_eq!(capped.next_delay(40), Some(Duration::from_secs(300)));
    }
}
