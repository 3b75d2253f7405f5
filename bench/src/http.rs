//! Tenant API scenarios and the HTTP baseline server.

use crate::wire::WireClient;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::time::Duration;

const API: &str = "/api/v1/tenant-api";

/// The minimal axum server every HTTP figure is compared with: one route, a
/// small JSON body (about the size of a short API answer), no middleware.
pub async fn serve_baseline(listen: &str) -> anyhow::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/json",
        get(|| async {
            axum::Json(
                json!({"data": {"id": "019d19c6-7e0b-7c3a-9f1e-2b4d6a8c0e12",
                "status": "open", "lastMessageAt": "2026-04-11T14:30:00+00:00"}}),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("baseline listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

pub fn client(max_inflight: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(max_inflight)
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()?)
}

pub fn check_loopback(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs are benchmarked")?;
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        bail!("benchmarks only target loopback addresses, not {host}");
    }
    Ok(())
}

pub fn read_keys(path: &str) -> anyhow::Result<Vec<String>> {
    let keys: Vec<String> = std::fs::read_to_string(path)
        .with_context(|| format!("reading {path}"))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if keys.is_empty() {
        bail!("no keys in {path}");
    }
    Ok(keys)
}

/// Sends one request and treats anything but 2xx as an error; the body is
/// read completely, as a real client would.
pub async fn send(req: reqwest::RequestBuilder) -> anyhow::Result<()> {
    let resp = req.send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        bail!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
    }
    Ok(())
}

async fn get_json(http: &reqwest::Client, url: &str, key: &str) -> anyhow::Result<Value> {
    let resp = http.get(url).header("x-api-key", key).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    if !status.is_success() {
        bail!("GET {url}: {status} {body}");
    }
    Ok(body)
}

/// What the Tenant API scenarios need to know about the data set.
pub struct Fixture {
    pub keys: Vec<String>,
    pub widget: String,
    /// Conversations with at least 50 messages (for `get`).
    pub full: Vec<String>,
    /// Conversations to append to (for `post`).
    pub targets: Vec<String>,
    pub total_conversations: u64,
}

/// Reads widget and conversation ids through the API and tops `full_count`
/// conversations up to 50 messages (not timed).
pub async fn prepare(
    base: &str,
    keys: Vec<String>,
    full_count: usize,
    target_count: usize,
) -> anyhow::Result<Fixture> {
    let http = client(64)?;
    let key = keys[0].clone();
    let widgets = get_json(&http, &format!("{base}{API}/widgets"), &key).await?;
    let widget = widgets["data"][0]["id"]
        .as_str()
        .context("the tenant has no widget")?
        .to_owned();
    let mut ids = Vec::new();
    let mut offset = 0;
    while ids.len() < target_count.max(full_count) {
        let page = get_json(
            &http,
            &format!("{base}{API}/conversations?limit=100&offset={offset}"),
            &key,
        )
        .await?;
        let page = page["data"].as_array().context("data")?.clone();
        if page.is_empty() {
            break;
        }
        offset += page.len();
        ids.extend(
            page.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned)),
        );
    }
    if ids.is_empty() {
        bail!("the tenant has no conversations (run enuchat demo first)");
    }
    let full: Vec<String> = ids.iter().take(full_count).cloned().collect();
    // Top up to 50 messages, a few conversations at a time.
    let mut tasks = Vec::new();
    for (n, id) in full.iter().enumerate() {
        let (http, base, id, key) = (
            http.clone(),
            base.to_owned(),
            id.clone(),
            keys[n % keys.len()].clone(),
        );
        tasks.push(tokio::spawn(async move {
            let detail = get_json(
                &http,
                &format!("{base}{API}/conversations/{id}?limit=50"),
                &key,
            )
            .await?;
            let have = detail["data"]["messages"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            for _ in have..50 {
                send(
                    http.post(format!("{base}{API}/conversations/{id}/messages"))
                        .header("x-api-key", &key)
                        .json(&json!({"content": "Topping up for the benchmark.", "role": "operator"})),
                )
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    // The total, for deep offsets: the demo count is what the script made.
    Ok(Fixture {
        keys,
        widget,
        targets: ids,
        full,
        total_conversations: 0,
    })
}

/// The message every `post` request sends.
const POST_BODY: &str = r#"{"content":"Thanks for chatting! Is there anything else we can help with?","role":"operator"}"#;

/// Builds the bytes of request number `i` of a scenario.
pub fn make_request(
    wire: &WireClient,
    f: &Fixture,
    scenario: &str,
    i: u64,
) -> anyhow::Result<Vec<u8>> {
    let key = &f.keys[(i as usize) % f.keys.len()];
    // Spread conversation picks without a shared RNG.
    let spread = (i.wrapping_mul(2_654_435_761)) as usize;
    let get = |path: &str| wire.get(path, key);
    Ok(match scenario {
        "list" => get(&format!("{API}/conversations?limit=20")),
        "list-filtered" => {
            let status = ["open", "pending", "closed"][(i % 3) as usize];
            get(&format!(
                "{API}/conversations?limit=20&status={status}&widgetId={}",
                f.widget
            ))
        }
        "list-deep" => {
            // Pages in the last tenth of the list, where OFFSET has to skip
            // almost everything.
            let total = f.total_conversations.max(40);
            let offset = total * 9 / 10 + (spread as u64 % (total / 10 - 20).max(1));
            get(&format!("{API}/conversations?limit=20&offset={offset}"))
        }
        "get" => {
            let id = &f.full[spread % f.full.len()];
            get(&format!("{API}/conversations/{id}?limit=50"))
        }
        "post" => {
            let id = &f.targets[spread % f.targets.len()];
            wire.post_json(
                &format!("{API}/conversations/{id}/messages"),
                key,
                POST_BODY,
            )
        }
        "widgets" => get(&format!("{API}/widgets")),
        "baseline" => get("/json"),
        "healthz" => get("/healthz"),
        other => bail!("unknown scenario {other}"),
    })
}
