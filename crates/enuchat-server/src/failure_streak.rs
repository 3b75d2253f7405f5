//! How often a background loop that retries (the jobs worker, the key-use
//! recorder) says that it is failing. Retrying every second while the
//! database is down is right; a warning every second is not: it buries the
//! first one, which says what went wrong, under copies of itself. So a
//! streak of failures is logged at its start, then at most once a minute
//! with how many failures there were, and its end is logged once.

use std::time::{Duration, Instant};

/// A failing loop logs again at most this often.
pub const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// The state of one loop's failures. Not shared: each loop owns its own.
#[derive(Debug, Default)]
pub struct FailureStreak {
    /// Failures since the last success.
    failures: u64,
    /// When the streak was last logged.
    logged_at: Option<Instant>,
}

impl FailureStreak {
    /// Counts a failure at `now`; returns the failures so far when this one
    /// is to be logged (the first of a streak, then one a minute).
    pub fn failed(&mut self, now: Instant) -> Option<u64> {
        self.failures += 1;
        let due = self
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= REPEAT_EVERY);
        if due {
            self.logged_at = Some(now);
            Some(self.failures)
        } else {
            None
        }
    }

    /// Ends the streak; returns how many failures it had, if any, so the
    /// loop can say it works again.
    pub fn succeeded(&mut self) -> Option<u64> {
        let failures = std::mem::take(&mut self.failures);
        self.logged_at = None;
        (failures > 0).then_some(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_is_logged_at_its_start_then_once_a_minute() {
        let mut streak = FailureStreak::default();
        let start = Instant::now();
        assert_eq!(streak.failed(start), Some(1));
        let logged: Vec<u64> = (1..=150)
            .filter_map(|s| streak.failed(start + Duration::from_secs(s)))
            .collect();
        // Seconds 60 and 120 of the streak: the 61st and 121st failures.
        assert_eq!(logged, vec![61, 121]);
        assert_eq!(streak.succeeded(), Some(151));
    }

    #[test]
    fn a_success_starts_the_next_streak_afresh() {
        let mut streak = FailureStreak::default();
        let now = Instant::now();
        assert_eq!(streak.succeeded(), None, "no streak, nothing to say");
        assert_eq!(streak.failed(now), Some(1));
        assert_eq!(streak.failed(now), None);
        assert_eq!(streak.succeeded(), Some(2));
        assert_eq!(
            streak.failed(now),
            Some(1),
            "a new streak is logged at once"
        );
    }
}
