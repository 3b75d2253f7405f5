//! Answers a store may hand to many readers at once.
//!
//! A store that serves a read from memory (the PostgreSQL list pages and
//! conversation details) hands every reader of the same held answer the same
//! [`Shared`]. What a caller renders from it (the HTTP layer's JSON) can then
//! be kept with it: the next read of that held answer reuses the bytes instead
//! of copying and serializing the rows again. When the store replaces the
//! answer (it changed), the new one starts without a rendering, so a rendering
//! can never outlive what it was made from.
//!
//! A list held as a *block* that many different pages are cut from (the deep
//! pages, `deep_pages.rs`) keeps renderings per row instead: each page cut
//! from it is a new answer, but its rows' renderings live in the block, so a
//! row is serialized once per held block however many pages show it
//! ([`Shared::cut`], [`Shared::rendered_rows`]). A page of 20 rows is then
//! copied out of the block's renderings, not serialized again (serializing
//! was most of a deep page's CPU time, `bench/profiles/README.md`, session 35).
//! Nor are its rows copied out of the block unless a caller looks at them
//! (copying their strings was 7% of a deep page's CPU time, session 36).

use bytes::Bytes;
use std::any::TypeId;
use std::fmt;
use std::ops::{Deref, Range};
use std::sync::{Arc, OnceLock};

/// A store's answer, cheap to clone, with room for one rendering of it.
pub struct Shared<T>(Arc<Held<T>>);

struct Held<T> {
    /// Set when the answer is made, except for a page cut from a block:
    /// copied from the block's rows when first asked for.
    value: OnceLock<T>,
    rendering: OnceLock<Rendering>,
    /// For a block: one slot per row, made when the first page is cut.
    row_slots: OnceLock<RowSlots>,
    cut_from: Option<Cut<T>>,
}

/// Where a page cut from a block finds its rows and their renderings (the
/// block's `row_slots`, made when it was cut).
struct Cut<T> {
    /// Same type as the page: a `Vec` of rows.
    block: Arc<Held<T>>,
    rows: Range<usize>,
    /// Copies `rows` of the block (`T` is only known here to be a `Vec` of
    /// something).
    copy: fn(&T, Range<usize>) -> T,
}

impl<T> Held<T> {
    fn value(&self) -> &T {
        self.value.get_or_init(|| {
            let cut = self
                .cut_from
                .as_ref()
                .expect("an answer is made with its value or cut from a block");
            (cut.copy)(cut.block.value(), cut.rows.clone())
        })
    }

    fn into_value(mut self) -> T {
        self.value();
        self.value.take().expect("made just above")
    }
}

/// Renderings of a block's rows, shared by every page cut from it.
type RowSlots = Arc<[OnceLock<Rendering>]>;

/// Bytes rendered from the value, and by which renderer: a value rendered
/// two ways (say a Tenant API view and a dashboard view of the same detail)
/// keeps the first and renders the other every time.
struct Rendering {
    renderer: TypeId,
    bytes: Bytes,
}

impl<T> Shared<T> {
    pub fn new(value: T) -> Self {
        Shared(Arc::new(Held {
            value: OnceLock::from(value),
            rendering: OnceLock::new(),
            row_slots: OnceLock::new(),
            cut_from: None,
        }))
    }

    /// The value itself if no one else holds it (nothing to share a rendering
    /// with, and the caller may move the value instead of copying it).
    pub fn try_unwrap(self) -> Result<T, Self> {
        Arc::try_unwrap(self.0)
            .map(Held::into_value)
            .map_err(Shared)
    }

    /// What `render` makes of the value, rendered once per renderer `R` (a
    /// type that names the rendering, e.g. the view being serialized): later
    /// calls for the same `R`, from any clone, get the same bytes. A failed
    /// rendering is not kept.
    pub fn rendered<R: 'static, E>(
        &self,
        render: impl FnOnce(&T) -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        kept_or_rendered::<R, E>(&self.0.rendering, || render(self.0.value()))
    }

    /// Whether two answers are the same held one.
    pub fn same(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

/// What `slot` holds for renderer `R`, else `render`'s bytes, kept in the
/// slot if it was empty.
fn kept_or_rendered<R: 'static, E>(
    slot: &OnceLock<Rendering>,
    render: impl FnOnce() -> Result<Bytes, E>,
) -> Result<Bytes, E> {
    let renderer = TypeId::of::<R>();
    match slot.get() {
        Some(kept) if kept.renderer == renderer => Ok(kept.bytes.clone()),
        Some(_) => render(),
        None => {
            let bytes = render()?;
            // Readers that arrive together may each render it; the first to
            // finish is kept (for one renderer, the same bytes).
            let _ = slot.set(Rendering {
                renderer,
                bytes: bytes.clone(),
            });
            Ok(bytes)
        }
    }
}

impl<T: Clone> Shared<Vec<T>> {
    /// The page of `limit` rows `skip` rows into this block (shorter where
    /// the block is), as a new answer whose rows' renderings are kept with
    /// the block ([`Shared::rendered_rows`]).
    pub fn cut(&self, skip: u64, limit: u32) -> Shared<Vec<T>> {
        let block = self.0.value();
        let from = usize::try_from(skip).unwrap_or(usize::MAX).min(block.len());
        let to = from.saturating_add(limit as usize).min(block.len());
        self.0
            .row_slots
            .get_or_init(|| block.iter().map(|_| OnceLock::new()).collect());
        Shared(Arc::new(Held {
            value: OnceLock::new(),
            rendering: OnceLock::new(),
            row_slots: OnceLock::new(),
            cut_from: Some(Cut {
                block: Arc::clone(&self.0),
                rows: from..to,
                copy: |block, rows| block[rows].to_vec(),
            }),
        }))
    }
}

impl<T> Shared<Vec<T>> {
    /// For a page [cut](Shared::cut) from a block: each row as `render`
    /// makes it, rendered once per renderer `R` and block, in the page's
    /// order. `None` for any other answer (render it whole with
    /// [`Shared::rendered`]).
    pub fn rendered_rows<R: 'static, E>(
        &self,
        render: impl Fn(&T) -> Result<Bytes, E>,
    ) -> Option<Result<Vec<Bytes>, E>> {
        let cut = self.0.cut_from.as_ref()?;
        let block = cut.block.value();
        let slots = cut
            .block
            .row_slots
            .get()
            .expect("made when the page was cut");
        let rows = block[cut.rows.clone()].iter().zip(&slots[cut.rows.clone()]);
        Some(
            rows.map(|(row, slot)| kept_or_rendered::<R, E>(slot, || render(row)))
                .collect(),
        )
    }
}

impl<T: Clone> Shared<T> {
    /// The value, moved out if this is its only holder, copied otherwise.
    pub fn into_value(self) -> T {
        self.try_unwrap()
            .unwrap_or_else(|shared| shared.0.value().clone())
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.value()
    }
}

/// Equal when the values are (whether or not they are the same held one).
impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.value() == other.0.value()
    }
}

impl<T: PartialEq> PartialEq<T> for Shared<T> {
    fn eq(&self, other: &T) -> bool {
        self.0.value() == other
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.value().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct Upper;
    struct Lower;

    fn counted(calls: &Cell<u32>, text: &str) -> Result<Bytes, ()> {
        calls.set(calls.get() + 1);
        Ok(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn clones_share_one_rendering_per_renderer() {
        let answer = Shared::new("Hello".to_string());
        let other_reader = answer.clone();
        let calls = Cell::new(0);
        let first = answer.rendered::<Upper, _>(|v| counted(&calls, &v.to_uppercase()));
        let again = other_reader.rendered::<Upper, _>(|v| counted(&calls, &v.to_uppercase()));
        let (first, again) = (first.unwrap(), again.unwrap());
        assert_eq!((&first[..], &again[..]), (&b"HELLO"[..], &b"HELLO"[..]));
        assert_eq!(calls.get(), 1, "the second reader reuses the bytes");

        // Another renderer never gets the first one's bytes.
        let lower = other_reader.rendered::<Lower, _>(|v| counted(&calls, &v.to_lowercase()));
        let lower_again = answer.rendered::<Lower, _>(|v| counted(&calls, &v.to_lowercase()));
        let (lower, lower_again) = (lower.unwrap(), lower_again.unwrap());
        assert_eq!(
            (&lower[..], &lower_again[..]),
            (&b"hello"[..], &b"hello"[..])
        );
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_new_answer_starts_without_a_rendering() {
        let calls = Cell::new(0);
        let old = Shared::new(1);
        old.rendered::<Upper, _>(|v| counted(&calls, &v.to_string()))
            .unwrap();
        let new = Shared::new(2);
        let rendered = new.rendered::<Upper, _>(|v| counted(&calls, &v.to_string()));
        assert_eq!(&rendered.unwrap()[..], b"2");
        assert!(!Shared::same(&old, &new));
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn a_failed_rendering_is_not_kept() {
        let answer = Shared::new(7);
        assert_eq!(answer.rendered::<Upper, _>(|_| Err("full")), Err("full"));
        let calls = Cell::new(0);
        let ok = answer.rendered::<Upper, _>(|v| counted(&calls, &v.to_string()));
        assert_eq!(&ok.unwrap()[..], b"7");
        assert_eq!(calls.get(), 1);
    }

    fn numbers(calls: &Cell<u32>, n: &i32) -> Result<Bytes, ()> {
        counted(calls, &n.to_string())
    }

    fn texts(rows: Option<Result<Vec<Bytes>, ()>>) -> Vec<String> {
        let rows = rows.expect("a cut page").expect("rendered");
        rows.iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn pages_cut_from_one_block_render_each_row_once() {
        let block = Shared::new((0..10).collect::<Vec<i32>>());
        let calls = Cell::new(0);
        assert!(
            block
                .rendered_rows::<Upper, ()>(|_| Ok(Bytes::new()))
                .is_none(),
            "a block itself is rendered whole"
        );
        let first = block.cut(2, 3);
        assert_eq!(*first, vec![2, 3, 4]);
        let render = |n: &i32| numbers(&calls, n);
        assert_eq!(
            texts(first.rendered_rows::<Upper, _>(render)),
            ["2", "3", "4"]
        );
        assert_eq!(calls.get(), 3);
        // Overlapping page: only rows 5 and 6 are new.
        let second = block.cut(3, 4);
        assert_eq!(
            texts(second.rendered_rows::<Upper, _>(render)),
            ["3", "4", "5", "6"]
        );
        assert_eq!(calls.get(), 5);
        // Another renderer gets its own bytes, not the kept ones.
        let other = second.rendered_rows::<Lower, _>(|n| counted(&calls, &format!("<{n}>")));
        assert_eq!(texts(other), ["<3>", "<4>", "<5>", "<6>"]);
        // A page past the block's end is shorter; past it entirely, empty.
        assert_eq!(*block.cut(8, 5), vec![8, 9]);
        assert_eq!(
            texts(block.cut(8, 5).rendered_rows::<Upper, _>(render)),
            ["8", "9"]
        );
        assert!(texts(block.cut(12, 5).rendered_rows::<Upper, _>(render)).is_empty());
    }

    #[test]
    fn a_new_block_starts_without_row_renderings() {
        let calls = Cell::new(0);
        let render = |n: &i32| numbers(&calls, n);
        let old = Shared::new(vec![1, 2]);
        texts(old.cut(0, 2).rendered_rows::<Upper, _>(render));
        let new = Shared::new(vec![1, 20]);
        assert_eq!(
            texts(new.cut(0, 2).rendered_rows::<Upper, _>(render)),
            ["1", "20"]
        );
        assert_eq!(calls.get(), 4);
        // A failed row is not kept: the next page renders it again.
        let failing = Shared::new(vec![5]);
        let failed = failing.cut(0, 1).rendered_rows::<Upper, ()>(|_| Err(()));
        assert_eq!(failed, Some(Err(())));
        assert_eq!(
            texts(failing.cut(0, 1).rendered_rows::<Upper, _>(render)),
            ["5"]
        );
    }

    /// A row that counts its copies.
    struct Row<'a>(i32, &'a Cell<u32>);

    impl Clone for Row<'_> {
        fn clone(&self) -> Self {
            self.1.set(self.1.get() + 1);
            Row(self.0, self.1)
        }
    }

    #[test]
    fn a_cut_page_copies_its_rows_only_when_looked_at() {
        let copies = Cell::new(0);
        let block = Shared::new((0..10).map(|n| Row(n, &copies)).collect::<Vec<_>>());
        let page = block.cut(4, 3);
        let calls = Cell::new(0);
        let rendered = page.rendered_rows::<Upper, _>(|row| numbers(&calls, &row.0));
        assert_eq!(texts(rendered), ["4", "5", "6"]);
        assert_eq!(copies.get(), 0, "rendered from the block's rows");

        let seen: Vec<i32> = page.iter().map(|row| row.0).collect();
        assert_eq!(seen, [4, 5, 6]);
        assert_eq!(copies.get(), 3, "copied once, when looked at");
        assert_eq!(page.len(), 3);
        assert_eq!(copies.get(), 3);

        let moved = block.cut(8, 5).try_unwrap().ok().expect("its only holder");
        assert_eq!(moved.iter().map(|row| row.0).collect::<Vec<_>>(), [8, 9]);
        assert_eq!(copies.get(), 5);
    }

    #[test]
    fn the_value_moves_out_only_from_its_only_holder() {
        let answer = Shared::new(vec![1, 2, 3]);
        let held = answer.clone();
        let answer = answer.try_unwrap().expect_err("still held by the cache");
        assert!(Shared::same(&answer, &held));
        assert_eq!(answer.into_value(), vec![1, 2, 3]);
        assert_eq!(held.try_unwrap().ok(), Some(vec![1, 2, 3]));
    }
}
