//! An AI reply job: answers a visitor's message while no human has taken the
//! conversation over, and charges for it.

use super::{Outcome, Worker};
use crate::providers::ai::{AiError, AiRequest, HistoryItem, KnowledgeItem};
use crate::providers::language;
use enuchat_domain::plan::{jobs_for, MessageContext};
use enuchat_domain::store::StoreResult;
use enuchat_domain::{ClaimedJob, MessageContent, MessageRole, NewMessage};
use std::sync::Arc;

/// Messages of history given to the model.
const HISTORY: u32 = 20;

pub(super) async fn run(worker: &Worker, claimed: &ClaimedJob) -> StoreResult<Outcome> {
    let job = &claimed.job;
    let tenant_id = job.tenant_id;
    let store = &worker.store;
    let Some(responder) = worker.providers.responder.clone() else {
        return Ok(Outcome::Skipped("no AI provider is configured"));
    };
    let Some(conversation) = store
        .get_conversation(tenant_id, job.conversation_id)
        .await?
    else {
        return Ok(Outcome::Skipped("the conversation is gone"));
    };
    if conversation.handed_off_at.is_some() {
        return Ok(Outcome::Skipped("an operator took the conversation over"));
    }
    let Some(widget) = store.get_widget(tenant_id, conversation.widget_id).await? else {
        return Ok(Outcome::Skipped("the widget is gone"));
    };
    if !widget.ai_enabled {
        return Ok(Outcome::Skipped("AI is off for this widget"));
    }
    let Some(tenant) = store.get_tenant(tenant_id).await? else {
        return Ok(Outcome::Skipped("the account is gone"));
    };
    if tenant.credit_balance <= 0 {
        return Ok(Outcome::Skipped("no credits left"));
    }
    let Some(trigger) = store.get_message(tenant_id, job.message_id).await? else {
        return Ok(Outcome::Skipped("the message is gone"));
    };
    let history = store
        .recent_messages(tenant_id, conversation.id, HISTORY)
        .await?;
    // Several quick messages in a row get one answer: the newest one's job
    // answers them all, with the whole history.
    if history
        .iter()
        .any(|m| m.role == MessageRole::Visitor && m.seq > trigger.seq)
    {
        return Ok(Outcome::Skipped("a newer visitor message will be answered"));
    }
    let knowledge = store
        .list_knowledge_entries(tenant_id, widget.id)
        .await?
        .into_iter()
        .map(|k| KnowledgeItem {
            question: k.question,
            answer: k.answer,
        })
        .collect();
    let request = AiRequest {
        knowledge,
        history: history
            .iter()
            .filter(|m| m.seq <= trigger.seq)
            .map(|m| HistoryItem {
                role: m.role.as_str().to_owned(),
                content: m.content.clone(),
            })
            .collect(),
        visitor_language: conversation.visitor_language.clone(),
    };
    let reply = match responder.reply(&request).await {
        Ok(Some(reply)) => reply,
        Ok(None) => return Ok(Outcome::Skipped("no confident answer; waiting for a human")),
        Err(AiError::Transient(e)) => {
            return Ok(Outcome::Retry(format!("{}: {e}", responder.name())))
        }
        Err(AiError::Permanent(e)) => {
            return Ok(Outcome::Failed(format!("{}: {e}", responder.name())))
        }
    };
    // The model may have taken seconds: if an operator stepped in
    // meanwhile, their word counts and the answer is dropped (unbilled).
    let handed_off = store
        .get_conversation(tenant_id, conversation.id)
        .await?
        .is_none_or(|c| c.handed_off_at.is_some());
    if handed_off {
        return Ok(Outcome::Skipped(
            "an operator took over while the AI was answering",
        ));
    }
    let content = match MessageContent::parse(reply.content.clone()) {
        Ok(content) => content,
        Err(err) => return Ok(Outcome::Failed(format!("unusable reply: {err}"))),
    };
    let language = language::detect(content.as_str());
    let context = MessageContext {
        translation_enabled: widget.translation_enabled,
        ai_enabled: false,
        operator_language: tenant.operator_language.clone(),
        visitor_language: conversation.visitor_language.clone(),
        handed_off: false,
    };
    let mut new = NewMessage::new(MessageRole::Ai, content);
    new.is_auto_reply = true;
    new.jobs = jobs_for(&context, MessageRole::Ai, language.as_deref());
    new.content_language = language;
    let charge = worker.pricing.ai_cost(&reply);
    match store
        .complete_ai_reply(tenant_id, claimed, new, charge)
        .await?
    {
        Some((message, _charge)) => {
            worker.hub.publish_message(tenant_id, Arc::new(message));
            Ok(Outcome::Done)
        }
        None => {
            tracing::warn!(job = %job.id, "lost the lease of an AI reply job; dropped its reply");
            Ok(Outcome::Done)
        }
    }
}
