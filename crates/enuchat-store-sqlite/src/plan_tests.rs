//! The visitor API's hot queries are served by the indexes meant for them:
//! checked with `EXPLAIN QUERY PLAN` on a migrated database, so a rewritten
//! query or a dropped index fails here instead of slowing down in production.

use crate::conversations::VISITOR_CONVERSATION;
use crate::messages::MESSAGES_AFTER;
use crate::widgets::FIND_VISITOR_BY_TOKEN;
use crate::SqliteStore;

/// The `detail` lines of the plan for `sql`, with every parameter bound to
/// NULL (the plan does not depend on the values).
async fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
    let params = sql.matches('?').count();
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
    for _ in 0..params {
        query = query.bind(None::<i64>);
    }
    let rows = query.fetch_all(&store.reader).await.expect("explain");
    rows.into_iter().map(|(_, _, _, detail)| detail).collect()
}

async fn store() -> SqliteStore {
    SqliteStore::connect("sqlite::memory:").await.expect("open")
}

#[tokio::test]
async fn messages_after_walks_the_conversation_seq_index_in_order() {
    let store = store().await;
    let plan = plan(&store, MESSAGES_AFTER).await;
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(
        plan[0].starts_with("SEARCH messages USING INDEX sqlite_autoindex_messages_")
            && plan[0].ends_with("(conversation_id=? AND seq>?)"),
        "{plan:?}"
    );
}

#[tokio::test]
async fn visitor_token_look_up_uses_the_partial_unique_index() {
    let store = store().await;
    let plan = plan(&store, FIND_VISITOR_BY_TOKEN).await;
    assert_eq!(
        plan,
        vec!["SEARCH visitors USING INDEX visitors_token_hash (token_hash=?)"]
    );
}

#[tokio::test]
async fn visitor_conversation_uses_the_unique_visitor_index() {
    let store = store().await;
    let plan = plan(&store, VISITOR_CONVERSATION).await;
    assert_eq!(plan.len(), 2, "{plan:?}");
    assert_eq!(
        plan[0],
        "SEARCH c USING INDEX conversations_visitor (visitor_id=?)"
    );
    assert!(plan[1].starts_with("SEARCH v USING INDEX"), "{plan:?}");
}

#[tokio::test]
async fn the_inbox_reads_pages_from_an_index_without_sorting() {
    use enuchat_domain::store::InboxFilter;
    use enuchat_domain::{AssigneeFilter, ConversationStatus, OperatorId, WidgetId};
    let store = store().await;
    let shapes = [
        (InboxFilter::default(), "conversations_recent"),
        (
            InboxFilter {
                assignee: AssigneeFilter::Operator(OperatorId::new()),
                ..Default::default()
            },
            "conversations_assignee_recent",
        ),
        (
            InboxFilter {
                assignee: AssigneeFilter::Unassigned,
                status: Some(ConversationStatus::Open),
                ..Default::default()
            },
            "conversations_assignee_status_recent",
        ),
        (
            InboxFilter {
                status: Some(ConversationStatus::Pending),
                ..Default::default()
            },
            "conversations_status_recent",
        ),
        (
            InboxFilter {
                widget_id: Some(WidgetId::new()),
                status: Some(ConversationStatus::Closed),
                ..Default::default()
            },
            "conversations_widget_status_recent",
        ),
    ];
    for (filter, index) in shapes {
        let plan = plan(&store, &crate::dashboard::inbox_sql(&filter)).await;
        // The unfiltered list's index covers the conversation's columns.
        let read = if index == "conversations_recent" {
            "USING COVERING INDEX"
        } else {
            "USING INDEX"
        };
        assert!(
            plan[0].starts_with(&format!("SEARCH c {read} {index} ")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|l| l.contains("TEMP B-TREE")), "{plan:?}");
        assert!(
            plan.iter()
                .any(|l| l.contains("SEARCH lm USING INDEX sqlite_autoindex_messages_")),
            "{plan:?}"
        );
    }
}

#[tokio::test]
async fn older_messages_walk_the_seq_index() {
    let store = store().await;
    let plan = plan(&store, crate::dashboard::MESSAGES_BEFORE).await;
    assert!(
        plan.iter()
            .any(|l| l.starts_with("SEARCH messages USING INDEX sqlite_autoindex_messages_")),
        "{plan:?}"
    );
}

#[tokio::test]
async fn tenant_api_pages_are_cut_from_a_covering_index() {
    use crate::conversations::{
        LIST_ALL, LIST_BY_STATUS, LIST_BY_STATUS_AND_WIDGET, LIST_BY_WIDGET,
    };
    let store = store().await;
    let shapes = [
        (LIST_ALL, "conversations_recent", ""),
        (
            LIST_BY_STATUS,
            "conversations_status_recent",
            "status=? AND ",
        ),
        (
            LIST_BY_WIDGET,
            "conversations_widget_recent",
            "widget_id=? AND ",
        ),
        (
            LIST_BY_STATUS_AND_WIDGET,
            "conversations_widget_status_recent",
            "widget_id=? AND status=? AND ",
        ),
    ];
    for (queries, index, filters) in shapes {
        for sql in [queries.page, queries.page_from] {
            let plan = plan(&store, sql).await;
            // The page is cut from the index in order, then only its rows
            // are joined with their visitors, without sorting: at most
            // `limit` look-ups, however deep the page.
            assert_eq!(plan[0], "CO-ROUTINE c", "{plan:?}");
            let (cut, join) = (&plan[1], &plan[2..]);
            let read = if index == "conversations_recent" {
                // Every column of the page is in this index.
                "USING COVERING INDEX"
            } else {
                "USING INDEX"
            };
            assert!(
                cut.starts_with(&format!("SEARCH conversations {read} {index} ")),
                "{plan:?}"
            );
            assert_eq!(
                join,
                [
                    "SCAN c",
                    "SEARCH v USING COVERING INDEX visitors_list (id=?)"
                ],
                "{plan:?}"
            );
        }
        // From an anchor, the index is entered at the anchor's time rather
        // than walked from the list's start.
        let from = plan(&store, queries.page_from).await;
        let seek = format!("{index} (tenant_id=? AND {filters}(last_message_at,id)<(?,?))");
        assert!(from[1].ends_with(&seek), "{from:?}");
        // The anchors' walk reads the index alone, in order.
        let walk = plan(&store, queries.keys).await;
        assert_eq!(walk.len(), 1, "{walk:?}");
        assert!(
            walk[0].starts_with(&format!(
                "SEARCH conversations USING COVERING INDEX {index} "
            )),
            "{walk:?}"
        );
    }
}

#[tokio::test]
async fn recent_messages_walk_the_seq_index() {
    let store = store().await;
    let plan = plan(&store, crate::messages::RECENT_MESSAGES).await;
    assert!(
        plan.iter().any(|l| l
            .starts_with("SEARCH messages USING INDEX sqlite_autoindex_messages_")
            && l.ends_with("(conversation_id=?)")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|l| l.contains("TEMP B-TREE")), "{plan:?}");
}
