//! Credits and their ledger.

use super::SharedStore;
use crate::fixtures::*;
use enuchat_domain::*;

pub async fn credits_add_update_balance_and_ledger(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let other = tenant(store, "Other").await;

    let first = store.add_credits(t.id, 100).await.unwrap().unwrap();
    assert_eq!(
        (first.tenant_id, first.amount, first.balance_after),
        (t.id, 100, 100)
    );
    assert_eq!(
        (first.reason, first.message_id),
        (LedgerReason::Purchase, None)
    );
    let second = store.add_credits(t.id, 50).await.unwrap().unwrap();
    assert_eq!((second.amount, second.balance_after), (50, 150));
    let third = store.add_credits(t.id, 7).await.unwrap().unwrap();
    assert_eq!(third.balance_after, 157);
    assert!(third.created_at >= second.created_at && second.created_at >= first.created_at);

    let now = store.get_tenant(t.id).await.unwrap().unwrap();
    assert_eq!((now.credit_balance, now.total_credits_added), (157, 157));
    assert_eq!(now.created_at, t.created_at);

    let newest_first = vec![third.clone(), second.clone(), first.clone()];
    assert_eq!(store.list_ledger(t.id, 10, 0).await.unwrap(), newest_first);
    assert_eq!(
        store.list_ledger(t.id, 2, 0).await.unwrap(),
        newest_first[..2].to_vec()
    );
    assert_eq!(
        store.list_ledger(t.id, 2, 2).await.unwrap(),
        newest_first[2..].to_vec()
    );
    assert!(store.list_ledger(t.id, 2, 3).await.unwrap().is_empty());

    // Another tenant's balance and ledger are untouched.
    assert!(store.list_ledger(other.id, 10, 0).await.unwrap().is_empty());
    let untouched = store.get_tenant(other.id).await.unwrap().unwrap();
    assert_eq!(
        (untouched.credit_balance, untouched.total_credits_added),
        (0, 0)
    );

    assert_eq!(store.add_credits(TenantId::new(), 10).await.unwrap(), None);
}
