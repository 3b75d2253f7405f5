//! PostgreSQL mode: messages and conversation changes committed by any
//! instance (this one too) reach this one's connections through
//! `LISTEN/NOTIFY`. The notice says "conversation X has message `seq`"
//! (or "message `seq` changed", or "conversation X changed"); if anyone here
//! listens, it goes to the hub. The message itself comes with the notice
//! unless it was too long for one; then it is read from the table, as is
//! whatever a connection missed before it (a gap in its seqs). After
//! the listener reconnects (notices sent meanwhile are lost), every
//! connection is told to re-read.
//!
//! Dashboards hear of a conversation when it starts, announced by the notice
//! of its first message (seq 1: a visitor's conversation is created for their
//! first message, so no separate notice is needed), and whenever its status or assignment changes or it is handed
//! to humans (`conversation_changed` notices, sent by the statements that
//! make those changes).

use super::hub::Hub;
use crate::key_cache::KeyCache;
use enuchat_domain::store::StoreResult;
use enuchat_domain::{Message, MessageNotice, Store};
use enuchat_store_postgres::{ListenEvent, PostgresStore};
use std::sync::Arc;
use std::time::Duration;

/// Rows read per catch-up query.
const BATCH: u32 = 200;

/// Also keeps `keys` (the API key cache) honest: revocation notices evict,
/// and whenever notices may have been missed the whole cache is dropped.
pub async fn run(
    postgres: PostgresStore,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    keys: Arc<KeyCache>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match postgres.listen_messages().await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                // Whatever was committed while we were not listening.
                hub.resync_all();
                keys.clear();
                loop {
                    match listener.recv().await {
                        Ok(ListenEvent::Notice(notice)) => {
                            deliver(notice, store.as_ref(), &hub).await
                        }
                        Ok(ListenEvent::ApiKeyRevoked(hash)) => keys.evict(&hash),
                        Ok(ListenEvent::Reconnected) => {
                            tracing::warn!("message listener reconnected; re-syncing connections");
                            hub.resync_all();
                            keys.clear();
                        }
                        Err(err) => {
                            tracing::warn!(%err, "message listener failed; restarting it");
                            // Revocations may go unheard until it is back.
                            keys.clear();
                            break;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "cannot listen for messages; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn deliver(mut notice: MessageNotice, store: &dyn Store, hub: &Hub) {
    // The carried message, in the one `Arc` that dashboards and visitors
    // listening here all share.
    let carried: Option<Arc<Message>> = notice.message.take().map(|m| Arc::new(*m));
    let notice = &notice;
    if notice.conversation_changed {
        return deliver_conversation(notice, store, hub).await;
    }
    if notice.updated {
        return deliver_update(notice, carried, store, hub).await;
    }
    if notice.seq == 1 {
        hub.conversation_started(&notice.visitor_id, notice.conversation_id);
    }
    if hub.tenant_listened(notice.tenant_id) {
        if notice.seq == 1 {
            // A new conversation: dashboards see it (then its message).
            deliver_conversation(notice, store, hub).await;
        }
        // Dashboards of the tenant listen here: just this message.
        match the_message(notice, carried.clone(), store).await {
            Ok(rows) => {
                for message in rows {
                    hub.publish_from_feed(notice.tenant_id, message);
                }
            }
            Err(err) => tracing::warn!(%err, "could not read a notified message"),
        }
    }
    let Some(mut last) = hub.listened_seq(notice.conversation_id) else {
        return; // nobody here listens to this conversation
    };
    if let Some(message) = carried {
        // The notice carries it: nothing to read. Should a connection have
        // missed an earlier one, it sees the jump in seqs and re-reads from
        // the table by itself (`routes/widget/ws.rs`), as on any gap.
        hub.publish(message);
        return;
    }
    while last < notice.seq {
        let rows = match store
            .messages_after(notice.tenant_id, notice.conversation_id, last, BATCH)
            .await
        {
            Ok(rows) => rows,
            Err(err) => {
                // The connections re-read on their next event; nothing is lost.
                tracing::warn!(%err, "could not read notified messages");
                return;
            }
        };
        let Some(newest) = rows.last().map(|m| m.seq) else {
            return;
        };
        for message in rows {
            hub.publish(Arc::new(message));
        }
        last = newest;
    }
}

/// A message changed (its translation arrived): whoever listens here gets
/// the new version.
async fn deliver_update(
    notice: &MessageNotice,
    carried: Option<Arc<Message>>,
    store: &dyn Store,
    hub: &Hub,
) {
    if !hub.tenant_listened(notice.tenant_id) && hub.listened_seq(notice.conversation_id).is_none()
    {
        return;
    }
    match the_message(notice, carried, store).await {
        Ok(rows) => {
            for message in rows {
                hub.publish_update_from_feed(notice.tenant_id, message);
            }
        }
        Err(err) => tracing::warn!(%err, "could not read an updated message"),
    }
}

/// The notified message: the copy the notice `carried`, or (when it did not
/// fit in the notice) read from the table.
async fn the_message(
    notice: &MessageNotice,
    carried: Option<Arc<Message>>,
    store: &dyn Store,
) -> StoreResult<Vec<Arc<Message>>> {
    if let Some(message) = carried {
        return Ok(vec![message]);
    }
    let rows = store
        .messages_after(notice.tenant_id, notice.conversation_id, notice.seq - 1, 1)
        .await?;
    Ok(rows.into_iter().map(Arc::new).collect())
}

/// A conversation started or changed: the tenant's dashboards listening here
/// get it as it is now.
async fn deliver_conversation(notice: &MessageNotice, store: &dyn Store, hub: &Hub) {
    if !hub.tenant_listened(notice.tenant_id) {
        return;
    }
    match store
        .get_conversation(notice.tenant_id, notice.conversation_id)
        .await
    {
        Ok(Some(conversation)) => hub.publish_conversation_from_feed(conversation),
        Ok(None) => tracing::warn!("a notified conversation is missing"),
        Err(err) => tracing::warn!(%err, "could not read a notified conversation"),
    }
}
