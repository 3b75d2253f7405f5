//! The storage contract. Each backend crate implements [`Store`]; the server
//! holds an `Arc<dyn Store>` chosen once at launch.
//!
//! Rules every implementation follows:
//! - every tenant-owned read or write takes the tenant id first and matches on
//!   `(tenant_id, id)`, so another tenant's row is `None`, never an error;
//! - a write either fully happens or not at all (one transaction);
//! - list queries are served by an index and never count rows.

use crate::ids::*;
use crate::jobs::*;
use crate::knowledge::*;
use crate::models::*;
use crate::rate_limit::{RateDecision, RateLimit};
use crate::shared::Shared;
use crate::types::ConversationStatus;
use crate::types::MessageContent;
use async_trait::async_trait;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. an operator email already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A referenced row does not exist for this tenant.
    #[error("{0} not found")]
    MissingReference(&'static str),
    /// Anything the caller cannot fix: connection lost, disk full, bad data.
    #[error("database error: {0}")]
    Database(String),
}

/// One use of a Tenant API key, to be recorded in its `last_used_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUse {
    pub tenant: TenantId,
    pub key: ApiKeyId,
    pub at: Timestamp,
}

/// Which backend a store is, for the few decisions that depend on it (e.g. a
/// single-process SQLite server keeps its rate limits in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub widget_id: Option<WidgetId>,
}

/// The dashboard inbox's filters.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    pub status: Option<ConversationStatus>,
    pub widget_id: Option<WidgetId>,
    pub assignee: AssigneeFilter,
}

/// Pre-built rows for `enuchat demo`, written in bulk. Every row belongs to
/// the tenant passed alongside; messages carry their final `seq` and the
/// conversations their final `last_seq` / `last_message_at`.
#[derive(Debug, Clone, Default)]
pub struct DemoBatch {
    pub visitors: Vec<Visitor>,
    pub conversations: Vec<Conversation>,
    pub messages: Vec<Message>,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// PostgreSQL `LISTEN`/`NOTIFY` channel announcing committed messages.
pub const MESSAGES_CHANNEL: &str = "enuchat_messages";

/// PostgreSQL `LISTEN`/`NOTIFY` channel announcing revoked API keys; the
/// payload is the key's hash in hex, so instances can forget cached keys.
pub const API_KEYS_CHANNEL: &str = "enuchat_api_keys";

/// "Conversation X now has message number `seq`" (or "conversation X
/// changed", see `conversation_changed`): the payload of a message
/// notification. It carries the message itself when the payload still fits
/// PostgreSQL's notify limit (under 8,000 bytes); otherwise listeners read
/// the message from the table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageNotice {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    /// The conversation's visitor (a conversation has exactly one): lets a
    /// visitor's open tabs learn of their conversation when its first message
    /// was accepted by another instance.
    pub visitor_id: VisitorId,
    pub seq: i64,
    /// The message was there already and changed (its translation arrived),
    /// rather than being new.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub updated: bool,
    /// No message is new or changed: the conversation's status or
    /// assignment changed (or it was handed to humans), and `seq` is just its
    /// `last_seq` at the time. Listeners read the conversation itself. A
    /// conversation's start is not announced this way: the notice of its
    /// first message (seq 1) says it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conversation_changed: bool,
    /// The new or changed message (message `seq`) as committed, when it fit
    /// in the notice. Saves every listening instance a read per message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<Message>>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn kind(&self) -> StoreKind;

    /// Cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// (connections in use, idle connections) of the pool, for metrics.
    fn pool_stats(&self) -> (u32, u32);

    /// Closes the store's connections when a process is done with it, after
    /// everything that uses it has stopped; calls made later fail. SQLite
    /// first moves its write-ahead log into the database file, so that the
    /// file alone is complete.
    async fn close(&self);

    // --- tenants -------------------------------------------------------
    async fn create_tenant(&self, new: NewTenant) -> StoreResult<Tenant>;
    async fn get_tenant(&self, tenant: TenantId) -> StoreResult<Option<Tenant>>;
    /// Whether any tenant exists (first-start detection).
    async fn has_tenants(&self) -> StoreResult<bool>;
    /// Claims the one-time first-start setup of this database: `true` for
    /// exactly one caller ever, even when several instances start at once.
    async fn claim_first_start(&self) -> StoreResult<bool>;

    // --- operators -----------------------------------------------------
    /// `Conflict` when the email is already used by any operator.
    async fn create_operator(&self, tenant: TenantId, new: NewOperator) -> StoreResult<Operator>;
    async fn get_operator(&self, tenant: TenantId, id: OperatorId)
        -> StoreResult<Option<Operator>>;

    /// Sign-in look-up, not scoped by tenant: emails are unique across
    /// tenants, and the operator's row tells the tenant. `email` is compared
    /// as given (callers lowercase it, as [`Email`](crate::Email) does).
    async fn find_operator_by_email(&self, email: &str) -> StoreResult<Option<Operator>>;
    /// The tenant's operators, oldest first.
    async fn list_operators(&self, tenant: TenantId) -> StoreResult<Vec<Operator>>;

    // --- dashboard sessions ------------------------------------------------
    /// `MissingReference("operator")` if the operator is not the tenant's.
    async fn create_session(&self, tenant: TenantId, new: NewSession) -> StoreResult<Session>;
    /// The session with this id hash, with its operator, if it is still
    /// valid at `now`: before `expires_at`, and seen within the last
    /// `idle_timeout_secs`. Not scoped by tenant: the cookie tells the tenant.
    async fn find_session(
        &self,
        id_hash: &[u8; 32],
        now: Timestamp,
        idle_timeout_secs: i64,
    ) -> StoreResult<Option<Session>>;
    /// Records use, writing only when the stored time is older than
    /// `granularity_secs`.
    async fn touch_session(
        &self,
        tenant: TenantId,
        id_hash: &[u8; 32],
        at: Timestamp,
        granularity_secs: i64,
    ) -> StoreResult<()>;
    /// Ends a session; `false` if there was none (for this tenant).
    async fn delete_session(&self, tenant: TenantId, id_hash: &[u8; 32]) -> StoreResult<bool>;
    /// Forgets sessions that are no longer valid at `now`; returns how many.
    async fn prune_sessions(&self, now: Timestamp, idle_timeout_secs: i64) -> StoreResult<u64>;

    // --- the dashboard inbox -------------------------------------------------
    /// Like [`Store::list_conversations`] (same order), with the newest
    /// message's preview and whether `operator` has unread visitor messages,
    /// in one query.
    async fn list_inbox(
        &self,
        tenant: TenantId,
        operator: OperatorId,
        filter: &InboxFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<InboxItem>>;
    /// Marks the conversation's messages up to `seq` read by `operator`; a
    /// marker never moves back. `false` if the conversation (or the
    /// operator) is not the tenant's.
    async fn mark_read(
        &self,
        tenant: TenantId,
        operator: OperatorId,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<bool>;
    /// The newest `limit` messages with `seq < before_seq`, oldest first.
    async fn messages_before(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        before_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    // --- widgets -------------------------------------------------------
    async fn create_widget(&self, tenant: TenantId, new: NewWidget) -> StoreResult<Widget>;
    async fn get_widget(&self, tenant: TenantId, id: WidgetId) -> StoreResult<Option<Widget>>;
    /// Oldest first.
    async fn list_widgets(&self, tenant: TenantId) -> StoreResult<Vec<Widget>>;

    // --- API keys ------------------------------------------------------
    async fn create_api_key(&self, tenant: TenantId, new: NewApiKey) -> StoreResult<ApiKey>;
    /// The one look-up not scoped by tenant: the key is what tells us the tenant.
    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>>;
    /// Admin look-up by id (the CLI's `api-key revoke --id`).
    async fn find_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKey>>;
    /// Newest first.
    async fn list_api_keys(&self, tenant: TenantId) -> StoreResult<Vec<ApiKey>>;
    /// Sets `revoked_at` once; `None` if the key is not the tenant's.
    /// On PostgreSQL the same statement notifies [`API_KEYS_CHANNEL`] with
    /// the key's hash (hex), so that every instance forgets its cached copy.
    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> StoreResult<Option<ApiKey>>;
    /// Records uses of keys, in one transaction. Each key's `last_used_at`
    /// is written only when the stored time is older than `granularity_secs`
    /// before the use, so a busy key does not cause a write per request, and
    /// it never moves backwards. A use whose key is not its tenant's is
    /// ignored.
    async fn touch_api_keys(&self, uses: &[KeyUse], granularity_secs: i64) -> StoreResult<()>;
    /// [`Store::touch_api_keys`] for one use.
    async fn touch_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: Timestamp,
        granularity_secs: i64,
    ) -> StoreResult<()> {
        let used = KeyUse {
            tenant,
            key: id,
            at,
        };
        self.touch_api_keys(&[used], granularity_secs).await
    }

    // --- rate limits (shared between instances of one database) ---------
    /// Applies the limit to `bucket` atomically, using the database's clock:
    /// a lease of one request.
    async fn acquire_rate_limit(
        &self,
        bucket: &str,
        limit: RateLimit,
    ) -> StoreResult<RateDecision> {
        self.lease_rate_limit(bucket, limit, 1).await
    }
    /// Takes `n` requests from the bucket at once, or none if they do not
    /// all fit (see `RateLimit::lease`), in one atomic step: the lease one
    /// instance then spends in memory. When refused, `remaining` says how
    /// many would fit now.
    async fn lease_rate_limit(
        &self,
        bucket: &str,
        limit: RateLimit,
        n: u32,
    ) -> StoreResult<RateDecision>;
    /// What `acquire_rate_limit` would decide now, without spending anything
    /// (e.g. "may this email still try to sign in?").
    async fn peek_rate_limit(&self, bucket: &str, limit: RateLimit) -> StoreResult<RateDecision>;
    /// Forgets buckets that are full again; returns how many were removed.
    async fn prune_rate_limits(&self) -> StoreResult<u64>;

    // --- the visitor side (widget) -----------------------------------------
    /// Look-up by widget id alone: the id is public (it is in the embed
    /// snippet), and it is what tells the visitor API which tenant it serves.
    async fn find_widget(&self, id: WidgetId) -> StoreResult<Option<Widget>>;
    /// Look-up by the hash of a visitor token, not scoped by tenant: the token
    /// is what tells us the tenant.
    async fn find_visitor_by_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<Visitor>>;
    /// `Ok(None)` if the visitor is not the tenant's.
    async fn update_visitor(
        &self,
        tenant: TenantId,
        id: &VisitorId,
        patch: VisitorPatch,
    ) -> StoreResult<Option<Visitor>>;
    /// A visitor has at most one conversation (reopened when they write
    /// back). Returns it, creating it (status `open`) if it does not exist
    /// yet; safe when called concurrently for one visitor (one row results).
    /// `MissingReference` if the widget or visitor is not the tenant's.
    async fn get_or_create_visitor_conversation(
        &self,
        tenant: TenantId,
        new: NewConversation,
    ) -> StoreResult<Conversation>;
    /// The visitor's conversation, if they have written yet.
    async fn visitor_conversation(
        &self,
        tenant: TenantId,
        visitor: &VisitorId,
    ) -> StoreResult<Option<Conversation>>;
    /// Messages with `seq > after_seq`, oldest first, at most `limit`: what a
    /// real-time client missed.
    async fn messages_after(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    // --- visitors and conversations ----------------------------------------
    /// `MissingReference("widget")` if the widget is not the tenant's;
    /// `Conflict` if the token hash is already used.
    async fn create_visitor(&self, tenant: TenantId, new: NewVisitor) -> StoreResult<Visitor>;
    async fn get_visitor(&self, tenant: TenantId, id: &VisitorId) -> StoreResult<Option<Visitor>>;
    /// `MissingReference` if the widget or visitor is not the tenant's.
    async fn create_conversation(
        &self,
        tenant: TenantId,
        new: NewConversation,
    ) -> StoreResult<Conversation>;
    async fn get_conversation(
        &self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<Option<Conversation>>;
    /// Newest `last_message_at` first, ties by id (descending) so pages are stable.
    async fn list_conversations(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Shared<Vec<Conversation>>>;
    /// `Ok(None)` if the conversation is not the tenant's;
    /// `MissingReference("operator")` if `assigned_to` names an operator of
    /// another tenant (and then nothing changes). Assigning an operator also
    /// sets `handed_off_at` (if unset), in the same statement.
    async fn update_conversation(
        &self,
        tenant: TenantId,
        id: ConversationId,
        patch: ConversationPatch,
    ) -> StoreResult<Option<Conversation>>;

    // --- messages ------------------------------------------------------
    /// Stores a message as the conversation's next `seq` and moves its
    /// `last_message_at`, in one transaction. `Ok(None)` if the conversation
    /// is not the tenant's. The status is left alone unless `new.reopen` and
    /// the conversation is closed (then it becomes open), or the message
    /// asks for a person (below).
    ///
    /// The same transaction enqueues `new.jobs` (linked to the new message;
    /// `Conflict`, and nothing written, if two have the same kind) and, with
    /// `new.plan`, the jobs the plan gives for the conversation's
    /// [`ConversationFacts`] as they are in that transaction, after every
    /// message stored before this one (see [`crate::plan`]). It also sets the
    /// conversation's `handed_off_at` (if unset) for an operator message, and
    /// with the status `pending` for a visitor's that asks for a person while
    /// the AI answers ([`crate::plan::JobPlan::asks_for_person`]); and for a
    /// visitor message with a `content_language` (other than
    /// [`UNKNOWN_LANGUAGE`]) makes that the conversation's `visitor_language`.
    ///
    /// On PostgreSQL the same transaction sends a `NOTIFY` on
    /// [`MESSAGES_CHANNEL`] with a [`MessageNotice`] as JSON, so every
    /// instance learns of the message when (and only if) it is committed,
    /// and a second one (`conversation_changed`) when it hands off.
    async fn append_message(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        new: NewMessage,
    ) -> StoreResult<Option<Message>>;
    /// The newest `limit` messages, returned oldest first.
    async fn recent_messages(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;

    /// The conversation with its newest `limit` messages, oldest first;
    /// `Ok(None)` if the conversation is not the tenant's. What
    /// `get_conversation` and `recent_messages` return, read as one: a
    /// backend may serve it from memory while it can prove nothing in it
    /// changed (PostgreSQL's `detail_cache.rs`).
    async fn conversation_detail(
        &self,
        tenant: TenantId,
        id: ConversationId,
        limit: u32,
    ) -> StoreResult<Option<Shared<ConversationDetail>>>;

    // --- credits -------------------------------------------------------
    /// Adds (amount > 0) credits with a ledger entry; `Ok(None)` for an unknown tenant.
    async fn add_credits(&self, tenant: TenantId, amount: i64) -> StoreResult<Option<LedgerEntry>>;
    /// Newest first.
    async fn list_ledger(
        &self,
        tenant: TenantId,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<LedgerEntry>>;

    // --- issue 6: jobs, knowledge entries, hand-off --------------------
    /// The message with this id; `None` if it is not the tenant's.
    async fn get_message(&self, tenant: TenantId, id: MessageId) -> StoreResult<Option<Message>>;

    /// Claims up to `limit` due jobs, oldest `run_at` first: queued jobs with
    /// `run_at <= now`, and running jobs whose lease ended by `now` (their
    /// worker died). Each becomes `running` with a fresh lease until
    /// `now + lease_for`, its `attempts` counting this run. Safe with any
    /// number of workers and instances: while a lease lasts, nobody else
    /// claims the job. The one job operation that takes no tenant: a worker
    /// serves every tenant. `now` is the caller's clock, so instances'
    /// clocks must agree to well within `lease_for`.
    async fn claim_jobs(
        &self,
        now: Timestamp,
        lease_for: std::time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedJob>>;
    /// In one transaction, if `job`'s lease is still held: sets the message's
    /// translation (unless it already has one; then nothing is charged),
    /// charges `outcome.charge` (see [`Store::complete_ai_reply`]) with a
    /// `translation` ledger entry linked to the message, and marks the job
    /// done. Returns the updated message, or `None` when the lease was lost
    /// (then nothing changed). A job of another kind is an error, and
    /// changes nothing.
    async fn complete_translation(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        outcome: TranslationOutcome,
    ) -> StoreResult<Option<Message>>;
    /// In one transaction, if `job`'s lease is still held: appends `reply` to
    /// the job's conversation exactly as [`Store::append_message`] does (its
    /// own jobs and the PostgreSQL notification included), charges `charge`
    /// credits with an `ai_reply` ledger entry linked to the new message, and
    /// marks the job done. A charge takes at most the balance, which never
    /// goes below zero; the entry records what was taken, and there is none
    /// when that is 0. `None` when the lease was lost (then nothing changed).
    /// A job of another kind is an error, and changes nothing.
    async fn complete_ai_reply(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        reply: NewMessage,
        charge: i64,
    ) -> StoreResult<Option<(Message, Option<LedgerEntry>)>>;
    /// Marks the job done without an effect, `note` saying why (handed off,
    /// no credits, nothing to say). `false` when the lease was lost.
    async fn finish_job(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        note: Option<&str>,
    ) -> StoreResult<bool>;
    /// Records a failed attempt: the job is queued again for `retry_at`, or
    /// with `None` it stays `failed` (kept, visible in [`Store::list_jobs`]).
    /// `false` when the lease was lost.
    async fn fail_job(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool>;
    /// The tenant's jobs, newest first, optionally of one status.
    async fn list_jobs(
        &self,
        tenant: TenantId,
        status: Option<JobStatus>,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<Job>>;
    /// How many jobs are queued, running and failed, per kind (all tenants),
    /// for metrics: read from a small partial index. Done jobs are not
    /// counted: they are history, and counting them would read all of it.
    async fn job_counts(&self) -> StoreResult<Vec<(JobKind, JobStatus, i64)>>;
    /// Deletes done jobs last updated before `done_before`; failed ones stay.
    /// Returns how many were deleted.
    async fn prune_jobs(&self, done_before: Timestamp) -> StoreResult<u64>;

    /// `None` if the widget is not the tenant's.
    async fn create_knowledge_entry(
        &self,
        tenant: TenantId,
        widget: WidgetId,
        question: MessageContent,
        answer: MessageContent,
    ) -> StoreResult<Option<KnowledgeEntry>>;
    /// The widget's entries, oldest first (empty for another tenant's widget).
    async fn list_knowledge_entries(
        &self,
        tenant: TenantId,
        widget: WidgetId,
    ) -> StoreResult<Vec<KnowledgeEntry>>;
    /// `false` if there was no such entry for the tenant.
    async fn delete_knowledge_entry(
        &self,
        tenant: TenantId,
        id: KnowledgeEntryId,
    ) -> StoreResult<bool>;

    /// Hands the conversation to humans without a message: sets
    /// `handed_off_at` if it is not set yet and, with `pending`, the status
    /// `pending`. `None` if the conversation is not the tenant's. (A visitor
    /// who asks for a person is handed off by the append of that message,
    /// see [`crate::plan::JobPlan::asks_for_person`].)
    async fn set_handed_off(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        pending: bool,
    ) -> StoreResult<Option<Conversation>>;

    // --- bulk ----------------------------------------------------------
    /// Writes demo rows in one transaction, as fast as the backend allows.
    async fn import_demo_batch(&self, tenant: TenantId, batch: DemoBatch) -> StoreResult<()>;

    // --- dashboard administration (widgets, team) -----------------------
    /// Applies the fields set in `update`; `Ok(None)` if the widget is not
    /// the tenant's (then nothing changes). An empty update returns the
    /// widget as it is.
    async fn update_widget(
        &self,
        tenant: TenantId,
        id: WidgetId,
        update: WidgetUpdate,
    ) -> StoreResult<Option<Widget>>;
    /// Changes an operator's name and/or role. `Ok(None)` if the operator is
    /// not the tenant's; `Conflict(LAST_OWNER_CONFLICT)` if it would demote
    /// the tenant's last owner (then nothing changes). Safe when several
    /// changes race: the tenant never ends up without an owner.
    async fn update_operator(
        &self,
        tenant: TenantId,
        id: OperatorId,
        update: OperatorUpdate,
    ) -> StoreResult<Option<Operator>>;
    /// Removes an operator in one transaction: their sessions end, their
    /// read markers go, and their assigned conversations become unassigned
    /// (messages keep their `author_id`). `Ok(false)` if the operator is not
    /// the tenant's; `Conflict(LAST_OWNER_CONFLICT)` for the last owner.
    async fn delete_operator(&self, tenant: TenantId, id: OperatorId) -> StoreResult<bool>;
}
