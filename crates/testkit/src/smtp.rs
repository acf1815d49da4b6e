//! A real SMTP server for mail tests: Python's aiosmtpd (from PyPI) on a free loopback port,
//! storing every message it receives in a Maildir the test reads. aiosmtpd is installed
//! into a virtual environment under `target/python-venv` on first use.

// Test support: an SMTP server that cannot start is a failed test, said loudly.
#![allow(clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The aiosmtpd release the tests use.
const AIOSMTPD: &str = "aiosmtpd==1.4.6";

/// A running SMTP server; stopped (and its Maildir removed) when dropped.
pub struct SmtpSink {
    /// The loopback port it listens on.
    pub port: u16,
    child: Child,
    maildir: PathBuf,
}

/// One received message: its headers and body, as sent.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub raw: String,
}

impl ReceivedMail {
    /// The value of the first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\n\n").next().unwrap_or_default().replace("\r\n", "\n");
        let mut value: Option<String> = None;
        for line in head.lines() {
            if let Some(current) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    current.push(' ');
                    current.push_str(line.trim());
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    /// The body, after the headers, decoded from its transfer encoding (line endings
    /// normalised).
    pub fn body(&self) -> String {
        let raw = self.raw.replace("\r\n", "\n");
        let body = raw.split_once("\n\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        match self.header("Content-Transfer-Encoding").map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("quoted-printable") => decode_quoted_printable(&body),
            Some("base64") => {
                use base64::Engine;
                let compact: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default();
                String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
            }
            _ => body,
        }
    }
}

impl ReceivedMail {
    /// The `text/plain` part of a `multipart/alternative` message (the whole body of a
    /// single-part one), decoded.
    pub fn plain_text(&self) -> String {
        self.part("text/plain").unwrap_or_else(|| self.body())
    }

    /// The `text/html` part of a multipart message, decoded.
    pub fn html(&self) -> Option<String> {
        self.part("text/html")
    }

    fn part(&self, media_type: &str) -> Option<String> {
        let content_type = self.header("Content-Type")?;
        let boundary = content_type.split(';').map(str::trim).find_map(|p| p.strip_prefix("boundary="))?;
        let boundary = format!("--{}", boundary.trim_matches('"'));
        let raw = self.raw.replace("\r\n", "\n");
        raw.split(&boundary)
            .map(|part| ReceivedMail { raw: part.trim_start_matches('\n').to_owned() })
            .find(|part| part.header("Content-Type").is_some_and(|t| t.to_ascii_lowercase().starts_with(media_type)))
            .map(|part| part.body())
    }
}

/// RFC 2045 quoted-printable: `=XX` is a byte, `=` at the end of a line joins it to the next.
fn decode_quoted_printable(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        match (first, tail) {
            (b'=', [b'\n', after @ ..]) => rest = after,
            (b'=', [high, low, after @ ..]) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                let hex = [*high, *low];
                let value = std::str::from_utf8(&hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                bytes.push(value.unwrap_or(b'?'));
                rest = after;
            }
            _ => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The virtual environment the mail tests' Python packages live in.
fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-venv")
}

fn system_python() -> String {
    std::env::var("STOREFRONT_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// The interpreter of a virtual environment that has aiosmtpd, making it (once per
/// process, so that parallel tests do not run pip over each other) if need be. A virtual
/// environment, so that nothing is installed into the system's Python.
fn aiosmtpd_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install_aiosmtpd).clone()
}

fn install_aiosmtpd() -> PathBuf {
    let venv = venv();
    let python = venv.join("bin/python");
    let imports = || {
        Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if imports() {
        return python;
    }
    let made = Command::new(system_python())
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("run python3 -m venv (Python 3 with venv is needed for the mail tests)");
    assert!(made.success(), "python3 -m venv {} failed", venv.display());
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", AIOSMTPD])
        .status()
        .expect("run pip in the test virtual environment");
    assert!(installed.success() && imports(), "pip could not install {AIOSMTPD}");
    python
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

impl SmtpSink {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> SmtpSink {
        let python = aiosmtpd_python();
        let maildir = std::env::temp_dir().join(format!("storefront-smtp-{}", uuid::Uuid::new_v4().simple()));
        let port = free_port();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let sink = SmtpSink { port, child, maildir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| entry.ok())
            .map(|entry| {
                let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                (modified, entry.path())
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .map(|raw| ReceivedMail { raw })
            .collect()
    }

    /// How many messages have arrived so far (without reading them: cheap for thousands).
    pub fn count(&self) -> usize {
        ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .map(|entries| entries.filter_map(Result::ok).count())
            .sum()
    }

    /// Waits until at least `count` messages have arrived (or `within` passes), then
    /// answers every message received.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
