//! A fresh database per test, dropped afterwards (also when the test panics).

#![allow(dead_code)] // each test binary uses a different part of this module

use enuchat_domain::*;
use enuchat_store_postgres::PostgresStore;
use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server to create test databases on: `ENUCHAT_TEST_DATABASE_URL`, or
/// the local default.
pub fn admin_url() -> String {
    std::env::var("ENUCHAT_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    /// A new empty database, or `None` (after printing SKIP) when PostgreSQL
    /// cannot be reached outside CI; in CI (`CI=true`) that is a failure.
    pub async fn create() -> Option<TestDb> {
        let admin_url = admin_url();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("PostgreSQL required in CI: cannot connect to {admin_url}: {e}")
            }
            Err(e) => {
                eprintln!("SKIP: PostgreSQL not reachable at {admin_url} ({e})");
                return None;
            }
        };
        let name = format!("enuchat_test_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(TestDb {
            name,
            url,
            admin_url,
        })
    }

    pub async fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.url)
            .await
            .expect("connect store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs outside async; use a small runtime on a thread of its own
        // (a runtime cannot be started inside the test's runtime thread).
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

pub fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).expect("valid name")
}

pub async fn tenant(store: &PostgresStore, label: &str) -> Tenant {
    store
        .create_tenant(NewTenant {
            name: name(label),
            plan: PlanName::parse("pro").expect("plan"),
            operator_language: LanguageCode::parse("en").expect("language"),
        })
        .await
        .expect("create tenant")
}

pub async fn widget(store: &PostgresStore, tenant: TenantId, label: &str) -> Widget {
    store
        .create_widget(
            tenant,
            NewWidget {
                name: name(label),
                is_active: true,
                ai_enabled: false,
                translation_enabled: false,
                primary_color: HexColor::default(),
                position: WidgetPosition::BottomRight,
                greeting: Some("Hi!".into()),
                allowed_origins: Vec::new(),
            },
        )
        .await
        .expect("create widget")
}

pub async fn visitor(store: &PostgresStore, tenant: TenantId, widget: WidgetId) -> Visitor {
    store
        .create_visitor(
            tenant,
            NewVisitor {
                id: VisitorId::generate(),
                widget_id: widget,
                name: Some("Ada".into()),
                email: Some("ada@example.com".into()),
                language: None,
                token_hash: None,
            },
        )
        .await
        .expect("create visitor")
}

/// A visitor and an open conversation on `widget`.
pub async fn conversation(
    store: &PostgresStore,
    tenant: TenantId,
    widget: WidgetId,
) -> Conversation {
    let visitor = visitor(store, tenant, widget).await;
    store
        .create_conversation(
            tenant,
            NewConversation {
                widget_id: widget,
                visitor_id: visitor.id,
                visitor_language: Some(LanguageCode::parse("pl").expect("language")),
            },
        )
        .await
        .expect("create conversation")
}

pub fn text(s: &str) -> MessageContent {
    MessageContent::parse(s.to_owned()).expect("valid content")
}

#[test]
fn database_names_are_swapped_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/postgres?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
