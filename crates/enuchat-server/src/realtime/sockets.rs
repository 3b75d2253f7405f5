//! This instance's open WebSockets, so that shutting down can end them.
//!
//! An upgraded connection leaves hyper's bookkeeping: the graceful shutdown
//! of `axum::serve` waits for requests in flight, not for sockets. Left
//! alone, visitor and dashboard sockets would outlive `serve` and the store
//! it closes, and vanish without a close frame when the runtime goes (the
//! browser then sees an abnormal closure, 1006).
//!
//! Instead every socket task is tracked here. Shutting down first tells each
//! one to go away: it sends a close frame with code 1001 ("going away"), on
//! which the widget and the dashboard reconnect at once, to another instance
//! when there is one behind the load balancer, and re-read what they missed.
//! Then `serve` waits up to [`DRAIN_TIMEOUT`] for the tasks to end, and ends
//! those left (a client that never reads its close frame) by dropping them.

use axum::extract::ws::{close_code, CloseFrame, Message as WsMessage, WebSocket};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutting down waits for sockets to finish saying goodbye.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a socket that sent its close frame waits for the client's reply.
/// Closing the TCP connection while the client's frames are still unread
/// would reset it, and the reset can destroy the close frame in flight.
const GOODBYE_WAIT: Duration = Duration::from_secs(2);

/// Cheap to clone: the clones share the tracker and the two signals.
#[derive(Clone, Default)]
pub struct LiveSockets {
    tasks: TaskTracker,
    /// Cancelled when the server starts shutting down: sockets close politely.
    going_away: CancellationToken,
    /// Cancelled when the drain timed out: the tasks left are dropped.
    dropped: CancellationToken,
}

impl LiveSockets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps a socket's task: shutting down waits for it, and drops it if it
    /// has not ended by the drain timeout.
    pub fn track(&self, task: impl Future<Output = ()>) -> impl Future<Output = ()> {
        let dropped = self.dropped.clone();
        self.tasks.track_future(async move {
            tokio::select! {
                () = task => {}
                () = dropped.cancelled() => {}
            }
        })
    }

    /// Completes once the server is shutting down. Socket loops select on it
    /// and then call [`say_going_away`].
    pub async fn going_away(&self) {
        self.going_away.cancelled().await
    }

    /// Starts the end: every socket is told to close.
    pub fn go_away(&self) {
        self.going_away.cancel();
    }

    /// Sockets whose task is still running.
    pub fn open(&self) -> usize {
        self.tasks.len()
    }

    /// Tells every socket to close (if [`go_away`](Self::go_away) has not
    /// yet) and waits for their tasks, at most `timeout`; then drops the
    /// tasks left. Returns how many had to be dropped.
    pub async fn drain(&self, timeout: Duration) -> usize {
        self.go_away();
        // A socket upgraded from now on is still tracked (and told to go
        // away at once); `wait` only ends once the tracker is closed and empty.
        self.tasks.close();
        if tokio::time::timeout(timeout, self.tasks.wait())
            .await
            .is_ok()
        {
            return 0;
        }
        let left = self.tasks.len();
        self.dropped.cancel();
        // Each remaining task ends at its next poll, which the cancellation
        // has just scheduled.
        self.tasks.wait().await;
        left
    }
}

/// Why a socket closes when the server shuts down: the close frame's reason.
const GOING_AWAY_REASON: &str = "server shutting down";

/// Sends a close frame with code 1001 and waits briefly for the client's
/// reply (reading and discarding whatever it still sends). Returns the
/// reason, for the connection's log line.
pub async fn say_going_away(socket: &mut WebSocket) -> String {
    let frame = CloseFrame {
        code: close_code::AWAY,
        reason: GOING_AWAY_REASON.into(),
    };
    if socket.send(WsMessage::Close(Some(frame))).await.is_ok() {
        let _ = tokio::time::timeout(GOODBYE_WAIT, async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, WsMessage::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    GOING_AWAY_REASON.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_tasks_that_end_when_told() {
        let sockets = LiveSockets::new();
        let (ended_tx, mut ended_rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..3 {
            let watcher = sockets.clone();
            let ended = ended_tx.clone();
            tokio::spawn(sockets.track(async move {
                watcher.going_away().await;
                let _ = ended.send(());
            }));
        }
        tokio::task::yield_now().await;
        assert_eq!(sockets.open(), 3);
        assert_eq!(sockets.drain(Duration::from_secs(10)).await, 0);
        assert_eq!(sockets.open(), 0);
        drop(ended_tx);
        let mut ended = 0;
        while ended_rx.recv().await.is_some() {
            ended += 1;
        }
        assert_eq!(ended, 3, "every task ran to its end");
    }

    #[tokio::test]
    async fn drain_drops_tasks_that_do_not_end() {
        let sockets = LiveSockets::new();
        // Holds the sender until the task is dropped.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(sockets.track(async move {
            let _keep = tx;
            std::future::pending::<()>().await;
        }));
        tokio::task::yield_now().await;
        assert_eq!(sockets.drain(Duration::from_millis(50)).await, 1);
        assert_eq!(sockets.open(), 0);
        assert!(rx.await.is_err(), "the task was dropped");
    }

    #[tokio::test]
    async fn a_task_tracked_after_the_end_began_is_told_at_once() {
        let sockets = LiveSockets::new();
        sockets.go_away();
        let watcher = sockets.clone();
        let task = tokio::spawn(sockets.track(async move { watcher.going_away().await }));
        assert_eq!(sockets.drain(Duration::from_secs(10)).await, 0);
        task.await.unwrap();
    }
}
