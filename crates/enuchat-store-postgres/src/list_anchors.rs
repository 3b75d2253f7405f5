//! Deep Tenant API pages without stepping over every skipped row, exact
//! across every instance that shares the database.
//!
//! `LIMIT $2 OFFSET $3` makes PostgreSQL step over each skipped index entry:
//! about 20 ms at offset 90,000 (bench/REPORT.md, scenario 1, deep offsets).
//! As on SQLite (`enuchat_domain::deep_pages`), an instance keeps an anchor
//! every `spacing` rows of a list that is read deep, and a deep page starts at
//! the anchor at or before its offset with a row-value range,
//! `(last_message_at, id) <= (anchor)`, skipping fewer than `spacing` rows.
//!
//! Other instances write the same lists, so no in-process guard can say when
//! anchors went stale. Instead every change to a tenant's lists (their order,
//! which conversations they hold, and any field their rows show, for the
//! shallow pages of `page_cache.rs`) moves the tenant's version in
//! `conversation_list_versions` on, in the change's own transaction (see
//! [`bump_list_versions_sql`]; the version is the sum of a few stripes, each
//! change adding one to its connection's), and every deep read selects
//! that version in the same statement as its page, hence from the same
//! snapshot:
//! - anchors are built together with the version they were read at;
//! - a page read from anchors is used only if the statement saw that same
//!   version. Every change adds to the sum, and of two snapshots one sees
//!   every committed change the other sees (PostgreSQL's snapshots take
//!   commits in one order), so a later snapshot that sees the same version
//!   sees the same committed changes, whoever made them. Otherwise the page
//!   is read again the plain way;
//! - anchors are built only when two deep reads in a row saw the same
//!   version: a list that keeps changing is read the plain way and never pays
//!   for a walk it cannot reuse. One read per list builds at a time.
//!
//! The bump is the last lock a writing transaction takes (after its
//! conversations' row locks), so writers cannot deadlock on it. A batch of
//! appends bumps once, in its last append, to hold it only for its commit
//! (`messages::append_on`).

use chrono::{DateTime, Utc};
use enuchat_domain::deep_pages::{anchor_at, AnchorSettings, DeepReadCounts, ListShape};
use enuchat_domain::TenantId;
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use uuid::Uuid;

/// Where a row sits in every list: `(last_message_at, id)`, newest first.
pub(crate) type SortKey = (DateTime<Utc>, Uuid);

/// A data-modifying CTE, named `list_versions`, that moves on the list
/// version of every tenant in `$rows` (a `FROM` item with a `tenant_id`
/// column, optionally followed by a `WHERE`): it adds one to the tenant's
/// stripe of this connection (migration 20261206000000), so changes made on
/// different connections do not wait for each other's commits here. Stripes
/// are locked in tenant order, so two transactions bumping the same stripes
/// cannot deadlock.
macro_rules! bump_list_versions_sql {
    ($rows:literal) => {
        concat!(
            "list_versions AS ( \
               INSERT INTO conversation_list_versions (tenant_id, stripe, version) \
               SELECT DISTINCT tenant_id, (pg_backend_pid() % 8)::smallint, 1 FROM ",
            $rows,
            " ORDER BY tenant_id \
               ON CONFLICT (tenant_id, stripe) DO UPDATE \
               SET version = conversation_list_versions.version + 1)"
        )
    };
}
pub(crate) use bump_list_versions_sql;

/// Moves on the list versions of `tenants`, for a transaction whose
/// statements changed their lists without doing it themselves (an append
/// batch, an AI reply). Run it last, just before the commit.
pub(crate) async fn bump_list_versions(
    tx: &mut PgConnection,
    tenants: Vec<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "WITH changed AS (SELECT unnest($1::uuid[]) AS tenant_id), ",
        bump_list_versions_sql!("changed"),
        " SELECT 1"
    ))
    .bind(tenants)
    .execute(tx)
    .await?;
    Ok(())
}

/// How to read one deep page.
#[derive(Debug, PartialEq)]
pub(crate) enum DeepRead {
    /// With `LIMIT $2 OFFSET $3`, reporting the version seen to
    /// [`ListAnchors::observed`].
    Plain,
    /// Build the list's anchors first, then read from them; report the result
    /// to [`ListAnchors::built`].
    Build,
    /// From an anchor (see [`FromAnchor`]).
    From(FromAnchor),
}

/// Where a deep page starts: `skip` rows past `anchor`, the row at `position`
/// in the list. Exact only if the statement reading it saw `version`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FromAnchor {
    pub version: i64,
    pub anchor: SortKey,
    pub position: u64,
    pub skip: u64,
}

struct Record {
    /// The list's version at its last deep read.
    version: i64,
    /// Read deep at least twice in a row at `version`.
    steady: bool,
    /// Anchors taken at `version`.
    anchors: Option<Vec<SortKey>>,
    /// When a read set out to build anchors; the others meanwhile read the
    /// plain way. Given up after `ttl` (the read failed or was dropped).
    building_since: Option<Instant>,
    used: Instant,
}

type Lists = HashMap<(TenantId, ListShape), Record>;

pub(crate) struct ListAnchors {
    settings: AnchorSettings,
    lists: Mutex<Lists>,
    pub(crate) counts: DeepReadCounts,
}

impl std::fmt::Debug for ListAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListAnchors")
            .field("settings", &self.settings)
            .field("reads", &self.counts.snapshot())
            .finish_non_exhaustive()
    }
}

impl ListAnchors {
    pub(crate) fn new(settings: AnchorSettings) -> ListAnchors {
        ListAnchors {
            settings,
            lists: Mutex::new(HashMap::new()),
            counts: DeepReadCounts::default(),
        }
    }

    pub(crate) fn settings(&self) -> &AnchorSettings {
        &self.settings
    }

    fn lock(&self) -> MutexGuard<'_, Lists> {
        // Every record is checked against the database's version before it
        // is trusted, so a state left by a panic can only cost plain reads.
        self.lists
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How to read the deep page at `offset` of the tenant's `shape` list.
    pub(crate) fn plan(&self, tenant: TenantId, shape: ListShape, offset: u64) -> DeepRead {
        let now = Instant::now();
        let mut lists = self.lock();
        let Some(record) = lists.get_mut(&(tenant, shape)) else {
            if !self.settings.build_at_first_deep_read {
                return DeepRead::Plain;
            }
            let record = Record {
                // Not read yet: `built` sets it.
                version: i64::MIN,
                steady: false,
                anchors: None,
                building_since: Some(now),
                used: now,
            };
            self.remember(&mut lists, (tenant, shape), record);
            return DeepRead::Build;
        };
        record.used = now;
        if let Some(anchors) = &record.anchors {
            return match anchor_at(anchors, self.settings.spacing, offset) {
                Some((anchor, skip)) => DeepRead::From(FromAnchor {
                    version: record.version,
                    anchor,
                    position: offset - skip,
                    skip,
                }),
                // Shorter than one spacing: the plain walk is short.
                None => DeepRead::Plain,
            };
        }
        let building = record
            .building_since
            .is_some_and(|since| now.duration_since(since) < self.settings.ttl);
        if record.steady && !building {
            record.building_since = Some(now);
            return DeepRead::Build;
        }
        DeepRead::Plain
    }

    /// Starts remembering a list, forgetting the least recently used one
    /// when `max_lists` are remembered already.
    fn remember(&self, lists: &mut Lists, key: (TenantId, ListShape), record: Record) {
        if lists.len() >= self.settings.max_lists {
            let oldest = lists
                .iter()
                .min_by_key(|(_, record)| record.used)
                .map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                lists.remove(&oldest);
            }
        }
        lists.insert(key, record);
    }

    /// A deep read saw the list at `version` (and did not build anchors).
    pub(crate) fn observed(&self, tenant: TenantId, shape: ListShape, version: i64) {
        let now = Instant::now();
        let build_now = self.settings.build_at_first_deep_read;
        let mut lists = self.lock();
        match lists.get_mut(&(tenant, shape)) {
            Some(record) if record.version == version => record.steady = true,
            Some(record) => {
                record.version = version;
                record.steady = build_now;
                record.anchors = None;
            }
            None => {
                let record = Record {
                    version,
                    steady: build_now,
                    anchors: None,
                    building_since: None,
                    used: now,
                };
                self.remember(&mut lists, (tenant, shape), record);
            }
        }
    }

    /// A build read `anchors` at `version` and a page from them saw the same
    /// version: they are kept.
    pub(crate) fn built(
        &self,
        tenant: TenantId,
        shape: ListShape,
        version: i64,
        anchors: Vec<SortKey>,
    ) {
        let mut lists = self.lock();
        // The record may have been forgotten meanwhile (other lists were
        // read); a later read starts it again.
        if let Some(record) = lists.get_mut(&(tenant, shape)) {
            record.version = version;
            record.steady = true;
            record.anchors = Some(anchors);
            record.building_since = None;
        }
    }

    /// A build found the list changing under it: nothing is kept, and the
    /// next build waits for two reads at one version again.
    pub(crate) fn build_failed(&self, tenant: TenantId, shape: ListShape) {
        if let Some(record) = self.lock().get_mut(&(tenant, shape)) {
            record.building_since = None;
            record.steady = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> AnchorSettings {
        AnchorSettings {
            spacing: 10,
            min_offset: 10,
            ttl: Duration::from_secs(3600),
            max_lists: 3,
            build_at_first_deep_read: false,
        }
    }

    fn all() -> ListShape {
        ListShape {
            status: None,
            widget: None,
        }
    }

    fn anchors() -> Vec<SortKey> {
        (1..=10)
            .map(|i| (DateTime::<Utc>::UNIX_EPOCH, Uuid::from_u128(i * 10)))
            .collect()
    }

    /// Plans a read of the list at `version` and reports it as the read
    /// would.
    fn read(lists: &ListAnchors, tenant: TenantId, version: i64) -> &'static str {
        match lists.plan(tenant, all(), 55) {
            DeepRead::Plain => {
                lists.observed(tenant, all(), version);
                "plain"
            }
            DeepRead::Build => {
                lists.built(tenant, all(), version, anchors());
                "built"
            }
            DeepRead::From(from) if from.version == version => "anchored",
            DeepRead::From(_) => {
                lists.observed(tenant, all(), version);
                "retried"
            }
        }
    }

    #[test]
    fn anchors_are_built_after_two_reads_at_one_version() {
        let lists = ListAnchors::new(settings());
        let tenant = TenantId::new();
        assert_eq!(read(&lists, tenant, 7), "plain");
        assert_eq!(read(&lists, tenant, 8), "plain", "changed in between");
        assert_eq!(read(&lists, tenant, 8), "plain");
        assert_eq!(read(&lists, tenant, 8), "built");
        assert_eq!(read(&lists, tenant, 8), "anchored");
        let DeepRead::From(FromAnchor { anchor, skip, .. }) = lists.plan(tenant, all(), 55) else {
            panic!("expected anchors");
        };
        assert_eq!((anchor, skip), (anchors()[4], 5));
    }

    #[test]
    fn a_new_version_drops_the_anchors() {
        let lists = ListAnchors::new(settings());
        let tenant = TenantId::new();
        for _ in 0..3 {
            read(&lists, tenant, 1);
        }
        assert_eq!(read(&lists, tenant, 2), "retried");
        assert_eq!(read(&lists, tenant, 2), "plain");
        assert_eq!(read(&lists, tenant, 2), "built");
    }

    #[test]
    fn one_read_builds_while_the_others_read_plain() {
        let lists = ListAnchors::new(settings());
        let tenant = TenantId::new();
        read(&lists, tenant, 1);
        read(&lists, tenant, 1);
        assert_eq!(lists.plan(tenant, all(), 55), DeepRead::Build);
        assert_eq!(lists.plan(tenant, all(), 55), DeepRead::Plain);
        lists.build_failed(tenant, all());
        assert_eq!(read(&lists, tenant, 2), "plain", "not steady any more");
        assert_eq!(read(&lists, tenant, 2), "plain");
        assert_eq!(read(&lists, tenant, 2), "built");
    }

    #[test]
    fn an_abandoned_build_is_given_up() {
        let lists = ListAnchors::new(AnchorSettings {
            ttl: Duration::ZERO,
            ..settings()
        });
        let tenant = TenantId::new();
        read(&lists, tenant, 1);
        read(&lists, tenant, 1);
        assert_eq!(lists.plan(tenant, all(), 55), DeepRead::Build);
        assert_eq!(lists.plan(tenant, all(), 55), DeepRead::Build);
    }

    #[test]
    fn lists_remembered_are_bounded() {
        let lists = ListAnchors::new(settings());
        let tenants: Vec<TenantId> = (0..10).map(|_| TenantId::new()).collect();
        for tenant in &tenants {
            read(&lists, *tenant, 1);
            read(&lists, *tenant, 1);
        }
        assert_eq!(lists.lock().len(), 3);
        assert_eq!(read(&lists, tenants[9], 1), "built", "the newest are kept");
        assert_eq!(read(&lists, tenants[0], 1), "plain", "the oldest are not");
    }
}
