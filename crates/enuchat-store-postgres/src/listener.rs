//! Hearing about committed messages from every instance: `LISTEN` on
//! [`MESSAGES_CHANNEL`] (and on [`API_KEYS_CHANNEL`] for revoked keys), whose notices `append_message` sends in the same
//! transaction as the insert (and the translation's update, and
//! `update_conversation` / `set_handed_off` for a conversation's changes,
//! with `conversation_changed`).
//!
//! A background task owns the listening connection and forwards what it
//! hears through a channel, which makes [`MessageListener::recv`] cancel-safe
//! (it can sit in a `tokio::select!`) and lets the task repair the connection
//! on its own schedule:
//! - sqlx's `PgListener` re-establishes a lost connection and re-`LISTEN`s;
//!   `try_recv` then returns `Ok(None)`, which becomes
//!   [`ListenEvent::Reconnected`];
//! - when that fails (an `Err`), the task drops the listener and builds a new
//!   one, retrying with backoff, and says `Reconnected` once it is back;
//! - a connection that silently stopped delivering (a half-open TCP socket
//!   never reports an error) is caught by a query on it after
//!   [`IDLE_CHECK`] of silence: when it fails, times out, or shows a new
//!   backend pid (sqlx reconnected without telling us), the listener is
//!   rebuilt and `Reconnected` reported.

use enuchat_domain::store::StoreResult;
use enuchat_domain::{MessageNotice, StoreError, API_KEYS_CHANNEL, MESSAGES_CHANNEL};
use sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPoolOptions};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The `application_name` of listening connections, to tell them apart in
/// `pg_stat_activity` (the store's pooled connections say `enuchat`).
pub const LISTENER_APPLICATION_NAME: &str = "enuchat-listener";

/// Silence after which the connection is checked with a query.
const IDLE_CHECK: Duration = Duration::from_secs(30);
/// How long connecting (and `LISTEN`) or a check may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Waits between failed reconnection attempts: doubling from the first to
/// the second.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(10));

/// What [`MessageListener::recv`] hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenEvent {
    /// A message was committed, or a message or conversation changed (by
    /// any instance sharing the database); see [`MessageNotice`].
    Notice(MessageNotice),
    /// An API key was revoked (on [`API_KEYS_CHANNEL`]): its SHA-256.
    ApiKeyRevoked([u8; 32]),
    /// The listening connection was lost and is listening again. Notices sent
    /// in between are gone: re-read from the tables whatever you follow
    /// (e.g. `messages_after` from the last seq you have).
    Reconnected,
}

/// A subscription to [`MESSAGES_CHANNEL`] on a connection of its own,
/// opened by [`PostgresStore::listen_messages`](crate::PostgresStore::listen_messages).
///
/// Every message committed after `listen_messages` returned is announced
/// once, unless the connection is lost, which is always followed by
/// [`ListenEvent::Reconnected`]. Notices of one conversation arrive in seq
/// order. Dropping the listener closes its connection.
///
/// Keep calling `recv`: notices queue up in memory meanwhile, and while a
/// listener does not read at all PostgreSQL's notification queue cannot be
/// trimmed either.
#[derive(Debug)]
pub struct MessageListener {
    events: mpsc::UnboundedReceiver<StoreResult<ListenEvent>>,
    task: JoinHandle<()>,
}

impl MessageListener {
    /// Connects and `LISTEN`s before returning, so nothing committed after
    /// this returns is missed.
    pub(crate) async fn start(options: PgConnectOptions) -> StoreResult<MessageListener> {
        let options = options.application_name(LISTENER_APPLICATION_NAME);
        let connection = Connection::open(&options)
            .await
            .map_err(|e| lost("could not listen for messages", e))?;
        let (sender, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(connection, options, sender));
        Ok(MessageListener { events, task })
    }

    /// The next notice or reconnection; waits until there is one.
    ///
    /// Malformed payloads (not a [`MessageNotice`] as JSON) are logged and
    /// skipped. An `Err` says that the connection was lost and could not be
    /// re-established at once; it is not final: the listener keeps retrying
    /// in the background, and the next `Ok` after an `Err` is
    /// [`ListenEvent::Reconnected`]. So log it and call `recv` again.
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn recv(&mut self) -> StoreResult<ListenEvent> {
        match self.events.recv().await {
            Some(event) => event,
            // Only if the task died (a panic): nothing will come any more.
            None => Err(StoreError::Database(
                "the message listener has stopped".into(),
            )),
        }
    }
}

impl Drop for MessageListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listening connection and the pid of its backend, to notice when sqlx
/// replaced it.
struct Connection {
    listener: PgListener,
    pid: i32,
}

impl Connection {
    async fn open(options: &PgConnectOptions) -> Result<Connection, sqlx::Error> {
        tokio::time::timeout(TIMEOUT, Self::open_untimed(options))
            .await
            .unwrap_or_else(|_| Err(timed_out("connecting to listen")))
    }

    async fn open_untimed(options: &PgConnectOptions) -> Result<Connection, sqlx::Error> {
        // A pool of one that only serves this listener, which is how
        // PgListener reconnects; the connection is held for good, so no
        // lifetime or idle limits.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(TIMEOUT)
            .connect_lazy_with(options.clone());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.ignore_pool_close_event(true);
        listener
            .listen_all([MESSAGES_CHANNEL, API_KEYS_CHANNEL])
            .await?;
        let pid = backend_pid(&mut listener).await?;
        Ok(Connection { listener, pid })
    }
}

/// The pid of the listener's backend. A query on the listener's connection
/// (connecting it if needed); notices arriving meanwhile are buffered by
/// sqlx and returned by the next `try_recv`.
async fn backend_pid(listener: &mut PgListener) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(listener)
        .await
}

fn timed_out(what: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} took over {}s", TIMEOUT.as_secs()),
    ))
}

fn lost(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("{context}: {error}"))
}

/// 64 hex digits into 32 bytes.
fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (out, pair) in hash.iter_mut().zip(bytes.chunks(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *out = u8::from_str_radix(text, 16).ok()?;
    }
    Some(hash)
}

enum Step {
    Received(Result<Option<PgNotification>, sqlx::Error>),
    Idle,
}

/// The task behind a [`MessageListener`]: runs until the listener is dropped.
async fn run(
    connection: Connection,
    options: PgConnectOptions,
    events: mpsc::UnboundedSender<StoreResult<ListenEvent>>,
) {
    let mut connection = Some(connection);
    let mut backoff = BACKOFF.0;
    loop {
        let Some(conn) = connection.as_mut() else {
            match Connection::open(&options).await {
                Ok(conn) => {
                    tracing::info!("listening for messages again");
                    connection = Some(conn);
                    backoff = BACKOFF.0;
                    if events.send(Ok(ListenEvent::Reconnected)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff,
                        "could not reconnect to listen for messages");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
            continue;
        };

        let step = tokio::select! {
            received = conn.listener.try_recv() => Step::Received(received),
            () = tokio::time::sleep(IDLE_CHECK) => Step::Idle,
        };
        let (event, failure) = match step {
            Step::Received(Ok(Some(notification)))
                if notification.channel() == API_KEYS_CHANNEL =>
            {
                match parse_hash(notification.payload()) {
                    Some(hash) => (Some(ListenEvent::ApiKeyRevoked(hash)), None),
                    None => {
                        tracing::warn!(
                            payload = notification.payload(),
                            "skipping a malformed API key notice"
                        );
                        (None, None)
                    }
                }
            }
            Step::Received(Ok(Some(notification))) => {
                match serde_json::from_str::<MessageNotice>(notification.payload()) {
                    Ok(notice) => (Some(ListenEvent::Notice(notice)), None),
                    Err(e) => {
                        tracing::warn!(error = %e, payload = notification.payload(),
                            "skipping a malformed message notice");
                        (None, None)
                    }
                }
            }
            // sqlx lost the connection and made a new one, listening again.
            Step::Received(Ok(None)) => match backend_pid(&mut conn.listener).await {
                Ok(pid) => {
                    tracing::info!("the connection listening for messages was re-established");
                    conn.pid = pid;
                    (Some(ListenEvent::Reconnected), None)
                }
                Err(e) => (None, Some(e)),
            },
            Step::Received(Err(e)) => (None, Some(e)),
            Step::Idle => {
                match tokio::time::timeout(TIMEOUT, backend_pid(&mut conn.listener)).await {
                    Ok(Ok(pid)) if pid == conn.pid => (None, None),
                    // Reconnected behind our back (a try_recv cut short by
                    // the check): start over on a clean listener.
                    Ok(Ok(_)) => (
                        None,
                        Some(sqlx::Error::Protocol(
                            "the listening connection was replaced".into(),
                        )),
                    ),
                    Ok(Err(e)) => (None, Some(e)),
                    Err(_) => (None, Some(timed_out("checking the listening connection"))),
                }
            }
        };
        if let Some(e) = failure {
            tracing::warn!(error = %e, "lost the connection listening for messages");
            // Rebuilt on the next turn, which reports `Reconnected`.
            connection = None;
            if events
                .send(Err(lost("lost the connection listening for messages", e)))
                .is_err()
            {
                return;
            }
        } else if let Some(event) = event {
            if events.send(Ok(event)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_hash;

    #[test]
    fn key_notices_carry_a_hex_hash() {
        let hex = "00ff".repeat(16);
        let hash = parse_hash(&hex).unwrap();
        assert_eq!(hash[0], 0);
        assert_eq!(hash[1], 0xff);
        assert_eq!(parse_hash("00ff"), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
    }
}
