//! What every handler can reach. Cheap to clone: everything is behind `Arc`.

use crate::key_use::KeyUseTracker;
use crate::limiter::RateLimiter;
use crate::telemetry::Metrics;
use enuchat_domain::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub limiter: Arc<RateLimiter>,
    pub key_use: Arc<KeyUseTracker>,
    pub metrics: Arc<Metrics>,
}
