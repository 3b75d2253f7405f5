//! Credit balances and their ledger.

use crate::error::db_err;
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;

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
