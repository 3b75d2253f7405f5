//! Group commit for message appends.
//!
//! Every append notifies (`pg_notify`), and PostgreSQL serialises the
//! commits of notifying transactions: each one holds a database-wide lock
//! from its commit until its WAL record is flushed, so concurrent appends
//! cannot share a flush (`pgbench`, 8 clients: 6,068 appends/s without the
//! notify, 3,203 with it; bench/profiles/README.md). Here the appends waiting
//! at one moment are written in one transaction instead: one commit, one
//! flush and one turn of that lock for the whole batch.
//!
//! A few writer tasks share one queue. A writer takes whatever waits when it
//! becomes free, so nothing waits for a batch to fill: a lone append is one
//! statement in its own transaction, exactly as without batching, and under
//! load a batch is what queued while the writers were busy.
//!
//! - A caller is answered only after the commit, so an acknowledged message
//!   is as durable as before.
//! - A batch whose appends all go to different conversations (the usual case
//!   under load) is written in one statement (`batch_append.rs`), after its
//!   conversations' rows are locked: one round trip and one executor
//!   start-up for the batch instead of one per append. A batch with two
//!   appends to one conversation writes them one statement each, in order.
//! - If any append of a batch fails, the batch is rolled back and each of its
//!   appends is written again in its own transaction, so one bad request
//!   cannot fail its neighbours.
//! - A batch locks its conversations in conversation-id order (appends to one
//!   conversation keep their queue order). Batches of any writer, on any
//!   instance, then take row locks in one global order and cannot deadlock
//!   each other.
//! - Appends with a job plan (`NewMessage::plan`) need their conversations'
//!   facts. A batch with any such append reads the facts of all its
//!   conversations in one statement, first in its transaction, locking
//!   their rows in id order as its appends would; so no other writer can
//!   change them before the appends, and one read serves the whole batch
//!   instead of one per request. A later message of a conversation is
//!   planned on the facts as the batch's earlier ones changed them.
//! - A lone planned append plans on facts read without a lock, then appends
//!   with a statement that only matches while they are unchanged; if they
//!   changed in between, it is written again as a batch of one, under the
//!   lock. The facts come from the writers' [`FactsCache`] when it holds the
//!   conversation (what its last append here left), so a conversation that
//!   is being written to needs one round trip per append, not two; only
//!   when they are not cached are they read first.

use crate::batch_append::{append_batch_on, fits_one_statement, BatchAppend};
use crate::conversations::{self, lock_facts};
use crate::error::db_err;
use crate::facts_cache::FactsCache;
use crate::messages::{append_on, Planned};
use enuchat_domain::store::StoreResult;
use enuchat_domain::{
    ConversationFacts, ConversationId, Message, NewMessage, StoreError, TenantId,
};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Writer tasks, so appends of different conversations also run side by
/// side. A writer spends much of its time waiting for round trips, so with
/// 2 a saturated server left a quarter of the benchmark machine's 2 cores
/// idle. With one statement per append, 4 raised the POST peak from
/// 3,135-4,065 to 4,978-4,989/s; with one statement per batch, 4 still
/// reached the most (10,380-11,626/s against 9,226-10,428 with 2 and
/// 9,192-10,318 with 8, whose batches are smaller; bench/profiles/README.md,
/// session 29). Each writer takes a pooled connection only while it writes.
const WRITERS: usize = 4;
/// The most appends in one transaction: bounds how long a batch holds its
/// conversations' row locks.
const MAX_BATCH: usize = 32;
/// Appends that may wait for a writer before callers wait to enqueue.
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<StoreResult<Option<Message>>>;

struct Append {
    tenant: TenantId,
    conversation: ConversationId,
    new: NewMessage,
    reply: Reply,
}

/// The handle the store keeps; the writers end when every handle is dropped
/// (after writing what is queued).
#[derive(Debug, Clone)]
pub(crate) struct Appender {
    queue: mpsc::Sender<Append>,
}

impl Appender {
    /// Starts the writers on the current Tokio runtime.
    pub(crate) fn start(pool: PgPool) -> Appender {
        let (queue, incoming) = mpsc::channel(QUEUE);
        let incoming = Arc::new(Mutex::new(incoming));
        let facts = Arc::new(FactsCache::new());
        for _ in 0..WRITERS {
            let writer = Writer {
                pool: pool.clone(),
                facts: Arc::clone(&facts),
            };
            tokio::spawn(writer.write_batches(Arc::clone(&incoming)));
        }
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
    StoreError::Database("the PostgreSQL message writer has stopped".into())
}

/// One writer task: what it writes with.
struct Writer {
    pool: PgPool,
    /// Shared by the writers (see [`FactsCache`]).
    facts: Arc<FactsCache>,
}

/// Facts read and locked by a batch's transaction, by tenant and
/// conversation, moved on past the batch's appends.
type LockedFacts = HashMap<(TenantId, ConversationId), ConversationFacts>;

impl Writer {
    /// Waits for its turn at the queue, takes what is there, writes it. Only
    /// the writer holding the lock waits on the queue; the others are busy
    /// writing or waiting for the lock.
    async fn write_batches(self, incoming: Arc<Mutex<mpsc::Receiver<Append>>>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let taken = incoming.lock().await.recv_many(&mut batch, MAX_BATCH).await;
            if taken == 0 {
                return; // every handle is gone and the queue is empty
            }
            self.commit_batch(&mut batch).await;
        }
    }

    /// Writes and answers every append in `batch`, leaving it empty.
    async fn commit_batch(&self, batch: &mut Vec<Append>) {
        if batch.len() == 1 {
            let append = batch.pop().expect("one append");
            let result = self.append_alone(&append).await;
            // The caller may have gone (client disconnected); the message is
            // stored all the same.
            let _ = append.reply.send(result);
            return;
        }
        // Stable: one conversation's appends keep their queue order.
        batch.sort_by_key(|append| append.conversation.0);
        match self.write(batch).await {
            Ok(messages) => {
                for (append, message) in batch.drain(..).zip(messages) {
                    let _ = append.reply.send(Ok(message));
                }
            }
            Err(Failed::AtCommit(e)) => {
                // The outcome is unknown (the connection broke during COMMIT):
                // writing again could store the messages twice. Each caller
                // hears what a lone append's caller would.
                for append in batch.drain(..) {
                    self.facts.forget(append.tenant, append.conversation);
                    let _ = append.reply.send(Err(e.clone()));
                }
            }
            Err(Failed::BeforeCommit(e)) => {
                tracing::debug!(error = %e, size = batch.len(), "append batch failed; retrying one by one");
                for append in batch.drain(..) {
                    let result = self.append_alone(&append).await;
                    let _ = append.reply.send(result);
                }
            }
        }
    }

    /// Writes one append on its own, in its statement's transaction. With a
    /// plan, it is planned on the conversation's cached facts, or on facts
    /// read first, and the statement only matches while they still hold;
    /// when they do not (changed in between, or cached out of date), the
    /// append is written again as a batch of one (the facts read under the
    /// row lock).
    async fn append_alone(&self, append: &Append) -> StoreResult<Option<Message>> {
        let (tenant, conversation, new) = (append.tenant, append.conversation, &append.new);
        let pool = &self.pool;
        let Some(plan) = new.plan else {
            let unplanned = Planned::default();
            let message = append_on(pool, tenant, conversation, new, &unplanned, &[tenant.0]).await;
            if let Ok(Some(_)) = message {
                self.facts.advance(tenant, conversation, new);
            }
            return message;
        };
        let facts = match self.facts.get(tenant, conversation) {
            Some(cached) => cached,
            None => match conversations::facts(pool, tenant, conversation).await? {
                Some(read) => read,
                None => return Ok(None), // not the tenant's conversation
            },
        };
        let planned = Planned::unlocked(plan, &facts, new);
        match append_on(pool, tenant, conversation, new, &planned, &[tenant.0]).await? {
            Some(message) => {
                let mut facts = facts;
                facts.after(new);
                self.facts.put(tenant, conversation, facts);
                Ok(Some(message))
            }
            // Conversations are never deleted: their facts changed (or the
            // cached ones were out of date).
            None => {
                tracing::debug!(%conversation, "facts changed before the append; planning under the lock");
                self.facts.forget(tenant, conversation);
                match self.write(std::slice::from_ref(append)).await {
                    Ok(mut messages) => Ok(messages.pop().flatten()),
                    Err(Failed::BeforeCommit(e) | Failed::AtCommit(e)) => Err(e),
                }
            }
        }
    }

    /// Writes `batch` in one transaction: every append or none. Once it is
    /// committed, the facts it read are cached as its appends left them.
    async fn write(&self, batch: &[Append]) -> Result<Vec<Option<Message>>, Failed> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| Failed::BeforeCommit(db_err(e)))?;
        let one_statement = fits_one_statement(batch.iter().map(|append| append.conversation));
        // The one statement relies on the rows being locked in id order
        // before it runs, so its batch reads (and locks) facts even when no
        // append has a plan.
        let (planned, locked) = plan_batch(&mut tx, batch, one_statement)
            .await
            .map_err(Failed::BeforeCommit)?;
        let messages = if one_statement {
            let appends: Vec<BatchAppend> = batch
                .iter()
                .zip(&planned)
                .map(|(append, planned)| BatchAppend {
                    tenant: append.tenant,
                    conversation: append.conversation,
                    new: &append.new,
                    planned,
                })
                .collect();
            append_batch_on(&mut tx, &appends)
                .await
                .map_err(Failed::BeforeCommit)?
        } else {
            append_each(&mut tx, batch, &planned)
                .await
                .map_err(Failed::BeforeCommit)?
        };
        tx.commit().await.map_err(|e| Failed::AtCommit(db_err(e)))?;
        match locked {
            Some(locked) => {
                for ((tenant, conversation), facts) in locked {
                    self.facts.put(tenant, conversation, facts);
                }
            }
            None => {
                for (append, message) in batch.iter().zip(&messages) {
                    if message.is_some() {
                        self.facts
                            .advance(append.tenant, append.conversation, &append.new);
                    }
                }
            }
        }
        Ok(messages)
    }
}

/// Writes `batch`'s appends one statement each, in order, on `tx`.
async fn append_each(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &[Append],
    planned: &[Planned<'_>],
) -> StoreResult<Vec<Option<Message>>> {
    let tenants: Vec<uuid::Uuid> = batch.iter().map(|append| append.tenant.0).collect();
    let mut messages = Vec::with_capacity(batch.len());
    for (i, (append, planned)) in batch.iter().zip(planned).enumerate() {
        let last = i + 1 == batch.len();
        // An append whose conversation is not its tenant's still runs (its
        // statement matches nothing): the last one bumps the list versions.
        let message = append_on(
            &mut **tx,
            append.tenant,
            append.conversation,
            &append.new,
            planned, // on the facts the transaction holds locked
            if last { &tenants } else { &[] },
        )
        .await?;
        messages.push(message);
    }
    Ok(messages)
}

/// Why a batch was not written.
enum Failed {
    /// Nothing was written: the transaction did not start, or a statement
    /// failed and the transaction was dropped (rolled back).
    BeforeCommit(StoreError),
    /// COMMIT itself failed; whether it took effect is unknown.
    AtCommit(StoreError),
}

/// What the plan of each append of `batch` decides, in order, and the facts
/// that were read for it. With any plan in the batch, or with `lock`, the
/// facts of all its conversations are read and locked first in its
/// transaction (all of them, so the locks are taken in id order), and for a
/// conversation with several appends moved on as each one will change them;
/// otherwise nothing is read (`None`).
async fn plan_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &[Append],
    lock: bool,
) -> StoreResult<(Vec<Planned<'static>>, Option<LockedFacts>)> {
    if !lock && batch.iter().all(|append| append.new.plan.is_none()) {
        let unplanned = batch.iter().map(|_| Planned::default()).collect();
        return Ok((unplanned, None));
    }
    let conversations: Vec<(TenantId, ConversationId)> = batch
        .iter()
        .map(|append| (append.tenant, append.conversation))
        .collect();
    let mut facts = lock_facts(&mut **tx, &conversations).await?;
    let planned = batch
        .iter()
        .map(|append| {
            let key = (append.tenant, append.conversation);
            let Some(facts) = facts.get_mut(&key) else {
                return Planned::default(); // not the tenant's: nothing is appended
            };
            let planned = Planned::locked(append.new.plan, facts, &append.new);
            facts.after(&append.new);
            planned
        })
        .collect();
    Ok((planned, Some(facts)))
}
