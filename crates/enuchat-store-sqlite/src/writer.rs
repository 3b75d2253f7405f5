//! Turns at SQLite's write lock for the two writer connections of the store.
//!
//! Message appends have a connection of their own, on the appender's thread
//! (`appender.rs`), so that its prepared statements live as long as it does.
//! Every other write goes through [`Writer`], a pool of one sqlx connection.
//! Both take a [`WriteTurn`] first: a fair queue in this process, so neither
//! meets the other's lock inside SQLite, where the busy handler would sleep
//! a millisecond or more and let a steady stream of appends starve the rest.
//! Another process on the same file still meets `busy_timeout`.

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
}

impl Writer {
    pub(crate) fn new(pool: SqlitePool, turn: WriteTurn) -> Writer {
        Writer { pool, turn }
    }

    /// The connection, for one or more statements outside a transaction
    /// (each its own transaction).
    pub(crate) async fn acquire(&self) -> StoreResult<WriteConn> {
        let turn = self.turn.take().await;
        let conn = self.pool.acquire().await.map_err(db)?;
        Ok(WriteConn { conn, _turn: turn })
    }

    /// A transaction holding SQLite's write lock from its start.
    pub(crate) async fn begin(&self) -> StoreResult<WriteTx> {
        let turn = self.turn.take().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok(WriteTx {
            tx,
            _turn: turn,
            _changing: None,
        })
    }
}

/// The writer connection and the turn, given back together (fields drop in
/// order: the connection first).
pub(crate) struct WriteConn {
    conn: PoolConnection<Sqlite>,
    _turn: Turn,
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
