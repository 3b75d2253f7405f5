//! Durable background jobs (translations, AI replies), kept in the database.
//!
//! A job is written in the same transaction as the message that causes it
//! (see [`NewMessage::jobs`](crate::NewMessage::jobs)), so an acknowledged
//! message always has its work queued, and a crash loses nothing. Workers
//! claim due jobs with a lease ([`ClaimedJob::lease`]); every way of ending a
//! job checks that lease in the same transaction as its effect, so a worker
//! whose lease ran out (and whose job another worker took) changes nothing:
//! a job's visible effect happens at most once.

use crate::ids::*;
use crate::models::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

uuid_id!(
    /// A background job.
    JobId
);

/// What a job does. Stored as `translate` / `ai_reply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// Translate the job's message (payload: the languages).
    Translate,
    /// Answer the job's (visitor) message with an AI reply.
    AiReply,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    /// Waiting for `run_at`.
    Queued,
    /// Claimed by a worker until its lease runs out.
    Running,
    /// Finished, with its effect or deliberately without one (see `note`).
    Done,
    /// Gave up; kept for people to see.
    Failed,
}

macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(JobKind { Translate => "translate", AiReply => "ai_reply" });
text_enum!(JobStatus { Queued => "queued", Running => "running", Done => "done", Failed => "failed" });

/// A job to enqueue with a message. A message has at most one job of each
/// kind: a second one makes the whole append fail with `Conflict`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: JobKind,
    /// What the worker needs beyond the message (e.g. the target language).
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    /// The message that caused the job.
    pub message_id: MessageId,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub status: JobStatus,
    /// How many times the job was claimed (the current run included).
    pub attempts: i32,
    /// When the job is (or was) due.
    pub run_at: Timestamp,
    /// While `running`: when the lease ends and another worker may take it.
    pub locked_until: Option<Timestamp>,
    /// The error of the latest failed attempt (kept after a later success).
    pub last_error: Option<String>,
    /// Why a `done` job ended without an effect (handed off, no credits...).
    pub note: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A job a worker holds. Only the holder of the current `lease` can end it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// The job as claimed: `running`, `attempts` already counting this run.
    pub job: Job,
    pub lease: Uuid,
}

impl ClaimedJob {
    /// Refuses to end the job as a `kind` job when it is another kind: its
    /// result would land where nothing reads it, and the completion would
    /// skip what that kind's end must do (a translation's end releases the
    /// message's waiting flag). A bug in the caller, reported before
    /// anything changes.
    pub fn expect_kind(&self, kind: JobKind) -> crate::store::StoreResult<()> {
        if self.job.kind == kind {
            return Ok(());
        }
        Err(crate::store::StoreError::Database(format!(
            "job {} is {}, not {}",
            self.job.id,
            self.job.kind.as_str(),
            kind.as_str()
        )))
    }
}

/// A fresh lease id. Random rather than time-ordered: nothing sorts by it,
/// and a lease must never be predicted or repeated.
pub fn new_lease() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// The result of a translation job, written by `Store::complete_translation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslationOutcome {
    pub translated_content: String,
    pub translated_language: String,
    /// Credits to charge; at most the balance is taken, 0 charges nothing.
    pub charge: i64,
}

/// The language detector's answer when it cannot tell: stored on the message,
/// but never taken as the conversation's `visitor_language` (which keeps the
/// last language that was known).
pub const UNKNOWN_LANGUAGE: &str = "unknown";

/// What deciding a new message's jobs needs to know about its conversation,
/// read by the store in one query in the append's transaction (see
/// [`crate::plan::JobPlan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationFacts {
    pub widget_id: WidgetId,
    pub translation_enabled: bool,
    pub ai_enabled: bool,
    /// The tenant's operators' language.
    pub operator_language: String,
    pub visitor_language: Option<String>,
    /// Humans took the conversation over.
    pub handed_off: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_statuses_round_trip_their_text() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(*kind));
        }
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(JobKind::AiReply.as_str(), "ai_reply");
        assert_eq!(JobKind::parse("ai-reply"), None);
    }

    #[test]
    fn leases_are_fresh() {
        assert_ne!(new_lease(), new_lease());
    }
}
