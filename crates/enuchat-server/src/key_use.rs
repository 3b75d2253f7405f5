//! Remembers when this process last recorded each API key's use, so that a
//! busy key causes at most one `last_used_at` write per interval instead of
//! one database statement per request (on SQLite every write statement takes
//! the database's single write lock).

use enuchat_domain::ApiKeyId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct KeyUseTracker {
    interval: Duration,
    last_recorded: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl KeyUseTracker {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_recorded: Mutex::new(HashMap::new()),
        }
    }

    /// True when this use, at `now`, should be written (and notes that it
    /// will be).
    pub fn should_record(&self, key: ApiKeyId, now: Instant) -> bool {
        let mut map = self.last_recorded.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some(at) if now.duration_since(*at) < self.interval => false,
            _ => {
                map.insert(key, now);
                true
            }
        }
    }

    /// Forgets keys not recorded within the interval, keeping memory bounded
    /// by the keys in recent use.
    pub fn prune(&self) {
        let now = Instant::now();
        let mut map = self.last_recorded.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, at| now.duration_since(*at) < self.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_once_per_interval_per_key() {
        let tracker = KeyUseTracker::new(Duration::from_secs(60));
        let (a, b) = (ApiKeyId::new(), ApiKeyId::new());
        let now = Instant::now();
        assert!(tracker.should_record(a, now));
        assert!(!tracker.should_record(a, now));
        assert!(tracker.should_record(b, now));
        assert!(tracker.should_record(a, now + Duration::from_secs(60)));
        let zero = KeyUseTracker::new(Duration::ZERO);
        assert!(zero.should_record(a, now));
        assert!(zero.should_record(a, now));
        zero.prune();
        assert!(zero.last_recorded.lock().unwrap().is_empty());
    }
}
