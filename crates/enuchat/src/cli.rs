//! Command-line syntax. Names here are a public contract: scripts and other
//! tools call them.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "enuchat",
    version,
    about = "Self-hostable live chat for websites"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// Database: sqlite://FILE (default sqlite://enuchat.db) or postgres://USER@HOST/DB
    #[arg(
        long,
        env = "ENUCHAT_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Optional TOML file with settings (flags and environment take precedence)
    #[arg(long, env = "ENUCHAT_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Log format on stderr
    #[arg(long, env = "ENUCHAT_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the Tenant API, health checks and metrics
    Serve(ServeArgs),
    /// Manage tenants
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage widgets
    #[command(subcommand)]
    Widget(WidgetCommand),
    /// Manage operators (dashboard logins)
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Manage Tenant API keys
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Manage prepaid credits
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// Manage a widget's knowledge base (what the offline AI answers from)
    #[command(subcommand)]
    Knowledge(KnowledgeCommand),
    /// Fill a tenant with realistic demo conversations
    Demo(DemoArgs),
    /// Copy the SQLite database to a new file, consistently even while `serve` runs
    Backup(BackupArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080)
    #[arg(long, env = "ENUCHAT_LISTEN")]
    pub listen: Option<String>,
    /// On first start, also fill the new tenant with demo conversations
    #[arg(long)]
    pub demo: bool,
    /// Tenant API requests per minute per key, also the burst (default 60)
    #[arg(long, env = "ENUCHAT_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,
    /// Public base URL for printed links (default http://LISTEN)
    #[arg(long, env = "ENUCHAT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Messages per minute one visitor may send, also the burst (default 20)
    #[arg(long, env = "ENUCHAT_VISITOR_MESSAGES_PER_MINUTE")]
    pub visitor_messages_per_minute: Option<u32>,
    /// New visitors (browsers) per minute from one IP address (default 60)
    #[arg(long, env = "ENUCHAT_NEW_VISITORS_PER_IP_PER_MINUTE")]
    pub new_visitors_per_ip_per_minute: Option<u32>,
    /// New conversations per minute from one IP address (default 10)
    #[arg(long, env = "ENUCHAT_NEW_CONVERSATIONS_PER_IP_PER_MINUTE")]
    pub new_conversations_per_ip_per_minute: Option<u32>,
    /// Take client IP addresses from the last X-Forwarded-For entry, the one your
    /// proxy added (only when clients cannot reach enuchat directly)
    #[arg(long, env = "ENUCHAT_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints {"id": ...}
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "free")]
        plan: String,
        /// The operators' language: what visitor messages get translated into
        #[arg(long, default_value = "en")]
        language: String,
    },
}

#[derive(Subcommand)]
pub enum WidgetCommand {
    /// Create a widget; prints it as JSON
    Create {
        #[arg(long)]
        tenant: uuid::Uuid,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        active: bool,
        #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
        ai_enabled: bool,
        #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
        translation_enabled: bool,
        #[arg(long, default_value = "#2563eb")]
        primary_color: String,
        #[arg(long, default_value = "bottom-right")]
        position: String,
        /// First message shown to visitors
        #[arg(long)]
        greeting: Option<String>,
        /// Only pages on this origin may use the widget (repeatable; default: any)
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Create an operator; prints it as JSON (never the password)
    Create {
        #[arg(long)]
        tenant: uuid::Uuid,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, env = "ENUCHAT_OPERATOR_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "operator")]
        role: String,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; prints {"id","key",...}. The key is shown only this once
    Create {
        #[arg(long)]
        tenant: uuid::Uuid,
        #[arg(long)]
        name: String,
        /// Lifetime such as 90s, 12h or 30d (default: no expiry)
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// Revoke a key; requests with it get 401 from now on
    Revoke {
        #[arg(long)]
        id: uuid::Uuid,
    },
    /// List a tenant's keys (prefixes only, never the keys)
    List {
        #[arg(long)]
        tenant: uuid::Uuid,
    },
}

#[derive(Subcommand)]
pub enum CreditsCommand {
    /// Add credits (a ledger entry); prints the entry and the new balance
    Add {
        #[arg(long)]
        tenant: uuid::Uuid,
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        amount: i64,
    },
}

#[derive(Subcommand)]
pub enum KnowledgeCommand {
    /// Add a question and its answer to a widget; prints the entry as JSON
    Add {
        #[arg(long)]
        widget: uuid::Uuid,
        #[arg(long)]
        question: String,
        /// Sent to visitors as the AI's reply (at most 10,000 characters)
        #[arg(long)]
        answer: String,
    },
    /// List a widget's entries, oldest first, as one JSON array
    List {
        #[arg(long)]
        widget: uuid::Uuid,
    },
    /// Remove an entry; prints {"removed": true}
    Remove {
        /// The tenant the entry belongs to
        #[arg(long)]
        tenant: uuid::Uuid,
        #[arg(long)]
        id: uuid::Uuid,
    },
}

#[derive(Args)]
pub struct BackupArgs {
    /// The copy to write; it must not exist yet
    #[arg(long)]
    pub to: std::path::PathBuf,
}

#[derive(Args)]
pub struct DemoArgs {
    #[arg(long)]
    pub tenant: uuid::Uuid,
    #[arg(long, default_value_t = 200)]
    pub conversations: u64,
}
