//! Shutting down: open WebSockets are closed with 1001 (going away), so
//! widgets and dashboards reconnect at once, and no socket holds the server.

use crate::dashboard_helpers::*;
use crate::helpers::*;
use crate::visitor_helpers::*;
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as Frame;

both_backends!(shutting_down_closes_every_socket_with_going_away);

/// The close frame that ends `socket`, skipping other frames; panics if the
/// socket ends without one or nothing comes within 10 s.
async fn close_frame(socket: &mut Socket) -> (CloseCode, String) {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("no close frame in time")
            .expect("socket ended without a close frame")
            .expect("socket error");
        if let Frame::Close(close) = frame {
            let close = close.expect("a close frame with a code");
            return (close.code, close.reason.to_string());
        }
    }
}

async fn shutting_down_closes_every_socket_with_going_away(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    // A visitor following its conversation, one still waiting for its first
    // message, and an operator's dashboard.
    let following = TestVisitor::create(&app, &acme.widget, json!({})).await;
    following.say(&app, "hello").await;
    let mut following_socket = following.connect(0).await;
    assert_eq!(seqs(&until_ready(&mut following_socket).await), vec![1]);
    let waiting = TestVisitor::create(&app, &acme.widget, json!({})).await;
    let mut waiting_socket = waiting.connect(0).await;
    assert!(until_ready(&mut waiting_socket).await.is_empty());
    let dash = sign_in(&app, &acme.operator.email).await;
    let mut dash_socket = dash.connect().await;
    assert_eq!(
        next_event(&mut dash_socket, Duration::from_secs(5)).await["type"],
        "ready"
    );

    let TestApp {
        server, db, store, ..
    } = app;
    let stopping = tokio::spawn(server.stop());
    // The visitors read (and so answer) their close frames.
    for socket in [&mut following_socket, &mut waiting_socket] {
        let (code, reason) = close_frame(socket).await;
        assert_eq!(code, CloseCode::Away);
        assert_eq!(reason, "server shutting down");
    }
    // The dashboard's client reads nothing until the server has stopped: a
    // client that does not answer does not hold the shutdown.
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("the server stopped with sockets open")
        .expect("server task");
    assert_eq!(close_frame(&mut dash_socket).await.0, CloseCode::Away);
    for socket in [&mut following_socket, &mut waiting_socket, &mut dash_socket] {
        let after = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the socket ends");
        assert!(
            !matches!(after, Some(Ok(Frame::Text(_)))),
            "nothing follows the close frame: {after:?}"
        );
    }
    drop(store);
    drop(db);
}
