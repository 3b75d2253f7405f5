//! Charging credits for work done (AI replies, translations).

use crate::db;
use crate::rows::{ledger_columns, LedgerRow};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::SqliteConnection;

/// Debits up to `charge` credits from the tenant, on `conn`, which holds the
/// write lock: never more than the balance, so it never goes below zero.
/// Writes a ledger entry (negative amount: what was actually taken) linked
/// to `message`, unless nothing was taken.
pub(crate) async fn charge_in(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    charge: i64,
    reason: LedgerReason,
    message: MessageId,
    now: i64,
) -> StoreResult<Option<LedgerEntry>> {
    if charge <= 0 {
        return Ok(None);
    }
    // The write lock is held, so the balance read here is the one updated.
    let balance: Option<i64> =
        sqlx::query_scalar("SELECT credit_balance FROM tenants WHERE id = ?")
            .bind(tenant.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    let Some(balance) = balance else {
        return Err(StoreError::MissingReference("tenant"));
    };
    let debit = charge.min(balance);
    if debit <= 0 {
        return Ok(None);
    }
    sqlx::query("UPDATE tenants SET credit_balance = credit_balance - ? WHERE id = ?")
        .bind(debit)
        .bind(tenant.0)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    let row: LedgerRow = sqlx::query_as(concat!(
        "INSERT INTO credit_ledger (id, tenant_id, amount, balance_after, reason, message_id, \
         created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
        ledger_columns!()
    ))
    .bind(LedgerEntryId::new().0)
    .bind(tenant.0)
    .bind(-debit)
    .bind(balance - debit)
    .bind(reason.as_str())
    .bind(message.0)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    row.into_model().map(Some)
}
