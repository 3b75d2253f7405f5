//! A lean HTTP/1.1 keep-alive client for the load generator's requests.
//!
//! Why not reqwest, which the rest of the tool uses: the generator shares
//! the two cores with the server it measures, so every microsecond it spends
//! per request is taken from the server. With reqwest it spent 28-38 µs of
//! CPU per request, about twice what the minimal HTTP server spends answering
//! one (`bench/profiles/README.md`, session 34): URL parsing, header maps,
//! the pool's bookkeeping and a hand-off to a connection task per request.
//! Here a request is bytes formatted once, written on a pooled connection by
//! the task that sends it, and its answer read on the same task; `httparse`
//! reads the status line and headers. It speaks only what the benchmark
//! needs: plain HTTP/1.1 on loopback, `Content-Length` or chunked bodies.

use anyhow::{bail, Context};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Response headers read at most (ours send about ten).
const MAX_HEADERS: usize = 32;
/// Buffer space made free before each read.
const READ_CHUNK: usize = 16 * 1024;

/// Connections to one server, reused while it keeps them alive.
pub struct WireClient {
    addr: SocketAddr,
    /// `host:port`, for the `Host` header.
    authority: String,
    idle: Mutex<Vec<Conn>>,
    timeout: Duration,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// What one exchange read: whether the connection may be reused.
enum Outcome {
    KeepAlive,
    Close,
}

impl WireClient {
    /// A client for `base` (`http://host:port`, already checked to be a
    /// loopback address); every exchange gives up after `timeout`.
    pub async fn new(base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let authority = base
            .strip_prefix("http://")
            .context("only http:// URLs are benchmarked")?
            .trim_end_matches('/')
            .to_owned();
        let addr = tokio::net::lookup_host(&authority)
            .await?
            .next()
            .with_context(|| format!("{authority} does not resolve"))?;
        Ok(Self {
            addr,
            authority,
            idle: Mutex::new(Vec::new()),
            timeout,
        })
    }

    /// The bytes of a `GET` of `path` (with its query) carrying `key`.
    pub fn get(&self, path: &str, key: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nx-api-key: {key}\r\n\r\n",
            self.authority
        )
        .into_bytes()
    }

    /// The bytes of a `POST` of the JSON text `body` to `path`.
    pub fn post_json(&self, path: &str, key: &str, body: &str) -> Vec<u8> {
        format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\nx-api-key: {key}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.authority,
            body.len()
        )
        .into_bytes()
    }

    /// Sends one request and reads its whole answer; anything but a 2xx is
    /// an error. A pooled connection that the server had closed while idle
    /// (nothing of the answer came back) is replaced once, as any keep-alive
    /// client does.
    pub async fn send(&self, request: &[u8]) -> anyhow::Result<()> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let reused = pooled.is_some();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let mut outcome = self.exchange_in_time(&mut conn, request).await;
        if reused && matches!(&outcome, Err(e) if e.is::<ClosedBeforeAnswer>()) {
            conn = self.connect().await?;
            outcome = self.exchange_in_time(&mut conn, request).await;
        }
        if let Outcome::KeepAlive = outcome? {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        Ok(())
    }

    async fn connect(&self) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
        })
    }

    async fn exchange_in_time(&self, conn: &mut Conn, request: &[u8]) -> anyhow::Result<Outcome> {
        match tokio::time::timeout(self.timeout, exchange(conn, request)).await {
            Ok(outcome) => outcome,
            Err(_) => bail!("no answer within {:?}", self.timeout),
        }
    }
}

/// The connection closed before any byte of the answer arrived.
#[derive(Debug)]
struct ClosedBeforeAnswer;

impl std::fmt::Display for ClosedBeforeAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server closed the connection before answering")
    }
}

impl std::error::Error for ClosedBeforeAnswer {}

/// How the answer's body is delimited.
enum Framing {
    Length(usize),
    Chunked,
}

async fn exchange(conn: &mut Conn, request: &[u8]) -> anyhow::Result<Outcome> {
    conn.stream.write_all(request).await?;
    conn.buf.clear();
    let (status, head_len, framing, close) = loop {
        if read_more(conn).await? == 0 {
            if conn.buf.is_empty() {
                return Err(ClosedBeforeAnswer.into());
            }
            bail!("the connection closed in the answer's head");
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(len) = response.parse(&conn.buf)? {
            let status = response.code.unwrap_or(0);
            let (framing, close) = framing_of(status, response.headers)?;
            break (status, len, framing, close);
        }
    };
    let body = match framing {
        Framing::Length(n) => {
            while conn.buf.len() < head_len + n {
                if read_more(conn).await? == 0 {
                    bail!("the connection closed in the answer's body");
                }
            }
            head_len..head_len + n
        }
        Framing::Chunked => head_len..read_chunked(conn, head_len).await?,
    };
    if !(200..300).contains(&status) {
        let body = &conn.buf[body.start..body.end.min(body.start + 200)];
        bail!("HTTP {status}: {}", String::from_utf8_lossy(body));
    }
    Ok(if close {
        Outcome::Close
    } else {
        Outcome::KeepAlive
    })
}

fn framing_of(status: u16, headers: &[httparse::Header]) -> anyhow::Result<(Framing, bool)> {
    let mut framing = Framing::Length(0);
    let mut close = false;
    for header in headers {
        let value = std::str::from_utf8(header.value).unwrap_or_default().trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            framing = Framing::Length(value.parse().context("content-length")?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("chunked") {
                bail!("transfer-encoding {value} is not supported");
            }
            framing = Framing::Chunked;
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    // These never have a body, whatever the headers say.
    if matches!(status, 204 | 304) || (100..200).contains(&status) {
        framing = Framing::Length(0);
    }
    Ok((framing, close))
}

/// Reads a chunked body that starts at `pos`; returns where it ends.
async fn read_chunked(conn: &mut Conn, mut pos: usize) -> anyhow::Result<usize> {
    loop {
        match httparse::parse_chunk_size(&conn.buf[pos..])
            .map_err(|_| anyhow::anyhow!("bad chunk size"))?
        {
            httparse::Status::Complete((size_len, 0)) => {
                // The last chunk, then (no trailers) an empty line.
                let end = pos + size_len + 2;
                while conn.buf.len() < end {
                    if read_more(conn).await? == 0 {
                        bail!("the connection closed in the answer's last chunk");
                    }
                }
                return Ok(end);
            }
            httparse::Status::Complete((size_len, size)) => {
                let next = pos + size_len + usize::try_from(size)? + 2;
                while conn.buf.len() < next {
                    if read_more(conn).await? == 0 {
                        bail!("the connection closed in a chunk");
                    }
                }
                pos = next;
            }
            httparse::Status::Partial => {
                if read_more(conn).await? == 0 {
                    bail!("the connection closed in a chunk's size");
                }
            }
        }
    }
}

async fn read_more(conn: &mut Conn) -> std::io::Result<usize> {
    if conn.buf.capacity() - conn.buf.len() < READ_CHUNK / 4 {
        conn.buf.reserve(READ_CHUNK);
    }
    conn.stream.read_buf(&mut conn.buf).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that, on its n-th accepted connection, answers each request
    /// with the next of `conns[n]`, then closes that connection; returns its
    /// base URL.
    async fn scripted(conns: Vec<Vec<&'static str>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for answers in conns {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                for answer in answers {
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = socket.read(&mut buf).await.unwrap();
                        assert!(n > 0, "client closed early");
                        seen.extend_from_slice(&buf[..n]);
                    }
                    // Dribble the answer so that every read path is taken.
                    for piece in answer.as_bytes().chunks(7) {
                        socket.write_all(piece).await.unwrap();
                        socket.flush().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                }
            }
        });
        base
    }

    /// A client of a [`scripted`] server.
    async fn client_for(conns: Vec<Vec<&'static str>>) -> WireClient {
        let base = scripted(conns).await;
        WireClient::new(&base, Duration::from_secs(5))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn reads_length_and_chunked_answers_on_one_connection() {
        let client = client_for(vec![vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"data\":[]}",
            "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
        ]]).await;
        for _ in 0..3 {
            client.send(&client.get("/x", "k")).await.unwrap();
        }
        // All three answers came on the one connection the server accepted.
        assert_eq!(client.idle.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_non_2xx_answer_is_an_error_with_its_status_and_body() {
        let client = client_for(vec![vec![
            "HTTP/1.1 429 Too Many Requests\r\ncontent-length: 22\r\n\r\n{\"error\":{\"code\":\"X\"}}",
        ]]).await;
        let err = client
            .send(&client.post_json("/y", "k", "{}"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("HTTP 429"), "{err}");
        assert!(err.contains("\"code\":\"X\""), "{err}");
    }

    #[tokio::test]
    async fn an_answer_cut_short_is_an_error() {
        let client = client_for(vec![vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{\"da",
        ]])
        .await;
        let err = client.send(&client.get("/x", "k")).await.unwrap_err();
        assert!(
            err.to_string().contains("closed in the answer's body"),
            "{err}"
        );
        assert!(client.idle.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_pooled_connection_closed_while_idle_is_replaced_once() {
        const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        // The first connection answers once, then the server closes it.
        let client = client_for(vec![vec![OK], vec![OK]]).await;
        client.send(&client.get("/x", "k")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.send(&client.get("/x", "k")).await.unwrap();
        // The server is gone now: the retry cannot connect, and it is the
        // only one.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(client.send(&client.get("/x", "k")).await.is_err());
    }

    #[tokio::test]
    async fn requests_are_well_formed_http() {
        let client = WireClient::new("http://127.0.0.1:9", Duration::from_secs(1))
            .await
            .unwrap();
        for request in [
            client.get("/a?b=1", "key1"),
            client.post_json("/c", "key2", "{\"d\":1}"),
        ] {
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut parsed = httparse::Request::new(&mut headers);
            let httparse::Status::Complete(head) = parsed.parse(&request).unwrap() else {
                panic!("incomplete request");
            };
            assert!(parsed
                .headers
                .iter()
                .any(|h| h.name == "host" && h.value == b"127.0.0.1:9"));
            assert!(parsed.headers.iter().any(|h| h.name == "x-api-key"));
            let length = parsed
                .headers
                .iter()
                .find(|h| h.name == "content-length")
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            assert_eq!(request.len(), head + length);
        }
    }
}
