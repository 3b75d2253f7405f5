//! Tenants, their operators, and their credit ledger.

use crate::rows::{
    all, ledger_columns, operator_columns, tenant_columns, LedgerRow, OperatorRow, TenantRow,
};
use crate::{db, now_us, sql_int, write_err, SqliteStore};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;

impl SqliteStore {
    pub(crate) async fn create_tenant_impl(&self, new: NewTenant) -> StoreResult<Tenant> {
        let row: TenantRow = sqlx::query_as(concat!(
            "INSERT INTO tenants (id, name, plan, operator_language, created_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING ",
            tenant_columns!()
        ))
        .bind(TenantId::new().0)
        .bind(new.name.as_str())
        .bind(new.plan.as_str())
        .bind(new.operator_language.as_str())
        .bind(now_us())
        .fetch_one(&mut *self.writer.acquire().await?)
        .await
        .map_err(|e| write_err(e, "tenant"))?;
        row.into_model()
    }

    pub(crate) async fn get_tenant_impl(&self, tenant: TenantId) -> StoreResult<Option<Tenant>> {
        let row: Option<TenantRow> = sqlx::query_as(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants WHERE id = ?"
        ))
        .bind(tenant.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(TenantRow::into_model).transpose()
    }

    pub(crate) async fn has_tenants_impl(&self) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants)")
            .fetch_one(&self.reader)
            .await
            .map_err(db)
    }

    pub(crate) async fn claim_first_start_impl(&self) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO installation (id, first_started_at) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(crate::now_us())
        .execute(&mut *self.writer.acquire().await?)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn create_operator_impl(
        &self,
        tenant: TenantId,
        new: NewOperator,
    ) -> StoreResult<Operator> {
        let row: OperatorRow = sqlx::query_as(concat!(
            "INSERT INTO operators (id, tenant_id, email, name, role, password_hash, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
            operator_columns!()
        ))
        .bind(OperatorId::new().0)
        .bind(tenant.0)
        .bind(new.email.as_str())
        .bind(new.name.as_str())
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(now_us())
        .fetch_one(&mut *self.writer.acquire().await?)
        .await
        .map_err(|e| match write_err(e, "tenant") {
            // The only unique column besides the fresh id is the email.
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("email {} is already in use", new.email.as_str()))
            }
            other => other,
        })?;
        row.into_model()
    }

    pub(crate) async fn get_operator_impl(
        &self,
        tenant: TenantId,
        id: OperatorId,
    ) -> StoreResult<Option<Operator>> {
        let row: Option<OperatorRow> = sqlx::query_as(concat!(
            "SELECT ",
            operator_columns!(),
            " FROM operators WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(OperatorRow::into_model).transpose()
    }

    pub(crate) async fn add_credits_impl(
        &self,
        tenant: TenantId,
        amount: i64,
    ) -> StoreResult<Option<LedgerEntry>> {
        if amount <= 0 {
            return Err(StoreError::Database(format!(
                "credits to add must be positive (got {amount})"
            )));
        }
        let mut tx = self.begin_write().await?;
        // Under the write lock, so ledger times follow the balance order.
        let now = now_us();
        let balance: Option<i64> = sqlx::query_scalar(
            "UPDATE tenants SET credit_balance = credit_balance + ?1, \
             total_credits_added = total_credits_added + ?1 \
             WHERE id = ?2 RETURNING credit_balance",
        )
        .bind(amount)
        .bind(tenant.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(balance) = balance else {
            // Unknown tenant; the transaction rolls back on drop.
            return Ok(None);
        };
        let row: LedgerRow = sqlx::query_as(concat!(
            "INSERT INTO credit_ledger (id, tenant_id, amount, balance_after, reason, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING ",
            ledger_columns!()
        ))
        .bind(LedgerEntryId::new().0)
        .bind(tenant.0)
        .bind(amount)
        .bind(balance)
        .bind(LedgerReason::Purchase.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.into_model().map(Some)
    }

    pub(crate) async fn list_ledger_impl(
        &self,
        tenant: TenantId,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let rows: Vec<LedgerRow> = sqlx::query_as(concat!(
            "SELECT ",
            ledger_columns!(),
            " FROM credit_ledger WHERE tenant_id = ? \
             ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        ))
        .bind(tenant.0)
        .bind(i64::from(limit))
        .bind(sql_int(offset))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        all(rows, LedgerRow::into_model)
    }
}

/// The tenant's owners other than `except`, read inside the write
/// transaction (which holds SQLite's write lock, so the answer stays true
/// until commit).
async fn other_owners(
    conn: &mut sqlx::SqliteConnection,
    tenant: TenantId,
    except: OperatorId,
) -> StoreResult<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM operators \
         WHERE tenant_id = ? AND role = 'owner' AND id <> ?)",
    )
    .bind(tenant.0)
    .bind(except.0)
    .fetch_one(conn)
    .await
    .map_err(db)
}

async fn locked_operator(
    conn: &mut sqlx::SqliteConnection,
    tenant: TenantId,
    id: OperatorId,
) -> StoreResult<Option<Operator>> {
    let row: Option<OperatorRow> = sqlx::query_as(concat!(
        "SELECT ",
        operator_columns!(),
        " FROM operators WHERE tenant_id = ? AND id = ?"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(conn)
    .await
    .map_err(db)?;
    row.map(OperatorRow::into_model).transpose()
}

impl SqliteStore {
    pub(crate) async fn update_operator_impl(
        &self,
        tenant: TenantId,
        id: OperatorId,
        update: OperatorUpdate,
    ) -> StoreResult<Option<Operator>> {
        let mut tx = self.begin_write().await?;
        let Some(current) = locked_operator(&mut tx, tenant, id).await? else {
            return Ok(None);
        };
        let demotes_owner = current.role == OperatorRole::Owner
            && update.role.is_some_and(|r| r != OperatorRole::Owner);
        if demotes_owner && !other_owners(&mut tx, tenant, id).await? {
            return Err(StoreError::Conflict(LAST_OWNER_CONFLICT.into()));
        }
        let row: OperatorRow = sqlx::query_as(concat!(
            "UPDATE operators SET name = COALESCE(?1, name), role = COALESCE(?2, role) \
             WHERE tenant_id = ?3 AND id = ?4 RETURNING ",
            operator_columns!()
        ))
        .bind(update.name.as_ref().map(DisplayName::as_str))
        .bind(update.role.map(OperatorRole::as_str))
        .bind(tenant.0)
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.into_model().map(Some)
    }

    pub(crate) async fn delete_operator_impl(
        &self,
        tenant: TenantId,
        id: OperatorId,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let Some(current) = locked_operator(&mut tx, tenant, id).await? else {
            return Ok(false);
        };
        if current.role == OperatorRole::Owner && !other_owners(&mut tx, tenant, id).await? {
            return Err(StoreError::Conflict(LAST_OWNER_CONFLICT.into()));
        }
        // Served by conversations_assignee_recent, sessions_operator (added
        // for this) and conversation_reads' primary key.
        for sql in [
            "UPDATE conversations SET assigned_to = NULL WHERE tenant_id = ?1 AND assigned_to = ?2",
            "DELETE FROM sessions WHERE operator_id = ?2 AND tenant_id = ?1",
            "DELETE FROM conversation_reads WHERE operator_id = ?2 AND tenant_id = ?1",
            "DELETE FROM operators WHERE tenant_id = ?1 AND id = ?2",
        ] {
            sqlx::query(sql)
                .bind(tenant.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}
