//! A TCP proxy that a test owns, to cut a server off from a dependency (PostgreSQL) and
//! give it back, without touching the dependency itself that other tests are using.
//!
//! While it `forward`s, every connection is relayed. `cut(Cut::Refuse)` drops the live
//! connections and closes new ones at once (the database is gone); `cut(Cut::Hang)`
//! freezes the live connections and holds new ones without a byte (the database, or the
//! network, hangs). `restore()` forwards new connections again; the frozen or dropped
//! ones stay dead, as after a real outage.

// Test support: a proxy that cannot start is a failed test, said loudly.
#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the proxy fails while cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Live connections are dropped, new ones closed at once.
    Refuse,
    /// Live connections freeze, new ones are accepted and never answered.
    Hang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Cut(Cut),
}

/// A running proxy; it stops when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and relays to `target` (`host:port`). Needs a
    /// running Tokio runtime; the relaying runs on it.
    pub async fn start(target: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, _) = watch::channel(Mode::Forward);
        let mode = Arc::new(mode);
        let target = target.to_owned();
        let modes = Arc::clone(&mode);
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, target.clone(), modes.subscribe()));
            }
        });
        TcpProxy { addr, mode, accepting }
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (`scheme://[user@]host:port/path`) pointed at the proxy instead.
    pub fn url_through(&self, url: &str) -> String {
        let start = url.find("://").map_or(0, |i| i + 3);
        let end = url[start..].find('/').map_or(url.len(), |i| start + i);
        let authority = &url[start..end];
        let userinfo = authority.rfind('@').map_or("", |at| &authority[..=at]);
        format!("{}{userinfo}{}{}", &url[..start], self.addr, &url[end..])
    }

    pub fn cut(&self, how: Cut) {
        self.mode.send_replace(Mode::Cut(how));
    }

    pub fn restore(&self) {
        self.mode.send_replace(Mode::Forward);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.mode.send_replace(Mode::Cut(Cut::Refuse));
    }
}

/// `host:port` of a `scheme://[user@]host:port/…` URL (port 5432 if it names none).
pub fn host_and_port(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let authority = &url[start..end];
    let host = authority.rfind('@').map_or(authority, |at| &authority[at + 1..]);
    if host.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()) {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

async fn relay(mut client: TcpStream, target: String, mut mode: watch::Receiver<Mode>) {
    let now = *mode.borrow_and_update();
    match now {
        Mode::Cut(Cut::Refuse) => {}
        Mode::Cut(Cut::Hang) => {
            // Hold the socket, say nothing, until the cut is over; then drop it.
            let _ = mode.wait_for(|m| *m != Mode::Cut(Cut::Hang)).await;
        }
        Mode::Forward => {
            let Ok(mut upstream) = TcpStream::connect(&target).await else { return };
            let cut = tokio::select! {
                _ = copy_bidirectional(&mut client, &mut upstream) => None,
                changed = mode.wait_for(|m| *m != Mode::Forward) => changed.ok().map(|m| *m),
            };
            if cut == Some(Mode::Cut(Cut::Hang)) {
                // Frozen: both ends stay open and silent until the proxy changes again.
                let _ = mode.wait_for(|m| *m != Mode::Cut(Cut::Hang)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut reader, mut writer) = socket.split();
                    let _ = tokio::io::copy(&mut reader, &mut writer).await;
                });
            }
        });
        addr
    }

    async fn echoes(addr: SocketAddr) -> bool {
        let Ok(mut stream) = TcpStream::connect(addr).await else { return false };
        if stream.write_all(b"ping").await.is_err() {
            return false;
        }
        let mut answer = [0u8; 4];
        matches!(
            tokio::time::timeout(std::time::Duration::from_millis(300), stream.read_exact(&mut answer)).await,
            Ok(Ok(_))
        ) && &answer == b"ping"
    }

    #[tokio::test]
    async fn it_relays_until_cut_and_again_once_restored() {
        let proxy = TcpProxy::start(&echo_server().await.to_string()).await;
        assert!(echoes(proxy.addr()).await);
        proxy.cut(Cut::Refuse);
        assert!(!echoes(proxy.addr()).await);
        proxy.cut(Cut::Hang);
        assert!(!echoes(proxy.addr()).await);
        proxy.restore();
        assert!(echoes(proxy.addr()).await);
    }

    #[tokio::test]
    async fn a_cut_drops_live_connections() {
        let proxy = TcpProxy::start(&echo_server().await.to_string()).await;
        let mut live = TcpStream::connect(proxy.addr()).await.unwrap();
        live.write_all(b"ping").await.unwrap();
        let mut answer = [0u8; 4];
        live.read_exact(&mut answer).await.unwrap();
        proxy.cut(Cut::Refuse);
        let mut rest = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), live.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    }

    #[test]
    fn urls_are_pointed_at_the_proxy() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let proxy = TcpProxy::start("127.0.0.1:5432").await;
            let port = proxy.addr().port();
            assert_eq!(
                proxy.url_through("postgres://postgres@127.0.0.1:5432/db?sslmode=disable"),
                format!("postgres://postgres@127.0.0.1:{port}/db?sslmode=disable")
            );
            assert_eq!(proxy.url_through("postgres://u:p@db.internal/x"), format!("postgres://u:p@127.0.0.1:{port}/x"));
        });
        assert_eq!(host_and_port("postgres://postgres@127.0.0.1:5432/postgres"), "127.0.0.1:5432");
        assert_eq!(host_and_port("postgres://u:p@db.internal/x"), "db.internal:5432");
    }
}
