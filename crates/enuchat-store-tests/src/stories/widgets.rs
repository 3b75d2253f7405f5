//! Widgets.

use super::SharedStore;
use crate::fixtures::*;
use enuchat_domain::*;

pub async fn widgets_create_list_in_order_and_isolation(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let other = tenant(store, "Other").await;

    let mut created = Vec::new();
    for label in ["First", "Second", "Third"] {
        created.push(store.create_widget(t.id, new_widget(label)).await.unwrap());
    }
    let plain = store
        .create_widget(
            t.id,
            NewWidget {
                is_active: false,
                ai_enabled: true,
                translation_enabled: false,
                primary_color: HexColor::default(),
                position: WidgetPosition::BottomRight,
                greeting: None,
                ..new_widget("Fourth")
            },
        )
        .await
        .unwrap();
    created.push(plain.clone());

    let first = &created[0];
    assert_eq!(first.tenant_id, t.id);
    assert_eq!(first.name, "First");
    assert!(first.is_active && !first.ai_enabled && first.translation_enabled);
    assert_eq!(first.primary_color, "#112233");
    assert_eq!(first.position, WidgetPosition::BottomLeft);
    assert_eq!(first.greeting.as_deref(), Some("Hello!"));
    assert!(!plain.is_active && plain.ai_enabled && !plain.translation_enabled);
    assert_eq!(plain.primary_color, "#2563eb");
    assert_eq!(plain.position, WidgetPosition::BottomRight);
    assert_eq!(plain.greeting, None);

    assert_eq!(
        store.list_widgets(t.id).await.unwrap(),
        created,
        "oldest first"
    );
    for w in &created {
        assert_eq!(
            store.get_widget(t.id, w.id).await.unwrap().as_ref(),
            Some(w)
        );
        assert_eq!(store.get_widget(other.id, w.id).await.unwrap(), None);
    }
    assert!(store.list_widgets(other.id).await.unwrap().is_empty());
    assert_eq!(store.get_widget(t.id, WidgetId::new()).await.unwrap(), None);

    let orphan = store
        .create_widget(TenantId::new(), new_widget("Orphan"))
        .await;
    assert!(
        matches!(orphan, Err(StoreError::MissingReference(_))),
        "got {orphan:?}"
    );
}
