//! Small builders shared by the stories. Every fixture asserts its own write
//! succeeded, so a story fails at the line that set it up.

use chrono::{DateTime, Utc};
use enuchat_domain::*;

pub fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).expect("valid display name")
}

pub fn text(s: &str) -> MessageContent {
    MessageContent::parse(s.to_owned()).expect("valid message")
}

pub fn lang(s: &str) -> LanguageCode {
    LanguageCode::parse(s).expect("valid language")
}

/// Both backends keep microseconds; comparisons happen at that precision.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub async fn tenant(store: &dyn Store, label: &str) -> Tenant {
    store
        .create_tenant(NewTenant {
            name: name(label),
            plan: PlanName::parse("free").expect("valid plan"),
            operator_language: lang("en"),
        })
        .await
        .expect("create tenant")
}

pub fn new_operator(email: &str) -> NewOperator {
    NewOperator {
        email: Email::parse(email).expect("valid email"),
        name: name("Ada"),
        role: OperatorRole::Operator,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
    }
}

pub async fn operator(store: &dyn Store, tenant: TenantId, email: &str) -> Operator {
    store
        .create_operator(tenant, new_operator(email))
        .await
        .expect("create operator")
}

pub fn new_widget(label: &str) -> NewWidget {
    NewWidget {
        name: name(label),
        is_active: true,
        ai_enabled: false,
        translation_enabled: true,
        primary_color: HexColor::parse("#112233").expect("valid colour"),
        position: WidgetPosition::BottomLeft,
        greeting: Some("Hello!".into()),
        allowed_origins: Vec::new(),
    }
}

pub async fn widget(store: &dyn Store, tenant: TenantId) -> Widget {
    store
        .create_widget(tenant, new_widget("Site"))
        .await
        .expect("create widget")
}

pub fn new_visitor(widget: WidgetId) -> NewVisitor {
    NewVisitor {
        id: VisitorId::generate(),
        widget_id: widget,
        name: Some("Grace".into()),
        email: Some("grace@example.com".into()),
        language: Some(lang("pl")),
        token_hash: None,
    }
}

pub async fn visitor(store: &dyn Store, tenant: TenantId, widget: WidgetId) -> Visitor {
    store
        .create_visitor(tenant, new_visitor(widget))
        .await
        .expect("create visitor")
}

/// A visitor of the widget API, with the hash of a fresh token; returns the
/// token itself too.
pub async fn visitor_with_token(
    store: &dyn Store,
    tenant: TenantId,
    widget: WidgetId,
) -> (Visitor, String) {
    let token = secret::generate_visitor_token();
    let visitor = store
        .create_visitor(
            tenant,
            NewVisitor {
                token_hash: Some(token.hash),
                ..new_visitor(widget)
            },
        )
        .await
        .expect("create visitor with a token");
    (visitor, token.secret)
}

pub fn origin(s: &str) -> Origin {
    Origin::parse(s).expect("valid origin")
}

/// What `get_or_create_visitor_conversation` is asked for a visitor.
pub fn for_visitor(visitor: &Visitor) -> NewConversation {
    NewConversation {
        widget_id: visitor.widget_id,
        visitor_id: visitor.id.clone(),
        visitor_language: visitor.language.as_deref().map(lang),
    }
}

/// A conversation with a fresh visitor on `widget`.
pub async fn conversation(store: &dyn Store, tenant: TenantId, widget: WidgetId) -> Conversation {
    let visitor = visitor(store, tenant, widget).await;
    store
        .create_conversation(
            tenant,
            NewConversation {
                widget_id: widget,
                visitor_id: visitor.id,
                visitor_language: Some(lang("pl")),
            },
        )
        .await
        .expect("create conversation")
}

pub async fn append(
    store: &dyn Store,
    tenant: TenantId,
    conversation: ConversationId,
    body: &str,
) -> Message {
    store
        .append_message(
            tenant,
            conversation,
            NewMessage::new(MessageRole::Visitor, text(body)),
        )
        .await
        .expect("append message")
        .expect("conversation belongs to the tenant")
}

/// A tenant with one widget: the starting point of most stories.
pub async fn tenant_with_widget(store: &dyn Store, label: &str) -> (Tenant, Widget) {
    let t = tenant(store, label).await;
    let w = widget(store, t.id).await;
    (t, w)
}

/// `n` visitors of `widget`, each with one open conversation, all with
/// `last_message_at` = `at`: ties only a bulk import can make (the id then
/// decides the order).
pub fn tied_import(
    tenant: TenantId,
    widget: WidgetId,
    n: usize,
    at: DateTime<Utc>,
) -> enuchat_domain::store::DemoBatch {
    let visitors: Vec<Visitor> = (0..n)
        .map(|i| Visitor {
            id: VisitorId::generate(),
            tenant_id: tenant,
            widget_id: widget,
            name: Some(format!("Visitor {i}")),
            email: None,
            language: None,
            created_at: at,
        })
        .collect();
    let conversations = visitors
        .iter()
        .map(|v| Conversation {
            id: ConversationId::new(),
            tenant_id: tenant,
            widget_id: widget,
            visitor_id: v.id.clone(),
            visitor_name: v.name.clone(),
            visitor_email: v.email.clone(),
            visitor_language: None,
            status: ConversationStatus::Open,
            assigned_to: None,
            last_message_at: at,
            started_at: at,
            last_seq: 0,
            handed_off_at: None,
        })
        .collect();
    enuchat_domain::store::DemoBatch {
        visitors,
        conversations,
        ..Default::default()
    }
}

/// A visitor's question that queues an AI reply, appended to `conversation`.
pub async fn ask_the_ai(store: &dyn Store, tenant: TenantId, conversation: ConversationId) {
    let asking = NewMessage {
        jobs: vec![NewJob {
            kind: JobKind::AiReply,
            payload: serde_json::json!({}),
        }],
        ..NewMessage::new(MessageRole::Visitor, text("a question"))
    };
    store
        .append_message(tenant, conversation, asking)
        .await
        .expect("append")
        .expect("conversation belongs to the tenant");
}

/// Claims the one queued job, an AI reply of `tenant`'s, and writes its
/// answer as the job's worker would.
pub async fn answer_the_queued_question(store: &dyn Store, tenant: TenantId) {
    let soon = Utc::now() + chrono::Duration::seconds(1);
    let claimed = store
        .claim_jobs(soon, std::time::Duration::from_secs(30), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1, "one queued job");
    let reply = NewMessage {
        is_auto_reply: true,
        ..NewMessage::new(MessageRole::Ai, text("an answer"))
    };
    store
        .complete_ai_reply(tenant, &claimed[0], reply, 0)
        .await
        .expect("reply")
        .expect("lease held");
}

/// Assigns the conversation to `to`, or unassigns it with `None`.
pub async fn assign(
    store: &dyn Store,
    tenant: TenantId,
    conversation: ConversationId,
    to: Option<OperatorId>,
) -> Conversation {
    let patch = ConversationPatch {
        status: None,
        assigned_to: Some(to),
    };
    update(store, tenant, conversation, patch).await
}

/// Moves the conversation to `status`.
pub async fn set_status(
    store: &dyn Store,
    tenant: TenantId,
    conversation: ConversationId,
    status: ConversationStatus,
) -> Conversation {
    let patch = ConversationPatch {
        status: Some(status),
        assigned_to: None,
    };
    update(store, tenant, conversation, patch).await
}

async fn update(
    store: &dyn Store,
    tenant: TenantId,
    conversation: ConversationId,
    patch: ConversationPatch,
) -> Conversation {
    store
        .update_conversation(tenant, conversation, patch)
        .await
        .expect("update conversation")
        .expect("conversation belongs to the tenant")
}

/// Hands the conversation to humans (and with `pending`, marks it so).
pub async fn hand_off(
    store: &dyn Store,
    tenant: TenantId,
    conversation: ConversationId,
    pending: bool,
) -> Conversation {
    store
        .set_handed_off(tenant, conversation, pending)
        .await
        .expect("hand off")
        .expect("conversation belongs to the tenant")
}

/// Gives the visitor a new name and email.
pub async fn rename_visitor(
    store: &dyn Store,
    tenant: TenantId,
    visitor: &VisitorId,
    name: &str,
) -> Visitor {
    let patch = VisitorPatch {
        name: Some(Some(name.into())),
        email: Some(Some(format!("{}@example.com", name.to_lowercase()))),
        language: None,
    };
    store
        .update_visitor(tenant, visitor, patch)
        .await
        .expect("update visitor")
        .expect("visitor belongs to the tenant")
}
