//! Reads of a busy store see every write acknowledged before they started,
//! even when many reads of the same list and conversation are in flight at
//! once (PostgreSQL's caches then share their version checks between
//! reads, which must never hand a read a check that began before it).

use super::SharedStore;
use crate::fixtures::*;
use enuchat_domain::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Tasks that keep `reader` busy with the same reads as the story's.
const BACKGROUND_READERS: usize = 8;
const WRITES: usize = 60;

/// One store, writing and reading (see the next story).
pub async fn reads_under_load_see_every_acknowledged_write(store: SharedStore) {
    reads_under_load_see_another_instances_writes(store.clone(), store).await;
}

/// `writer` appends to one conversation, one message at a time; after each
/// append returns, `reader`, kept busy by background tasks reading the same
/// list page and detail without pause, must show that message both in the
/// list and in the detail.
pub async fn reads_under_load_see_another_instances_writes(
    reader: SharedStore,
    writer: SharedStore,
) {
    let (t, w) = tenant_with_widget(&*writer, "Acme").await;
    let c = conversation(&*writer, t.id, w.id).await;
    append(&*writer, t.id, c.id, "hello").await;
    let all = ConversationFilter::default();

    let stop = Arc::new(AtomicBool::new(false));
    let background_reads = Arc::new(AtomicU64::new(0));
    let busy: Vec<_> = (0..BACKGROUND_READERS)
        .map(|n| {
            let (reader, stop, reads) = (reader.clone(), stop.clone(), background_reads.clone());
            let all = all.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if n % 2 == 0 {
                        reader
                            .list_conversations(t.id, &all, 20, 0)
                            .await
                            .expect("list");
                    } else {
                        let detail = reader.conversation_detail(t.id, c.id, 50).await;
                        detail.expect("detail").expect("found");
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    for n in 0..WRITES {
        let written = append(&*writer, t.id, c.id, &format!("message {n}")).await;
        let (page, detail) = tokio::join!(
            reader.list_conversations(t.id, &all, 20, 0),
            reader.conversation_detail(t.id, c.id, 50),
        );
        let page = page.expect("list");
        assert_eq!(
            page.iter().map(|c| c.last_seq).collect::<Vec<_>>(),
            [written.seq],
            "write {n}: the list shows it"
        );
        let detail = detail.expect("detail").expect("found");
        assert_eq!(
            (
                detail.conversation.last_seq,
                detail.messages.last().map(|m| m.id)
            ),
            (written.seq, Some(written.id)),
            "write {n}: the detail shows it"
        );
    }

    stop.store(true, Ordering::Relaxed);
    for task in busy {
        task.await.expect("background reader");
    }
    // The background really ran alongside the writes.
    let background = background_reads.load(Ordering::Relaxed);
    assert!(background >= WRITES as u64, "{background} background reads");
}
