//! Which background work a new message causes. Decided when the message is
//! stored, so the jobs go into the same transaction (the outbox): a message
//! that was acknowledged always has its translation and AI reply queued.
//!
//! A caller either lists the jobs itself ([`NewMessage::jobs`], when it has
//! just read what they depend on for another reason) or leaves the decision
//! to the store with a [`JobPlan`] ([`NewMessage::plan`]): the store then
//! reads the conversation's [`ConversationFacts`] in the append's own
//! transaction, so the decision cannot rest on facts that changed since,
//! and no separate read is needed before the append.

use crate::jobs::{ConversationFacts, JobKind, NewJob, UNKNOWN_LANGUAGE};
use crate::models::{Message, NewMessage};
use crate::MessageRole;
use serde::{Deserialize, Serialize};

/// What the decision needs to know about the message's conversation.
#[derive(Debug, Clone, Default)]
pub struct MessageContext {
    pub translation_enabled: bool,
    pub ai_enabled: bool,
    /// The tenant's operators read and write this language.
    pub operator_language: String,
    /// The visitor's language as last detected (or given by the browser).
    pub visitor_language: Option<String>,
    /// An operator took the conversation over: the AI stays silent.
    pub handed_off: bool,
}

/// Asks the store to decide a message's jobs from the conversation's facts
/// as they are when the message is appended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobPlan {
    /// This very message hands the conversation to humans (an operator
    /// writing from the dashboard, a visitor asking for a person while the
    /// AI answers): no AI reply, whatever the facts say.
    pub handing_off: bool,
    /// This visitor message asks for a person. If the AI answers the
    /// conversation when the message is appended (AI on, not handed off),
    /// the same transaction hands it to humans: `handed_off_at` is set, the
    /// status becomes `pending` so that operators see it waiting, and no AI
    /// reply is queued. Otherwise (humans answer already) it is a message
    /// like any other. Deciding this under the append's lock means a second
    /// message racing it cannot still get an AI reply, and the hand-off
    /// cannot fail after the message was stored.
    pub asks_for_person: bool,
}

impl JobPlan {
    /// The jobs `new` causes in a conversation with `facts`, on top of
    /// those `new` lists itself.
    pub fn jobs(&self, facts: &ConversationFacts, new: &NewMessage) -> Vec<NewJob> {
        let silences_ai = self.handing_off || self.hands_off(facts);
        let context = MessageContext::from_facts(facts.clone(), silences_ai);
        jobs_for(&context, new.role, new.content_language.as_deref())
    }

    /// Whether appending the message hands a conversation with `facts` to
    /// humans as one waiting for them (status `pending`): a visitor asking
    /// for a person while the AI answers ([`JobPlan::asks_for_person`]).
    pub fn hands_off(&self, facts: &ConversationFacts) -> bool {
        self.asks_for_person && facts.ai_enabled && !facts.handed_off
    }

    /// Whether a message appended with a plan may have queued jobs, judged
    /// from what the store returned: a translation job marks its message
    /// `translation_pending`, and only visitor messages get AI replies. Lets
    /// a caller wake the job worker only when there is work for it.
    pub fn may_have_queued(message: &Message) -> bool {
        message.translation_pending || message.role == MessageRole::Visitor
    }
}

impl ConversationFacts {
    /// The facts once `new` is appended, changed as the append itself
    /// changes the conversation: an operator's message, or a visitor's that
    /// asks for a person while the AI answers, puts humans in charge; a
    /// visitor's message in a known language makes that the conversation's
    /// language. For a store that reads the facts of several
    /// appends at once (PostgreSQL's batches): a later message of the same
    /// conversation in the batch is then planned as if its facts were read
    /// after the earlier one was appended.
    pub fn after(&mut self, new: &NewMessage) {
        if new.role == MessageRole::Operator || new.plan.is_some_and(|plan| plan.hands_off(self)) {
            self.handed_off = true;
        }
        if new.role == MessageRole::Visitor {
            if let Some(lang) = new.content_language.as_deref() {
                if lang != UNKNOWN_LANGUAGE {
                    self.visitor_language = Some(lang.to_owned());
                }
            }
        }
    }
}

impl MessageContext {
    /// The context from what the store read; `handing_off`: this very
    /// message hands the conversation to humans.
    pub fn from_facts(facts: ConversationFacts, handing_off: bool) -> Self {
        Self {
            translation_enabled: facts.translation_enabled,
            ai_enabled: facts.ai_enabled,
            operator_language: facts.operator_language,
            visitor_language: facts.visitor_language,
            handed_off: facts.handed_off || handing_off,
        }
    }
}

/// The payload of a translation job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranslatePayload {
    /// The source language when known; providers detect it otherwise.
    pub from: Option<String>,
    pub to: String,
}

/// The jobs a message of `role` with detected `content_language` causes.
pub fn jobs_for(
    context: &MessageContext,
    role: MessageRole,
    content_language: Option<&str>,
) -> Vec<NewJob> {
    let mut jobs = Vec::new();
    if let Some(payload) = translation_for(context, role, content_language) {
        jobs.push(NewJob {
            kind: JobKind::Translate,
            payload: serde_json::to_value(payload).expect("plain struct"),
        });
    }
    if role == MessageRole::Visitor && context.ai_enabled && !context.handed_off {
        jobs.push(NewJob {
            kind: JobKind::AiReply,
            payload: serde_json::json!({}),
        });
    }
    jobs
}

/// Visitor messages are translated into the operators' language; everything
/// else (operator, system, AI) into the visitor's. Nothing when translation
/// is off, a language is unknown, or both sides already speak the same one.
pub fn translation_for(
    context: &MessageContext,
    role: MessageRole,
    content_language: Option<&str>,
) -> Option<TranslatePayload> {
    if !context.translation_enabled {
        return None;
    }
    let content_language = content_language.filter(|l| *l != UNKNOWN_LANGUAGE);
    let (from, to) = match role {
        MessageRole::Visitor => (
            content_language
                .map(str::to_owned)
                .or_else(|| context.visitor_language.clone()),
            Some(context.operator_language.clone()),
        ),
        _ => (
            content_language
                .map(str::to_owned)
                .or_else(|| Some(context.operator_language.clone())),
            context.visitor_language.clone(),
        ),
    };
    // A visitor message in an unknown language is left alone: guessing would
    // cost credits for "ok" and "thanks".
    let from = from?;
    let to = to?;
    if same_language(&from, &to) {
        return None;
    }
    Some(TranslatePayload {
        from: Some(from),
        to,
    })
}

/// `en` and `en-US` are the same language for translation purposes.
fn same_language(a: &str, b: &str) -> bool {
    fn base(code: &str) -> &str {
        code.split(['-', '_']).next().unwrap_or(code)
    }
    base(a).eq_ignore_ascii_case(base(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> MessageContext {
        MessageContext {
            translation_enabled: true,
            ai_enabled: true,
            operator_language: "en".into(),
            visitor_language: Some("es".into()),
            handed_off: false,
        }
    }

    fn kinds(jobs: &[NewJob]) -> Vec<JobKind> {
        jobs.iter().map(|j| j.kind).collect()
    }

    #[test]
    fn visitor_messages_are_translated_for_operators_and_answered() {
        let jobs = jobs_for(&context(), MessageRole::Visitor, Some("es"));
        assert_eq!(kinds(&jobs), vec![JobKind::Translate, JobKind::AiReply]);
        let payload: TranslatePayload = serde_json::from_value(jobs[0].payload.clone()).unwrap();
        assert_eq!(payload.from.as_deref(), Some("es"));
        assert_eq!(payload.to, "en");
    }

    #[test]
    fn replies_are_translated_for_the_visitor() {
        for role in [MessageRole::Operator, MessageRole::System, MessageRole::Ai] {
            let jobs = jobs_for(&context(), role, None);
            assert_eq!(kinds(&jobs), vec![JobKind::Translate], "{role:?}");
            let payload: TranslatePayload =
                serde_json::from_value(jobs[0].payload.clone()).unwrap();
            assert_eq!(payload.from.as_deref(), Some("en"));
            assert_eq!(payload.to, "es");
        }
        // An operator who writes in the visitor's language needs nothing.
        assert!(jobs_for(&context(), MessageRole::Operator, Some("es")).is_empty());
    }

    #[test]
    fn nothing_to_translate_when_off_unknown_or_the_same() {
        let mut first_message = context();
        first_message.visitor_language = None;
        assert!(
            translation_for(&first_message, MessageRole::Visitor, Some(UNKNOWN_LANGUAGE)).is_none()
        );

        let mut off = context();
        off.translation_enabled = false;
        assert!(translation_for(&off, MessageRole::Visitor, Some("es")).is_none());

        let mut unknown = context();
        unknown.visitor_language = None;
        assert!(translation_for(&unknown, MessageRole::Visitor, None).is_none());
        assert!(translation_for(&unknown, MessageRole::Operator, None).is_none());

        let mut same = context();
        same.visitor_language = Some("en-GB".into());
        assert!(translation_for(&same, MessageRole::Visitor, Some("en")).is_none());
        assert!(translation_for(&same, MessageRole::Operator, None).is_none());
    }

    #[test]
    fn the_ai_stays_silent_once_humans_took_over_or_when_off() {
        let mut handed_off = context();
        handed_off.handed_off = true;
        assert_eq!(
            kinds(&jobs_for(&handed_off, MessageRole::Visitor, Some("es"))),
            vec![JobKind::Translate]
        );
        let mut off = context();
        off.ai_enabled = false;
        off.translation_enabled = false;
        assert!(jobs_for(&off, MessageRole::Visitor, Some("es")).is_empty());
        // Only visitors get auto-replies.
        assert!(
            !kinds(&jobs_for(&context(), MessageRole::System, None)).contains(&JobKind::AiReply)
        );
    }

    fn facts() -> ConversationFacts {
        ConversationFacts {
            widget_id: crate::WidgetId::new(),
            translation_enabled: true,
            ai_enabled: true,
            operator_language: "en".into(),
            visitor_language: None,
            handed_off: false,
        }
    }

    fn message(role: MessageRole, language: Option<&str>) -> NewMessage {
        let mut new = NewMessage::new(role, crate::MessageContent::parse("hola".into()).unwrap());
        new.content_language = language.map(str::to_owned);
        new
    }

    #[test]
    fn a_plan_decides_from_the_facts_it_is_given() {
        let plan = JobPlan::default();
        let mut known = facts();
        known.visitor_language = Some("es".into());
        let jobs = plan.jobs(&known, &message(MessageRole::Operator, None));
        assert_eq!(kinds(&jobs), vec![JobKind::Translate]);
        // The visitor's language is not known yet: nothing to translate into.
        assert!(plan
            .jobs(&facts(), &message(MessageRole::System, None))
            .is_empty());
        // Handing off silences the AI for the very message that does it.
        let handing_off = JobPlan {
            handing_off: true,
            ..JobPlan::default()
        };
        let visitor = message(MessageRole::Visitor, Some("es"));
        assert_eq!(
            kinds(&handing_off.jobs(&known, &visitor)),
            vec![JobKind::Translate]
        );
        assert_eq!(
            kinds(&plan.jobs(&known, &visitor)),
            vec![JobKind::Translate, JobKind::AiReply]
        );
    }

    #[test]
    fn facts_after_an_append_change_as_the_append_changes_the_conversation() {
        let mut f = facts();
        f.after(&message(MessageRole::Visitor, Some(UNKNOWN_LANGUAGE)));
        assert_eq!(
            f.visitor_language, None,
            "unknown never replaces a language"
        );
        f.after(&message(MessageRole::Visitor, Some("es")));
        assert_eq!(f.visitor_language.as_deref(), Some("es"));
        f.after(&message(MessageRole::System, Some("de")));
        assert_eq!(
            f.visitor_language.as_deref(),
            Some("es"),
            "only visitors set it"
        );
        assert!(!f.handed_off);
        f.after(&message(MessageRole::System, None));
        assert!(!f.handed_off, "system messages leave the AI in charge");
        f.after(&message(MessageRole::Operator, None));
        assert!(f.handed_off);
    }

    #[test]
    fn asking_for_a_person_hands_off_only_while_the_ai_answers() {
        let asks = JobPlan {
            asks_for_person: true,
            ..JobPlan::default()
        };
        let mut visitor = message(MessageRole::Visitor, Some("es"));
        visitor.plan = Some(asks);
        // The AI answers: this message hands off, and gets no AI reply.
        let mut f = facts();
        assert!(asks.hands_off(&f));
        assert_eq!(kinds(&asks.jobs(&f, &visitor)), vec![JobKind::Translate]);
        f.after(&visitor);
        assert!(f.handed_off, "humans are in charge after it");
        // Humans answer already: nothing to hand off.
        assert!(!asks.hands_off(&f));
        // No AI: humans answer anyway.
        let mut no_ai = facts();
        no_ai.ai_enabled = false;
        assert!(!asks.hands_off(&no_ai));
        no_ai.after(&visitor);
        assert!(!no_ai.handed_off, "nothing to take over from");
        // A message that does not ask leaves the AI in charge.
        let mut plain = facts();
        visitor.plan = Some(JobPlan::default());
        plain.after(&visitor);
        assert!(!plain.handed_off);
    }
}
