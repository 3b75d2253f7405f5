//! The admin commands: tenant, widget, operator, api-key, credits, demo.

use super::print_json;
use crate::cli::*;
use anyhow::{anyhow, bail};
use enuchat_domain::*;
use enuchat_server::admin::{self, WidgetOptions};
use enuchat_server::routes::tenant_api::views::{format_time, ApiKeyView, WidgetView};
use serde_json::json;

pub async fn run(command: Command, store: &dyn Store) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => unreachable!("serve is handled by commands::run"),
        Command::Knowledge(_) => unreachable!("knowledge is handled by commands::run"),
        Command::Backup(_) => unreachable!("backup is handled by commands::run"),
        Command::Tenant(TenantCommand::Create {
            name,
            plan,
            language,
        }) => {
            let t = admin::create_tenant(store, &name, &plan, &language).await?;
            print_json(&json!({
                "id": t.id, "name": t.name, "plan": t.plan, "language": t.operator_language,
                "creditBalance": t.credit_balance, "createdAt": format_time(&t.created_at),
            }));
        }
        Command::Widget(WidgetCommand::Create {
            tenant,
            name,
            active,
            ai_enabled,
            translation_enabled,
            primary_color,
            position,
            greeting,
            allowed_origins,
        }) => {
            let options = WidgetOptions {
                name,
                is_active: active,
                ai_enabled,
                translation_enabled,
                primary_color,
                position,
                greeting,
                allowed_origins,
            };
            let widget = admin::create_widget(store, TenantId(tenant), options).await?;
            print_json(&serde_json::to_value(WidgetView::from(widget))?);
        }
        Command::Operator(OperatorCommand::Create {
            tenant,
            email,
            name,
            password,
            role,
        }) => {
            let role: OperatorRole = role.parse().map_err(|e| anyhow!("--role {e}"))?;
            let op =
                admin::create_operator(store, TenantId(tenant), &email, &name, &password, role)
                    .await?;
            print_json(&json!({
                "id": op.id, "tenantId": op.tenant_id, "email": op.email, "name": op.name,
                "role": op.role, "createdAt": format_time(&op.created_at),
            }));
        }
        Command::ApiKey(ApiKeyCommand::Create {
            tenant,
            name,
            expires_in,
        }) => {
            let created = admin::create_api_key(store, TenantId(tenant), &name, expires_in).await?;
            let mut value = serde_json::to_value(ApiKeyView::from(created.key))?;
            value["key"] = json!(created.secret);
            print_json(&value);
        }
        Command::ApiKey(ApiKeyCommand::Revoke { id }) => {
            let key = store
                .find_api_key(ApiKeyId(id))
                .await?
                .ok_or_else(|| anyhow!("no API key with id {id}"))?;
            let revoked = store
                .revoke_api_key(key.tenant_id, key.id)
                .await?
                .ok_or_else(|| anyhow!("no API key with id {id}"))?;
            print_json(&serde_json::to_value(ApiKeyView::from(revoked))?);
        }
        Command::ApiKey(ApiKeyCommand::List { tenant }) => {
            require_tenant(store, tenant).await?;
            for key in store.list_api_keys(TenantId(tenant)).await? {
                print_json(&serde_json::to_value(ApiKeyView::from(key))?);
            }
        }
        Command::Credits(CreditsCommand::Add { tenant, amount }) => {
            let entry = store
                .add_credits(TenantId(tenant), amount)
                .await?
                .ok_or_else(|| anyhow!("no tenant with id {tenant}"))?;
            print_json(&json!({
                "id": entry.id, "tenantId": entry.tenant_id, "amount": entry.amount,
                "creditBalance": entry.balance_after, "createdAt": format_time(&entry.created_at),
            }));
        }
        Command::Demo(DemoArgs {
            tenant,
            conversations,
        }) => {
            if conversations == 0 {
                bail!("--conversations must be at least 1");
            }
            let started = std::time::Instant::now();
            let messages = admin::demo::generate(store, TenantId(tenant), conversations).await?;
            print_json(&json!({
                "tenantId": tenant, "conversations": conversations, "messages": messages,
                "seconds": started.elapsed().as_secs_f64(),
            }));
        }
    }
    Ok(())
}

async fn require_tenant(store: &dyn Store, tenant: uuid::Uuid) -> anyhow::Result<()> {
    match store.get_tenant(TenantId(tenant)).await? {
        Some(_) => Ok(()),
        None => bail!("no tenant with id {tenant}"),
    }
}
