//! `GET /ws`: the visitor's real-time channel.
//!
//! Order of operations is what makes delivery gap-free: subscribe to the hub
//! first, then read what is already stored after the client's `after`, then
//! forward live events. Every event is checked against the highest `seq`
//! sent: older ones are dropped (exactly once), and a jump, a lagged channel
//! or a resync request makes the connection re-read from the table (no gaps).
//!
//! A reply whose translation is still being made is held back (with the
//! messages after it) until the translation arrives or the configured wait
//! has passed, so the visitor reads it in their language but never waits
//! forever; a translation that arrives later replaces the text in place
//! (`update` frames).

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
use enuchat_domain::{ConversationId, Message, MessageRole};
use serde_json::json;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Messages read per catch-up query.
const CATCH_UP_BATCH: u32 = 200;
/// Keeps proxies from closing idle connections and finds dead peers.
const PING_EVERY: Duration = Duration::from_secs(25);
/// Visitors never send more than pings and small control frames.
const MAX_INCOMING: usize = 16 * 1024;
/// Initial read buffer: a pong or close frame fits many times over.
const READ_BUFFER: usize = 256;

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
    // of default read and write buffers. The read buffer is allocated (and
    // zero-filled) up front and lives as long as the socket, while visitors
    // only ever send pongs and closes of a few bytes; a larger frame (up to
    // MAX_INCOMING) makes it grow to fit.
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
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
    let mut held = catch_up(&state, tenant, conversation, &mut last, &mut socket).await?;
    if !ready_sent {
        send(&mut socket, json!({"type": "ready", "lastSeq": last})).await?;
    }
    loop {
        let hold_ends = held.as_ref().map(|h| h.until);
        tokio::select! {
            event = subscription.receiver.recv() => match event {
                Ok(HubEvent::Message(message)) if message.seq <= last => {}
                // Later messages wait behind a held one (read after it).
                Ok(HubEvent::Message(_)) if held.is_some() => {}
                Ok(HubEvent::Message(message)) if message.seq == last + 1 => {
                    held = hold(&state, &message);
                    if held.is_none() {
                        send_message(&mut socket, &message).await?;
                        last = message.seq;
                    }
                }
                Ok(HubEvent::Updated(message)) => {
                    if held.as_ref().is_some_and(|h| h.seq == message.seq) {
                        // The translation we waited for.
                        send_message(&mut socket, &message).await?;
                        last = message.seq;
                        held = catch_up(&state, tenant, conversation, &mut last, &mut socket).await?;
                    } else if message.seq <= last {
                        // Shown untranslated already: the widget swaps the text.
                        let view = VisitorMessageView::from(&*message);
                        send(&mut socket, json!({"type": "update", "message": view})).await?;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if held.is_none() {
                        held = catch_up(&state, tenant, conversation, &mut last, &mut socket).await?;
                    }
                }
                Err(RecvError::Closed) => return Err("hub closed".into()),
            },
            () = wait_until(hold_ends) => {
                // Waited long enough: show what is stored now, translated or not.
                held = catch_up(&state, tenant, conversation, &mut last, &mut socket).await?;
            }
            incoming = socket.recv() => if !keep_open(incoming) {
                return Ok(());
            },
            _ = ping.tick() => {
                socket.send(WsMessage::Ping(Default::default())).await.map_err(|e| e.to_string())?;
            }
        }
    }
}

/// A message held back because its translation is on its way: the visitor
/// should read it in their language, but never wait for it forever.
struct Held {
    seq: i64,
    until: tokio::time::Instant,
}

/// `Some` when `message` should wait for its translation (a reply whose
/// translation job is still running, younger than the configured wait).
fn hold(state: &AppState, message: &Message) -> Option<Held> {
    if !message.translation_pending || message.role == MessageRole::Visitor {
        return None;
    }
    let age = (chrono::Utc::now() - message.created_at)
        .to_std()
        .unwrap_or_default();
    let left = state.translation_wait.checked_sub(age)?;
    Some(Held {
        seq: message.seq,
        until: tokio::time::Instant::now() + left,
    })
}

async fn wait_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
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

/// Sends every stored message after `last`, advancing it, up to the first
/// one that waits for its translation (returned).
async fn catch_up(
    state: &AppState,
    tenant: enuchat_domain::TenantId,
    conversation: ConversationId,
    last: &mut i64,
    socket: &mut WebSocket,
) -> Result<Option<Held>, String> {
    loop {
        let rows = state
            .store
            .messages_after(tenant, conversation, *last, CATCH_UP_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let full = rows.len() == CATCH_UP_BATCH as usize;
        for message in &rows {
            if let Some(held) = hold(state, message) {
                return Ok(Some(held));
            }
            send_message(socket, message).await?;
            *last = message.seq;
        }
        if !full {
            return Ok(None);
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
