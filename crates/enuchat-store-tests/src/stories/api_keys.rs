//! Tenant API keys.

use super::SharedStore;
use crate::fixtures::*;
use chrono::{Duration, Utc};
use enuchat_domain::*;

fn new_key(label: &str, hash_byte: u8) -> NewApiKey {
    NewApiKey {
        name: name(label),
        prefix: format!("tak_{label}"),
        key_hash: [hash_byte; 32],
        expires_at: None,
    }
}

pub async fn api_keys_create_find_list_revoke(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let expires = Utc::now() + Duration::days(30);

    let first = store
        .create_api_key(
            t.id,
            NewApiKey {
                expires_at: Some(expires),
                ..new_key("one", 1)
            },
        )
        .await
        .unwrap();
    assert_eq!(first.tenant_id, t.id);
    assert_eq!(first.name, "one");
    assert_eq!(first.prefix, "tak_one");
    assert_eq!(first.key_hash, [1; 32]);
    assert_eq!(first.expires_at.map(micros), Some(micros(expires)));
    assert_eq!((first.last_used_at, first.revoked_at), (None, None));
    let second = store.create_api_key(t.id, new_key("two", 2)).await.unwrap();

    assert_eq!(
        store.find_api_key_by_hash(&[1; 32]).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_api_key_by_hash(&[2; 32]).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.find_api_key_by_hash(&[9; 32]).await.unwrap(), None);
    assert_eq!(
        store.find_api_key(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.find_api_key(ApiKeyId::new()).await.unwrap(), None);
    assert_eq!(
        store.list_api_keys(t.id).await.unwrap(),
        vec![second.clone(), first.clone()],
        "newest first"
    );

    let duplicate = store.create_api_key(t.id, new_key("again", 1)).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "got {duplicate:?}"
    );

    let revoked = store.revoke_api_key(t.id, first.id).await.unwrap().unwrap();
    let revoked_at = revoked.revoked_at.expect("revoked_at set");
    assert_eq!(
        revoked,
        ApiKey {
            revoked_at: Some(revoked_at),
            ..first.clone()
        }
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again = store.revoke_api_key(t.id, first.id).await.unwrap().unwrap();
    assert_eq!(
        again.revoked_at,
        Some(revoked_at),
        "a second revoke keeps the first time"
    );
    let found = store.find_api_key_by_hash(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(revoked_at));
    assert_eq!(
        store.find_api_key(second.id).await.unwrap(),
        Some(second),
        "others untouched"
    );
    assert_eq!(
        store.revoke_api_key(t.id, ApiKeyId::new()).await.unwrap(),
        None
    );
}

pub async fn api_key_touch_respects_granularity(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let key = store.create_api_key(t.id, new_key("one", 1)).await.unwrap();
    let last_used = |key: Option<ApiKey>| key.unwrap().last_used_at.map(micros);

    let t0 = Utc::now();
    store.touch_api_key(t.id, key.id, t0, 60).await.unwrap();
    let stored = last_used(store.find_api_key(key.id).await.unwrap());
    assert_eq!(stored, Some(micros(t0)), "the first use is always written");

    let soon = t0 + Duration::seconds(30);
    store.touch_api_key(t.id, key.id, soon, 60).await.unwrap();
    let stored = last_used(store.find_api_key(key.id).await.unwrap());
    assert_eq!(
        stored,
        Some(micros(t0)),
        "within the granularity nothing is written"
    );

    let later = t0 + Duration::seconds(61);
    store.touch_api_key(t.id, key.id, later, 60).await.unwrap();
    let stored = last_used(store.find_api_key(key.id).await.unwrap());
    assert_eq!(
        stored,
        Some(micros(later)),
        "past the granularity the time moves"
    );

    // An older time never moves last_used_at backwards.
    store.touch_api_key(t.id, key.id, t0, 0).await.unwrap();
    let stored = last_used(store.find_api_key(key.id).await.unwrap());
    assert_eq!(stored, Some(micros(later)));
}

pub async fn api_key_uses_are_written_together(store: SharedStore) {
    let store = &*store;
    let acme = tenant(store, "Acme").await;
    let globex = tenant(store, "Globex").await;
    let busy = store
        .create_api_key(acme.id, new_key("busy", 1))
        .await
        .unwrap();
    let idle = store
        .create_api_key(acme.id, new_key("idle", 2))
        .await
        .unwrap();
    let theirs = store
        .create_api_key(globex.id, new_key("theirs", 3))
        .await
        .unwrap();
    let t0 = Utc::now();
    store.touch_api_key(acme.id, busy.id, t0, 60).await.unwrap();

    let now = t0 + Duration::seconds(30);
    let used = |tenant: TenantId, key: ApiKeyId| KeyUse {
        tenant,
        key,
        at: now,
    };
    let uses = [
        used(acme.id, busy.id),
        used(acme.id, idle.id),
        used(globex.id, theirs.id),
        // Acme's tenant id with Globex's key: not Acme's key, so ignored.
        KeyUse {
            at: now + Duration::seconds(600),
            ..used(acme.id, theirs.id)
        },
    ];
    store.touch_api_keys(&uses, 60).await.unwrap();
    store.touch_api_keys(&[], 60).await.unwrap();

    let last_used = |key: Option<ApiKey>| key.unwrap().last_used_at.map(micros);
    assert_eq!(
        last_used(store.find_api_key(busy.id).await.unwrap()),
        Some(micros(t0)),
        "a key used within the granularity keeps its time"
    );
    for key in [idle.id, theirs.id] {
        assert_eq!(
            last_used(store.find_api_key(key).await.unwrap()),
            Some(micros(now)),
            "every other key of the batch is written"
        );
    }
}

pub async fn api_keys_are_tenant_isolated(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let other = tenant(store, "Other").await;
    let key = store.create_api_key(t.id, new_key("one", 1)).await.unwrap();

    assert!(store.list_api_keys(other.id).await.unwrap().is_empty());
    assert_eq!(store.revoke_api_key(other.id, key.id).await.unwrap(), None);
    store
        .touch_api_key(other.id, key.id, Utc::now(), 0)
        .await
        .unwrap();

    let unchanged = store.find_api_key(key.id).await.unwrap();
    assert_eq!(
        unchanged,
        Some(key.clone()),
        "another tenant can neither revoke nor touch"
    );
    assert_eq!(store.list_api_keys(t.id).await.unwrap(), vec![key]);
}
