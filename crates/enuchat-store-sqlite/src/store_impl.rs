//! The `Store` trait, delegating to the per-area modules.

use crate::page_cache::DetailKey;
use crate::{db, SqliteStore};
use async_trait::async_trait;
use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::store::{
    ConversationFilter, DemoBatch, InboxFilter, Store, StoreKind, StoreResult,
};
use enuchat_domain::*;

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db)?;
        Ok(())
    }

    fn pool_stats(&self) -> (u32, u32) {
        self.stats()
    }

    async fn close(&self) {
        self.close_impl().await
    }

    async fn create_tenant(&self, new: NewTenant) -> StoreResult<Tenant> {
        self.create_tenant_impl(new).await
    }

    async fn get_tenant(&self, tenant: TenantId) -> StoreResult<Option<Tenant>> {
        self.get_tenant_impl(tenant).await
    }

    async fn has_tenants(&self) -> StoreResult<bool> {
        self.has_tenants_impl().await
    }

    async fn claim_first_start(&self) -> StoreResult<bool> {
        self.claim_first_start_impl().await
    }

    async fn create_operator(&self, tenant: TenantId, new: NewOperator) -> StoreResult<Operator> {
        self.create_operator_impl(tenant, new).await
    }

    async fn get_operator(
        &self,
        tenant: TenantId,
        id: OperatorId,
    ) -> StoreResult<Option<Operator>> {
        self.get_operator_impl(tenant, id).await
    }

    async fn find_operator_by_email(&self, email: &str) -> StoreResult<Option<Operator>> {
        self.find_operator_by_email_impl(email).await
    }

    async fn list_operators(&self, tenant: TenantId) -> StoreResult<Vec<Operator>> {
        self.list_operators_impl(tenant).await
    }

    async fn create_session(&self, tenant: TenantId, new: NewSession) -> StoreResult<Session> {
        self.create_session_impl(tenant, new).await
    }

    async fn find_session(
        &self,
        id_hash: &[u8; 32],
        now: Timestamp,
        idle_timeout_secs: i64,
    ) -> StoreResult<Option<Session>> {
        self.find_session_impl(id_hash, now, idle_timeout_secs)
            .await
    }

    async fn touch_session(
        &self,
        tenant: TenantId,
        id_hash: &[u8; 32],
        at: Timestamp,
        granularity_secs: i64,
    ) -> StoreResult<()> {
        self.touch_session_impl(tenant, id_hash, at, granularity_secs)
            .await
    }

    async fn delete_session(&self, tenant: TenantId, id_hash: &[u8; 32]) -> StoreResult<bool> {
        self.delete_session_impl(tenant, id_hash).await
    }

    async fn prune_sessions(&self, now: Timestamp, idle_timeout_secs: i64) -> StoreResult<u64> {
        self.prune_sessions_impl(now, idle_timeout_secs).await
    }

    async fn list_inbox(
        &self,
        tenant: TenantId,
        operator: OperatorId,
        filter: &InboxFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<InboxItem>> {
        self.list_inbox_impl(tenant, operator, filter, limit, offset)
            .await
    }

    async fn mark_read(
        &self,
        tenant: TenantId,
        operator: OperatorId,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<bool> {
        self.mark_read_impl(tenant, operator, conversation, seq)
            .await
    }

    async fn messages_before(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        before_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.messages_before_impl(tenant, conversation, before_seq, limit)
            .await
    }

    async fn create_widget(&self, tenant: TenantId, new: NewWidget) -> StoreResult<Widget> {
        self.create_widget_impl(tenant, new).await
    }

    async fn get_widget(&self, tenant: TenantId, id: WidgetId) -> StoreResult<Option<Widget>> {
        self.get_widget_impl(tenant, id).await
    }

    async fn list_widgets(&self, tenant: TenantId) -> StoreResult<Vec<Widget>> {
        self.list_widgets_impl(tenant).await
    }

    async fn create_api_key(&self, tenant: TenantId, new: NewApiKey) -> StoreResult<ApiKey> {
        self.create_api_key_impl(tenant, new).await
    }

    async fn find_api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        self.find_api_key_by_hash_impl(hash).await
    }

    async fn find_api_key(&self, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        self.find_api_key_impl(id).await
    }

    async fn list_api_keys(&self, tenant: TenantId) -> StoreResult<Vec<ApiKey>> {
        self.list_api_keys_impl(tenant).await
    }

    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        self.revoke_api_key_impl(tenant, id).await
    }

    async fn touch_api_keys(&self, uses: &[KeyUse], granularity_secs: i64) -> StoreResult<()> {
        self.touch_api_keys_impl(uses, granularity_secs).await
    }

    async fn lease_rate_limit(
        &self,
        bucket: &str,
        limit: RateLimit,
        n: u32,
    ) -> StoreResult<RateDecision> {
        self.lease_rate_limit_impl(bucket, limit, n).await
    }

    async fn peek_rate_limit(&self, bucket: &str, limit: RateLimit) -> StoreResult<RateDecision> {
        self.peek_rate_limit_impl(bucket, limit).await
    }

    async fn prune_rate_limits(&self) -> StoreResult<u64> {
        self.prune_rate_limits_impl().await
    }

    async fn find_widget(&self, id: WidgetId) -> StoreResult<Option<Widget>> {
        self.find_widget_impl(id).await
    }

    async fn find_visitor_by_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<Visitor>> {
        self.find_visitor_by_token_impl(token_hash).await
    }

    async fn update_visitor(
        &self,
        tenant: TenantId,
        id: &VisitorId,
        patch: VisitorPatch,
    ) -> StoreResult<Option<Visitor>> {
        self.update_visitor_impl(tenant, id, patch).await
    }

    async fn get_or_create_visitor_conversation(
        &self,
        tenant: TenantId,
        new: NewConversation,
    ) -> StoreResult<Conversation> {
        self.get_or_create_visitor_conversation_impl(tenant, new)
            .await
    }

    async fn visitor_conversation(
        &self,
        tenant: TenantId,
        visitor: &VisitorId,
    ) -> StoreResult<Option<Conversation>> {
        self.visitor_conversation_impl(tenant, visitor).await
    }

    async fn messages_after(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.messages_after_impl(tenant, conversation, after_seq, limit)
            .await
    }

    async fn create_visitor(&self, tenant: TenantId, new: NewVisitor) -> StoreResult<Visitor> {
        self.create_visitor_impl(tenant, new).await
    }

    async fn get_visitor(&self, tenant: TenantId, id: &VisitorId) -> StoreResult<Option<Visitor>> {
        self.get_visitor_impl(tenant, id).await
    }

    async fn create_conversation(
        &self,
        tenant: TenantId,
        new: NewConversation,
    ) -> StoreResult<Conversation> {
        self.create_conversation_impl(tenant, new).await
    }

    async fn get_conversation(
        &self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        self.get_conversation_impl(tenant, id).await
    }

    async fn list_conversations(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Shared<Vec<Conversation>>> {
        self.list_conversations_impl(tenant, filter, limit, offset)
            .await
    }

    async fn update_conversation(
        &self,
        tenant: TenantId,
        id: ConversationId,
        patch: ConversationPatch,
    ) -> StoreResult<Option<Conversation>> {
        self.update_conversation_impl(tenant, id, patch).await
    }

    async fn append_message(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        new: NewMessage,
    ) -> StoreResult<Option<Message>> {
        self.append_message_impl(tenant, conversation, new).await
    }

    async fn recent_messages(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.recent_messages_impl(tenant, conversation, limit).await
    }
    async fn conversation_detail(
        &self,
        tenant: TenantId,
        id: ConversationId,
        limit: u32,
    ) -> StoreResult<Option<Shared<ConversationDetail>>> {
        // Held until the next commit, like list pages (`page_cache.rs`);
        // the epoch is taken before the read begins.
        let key = DetailKey { tenant, id, limit };
        let epoch = match self.pages.details_enabled() {
            true => self.pages.epoch_for("a conversation's detail").await,
            false => None,
        };
        if let Some(held) = epoch.and_then(|epoch| self.pages.get_detail(&key, epoch)) {
            return Ok(Some(held));
        }
        // Independent reads (the messages' read is scoped to the tenant too,
        // so it finds nothing for another account's conversation), side by
        // side on two read connections.
        let (conversation, messages) = tokio::try_join!(
            self.get_conversation_impl(tenant, id),
            self.recent_messages_impl(tenant, id, limit),
        )?;
        let Some(conversation) = conversation else {
            return Ok(None);
        };
        let detail = Shared::new(ConversationDetail {
            conversation,
            messages,
        });
        if let Some(epoch) = epoch {
            self.pages.put_detail(key, epoch, detail.clone());
        }
        Ok(Some(detail))
    }

    async fn add_credits(&self, tenant: TenantId, amount: i64) -> StoreResult<Option<LedgerEntry>> {
        self.add_credits_impl(tenant, amount).await
    }

    async fn list_ledger(
        &self,
        tenant: TenantId,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.list_ledger_impl(tenant, limit, offset).await
    }

    async fn import_demo_batch(&self, tenant: TenantId, batch: DemoBatch) -> StoreResult<()> {
        self.import_demo_batch_impl(tenant, batch).await
    }

    // --- issue 6: jobs, knowledge entries, hand-off --------------------
    async fn get_message(&self, tenant: TenantId, id: MessageId) -> StoreResult<Option<Message>> {
        self.get_message_impl(tenant, id).await
    }

    async fn claim_jobs(
        &self,
        now: Timestamp,
        lease_for: std::time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedJob>> {
        self.claim_jobs_impl(now, lease_for, limit).await
    }

    async fn complete_translation(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        outcome: TranslationOutcome,
    ) -> StoreResult<Option<Message>> {
        self.complete_translation_impl(tenant, job, outcome).await
    }

    async fn complete_ai_reply(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        reply: NewMessage,
        charge: i64,
    ) -> StoreResult<Option<(Message, Option<LedgerEntry>)>> {
        self.complete_ai_reply_impl(tenant, job, reply, charge)
            .await
    }

    async fn finish_job(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        note: Option<&str>,
    ) -> StoreResult<bool> {
        self.finish_job_impl(tenant, job, note).await
    }

    async fn fail_job(
        &self,
        tenant: TenantId,
        job: &ClaimedJob,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        self.fail_job_impl(tenant, job, error, retry_at).await
    }

    async fn list_jobs(
        &self,
        tenant: TenantId,
        status: Option<JobStatus>,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<Job>> {
        self.list_jobs_impl(tenant, status, limit, offset).await
    }

    async fn job_counts(&self) -> StoreResult<Vec<(JobKind, JobStatus, i64)>> {
        self.job_counts_impl().await
    }

    async fn prune_jobs(&self, done_before: Timestamp) -> StoreResult<u64> {
        self.prune_jobs_impl(done_before).await
    }

    async fn create_knowledge_entry(
        &self,
        tenant: TenantId,
        widget: WidgetId,
        question: MessageContent,
        answer: MessageContent,
    ) -> StoreResult<Option<KnowledgeEntry>> {
        self.create_knowledge_entry_impl(tenant, widget, question, answer)
            .await
    }

    async fn list_knowledge_entries(
        &self,
        tenant: TenantId,
        widget: WidgetId,
    ) -> StoreResult<Vec<KnowledgeEntry>> {
        self.list_knowledge_entries_impl(tenant, widget).await
    }

    async fn delete_knowledge_entry(
        &self,
        tenant: TenantId,
        id: KnowledgeEntryId,
    ) -> StoreResult<bool> {
        self.delete_knowledge_entry_impl(tenant, id).await
    }

    async fn set_handed_off(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        pending: bool,
    ) -> StoreResult<Option<Conversation>> {
        self.set_handed_off_impl(tenant, conversation, pending)
            .await
    }

    // --- dashboard administration (widgets, team) -----------------------
    async fn update_widget(
        &self,
        tenant: TenantId,
        id: WidgetId,
        update: WidgetUpdate,
    ) -> StoreResult<Option<Widget>> {
        self.update_widget_impl(tenant, id, update).await
    }

    async fn update_operator(
        &self,
        tenant: TenantId,
        id: OperatorId,
        update: OperatorUpdate,
    ) -> StoreResult<Option<Operator>> {
        self.update_operator_impl(tenant, id, update).await
    }

    async fn delete_operator(&self, tenant: TenantId, id: OperatorId) -> StoreResult<bool> {
        self.delete_operator_impl(tenant, id).await
    }
}
