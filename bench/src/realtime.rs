//! Scenario 4: real-time delivery to many connected visitors, ours and nginx + nchan.
//!
//! Every visitor holds one WebSocket following its own channel (ours: its
//! conversation; nchan: one channel per visitor). Messages are published at a
//! fixed rate with the open-loop generator of [`crate::load`], message `i` to
//! visitor `i % visitors`, and carry their number in the text
//! (`bench-rt-<i>`), so a socket can tell which message it got without a
//! shared lookup. For each message three instants are kept (nanoseconds since
//! one origin): POST sent (counted from its scheduled time, as in the open-loop
//! generator), POST answered 2xx, frame received. At the end the
//! run waits a grace period for late deliveries; an accepted message that never
//! arrives is *lost*.

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const MARK: &str = "bench-rt-";
/// "Not happened" in the instant arrays (0 is a valid instant).
const NONE: u64 = u64::MAX;

/// Who delivers the messages.
pub enum Peer {
    /// enuchat: visitors and conversations are created through the visitor
    /// API, messages sent with the Tenant API.
    Ours {
        base: String,
        widget: String,
        keys: Vec<String>,
    },
    /// nginx + nchan: `POST {base}/pub/<n>`, WebSocket `{base}/sub/<n>`.
    Nchan { base: String },
}

pub struct Options {
    pub visitors: usize,
    pub rate: f64,
    pub seconds: f64,
    pub grace_seconds: f64,
    /// Visitors set up (HTTP) and sockets opened at once.
    pub setup_concurrency: usize,
    /// Where to write every message's instants, if anywhere.
    pub timeline: Option<std::path::PathBuf>,
}

/// Per message: when it was sent, accepted, received.
struct Instants {
    origin: Instant,
    sent: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
    received: Vec<AtomicU64>,
    duplicates: AtomicU64,
    strays: AtomicU64,
}

impl Instants {
    fn new(n: usize) -> Self {
        let fill = || (0..n).map(|_| AtomicU64::new(NONE)).collect();
        Self {
            origin: Instant::now(),
            sent: fill(),
            acked: fill(),
            received: fill(),
            duplicates: AtomicU64::new(0),
            strays: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Records a received frame: finds `bench-rt-<i>` in its text.
    fn on_frame(&self, text: &str) {
        let Some(pos) = text.find(MARK) else { return };
        let digits: String = text[pos + MARK.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let now = self.now();
        match digits
            .parse::<usize>()
            .ok()
            .and_then(|i| self.received.get(i))
        {
            Some(slot) => {
                if slot
                    .compare_exchange(NONE, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    self.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.strays.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One visitor: where to publish and where to subscribe.
struct Target {
    publish: String,
    subscribe: String,
}

pub async fn run(peer: Peer, o: &Options) -> anyhow::Result<Value> {
    let http = crate::http::client(256)?;
    let setup_started = Instant::now();
    let targets = match &peer {
        Peer::Ours { base, widget, .. } => ours_targets(&http, base, widget, o).await?,
        Peer::Nchan { base } => (0..o.visitors)
            .map(|n| Target {
                publish: format!("{base}/pub/v{n}"),
                subscribe: format!("{}/sub/v{n}", base.replacen("http", "ws", 1)),
            })
            .collect(),
    };
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    let total = ((o.rate * o.seconds).round() as usize).max(1);
    let instants = Arc::new(Instants::new(total));

    let connect_started = Instant::now();
    let readers = connect_all(&targets, &peer, instants.clone(), o.setup_concurrency).await?;
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    // nchan has no "ready" frame: give its workers a moment to register the
    // last subscribers (ours waits for `ready` on every socket already).
    tokio::time::sleep(Duration::from_secs(1)).await;

    let keys: Arc<Vec<String>> = Arc::new(match &peer {
        Peer::Ours { keys, .. } => keys.clone(),
        Peer::Nchan { .. } => vec![],
    });
    let targets = Arc::new(targets);
    let is_ours = matches!(peer, Peer::Ours { .. });
    // `open_loop` schedules message i at (about) this instant + 5 ms + i / rate.
    let loop_origin = instants.now() + 5_000_000;
    // Paced by a thread: tokio's timer sends up to ~2 ms late, which is more
    // than nchan's whole delivery time.
    let post = crate::load::open_loop_paced(
        o.rate,
        Duration::from_secs_f64(o.seconds),
        256,
        crate::load::Pacing::Thread,
        |i| {
            let i = i as usize;
            let target = &targets[i % targets.len()];
            let content = format!("{MARK}{i}");
            let req = if is_ours {
                http.post(&target.publish)
                    .header("x-api-key", &keys[i % keys.len()])
                    .json(&json!({"content": content, "role": "operator"}))
            } else {
                http.post(&target.publish).body(content)
            };
            let instants = instants.clone();
            instants.sent[i].store(instants.now(), Ordering::Relaxed);
            async move {
                crate::http::send(req).await?;
                instants.acked[i].store(instants.now(), Ordering::Relaxed);
                Ok(())
            }
        },
    )
    .await;

    // Grace: wait until every accepted message arrived, or the time is up.
    let grace_started = Instant::now();
    let grace = Duration::from_secs_f64(o.grace_seconds);
    loop {
        let missing = (0..total)
            .filter(|&i| {
                instants.acked[i].load(Ordering::Relaxed) != NONE
                    && instants.received[i].load(Ordering::Relaxed) == NONE
            })
            .count();
        if missing == 0 || grace_started.elapsed() >= grace {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let closed_early = readers.iter().filter(|r| r.is_finished()).count();
    for r in &readers {
        r.abort();
    }
    let schedule =
        |i: usize| loop_origin + crate::load::scheduled_offset(i as u64, o.rate).as_nanos() as u64;
    if let Some(path) = &o.timeline {
        write_timeline(path, &instants, total, schedule)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summarize(
        &instants,
        total,
        schedule,
        json!({
            "kind": "realtime",
            "peer": if is_ours { "ours" } else { "nchan" },
            "visitors": o.visitors,
            "rate": o.rate,
            "seconds": o.seconds,
            "graceSeconds": o.grace_seconds,
            "setupSeconds": (setup_seconds * 10.0).round() / 10.0,
            "connectSeconds": (connect_seconds * 10.0).round() / 10.0,
            "socketsClosedEarly": closed_early,
            "post": post.to_json(),
        }),
    ))
}

/// One line per message: `message,due,sent,answered,received` in
/// microseconds from the run's origin, a field left empty where that instant
/// never came.
fn write_timeline(
    path: &std::path::Path,
    instants: &Instants,
    total: usize,
    schedule: impl Fn(usize) -> u64,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "message,due_us,sent_us,answered_us,received_us")?;
    let us = |slot: &AtomicU64| match slot.load(Ordering::Relaxed) {
        NONE => String::new(),
        ns => (ns / 1000).to_string(),
    };
    for i in 0..total {
        writeln!(
            out,
            "{i},{},{},{},{}",
            schedule(i) / 1000,
            us(&instants.sent[i]),
            us(&instants.acked[i]),
            us(&instants.received[i])
        )?;
    }
    out.flush()
}

/// `schedule(i)`: when message i was due. As in [`crate::load`], latency from
/// sending counts from the due time, forgiving up to 1 ms of timer lateness:
/// a generator held back by a full in-flight window shows its queueing.
fn summarize(
    instants: &Instants,
    total: usize,
    schedule: impl Fn(usize) -> u64,
    mut line: Value,
) -> Value {
    let new_hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut from_post, mut from_ack) = (new_hist(), new_hist());
    let (mut accepted, mut received, mut lost, mut early) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..total {
        let sent = instants.sent[i].load(Ordering::Relaxed);
        let acked = instants.acked[i].load(Ordering::Relaxed);
        let got = instants.received[i].load(Ordering::Relaxed);
        if acked != NONE {
            accepted += 1;
        }
        if got == NONE {
            if acked != NONE {
                lost += 1;
            }
            continue;
        }
        received += 1;
        if sent != NONE {
            let sent = sent.min(schedule(i) + 1_000_000);
            from_post.saturating_record((got.saturating_sub(sent) / 1000).max(1));
        }
        if acked != NONE {
            // The frame can beat the HTTP answer to the client: that is a
            // negative delay, counted apart and recorded as 0.
            if got < acked {
                early += 1;
            }
            from_ack.saturating_record((got.saturating_sub(acked) / 1000).max(1));
        }
    }
    let stats = |h: &Histogram<u64>| json!({"count": h.len(), "p50Us": h.value_at_quantile(0.5), "p99Us": h.value_at_quantile(0.99), "maxUs": h.max()});
    let obj = line.as_object_mut().expect("object");
    obj.insert("messages".into(), json!(total));
    obj.insert("accepted".into(), json!(accepted));
    obj.insert("received".into(), json!(received));
    obj.insert("lost".into(), json!(lost));
    obj.insert(
        "duplicates".into(),
        json!(instants.duplicates.load(Ordering::Relaxed)),
    );
    obj.insert(
        "strays".into(),
        json!(instants.strays.load(Ordering::Relaxed)),
    );
    obj.insert("postToReceive".into(), stats(&from_post));
    let mut ack = stats(&from_ack);
    ack["receivedBeforeAnswer"] = json!(early);
    obj.insert("answerToReceive".into(), ack);
    line
}

/// Creates a visitor of `widget` through the visitor API and returns its
/// token; with `first_message`, also its conversation, by sending that.
pub async fn create_visitor(
    http: &reqwest::Client,
    base: &str,
    widget: &str,
    first_message: Option<&str>,
) -> anyhow::Result<String> {
    let reply: Value = http
        .post(format!("{base}/api/v1/widget/widgets/{widget}/visitors"))
        .json(&json!({}))
        .send()
        .await?
        .error_for_status()
        .context("creating a visitor (raise ENUCHAT_NEW_VISITORS_PER_IP_PER_MINUTE)")?
        .json()
        .await?;
    let token = reply["data"]["token"].as_str().context("token")?.to_owned();
    if let Some(content) = first_message {
        http.post(format!("{base}/api/v1/widget/messages"))
            .bearer_auth(&token)
            .json(&json!({ "content": content }))
            .send()
            .await?
            .error_for_status()
            .context("first message (raise ENUCHAT_NEW_CONVERSATIONS_PER_IP_PER_MINUTE)")?;
    }
    Ok(token)
}

/// Creates the visitors, each with a conversation (its first message), and
/// returns the Tenant API URL to post into it and its socket URL.
async fn ours_targets(
    http: &reqwest::Client,
    base: &str,
    widget: &str,
    o: &Options,
) -> anyhow::Result<Vec<Target>> {
    let ws = base.replacen("http", "ws", 1);
    let make = |_n: usize| {
        let http = http.clone();
        let (base, widget, ws) = (base.to_owned(), widget.to_owned(), ws.clone());
        async move {
            let token = create_visitor(&http, &base, &widget, Some("hello")).await?;
            let me: Value = http
                .get(format!("{base}/api/v1/widget/me"))
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let conv = &me["data"]["conversation"];
            let id = conv["id"].as_str().context("conversation id")?;
            let seq = conv["lastSeq"].as_u64().unwrap_or(0);
            anyhow::Ok(Target {
                publish: format!("{base}/api/v1/tenant-api/conversations/{id}/messages"),
                // From the last stored message on: only live ones arrive.
                subscribe: format!("{ws}/api/v1/widget/ws?token={token}&after={seq}"),
            })
        }
    };
    futures::stream::iter(0..o.visitors)
        .map(make)
        .buffered(o.setup_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Opens every socket (ours: until its `ready`), then leaves a task per socket
/// that records the frames it receives.
async fn connect_all(
    targets: &[Target],
    peer: &Peer,
    instants: Arc<Instants>,
    concurrency: usize,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let wait_ready = matches!(peer, Peer::Ours { .. });
    let sockets = futures::stream::iter(targets.iter().map(|t| t.subscribe.clone()))
        .map(|url| async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(&url)
                .await
                .with_context(|| format!("opening {}", url.split('?').next().unwrap_or("")))?;
            if wait_ready {
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Text(text))) if text.contains("\"ready\"") => break,
                        Some(Ok(_)) => continue,
                        other => bail!("socket ended before ready: {other:?}"),
                    }
                }
            }
            anyhow::Ok(socket)
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut readers = Vec::with_capacity(sockets.len());
    for socket in sockets {
        let mut socket = socket?;
        let instants = instants.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = socket.next().await {
                match frame {
                    Message::Text(text) => instants.on_frame(&text),
                    Message::Binary(bytes) => instants.on_frame(&String::from_utf8_lossy(&bytes)),
                    Message::Ping(p) => {
                        let _ = socket.send(Message::Pong(p)).await;
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        }));
    }
    Ok(readers)
}
