//! The JSON shapes of the Tenant API, exactly as the published reference
//! names them (camelCase), with their OpenAPI schemas.

use crate::error::ApiError;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use enuchat_domain::{ConversationStatus, MessageRole, Shared, WidgetPosition};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every successful response wraps its payload in `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

impl<T> Data<T> {
    pub fn new(data: T) -> Self {
        Self { data }
    }
}

/// A JSON body serialized before the handler returned: what
/// [`shared_data`] renders.
pub struct RenderedJson(Bytes);

impl IntoResponse for RenderedJson {
    fn into_response(self) -> Response {
        ([(CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// `{"data": view(answer)}` for a store answer that may be shared with other
/// readers (`Shared`): a held answer is serialized once and every later read
/// of it sends the same bytes; an answer this request alone holds is moved
/// into its view, not copied.
///
/// Copying a held list page out of the cache and serializing its 20
/// conversations was about a fifth of a cached list request's CPU time
/// (`bench/profiles/README.md`, session 23).
pub fn shared_data<T: Clone, V: Serialize + 'static>(
    answer: Shared<T>,
    view: impl Fn(T) -> V,
) -> Result<RenderedJson, ApiError> {
    let bytes = match answer.try_unwrap() {
        Ok(value) => render_data(&view(value)),
        Err(held) => held.rendered::<V, _>(|value| {
            // Kept as long as the answer is: no spare capacity.
            render_data(&view(value.clone())).map(|bytes| Bytes::copy_from_slice(&bytes))
        }),
    };
    bytes.map(RenderedJson).map_err(serialize_error)
}

/// `{"data": [view(row), ...]}` for a list answer. A page cut from a held
/// block (a deep page) is put together from the block's row renderings, so
/// each row is serialized once per held block, not once per page that shows
/// it; any other page goes through [`shared_data`]. Both give the same bytes.
pub fn shared_list_data<T: Clone, V: Serialize + 'static>(
    answer: Shared<Vec<T>>,
    view: impl Fn(T) -> V,
) -> Result<RenderedJson, ApiError> {
    let rows = answer.rendered_rows::<V, _>(|row| {
        // Kept as long as the block is: no spare capacity.
        serde_json::to_vec(&view(row.clone())).map(|bytes| Bytes::copy_from_slice(&bytes))
    });
    let Some(rows) = rows else {
        return shared_data(answer, |rows| {
            rows.into_iter().map(&view).collect::<Vec<_>>()
        });
    };
    let rows = rows.map_err(serialize_error)?;
    let length: usize = rows.iter().map(|row| row.len() + 1).sum();
    let mut out = Vec::with_capacity(length + 12);
    out.extend_from_slice(b"{\"data\":[");
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(row);
    }
    out.extend_from_slice(b"]}");
    Ok(RenderedJson(Bytes::from(out)))
}

fn serialize_error(err: serde_json::Error) -> ApiError {
    ApiError::Internal(format!("could not serialize a response: {err}"))
}

fn render_data<V: Serialize>(view: &V) -> serde_json::Result<Bytes> {
    // Grows by doubling from here; a list page is some 5 KiB.
    let mut out = Vec::with_capacity(4096);
    serde_json::to_writer(&mut out, &Data::new(view))?;
    Ok(Bytes::from(out))
}

/// Timestamps are RFC 3339 in UTC with whole seconds and an explicit offset:
/// `2026-04-11T14:30:00+00:00`.
pub fn format_time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn time<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(at))
}

fn optional_time<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => time(at, s),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetView {
    #[schema(example = "019d19c6-7e0b-7c3a-9f1e-2b4d6a8c0e12")]
    pub id: Uuid,
    #[schema(example = "Main Website Chat")]
    pub name: String,
    pub is_active: bool,
    pub ai_enabled: bool,
    pub translation_enabled: bool,
    #[schema(example = "#2563eb")]
    pub primary_color: String,
    pub position: WidgetPosition,
}

impl From<enuchat_domain::Widget> for WidgetView {
    fn from(w: enuchat_domain::Widget) -> Self {
        Self {
            id: w.id.0,
            name: w.name,
            is_active: w.is_active,
            ai_enabled: w.ai_enabled,
            translation_enabled: w.translation_enabled,
            primary_color: w.primary_color,
            position: w.position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub id: Uuid,
    pub widget_id: Uuid,
    #[schema(example = "v-abc123")]
    pub visitor_id: String,
    #[schema(example = "John")]
    pub visitor_name: Option<String>,
    #[schema(example = "john@example.com")]
    pub visitor_email: Option<String>,
    #[schema(example = "en")]
    pub visitor_language: Option<String>,
    pub status: ConversationStatus,
    /// The operator handling the conversation, if any.
    pub assigned_to: Option<Uuid>,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-04-11T14:30:00+00:00")]
    pub last_message_at: DateTime<Utc>,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-04-11T14:25:00+00:00")]
    pub started_at: DateTime<Utc>,
}

impl From<enuchat_domain::Conversation> for ConversationView {
    fn from(c: enuchat_domain::Conversation) -> Self {
        Self {
            id: c.id.0,
            widget_id: c.widget_id.0,
            visitor_id: c.visitor_id.to_string(),
            visitor_name: c.visitor_name,
            visitor_email: c.visitor_email,
            visitor_language: c.visitor_language,
            status: c.status,
            assigned_to: c.assigned_to.map(|o| o.0),
            last_message_at: c.last_message_at,
            started_at: c.started_at,
        }
    }
}

/// A conversation with its most recent messages, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetailView {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: Uuid,
    pub role: MessageRole,
    /// The text as written.
    pub content: String,
    /// Detected language of `content`, when known.
    pub content_language: Option<String>,
    /// `content` translated for the other side of the conversation, if it was.
    pub translated_content: Option<String>,
    pub translated_language: Option<String>,
    /// True for messages the AI sent on its own.
    pub is_auto_reply: bool,
    #[serde(serialize_with = "time")]
    #[schema(value_type = String, format = DateTime, example = "2026-04-11T14:25:30+00:00")]
    pub created_at: DateTime<Utc>,
}

impl From<enuchat_domain::Message> for MessageView {
    fn from(m: enuchat_domain::Message) -> Self {
        Self {
            id: m.id.0,
            role: m.role,
            content: m.content,
            content_language: m.content_language,
            translated_content: m.translated_content,
            translated_language: m.translated_language,
            is_auto_reply: m.is_auto_reply,
            created_at: m.created_at,
        }
    }
}

impl From<&enuchat_domain::Message> for MessageView {
    fn from(m: &enuchat_domain::Message) -> Self {
        m.clone().into()
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceView {
    #[schema(example = "pro")]
    pub plan: String,
    #[schema(example = 4500000)]
    pub credit_balance: i64,
    #[schema(example = 10000000)]
    pub total_credits_added: i64,
}

/// Used by the API key list of the dashboard and CLI (never the secret).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    #[serde(serialize_with = "time")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "optional_time")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "optional_time")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "optional_time")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<enuchat_domain::ApiKey> for ApiKeyView {
    fn from(k: enuchat_domain::ApiKey) -> Self {
        Self {
            id: k.id.0,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct RowView {
        id: u32,
        display_name: String,
    }

    fn body(rendered: Result<RenderedJson, ApiError>) -> Bytes {
        match rendered {
            Ok(json) => json.0,
            Err(_) => panic!("the page was not rendered"),
        }
    }

    /// A page cut from a block gives the bytes a whole rendering of the same
    /// rows gives, and pages cut later from the block reuse the rows' bytes.
    #[test]
    fn a_cut_page_renders_as_a_whole_page_does() {
        let rows: Vec<(u32, String)> = (0..30)
            .map(|n| (n, format!("Visitor \"{n}\" <ü>\n")))
            .collect();
        let views = Cell::new(0);
        let view = |(id, display_name): (u32, String)| {
            views.set(views.get() + 1);
            RowView { id, display_name }
        };
        let block = Shared::new(rows.clone());
        let cut = body(shared_list_data(block.cut(5, 20), view));
        let whole = body(shared_list_data(Shared::new(rows[5..25].to_vec()), view));
        assert_eq!(cut, whole);
        serde_json::from_slice::<serde_json::Value>(&cut).expect("valid JSON");
        assert_eq!(views.get(), 40);

        // Rows 5-24 are rendered already: only 25-29 are new.
        let later = body(shared_list_data(block.cut(10, 20), view));
        assert_eq!(views.get(), 45);
        let expected = body(shared_list_data(Shared::new(rows[10..30].to_vec()), view));
        assert_eq!(later, expected);

        let empty = body(shared_list_data(block.cut(40, 20), view));
        assert_eq!(&empty[..], br#"{"data":[]}"#);
        let one = body(shared_list_data(block.cut(29, 20), view));
        assert_eq!(
            std::str::from_utf8(&one).unwrap(),
            r#"{"data":[{"id":29,"displayName":"Visitor \"29\" <ü>\n"}]}"#
        );
    }
}
