//! Which replies the visitor does not see yet: one whose translation is
//! still being made, for at most the configured wait, so that the visitor
//! reads it in their language (and the messages after it wait too, to keep
//! the order). The socket and the history answer apply the same rule, so a
//! page that loads while a translation is on its way neither shows the
//! original nor misses the translation.

use enuchat_domain::{Message, MessageRole};
use std::time::Duration;

/// A reply (not the visitor's own message, which they read as written)
/// whose translation into the visitor's language is still being made.
pub fn awaits_translation(message: &Message) -> bool {
    message.translation_pending && message.role != MessageRole::Visitor
}

/// How much longer `message` is held back, or `None` when it can be shown:
/// the visitor's own messages, messages with no translation coming, and
/// replies that have waited `wait` already (shown in the original; an
/// `update` follows if the translation arrives).
pub fn time_left(message: &Message, wait: Duration) -> Option<Duration> {
    if !awaits_translation(message) {
        return None;
    }
    let age = (chrono::Utc::now() - message.created_at)
        .to_std()
        .unwrap_or_default();
    wait.checked_sub(age)
}

/// The messages (in `seq` order) before the first one held back.
pub fn shown_now(mut messages: Vec<Message>, wait: Duration) -> Vec<Message> {
    if let Some(first_held) = messages.iter().position(|m| time_left(m, wait).is_some()) {
        messages.truncate(first_held);
    }
    messages
}
