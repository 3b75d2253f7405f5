//! Socket options for accepted connections.
//!
//! axum's `serve` leaves Nagle's algorithm on for the connections it accepts.
//! A chat server writes many small frames (a WebSocket message, a short JSON
//! answer) and the peer often delays its ACK; with Nagle on, a second small
//! write in that window waits for the ACK, up to the peer's delayed-ACK timer
//! (40 ms on Linux). Loopback hides this, real networks do not, so every
//! accepted connection sends small writes at once.

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// What [`without_nagle`] hands to `axum::serve`.
pub(crate) type NoDelayListener = TapIo<TcpListener, fn(&mut TcpStream)>;

/// Wraps `listener` so that each accepted connection has `TCP_NODELAY` set.
pub(crate) fn without_nagle(listener: TcpListener) -> NoDelayListener {
    listener.tap_io(set_nodelay as fn(&mut TcpStream))
}

fn set_nodelay(stream: &mut TcpStream) {
    // A connection that cannot take the option still works (only slower on
    // bursts), and the peer may already be gone: not worth more than debug.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY not set on an accepted connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;

    async fn bound() -> (TcpListener, std::net::SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        (listener, address)
    }

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let (listener, address) = bound().await;
        let mut listener = without_nagle(listener);
        let _client = TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_plain_accept_keeps_nagle_on() {
        // The control: without the wrapper the option is off, so the test
        // above checks the wrapper and not a default of the platform.
        let (listener, address) = bound().await;
        let _client = TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap());
    }
}
