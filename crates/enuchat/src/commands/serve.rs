//! `enuchat serve`: open the database, create the first account on an empty
//! one (printing how to use it), and serve until SIGTERM or ctrl-c.

use crate::cli::ServeArgs;
use crate::config::{Config, DEFAULT_LISTEN};
use anyhow::Context;
use enuchat_server::admin::{bootstrap, demo};
use enuchat_server::settings::Settings;
use tokio::net::TcpListener;

/// Conversations created by `serve --demo` on first start.
const DEMO_CONVERSATIONS: u64 = 200;

pub async fn run(args: ServeArgs, config: Config) -> anyhow::Result<()> {
    let file = &config.file;
    let listen = args
        .listen
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .or_else(|| file.public_url.clone())
        .unwrap_or_else(|| format!("http://{local}"));
    let defaults = Settings::default();
    let mut settings = Settings {
        database_url: config.database_url.clone(),
        rate_limit_per_minute: args
            .rate_limit_per_minute
            .or(file.rate_limit_per_minute)
            .unwrap_or(60)
            .max(1),
        max_db_connections: file.max_db_connections.unwrap_or(10),
        public_url: Some(public_url.clone()),
        trust_forwarded_for: args.trust_forwarded_for || file.trust_forwarded_for.unwrap_or(false),
        visitor_messages_per_minute: args
            .visitor_messages_per_minute
            .or(file.visitor_messages_per_minute)
            .unwrap_or(defaults.visitor_messages_per_minute)
            .max(1),
        new_visitors_per_ip_per_minute: args
            .new_visitors_per_ip_per_minute
            .or(file.new_visitors_per_ip_per_minute)
            .unwrap_or(defaults.new_visitors_per_ip_per_minute)
            .max(1),
        new_conversations_per_ip_per_minute: args
            .new_conversations_per_ip_per_minute
            .or(file.new_conversations_per_ip_per_minute)
            .unwrap_or(defaults.new_conversations_per_ip_per_minute)
            .max(1),
        ..defaults
    };
    crate::config::apply_provider_settings(&mut settings, file, |name| std::env::var(name).ok())?;
    tracing::info!(?settings, "starting");
    let database =
        enuchat_server::storage::open(&settings.database_url, settings.max_db_connections)
            .await
            .context("opening the database")?;
    let store = database.store.as_ref();
    if let Some(first) = bootstrap::first_start(store).await? {
        if args.demo {
            demo::generate(store, first.tenant.id, DEMO_CONVERSATIONS).await?;
        }
        print_welcome(&first, &public_url, args.demo);
    }
    enuchat_server::serve(settings, database, listener, shutdown_signal()).await
}

fn print_welcome(first: &bootstrap::FirstStart, url: &str, demo: bool) {
    let api = format!("{url}/api/v1/tenant-api");
    println!(
        "\n\
         enuchat is ready at {url}\n\
         \n\
         This was the first start, so an account was created. These secrets are shown only now:\n\
         \n  Tenant:      {tenant_name} ({tenant_id})\
         \n  Sign in:     {url}/  as {email}  password {password}\
         \n  API key:     {key}\
         \n  Widget id:   {widget}\
         \n  Demo page:   {url}/demo/{widget}  (chat with yourself in two windows){demo_line}\
         \n\
         \n  Try the Tenant API:\
         \n    curl -H \"X-Api-Key: {key}\" {api}/widgets\
         \n    curl -H \"X-Api-Key: {key}\" \"{api}/conversations?status=open&limit=10\"\
         \n  API description: {api}/openapi.json\n",
        tenant_name = first.tenant.name,
        tenant_id = first.tenant.id,
        email = first.owner_email,
        password = first.owner_password,
        key = first.api_key,
        widget = first.widget.id,
        demo_line = if demo {
            format!("\n  Demo data:   {DEMO_CONVERSATIONS} conversations")
        } else {
            String::new()
        },
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight, closing WebSockets (1001)");
}
