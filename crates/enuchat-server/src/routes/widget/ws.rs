//! `GET /ws`: the visitor's real-time channel.
//!
//! Order of operations is what makes delivery gap-free: subscribe to the hub
//! first, then read what is already stored after the client's `after`, then
//! forward live events. Every event is checked against the highest `seq`
//! sent: older ones are dropped (exactly once), and a jump, a lagged channel
//! or a resync request makes the connection re-read from the table (no gaps).

use super::views::VisitorMessageView;
use crate::error::{ApiError, ApiResult};
use crate::extract::visitor::{authenticate, VisitorContext};
use crate::extract::QueryParams;
use crate::realtime::hub::{HubEvent, Subscription};
use crate::state::AppState;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use enuchat_domain::{ConversationId, Message};
use serde_json::json;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Messages read per catch-up query.
const CATCH_UP_BATCH: u32 = 200;
/// Keeps proxies from closing idle connections and finds dead peers.
const PING_EVERY: Duration = Duration::from_secs(25);
/// Visitors never send more than pings and small control frames.
const MAX_INCOMING: usize = 16 * 1024;

pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut query: QueryParams,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let token = query
        .optional::<String>("token", "a visitor token")?
        .ok_or(ApiError::VisitorTokenMissing)?;
    let after = query.integer("after", 0, i64::MAX as u64, 0)? as i64;
    query.finish()?;
    let visitor = authenticate(&state, &token, &headers).await?;
    // Small buffers: an idle visitor should cost a few KiB, not the 128 KiB
    // of default read and write buffers.
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_upgrade(move |socket| async move {
            if let Err(reason) = run(state, visitor, after, socket).await {
                tracing::debug!(%reason, "visitor connection ended");
            }
        }))
}

/// Ends when the client goes away; `Err` only describes why, for the log.
async fn run(
    state: AppState,
    visitor: VisitorContext,
    after: i64,
    mut socket: WebSocket,
) -> Result<(), String> {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let tenant = visitor.visitor.tenant_id;

    let mut ready_sent = false;
    let conversation = match find_conversation(&state, &visitor).await? {
        Some(id) => id,
        None => {
            // Nothing to read yet; say so, then wait for the first message.
            send(&mut socket, json!({"type": "ready", "lastSeq": after})).await?;
            ready_sent = true;
            let mut waiting = state.hub.wait_for_conversation(&visitor.visitor.id);
            // The conversation may have started between the read and subscribing.
            match find_conversation(&state, &visitor).await? {
                Some(id) => id,
                None => {
                    wait_for_start(&state, &visitor, &mut waiting, &mut socket, &mut ping).await?
                }
            }
        }
    };

    let mut subscription = state.hub.subscribe(conversation);
    let mut last = after;
    catch_up(&state, tenant, conversation, &mut last, &mut socket).await?;
    if !ready_sent {
        send(&mut socket, json!({"type": "ready", "lastSeq": last})).await?;
    }
    loop {
        tokio::select! {
            event = subscription.receiver.recv() => match event {
                Ok(HubEvent::Message(message)) if message.seq <= last => {}
                Ok(HubEvent::Message(message)) if message.seq == last + 1 => {
                    send_message(&mut socket, &message).await?;
                    last = message.seq;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    catch_up(&state, tenant, conversation, &mut last, &mut socket).await?;
                }
                Err(RecvError::Closed) => return Err("hub closed".into()),
            },
            incoming = socket.recv() => if !keep_open(incoming) {
                return Ok(());
            },
            _ = ping.tick() => {
                socket.send(WsMessage::Ping(Default::default())).await.map_err(|e| e.to_string())?;
            }
        }
    }
}

async fn find_conversation(
    state: &AppState,
    visitor: &VisitorContext,
) -> Result<Option<ConversationId>, String> {
    state
        .store
        .visitor_conversation(visitor.visitor.tenant_id, &visitor.visitor.id)
        .await
        .map(|c| c.map(|c| c.id))
        .map_err(|e| e.to_string())
}

async fn wait_for_start(
    state: &AppState,
    visitor: &VisitorContext,
    waiting: &mut Subscription,
    socket: &mut WebSocket,
    ping: &mut tokio::time::Interval,
) -> Result<ConversationId, String> {
    loop {
        tokio::select! {
            event = waiting.receiver.recv() => match event {
                Ok(HubEvent::ConversationStarted(id)) => return Ok(id),
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if let Some(id) = find_conversation(state, visitor).await? {
                        return Ok(id);
                    }
                }
                Err(RecvError::Closed) => return Err("hub closed".into()),
            },
            incoming = socket.recv() => if !keep_open(incoming) {
                return Err("client left before writing".into());
            },
            _ = ping.tick() => {
                socket.send(WsMessage::Ping(Default::default())).await.map_err(|e| e.to_string())?;
            }
        }
    }
}

/// Sends every stored message after `last`, advancing it.
async fn catch_up(
    state: &AppState,
    tenant: enuchat_domain::TenantId,
    conversation: ConversationId,
    last: &mut i64,
    socket: &mut WebSocket,
) -> Result<(), String> {
    loop {
        let rows = state
            .store
            .messages_after(tenant, conversation, *last, CATCH_UP_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let full = rows.len() == CATCH_UP_BATCH as usize;
        for message in &rows {
            send_message(socket, message).await?;
            *last = message.seq;
        }
        if !full {
            return Ok(());
        }
    }
}

/// Whatever the client sends is ignored; only a close or an error ends.
fn keep_open(incoming: Option<Result<WsMessage, axum::Error>>) -> bool {
    matches!(incoming, Some(Ok(message)) if !matches!(message, WsMessage::Close(_)))
}

async fn send_message(socket: &mut WebSocket, message: &Message) -> Result<(), String> {
    send(
        socket,
        json!({"type": "message", "message": VisitorMessageView::from(message)}),
    )
    .await
}

async fn send(socket: &mut WebSocket, value: serde_json::Value) -> Result<(), String> {
    socket
        .send(WsMessage::Text(value.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}
