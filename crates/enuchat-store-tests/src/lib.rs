//! One storage test suite for every [`Store`](enuchat_domain::Store) backend.
//!
//! Each story is an `async fn(Arc<dyn Store>)` that panics when the backend
//! breaks the contract documented on the trait. The stories only use the
//! trait, so they run unchanged against SQLite and PostgreSQL;
//! `tests/backends.rs` gives each story a fresh, empty database per backend.

pub mod fixtures;
pub mod stories;
