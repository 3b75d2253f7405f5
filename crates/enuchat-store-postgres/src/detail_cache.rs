//! A conversation with its newest messages (`GET /conversations/{id}`) kept
//! in memory and served while the conversation's row says nothing it shows
//! has changed.
//!
//! Reading a detail costs PostgreSQL two statements, one of them sending 50
//! message rows, and the server decoding them; dashboards and scripts read
//! the same few busy conversations again and again. Checking a detail read
//! earlier costs one look-up of the conversation's row by primary key.
//!
//! The version is the row's `xmin`: PostgreSQL writes a new row version for
//! every UPDATE, stamped with the id of the transaction that wrote it, and
//! a snapshot sees the row version of the last committed transaction that
//! wrote it. Everything a detail shows changes in a transaction that writes
//! the conversation's row:
//! - its own fields (status, assignee, hand-off, language) and every append
//!   (`last_seq`), which update the row anyway;
//! - a message's translation and its `translation_pending` flag
//!   (`jobs.rs`) and the visitor's name and email
//!   (`conversations::update_visitor`), which touch the row
//!   ([`touch_conversation_sql!`]) in their own transaction;
//! - deleting it (with its tenant) removes the row: the check then finds
//!   nothing, and the conversation is gone.
//!
//! So when a check still reads the `xmin` a detail was read with, no
//! transaction has committed a change to it since, on any instance
//! (read-your-writes holds across instances, with nothing to wait for). A
//! miss reads the conversation and its messages side by side, as two
//! statements that each also report the row's `xmin`; the detail is kept
//! only if both saw the same one, i.e. the same state. Transaction ids wrap
//! around after 2^32 transactions, so a kept detail is read again after
//! [`MAX_AGE`] whatever its version says.

use crate::conversations::conversation_by_id_sql;
use crate::error::db_err;
use crate::explain::{explain_prepared, Arg};
use crate::rows::*;
use crate::shared_checks::SharedChecks;
use crate::versioned_cache::{CacheReads, Cost, Limits, Plan, VersionedCache};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;
use std::time::Duration;

/// A statement that writes a new version of conversation rows without
/// changing them, given a WHERE clause (`$1` must be the tenant): for a
/// change to something a conversation's detail shows but its row does not
/// hold, in the change's own transaction. PostgreSQL writes a new row
/// version for every UPDATE, changed values or not.
macro_rules! touch_conversation_sql {
    ($where:literal) => {
        concat!(
            "UPDATE conversations SET last_seq = last_seq WHERE tenant_id = $1 AND ",
            $where
        )
    };
}
pub(crate) use touch_conversation_sql;

/// The row version, as a number (`xid` has no integer cast of its own).
macro_rules! row_version_sql {
    ($table:literal) => {
        concat!($table, ".xmin::text::bigint")
    };
}

/// How much an instance keeps and how it backs off from conversations that
/// change all the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetailCacheSettings {
    /// Approximate bytes held at most, over all details; 0 keeps nothing.
    pub max_bytes: usize,
    /// Reads after stale checks in a row skip the check at most this many
    /// times (0: every read of a held detail checks).
    pub max_skips: u32,
}

impl Default for DetailCacheSettings {
    fn default() -> Self {
        DetailCacheSettings {
            // Some 600 conversations of 50 short messages (~13 KB each, and
            // as much again for their JSON).
            max_bytes: 16 << 20,
            max_skips: 15,
        }
    }
}

/// Far less than PostgreSQL needs to go through 2^32 transaction ids.
const MAX_AGE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DetailKey {
    tenant: TenantId,
    conversation: ConversationId,
    limit: u32,
}

/// Every read of a held detail gets the same [`Shared`] one, so the HTTP
/// layer renders it once.
#[derive(Clone)]
struct Held(Shared<ConversationDetail>);

impl Cost for Held {
    fn cost(&self) -> usize {
        self.0.approximate_bytes()
    }
}

#[derive(Debug)]
pub(crate) struct DetailCache {
    details: VersionedCache<DetailKey, Held>,
    /// Reads of one conversation that arrive together share their checks
    /// (`shared_checks.rs`), whatever their limit.
    versions: SharedChecks<(TenantId, ConversationId), Option<i64>>,
}

#[derive(sqlx::FromRow)]
struct VersionedConversation {
    row_version: i64,
    #[sqlx(flatten)]
    conversation: ConversationRow,
}

#[derive(sqlx::FromRow)]
struct VersionedMessage {
    row_version: Option<i64>,
    #[sqlx(flatten)]
    message: MessageRow,
}

impl DetailCache {
    pub(crate) fn new(settings: DetailCacheSettings) -> DetailCache {
        DetailCache {
            details: VersionedCache::new(Limits {
                max_cost: settings.max_bytes,
                max_skips: settings.max_skips,
                max_age: Some(MAX_AGE),
                // Transaction ids are not in commit order.
                ordered_versions: false,
            }),
            versions: SharedChecks::default(),
        }
    }

    pub(crate) fn reads(&self) -> CacheReads {
        CacheReads {
            shared_checks: self.versions.shared(),
            ..self.details.reads()
        }
    }

    /// The tenant's conversation with its newest `limit` messages.
    pub(crate) async fn get(
        &self,
        pool: &PgPool,
        tenant: TenantId,
        id: ConversationId,
        limit: u32,
    ) -> StoreResult<Option<Shared<ConversationDetail>>> {
        let key = DetailKey {
            tenant,
            conversation: id,
            limit,
        };
        if self.details.enabled() {
            if let Plan::Check { version, value } = self.details.plan(&key) {
                let now = self
                    .versions
                    .check((tenant, id), current_version(pool.clone(), tenant, id))
                    .await?;
                match now {
                    Some(now) if now == version => {
                        self.details.hit(&key);
                        return Ok(Some(value.0));
                    }
                    Some(_) => self.details.stale(&key),
                    None => {
                        self.details.stale(&key);
                        self.details.forget(&key);
                        return Ok(None);
                    }
                }
            }
        }
        let Some((version, detail)) = read(pool, tenant, id, limit).await? else {
            return Ok(None);
        };
        let detail = Shared::new(detail);
        if let (true, Some(version)) = (self.details.enabled(), version) {
            self.details.fill(key, version, Held(detail.clone()));
        }
        Ok(Some(detail))
    }
}

/// The newest `$3` messages, newest first from the `(conversation_id, seq)`
/// index (reversed in `read`: the database never sorts), each with the
/// conversation row's version, an InitPlan read once.
const MESSAGES_SQL: &str = concat!(
    "SELECT (SELECT ",
    row_version_sql!("c"),
    " FROM conversations c WHERE c.tenant_id = $1 AND c.id = $2) AS row_version, ",
    message_columns!(),
    " FROM messages WHERE conversation_id = $2 AND tenant_id = $1 \
      ORDER BY seq DESC LIMIT $3"
);

/// The plan PostgreSQL picks for a detail's messages (`EXPLAIN` text).
pub(crate) async fn explain_messages(
    pool: &PgPool,
    tenant: TenantId,
    id: ConversationId,
    limit: u32,
) -> StoreResult<String> {
    let args: [Arg; 3] = [tenant.0.into(), id.0.into(), i64::from(limit).into()];
    explain_prepared(pool, MESSAGES_SQL, &args).await
}

/// The conversation and its messages, side by side on two connections, with
/// the row version if both statements saw the same one.
async fn read(
    pool: &PgPool,
    tenant: TenantId,
    id: ConversationId,
    limit: u32,
) -> StoreResult<Option<(Option<i64>, ConversationDetail)>> {
    let conversation = sqlx::query_as::<_, VersionedConversation>(conversation_by_id_sql!(
        concat!(row_version_sql!("c"), " AS row_version, ")
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(pool);
    let messages = sqlx::query_as::<_, VersionedMessage>(MESSAGES_SQL)
        .bind(tenant.0)
        .bind(id.0)
        .bind(i64::from(limit))
        .fetch_all(pool);
    let (conversation, messages) = tokio::try_join!(conversation, messages).map_err(db_err)?;
    let Some(conversation) = conversation else {
        return Ok(None);
    };
    // A conversation without messages has no second version to compare:
    // such details are not kept.
    let same_state = messages
        .first()
        .is_some_and(|m| m.row_version == Some(conversation.row_version));
    let version = same_state.then_some(conversation.row_version);
    let mut messages = all(messages, |m| m.message.into_model())?;
    messages.reverse();
    let detail = ConversationDetail {
        conversation: conversation.conversation.into_model()?,
        messages,
    };
    Ok(Some((version, detail)))
}

/// The conversation row's version now; `None` if it is not the tenant's.
async fn current_version(
    pool: PgPool,
    tenant: TenantId,
    id: ConversationId,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar(concat!(
        "SELECT ",
        row_version_sql!("c"),
        " FROM conversations c WHERE c.tenant_id = $1 AND c.id = $2"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(&pool)
    .await
    .map_err(db_err)
}
