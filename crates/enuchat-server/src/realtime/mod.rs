//! Real-time delivery of messages to connected visitors.
//!
//! The database is the source of truth; the [`hub::Hub`] only tells connected
//! clients that something new exists (usually carrying it, to save a query).
//! A client connection tracks the highest `seq` it has sent and re-reads the
//! table whenever it sees a gap, a lagged channel or a resync request, so it
//! never skips a message and never sends one twice.

pub mod feed;
pub mod hub;
pub mod sockets;
