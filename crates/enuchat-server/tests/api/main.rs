//! Tests of the real server from outside: each test starts `enuchat` on port 0
//! with a fresh database and talks HTTP to it. Every test runs on SQLite and
//! on PostgreSQL (see `helpers::both_backends!`).

#[macro_use]
mod helpers;

mod auth;
mod billing;
mod conversations;
mod dashboard_admin;
mod dashboard_helpers;
mod dashboard_inbox;
mod dashboard_knowledge;
mod dashboard_live;
mod dashboard_session;
mod errors;
mod jobs;
mod jobs_worker;
mod key_cache;
mod messages;
mod ops;
mod rate_limit;
mod realtime;
mod shutdown;
mod visitor;
mod visitor_helpers;
mod widgets;
