//! `FakeUpstream`: an OpenAI-compatible server for tests, on a free loopback port, that
//! replays scripted replies byte for byte — Server-Sent Events chunks with delays, statuses
//! (429, 500…), malformed chunks, a connection cut before or after the first byte — and
//! records what it was sent and whether the client hung up while a reply was still
//! streaming.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

/// One step of a scripted reply.
#[derive(Debug, Clone)]
pub enum Step {
    /// Writes these bytes as they are.
    Raw(Vec<u8>),
    /// Writes these bytes as one HTTP/1.1 chunk.
    Chunk(Vec<u8>),
    /// Waits (noticing a client that hangs up meanwhile).
    Wait(Duration),
    /// Closes the connection at once (a reply cut off here).
    Close,
    /// Sends nothing more until the client hangs up (at most a minute).
    Hang,
}

/// A scripted reply: status line, headers and body as steps.
#[derive(Debug, Clone)]
pub struct Reply {
    steps: Vec<Step>,
}

impl Reply {
    /// A whole reply from its steps.
    pub fn steps(steps: Vec<Step>) -> Self {
        Self { steps }
    }

    /// A 200 event stream: each `data` payload as one `data: …` event in a chunk of its
    /// own, `delay` before each, then the end of the body.
    pub fn sse(payloads: &[&str], delay: Duration) -> Self {
        let mut steps = vec![Step::Raw(Self::stream_head().into_bytes())];
        for payload in payloads {
            if !delay.is_zero() {
                steps.push(Step::Wait(delay));
            }
            steps.push(Step::Chunk(format!("data: {payload}\n\n").into_bytes()));
        }
        steps.push(Step::Raw(b"0\r\n\r\n".to_vec()));
        Self { steps }
    }

    /// The head of a chunked 200 event stream.
    pub fn stream_head() -> String {
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_owned()
    }

    /// A complete non-streamed reply with this status, extra header lines and body.
    pub fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        let mut head = format!("HTTP/1.1 {status} Status\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(body);
        Self { steps: vec![Step::Raw(head.into_bytes())] }
    }

    /// Accepts the connection and reads the request, then closes it without a byte.
    pub fn close_before_reply() -> Self {
        Self { steps: vec![Step::Close] }
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<String>>,
    served: AtomicUsize,
    hung_up_early: AtomicBool,
    hang_up: Notify,
}

/// A running fake upstream; stopped when dropped.
pub struct FakeUpstream {
    port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeUpstream {
    /// Serves `replies` in order, one per connection; the last one again for any further
    /// connection.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[allow(clippy::expect_used)]
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let shared = Arc::new(Shared::default());
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let index = serving.served.fetch_add(1, Ordering::SeqCst);
                let Some(reply) = replies.get(index).or(replies.last()).cloned() else { return };
                tokio::spawn(serve(socket, reply, serving.clone()));
            }
        });
        Self { port, shared, task }
    }

    /// The base URL of its OpenAI-compatible API (`http://127.0.0.1:port/v1`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The bodies of the requests received so far, in order.
    pub async fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().await.clone()
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }

    /// Whether a client hung up while a reply was still being sent.
    pub fn client_hung_up(&self) -> bool {
        self.shared.hung_up_early.load(Ordering::SeqCst)
    }

    /// Waits until a client hangs up mid-reply, at most `limit`; whether it did.
    pub async fn wait_for_hang_up(&self, limit: Duration) -> bool {
        let notified = self.shared.hang_up.notified();
        if self.client_hung_up() {
            return true;
        }
        let _ = tokio::time::timeout(limit, notified).await;
        self.client_hung_up()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head and `content-length` body), then plays the script.
async fn serve(mut socket: TcpStream, reply: Reply, shared: Arc<Shared>) {
    let Some(body) = read_request(&mut socket).await else { return };
    shared.requests.lock().await.push(body);
    for step in reply.steps {
        let written = match step {
            Step::Raw(bytes) => socket.write_all(&bytes).await.is_ok(),
            Step::Chunk(bytes) => {
                let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
                framed.extend_from_slice(&bytes);
                framed.extend_from_slice(b"\r\n");
                socket.write_all(&framed).await.is_ok()
            }
            Step::Wait(duration) => !hung_up_within(&mut socket, duration).await,
            Step::Close => return,
            Step::Hang => !hung_up_within(&mut socket, Duration::from_secs(60)).await,
        };
        if !written {
            shared.hung_up_early.store(true, Ordering::SeqCst);
            shared.hang_up.notify_waiters();
            return;
        }
        let _ = socket.flush().await;
    }
}

/// Whether the peer closed the connection within `duration`.
async fn hung_up_within(socket: &mut TcpStream, duration: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + duration;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned())
}
