//! The enuchat domain: identifiers, validated value types, models and the
//! [`Store`] trait that every storage backend implements.
//!
//! Nothing in here knows about HTTP or SQL. The server speaks to storage only
//! through [`Store`], and every tenant-owned lookup takes the tenant id first so
//! that another tenant's row is simply "not found".

pub mod deep_pages;
pub mod ids;
// Issue 6: background jobs and the knowledge base.
pub mod jobs;
pub mod knowledge;
pub mod models;
pub mod plan;
pub mod rate_limit;
pub mod secret;
pub mod shared;
pub mod store;
pub mod types;

pub use ids::*;
pub use jobs::*;
pub use knowledge::*;
pub use models::*;
pub use plan::JobPlan;
pub use shared::Shared;
pub use store::{
    ConversationFilter, DemoBatch, InboxFilter, KeyUse, MessageNotice, Store, StoreError,
    StoreKind, API_KEYS_CHANNEL, MESSAGES_CHANNEL,
};
pub use types::*;
