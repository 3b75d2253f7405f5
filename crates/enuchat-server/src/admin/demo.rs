//! Realistic demo data: visitors from several countries, conversations over
//! the last 30 days in every status, 1..30 messages of every role, and real
//! translations from a small phrasebook. Written in large batches through
//! [`Store::import_demo_batch`], fast enough for benchmark-sized data sets.

use chrono::{Duration, Utc};
use enuchat_domain::*;
use rand::seq::SliceRandom;
use rand::Rng;
use uuid::Uuid;

/// Conversations per store transaction.
const BATCH: usize = 1_000;

const FIRST_NAMES: &[&str] = &[
    "Anna", "John", "Maria", "Lukas", "Sofia", "Pierre", "Zofia", "Mateo", "Emma", "Jan", "Lucia",
    "Noah", "Chloé", "Piotr", "Giulia", "Liam", "Hannah", "Diego", "Camille", "Oskar",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Müller",
    "García",
    "Kowalski",
    "Rossi",
    "Dubois",
    "Nowak",
    "Silva",
    "Jansen",
    "Fischer",
    "López",
    "Martin",
    "Wiśniewska",
    "Bianchi",
    "Brown",
];

/// The same sentences in each language, so demo translations are real ones.
const LANGS: &[&str] = &["en", "de", "es", "fr", "pl"];
const VISITOR_LINES: &[[&str; 5]] = &[
    [
        "Hello, how much does it cost?",
        "Hallo, wie viel kostet das?",
        "Hola, ¿cuánto cuesta?",
        "Bonjour, combien ça coûte ?",
        "Cześć, ile to kosztuje?",
    ],
    [
        "Do you ship to my country?",
        "Liefern Sie in mein Land?",
        "¿Envían a mi país?",
        "Livrez-vous dans mon pays ?",
        "Czy wysyłacie do mojego kraju?",
    ],
    [
        "My order has not arrived yet.",
        "Meine Bestellung ist noch nicht angekommen.",
        "Mi pedido aún no ha llegado.",
        "Ma commande n'est pas encore arrivée.",
        "Moje zamówienie jeszcze nie dotarło.",
    ],
    [
        "Can I change my plan?",
        "Kann ich meinen Tarif ändern?",
        "¿Puedo cambiar mi plan?",
        "Puis-je changer mon abonnement ?",
        "Czy mogę zmienić plan?",
    ],
    [
        "Thank you, that helps!",
        "Danke, das hilft!",
        "¡Gracias, eso ayuda!",
        "Merci, cela m'aide !",
        "Dziękuję, to pomaga!",
    ],
    [
        "Is there a free trial?",
        "Gibt es eine kostenlose Testversion?",
        "¿Hay una prueba gratuita?",
        "Y a-t-il un essai gratuit ?",
        "Czy jest darmowy okres próbny?",
    ],
];
const REPLY_LINES: &[[&str; 5]] = &[
    [
        "Our plans start at €19/month.",
        "Unsere Tarife beginnen bei 19 €/Monat.",
        "Nuestros planes empiezan en 19 €/mes.",
        "Nos offres commencent à 19 €/mois.",
        "Nasze plany zaczynają się od 19 €/miesiąc.",
    ],
    [
        "Yes, we ship worldwide.",
        "Ja, wir liefern weltweit.",
        "Sí, enviamos a todo el mundo.",
        "Oui, nous livrons dans le monde entier.",
        "Tak, wysyłamy na cały świat.",
    ],
    [
        "Let me check your order.",
        "Ich sehe mir Ihre Bestellung an.",
        "Déjeme revisar su pedido.",
        "Je vérifie votre commande.",
        "Sprawdzę Twoje zamówienie.",
    ],
    [
        "You can change it in Settings.",
        "Sie können das in den Einstellungen ändern.",
        "Puede cambiarlo en Ajustes.",
        "Vous pouvez le changer dans les Paramètres.",
        "Możesz to zmienić w Ustawieniach.",
    ],
    [
        "Happy to help!",
        "Gern geschehen!",
        "¡Encantados de ayudar!",
        "Avec plaisir !",
        "Chętnie pomożemy!",
    ],
    [
        "Yes, 14 days free.",
        "Ja, 14 Tage kostenlos.",
        "Sí, 14 días gratis.",
        "Oui, 14 jours gratuits.",
        "Tak, 14 dni za darmo.",
    ],
];
const SYSTEM_LINES: &[&str] = &[
    "Thanks for chatting! Is there anything else we can help with?",
    "An operator will be with you shortly.",
    "This conversation was closed after 24 hours without reply.",
];

/// Adds `conversations` demo conversations to the tenant, spread over its
/// widgets (creating one if it has none). Returns the number of messages.
pub async fn generate(
    store: &dyn Store,
    tenant: TenantId,
    conversations: u64,
) -> anyhow::Result<u64> {
    let t = store
        .get_tenant(tenant)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant with id {tenant}"))?;
    let mut widgets: Vec<WidgetId> = store
        .list_widgets(tenant)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    if widgets.is_empty() {
        widgets.push(
            super::create_widget(store, tenant, super::WidgetOptions::default())
                .await?
                .id,
        );
    }
    let operator_lang = LANGS
        .iter()
        .position(|l| *l == t.operator_language)
        .unwrap_or(0);
    let mut messages = 0u64;
    let mut left = conversations;
    while left > 0 {
        let n = left.min(BATCH as u64) as usize;
        let batch = build_batch(tenant, &widgets, operator_lang, n);
        messages += batch.messages.len() as u64;
        store.import_demo_batch(tenant, batch).await?;
        left -= n as u64;
    }
    Ok(messages)
}

fn id_at(at: Timestamp) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.timestamp() as u64,
        at.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

fn build_batch(
    tenant: TenantId,
    widgets: &[WidgetId],
    operator_lang: usize,
    n: usize,
) -> DemoBatch {
    let mut rng = rand::thread_rng();
    let now = Utc::now();
    let mut batch = DemoBatch::default();
    for _ in 0..n {
        let widget_id = *widgets.choose(&mut rng).unwrap_or(&widgets[0]);
        let first = FIRST_NAMES.choose(&mut rng).copied().unwrap_or("Anna");
        let last = LAST_NAMES.choose(&mut rng).copied().unwrap_or("Smith");
        let lang = rng.gen_range(0..LANGS.len());
        // The gaps between messages are drawn first, so that the whole
        // conversation ends in the past: its last message at least a minute
        // and at most about 30 days ago. (Starting at a random past time and
        // adding the gaps put the newest conversations' messages up to hours
        // in the future, above everything real in the list.)
        let count = rng.gen_range(1..=30);
        let gaps: Vec<i64> = (0..count).map(|_| rng.gen_range(5..600)).collect();
        let span: i64 = gaps.iter().sum();
        let started_at = now - Duration::seconds(span + rng.gen_range(60..30 * 24 * 3600));
        let visitor = Visitor {
            id: VisitorId::generate(),
            tenant_id: tenant,
            widget_id,
            name: Some(format!("{first} {last}")),
            email: Some(format!(
                "{}.{}{}@example.com",
                ascii(first),
                ascii(last),
                rng.gen_range(1..999)
            )),
            language: Some(LANGS[lang].to_owned()),
            created_at: started_at,
        };
        let conversation_id = ConversationId(id_at(started_at));
        let mut at = started_at;
        for (seq, gap) in (1..=count).zip(&gaps) {
            at += Duration::seconds(*gap);
            let role = match seq {
                1 => MessageRole::Visitor,
                _ => *[
                    MessageRole::Visitor,
                    MessageRole::Operator,
                    MessageRole::Ai,
                    MessageRole::System,
                ]
                .choose_weighted(&mut rng, |r| match r {
                    MessageRole::Visitor => 5,
                    MessageRole::Operator => 3,
                    MessageRole::Ai => 2,
                    MessageRole::System => 1,
                })
                .unwrap_or(&MessageRole::Visitor),
            };
            batch.messages.push(demo_message(
                &mut rng,
                conversation_id,
                seq,
                role,
                lang,
                operator_lang,
                at,
            ));
        }
        let status = *[
            ConversationStatus::Open,
            ConversationStatus::Pending,
            ConversationStatus::Closed,
        ]
        .choose_weighted(&mut rng, |s| match s {
            ConversationStatus::Open => 3,
            ConversationStatus::Pending => 2,
            ConversationStatus::Closed => 5,
        })
        .unwrap_or(&ConversationStatus::Open);
        batch.conversations.push(Conversation {
            id: conversation_id,
            tenant_id: tenant,
            widget_id,
            visitor_id: visitor.id.clone(),
            visitor_name: visitor.name.clone(),
            visitor_email: visitor.email.clone(),
            visitor_language: visitor.language.clone(),
            status,
            assigned_to: None,
            last_message_at: at,
            started_at,
            last_seq: i64::from(count),
            handed_off_at: None,
        });
        batch.visitors.push(visitor);
    }
    batch
}

fn demo_message(
    rng: &mut impl Rng,
    conversation_id: ConversationId,
    seq: u32,
    role: MessageRole,
    visitor_lang: usize,
    operator_lang: usize,
    at: Timestamp,
) -> Message {
    let translated = visitor_lang != operator_lang;
    let (content, content_lang, translation) = match role {
        MessageRole::Visitor => {
            let line = VISITOR_LINES.choose(rng).unwrap_or(&VISITOR_LINES[0]);
            (
                line[visitor_lang],
                visitor_lang,
                translated.then(|| (line[operator_lang], operator_lang)),
            )
        }
        MessageRole::Operator | MessageRole::Ai => {
            let line = REPLY_LINES.choose(rng).unwrap_or(&REPLY_LINES[0]);
            (
                line[operator_lang],
                operator_lang,
                translated.then(|| (line[visitor_lang], visitor_lang)),
            )
        }
        MessageRole::System => (
            SYSTEM_LINES.choose(rng).copied().unwrap_or(SYSTEM_LINES[0]),
            0,
            None,
        ),
    };
    Message {
        id: MessageId(id_at(at)),
        conversation_id,
        seq: i64::from(seq),
        role,
        content: content.to_owned(),
        content_language: Some(LANGS[content_lang].to_owned()),
        translated_content: translation.map(|(text, _)| text.to_owned()),
        translated_language: translation.map(|(_, lang)| LANGS[lang].to_owned()),
        is_auto_reply: role == MessageRole::Ai,
        author_id: None,
        created_at: at,
        translation_pending: false,
    }
}

/// Email-safe spelling of a name.
fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'é' => 'e',
            'ü' => 'u',
            'í' => 'i',
            'ś' => 's',
            'ó' => 'o',
            c => c,
        })
        .filter(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_conversations_lie_in_the_past_in_seq_order() {
        let widgets = [WidgetId(Uuid::now_v7())];
        let batch = build_batch(TenantId(Uuid::now_v7()), &widgets, 0, 2_000);
        // Read after the batch: it ends conversations a whole minute or more
        // before its own clock reading, which may be microseconds past one
        // taken before it (a conversation ending exactly 60 s back failed).
        let after = Utc::now();
        assert_eq!(batch.conversations.len(), 2_000);
        let mut messages = batch.messages.iter().peekable();
        for c in &batch.conversations {
            assert!(c.last_message_at <= after - Duration::seconds(60));
            let mut previous = c.started_at;
            for seq in 1..=c.last_seq {
                let m = messages.next().expect("a message per seq");
                assert_eq!((m.conversation_id, m.seq), (c.id, seq));
                assert!(m.created_at > previous, "messages follow each other");
                previous = m.created_at;
            }
            assert_eq!(previous, c.last_message_at);
        }
        assert!(messages.peek().is_none());
    }
}
