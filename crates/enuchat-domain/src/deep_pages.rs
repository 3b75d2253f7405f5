//! What the backends share about deep pages of the Tenant API's conversation
//! list: their settings, their counters, and where a page starts from.
//!
//! `LIMIT n OFFSET o` makes a database step over `o` index entries, so a page
//! near the end of a 100,000-row list costs milliseconds however small it is.
//! A backend may instead remember an *anchor* every `spacing` rows of a list
//! (the sort key `(last_message_at, id)` of the row at that position) and read
//! a deep page from the anchor at or before its offset, skipping fewer than
//! `spacing` rows. How a backend knows that its anchors still describe the
//! list is its own affair (SQLite: in-process write guards; PostgreSQL: a
//! per-tenant list version written with every change).

use crate::{ConversationStatus, WidgetId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How deep-page anchors are kept; the defaults suit production, tests use
/// small figures to reach anchored pages with a few rows.
#[derive(Debug, Clone, Copy)]
pub struct AnchorSettings {
    /// Rows between two anchors: what a deep page walks at most before it.
    pub spacing: u64,
    /// Shallower pages are read the plain way (walking that few entries is
    /// cheaper than the bookkeeping).
    pub min_offset: u64,
    /// SQLite: anchors older than this are built again (by one read, while
    /// the others go on with the old ones), which bounds how long another
    /// process's writes to the file can shift deep pages. Both: a build not
    /// finished within this time (its read failed or was dropped) is given up.
    pub ttl: Duration,
    /// Lists (tenant and filter) remembered at most, anchored or not; the
    /// oldest is forgotten first. Bounds memory: a list of N rows keeps
    /// N / spacing anchors of 24 bytes.
    pub max_lists: usize,
    /// Build anchors on a list's first deep read instead of its second.
    pub build_at_first_deep_read: bool,
}

impl Default for AnchorSettings {
    fn default() -> Self {
        AnchorSettings {
            spacing: 256,
            min_offset: 1_000,
            ttl: Duration::from_secs(5),
            max_lists: 64,
            build_at_first_deep_read: false,
        }
    }
}

/// The largest page the Tenant API and the dashboard ask for.
pub const MAX_PAGE_ROWS: u64 = 100;

impl AnchorSettings {
    /// Whether a page at `offset` is deep enough to be worth anchors.
    pub fn is_deep(&self, offset: u64) -> bool {
        offset >= self.min_offset && offset >= self.spacing
    }

    /// Rows in a deep page's *block*, which a backend may hold to cut pages
    /// from: from one anchor to the next, and a largest page more, so that
    /// every page starting between the two is a slice of it.
    pub fn block_length(&self) -> u64 {
        self.spacing.saturating_add(MAX_PAGE_ROWS)
    }

    /// Whether the page of `limit` rows `skip` rows past an anchor lies
    /// within that anchor's block.
    pub fn in_block(&self, skip: u64, limit: u32) -> bool {
        skip.saturating_add(u64::from(limit)) <= self.block_length()
    }
}

/// One list: a tenant's conversations under one filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListShape {
    pub status: Option<ConversationStatus>,
    pub widget: Option<WidgetId>,
}

/// How the deep pages (offset at or past `min_offset`) read so far were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeepPageReads {
    /// With `LIMIT ? OFFSET ?`.
    pub plain: u64,
    /// By walking the list for its anchors first.
    pub built: u64,
    /// From an anchor.
    pub anchored: u64,
    /// From anchors the list changed under; read again the plain way.
    pub retried: u64,
}

/// The live counters behind [`DeepPageReads`].
#[derive(Debug, Default)]
pub struct DeepReadCounts {
    pub plain: AtomicU64,
    pub built: AtomicU64,
    pub anchored: AtomicU64,
    pub retried: AtomicU64,
}

impl DeepReadCounts {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> DeepPageReads {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        DeepPageReads {
            plain: get(&self.plain),
            built: get(&self.built),
            anchored: get(&self.anchored),
            retried: get(&self.retried),
        }
    }
}

/// The anchor at or before `offset` and how many rows to skip after it;
/// `None` when the list has no anchor at or before `offset`.
pub fn anchor_at<K: Copy>(anchors: &[K], spacing: u64, offset: u64) -> Option<(K, u64)> {
    // anchors[i] is the row at position (i + 1) * spacing.
    let below = usize::try_from(offset / spacing.max(1)).unwrap_or(usize::MAX);
    let index = below.min(anchors.len()).checked_sub(1)?;
    let position = (index as u64 + 1) * spacing;
    Some((anchors[index], offset - position))
}

/// Whether the row at `position` of a list is one of its anchors: every
/// `spacing`-th from position `spacing` on.
pub fn is_anchor(position: u64, spacing: u64) -> bool {
    position > 0 && position % spacing.max(1) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deep_page_starts_at_the_anchor_at_or_before_it() {
        let keys: Vec<u32> = (0..35).collect();
        let built: Vec<u32> = keys
            .iter()
            .copied()
            .filter(|k| is_anchor(u64::from(*k), 10))
            .collect();
        assert_eq!(built, vec![10, 20, 30]);
        assert_eq!(anchor_at(&built, 10, 9), None);
        assert_eq!(anchor_at(&built, 10, 10), Some((10, 0)));
        assert_eq!(anchor_at(&built, 10, 29), Some((20, 9)));
        // Past the last anchor (or past the end): from the last one.
        assert_eq!(anchor_at(&built, 10, 57), Some((30, 27)));
        assert_eq!(anchor_at::<u32>(&[], 10, 57), None);
    }

    #[test]
    fn a_block_holds_every_page_that_starts_before_the_next_anchor() {
        let settings = AnchorSettings {
            spacing: 10,
            ..AnchorSettings::default()
        };
        assert_eq!(settings.block_length(), 110);
        assert!(settings.in_block(9, 100));
        assert!(!settings.in_block(11, 100));
        let cut = |rows: u32, skip, limit| {
            crate::Shared::new((0..rows).collect::<Vec<u32>>()).cut(skip, limit)
        };
        assert_eq!(*cut(110, 9, 3), vec![9, 10, 11]);
        // The list's end.
        assert_eq!(*cut(12, 9, 20), vec![9, 10, 11]);
        assert!(cut(5, 9, 20).is_empty());
    }

    #[test]
    fn shallow_pages_are_not_deep() {
        let settings = AnchorSettings {
            spacing: 10,
            min_offset: 5,
            ..AnchorSettings::default()
        };
        assert!(!settings.is_deep(9));
        assert!(settings.is_deep(10));
        assert!(!AnchorSettings::default().is_deep(999));
    }
}
