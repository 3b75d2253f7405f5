//! Storage baselines, driven directly without HTTP: a raw single-row insert
//! into a `messages` table and an indexed 20-row select from a
//! `conversations` table, with the same columns, types and indexes as
//! enuchat's own tables and the same connection settings (SQLite: WAL,
//! synchronous=NORMAL, one writer connection, 8 readers; PostgreSQL: a pool
//! of 10, the server's default).

use anyhow::{bail, Context};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const CONVERSATION_POOL: usize = 1000;

pub enum Backend {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
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
            let reader = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            Backend::Sqlite { writer, reader }
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
            Backend::Sqlite { reader, .. } => {
                let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT id FROM conversations LIMIT ?")
                    .bind(CONVERSATION_POOL as i64)
                    .fetch_all(reader)
                    .await?;
                rows.iter()
                    .map(|b| Uuid::from_slice(b).context("uuid"))
                    .collect::<anyhow::Result<_>>()?
            }
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
        let content = "Thanks for chatting! Is there anything else we can help with?";
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                sqlx::query(
                    "INSERT INTO messages (id, tenant_id, conversation_id, seq, role, content, \
                     content_language, is_auto_reply, author_id, created_at) \
                     VALUES (?, ?, ?, ?, 'operator', ?, NULL, 0, NULL, ?)",
                )
                .bind(Uuid::now_v7().as_bytes().as_slice())
                .bind(self.tenant.as_bytes().as_slice())
                .bind(conversation.as_bytes().as_slice())
                .bind(seq)
                .bind(content)
                .bind(now_us())
                .execute(writer)
                .await?;
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
                .bind(content)
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
            Backend::Sqlite { reader, .. } => sqlx::query(
                "SELECT id, widget_id, visitor_id, status, assigned_to, visitor_language, \
                 last_seq, last_message_at, started_at FROM conversations WHERE tenant_id = ? \
                 ORDER BY last_message_at DESC, id DESC LIMIT 20",
            )
            .bind(self.tenant.as_bytes().as_slice())
            .fetch_all(reader)
            .await?
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
