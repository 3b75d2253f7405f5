//! Group commit for message appends.
//!
//! SQLite has one writer, so concurrent appends queue for it anyway. Instead
//! of one transaction each (BEGIN, the append, COMMIT: trips to sqlx's
//! connection thread and one WAL commit per message), one task takes every
//! append waiting at that moment and writes them in a single transaction,
//! begun, written and committed straight on the connection's SQLite handle
//! (`raw_connection.rs`): one hand-over from sqlx's worker thread per batch.
//! Nothing waits for a batch to fill: a lone append is written at once, and
//! under load the batch is whatever queued while the previous one committed.
//!
//! A caller gets its answer only after the commit, so an acknowledged message
//! is durable exactly as before. If any append in a batch fails, the batch is
//! rolled back and each append is retried in its own transaction, so one bad
//! request cannot fail its neighbours.

use crate::checkpointer::Checkpointer;
use crate::messages::append_on;
use crate::raw_connection::with_raw_connection;
use crate::{db, now_us, sqlite, BUSY_TIMEOUT};
use enuchat_domain::store::StoreResult;
use enuchat_domain::{ConversationId, Message, NewMessage, StoreError, TenantId};
use sqlx::{Connection, SqlitePool};
use std::time::Duration;
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

/// The handle the store keeps; the writing task ends when every handle is
/// dropped.
#[derive(Clone)]
pub(crate) struct Appender {
    queue: mpsc::Sender<Append>,
}

/// The writing task's connection, and who checkpoints what it commits.
struct Writer {
    pool: SqlitePool,
    checkpointer: Checkpointer,
}

impl Appender {
    /// Starts the writing task on the current Tokio runtime.
    pub(crate) fn start(pool: SqlitePool, checkpointer: Checkpointer) -> Appender {
        let (queue, incoming) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(Writer { pool, checkpointer }, incoming));
        Appender { queue }
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
        self.queue.send(request).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the SQLite message writer has stopped".into())
}

async fn write_batches(writer: Writer, mut incoming: mpsc::Receiver<Append>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while incoming.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&writer, &mut batch).await;
    }
}

/// Writes and answers every append in `batch`, leaving it empty.
async fn commit_batch(writer: &Writer, batch: &mut Vec<Append>) {
    match write(writer, batch).await {
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
                let result = write(writer, std::slice::from_ref(&append)).await;
                let _ = append.reply.send(result.map(|mut one| one.pop().flatten()));
            }
        }
    }
}

/// Writes `batch` in one transaction: every append or none.
async fn write(writer: &Writer, batch: &[Append]) -> StoreResult<Vec<Option<Message>>> {
    let mut conn = writer.pool.acquire().await.map_err(db)?;
    let quick = with_raw_connection(&mut conn, |raw| write_if_unlocked(raw, batch)).await?;
    let messages = match quick {
        Some(messages) => messages,
        None => {
            // Another connection (another process on the same file) holds
            // the write lock: wait for it on sqlx's worker thread, not on a
            // runtime thread.
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
            let messages = with_raw_connection(&mut tx, |raw| append_all(raw, batch)).await?;
            tx.commit().await.map_err(db)?;
            messages
        }
    };
    writer.checkpointer.committed();
    Ok(messages)
}

/// The whole transaction on the raw handle, in one hand-over from sqlx's
/// worker instead of three (BEGIN, the appends, COMMIT), provided the write
/// lock is free at once; `None` when it is not, having written nothing.
/// Waiting for the lock here would block a runtime thread for up to the
/// busy timeout. In the server the appender is the only writer of the
/// messages, so the lock is normally free.
fn write_if_unlocked(
    raw: &rusqlite::Connection,
    batch: &[Append],
) -> StoreResult<Option<Vec<Option<Message>>>> {
    raw.busy_timeout(Duration::ZERO).map_err(sqlite)?;
    let began = raw.execute_batch("BEGIN IMMEDIATE");
    raw.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    match began {
        Ok(()) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            return Ok(None)
        }
        Err(e) => return Err(sqlite(e)),
    }
    let written = append_all(raw, batch).and_then(|messages| {
        raw.execute_batch("COMMIT")
            .map_err(sqlite)
            .map(|()| messages)
    });
    if written.is_err() && !raw.is_autocommit() {
        // Give sqlx its connection back as it lent it: outside a transaction.
        if let Err(e) = raw.execute_batch("ROLLBACK") {
            tracing::warn!(error = %e, "rolling back a failed append batch failed");
        }
    }
    written.map(Some)
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

    fn writer_of(store: &SqliteStore) -> Writer {
        Writer {
            pool: store.writer.clone(),
            checkpointer: Checkpointer::idle(),
        }
    }

    fn append(
        tenant: TenantId,
        conversation: ConversationId,
        text: &str,
    ) -> (Append, oneshot::Receiver<StoreResult<Option<Message>>>) {
        let (reply, answer) = oneshot::channel();
        let new = NewMessage::new(
            MessageRole::Visitor,
            MessageContent::parse(text.into()).unwrap(),
        );
        (
            Append {
                tenant,
                conversation,
                new,
                reply,
            },
            answer,
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
        .execute(&store.writer)
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
        commit_batch(&writer_of(&store), &mut batch).await;
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
    /// same file) does not fail a batch: it waits for the lock on sqlx's
    /// thread and is written once the lock is free.
    #[tokio::test]
    async fn a_batch_waits_for_a_write_lock_held_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        let conversation = conversation(&store, tenant.id, widget.id).await;

        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (a, answer) = append(tenant.id, conversation.id, "after the lock");
        let writer = writer_of(&store);
        let batch = tokio::spawn(async move { commit_batch(&writer, &mut vec![a]).await });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!batch.is_finished(), "the batch waits for the lock");
        other.execute_batch("COMMIT").unwrap();
        batch.await.unwrap();
        let message = answer.await.unwrap().unwrap().unwrap();
        assert_eq!(message.seq, 1);
        let stored = store
            .recent_messages(tenant.id, conversation.id, 10)
            .await
            .unwrap();
        assert_eq!(stored, vec![message]);
        // Still the writer's own connection afterwards: the next batch goes
        // the quick way and follows on.
        let (b, answer) = append(tenant.id, conversation.id, "and then");
        commit_batch(&writer_of(&store), &mut vec![b]).await;
        assert_eq!(answer.await.unwrap().unwrap().unwrap().seq, 2);
    }
}
