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

use super::hold;
use super::views::VisitorMessageView;
use crate::error::{ApiError, ApiResult};
use crate::extract::visitor::authenticate;
use crate::extract::QueryParams;
use crate::realtime::hub::{Hub, HubEvent};
use crate::realtime::sockets::{say_going_away, LiveSockets};
use crate::state::AppState;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use enuchat_domain::{ConversationId, Message, Store, TenantId, VisitorId};
use serde_json::json;
use std::sync::Arc;
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
    // Only what the connection uses is kept (not the whole state, nor the
    // visitor's widget), boxed so that axum's task holds a pointer.
    let setup = Box::new(Setup {
        store: state.store.clone(),
        hub: state.hub.clone(),
        translation_wait: state.translation_wait,
        sockets: state.sockets.clone(),
        tenant: visitor.visitor.tenant_id,
        visitor: visitor.visitor.id,
        last: after,
    });
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
        .on_upgrade(move |socket| {
            let sockets = setup.sockets.clone();
            sockets.track(Live::new(*setup, socket).run())
        }))
}

/// What a connection needs from the request that opened it.
struct Setup {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    translation_wait: Duration,
    /// Tracks this connection and says when the server shuts down.
    sockets: LiveSockets,
    tenant: TenantId,
    visitor: VisitorId,
    /// The highest `seq` the client has (starts at its `after`).
    last: i64,
}

impl Setup {
    async fn find_conversation(&self) -> Result<Option<ConversationId>, String> {
        self.store
            .visitor_conversation(self.tenant, &self.visitor)
            .await
            .map(|c| c.map(|c| c.id))
            .map_err(|e| e.to_string())
    }
}

/// One visitor connection. It lives in a box and its methods borrow it, so
/// the task future that lives as long as the socket stays small: an async
/// fn stores its arguments besides its locals, and every value held across
/// an `.await` is part of the future for the whole connection.
struct Live {
    socket: WebSocket,
    ping: tokio::time::Interval,
    setup: Setup,
}

impl Live {
    fn new(setup: Setup, socket: WebSocket) -> Box<Self> {
        Box::new(Live {
            socket,
            ping: tokio::time::interval(PING_EVERY),
            setup,
        })
    }

    async fn run(mut self: Box<Self>) {
        if let Err(reason) = self.serve().await {
            tracing::debug!(%reason, "visitor connection ended");
        }
    }

    /// Ends when the client goes away; `Err` only describes why, for the log.
    /// The cold steps (database reads, the wait for a first message) are
    /// boxed: their state exists only while they run, not for the whole
    /// life of the connection.
    async fn serve(&mut self) -> Result<(), String> {
        self.ping.tick().await;
        let mut ready_sent = false;
        let conversation = match Box::pin(self.setup.find_conversation()).await? {
            Some(id) => id,
            None => {
                // Nothing to read yet; say so, then wait for the first message.
                let last = self.setup.last;
                self.send(json!({"type": "ready", "lastSeq": last})).await?;
                ready_sent = true;
                Box::pin(self.wait_for_start()).await?
            }
        };
        let mut subscription = self.setup.hub.subscribe(conversation);
        let mut held = Box::pin(self.catch_up(conversation)).await?;
        if !ready_sent {
            let last = self.setup.last;
            self.send(json!({"type": "ready", "lastSeq": last})).await?;
        }
        loop {
            let hold_ends = held.as_ref().map(|h| h.until);
            let last = self.setup.last;
            tokio::select! {
                event = subscription.receiver.recv() => match event {
                    Ok(HubEvent::Message(message)) if message.seq <= last => {}
                    // Later messages wait behind a held one (read after it).
                    Ok(HubEvent::Message(_)) if held.is_some() => {}
                    Ok(HubEvent::Message(message)) if message.seq == last + 1 => {
                        held = self.hold(&message);
                        if held.is_none() {
                            self.send_message(&message).await?;
                            self.setup.last = message.seq;
                        }
                    }
                    Ok(HubEvent::Updated(message)) => {
                        if held.as_ref().is_some_and(|h| h.seq == message.seq) {
                            // The translation we waited for.
                            self.send_message(&message).await?;
                            self.setup.last = message.seq;
                            held = Box::pin(self.catch_up(conversation)).await?;
                        } else if message.seq <= last {
                            // Shown untranslated already: the widget swaps the text.
                            let view = VisitorMessageView::from(&*message);
                            self.send(json!({"type": "update", "message": view})).await?;
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        if held.is_none() {
                            held = Box::pin(self.catch_up(conversation)).await?;
                        }
                    }
                    Err(RecvError::Closed) => return Err("hub closed".into()),
                },
                () = wait_until(hold_ends) => {
                    // Waited long enough: show what is stored now, translated or not.
                    held = Box::pin(self.catch_up(conversation)).await?;
                }
                incoming = self.socket.recv() => if !keep_open(incoming) {
                    return Ok(());
                },
                _ = self.ping.tick() => self.send_ping().await?,
                // The widget reconnects on the close (to another instance,
                // if any) and resumes after its last seq.
                () = self.setup.sockets.going_away() => {
                    return Err(say_going_away(&mut self.socket).await);
                }
            }
        }
    }

    async fn wait_for_start(&mut self) -> Result<ConversationId, String> {
        let mut waiting = self.setup.hub.wait_for_conversation(&self.setup.visitor);
        // The conversation may have started between the read and subscribing.
        if let Some(id) = self.setup.find_conversation().await? {
            return Ok(id);
        }
        loop {
            tokio::select! {
                event = waiting.receiver.recv() => match event {
                    Ok(HubEvent::ConversationStarted(id)) => return Ok(id),
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        if let Some(id) = self.setup.find_conversation().await? {
                            return Ok(id);
                        }
                    }
                    Err(RecvError::Closed) => return Err("hub closed".into()),
                },
                incoming = self.socket.recv() => if !keep_open(incoming) {
                    return Err("client left before writing".into());
                },
                _ = self.ping.tick() => self.send_ping().await?,
                () = self.setup.sockets.going_away() => {
                    return Err(say_going_away(&mut self.socket).await);
                }
            }
        }
    }

    /// Sends every stored message after the last one sent, up to the first
    /// one that waits for its translation (returned).
    async fn catch_up(&mut self, conversation: ConversationId) -> Result<Option<Held>, String> {
        loop {
            let rows = self
                .setup
                .store
                .messages_after(
                    self.setup.tenant,
                    conversation,
                    self.setup.last,
                    CATCH_UP_BATCH,
                )
                .await
                .map_err(|e| e.to_string())?;
            let full = rows.len() == CATCH_UP_BATCH as usize;
            for message in &rows {
                if let Some(held) = self.hold(message) {
                    return Ok(Some(held));
                }
                self.send_message(message).await?;
                self.setup.last = message.seq;
            }
            if !full {
                return Ok(None);
            }
        }
    }

    /// `Some` when `message` should wait for its translation (a reply whose
    /// translation job is still running, younger than the configured wait).
    fn hold(&self, message: &Message) -> Option<Held> {
        let left = hold::time_left(message, self.setup.translation_wait)?;
        Some(Held {
            seq: message.seq,
            until: tokio::time::Instant::now() + left,
        })
    }

    async fn send_ping(&mut self) -> Result<(), String> {
        self.socket
            .send(WsMessage::Ping(Default::default()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn send_message(&mut self, message: &Message) -> Result<(), String> {
        self.send(json!({"type": "message", "message": VisitorMessageView::from(message)}))
            .await
    }

    async fn send(&mut self, value: serde_json::Value) -> Result<(), String> {
        self.socket
            .send(WsMessage::Text(value.to_string().into()))
            .await
            .map_err(|e| e.to_string())
    }
}

/// A message held back because its translation is on its way: the visitor
/// should read it in their language, but never wait for it forever.
struct Held {
    seq: i64,
    until: tokio::time::Instant,
}

async fn wait_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Whatever the client sends is ignored; only a close or an error ends.
fn keep_open(incoming: Option<Result<WsMessage, axum::Error>>) -> bool {
    matches!(incoming, Some(Ok(message)) if !matches!(message, WsMessage::Close(_)))
}
