//! Account administration shared by the CLI, the first-start bootstrap and
//! tests: creating tenants, widgets, operators and API keys with validated
//! input, hashing passwords and generating keys in one place.

pub mod bootstrap;
pub mod demo;

use anyhow::{anyhow, Context};
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use chrono::Utc;
use enuchat_domain::*;
use std::time::Duration;

/// Input errors name the option they came from, e.g. `--name must not be empty`.
fn invalid(option: &str, err: InvalidValue) -> anyhow::Error {
    anyhow!("{option} {err}")
}

pub async fn create_tenant(
    store: &dyn Store,
    name: &str,
    plan: &str,
    operator_language: &str,
) -> anyhow::Result<Tenant> {
    let new = NewTenant {
        name: DisplayName::parse(name).map_err(|e| invalid("--name", e))?,
        plan: PlanName::parse(plan).map_err(|e| invalid("--plan", e))?,
        operator_language: LanguageCode::parse(operator_language)
            .map_err(|e| invalid("--language", e))?,
    };
    Ok(store.create_tenant(new).await?)
}

/// Options of a new widget; `Default` gives an active widget with AI and
/// translation off, blue, bottom-right.
#[derive(Debug, Clone)]
pub struct WidgetOptions {
    pub name: String,
    pub is_active: bool,
    pub ai_enabled: bool,
    pub translation_enabled: bool,
    pub primary_color: String,
    pub position: String,
    pub greeting: Option<String>,
    pub allowed_origins: Vec<String>,
}

impl Default for WidgetOptions {
    fn default() -> Self {
        Self {
            name: "Website chat".into(),
            is_active: true,
            ai_enabled: false,
            translation_enabled: false,
            primary_color: "#2563eb".into(),
            position: "bottom-right".into(),
            greeting: None,
            allowed_origins: Vec::new(),
        }
    }
}

pub async fn create_widget(
    store: &dyn Store,
    tenant: TenantId,
    options: WidgetOptions,
) -> anyhow::Result<Widget> {
    require_tenant(store, tenant).await?;
    let new = NewWidget {
        name: DisplayName::parse(&options.name).map_err(|e| invalid("--name", e))?,
        is_active: options.is_active,
        ai_enabled: options.ai_enabled,
        translation_enabled: options.translation_enabled,
        primary_color: HexColor::parse(&options.primary_color)
            .map_err(|e| invalid("--primary-color", e))?,
        position: options
            .position
            .parse()
            .map_err(|e| invalid("--position", e))?,
        greeting: options.greeting,
        allowed_origins: options
            .allowed_origins
            .iter()
            .map(|o| Origin::parse(o).map_err(|e| invalid("--allowed-origin", e)))
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(store.create_widget(tenant, new).await?)
}

pub async fn create_operator(
    store: &dyn Store,
    tenant: TenantId,
    email: &str,
    name: &str,
    password: &str,
    role: OperatorRole,
) -> anyhow::Result<Operator> {
    require_tenant(store, tenant).await?;
    if password.chars().count() < 8 {
        return Err(anyhow!("--password must be at least 8 characters"));
    }
    let new = NewOperator {
        email: Email::parse(email).map_err(|e| invalid("--email", e))?,
        name: DisplayName::parse(name).map_err(|e| invalid("--name", e))?,
        role,
        password_hash: hash_password(password)?,
    };
    match store.create_operator(tenant, new).await {
        Err(StoreError::Conflict(_)) => {
            Err(anyhow!("an operator with email {email} already exists"))
        }
        other => Ok(other?),
    }
}

/// argon2id with the crate's default (OWASP-recommended) parameters.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow!("could not hash password: {e}"))
}

/// A new API key and its secret, which exists only in this value.
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

pub async fn create_api_key(
    store: &dyn Store,
    tenant: TenantId,
    name: &str,
    expires_in: Option<Duration>,
) -> anyhow::Result<CreatedKey> {
    require_tenant(store, tenant).await?;
    let name = DisplayName::parse(name).map_err(|e| invalid("--name", e))?;
    let expires_at = match expires_in {
        None => None,
        Some(d) => Some(
            Utc::now()
                + chrono::Duration::from_std(d).context("--expires-in is too far in the future")?,
        ),
    };
    let generated = secret::generate_api_key();
    let key = store
        .create_api_key(
            tenant,
            NewApiKey {
                name,
                prefix: generated.prefix.clone(),
                key_hash: generated.hash,
                expires_at,
            },
        )
        .await?;
    Ok(CreatedKey {
        key,
        secret: generated.secret,
    })
}

async fn require_tenant(store: &dyn Store, tenant: TenantId) -> anyhow::Result<Tenant> {
    store
        .get_tenant(tenant)
        .await?
        .ok_or_else(|| anyhow!("no tenant with id {tenant}"))
}

/// A random password of 20 letters and digits, for generated logins.
pub fn random_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}
