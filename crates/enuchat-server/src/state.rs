//! What every handler can reach. Cheap to clone: one `Arc`.

use crate::key_cache::KeyCache;
use crate::key_uses::KeyUses;
use crate::limiter::RateLimiter;
use crate::realtime::hub::Hub;
use crate::realtime::sockets::LiveSockets;
use crate::telemetry::Metrics;
use enuchat_domain::rate_limit::RateLimit;
use enuchat_domain::Store;
use std::ops::Deref;
use std::sync::Arc;

/// Handlers and middleware take the state by value, several times per
/// request (each `State` extractor clones it). One reference count keeps
/// that cheap: cloning the fields one by one cost two mutex-guarded
/// cancellation-token clones, an allocation for `public_origin` and nine
/// atomic increments per clone, about a tenth of a cached list request's
/// CPU time under load (`bench/profiles/README.md`, session 23).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state's contents, shared by every clone of [`AppState`].
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub limiter: Arc<RateLimiter>,
    pub limits: Limits,
    /// Tenant API keys recently read, so busy keys skip the database.
    pub key_cache: Arc<KeyCache>,
    /// Key uses due for `last_used_at`, written together in the background.
    pub key_uses: Arc<KeyUses>,
    pub metrics: Arc<Metrics>,
    pub hub: Arc<Hub>,
    /// Open WebSockets, so that shutting down closes them (code 1001).
    pub sockets: LiveSockets,
    /// Take the client address from the last `X-Forwarded-For` entry (set
    /// by a trusted reverse proxy) instead of the TCP peer.
    pub trust_forwarded_for: bool,
    /// `scheme://host[:port]` of the configured public URL, an origin the
    /// dashboard accepts besides the request's own.
    pub public_origin: Option<String>,
    /// The public URL is HTTPS: session cookies are always `Secure`.
    pub secure_cookies: bool,
    /// Wakes this instance's job worker when a message brought new jobs
    /// (other instances' workers find them by polling).
    pub jobs_wake: Arc<tokio::sync::Notify>,
    /// How long the visitor's channel holds back a message whose
    /// translation is on its way, before showing the original.
    pub translation_wait: std::time::Duration,
}

/// The rate limits in force, one per kind of bucket.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Tenant API requests per key.
    pub api_key: RateLimit,
    /// Messages a visitor may send.
    pub visitor_messages: RateLimit,
    /// Visitors created from one IP address (each new browser is one).
    pub new_visitors_per_ip: RateLimit,
    /// Conversations started from one IP address.
    pub new_conversations_per_ip: RateLimit,
}
