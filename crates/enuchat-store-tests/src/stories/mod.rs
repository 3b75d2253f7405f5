//! The stories, grouped by area. Every story starts from an empty database.

pub mod api_keys;
pub mod busy_reads;
pub mod conversations;
pub mod credits;
pub mod dashboard;
pub mod dashboard_admin;
pub mod deep_pages;
pub mod demo;
pub mod details;
pub mod jobs;
pub mod messages;
pub mod planned_jobs;
pub mod rate_limits;
pub mod shallow_pages;
pub mod tenants;
pub mod updates;
pub mod visitor_side;
pub mod widgets;

use enuchat_domain::Store;
use std::sync::Arc;

/// What every story receives: a store over a fresh database.
pub type SharedStore = Arc<dyn Store>;
