//! In-process fan-out of new messages to the connections of one instance.
//!
//! Channels exist only while someone listens, so memory is bounded by the
//! open connections, not by the number of conversations.

use enuchat_domain::{Conversation, ConversationId, Message, TenantId, VisitorId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Buffered events per tenant for dashboards; a dashboard that falls further
/// behind is told to reconnect (and re-read).
const TENANT_CAPACITY: usize = 256;

/// What a tenant's dashboards hear.
#[derive(Debug, Clone)]
pub enum TenantEvent {
    Message(Arc<Message>),
    /// A stored message changed: its translation arrived.
    MessageUpdated(Arc<Message>),
    /// A conversation started, or its status or assignment changed.
    Conversation(Arc<Conversation>),
    /// Something may have been missed: re-read everything.
    Resync,
}

/// Buffered events per conversation; a connection that falls further behind
/// than this gets `Lagged` and re-reads from the database. The buffer is
/// allocated when the first listener subscribes and lives as long as the
/// conversation is listened to (about 56 bytes a slot), and a visitor's
/// conversation rarely gets more than a few events at once, so it is small:
/// the re-read after a burst costs one query, never a message.
const CHANNEL_CAPACITY: usize = 16;

#[derive(Debug, Clone)]
pub enum HubEvent {
    /// A message was committed; its `seq` tells the listener where it fits.
    Message(Arc<Message>),
    /// Something may have been missed (e.g. the database listener
    /// reconnected): re-read from the table.
    Resync,
    /// The visitor's conversation now exists (their first message).
    ConversationStarted(ConversationId),
    /// A stored message changed (its translation arrived); `seq` is not new.
    Updated(Arc<Message>),
}

#[derive(Default)]
pub struct Hub {
    conversations: Mutex<HashMap<ConversationId, Channel>>,
    /// Visitors connected before their conversation exists.
    waiting: Mutex<HashMap<VisitorId, broadcast::Sender<HubEvent>>>,
    /// Signed-in dashboards, per tenant.
    tenants: Mutex<HashMap<TenantId, broadcast::Sender<TenantEvent>>>,
    /// With PostgreSQL every committed message and conversation change (this
    /// instance's too) comes back through the database feed, which then
    /// feeds the tenant channels; local publishes skip them so dashboards
    /// never get a message or a change twice.
    messages_via_feed: bool,
}

struct Channel {
    sender: broadcast::Sender<HubEvent>,
    /// Highest `seq` published here, so the database feed knows what is new.
    last_seq: i64,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// A hub whose tenant channels hear of messages and conversation changes
    /// only through [`Hub::publish_from_feed`] and
    /// [`Hub::publish_conversation_from_feed`] (PostgreSQL mode).
    pub fn with_feed() -> Self {
        Self {
            messages_via_feed: true,
            ..Self::default()
        }
    }

    /// Subscribes a dashboard to everything of its tenant.
    pub fn subscribe_tenant(self: &Arc<Self>, tenant: TenantId) -> TenantSubscription {
        let mut map = lock(&self.tenants);
        let sender = map
            .entry(tenant)
            .or_insert_with(|| broadcast::channel(TENANT_CAPACITY).0);
        TenantSubscription {
            receiver: sender.subscribe(),
            tenant,
            hub: self.clone(),
        }
    }

    /// Whether any dashboard of the tenant listens here.
    pub fn tenant_listened(&self, tenant: TenantId) -> bool {
        lock(&self.tenants).contains_key(&tenant)
    }

    /// Whether [`Hub::publish_conversation`] of the tenant reaches anyone:
    /// a dashboard of it listens here, and no database feed announces the
    /// change instead. Lets a caller skip reading a changed conversation
    /// back when nobody would be told.
    pub fn publishes_conversations_of(&self, tenant: TenantId) -> bool {
        !self.messages_via_feed && self.tenant_listened(tenant)
    }

    fn send_to_tenant(&self, tenant: TenantId, event: TenantEvent) {
        if let Some(sender) = lock(&self.tenants).get(&tenant) {
            let _ = sender.send(event);
        }
    }

    /// A message committed by this instance: to its conversation's
    /// listeners, and to the tenant's dashboards (unless the feed does that).
    pub fn publish_message(&self, tenant: TenantId, message: Arc<Message>) {
        if !self.messages_via_feed {
            self.send_to_tenant(tenant, TenantEvent::Message(message.clone()));
        }
        self.publish(message);
    }

    /// A message read back after the database feed announced it.
    pub fn publish_from_feed(&self, tenant: TenantId, message: Arc<Message>) {
        self.send_to_tenant(tenant, TenantEvent::Message(message));
    }

    /// A stored message changed (its translation arrived), committed by
    /// this instance. With PostgreSQL the database feed announces it to
    /// every instance, this one included, so nothing is sent here.
    pub fn publish_update(&self, tenant: TenantId, message: Arc<Message>) {
        if !self.messages_via_feed {
            self.send_update(tenant, message);
        }
    }

    /// A changed message read back after the database feed announced it.
    pub fn publish_update_from_feed(&self, tenant: TenantId, message: Arc<Message>) {
        self.send_update(tenant, message);
    }

    fn send_update(&self, tenant: TenantId, message: Arc<Message>) {
        self.send_to_tenant(tenant, TenantEvent::MessageUpdated(message.clone()));
        if let Some(channel) = lock(&self.conversations).get(&message.conversation_id) {
            let _ = channel.sender.send(HubEvent::Updated(message));
        }
    }

    /// A conversation started or changed (status, assignment), by this
    /// instance. With PostgreSQL the database feed announces it to every
    /// instance, this one included, so nothing is sent here.
    pub fn publish_conversation(&self, conversation: Conversation) {
        if !self.messages_via_feed {
            self.send_conversation(conversation);
        }
    }

    /// A conversation read back after the database feed announced that it
    /// started or changed.
    pub fn publish_conversation_from_feed(&self, conversation: Conversation) {
        self.send_conversation(conversation);
    }

    fn send_conversation(&self, conversation: Conversation) {
        let tenant = conversation.tenant_id;
        self.send_to_tenant(tenant, TenantEvent::Conversation(Arc::new(conversation)));
    }

    pub fn subscribe(self: &Arc<Self>, conversation: ConversationId) -> Subscription {
        let mut map = lock(&self.conversations);
        let channel = map.entry(conversation).or_insert_with(|| Channel {
            sender: broadcast::channel(CHANNEL_CAPACITY).0,
            last_seq: 0,
        });
        Subscription {
            receiver: channel.sender.subscribe(),
            key: Key::Conversation(conversation),
            hub: self.clone(),
        }
    }

    /// Waits for the visitor's conversation to be started.
    pub fn wait_for_conversation(self: &Arc<Self>, visitor: &VisitorId) -> Subscription {
        let mut map = lock(&self.waiting);
        let sender = map
            .entry(visitor.clone())
            .or_insert_with(|| broadcast::channel(4).0);
        Subscription {
            receiver: sender.subscribe(),
            key: Key::Visitor(visitor.clone()),
            hub: self.clone(),
        }
    }

    pub fn publish(&self, message: Arc<Message>) {
        let mut map = lock(&self.conversations);
        if let Some(channel) = map.get_mut(&message.conversation_id) {
            if message.seq > channel.last_seq {
                channel.last_seq = message.seq;
                // No receivers left is fine: the subscription's drop cleans up.
                let _ = channel.sender.send(HubEvent::Message(message));
            }
        }
    }

    pub fn conversation_started(&self, visitor: &VisitorId, conversation: ConversationId) {
        if let Some(sender) = lock(&self.waiting).get(visitor) {
            let _ = sender.send(HubEvent::ConversationStarted(conversation));
        }
    }

    /// The highest `seq` published locally, if anyone here listens to the
    /// conversation (`None`: nobody does, nothing to deliver).
    pub fn listened_seq(&self, conversation: ConversationId) -> Option<i64> {
        lock(&self.conversations)
            .get(&conversation)
            .map(|c| c.last_seq)
    }

    /// Tells every connection to re-read what it may have missed.
    pub fn resync_all(&self) {
        for channel in lock(&self.conversations).values() {
            let _ = channel.sender.send(HubEvent::Resync);
        }
        for sender in lock(&self.waiting).values() {
            let _ = sender.send(HubEvent::Resync);
        }
        for sender in lock(&self.tenants).values() {
            let _ = sender.send(TenantEvent::Resync);
        }
    }

    /// Tenants with dashboards listening here.
    pub fn tenants_listened(&self) -> usize {
        lock(&self.tenants).len()
    }

    /// (conversations listened to, visitors waiting), for metrics and tests.
    pub fn sizes(&self) -> (usize, usize) {
        (lock(&self.conversations).len(), lock(&self.waiting).len())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum Key {
    Conversation(ConversationId),
    Visitor(VisitorId),
}

/// A receiver that removes its channel when the last listener goes away.
pub struct Subscription {
    pub receiver: broadcast::Receiver<HubEvent>,
    key: Key,
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Our own receiver still counts until it is dropped after this body.
        match &self.key {
            Key::Conversation(id) => {
                let mut map = lock(&self.hub.conversations);
                if map.get(id).is_some_and(|c| c.sender.receiver_count() <= 1) {
                    map.remove(id);
                }
            }
            Key::Visitor(id) => {
                let mut map = lock(&self.hub.waiting);
                if map.get(id).is_some_and(|s| s.receiver_count() <= 1) {
                    map.remove(id);
                }
            }
        }
    }
}

/// A dashboard's receiver; the tenant's channel goes when the last one does.
pub struct TenantSubscription {
    pub receiver: broadcast::Receiver<TenantEvent>,
    tenant: TenantId,
    hub: Arc<Hub>,
}

impl Drop for TenantSubscription {
    fn drop(&mut self) {
        let mut map = lock(&self.hub.tenants);
        if map
            .get(&self.tenant)
            .is_some_and(|s| s.receiver_count() <= 1)
        {
            map.remove(&self.tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enuchat_domain::{MessageId, MessageRole};

    fn message(conversation: ConversationId, seq: i64) -> Arc<Message> {
        Arc::new(Message {
            id: MessageId::new(),
            conversation_id: conversation,
            seq,
            role: MessageRole::System,
            content: format!("m{seq}"),
            content_language: None,
            translated_content: None,
            translated_language: None,
            is_auto_reply: false,
            author_id: None,
            created_at: chrono::Utc::now(),
            translation_pending: false,
        })
    }

    #[tokio::test]
    async fn delivers_to_listeners_and_forgets_idle_channels() {
        let hub = Arc::new(Hub::new());
        let conversation = ConversationId::new();
        hub.publish(message(conversation, 1)); // nobody listens: dropped
        assert_eq!(hub.listened_seq(conversation), None);
        let mut a = hub.subscribe(conversation);
        let mut b = hub.subscribe(conversation);
        hub.publish(message(conversation, 2));
        hub.publish(message(conversation, 2)); // same seq again: not re-sent
        for sub in [&mut a, &mut b] {
            match sub.receiver.recv().await.unwrap() {
                HubEvent::Message(m) => assert_eq!(m.seq, 2),
                other => panic!("unexpected {other:?}"),
            }
            assert!(sub.receiver.try_recv().is_err());
        }
        assert_eq!(hub.listened_seq(conversation), Some(2));
        drop(a);
        assert_eq!(hub.sizes().0, 1);
        drop(b);
        assert_eq!(hub.sizes(), (0, 0));
    }

    #[tokio::test]
    async fn a_listener_that_falls_behind_is_told_so() {
        let hub = Arc::new(Hub::new());
        let conversation = ConversationId::new();
        let mut slow = hub.subscribe(conversation);
        let burst = CHANNEL_CAPACITY as i64 + 1;
        for seq in 1..=burst {
            hub.publish(message(conversation, seq));
        }
        // The oldest event was overwritten: the listener must re-read.
        assert!(matches!(
            slow.receiver.recv().await,
            Err(broadcast::error::RecvError::Lagged(1))
        ));
        match slow.receiver.recv().await.unwrap() {
            HubEvent::Message(m) => assert_eq!(m.seq, 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn tenant_channels_deliver_and_go_away() {
        let hub = Arc::new(Hub::new());
        let tenant = TenantId::new();
        let conversation = ConversationId::new();
        hub.publish_message(tenant, message(conversation, 1)); // nobody listens
        assert!(!hub.tenant_listened(tenant));
        let mut a = hub.subscribe_tenant(tenant);
        let b = hub.subscribe_tenant(tenant);
        hub.publish_message(TenantId::new(), message(conversation, 2)); // other tenant
        hub.publish_message(tenant, message(conversation, 3));
        match a.receiver.recv().await.unwrap() {
            TenantEvent::Message(m) => assert_eq!(m.seq, 3),
            other => panic!("unexpected {other:?}"),
        }
        assert!(a.receiver.try_recv().is_err());
        drop(a);
        assert_eq!(hub.tenants_listened(), 1);
        drop(b);
        assert_eq!(hub.tenants_listened(), 0);

        // With a feed, only the feed reaches dashboards.
        let hub = Arc::new(Hub::with_feed());
        let mut a = hub.subscribe_tenant(tenant);
        hub.publish_message(tenant, message(conversation, 4));
        assert!(a.receiver.try_recv().is_err());
        hub.publish_from_feed(tenant, message(conversation, 4));
        assert!(matches!(a.receiver.try_recv(), Ok(TenantEvent::Message(_))));
    }

    fn conversation(tenant: TenantId) -> Conversation {
        let now = chrono::Utc::now();
        Conversation {
            id: ConversationId::new(),
            tenant_id: tenant,
            widget_id: enuchat_domain::WidgetId::new(),
            visitor_id: VisitorId::generate(),
            visitor_name: None,
            visitor_email: None,
            visitor_language: None,
            status: enuchat_domain::ConversationStatus::Open,
            assigned_to: None,
            last_message_at: now,
            started_at: now,
            last_seq: 0,
            handed_off_at: None,
        }
    }

    #[tokio::test]
    async fn conversation_changes_reach_dashboards_once() {
        let tenant = TenantId::new();
        // Without a feed (SQLite): published locally.
        let hub = Arc::new(Hub::new());
        let mut a = hub.subscribe_tenant(tenant);
        hub.publish_conversation(conversation(TenantId::new())); // other tenant
        hub.publish_conversation(conversation(tenant));
        assert!(matches!(
            a.receiver.try_recv(),
            Ok(TenantEvent::Conversation(c)) if c.tenant_id == tenant
        ));
        assert!(a.receiver.try_recv().is_err());

        // With a feed (PostgreSQL): only what the feed reads back.
        let hub = Arc::new(Hub::with_feed());
        let mut a = hub.subscribe_tenant(tenant);
        hub.publish_conversation(conversation(tenant));
        assert!(a.receiver.try_recv().is_err());
        hub.publish_conversation_from_feed(conversation(tenant));
        assert!(matches!(
            a.receiver.try_recv(),
            Ok(TenantEvent::Conversation(_))
        ));
        assert!(a.receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn waiting_visitors_learn_their_conversation() {
        let hub = Arc::new(Hub::new());
        let visitor = VisitorId::generate();
        let mut waiting = hub.wait_for_conversation(&visitor);
        let conversation = ConversationId::new();
        hub.conversation_started(&visitor, conversation);
        match waiting.receiver.recv().await.unwrap() {
            HubEvent::ConversationStarted(id) => assert_eq!(id, conversation),
            other => panic!("unexpected {other:?}"),
        }
        drop(waiting);
        assert_eq!(hub.sizes(), (0, 0));
    }
}
