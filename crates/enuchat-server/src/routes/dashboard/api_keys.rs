//! Settings → API Keys (owners and admins only, the list included):
//! `GET /api-keys`, `POST /api-keys`, `DELETE /api-keys/{id}`.

use super::views::CreatedApiKeyView;
use crate::error::{ApiError, ApiResult};
use crate::extract::path::parse_id;
use crate::extract::{AdminSession, ApiJson, QueryParams};
use crate::routes::tenant_api::views::{ApiKeyView, Data};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use enuchat_domain::{secret, ApiKeyId, DisplayName, NewApiKey};
use serde::Deserialize;

/// Longest key name, in characters.
pub const MAX_KEY_NAME_CHARS: usize = 100;

pub async fn list(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    query: QueryParams,
) -> ApiResult<Json<Data<Vec<ApiKeyView>>>> {
    query.finish()?;
    let keys = state.store.list_api_keys(session.tenant_id).await?;
    Ok(Json(Data::new(
        keys.into_iter().map(ApiKeyView::from).collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateKeyBody {
    pub name: String,
    /// RFC 3339; `null` or missing for a key that does not expire.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// Creates a key the way `enuchat api-key create` does (a fresh `tak_`
/// secret, only its hash stored) and shows the secret this once.
pub async fn create(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    query: QueryParams,
    ApiJson(body): ApiJson<CreateKeyBody>,
) -> ApiResult<(StatusCode, Json<Data<CreatedApiKeyView>>)> {
    query.finish()?;
    let name =
        DisplayName::parse(&body.name).map_err(|e| ApiError::validation(format!("`name` {e}.")))?;
    let chars = name.as_str().chars().count();
    if chars > MAX_KEY_NAME_CHARS {
        return Err(ApiError::validation(format!(
            "`name` must be at most {MAX_KEY_NAME_CHARS} characters (got {chars})."
        )));
    }
    let expires_at = body.expires_at.as_deref().map(parse_expiry).transpose()?;
    let generated = secret::generate_api_key();
    let key = state
        .store
        .create_api_key(
            session.tenant_id,
            NewApiKey {
                name,
                prefix: generated.prefix.clone(),
                key_hash: generated.hash,
                expires_at,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Data::new(CreatedApiKeyView {
            api_key: key.into(),
            key: generated.secret,
        })),
    ))
}

fn parse_expiry(raw: &str) -> ApiResult<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| {
            ApiError::validation(format!(
                "`expiresAt` must be an RFC 3339 time like 2026-12-31T23:59:59Z, got {raw:?}."
            ))
        })?
        .with_timezone(&Utc);
    if at <= Utc::now() {
        return Err(ApiError::validation("`expiresAt` must be in the future."));
    }
    Ok(at)
}

/// Revokes a key, at once on every instance: this one forgets it here, others
/// when they hear the revocation's notice (PostgreSQL). Revoking a revoked key
/// changes nothing and answers the same way.
pub async fn revoke(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Data<ApiKeyView>>> {
    query.finish()?;
    let id: ApiKeyId = parse_id(&id, "id")?;
    let key = state
        .store
        .revoke_api_key(session.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    state.key_cache.evict(&key.key_hash);
    Ok(Json(Data::new(key.into())))
}
