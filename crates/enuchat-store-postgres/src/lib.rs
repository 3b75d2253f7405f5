//! The PostgreSQL implementation of the enuchat [`Store`].
//!
//! Several enuchat instances may share one database, so every operation is
//! written to be correct across processes, not just across tasks:
//! - each write is one statement or one transaction, and anything that must
//!   be serialized (message seqs, credit balances, rate limits) is serialized
//!   by row locks inside the database, never by in-process state;
//! - every timestamp the store stamps comes from the database clock
//!   (`clock_timestamp()`) and is read back with `RETURNING`, so instances with
//!   skewed clocks still agree on ordering. The exceptions are values the
//!   caller passes in (API key `expires_at`, `touch_api_keys`' times, demo rows);
//! - migrations run under sqlx's advisory lock (see [`PostgresStore::connect`]);
//! - instances learn of each other's messages through `NOTIFY`: every
//!   `append_message` notifies [`MESSAGES_CHANNEL`] in its own transaction,
//!   and [`PostgresStore::listen_messages`] hears it (demo imports do not
//!   notify).
//!
//! Queries are plain runtime `sqlx::query_as` strings; the code is split by
//! area, with row types and their conversions in `rows`.

mod api_keys;
mod appender;
mod batch_append;
mod conversations;
mod credits;
mod facts_cache;
// Issue 6: the job queue and knowledge entries.
mod dashboard;
mod deep_pages;
mod demo;
mod detail_cache;
mod durability;
mod error;
mod explain;
mod jobs;
mod knowledge;
mod list_anchors;
mod listener;
mod messages;
mod page_cache;
mod rate_limits;
mod rows;
mod shared_checks;
mod tenants;
mod versioned_cache;

use async_trait::async_trait;
use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use error::db_err;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use detail_cache::DetailCache;
pub use detail_cache::DetailCacheSettings;
pub use enuchat_domain::deep_pages::{AnchorSettings, DeepPageReads};
use list_anchors::ListAnchors;
pub use listener::{ListenEvent, MessageListener, LISTENER_APPLICATION_NAME};
use page_cache::PageCache;
pub use page_cache::PageCacheSettings;
pub use versioned_cache::CacheReads;

/// Pool size used by [`PostgresStore::connect`].
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// Settings of every connection the store opens (sent at connection start,
/// so they cost no round trip):
/// - `plan_cache_mode = force_generic_plan`: sqlx prepares each statement once
///   per connection, and PostgreSQL would otherwise plan again on every run of
///   a statement whose parameters include LIMIT and OFFSET (a generic plan
///   must guess them, so its estimated cost never beats a custom one). For the
///   conversation list that planning was about 40% of PostgreSQL's work per
///   request (bench/profiles/README.md). Every statement here is written to
///   have a good plan for any parameter values: equality on indexed columns,
///   pages read in index order, look-ups by primary key. The plan tests
///   (`tests/demo_and_plans.rs`) check the generic plans themselves;
/// - `jit = off` and `max_parallel_workers_per_gather = 0`: a generic plan
///   estimates a page as a tenth of the table, and such estimates on a large
///   table pass the thresholds of JIT compilation (tens of milliseconds, paid
///   on every execution) and of parallel workers (a few milliseconds to start).
///   Requests here read tens of rows by index; neither pays off for them.
const SESSION_SETTINGS: [(&str, &str); 3] = [
    ("plan_cache_mode", "force_generic_plan"),
    ("jit", "off"),
    ("max_parallel_workers_per_gather", "0"),
];

/// A pooled connection idle at least this long is pinged (one round trip)
/// before it is handed out, and replaced if the ping fails. sqlx would ping
/// on every acquire, which under load is a round trip per statement, for
/// connections that were in use a moment ago (they would answer any broken
/// socket with an error on their next statement all the same). A database
/// restart or a dropped idle connection happens while connections sit idle,
/// and that is what the ping still catches.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A [`Store`] backed by a PostgreSQL connection pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    appender: appender::Appender,
    /// Where this instance's deep pages start (`list_anchors.rs`).
    lists: Arc<ListAnchors>,
    /// List pages (shallow ones, and deep ones' blocks) served while their
    /// list version holds (`page_cache.rs`).
    pages: Arc<PageCache>,
    /// Conversation details served while their row version holds
    /// (`detail_cache.rs`).
    details: Arc<DetailCache>,
}

impl PostgresStore {
    /// Connects with [`DEFAULT_MAX_CONNECTIONS`] and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Connects a pool of at most `max_connections` and runs the migrations.
    ///
    /// Migrations are safe when several instances start at once: sqlx takes a
    /// session-level `pg_advisory_lock` (keyed by the database name) before it
    /// even creates its bookkeeping table, so one instance migrates while the
    /// others wait and then find nothing left to do. They run on a connection
    /// of their own that is closed afterwards: had a migration failed while
    /// holding that lock on a pooled connection, the lock would have lived on
    /// in the pool.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
    ) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid database URL: {e}")))?
            .application_name("enuchat")
            .options(SESSION_SETTINGS);

        // A one-connection pool rather than a bare connection: running the
        // migrator on `&mut PgConnection` makes this future not `Send` (an
        // sqlx `Acquire` lifetime limitation), and servers are spawned tasks.
        let migration_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        let migrated = sqlx::migrate!().run(&migration_pool).await;
        migration_pool.close().await;
        migrated.map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;

        // No idle timeout or lifetime: without them sqlx 0.8.6 starts no pool
        // maintenance task, which can spin a core forever (a race in its idle
        // count: sqlx issue 3645, fixed upstream in PR 4289, not yet released).
        // A connection that sat idle is pinged before it is handed out, and
        // replaced if broken (see `PING_AFTER_IDLE`).
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(db_err)?;
        // A check, not a condition of starting: if it cannot run, say so.
        match durability::risks(&pool).await {
            Ok(risks) => risks.iter().for_each(|risk| tracing::warn!("{risk}")),
            Err(err) => tracing::warn!(%err, "could not read PostgreSQL's durability settings"),
        }
        let appender = appender::Appender::start(pool.clone());
        Ok(PostgresStore {
            pool,
            appender,
            lists: Arc::new(ListAnchors::new(AnchorSettings::default())),
            pages: Arc::new(PageCache::new(PageCacheSettings::default())),
            details: Arc::new(DetailCache::new(DetailCacheSettings::default())),
        })
    }

    /// The same store with deep-page anchors kept under `settings` (and
    /// none remembered yet). Tests use small spacings to reach anchored pages
    /// with a few rows.
    pub fn with_anchor_settings(mut self, settings: AnchorSettings) -> PostgresStore {
        self.lists = Arc::new(ListAnchors::new(settings));
        self
    }

    /// The same store keeping shallow list pages in memory under `settings`
    /// (none held yet). Tests turn it off, or make every read check.
    pub fn with_page_cache(mut self, settings: PageCacheSettings) -> PostgresStore {
        self.pages = Arc::new(PageCache::new(settings));
        self
    }

    /// How this instance has served shallow list pages so far.
    pub fn page_cache_reads(&self) -> CacheReads {
        self.pages.reads()
    }

    /// How this instance has served the blocks that deep pages are cut from.
    pub fn deep_block_reads(&self) -> CacheReads {
        self.pages.block_reads()
    }

    /// The same store keeping conversation details in memory under
    /// `settings` (none held yet). Tests turn it off, or make every read
    /// check.
    pub fn with_detail_cache(mut self, settings: DetailCacheSettings) -> PostgresStore {
        self.details = Arc::new(DetailCache::new(settings));
        self
    }

    /// How this instance has served conversation details so far.
    pub fn detail_cache_reads(&self) -> CacheReads {
        self.details.reads()
    }

    /// How this instance has read deep pages so far.
    pub fn deep_page_reads(&self) -> DeepPageReads {
        self.lists.counts.snapshot()
    }

    /// The database server's settings under which a message answered with
    /// `2xx` may be lost in a crash (logged as warnings at connect).
    pub async fn durability_risks(&self) -> StoreResult<Vec<String>> {
        durability::risks(&self.pool).await
    }

    /// The underlying pool, for tools and tests that need raw SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Starts listening for the [`MessageNotice`]s that `append_message`
    /// sends (from this or any other instance on the database) when a message
    /// is committed. The listener has a connection of its own, outside the
    /// pool, made with the pool's connect options and the application name
    /// [`LISTENER_APPLICATION_NAME`]; it is listening when this returns. See
    /// [`MessageListener`] for what it delivers and how it recovers.
    pub async fn listen_messages(&self) -> StoreResult<MessageListener> {
        MessageListener::start((*self.pool.connect_options()).clone()).await
    }

    /// The plan PostgreSQL picks for `list_conversations` with these
    /// arguments (`EXPLAIN` text), to check that pages come from an index.
    #[doc(hidden)]
    pub async fn explain_list_conversations(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<String> {
        conversations::explain_list(&self.pool, tenant, filter, limit, offset).await
    }

    /// The plan PostgreSQL picks for a deep page of `list_conversations`
    /// read from an anchor: `skip` rows after the row whose sort key is
    /// `anchor` (`EXPLAIN` text).
    #[doc(hidden)]
    pub async fn explain_deep_list_conversations(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        limit: u32,
        anchor: (chrono::DateTime<chrono::Utc>, uuid::Uuid),
        skip: u64,
    ) -> StoreResult<String> {
        deep_pages::explain_from_anchor(&self.pool, tenant, filter, limit, anchor, skip).await
    }

    /// The plan PostgreSQL picks for an append batch written in one
    /// statement, of one message to `conversation` (`EXPLAIN` text).
    #[doc(hidden)]
    pub async fn explain_append_batch(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> StoreResult<String> {
        batch_append::explain(&self.pool, tenant, conversation).await
    }

    /// The plan PostgreSQL picks for `messages_after` (`EXPLAIN` text).
    #[doc(hidden)]
    pub async fn explain_messages_after(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<String> {
        messages::explain_after(&self.pool, tenant, conversation, after_seq, limit).await
    }

    /// The plan PostgreSQL picks for the messages of a conversation's detail
    /// (`EXPLAIN` text).
    #[doc(hidden)]
    pub async fn explain_detail_messages(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        limit: u32,
    ) -> StoreResult<String> {
        detail_cache::explain_messages(&self.pool, tenant, conversation, limit).await
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    fn pool_stats(&self) -> (u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (self.pool.size().saturating_sub(idle), idle)
    }

    async fn close(&self) {
        // Ends each connection with a Terminate message, instead of leaving
        // PostgreSQL to log every dropped one as an unexpected EOF.
        self.pool.close().await;
    }

    async fn create_tenant(&self, new: NewTenant) -> StoreResult<Tenant> {
        tenants::create_tenant(&self.pool, new).await
    }
    async fn get_tenant(&self, tenant: TenantId) -> StoreResult<Option<Tenant>> {
        tenants::get_tenant(&self.pool, tenant).await
    }
    async fn has_tenants(&self) -> StoreResult<bool> {
        tenants::has_tenants(&self.pool).await
    }

    async fn claim_first_start(&self) -> StoreResult<bool> {
        tenants::claim_first_start(&self.pool).await
    }

    async fn create_operator(&self, tenant: TenantId, new: NewOperator) -> StoreResult<Operator> {
        tenants::create_operator(&self.pool, tenant, new).await
    }
    async fn get_operator(
        &self,
        tenant: TenantId,
        id: OperatorId,
    ) -> StoreResult<Option<Operator>> {
        tenants::get_operator(&self.pool, tenant, id).await
    }

    async fn find_operator_by_email(&self, email: &str) -> StoreResult<Option<Operator>> {
        dashboard::find_operator_by_email(&self.pool, email).await
    }
    async fn list_operators(&self, tenant: TenantId) -> StoreResult<Vec<Operator>> {
        dashboard::list_operators(&self.pool, tenant).await
    }
    async fn create_session(&self, tenant: TenantId, new: NewSession) -> StoreResult<Session> {
        dashboard::create_session(&self.pool, tenant, new).await
    }
    async fn find_session(
        &self,
        id_hash: &[u8; 32],
        now: Timestamp,
        idle_timeout_secs: i64,
    ) -> StoreResult<Option<Session>> {
        dashboard::find_session(&self.pool, id_hash, now, idle_timeout_secs).await
    }
    async fn touch_session(
        &self,
        tenant: TenantId,
        id_hash: &[u8; 32],
        at: Timestamp,
        granularity_secs: i64,
    ) -> StoreResult<()> {
        dashboard::touch_session(&self.pool, tenant, id_hash, at, granularity_secs).await
    }
    async fn delete_session(&self, tenant: TenantId, id_hash: &[u8; 32]) -> StoreResult<bool> {
        dashboard::delete_session(&self.pool, tenant, id_hash).await
    }
    async fn prune_sessions(&self, now: Timestamp, idle_timeout_secs: i64) -> StoreResult<u64> {
        dashboard::prune_sessions(&self.pool, now, idle_timeout_secs).await
    }
    async fn list_inbox(
        &self,
        tenant: TenantId,
        operator: OperatorId,
        filter: &InboxFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<InboxItem>> {
        dashboard::list_inbox(&self.pool, tenant, operator, filter, limit, offset).await
    }
    async fn mark_read(
        &self,
        tenant: TenantId,
        operator: OperatorId,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<bool> {
        dashboard::mark_read(&self.pool, tenant, operator, conversation, seq).await
    }
    async fn messages_before(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        before_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        dashboard::messages_before(&self.pool, tenant, conversation, before_seq, limit).await
    }

    async fn create_widget(&self, tenant: TenantId, new: NewWidget) -> StoreResult<Widget> {
        tenants::create_widget(&self.pool, tenant, new).await
    }
    async fn get_widget(&self, tenant: TenantId, id: WidgetId) -> StoreResult<Option<Widget>> {
        tenants::get_widget(&self.pool, tenant, id).await
    }
    async fn list_widgets(&self, tenant: TenantId) -> StoreResult<Vec<Widget>> {
        tenants::list_widgets(&self.pool, tenant).await
    }

    async fn create_api_key(&self, tenant: TenantId, new: NewApiKey) -> StoreResult<ApiKey> {
        api_keys::create(&self.pool, tenant, new).await
    }
    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        api_keys::find_by_hash(&self.pool, hash).await
    }
    async fn find_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        api_keys::find(&self.pool, id).await
    }
    async fn list_api_keys(&self, tenant: TenantId) -> StoreResult<Vec<ApiKey>> {
        api_keys::list(&self.pool, tenant).await
    }
    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        api_keys::revoke(&self.pool, tenant, id).await
    }
    async fn touch_api_keys(&self, uses: &[KeyUse], granularity_secs: i64) -> StoreResult<()> {
        api_keys::touch(&self.pool, uses, granularity_secs).await
    }

    async fn lease_rate_limit(
        &self,
        bucket: &str,
        limit: RateLimit,
        n: u32,
    ) -> StoreResult<RateDecision> {
        rate_limits::lease(&self.pool, bucket, limit, n).await
    }
    async fn peek_rate_limit(&self, bucket: &str, limit: RateLimit) -> StoreResult<RateDecision> {
        rate_limits::peek(&self.pool, bucket, limit).await
    }
    async fn prune_rate_limits(&self) -> StoreResult<u64> {
        rate_limits::prune(&self.pool).await
    }

    async fn find_widget(&self, id: WidgetId) -> StoreResult<Option<Widget>> {
        tenants::find_widget(&self.pool, id).await
    }
    async fn find_visitor_by_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<Visitor>> {
        conversations::find_visitor_by_token(&self.pool, token_hash).await
    }
    async fn update_visitor(
        &self,
        tenant: TenantId,
        id: &VisitorId,
        patch: VisitorPatch,
    ) -> StoreResult<Option<Visitor>> {
        conversations::update_visitor(&self.pool, tenant, id, patch).await
    }
    async fn get_or_create_visitor_conversation(
        &self,
        tenant: TenantId,
        new: NewConversation,
    ) -> StoreResult<Conversation> {
        conversations::get_or_create_for_visitor(&self.pool, tenant, new).await
    }
    async fn visitor_conversation(
        &self,
        tenant: TenantId,
        visitor: &VisitorId,
    ) -> StoreResult<Option<Conversation>> {
        conversations::for_visitor(&self.pool, tenant, visitor).await
    }
    async fn messages_after(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        messages::after(&self.pool, tenant, conversation, after_seq, limit).await
    }

    async fn create_visitor(&self, tenant: TenantId, new: NewVisitor) -> StoreResult<Visitor> {
        conversations::create_visitor(&self.pool, tenant, new).await
    }
    async fn get_visitor(&self, tenant: TenantId, id: &VisitorId) -> StoreResult<Option<Visitor>> {
        conversations::get_visitor(&self.pool, tenant, id).await
    }
    async fn create_conversation(
        &self,
        tenant: TenantId,
        new: NewConversation,
    ) -> StoreResult<Conversation> {
        conversations::create(&self.pool, tenant, new).await
    }
    async fn get_conversation(
        &self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        conversations::get(&self.pool, tenant, id).await
    }
    async fn list_conversations(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Shared<Vec<Conversation>>> {
        if self.lists.settings().is_deep(offset) {
            deep_pages::list_deep(
                &self.pool,
                &self.lists,
                &self.pages,
                tenant,
                filter,
                limit,
                offset,
            )
            .await
        } else {
            self.pages
                .list(&self.pool, tenant, filter, limit, offset)
                .await
        }
    }
    async fn update_conversation(
        &self,
        tenant: TenantId,
        id: ConversationId,
        patch: ConversationPatch,
    ) -> StoreResult<Option<Conversation>> {
        conversations::update(&self.pool, tenant, id, patch).await
    }

    async fn append_message(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        new: NewMessage,
    ) -> StoreResult<Option<Message>> {
        self.appender.append(tenant, conversation, new).await
    }
    async fn recent_messages(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        messages::recent(&self.pool, tenant, conversation, limit).await
    }
    async fn conversation_detail(
        &self,
        tenant: TenantId,
        id: ConversationId,
        limit: u32,
    ) -> StoreResult<Option<Shared<ConversationDetail>>> {
        self.details.get(&self.pool, tenant, id, limit).await
    }

    async fn add_credits(&self, tenant: TenantId, amount: i64) -> StoreResult<Option<LedgerEntry>> {
        credits::add(&self.pool, tenant, amount).await
    }
    async fn list_ledger(
        &self,
        tenant: TenantId,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<LedgerEntry>> {
        credits::list(&self.pool, tenant, limit, offset).await
    }

    async fn import_demo_batch(&self, tenant: TenantId, batch: DemoBatch) -> StoreResult<()> {
        demo::import(&self.pool, tenant, batch).await
    }

    // --- issue 6: jobs, knowledge entries, hand-off --------------------
    async fn get_message(&self, tenant: TenantId, id: MessageId) -> StoreResult<Option<Message>> {
        messages::get(&self.pool, tenant, id).await
    }
    async fn claim_jobs(
        &self,
        now: Timestamp,
        lease_for: Duration,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedJob>> {
        jobs::claim(&self.pool, now, lease_for, limit).await
    }
    async fn complete_translation(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        outcome: TranslationOutcome,
    ) -> StoreResult<Option<Message>> {
        jobs::complete_translation(&self.pool, tenant, job, outcome).await
    }
    async fn complete_ai_reply(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        reply: NewMessage,
        charge: i64,
    ) -> StoreResult<Option<(Message, Option<LedgerEntry>)>> {
        jobs::complete_ai_reply(&self.pool, tenant, job, reply, charge).await
    }
    async fn finish_job(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        note: Option<&str>,
    ) -> StoreResult<bool> {
        jobs::finish(&self.pool, tenant, job, note).await
    }
    async fn fail_job(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        jobs::fail(&self.pool, tenant, job, error, retry_at).await
    }
    async fn list_jobs(
        &self,
        tenant: TenantId,
        status: Option<JobStatus>,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<Job>> {
        jobs::list(&self.pool, tenant, status, limit, offset).await
    }
    async fn job_counts(&self) -> StoreResult<Vec<(JobKind, JobStatus, i64)>> {
        jobs::counts(&self.pool).await
    }
    async fn prune_jobs(&self, done_before: Timestamp) -> StoreResult<u64> {
        jobs::prune(&self.pool, done_before).await
    }
    async fn create_knowledge_entry(
        &self,
        tenant: TenantId,
        widget: WidgetId,
        question: MessageContent,
        answer: MessageContent,
    ) -> StoreResult<Option<KnowledgeEntry>> {
        knowledge::create(&self.pool, tenant, widget, question, answer).await
    }
    async fn list_knowledge_entries(
        &self,
        tenant: TenantId,
        widget: WidgetId,
    ) -> StoreResult<Vec<KnowledgeEntry>> {
        knowledge::list(&self.pool, tenant, widget).await
    }
    async fn delete_knowledge_entry(
        &self,
        tenant: TenantId,
        id: KnowledgeEntryId,
    ) -> StoreResult<bool> {
        knowledge::delete(&self.pool, tenant, id).await
    }
    async fn set_handed_off(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        pending: bool,
    ) -> StoreResult<Option<Conversation>> {
        conversations::set_handed_off(&self.pool, tenant, conversation, pending).await
    }

    // --- dashboard administration (widgets, team) -----------------------
    async fn update_widget(
        &self,
        tenant: TenantId,
        id: WidgetId,
        update: WidgetUpdate,
    ) -> StoreResult<Option<Widget>> {
        tenants::update_widget(&self.pool, tenant, id, update).await
    }
    async fn update_operator(
        &self,
        tenant: TenantId,
        id: OperatorId,
        update: OperatorUpdate,
    ) -> StoreResult<Option<Operator>> {
        tenants::update_operator(&self.pool, tenant, id, update).await
    }
    async fn delete_operator(&self, tenant: TenantId, id: OperatorId) -> StoreResult<bool> {
        tenants::delete_operator(&self.pool, tenant, id).await
    }
}
