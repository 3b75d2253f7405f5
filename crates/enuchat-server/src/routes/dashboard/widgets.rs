//! The widget screen: `GET /widgets` (any role: the inbox's filter menu uses
//! it too), `POST /widgets` and `PATCH /widgets/{id}` (owners and admins).

use super::request_is_https;
use super::views::DashboardWidgetView;
use crate::error::{ApiError, ApiResult};
use crate::extract::path::parse_id;
use crate::extract::{AdminSession, ApiJson, OperatorSession, QueryParams};
use crate::routes::tenant_api::views::Data;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use enuchat_domain::{
    DisplayName, HexColor, NewWidget, Origin, WidgetId, WidgetPosition, WidgetUpdate,
};
use serde::{Deserialize, Deserializer};

/// Longest greeting, in characters.
pub const MAX_GREETING_CHARS: usize = 500;
/// Most allowed origins per widget.
pub const MAX_ALLOWED_ORIGINS: usize = 50;

pub async fn list(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<Data<Vec<DashboardWidgetView>>>> {
    query.finish()?;
    let origin = server_origin(&state, &headers);
    let widgets = state.store.list_widgets(session.tenant_id).await?;
    Ok(Json(Data::new(
        widgets
            .into_iter()
            .map(|w| DashboardWidgetView::new(w, &origin))
            .collect(),
    )))
}

/// The body of both `POST` (where `name` is required) and `PATCH`. Every
/// field is `Option<Option<_>>` so that an explicit `null` can be told from
/// a missing field: only `greeting` may be `null`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WidgetBody {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub is_active: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    pub ai_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    pub translation_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    pub primary_color: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub position: Option<Option<WidgetPosition>>,
    #[serde(default, deserialize_with = "present")]
    pub greeting: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub allowed_origins: Option<Option<Vec<String>>>,
}

fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A field that may be missing but not `null`.
fn not_null<T>(value: Option<Option<T>>, field: &str) -> ApiResult<Option<T>> {
    match value {
        Some(None) => Err(ApiError::validation(format!(
            "`{field}` cannot be null; leave it out to keep it as it is."
        ))),
        other => Ok(other.flatten()),
    }
}

impl WidgetBody {
    /// Validates every field sent, into the domain's change.
    fn into_update(self) -> ApiResult<WidgetUpdate> {
        let field = |name: &str, e: enuchat_domain::InvalidValue| {
            ApiError::validation(format!("`{name}` {e}."))
        };
        let name = not_null(self.name, "name")?
            .map(|n| DisplayName::parse(&n).map_err(|e| field("name", e)))
            .transpose()?;
        let primary_color = not_null(self.primary_color, "primaryColor")?
            .map(|c| HexColor::parse(&c).map_err(|e| field("primaryColor", e)))
            .transpose()?;
        let greeting = self.greeting.map(|g| g.and_then(normalise_greeting));
        if let Some(Some(g)) = &greeting {
            let chars = g.chars().count();
            if chars > MAX_GREETING_CHARS {
                return Err(ApiError::validation(format!(
                    "`greeting` must be at most {MAX_GREETING_CHARS} characters (got {chars})."
                )));
            }
            if g.contains('\0') {
                return Err(ApiError::validation(
                    "`greeting` must not contain NUL characters.",
                ));
            }
        }
        let allowed_origins = not_null(self.allowed_origins, "allowedOrigins")?
            .map(parse_origins)
            .transpose()?;
        Ok(WidgetUpdate {
            name,
            is_active: not_null(self.is_active, "isActive")?,
            ai_enabled: not_null(self.ai_enabled, "aiEnabled")?,
            translation_enabled: not_null(self.translation_enabled, "translationEnabled")?,
            primary_color,
            position: not_null(self.position, "position")?,
            greeting,
            allowed_origins,
        })
    }
}

/// A blank greeting means none.
fn normalise_greeting(greeting: String) -> Option<String> {
    let trimmed = greeting.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Each origin validated and normalised, duplicates dropped (first kept).
fn parse_origins(raw: Vec<String>) -> ApiResult<Vec<Origin>> {
    if raw.len() > MAX_ALLOWED_ORIGINS {
        return Err(ApiError::validation(format!(
            "`allowedOrigins` may list at most {MAX_ALLOWED_ORIGINS} origins (got {}).",
            raw.len()
        )));
    }
    let mut origins: Vec<Origin> = Vec::with_capacity(raw.len());
    for (i, o) in raw.iter().enumerate() {
        let origin = Origin::parse(o)
            .map_err(|e| ApiError::validation(format!("`allowedOrigins[{i}]` {e}.")))?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

pub async fn create(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    headers: HeaderMap,
    query: QueryParams,
    ApiJson(body): ApiJson<WidgetBody>,
) -> ApiResult<(StatusCode, Json<Data<DashboardWidgetView>>)> {
    query.finish()?;
    let update = body.into_update()?;
    let name = update
        .name
        .ok_or_else(|| ApiError::validation("`name` is required."))?;
    // The defaults of `enuchat widget create` (admin::WidgetOptions).
    let new = NewWidget {
        name,
        is_active: update.is_active.unwrap_or(true),
        ai_enabled: update.ai_enabled.unwrap_or(false),
        translation_enabled: update.translation_enabled.unwrap_or(false),
        primary_color: update.primary_color.unwrap_or_default(),
        position: update.position.unwrap_or(WidgetPosition::BottomRight),
        greeting: update.greeting.flatten(),
        allowed_origins: update.allowed_origins.unwrap_or_default(),
    };
    let widget = state.store.create_widget(session.tenant_id, new).await?;
    let origin = server_origin(&state, &headers);
    Ok((
        StatusCode::CREATED,
        Json(Data::new(DashboardWidgetView::new(widget, &origin))),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: QueryParams,
    ApiJson(body): ApiJson<WidgetBody>,
) -> ApiResult<Json<Data<DashboardWidgetView>>> {
    query.finish()?;
    let id: WidgetId = parse_id(&id, "id")?;
    let update = body.into_update()?;
    if update.is_empty() {
        return Err(ApiError::validation(
            "Nothing to update: send at least one of name, isActive, aiEnabled, \
             translationEnabled, primaryColor, position, greeting, allowedOrigins.",
        ));
    }
    let widget = state
        .store
        .update_widget(session.tenant_id, id, update)
        .await?
        .ok_or(ApiError::NotFound("Widget"))?;
    let origin = server_origin(&state, &headers);
    Ok(Json(Data::new(DashboardWidgetView::new(widget, &origin))))
}

/// Where sites load `widget.js` from: the configured public URL's origin,
/// else the origin this request reached (its `Host`, `https` when a proxy
/// says so). A `Host` that is not a plain host name gives a relative URL
/// rather than odd text inside the snippet.
pub fn server_origin(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(origin) = &state.public_origin {
        return origin.clone();
    }
    let scheme = if request_is_https(headers) {
        "https"
    } else {
        "http"
    };
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|host| Origin::parse(&format!("{scheme}://{host}")).ok())
        .map(|o| o.as_str().to_owned())
        .unwrap_or_default()
}
