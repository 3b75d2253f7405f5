//! Answers a store may hand to many readers at once.
//!
//! A store that serves a read from memory (the PostgreSQL list pages and
//! conversation details) hands every reader of the same held answer the same
//! [`Shared`]. What a caller renders from it (the HTTP layer's JSON) can then
//! be kept with it: the next read of that held answer reuses the bytes instead
//! of copying and serializing the rows again. When the store replaces the
//! answer (it changed), the new one starts without a rendering, so a rendering
//! can never outlive what it was made from.

use bytes::Bytes;
use std::any::TypeId;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// A store's answer, cheap to clone, with room for one rendering of it.
pub struct Shared<T>(Arc<Held<T>>);

struct Held<T> {
    value: T,
    rendering: OnceLock<Rendering>,
}

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
            value,
            rendering: OnceLock::new(),
        }))
    }

    /// The value itself if no one else holds it (nothing to share a rendering
    /// with, and the caller may move the value instead of copying it).
    pub fn try_unwrap(self) -> Result<T, Self> {
        Arc::try_unwrap(self.0)
            .map(|held| held.value)
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
        let renderer = TypeId::of::<R>();
        match self.0.rendering.get() {
            Some(kept) if kept.renderer == renderer => Ok(kept.bytes.clone()),
            Some(_) => render(&self.0.value),
            None => {
                let bytes = render(&self.0.value)?;
                // Readers that arrive together may each render it; the
                // first to finish is kept (for one renderer, the same bytes).
                let _ = self.0.rendering.set(Rendering {
                    renderer,
                    bytes: bytes.clone(),
                });
                Ok(bytes)
            }
        }
    }

    /// Whether two answers are the same held one.
    pub fn same(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<T: Clone> Shared<T> {
    /// The value, moved out if this is its only holder, copied otherwise.
    pub fn into_value(self) -> T {
        self.try_unwrap()
            .unwrap_or_else(|shared| shared.0.value.clone())
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
        &self.0.value
    }
}

/// Equal when the values are (whether or not they are the same held one).
impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.value == other.0.value
    }
}

impl<T: PartialEq> PartialEq<T> for Shared<T> {
    fn eq(&self, other: &T) -> bool {
        self.0.value == *other
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.value.fmt(f)
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
