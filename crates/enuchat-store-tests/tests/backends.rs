//! Runs every story against every backend, each on a fresh database:
//! `sqlite::<area>::<story>` on a temporary file and `postgres::<area>::<story>`
//! on a throwaway PostgreSQL database. `sqlite_anchored::<area>::<story>`
//! runs them on SQLite again with deep-page anchors from offset 3 on, built
//! at once, so that every page a story reads past its first rows comes from
//! an anchor.
//!
//! PostgreSQL is found through `ENUCHAT_TEST_DATABASE_URL` (an admin URL; the
//! default suits a local server with trust authentication). When it cannot be
//! reached the PostgreSQL variants print SKIP and pass, except in CI
//! (`CI=true`), where a missing database must fail the run rather than hide.

mod harness;

use enuchat_store_tests::stories::SharedStore;

/// For each `area { story, ... }`, generates `sqlite::area::story` and
/// `postgres::area::story`, both calling `stories::area::story`.
macro_rules! store_tests {
    ($($area:ident { $($story:ident),* $(,)? })*) => {
        mod sqlite {
            $(mod $area {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    crate::harness::on_sqlite(enuchat_store_tests::stories::$area::$story).await;
                })*
            })*
        }
        mod sqlite_anchored {
            $(mod $area {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    crate::harness::on_sqlite_anchored(enuchat_store_tests::stories::$area::$story).await;
                })*
            })*
        }
        mod postgres {
            $(mod $area {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    crate::harness::on_postgres(enuchat_store_tests::stories::$area::$story).await;
                })*
            })*
        }
    };
}

store_tests! {
    tenants {
        tenant_create_get_and_has_tenants,
        first_start_is_claimed_once,
        operator_create_get_and_isolation,
        operator_email_is_unique_across_tenants,
        a_closed_store_refuses_calls,
    }
    widgets {
        widgets_create_list_in_order_and_isolation,
    }
    api_keys {
        api_keys_create_find_list_revoke,
        api_key_touch_respects_granularity,
        api_key_uses_are_written_together,
        api_keys_are_tenant_isolated,
    }
    conversations {
        visitors_create_get_and_widget_ownership,
        conversation_create_get_and_references,
        conversations_list_order_and_filters,
        conversation_paging_is_stable_with_ties,
        listed_rows_are_the_stored_rows,
    }
    deep_pages {
        deep_pages_follow_every_change,
    }
    details {
        a_detail_is_the_conversation_and_its_newest_messages,
    }
    busy_reads {
        reads_under_load_see_every_acknowledged_write,
    }
    updates {
        update_conversation_status_and_assignment,
        update_conversation_respects_tenants,
    }
    messages {
        append_message_numbers_without_gaps,
        recent_messages_are_the_newest_oldest_first,
        concurrent_appends_get_distinct_gapless_seqs,
    }
    credits {
        credits_add_update_balance_and_ledger,
    }
    rate_limits {
        rate_limit_burst_then_refusal,
        rate_limit_prune_forgets_only_full_buckets,
        rate_limit_peek_spends_nothing,
        rate_limit_concurrent_leases_never_exceed_the_burst,
    }
    demo {
        demo_batches_round_trip,
    }
    dashboard {
        operators_by_email_and_per_tenant,
        sessions_expire_touch_and_end,
        inbox_previews_unread_and_filters,
        messages_before_pages_backwards,
    }
    dashboard_admin {
        update_widget_changes_only_what_is_set,
        update_operator_keeps_an_owner,
        concurrent_demotions_leave_one_owner,
        delete_operator_ends_sessions_and_unassigns,
    }
    jobs {
        jobs_are_enqueued_with_their_message_atomically,
        jobs_are_claimed_with_a_lease_and_reclaimed_after_it,
        a_stale_lease_cannot_complete_a_job,
        concurrent_claimers_take_every_job_exactly_once,
        failed_jobs_retry_later_or_stay_visible,
        a_job_ends_only_as_its_own_kind,
        translation_completion_charges_for_its_message,
        ai_reply_completion_appends_charges_and_enqueues,
        charges_never_take_the_balance_below_zero,
        knowledge_entries_are_per_widget_and_tenant,
        operators_and_requests_hand_conversations_off,
        visitor_messages_keep_the_visitor_language_current,
        prune_deletes_old_done_jobs_only,
    }
    planned_jobs {
        planned_appends_follow_the_facts_at_append_time,
        asking_for_a_person_hands_off_in_the_append,
        concurrent_planned_appends_see_the_messages_before_them,
    }
    visitor_side {
        find_widget_by_id_alone,
        widget_allowed_origins_round_trip,
        visitor_token_lookup_and_uniqueness,
        update_visitor_sets_clears_and_respects_tenants,
        get_or_create_visitor_conversation_is_idempotent,
        get_or_create_visitor_conversation_under_concurrency,
        get_or_create_visitor_conversation_checks_references,
        visitor_conversation_finds_the_visitors_one,
        messages_after_returns_what_was_missed,
        append_with_reopen_reopens_only_closed,
    }
}

/// The deep-pages story on SQLite with production's rules (anchors built on a
/// list's second deep read) but a small spacing: its pages really are read
/// from anchors, so the story is not passing on plain reads alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deep_pages_are_read_from_anchors() {
    use enuchat_store_sqlite::{AnchorSettings, SqliteStore};
    let settings = AnchorSettings {
        build_at_first_deep_read: false,
        ..harness::small_anchors()
    };
    let store = std::sync::Arc::new(
        SqliteStore::connect_with("sqlite::memory:", settings)
            .await
            .expect("open SQLite store"),
    );
    enuchat_store_tests::stories::deep_pages::deep_pages_follow_every_change(store.clone()).await;
    let reads = store.deep_page_reads();
    assert!(reads.built > 0 && reads.anchored > reads.built, "{reads:?}");
    // Anchored pages were cut from held blocks, read again after changes.
    let blocks = store.deep_block_reads();
    assert!(blocks.hits > 0 && blocks.misses > 0, "{blocks:?}");
}

/// SQLite: commits that move no row of a tenant's lists (another tenant's
/// new conversation, a visitor's new name) leave its anchors in use, and its
/// deep pages are cut from blocks again once two pages want one; pages cut
/// after a commit show it. Anchors built again with nothing changed find the
/// blocks held, and anchors with nothing committed since their walk are not
/// walked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deep_pages_use_blocks_after_commits_elsewhere() {
    use enuchat_domain::{ConversationFilter, Store, VisitorPatch};
    use enuchat_store_sqlite::{AnchorSettings, SqliteStore};
    use enuchat_store_tests::fixtures::*;
    let settings = AnchorSettings {
        ttl: std::time::Duration::from_millis(300),
        ..harness::small_anchors()
    };
    let store = SqliteStore::connect_with("sqlite::memory:", settings)
        .await
        .expect("open SQLite store");
    let (t, w) = tenant_with_widget(&store, "Acme").await;
    let (other, other_widget) = tenant_with_widget(&store, "Other").await;
    for _ in 0..12 {
        conversation(&store, t.id, w.id).await;
    }
    let all = ConversationFilter::default();
    // Reads the page of 2 rows at offset 7 three times; each must be the
    // slice of the whole list. Returns the blocks cut from meanwhile.
    let read_deep = || async {
        let before = store.deep_block_reads().hits;
        for _ in 0..3 {
            let whole = store.list_conversations(t.id, &all, 100, 0).await;
            let page = store.list_conversations(t.id, &all, 2, 7).await;
            let expected = whole.expect("whole")[7..9].to_vec();
            assert_eq!(page.expect("page").to_vec(), expected);
        }
        store.deep_block_reads().hits - before
    };
    read_deep().await;
    assert!(read_deep().await > 0, "nothing committed");

    conversation(&store, other.id, other_widget.id).await;
    assert!(read_deep().await > 0, "after another tenant's commit");

    let deep = store.list_conversations(t.id, &all, 1, 8).await.unwrap();
    let renamed = VisitorPatch {
        name: Some(Some("Renamed".into())),
        ..Default::default()
    };
    store
        .update_visitor(t.id, &deep[0].visitor_id, renamed)
        .await
        .expect("update")
        .expect("found");
    assert!(read_deep().await > 0, "after a visitor's new name");
    let after = store.list_conversations(t.id, &all, 1, 8).await.unwrap();
    assert_eq!(after[0].visitor_name.as_deref(), Some("Renamed"));

    tokio::time::sleep(settings.ttl * 2).await;
    let (built, misses) = (
        store.deep_page_reads().built,
        store.deep_block_reads().misses,
    );
    assert!(read_deep().await > 0, "after the anchors grew old");
    assert!(store.deep_page_reads().built > built, "built again");
    assert_eq!(
        store.deep_block_reads().misses,
        misses,
        "no block read again"
    );

    // Past their age again with nothing committed since their walk: kept
    // without a walk.
    tokio::time::sleep(settings.ttl * 2).await;
    let built = store.deep_page_reads().built;
    assert!(
        read_deep().await > 0,
        "after the anchors grew old unchanged"
    );
    assert_eq!(store.deep_page_reads().built, built, "not walked again");
    assert_eq!(store.deep_block_reads().misses, misses);
}

/// Runs a story of a reading, a writing and a reference store twice on a
/// new SQLite file: with the writes made through the reading store, then
/// through another store on the same file (as another process would write
/// it). The reference store keeps what `reference` says; `check` looks at
/// the reader and the reference afterwards.
async fn sqlite_with_every_writer<Story, Fut>(
    reference: enuchat_store_sqlite::PageCacheSettings,
    story: Story,
    check: impl Fn(&enuchat_store_sqlite::SqliteStore, &enuchat_store_sqlite::SqliteStore),
) where
    Story: Fn(SharedStore, SharedStore, SharedStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use enuchat_store_sqlite::SqliteStore;
    use std::sync::Arc;
    for separate_writer in [false, true] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("enuchat.db").display());
        let open = || async { SqliteStore::connect(&url).await.expect("open SQLite store") };
        let reader = Arc::new(open().await);
        let writer: SharedStore = if separate_writer {
            Arc::new(open().await)
        } else {
            reader.clone()
        };
        let kept = Arc::new(open().await.with_page_cache(reference));
        story(reader.clone(), writer, kept.clone()).await;
        check(&reader, &kept);
    }
}

/// SQLite holds conversation details until the next commit by any
/// connection: the details story, checked against a store that keeps none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_details_follow_every_commit() {
    let keep_none = enuchat_store_sqlite::PageCacheSettings {
        max_detail_bytes: 0,
        ..Default::default()
    };
    sqlite_with_every_writer(
        keep_none,
        enuchat_store_tests::stories::details::details_follow_another_instances_writes,
        |reader, reference| {
            let reads = reader.detail_cache_reads();
            assert!(reads.hits > 0 && reads.misses > 0, "{reads:?}");
            assert_eq!(reference.detail_cache_reads(), Default::default());
        },
    )
    .await;
}

/// SQLite holds shallow list pages until the next commit by any connection:
/// the shallow-pages story, checked against a store that keeps none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_shallow_pages_follow_every_commit() {
    let keep_none = enuchat_store_sqlite::PageCacheSettings {
        max_rows: 0,
        ..Default::default()
    };
    sqlite_with_every_writer(
        keep_none,
        enuchat_store_tests::stories::shallow_pages::shallow_pages_follow_another_instances_writes,
        |reader, reference| {
            let reads = reader.page_cache_reads();
            assert!(reads.hits > 0 && reads.misses > 0, "{reads:?}");
            assert_eq!(reference.page_cache_reads(), Default::default());
        },
    )
    .await;
}

/// The deep-pages story on PostgreSQL with anchors every 3 rows, built on a
/// list's first deep read: every change it makes must move the list version
/// on, or a page read from stale anchors fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_anchored_deep_pages_follow_every_change() {
    harness::on_postgres_anchored(
        enuchat_store_tests::stories::deep_pages::deep_pages_follow_every_change,
    )
    .await;
}

/// As `sqlite_deep_pages_are_read_from_anchors`, on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deep_pages_are_read_from_anchors() {
    harness::on_postgres_with(|url| async move {
        let settings = enuchat_store_postgres::AnchorSettings {
            build_at_first_deep_read: false,
            ..harness::small_anchors()
        };
        let store = std::sync::Arc::new(harness::postgres_store(&url, settings).await);
        enuchat_store_tests::stories::deep_pages::deep_pages_follow_every_change(store.clone())
            .await;
        let reads = store.deep_page_reads();
        assert!(reads.built > 0 && reads.anchored > reads.built, "{reads:?}");
        // Anchored pages were cut from held blocks, and blocks were read
        // again after changes.
        let blocks = store.deep_block_reads();
        assert!(blocks.hits > 0 && blocks.stale > 0, "{blocks:?}");
    })
    .await;
}

/// Two PostgreSQL instances on one database: the one that reads keeps
/// anchors, the other one changes the lists under them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deep_pages_follow_another_instances_writes() {
    harness::on_postgres_with(|url| async move {
        let reader =
            std::sync::Arc::new(harness::postgres_store(&url, harness::small_anchors()).await);
        let writer = harness::postgres_store(&url, harness::small_anchors()).await;
        enuchat_store_tests::stories::deep_pages::deep_pages_follow_another_instances_writes(
            reader.clone(),
            std::sync::Arc::new(writer),
        )
        .await;
        let reads = reader.deep_page_reads();
        // Anchors were used, and found stale after the writer's changes.
        assert!(reads.anchored > 0 && reads.retried > 0, "{reads:?}");
        let blocks = reader.deep_block_reads();
        assert!(blocks.hits > 0 && blocks.stale > 0, "{blocks:?}");
    })
    .await;
}

/// Two PostgreSQL instances on one database keeping shallow pages in memory:
/// the one that reads serves them while the other changes every field a list
/// shows; a third that keeps nothing says what the pages should be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_shallow_pages_follow_another_instances_writes() {
    use std::sync::Arc;
    harness::on_postgres_with(|url| async move {
        use enuchat_store_postgres::PageCacheSettings;
        let url = &url;
        let store = |max_rows| async move {
            // Every read checks: no read skips the cache after a stale one.
            let settings = PageCacheSettings {
                max_rows,
                max_skips: 0,
                ..Default::default()
            };
            let store = harness::postgres_store(url, Default::default()).await;
            Arc::new(store.with_page_cache(settings))
        };
        let reader = store(PageCacheSettings::default().max_rows).await;
        let writer = store(PageCacheSettings::default().max_rows).await;
        let reference = store(0).await;
        enuchat_store_tests::stories::shallow_pages::shallow_pages_follow_another_instances_writes(
            reader.clone(),
            writer,
            reference.clone(),
        )
        .await;
        let reads = reader.page_cache_reads();
        // Pages came from memory, and were found stale after the changes.
        assert!(reads.hits > 0 && reads.stale > 0, "{reads:?}");
        let kept_nothing = reference.page_cache_reads();
        assert_eq!(kept_nothing, Default::default());
    })
    .await;
}

/// Two PostgreSQL instances on one database keeping conversation details in
/// memory: the one that reads serves them while the other changes every
/// field a detail shows; a third that keeps nothing says what they should be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_details_follow_another_instances_writes() {
    use std::sync::Arc;
    harness::on_postgres_with(|url| async move {
        use enuchat_store_postgres::DetailCacheSettings;
        let url = &url;
        let store = |max_bytes| async move {
            // Every read checks: no read skips the cache after a stale one.
            let settings = DetailCacheSettings {
                max_bytes,
                max_skips: 0,
            };
            let store = harness::postgres_store(url, Default::default()).await;
            Arc::new(store.with_detail_cache(settings))
        };
        let reader = store(DetailCacheSettings::default().max_bytes).await;
        let writer = store(DetailCacheSettings::default().max_bytes).await;
        let reference = store(0).await;
        enuchat_store_tests::stories::details::details_follow_another_instances_writes(
            reader.clone(),
            writer,
            reference.clone(),
        )
        .await;
        let reads = reader.detail_cache_reads();
        // Details came from memory, and were found stale after the changes.
        assert!(reads.hits > 0 && reads.stale > 0, "{reads:?}");
        let kept_nothing = reference.detail_cache_reads();
        assert_eq!(kept_nothing, Default::default());
    })
    .await;
}

/// Two PostgreSQL instances: one appends, the other, kept busy reading the
/// same list page and detail from many tasks (so that reads share version
/// checks), must show each append once it is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_busy_reads_see_another_instances_writes() {
    use std::sync::Arc;
    harness::on_postgres_with(|url| async move {
        use enuchat_store_postgres::{DetailCacheSettings, PageCacheSettings};
        // Every read checks: no read skips the caches after a stale one.
        let reader = harness::postgres_store(&url, Default::default())
            .await
            .with_page_cache(PageCacheSettings {
                max_skips: 0,
                ..Default::default()
            })
            .with_detail_cache(DetailCacheSettings {
                max_skips: 0,
                ..Default::default()
            });
        let reader = Arc::new(reader);
        let writer = Arc::new(harness::postgres_store(&url, Default::default()).await);
        enuchat_store_tests::stories::busy_reads::reads_under_load_see_another_instances_writes(
            reader.clone(),
            writer,
        )
        .await;
        // Reads did share checks, and were served from memory.
        for reads in [reader.page_cache_reads(), reader.detail_cache_reads()] {
            assert!(reads.hits > 0 && reads.shared_checks > 0, "{reads:?}");
        }
    })
    .await;
}
