//! `GET /ws`: live updates for a signed-in operator's dashboard.
//!
//! Subscribes to the tenant's hub channel and forwards every message and
//! conversation change. The server keeps no backlog: when the connection
//! falls behind (lagged channel) or the database feed may have missed
//! something (resync), the socket is closed and the client reconnects and
//! re-reads. The session is re-checked periodically, so signing out ends
//! open sockets too.

use super::origin_allowed;
use super::session::still_valid;
use super::views::DashboardMessageView;
use crate::error::{ApiError, ApiResult};
use crate::extract::session::current_session;
use crate::realtime::hub::TenantEvent;
use crate::realtime::sockets::say_going_away;
use crate::routes::tenant_api::views::ConversationView;
use crate::state::AppState;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Keeps proxies from closing idle connections, and re-checks the session.
const PING_EVERY: Duration = Duration::from_secs(25);
const MAX_INCOMING: usize = 16 * 1024;

pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    if !origin_allowed(&state, &headers) {
        return Err(ApiError::CsrfRejected);
    }
    let session = current_session(&state, &headers).await?;
    let sockets = state.sockets.clone();
    Ok(upgrade
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_upgrade(move |socket| {
            sockets.track(async move {
                if let Err(reason) = run(state, session.tenant_id, headers, socket).await {
                    tracing::debug!(%reason, "dashboard connection ended");
                }
            })
        }))
}

async fn run(
    state: AppState,
    tenant: enuchat_domain::TenantId,
    headers: HeaderMap,
    mut socket: WebSocket,
) -> Result<(), String> {
    let mut subscription = state.hub.subscribe_tenant(tenant);
    send(&mut socket, json!({"type": "ready"})).await?;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            event = subscription.receiver.recv() => match event {
                Ok(TenantEvent::Message(message)) => {
                    let frame = json!({
                        "type": "message",
                        "conversationId": message.conversation_id.0,
                        "message": DashboardMessageView::from(&*message),
                    });
                    send(&mut socket, frame).await?;
                }
                Ok(TenantEvent::MessageUpdated(message)) => {
                    // A translation arrived: the dashboard shows both texts.
                    let frame = json!({
                        "type": "message_updated",
                        "conversationId": message.conversation_id.0,
                        "message": DashboardMessageView::from(&*message),
                    });
                    send(&mut socket, frame).await?;
                }
                Ok(TenantEvent::Conversation(conversation)) => {
                    let view = ConversationView::from((*conversation).clone());
                    send(&mut socket, json!({"type": "conversation", "conversation": view})).await?;
                }
                Ok(TenantEvent::Resync) | Err(RecvError::Lagged(_)) => {
                    // The client re-reads after reconnecting.
                    let _ = socket.send(WsMessage::Close(None)).await;
                    return Err("resync: closed for the client to re-read".into());
                }
                Err(RecvError::Closed) => return Err("hub closed".into()),
            },
            incoming = socket.recv() => {
                if !matches!(incoming, Some(Ok(ref m)) if !matches!(m, WsMessage::Close(_))) {
                    return Ok(());
                }
            }
            _ = ping.tick() => {
                if !still_valid(&state, &headers).await {
                    let _ = socket.send(WsMessage::Close(None)).await;
                    return Err("session ended".into());
                }
                socket.send(WsMessage::Ping(Default::default())).await.map_err(|e| e.to_string())?;
            }
            // The dashboard reconnects on the close and re-reads its inbox.
            () = state.sockets.going_away() => return Err(say_going_away(&mut socket).await),
        }
    }
}

async fn send(socket: &mut WebSocket, value: serde_json::Value) -> Result<(), String> {
    socket
        .send(WsMessage::Text(value.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}
