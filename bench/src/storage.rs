//! Storage baselines, driven directly without HTTP: a raw single-row insert
//! into a `messages` table and an indexed 20-row select from a
//! `conversations` table, with the same columns, types and indexes as
//! enuchat's own tables and the same connection settings (SQLite: WAL,
//! synchronous=FULL, one writer connection, 8 readers; PostgreSQL: a pool
//! of 10, the server's default).
//!
//! SQLite is driven through rusqlite, the leanest way to reach it from Rust:
//! inserts go to one writer thread that owns the connection (one hand-off
//! each way, as any shared writer needs), selects run where they are awaited
//! on a pool of reader connections. The tables are created and filled
//! through sqlx, which is not measured.

use anyhow::{bail, Context};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const CONVERSATION_POOL: usize = 1000;
/// Reader connections kept open, as the server keeps.
const SQLITE_READERS: usize = 8;
const INSERT_CONTENT: &str = "Thanks for chatting! Is there anything else we can help with?";

pub enum Backend {
    Sqlite(RawSqlite),
    Postgres(PgPool),
}

type InsertReply = tokio::sync::oneshot::Sender<rusqlite::Result<usize>>;

/// One insert for the writer thread: its values, and where to answer.
struct Insert {
    id: Uuid,
    conversation: Uuid,
    seq: i64,
    reply: InsertReply,
}

/// The SQLite baseline's connections.
pub struct RawSqlite {
    inserts: std::sync::mpsc::Sender<Insert>,
    readers: Mutex<Vec<rusqlite::Connection>>,
    path: PathBuf,
}

impl RawSqlite {
    fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
        let connection = rusqlite::Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "wal")?;
        connection.pragma_update(None, "synchronous", "full")?;
        connection.busy_timeout(Duration::from_secs(5))?;
        Ok(connection)
    }

    fn start(path: PathBuf, tenant: Uuid) -> anyhow::Result<RawSqlite> {
        let writer = RawSqlite::open(&path)?;
        let (inserts, queue) = std::sync::mpsc::channel::<Insert>();
        std::thread::Builder::new()
            .name("raw-sqlite-writer".into())
            .spawn(move || {
                for insert in queue {
                    let result = writer
                        .prepare_cached(
                            "INSERT INTO messages (id, tenant_id, conversation_id, seq, role, \
                             content, content_language, is_auto_reply, author_id, created_at) \
                             VALUES (?, ?, ?, ?, 'operator', ?, NULL, 0, NULL, ?)",
                        )
                        .and_then(|mut statement| {
                            statement.execute((
                                insert.id.as_bytes().as_slice(),
                                tenant.as_bytes().as_slice(),
                                insert.conversation.as_bytes().as_slice(),
                                insert.seq,
                                INSERT_CONTENT,
                                now_us(),
                            ))
                        });
                    // The caller may have given up; nothing to do then.
                    let _ = insert.reply.send(result);
                }
            })?;
        Ok(RawSqlite {
            inserts,
            readers: Mutex::new(Vec::new()),
            path,
        })
    }

    /// Runs `read` on an idle reader connection (opening one if none is).
    fn read<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> anyhow::Result<T> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => RawSqlite::open(&self.path)?,
        };
        let result = read(&connection);
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if readers.len() < SQLITE_READERS {
            readers.push(connection);
        }
        Ok(result?)
    }
}

pub struct Storage {
    pub backend: Backend,
    tenant: Uuid,
    conversations: Vec<Uuid>,
    seq: AtomicU64,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

const SQLITE_SCHEMA: &[&str] = &[
    "CREATE TABLE conversations (
        id BLOB NOT NULL PRIMARY KEY, tenant_id BLOB NOT NULL, widget_id BLOB NOT NULL,
        visitor_id TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
        assigned_to BLOB, visitor_language TEXT, last_seq INTEGER NOT NULL DEFAULT 0,
        last_message_at INTEGER NOT NULL, started_at INTEGER NOT NULL) STRICT",
    "CREATE INDEX conversations_recent ON conversations (tenant_id, last_message_at DESC, id DESC)",
    "CREATE TABLE messages (
        id BLOB NOT NULL PRIMARY KEY, tenant_id BLOB NOT NULL, conversation_id BLOB NOT NULL,
        seq INTEGER NOT NULL, role TEXT NOT NULL CHECK (role IN ('visitor', 'operator', 'system', 'ai')),
        content TEXT NOT NULL, content_language TEXT, translated_content TEXT, translated_language TEXT,
        is_auto_reply INTEGER NOT NULL CHECK (is_auto_reply IN (0, 1)), author_id BLOB,
        created_at INTEGER NOT NULL, UNIQUE (conversation_id, seq)) STRICT",
];

const PG_SCHEMA: &[&str] = &[
    "CREATE TABLE conversations (
        id uuid PRIMARY KEY, tenant_id uuid NOT NULL, widget_id uuid NOT NULL,
        visitor_id text NOT NULL, status text NOT NULL CHECK (status IN ('open', 'pending', 'closed')),
        assigned_to uuid, visitor_language text, last_seq bigint NOT NULL DEFAULT 0,
        last_message_at timestamptz NOT NULL, started_at timestamptz NOT NULL)",
    "CREATE INDEX conversations_recent ON conversations (tenant_id, last_message_at DESC, id DESC)",
    "CREATE TABLE messages (
        id uuid PRIMARY KEY, tenant_id uuid NOT NULL, conversation_id uuid NOT NULL,
        seq bigint NOT NULL, role text NOT NULL CHECK (role IN ('visitor', 'operator', 'system', 'ai')),
        content text NOT NULL, content_language text, translated_content text, translated_language text,
        is_auto_reply boolean NOT NULL, author_id uuid, created_at timestamptz NOT NULL,
        UNIQUE (conversation_id, seq))",
];

impl Storage {
    /// Creates the tables in an empty database at `url` and fills
    /// `conversations` rows of one tenant (plus two messages each).
    pub async fn create(url: &str, conversations: u64) -> anyhow::Result<Storage> {
        let tenant = Uuid::now_v7();
        let widget = Uuid::now_v7();
        let now = now_us();
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5));
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            for stmt in SQLITE_SCHEMA {
                sqlx::query(stmt).execute(&writer).await?;
            }
            sqlx::query(
                "INSERT INTO conversations WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ?) \
                 SELECT randomblob(16), ?, ?, 'v-' || n, CASE n % 3 WHEN 0 THEN 'open' WHEN 1 THEN 'pending' ELSE 'closed' END, \
                 NULL, 'en', 2, ? - n * 1000, ? - n * 2000 FROM s",
            )
            .bind(conversations as i64)
            .bind(tenant.as_bytes().as_slice())
            .bind(widget.as_bytes().as_slice())
            .bind(now)
            .bind(now)
            .execute(&writer)
            .await?;
            sqlx::query(
                "INSERT INTO messages SELECT randomblob(16), tenant_id, id, s.seq, 'visitor', \
                 'Hello, how much does it cost?', 'en', NULL, NULL, 0, NULL, last_message_at \
                 FROM conversations, (SELECT 1 AS seq UNION ALL SELECT 2) AS s",
            )
            .execute(&writer)
            .await?;
            writer.close().await;
            Backend::Sqlite(RawSqlite::start(options.get_filename().to_owned(), tenant)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .connect(url)
                .await?;
            for stmt in PG_SCHEMA {
                sqlx::query(stmt).execute(&pool).await?;
            }
            sqlx::query(
                "INSERT INTO conversations SELECT gen_random_uuid(), $2, $3, 'v-' || n, \
                 (ARRAY['open','pending','closed'])[n % 3 + 1], NULL, 'en', 2, \
                 to_timestamp(($4 - n * 1000)::float8 / 1e6), to_timestamp(($4 - n * 2000)::float8 / 1e6) \
                 FROM generate_series(1, $1) AS n",
            )
            .bind(conversations as i64)
            .bind(tenant)
            .bind(widget)
            .bind(now)
            .execute(&pool)
            .await?;
            sqlx::query(
                "INSERT INTO messages SELECT gen_random_uuid(), tenant_id, id, s, 'visitor', \
                 'Hello, how much does it cost?', 'en', NULL, NULL, false, NULL, last_message_at \
                 FROM conversations, generate_series(1, 2) AS s",
            )
            .execute(&pool)
            .await?;
            sqlx::query("ANALYZE").execute(&pool).await?;
            Backend::Postgres(pool)
        } else {
            bail!("unsupported database URL (sqlite:// or postgres://)");
        };
        let ids: Vec<Uuid> = match &backend {
            Backend::Sqlite(raw) => raw.read(|c| {
                c.prepare("SELECT id FROM conversations LIMIT ?")?
                    .query_map([CONVERSATION_POOL as i64], |row| row.get::<_, Uuid>(0))?
                    .collect::<rusqlite::Result<Vec<Uuid>>>()
            })?,
            Backend::Postgres(pool) => {
                sqlx::query_scalar("SELECT id FROM conversations LIMIT $1")
                    .bind(CONVERSATION_POOL as i64)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(Storage {
            backend,
            tenant,
            conversations: ids,
            // Above every prefilled seq, so inserts never collide.
            seq: AtomicU64::new(1_000),
        })
    }

    /// One durable single-row insert (its own implicit transaction).
    pub async fn insert(self: Arc<Self>, i: u64) -> anyhow::Result<()> {
        let conversation = self.conversations[(i as usize * 7919) % self.conversations.len()];
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) as i64;
        match &self.backend {
            Backend::Sqlite(raw) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                raw.inserts
                    .send(Insert {
                        id: Uuid::now_v7(),
                        conversation,
                        seq,
                        reply,
                    })
                    .context("the writer thread stopped")?;
                answer.await.context("the writer thread stopped")??;
            }
            Backend::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO messages (id, tenant_id, conversation_id, seq, role, content, \
                     content_language, is_auto_reply, author_id, created_at) \
                     VALUES ($1, $2, $3, $4, 'operator', $5, NULL, false, NULL, now())",
                )
                .bind(Uuid::now_v7())
                .bind(self.tenant)
                .bind(conversation)
                .bind(seq)
                .bind(INSERT_CONTENT)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// The first page of the tenant's conversations, newest first, read from
    /// the (tenant_id, last_message_at DESC, id DESC) index.
    pub async fn select(self: Arc<Self>, _i: u64) -> anyhow::Result<()> {
        let n = match &self.backend {
            Backend::Sqlite(raw) => raw
                .read(|c| {
                    c.prepare_cached(
                        "SELECT id, widget_id, visitor_id, status, assigned_to, visitor_language, \
                     last_seq, last_message_at, started_at FROM conversations WHERE tenant_id = ? \
                     ORDER BY last_message_at DESC, id DESC LIMIT 20",
                    )?
                    .query_map([self.tenant.as_bytes().as_slice()], ConversationRow::read)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })?
                .len(),
            Backend::Postgres(pool) => sqlx::query(
                "SELECT id, widget_id, visitor_id, status, assigned_to, visitor_language, \
                 last_seq, last_message_at, started_at FROM conversations WHERE tenant_id = $1 \
                 ORDER BY last_message_at DESC, id DESC LIMIT 20",
            )
            .bind(self.tenant)
            .fetch_all(pool)
            .await?
            .len(),
        };
        if n != 20 {
            bail!("select returned {n} rows, not 20");
        }
        Ok(())
    }
}

/// What the select reads of each row, owned as an application would hold it.
#[allow(dead_code)] // read to be measured, not looked at
struct ConversationRow {
    id: Vec<u8>,
    widget_id: Vec<u8>,
    visitor_id: String,
    status: String,
    assigned_to: Option<Vec<u8>>,
    visitor_language: Option<String>,
    last_seq: i64,
    last_message_at: i64,
    started_at: i64,
}

impl ConversationRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationRow> {
        Ok(ConversationRow {
            id: row.get(0)?,
            widget_id: row.get(1)?,
            visitor_id: row.get(2)?,
            status: row.get(3)?,
            assigned_to: row.get(4)?,
            visitor_language: row.get(5)?,
            last_seq: row.get(6)?,
            last_message_at: row.get(7)?,
            started_at: row.get(8)?,
        })
    }
}
