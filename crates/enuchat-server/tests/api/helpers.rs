//! Test harness: fresh databases, a real server per test, seeded accounts.

use enuchat_domain::*;
use enuchat_server::admin::{self, WidgetOptions};
use enuchat_server::settings::Settings;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Generates one `#[tokio::test]` per backend for each named test function
/// `async fn name(backend: Backend)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// `None` when PostgreSQL is unreachable outside CI (the test is skipped
    /// with a message); in CI (`CI=true`) that is a failure.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("enuchat.db").display());
                Some(TestDb {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                use sqlx::{Connection, Executor};
                let admin_url = std::env::var("ENUCHAT_TEST_DATABASE_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
                    Ok(conn) => conn,
                    Err(err) if std::env::var("CI").as_deref() == Ok("true") => {
                        panic!("PostgreSQL is required in CI but unreachable at {admin_url}: {err}")
                    }
                    Err(err) => {
                        eprintln!("SKIP: PostgreSQL unreachable at {admin_url} ({err}); set ENUCHAT_TEST_DATABASE_URL or run scripts/test.sh");
                        return None;
                    }
                };
                let name = format!("enuchat_test_{}", uuid::Uuid::new_v4().simple());
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let url = replace_database(&admin_url, &name);
                Some(TestDb {
                    url,
                    _dir: None,
                    postgres: Some((admin_url, name)),
                })
            }
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside async; use a private runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    use sqlx::{Connection, Executor};
                    let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// One running server.
pub struct Instance {
    pub base: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Instance {
    pub async fn start(database_url: &str, rate_limit_per_minute: u32) -> Instance {
        Self::start_with(Settings {
            database_url: database_url.to_owned(),
            rate_limit_per_minute,
            max_db_connections: 5,
            public_url: None,
            ..Settings::default()
        })
        .await
    }

    pub async fn start_with(settings: Settings) -> Instance {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(enuchat_server::launch(settings, listener, async {
            let _ = rx.await;
        }));
        let instance = Instance {
            base: format!("http://{addr}"),
            shutdown: Some(tx),
            handle: Some(handle),
        };
        instance.wait_ready().await;
        instance
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("server at {} did not become ready", self.base);
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A server with its own database, plus a direct store handle for seeding
/// and for checking what was (not) written.
pub struct TestApp {
    pub db: TestDb,
    pub server: Instance,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
}

/// A tenant with a key, a widget, an operator and one conversation.
pub struct Account {
    pub tenant: Tenant,
    pub key: String,
    pub key_id: ApiKeyId,
    pub widget: Widget,
    pub operator: Operator,
    pub conversation: Conversation,
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with_limit(backend, 10_000).await
}

pub async fn spawn_app_with_limit(backend: Backend, rate_limit_per_minute: u32) -> Option<TestApp> {
    spawn_app_with(backend, |s| s.rate_limit_per_minute = rate_limit_per_minute).await
}

/// A server whose settings `configure` adjusts (providers, waits...).
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let db = TestDb::create(backend).await?;
    let mut settings = Settings {
        database_url: db.url.clone(),
        rate_limit_per_minute: 10_000,
        max_db_connections: 5,
        public_url: None,
        ..Settings::default()
    };
    configure(&mut settings);
    let server = Instance::start_with(settings).await;
    let store = enuchat_server::storage::connect(&db.url, 2)
        .await
        .expect("store");
    Some(TestApp {
        db,
        server,
        store,
        client: reqwest::Client::new(),
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.base, path)
    }

    pub fn api(&self, path: &str) -> String {
        self.url(&format!("/api/v1/tenant-api{path}"))
    }

    pub async fn account(&self, name: &str) -> Account {
        let store = self.store.as_ref();
        let tenant = admin::create_tenant(store, name, "pro", "en")
            .await
            .expect("tenant");
        let widget = admin::create_widget(store, tenant.id, WidgetOptions::default())
            .await
            .expect("widget");
        let email = format!("op-{}@example.com", uuid::Uuid::new_v4().simple());
        let operator = admin::create_operator(
            store,
            tenant.id,
            &email,
            "Olga",
            "password123",
            OperatorRole::Operator,
        )
        .await
        .expect("operator");
        let key = admin::create_api_key(store, tenant.id, "test", None)
            .await
            .expect("key");
        let conversation = self.conversation(&tenant, &widget).await;
        Account {
            tenant,
            key: key.secret,
            key_id: key.key.id,
            widget,
            operator,
            conversation,
        }
    }

    /// A new visitor with a new conversation on `widget`.
    pub async fn conversation(&self, tenant: &Tenant, widget: &Widget) -> Conversation {
        let visitor = self
            .store
            .create_visitor(
                tenant.id,
                NewVisitor {
                    id: VisitorId::generate(),
                    widget_id: widget.id,
                    name: Some("John".into()),
                    email: Some("john@example.com".into()),
                    language: Some(LanguageCode::parse("en").unwrap()),
                    token_hash: None,
                },
            )
            .await
            .expect("visitor");
        self.store
            .create_conversation(
                tenant.id,
                NewConversation {
                    widget_id: widget.id,
                    visitor_id: visitor.id,
                    visitor_language: Some(LanguageCode::parse("en").unwrap()),
                },
            )
            .await
            .expect("conversation")
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.api(path));
        if let Some(key) = key {
            req = req.header("X-Api-Key", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON body ({status}): {text:?}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Asserts an error response with this status and code; returns the message.
    pub fn expect_error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "body: {}", self.body);
        let message = self.body["error"]["message"]
            .as_str()
            .expect("message")
            .to_owned();
        assert!(!message.is_empty());
        message
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
