//! The authenticated tenant of a Tenant API request.
//!
//! [`crate::auth::require_api_key`] runs first on every Tenant API route and
//! leaves a [`TenantContext`] in the request; handlers take it as an argument,
//! so a handler cannot forget to scope its queries to the caller's tenant.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use enuchat_domain::{ApiKeyId, TenantId};

#[derive(Debug, Clone, Copy)]
pub struct TenantContext {
    pub tenant_id: TenantId,
    pub api_key_id: ApiKeyId,
}

impl<S: Send + Sync> FromRequestParts<S> for TenantContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<TenantContext>()
            .copied()
            .ok_or_else(|| {
                ApiError::Internal("TenantContext used on a route without the API key layer".into())
            })
    }
}
