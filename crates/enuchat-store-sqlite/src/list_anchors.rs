//! Deep Tenant API pages without stepping over every skipped row.
//!
//! `LIMIT ? OFFSET ?` makes SQLite step over each skipped index entry: a page
//! at offset 90,000 costs about 3 ms however small it is (bench/REPORT.md,
//! scenario 1, deep offsets). For a list that is read deep more than once
//! while it does not change, this keeps an *anchor* every `spacing` rows: the
//! sort key (`last_message_at`, `id`) of the row at that position. A page at
//! offset `o` then starts at the anchor at or before `o` with an index range
//! (`(last_message_at, id) <=` the anchor) and an OFFSET under `spacing`: the
//! work is O(spacing + page) instead of O(offset).
//!
//! Anchors are only right while the list has not changed, so:
//! - every write that can change a tenant's lists (a new conversation, an
//!   append, a status change, a demo import) holds a [`Changing`] guard from
//!   before its first statement until after its commit. The guard forgets the
//!   tenant's anchors and moves the tenant's generation on at both ends. Such
//!   a write commits on a task of its own (`writer.rs`), so a caller dropped
//!   half-way cannot end the guard before the commit lands;
//! - a read that used anchors checks afterwards that the generation did not
//!   move (and that no write was under way when it started), and otherwise is
//!   done again the plain way: a seqlock, so a page is never computed from
//!   anchors of another state than the one it read;
//! - anchors are built (one walk of the list's index) only on the second deep
//!   read of a list with no write in between: a list that keeps changing is
//!   read the plain way and never pays for a walk it cannot reuse;
//! - anchors older than `ttl` are built again: another process writing the
//!   same file (`enuchat demo` while `serve` runs) holds no guard here, and
//!   this bounds how long its changes can shift deep pages. Unless nothing at
//!   all was committed since they were walked: the page cache's epoch
//!   (`page_cache.rs`), taken before the walk, says so, and they are then
//!   kept for another `ttl` without a walk ([`DeepRead::Renew`]).
//!
//! Generations come from one counter that only grows, so a tenant's entry can
//! be dropped when unused and made again without a stale ticket matching it.

pub(crate) use enuchat_domain::deep_pages::{anchor_at, is_anchor, ListShape};
use enuchat_domain::deep_pages::{AnchorSettings, DeepReadCounts};
use enuchat_domain::TenantId;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use uuid::Uuid;

/// Where a row sits in every list: `(last_message_at, id)`, newest first.
pub(crate) type SortKey = (i64, Uuid);

/// How to read one deep page.
#[derive(Debug)]
pub(crate) enum DeepRead {
    /// With `LIMIT ? OFFSET ?`.
    Plain,
    /// Walk the list once to build its anchors, then read from them; keep
    /// them if [`ListAnchors::finish_with_epoch`] says they are still right.
    Build(Ticket),
    /// Anchors past their age, walked after the page cache's epoch was
    /// `epoch`: if it still is, nothing was committed since and
    /// [`ListAnchors::renew`] keeps them; otherwise build them again with the
    /// ticket.
    Renew { ticket: Ticket, epoch: u64 },
    /// From the row at `anchor`, skipping `skip` rows.
    From {
        ticket: Ticket,
        anchor: SortKey,
        skip: u64,
    },
}

/// What a read must show [`ListAnchors::finish`] to learn whether the list
/// changed while it read.
#[derive(Debug)]
pub(crate) struct Ticket {
    tenant: TenantId,
    shape: ListShape,
    generation: u64,
}

pub(crate) struct ListAnchors {
    settings: AnchorSettings,
    state: Mutex<State>,
    pub(crate) counts: DeepReadCounts,
}

#[derive(Default)]
struct State {
    next_generation: u64,
    tenants: HashMap<TenantId, TenantLists>,
}

struct TenantLists {
    /// Moves on at the start and the end of every write to the tenant.
    generation: u64,
    /// Writes under way.
    writing: u32,
    lists: HashMap<ListShape, Record>,
}

struct Record {
    /// The tenant's generation when the list was read deep or anchored.
    generation: u64,
    since: Instant,
    /// `None`: read deep once, not anchored yet.
    anchors: Option<Arc<Vec<SortKey>>>,
    /// The page cache's epoch taken before the anchors were walked, if
    /// known.
    epoch: Option<u64>,
    /// When a read set out to build anchors: the others meanwhile use the
    /// old ones or read the plain way, rather than all walking the list at
    /// once. A build not finished within `ttl` (its read failed or was
    /// dropped) is given up.
    building_since: Option<Instant>,
}

impl State {
    fn fresh_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn lists_remembered(&self) -> usize {
        self.tenants.values().map(|t| t.lists.len()).sum()
    }

    /// Forgets the list remembered longest (to make room for another).
    fn forget_oldest(&mut self) {
        let oldest = self
            .tenants
            .iter()
            .flat_map(|(tenant, t)| {
                t.lists
                    .iter()
                    .map(move |(shape, r)| (r.since, *tenant, *shape))
            })
            .min_by_key(|(since, _, _)| *since);
        if let Some((_, tenant, shape)) = oldest {
            if let Some(t) = self.tenants.get_mut(&tenant) {
                t.lists.remove(&shape);
            }
            self.drop_if_unused(tenant);
        }
    }

    fn drop_if_unused(&mut self, tenant: TenantId) {
        if self
            .tenants
            .get(&tenant)
            .is_some_and(|t| t.writing == 0 && t.lists.is_empty())
        {
            self.tenants.remove(&tenant);
        }
    }
}

impl ListAnchors {
    pub(crate) fn new(settings: AnchorSettings) -> ListAnchors {
        ListAnchors {
            settings,
            state: Mutex::new(State::default()),
            counts: DeepReadCounts::default(),
        }
    }

    /// Whether a page at `offset` is read as a deep one (the others are
    /// shallow: `page_cache.rs`).
    pub(crate) fn is_deep(&self, offset: u64) -> bool {
        self.settings.is_deep(offset)
    }

    pub(crate) fn settings(&self) -> &AnchorSettings {
        &self.settings
    }

    pub(crate) fn spacing(&self) -> u64 {
        self.settings.spacing
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock can leave the state half-changed in a way
        // that makes anchors look valid when they are not: a panic between
        // the two steps of a write's generation bump leaves `writing` raised,
        // which only keeps anchors unused.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How to read the page at `offset` of the tenant's `shape` list.
    pub(crate) fn plan(&self, tenant: TenantId, shape: ListShape, offset: u64) -> DeepRead {
        if !self.settings.is_deep(offset) {
            return DeepRead::Plain;
        }
        let now = Instant::now();
        let mut state = self.lock();
        let fresh = state.fresh_generation();
        let lists = state.tenants.entry(tenant).or_insert_with(|| TenantLists {
            generation: fresh,
            writing: 0,
            lists: HashMap::new(),
        });
        if lists.writing > 0 {
            self.counts.plain.fetch_add(1, Ordering::Relaxed);
            return DeepRead::Plain;
        }
        let generation = lists.generation;
        let ticket = Ticket {
            tenant,
            shape,
            generation,
        };
        let settings = &self.settings;
        match lists.lists.get_mut(&shape) {
            Some(record) => {
                // Writes forget a tenant's records, so this one is as current
                // as the generation.
                debug_assert_eq!(record.generation, generation);
                let building = record
                    .building_since
                    .is_some_and(|since| now.duration_since(since) < settings.ttl);
                let young = now.duration_since(record.since) < settings.ttl;
                // Anchors past their age are still exact for every write of
                // this process (the generation says so); while one read
                // builds them again the others go on using them.
                if let Some(anchors) = record.anchors.as_ref().filter(|_| young || building) {
                    return self.read_from_anchors(ticket, anchors, offset);
                }
                if building {
                    self.counts.plain.fetch_add(1, Ordering::Relaxed);
                    return DeepRead::Plain;
                }
                // Read deep before with nothing written since, or anchors
                // grown old: worth one walk, unless nothing was committed
                // since the last.
                record.building_since = Some(now);
                match (record.anchors.is_some(), record.epoch) {
                    (true, Some(epoch)) => DeepRead::Renew { ticket, epoch },
                    _ => DeepRead::Build(ticket),
                }
            }
            None => {
                let build = settings.build_at_first_deep_read;
                lists.lists.insert(
                    shape,
                    Record {
                        generation,
                        since: now,
                        anchors: None,
                        epoch: None,
                        building_since: build.then_some(now),
                    },
                );
                if state.lists_remembered() > settings.max_lists {
                    state.forget_oldest();
                }
                if build {
                    DeepRead::Build(ticket)
                } else {
                    self.counts.plain.fetch_add(1, Ordering::Relaxed);
                    DeepRead::Plain
                }
            }
        }
    }

    fn read_from_anchors(&self, ticket: Ticket, anchors: &[SortKey], offset: u64) -> DeepRead {
        match anchor_at(anchors, self.settings.spacing, offset) {
            Some((anchor, skip)) => DeepRead::From {
                ticket,
                anchor,
                skip,
            },
            // Shorter than one spacing: the plain walk is short.
            None => {
                self.counts.plain.fetch_add(1, Ordering::Relaxed);
                DeepRead::Plain
            }
        }
    }

    /// Whether what was read under `ticket` is exact: nothing changed the
    /// tenant's lists since [`plan`](Self::plan). Keeps `built` anchors if so.
    pub(crate) fn finish(&self, ticket: Ticket, built: Option<Vec<SortKey>>) -> bool {
        self.finish_with_epoch(ticket, built, None)
    }

    /// As [`finish`](Self::finish), for anchors walked after the page
    /// cache's epoch was `epoch` (if known).
    pub(crate) fn finish_with_epoch(
        &self,
        ticket: Ticket,
        built: Option<Vec<SortKey>>,
        epoch: Option<u64>,
    ) -> bool {
        let mut state = self.lock();
        let current = state
            .tenants
            .get(&ticket.tenant)
            .is_some_and(|t| t.generation == ticket.generation);
        let counter = match (&built, current) {
            (_, false) => &self.counts.retried,
            (Some(_), true) => &self.counts.built,
            (None, true) => &self.counts.anchored,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !current {
            return false;
        }
        if let Some(anchors) = built {
            let lists = state
                .tenants
                .get_mut(&ticket.tenant)
                .expect("checked above");
            let is_new = lists
                .lists
                .insert(
                    ticket.shape,
                    Record {
                        generation: ticket.generation,
                        since: Instant::now(),
                        anchors: Some(Arc::new(anchors)),
                        epoch,
                        building_since: None,
                    },
                )
                .is_none();
            if is_new && state.lists_remembered() > self.settings.max_lists {
                state.forget_oldest();
            }
        }
        true
    }

    /// Keeps the anchors that `ticket` was to build again for another `ttl`
    /// (the caller found the epoch unchanged since they were walked), and
    /// plans the read at `offset` from them; the plain way if a write of
    /// this process came in between.
    pub(crate) fn renew(&self, ticket: Ticket, offset: u64) -> DeepRead {
        let mut state = self.lock();
        let record = state
            .tenants
            .get_mut(&ticket.tenant)
            .filter(|t| t.generation == ticket.generation)
            .and_then(|t| t.lists.get_mut(&ticket.shape));
        // Forgotten meanwhile (to make room) and read deep again: no anchors.
        let Some((record, anchors)) =
            record.and_then(|r| r.anchors.clone().map(|anchors| (r, anchors)))
        else {
            self.counts.plain.fetch_add(1, Ordering::Relaxed);
            return DeepRead::Plain;
        };
        record.since = Instant::now();
        record.building_since = None;
        drop(state);
        self.read_from_anchors(ticket, &anchors, offset)
    }

    /// Marks the tenants' lists as changing until the guard is dropped: hold
    /// it from before a write's first statement until after its commit.
    pub(crate) fn changing(
        self: &Arc<Self>,
        tenants: impl IntoIterator<Item = TenantId>,
    ) -> Changing {
        let mut tenants: Vec<TenantId> = tenants.into_iter().collect();
        tenants.sort_unstable();
        tenants.dedup();
        let mut state = self.lock();
        for tenant in &tenants {
            let fresh = state.fresh_generation();
            let lists = state.tenants.entry(*tenant).or_insert_with(|| TenantLists {
                generation: fresh,
                writing: 0,
                lists: HashMap::new(),
            });
            lists.writing += 1;
            lists.generation = fresh;
            lists.lists.clear();
        }
        Changing {
            anchors: Arc::clone(self),
            tenants,
        }
    }
}

/// Held by a write while it changes some tenants' lists.
pub(crate) struct Changing {
    anchors: Arc<ListAnchors>,
    tenants: Vec<TenantId>,
}

impl Drop for Changing {
    fn drop(&mut self) {
        let mut state = self.anchors.lock();
        for tenant in &self.tenants {
            let fresh = state.fresh_generation();
            if let Some(lists) = state.tenants.get_mut(tenant) {
                lists.writing = lists.writing.saturating_sub(1);
                lists.generation = fresh;
                lists.lists.clear();
            }
            state.drop_if_unused(*tenant);
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

    fn keys(n: i64) -> Vec<SortKey> {
        (0..n)
            .map(|i| (1_000 - i, Uuid::from_u128(i as u128)))
            .collect()
    }

    fn anchors_of(keys: Vec<SortKey>, spacing: u64) -> Vec<SortKey> {
        (0..)
            .zip(keys)
            .filter(|(position, _)| is_anchor(*position, spacing))
            .map(|(_, key)| key)
            .collect()
    }

    /// Plans a deep read and, if it builds, finishes it with anchors of 100 rows.
    fn read(anchors: &ListAnchors, tenant: TenantId, offset: u64) -> &'static str {
        match anchors.plan(tenant, all(), offset) {
            DeepRead::Plain => "plain",
            DeepRead::Build(ticket) => {
                assert!(anchors.finish(ticket, Some(anchors_of(keys(100), 10))));
                "built"
            }
            DeepRead::From { ticket, .. } => {
                assert!(anchors.finish(ticket, None));
                "anchored"
            }
            DeepRead::Renew { .. } => "renew",
        }
    }

    #[test]
    fn anchors_are_built_on_the_second_deep_read_then_used() {
        let anchors = ListAnchors::new(settings());
        let tenant = TenantId::new();
        assert_eq!(read(&anchors, tenant, 5), "plain", "shallow");
        assert_eq!(read(&anchors, tenant, 55), "plain", "first deep read");
        assert_eq!(read(&anchors, tenant, 55), "built");
        assert_eq!(read(&anchors, tenant, 55), "anchored");
        assert_eq!(read(&anchors, tenant, 99), "anchored");
    }

    #[test]
    fn a_write_forgets_the_tenants_anchors_and_keeps_others() {
        let anchors = Arc::new(ListAnchors::new(settings()));
        let (a, b) = (TenantId::new(), TenantId::new());
        for tenant in [a, b] {
            read(&anchors, tenant, 50);
            read(&anchors, tenant, 50);
        }
        drop(anchors.changing([a]));
        assert_eq!(read(&anchors, a, 50), "plain", "forgotten");
        assert_eq!(read(&anchors, b, 50), "anchored", "another tenant's");
    }

    #[test]
    fn no_anchors_are_used_or_built_while_a_write_is_under_way() {
        let anchors = Arc::new(ListAnchors::new(settings()));
        let tenant = TenantId::new();
        read(&anchors, tenant, 50);
        let writing = anchors.changing([tenant, tenant]);
        for _ in 0..3 {
            assert_eq!(read(&anchors, tenant, 50), "plain");
        }
        drop(writing);
        assert_eq!(read(&anchors, tenant, 50), "plain");
        assert_eq!(read(&anchors, tenant, 50), "built");
    }

    #[test]
    fn a_read_that_a_write_overlapped_is_not_trusted() {
        let anchors = Arc::new(ListAnchors::new(settings()));
        let tenant = TenantId::new();
        read(&anchors, tenant, 50);
        let DeepRead::Build(ticket) = anchors.plan(tenant, all(), 50) else {
            panic!("expected a build");
        };
        drop(anchors.changing([tenant]));
        assert!(!anchors.finish(ticket, Some(anchors_of(keys(100), 10))));
        assert_eq!(read(&anchors, tenant, 50), "plain", "nothing was kept");

        read(&anchors, tenant, 50);
        let DeepRead::From { ticket, .. } = anchors.plan(tenant, all(), 50) else {
            panic!("expected anchors");
        };
        let writing = anchors.changing([tenant]);
        assert!(
            !anchors.finish(ticket, None),
            "write started during the read"
        );
        drop(writing);
        assert_eq!(anchors.counts.retried.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn old_anchors_are_built_again() {
        let anchors = ListAnchors::new(AnchorSettings {
            ttl: Duration::ZERO,
            ..settings()
        });
        let tenant = TenantId::new();
        read(&anchors, tenant, 50);
        assert_eq!(read(&anchors, tenant, 50), "built");
        assert_eq!(read(&anchors, tenant, 50), "built");
    }

    #[test]
    fn old_anchors_walked_at_a_known_epoch_are_renewed_or_built_again() {
        let ttl = Duration::from_millis(100);
        let anchors = Arc::new(ListAnchors::new(AnchorSettings { ttl, ..settings() }));
        let tenant = TenantId::new();
        read(&anchors, tenant, 50);
        let DeepRead::Build(ticket) = anchors.plan(tenant, all(), 50) else {
            panic!("expected a build");
        };
        assert!(anchors.finish_with_epoch(ticket, Some(anchors_of(keys(100), 10)), Some(7)));
        assert_eq!(read(&anchors, tenant, 50), "anchored", "young");
        std::thread::sleep(ttl);
        let DeepRead::Renew { ticket, epoch: 7 } = anchors.plan(tenant, all(), 50) else {
            panic!("expected a renewal at epoch 7");
        };
        assert!(
            matches!(anchors.plan(tenant, all(), 50), DeepRead::From { .. }),
            "the old anchors serve while one read asks for the epoch"
        );
        let DeepRead::From { anchor, skip, .. } = anchors.renew(ticket, 55) else {
            panic!("expected the renewed anchors");
        };
        assert_eq!((anchor, skip), (keys(100)[50], 5));
        assert_eq!(read(&anchors, tenant, 50), "anchored", "young again");

        // A write between the plan and the renewal: read the plain way.
        std::thread::sleep(ttl);
        let DeepRead::Renew { ticket, .. } = anchors.plan(tenant, all(), 50) else {
            panic!("expected a renewal");
        };
        drop(anchors.changing([tenant]));
        assert!(matches!(anchors.renew(ticket, 55), DeepRead::Plain));
        assert_eq!(
            read(&anchors, tenant, 50),
            "plain",
            "forgotten by the write"
        );
    }

    #[test]
    fn one_read_builds_while_the_others_go_on() {
        let anchors = ListAnchors::new(AnchorSettings {
            ttl: Duration::from_millis(200),
            ..settings()
        });
        let tenant = TenantId::new();
        read(&anchors, tenant, 50);
        let DeepRead::Build(first) = anchors.plan(tenant, all(), 50) else {
            panic!("expected a build");
        };
        assert!(
            matches!(anchors.plan(tenant, all(), 50), DeepRead::Plain),
            "no second walk while one is under way"
        );
        assert!(anchors.finish(first, Some(anchors_of(keys(100), 10))));
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            matches!(anchors.plan(tenant, all(), 50), DeepRead::Build(_)),
            "old anchors are built again"
        );
        assert!(
            matches!(anchors.plan(tenant, all(), 50), DeepRead::From { .. }),
            "the old anchors serve meanwhile"
        );
        // A build that never finishes is given up after the same time.
        std::thread::sleep(Duration::from_millis(250));
        assert!(matches!(
            anchors.plan(tenant, all(), 50),
            DeepRead::Build(_)
        ));
    }

    #[test]
    fn lists_remembered_are_bounded_and_unused_tenants_dropped() {
        let anchors = Arc::new(ListAnchors::new(settings()));
        let tenants: Vec<TenantId> = (0..10).map(|_| TenantId::new()).collect();
        for tenant in &tenants {
            read(&anchors, *tenant, 50);
            read(&anchors, *tenant, 50);
        }
        let state = anchors.lock();
        assert_eq!(state.lists_remembered(), 3);
        assert_eq!(
            state.tenants.len(),
            3,
            "tenants with nothing left are dropped"
        );
        drop(state);
        // The newest lists are the ones kept.
        assert_eq!(read(&anchors, tenants[9], 50), "anchored");
        for tenant in &tenants {
            drop(anchors.changing([*tenant]));
        }
        assert!(anchors.lock().tenants.is_empty());
    }
}
