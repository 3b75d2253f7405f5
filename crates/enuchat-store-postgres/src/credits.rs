//! Credit balances and their ledger.

use crate::error::db_err;
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::{PgConnection, PgPool};

/// Adds credits and writes the ledger entry in one statement (one
/// transaction). The UPDATE's row lock on the tenant serializes concurrent
/// changes to a balance from any instance, and `balance_after` is the balance
/// that UPDATE produced, so ledger entries never disagree with the tenant row.
pub(crate) async fn add(
    pool: &PgPool,
    tenant: TenantId,
    amount: i64,
) -> StoreResult<Option<LedgerEntry>> {
    if amount <= 0 {
        return Err(StoreError::Database(format!(
            "credits to add must be positive, got {amount}"
        )));
    }
    let row: Option<LedgerRow> = sqlx::query_as(concat!(
        "WITH t AS ( \
           UPDATE tenants \
           SET credit_balance = credit_balance + $2, \
               total_credits_added = total_credits_added + $2 \
           WHERE id = $1 \
           RETURNING id, credit_balance \
         ) \
         INSERT INTO credit_ledger (id, tenant_id, amount, balance_after, reason, message_id, \
                                    created_at) \
         SELECT $3, t.id, $2, t.credit_balance, $4, NULL, clock_timestamp() FROM t \
         RETURNING ",
        ledger_columns!()
    ))
    .bind(tenant.0)
    .bind(amount)
    .bind(LedgerEntryId::new().0)
    .bind(LedgerReason::Purchase.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(LedgerRow::into_model).transpose()
}

pub(crate) async fn list(
    pool: &PgPool,
    tenant: TenantId,
    limit: u32,
    offset: u64,
) -> StoreResult<Vec<LedgerEntry>> {
    let (limit, offset) = page(limit, offset);
    let rows: Vec<LedgerRow> = sqlx::query_as(concat!(
        "SELECT ",
        ledger_columns!(),
        " FROM credit_ledger WHERE tenant_id = $1 \
          ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(tenant.0)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    all(rows, LedgerRow::into_model)
}

/// Debits up to `charge` credits from the tenant inside `tx`: never more than
/// the balance, so it never goes below zero. Writes a ledger entry (negative
/// amount: what was actually taken) linked to `message`, unless nothing was
/// taken.
///
/// `FOR UPDATE` takes the tenant's row lock before the balance is read, so a
/// concurrent charge or top-up from any instance waits, and the debit is
/// computed from the balance it then changes.
pub(crate) async fn charge_in(
    tx: &mut PgConnection,
    tenant: TenantId,
    charge: i64,
    reason: LedgerReason,
    message: MessageId,
) -> StoreResult<Option<LedgerEntry>> {
    if charge <= 0 {
        return Ok(None);
    }
    let balance: Option<i64> =
        sqlx::query_scalar("SELECT credit_balance FROM tenants WHERE id = $1 FOR UPDATE")
            .bind(tenant.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
    let Some(balance) = balance else {
        return Err(StoreError::MissingReference("tenant"));
    };
    let debit = charge.min(balance);
    if debit <= 0 {
        return Ok(None);
    }
    let row: LedgerRow = sqlx::query_as(concat!(
        "WITH t AS ( \
           UPDATE tenants SET credit_balance = credit_balance - $2 WHERE id = $1 \
           RETURNING id, credit_balance \
         ) \
         INSERT INTO credit_ledger (id, tenant_id, amount, balance_after, reason, message_id, \
                                    created_at) \
         SELECT $3, t.id, -$2::bigint, t.credit_balance, $4, $5, clock_timestamp() FROM t \
         RETURNING ",
        ledger_columns!()
    ))
    .bind(tenant.0)
    .bind(debit)
    .bind(LedgerEntryId::new().0)
    .bind(reason.as_str())
    .bind(message.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    row.into_model().map(Some)
}
