//! Turns at SQLite's write lock for the two writer connections of the store.
//!
//! Message appends have a connection of their own, on the appender's thread
//! (`appender.rs`), so that its prepared statements live as long as it does.
//! Every other write goes through [`Writer`], a pool of one sqlx connection.
//! Both take a [`WriteTurn`] first: a fair queue in this process, so neither
//! meets the other's lock inside SQLite, where the busy handler would sleep
//! a millisecond or more and let a steady stream of appends starve the rest.
//! Another process on the same file still meets `busy_timeout`.
//!
//! Every write asks the checkpoint thread for a pass once its turn is over
//! (`checkpointer.rs`), as appends do: otherwise a server with few messages
//! but other writes (conversations, jobs, sign-ins) keeps them in the WAL
//! until the writer's own backstop checkpoint, which runs inside a commit.

use crate::checkpointer::Checkpointer;
use crate::db;
use crate::list_anchors::Changing;
use enuchat_domain::store::StoreResult;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One turn at writing at a time, in the order asked for.
#[derive(Clone)]
pub(crate) struct WriteTurn(Arc<Semaphore>);

/// Held while writing; the next in line goes when it is dropped.
pub(crate) struct Turn {
    _permit: OwnedSemaphorePermit,
}

impl WriteTurn {
    pub(crate) fn new() -> WriteTurn {
        WriteTurn(Arc::new(Semaphore::new(1)))
    }

    pub(crate) async fn take(&self) -> Turn {
        // The semaphore is never closed.
        Turn {
            _permit: self.0.clone().acquire_owned().await.expect("open"),
        }
    }

    /// For a thread outside the runtime (the appender's).
    pub(crate) fn take_blocking(&self) -> Turn {
        futures::executor::block_on(self.take())
    }
}

/// The pool of one connection for writes other than appends.
#[derive(Clone)]
pub(crate) struct Writer {
    pub(crate) pool: SqlitePool,
    turn: WriteTurn,
    checkpointer: Checkpointer,
}

impl Writer {
    pub(crate) fn new(pool: SqlitePool, turn: WriteTurn, checkpointer: Checkpointer) -> Writer {
        Writer {
            pool,
            turn,
            checkpointer,
        }
    }

    /// No more checkpoint passes: the store is closing.
    pub(crate) async fn stop_checkpoints(&self) {
        // Logged when it did not stop in time; closing goes on either way.
        let _ = self.checkpointer.stop().await;
    }

    /// The connection, for one or more statements outside a transaction
    /// (each its own transaction).
    pub(crate) async fn acquire(&self) -> StoreResult<WriteConn> {
        let turn = self.turn.take().await;
        let conn = self.pool.acquire().await.map_err(db)?;
        Ok(WriteConn {
            conn,
            _turn: turn,
            _checkpoint: CheckpointAfter(self.checkpointer.clone()),
        })
    }

    /// A transaction holding SQLite's write lock from its start.
    pub(crate) async fn begin(&self) -> StoreResult<WriteTx> {
        let turn = self.turn.take().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok(WriteTx {
            tx,
            _turn: turn,
            _changing: None,
            _checkpoint: CheckpointAfter(self.checkpointer.clone()),
        })
    }
}

/// Asks for a checkpoint when dropped: the last field of a write, so after
/// its turn is given back. A rolled-back write asks too; a pass with
/// nothing to copy is cheap.
struct CheckpointAfter(Checkpointer);

impl Drop for CheckpointAfter {
    fn drop(&mut self) {
        self.0.committed();
    }
}

/// The writer connection and the turn, given back together (fields drop in
/// order: the connection first).
pub(crate) struct WriteConn {
    conn: PoolConnection<Sqlite>,
    _turn: Turn,
    _checkpoint: CheckpointAfter,
}

impl Deref for WriteConn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

/// A write transaction and the turn; dropped without `commit`, it rolls back.
/// Fields drop in order: the transaction (rolled back if not committed)
/// before the turn and the lists guard.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: Turn,
    /// Held until after the commit by writes that change conversation lists.
    _changing: Option<Changing>,
    _checkpoint: CheckpointAfter,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        if self._changing.is_none() {
            return self.tx.commit().await;
        }
        // A write holding a lists guard commits on a task of its own, so
        // that the guard drops after the commit even when the caller is
        // dropped half-way (a client gone): a guard gone before its commit
        // lands would let anchors be built from the state before it.
        tokio::spawn(async move {
            let WriteTx {
                tx,
                _turn,
                _changing,
                _checkpoint,
            } = self;
            tx.commit().await
        })
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("the commit task ended early: {e}")))?
    }

    pub(crate) fn hold(&mut self, changing: Changing) {
        self._changing = Some(changing);
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}
