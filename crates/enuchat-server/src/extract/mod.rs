//! Request extractors that turn every client mistake into a clear
//! [`ApiError`](crate::error::ApiError) instead of axum's plain-text rejections.

pub mod client_ip;
pub mod json;
pub mod path;
pub mod query;
pub mod session;
pub mod tenant;
pub mod visitor;

pub use client_ip::ClientIp;
pub use json::ApiJson;
pub use query::QueryParams;
pub use session::{AdminSession, OperatorSession};
pub use tenant::TenantContext;
pub use visitor::VisitorContext;
