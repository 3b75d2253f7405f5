//! Group commit for message appends.
//!
//! SQLite has one writer, so concurrent appends queue for it anyway. Instead
//! of one transaction each (one WAL commit per message), a thread takes every
//! append waiting at that moment and writes them in a single transaction.
//! Nothing waits for a batch to fill: a lone append is written at once, and
//! under load the batch is whatever queued while the previous one committed.
//!
//! The thread has a rusqlite connection of its own rather than the store's
//! sqlx writer. Its prepared statements then live as long as it does (they
//! were prepared again for every batch: 9% of the server's time in the POST
//! profile), and a batch costs no hand-over to sqlx's worker thread, no pool
//! acquire and no ping on release. Server CPU per POST at a fixed 2,000/s
//! fell from ~900 to ~690 µs (bench/profiles/README.md). It takes its turn at
//! writing with the store's other writes (`writer.rs`).
//!
//! A caller gets its answer only after the commit, so an acknowledged message
//! is durable exactly as before. If any append in a batch fails, the batch is
//! rolled back and each append is retried in its own transaction, so one bad
//! request cannot fail its neighbours.

use crate::checkpointer::{self, Checkpointer};
use crate::list_anchors::ListAnchors;
use crate::messages::append_on;
use crate::writer::WriteTurn;
use crate::{now_us, sqlite, BUSY_TIMEOUT};
use enuchat_domain::store::StoreResult;
use enuchat_domain::{ConversationId, Message, NewMessage, StoreError, TenantId};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most appends written in one transaction: bounds how long the write
/// lock is held and how long other writers (job claims, settings) wait.
const MAX_BATCH: usize = 64;
/// Appends that may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<StoreResult<Option<Message>>>;

struct Append {
    tenant: TenantId,
    conversation: ConversationId,
    new: NewMessage,
    reply: Reply,
}

enum Command {
    Append(Append),
    /// Write what came before, close the connection, then answer.
    Stop(oneshot::Sender<()>),
}

/// The handle the store keeps; the writing thread ends when every handle is
/// dropped or [`Appender::stop`] is called.
#[derive(Clone)]
pub(crate) struct Appender {
    queue: mpsc::Sender<Command>,
    connection: Arc<ConnectionState>,
}

/// What the thread's connection is doing, for the store's pool figures.
struct ConnectionState(AtomicU8);

impl ConnectionState {
    const CLOSED: u8 = 0;
    const IDLE: u8 = 1;
    const WRITING: u8 = 2;

    fn set(&self, state: u8) {
        self.0.store(state, Ordering::Relaxed);
    }
}

impl Appender {
    /// Opens the appender's connection to the database at `path` (which
    /// exists and is migrated) and starts its thread.
    pub(crate) fn start(
        path: &Path,
        checkpointer: Checkpointer,
        turn: WriteTurn,
        lists: Arc<ListAnchors>,
    ) -> StoreResult<Appender> {
        let conn = open(path).map_err(sqlite)?;
        let connection = Arc::new(ConnectionState(AtomicU8::new(ConnectionState::IDLE)));
        let thread = AppendThread {
            conn,
            checkpointer,
            turn,
            state: connection.clone(),
            lists,
        };
        let (queue, incoming) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-appender".into())
            .spawn(move || write_batches(thread, incoming))
            .map_err(|e| StoreError::Database(format!("cannot start the appender thread: {e}")))?;
        Ok(Appender { queue, connection })
    }

    /// (in use, idle) connections: the thread's one, in use while it writes.
    pub(crate) fn counts(&self) -> (u32, u32) {
        match self.connection.0.load(Ordering::Relaxed) {
            ConnectionState::WRITING => (1, 0),
            ConnectionState::IDLE => (0, 1),
            _ => (0, 0),
        }
    }

    pub(crate) async fn append(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        new: NewMessage,
    ) -> StoreResult<Option<Message>> {
        let (reply, answer) = oneshot::channel();
        let request = Append {
            tenant,
            conversation,
            new,
            reply,
        };
        self.queue
            .send(Command::Append(request))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Writes every append queued so far, then closes the connection; later
    /// appends fail.
    pub(crate) async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Command::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }
}

fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
         PRAGMA wal_autocheckpoint = {};",
        checkpointer::WRITER_BACKSTOP_PAGES
    ))?;
    Ok(conn)
}

fn stopped() -> StoreError {
    StoreError::Database("the SQLite message writer has stopped".into())
}

/// What the appender thread owns: its connection and what it writes in
/// turn with.
struct AppendThread {
    conn: rusqlite::Connection,
    checkpointer: Checkpointer,
    turn: WriteTurn,
    state: Arc<ConnectionState>,
    lists: Arc<ListAnchors>,
}

fn write_batches(thread: AppendThread, mut incoming: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stop = None;
    while stop.is_none() {
        let Some(first) = incoming.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(append) => batch.push(append),
                Command::Stop(done) => stop = Some(done),
            }
            if stop.is_none() && batch.len() < MAX_BATCH {
                next = incoming.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let turn = thread.turn.take_blocking();
            thread.state.set(ConnectionState::WRITING);
            commit_batch(&thread.conn, &thread.lists, &mut batch);
            thread.state.set(ConnectionState::IDLE);
            drop(turn);
            thread.checkpointer.committed();
        }
    }
    drop(incoming);
    // The connection is closed before `stop` is answered: the store closes
    // its other connections next.
    let AppendThread { conn, state, .. } = thread;
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the appender's connection failed");
    }
    state.set(ConnectionState::CLOSED);
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Writes and answers every append in `batch`, leaving it empty.
fn commit_batch(conn: &rusqlite::Connection, lists: &Arc<ListAnchors>, batch: &mut Vec<Append>) {
    match write(conn, lists, batch) {
        Ok(messages) => {
            for (append, message) in batch.drain(..).zip(messages) {
                // The caller may have gone (client disconnected); the
                // message is stored all the same.
                let _ = append.reply.send(Ok(message));
            }
        }
        Err(e) if batch.len() == 1 => {
            let append = batch.pop().expect("one append");
            let _ = append.reply.send(Err(e));
        }
        Err(e) => {
            tracing::debug!(error = %e, size = batch.len(), "append batch failed; retrying one by one");
            for append in batch.drain(..) {
                let result = write(conn, lists, std::slice::from_ref(&append));
                let _ = append.reply.send(result.map(|mut one| one.pop().flatten()));
            }
        }
    }
}

/// Writes `batch` in one transaction: every append or none.
/// The callers are answered after this returns, so the guard on the batch's
/// tenants' lists is gone by the time anyone can read what it wrote.
fn write(
    conn: &rusqlite::Connection,
    lists: &Arc<ListAnchors>,
    batch: &[Append],
) -> StoreResult<Vec<Option<Message>>> {
    let _changing = lists.changing(batch.iter().map(|append| append.tenant));
    conn.prepare_cached("BEGIN IMMEDIATE")
        .and_then(|mut begin| begin.execute([]))
        .map_err(sqlite)?;
    let written = append_all(conn, batch).and_then(|messages| {
        conn.prepare_cached("COMMIT")
            .and_then(|mut commit| commit.execute([]))
            .map_err(sqlite)
            .map(|_| messages)
    });
    if written.is_err() && !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::warn!(error = %e, "rolling back a failed append batch failed");
        }
    }
    written
}

fn append_all(raw: &rusqlite::Connection, batch: &[Append]) -> StoreResult<Vec<Option<Message>>> {
    batch
        .iter()
        .map(|append| {
            // Read under the write lock, so that times follow seq order.
            let now = now_us();
            append_on(raw, append.tenant, append.conversation, &append.new, now)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use enuchat_domain::{MessageContent, MessageRole, Store};
    use enuchat_store_tests::fixtures::{conversation, tenant_with_widget};
    use std::time::Duration;

    /// A message is acknowledged after its commit, and that commit waits for
    /// the disk, as the store's other writes do.
    #[tokio::test]
    async fn the_appenders_commits_wait_for_the_disk() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let synchronous: i64 = appender_connection(&store)
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
    }

    /// A connection of the appender's kind to `store`'s throwaway file.
    fn appender_connection(store: &SqliteStore) -> rusqlite::Connection {
        let file = store._throwaway.as_ref().expect("a throwaway database");
        open(&file.0).unwrap()
    }

    fn append(
        tenant: TenantId,
        conversation: ConversationId,
        body: &str,
    ) -> (Append, oneshot::Receiver<StoreResult<Option<Message>>>) {
        let (reply, answer) = oneshot::channel();
        (
            Append {
                tenant,
                conversation,
                new: text(body),
                reply,
            },
            answer,
        )
    }

    fn text(text: &str) -> NewMessage {
        NewMessage::new(
            MessageRole::Visitor,
            MessageContent::parse(text.into()).unwrap(),
        )
    }

    /// One failing append in a batch fails alone: its neighbours are
    /// stored and answered, in order, and nothing of the failed one stays.
    #[tokio::test]
    async fn a_failing_append_does_not_fail_its_batch() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.content = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(&store.writer.pool)
        .await
        .unwrap();
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        let conversation = conversation(&store, tenant.id, widget.id).await;

        let mut batch = Vec::new();
        let mut answers = Vec::new();
        for text in ["one", "boom", "two"] {
            let (a, answer) = append(tenant.id, conversation.id, text);
            batch.push(a);
            answers.push(answer);
        }
        let (missing, missing_answer) = append(tenant.id, ConversationId::new(), "nowhere");
        batch.push(missing);
        commit_batch(&appender_connection(&store), &store.lists, &mut batch);
        assert!(batch.is_empty());

        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        let one = results[0].as_ref().unwrap().as_ref().unwrap();
        assert!(results[1].is_err(), "the refused append fails");
        let two = results[2].as_ref().unwrap().as_ref().unwrap();
        assert_eq!((one.seq, two.seq), (1, 2), "no seq spent on the failed one");
        assert_eq!(missing_answer.await.unwrap().unwrap(), None);
        let stored = store
            .recent_messages(tenant.id, conversation.id, 10)
            .await
            .unwrap();
        assert_eq!(stored, vec![one.clone(), two.clone()]);
    }

    /// Another connection holding the write lock (another process on the
    /// same file) does not fail a batch: it waits for the lock, and is
    /// written once the lock is free.
    #[tokio::test]
    async fn a_batch_waits_for_a_write_lock_held_elsewhere() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        let conversation = conversation(&store, tenant.id, widget.id).await;

        let other = appender_connection(&store);
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (a, answer) = append(tenant.id, conversation.id, "after the lock");
        let conn = appender_connection(&store);
        let lists = store.lists.clone();
        let batch = tokio::task::spawn_blocking(move || {
            commit_batch(&conn, &lists, &mut vec![a]);
            conn
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!batch.is_finished(), "the batch waits for the lock");
        other.execute_batch("COMMIT").unwrap();
        let conn = batch.await.unwrap();
        let message = answer.await.unwrap().unwrap().unwrap();
        assert_eq!(message.seq, 1);
        let stored = store
            .recent_messages(tenant.id, conversation.id, 10)
            .await
            .unwrap();
        assert_eq!(stored, vec![message]);
        let (b, answer) = append(tenant.id, conversation.id, "and then");
        commit_batch(&conn, &store.lists, &mut vec![b]);
        assert_eq!(answer.await.unwrap().unwrap().unwrap().seq, 2);
    }

    /// The store's other writes and its appends take turns in this process:
    /// an append waits for a write transaction in progress, however long it
    /// takes (past SQLite's busy timeout too), and is then written.
    #[tokio::test]
    async fn an_append_waits_its_turn_behind_another_write() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        let conversation = conversation(&store, tenant.id, widget.id).await;

        let mut tx = store.begin_write().await.unwrap();
        sqlx::query("UPDATE tenants SET name = 'Acme 2' WHERE id = ?")
            .bind(tenant.id.0)
            .execute(&mut *tx)
            .await
            .unwrap();
        let appending = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_message(tenant.id, conversation.id, text("waits"))
                    .await
            })
        };
        // Past the busy timeout: an append that met the lock inside SQLite
        // would have failed by now.
        tokio::time::sleep(BUSY_TIMEOUT + Duration::from_millis(500)).await;
        assert!(!appending.is_finished(), "the append waits for the turn");
        tx.commit().await.unwrap();
        let message = appending.await.unwrap().unwrap().unwrap();
        assert_eq!(message.seq, 1);
    }

    /// Stopping writes what was queued before it, then refuses appends.
    #[tokio::test]
    async fn stopping_writes_what_was_queued_and_refuses_the_rest() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        let conversation = conversation(&store, tenant.id, widget.id).await;

        assert_eq!(store.appender.counts(), (0, 1), "open and idle");
        // Hold the turn so that the appends queue, then stop behind them.
        let tx = store.begin_write().await.unwrap();
        let mut queued = Vec::new();
        for n in 0..3 {
            let store = store.clone();
            queued.push(tokio::spawn(async move {
                let new = text(&format!("queued {n}"));
                store.append_message(tenant.id, conversation.id, new).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopping = {
            let appender = store.appender.clone();
            tokio::spawn(async move { appender.stop().await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(tx);
        stopping.await.unwrap();
        assert_eq!(store.appender.counts(), (0, 0), "closed once stopped");
        for append in queued {
            assert!(
                append.await.unwrap().unwrap().is_some(),
                "written before the stop"
            );
        }
        let late = store
            .append_message(tenant.id, conversation.id, text("late"))
            .await;
        assert!(late.is_err(), "{late:?}");
        let stored = store
            .recent_messages(tenant.id, conversation.id, 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 3);
    }
}
