//! `GET /me` and `PATCH /me`: the visitor's own details (the widget's
//! `identify()`), and whether they have a conversation yet.

use super::views::MeView;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, VisitorContext};
use crate::routes::tenant_api::views::Data;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use enuchat_domain::{DisplayName, Email, LanguageCode, VisitorPatch};
use serde::{Deserialize, Deserializer};

/// Optional visitor details; `null` clears a field on PATCH.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorFields {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub language: Option<Option<String>>,
}

fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Validated: `Some(Some(v))` set, `Some(None)` clear, `None` leave alone.
pub struct ValidFields {
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub language: Option<Option<LanguageCode>>,
}

impl VisitorFields {
    pub fn validate(self) -> Result<ValidFields, ApiError> {
        fn each<T>(
            value: Option<Option<String>>,
            field: &str,
            parse: impl Fn(&str) -> Result<T, enuchat_domain::InvalidValue>,
        ) -> Result<Option<Option<T>>, ApiError> {
            match value {
                None => Ok(None),
                Some(None) => Ok(Some(None)),
                // An empty string clears too: that is what an emptied form field sends.
                Some(Some(s)) if s.trim().is_empty() => Ok(Some(None)),
                Some(Some(s)) => parse(&s)
                    .map(|v| Some(Some(v)))
                    .map_err(|e| ApiError::validation(format!("`{field}` {e}."))),
            }
        }
        Ok(ValidFields {
            name: each(self.name, "name", |s| {
                DisplayName::parse(s).map(|n| n.as_str().to_owned())
            })?,
            email: each(self.email, "email", |s| {
                Email::parse(s).map(|e| e.as_str().to_owned())
            })?,
            language: each(self.language, "language", LanguageCode::parse)?,
        })
    }
}

pub async fn get_me(
    State(state): State<AppState>,
    visitor: VisitorContext,
) -> ApiResult<Json<Data<MeView>>> {
    let conversation = state
        .store
        .visitor_conversation(visitor.visitor.tenant_id, &visitor.visitor.id)
        .await?;
    Ok(Json(Data::new(MeView::new(visitor.visitor, conversation))))
}

pub async fn update_me(
    State(state): State<AppState>,
    visitor: VisitorContext,
    ApiJson(body): ApiJson<VisitorFields>,
) -> ApiResult<Json<Data<MeView>>> {
    let fields = body.validate()?;
    let tenant = visitor.visitor.tenant_id;
    let patch = VisitorPatch {
        name: fields.name,
        email: fields.email,
        language: fields.language,
    };
    let updated = state
        .store
        .update_visitor(tenant, &visitor.visitor.id, patch)
        .await?
        .ok_or(ApiError::VisitorTokenInvalid)?;
    let conversation = state
        .store
        .visitor_conversation(tenant, &updated.id)
        .await?;
    Ok(Json(Data::new(MeView::new(updated, conversation))))
}
