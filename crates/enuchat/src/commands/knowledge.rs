//! `enuchat knowledge add|list|remove`: a widget's questions and answers,
//! which the offline knowledge-base AI replies from. `add` and `list` find
//! the tenant from the widget; `remove` takes `--tenant`, like the other
//! commands that change a tenant's rows (the store scopes every entry to
//! its tenant).

use super::print_json;
use crate::cli::KnowledgeCommand;
use anyhow::{anyhow, bail};
use enuchat_domain::*;
use enuchat_server::routes::dashboard::knowledge::{parse_text, KnowledgeEntryView};
use serde_json::json;

pub async fn run(command: KnowledgeCommand, store: &dyn Store) -> anyhow::Result<()> {
    match command {
        KnowledgeCommand::Add {
            widget,
            question,
            answer,
        } => {
            let question = parse_text("--question", question).map_err(|e| anyhow!(e))?;
            let answer = parse_text("--answer", answer).map_err(|e| anyhow!(e))?;
            let widget = find_widget(store, widget).await?;
            let entry = store
                .create_knowledge_entry(widget.tenant_id, widget.id, question, answer)
                .await?
                .ok_or_else(|| anyhow!("no widget with id {}", widget.id))?;
            print_json(&serde_json::to_value(KnowledgeEntryView::from(entry))?);
        }
        KnowledgeCommand::List { widget } => {
            let widget = find_widget(store, widget).await?;
            let entries: Vec<KnowledgeEntryView> = store
                .list_knowledge_entries(widget.tenant_id, widget.id)
                .await?
                .into_iter()
                .map(KnowledgeEntryView::from)
                .collect();
            print_json(&serde_json::to_value(entries)?);
        }
        KnowledgeCommand::Remove { tenant, id } => {
            if store.get_tenant(TenantId(tenant)).await?.is_none() {
                bail!("no tenant with id {tenant}");
            }
            if !store
                .delete_knowledge_entry(TenantId(tenant), KnowledgeEntryId(id))
                .await?
            {
                bail!("no knowledge entry with id {id} in tenant {tenant}");
            }
            print_json(&json!({ "removed": true }));
        }
    }
    Ok(())
}

async fn find_widget(store: &dyn Store, id: uuid::Uuid) -> anyhow::Result<Widget> {
    store
        .find_widget(WidgetId(id))
        .await?
        .ok_or_else(|| anyhow!("no widget with id {id}"))
}
