//! Group commit for message appends.
//!
//! SQLite has one writer, so concurrent appends queue for it anyway. Instead
//! of one transaction each (BEGIN, the append, COMMIT: trips to sqlx's
//! connection thread and one WAL commit per message), one task takes every
//! append waiting at that moment and writes them in a single transaction,
//! the appends themselves straight on the connection's SQLite handle
//! (`raw_connection.rs`).
//! Nothing waits for a batch to fill: a lone append is written at once, and
//! under load the batch is whatever queued while the previous one committed.
//!
//! A caller gets its answer only after the commit, so an acknowledged message
//! is durable exactly as before. If any append in a batch fails, the batch is
//! rolled back and each append is retried in its own transaction, so one bad
//! request cannot fail its neighbours.

use crate::messages::append_on;
use crate::raw_connection::with_raw_connection;
use crate::{db, now_us};
use enuchat_domain::store::StoreResult;
use enuchat_domain::{ConversationId, Message, NewMessage, StoreError, TenantId};
use sqlx::SqlitePool;
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

impl Appender {
    /// Starts the writing task on the current Tokio runtime.
    pub(crate) fn start(writer: SqlitePool) -> Appender {
        let (queue, incoming) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(writer, incoming));
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

async fn write_batches(writer: SqlitePool, mut incoming: mpsc::Receiver<Append>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while incoming.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&writer, &mut batch).await;
    }
}

/// Writes and answers every append in `batch`, leaving it empty.
async fn commit_batch(writer: &SqlitePool, batch: &mut Vec<Append>) {
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
async fn write(writer: &SqlitePool, batch: &[Append]) -> StoreResult<Vec<Option<Message>>> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let messages = with_raw_connection(&mut tx, |conn| {
        batch
            .iter()
            .map(|append| {
                // Read under the write lock, so that times follow seq order.
                let now = now_us();
                append_on(conn, append.tenant, append.conversation, &append.new, now)
            })
            .collect()
    })
    .await?;
    tx.commit().await.map_err(db)?;
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use enuchat_domain::{MessageContent, MessageRole, Store};
    use enuchat_store_tests::fixtures::{conversation, tenant_with_widget};

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
        commit_batch(&store.writer, &mut batch).await;
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
}
