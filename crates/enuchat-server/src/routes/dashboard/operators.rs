//! The team: `GET /operators` (any role: the assign menu uses it too), and
//! for owners and admins `POST /operators`, `PATCH /operators/{id}`,
//! `DELETE /operators/{id}`.
//!
//! Rules beyond "owners and admins only": only an owner may make someone an
//! owner or change or remove an owner; nobody removes themselves; and an
//! account always keeps at least one owner (the store enforces that one, so
//! racing changes cannot break it).

use super::session::MAX_PASSWORD_BYTES;
use super::views::TeamMemberView;
use crate::error::{ApiError, ApiResult};
use crate::extract::path::parse_id;
use crate::extract::{AdminSession, ApiJson, OperatorSession, QueryParams};
use crate::routes::tenant_api::views::Data;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use enuchat_domain::{
    DisplayName, Email, NewOperator, Operator, OperatorId, OperatorRole, OperatorUpdate, StoreError,
};
use serde::{Deserialize, Deserializer};

/// Shortest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

const OWNERS_ONLY: &str = "Only an owner may make someone an owner.";
const OWNER_PROTECTED: &str = "Only an owner may change or remove an owner.";

pub async fn list_operators(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    query: QueryParams,
) -> ApiResult<Json<Data<Vec<TeamMemberView>>>> {
    query.finish()?;
    let operators = state.store.list_operators(session.tenant_id).await?;
    Ok(Json(Data::new(
        operators.iter().map(TeamMemberView::from).collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOperatorBody {
    pub email: String,
    pub name: String,
    pub role: OperatorRole,
    pub password: String,
}

pub async fn create(
    State(state): State<AppState>,
    admin: AdminSession,
    query: QueryParams,
    ApiJson(body): ApiJson<CreateOperatorBody>,
) -> ApiResult<(StatusCode, Json<Data<TeamMemberView>>)> {
    query.finish()?;
    if body.role == OperatorRole::Owner && !admin.is_owner() {
        return Err(ApiError::Forbidden(OWNERS_ONLY));
    }
    let email =
        Email::parse(&body.email).map_err(|e| ApiError::validation(format!("`email` {e}.")))?;
    let name =
        DisplayName::parse(&body.name).map_err(|e| ApiError::validation(format!("`name` {e}.")))?;
    let password = body.password;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::validation(format!(
            "`password` must be at least {MIN_PASSWORD_CHARS} characters."
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::validation(format!(
            "`password` must be at most {MAX_PASSWORD_BYTES} bytes."
        )));
    }
    // argon2id, as the CLI hashes; the work runs off the async threads.
    let password_hash = tokio::task::spawn_blocking(move || crate::admin::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let new = NewOperator {
        email,
        name,
        role: body.role,
        password_hash,
    };
    let operator = match state.store.create_operator(admin.0.tenant_id, new).await {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(
                "An operator with this email already exists.".into(),
            ))
        }
        other => other?,
    };
    Ok((
        StatusCode::CREATED,
        Json(Data::new(TeamMemberView::from(&operator))),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateOperatorBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub role: Option<Option<OperatorRole>>,
}

fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub async fn update(
    State(state): State<AppState>,
    admin: AdminSession,
    Path(id): Path<String>,
    query: QueryParams,
    ApiJson(body): ApiJson<UpdateOperatorBody>,
) -> ApiResult<Json<Data<TeamMemberView>>> {
    query.finish()?;
    let id: OperatorId = parse_id(&id, "id")?;
    let name = match body.name {
        Some(None) => return Err(ApiError::validation("`name` cannot be null.")),
        Some(Some(n)) => {
            Some(DisplayName::parse(&n).map_err(|e| ApiError::validation(format!("`name` {e}.")))?)
        }
        None => None,
    };
    let role = match body.role {
        Some(None) => return Err(ApiError::validation("`role` cannot be null.")),
        other => other.flatten(),
    };
    let update = OperatorUpdate { name, role };
    if update.is_empty() {
        return Err(ApiError::validation(
            "Nothing to update: send `name` and/or `role`.",
        ));
    }
    let tenant = admin.0.tenant_id;
    let target = find(&state, &admin, id).await?;
    if !admin.is_owner()
        && (target.role == OperatorRole::Owner || role == Some(OperatorRole::Owner))
    {
        return Err(ApiError::Forbidden(if target.role == OperatorRole::Owner {
            OWNER_PROTECTED
        } else {
            OWNERS_ONLY
        }));
    }
    let updated = state
        .store
        .update_operator(tenant, id, update)
        .await
        .map_err(last_owner)?
        .ok_or(ApiError::NotFound("Operator"))?;
    Ok(Json(Data::new(TeamMemberView::from(&updated))))
}

/// Removes an operator: their sessions end at once (their open dashboards
/// are signed out), and their conversations become unassigned.
pub async fn delete(
    State(state): State<AppState>,
    admin: AdminSession,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<StatusCode> {
    query.finish()?;
    let id: OperatorId = parse_id(&id, "id")?;
    let target = find(&state, &admin, id).await?;
    if target.id == admin.0.operator.id {
        return Err(ApiError::Conflict(
            "You cannot remove yourself; ask another owner or admin.".into(),
        ));
    }
    if target.role == OperatorRole::Owner && !admin.is_owner() {
        return Err(ApiError::Forbidden(OWNER_PROTECTED));
    }
    let removed = state
        .store
        .delete_operator(admin.0.tenant_id, id)
        .await
        .map_err(last_owner)?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("Operator"))
    }
}

async fn find(state: &AppState, admin: &AdminSession, id: OperatorId) -> ApiResult<Operator> {
    state
        .store
        .get_operator(admin.0.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("Operator"))
}

fn last_owner(err: StoreError) -> ApiError {
    match err {
        StoreError::Conflict(_) => ApiError::Conflict(
            "The account must keep at least one owner: make someone else an owner first.".into(),
        ),
        other => other.into(),
    }
}
