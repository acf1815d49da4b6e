//! A private Redis server for tests that stop and restart Redis: `redis-server` on a free
//! loopback port, keeping nothing on disk, owned by the test — never the shared one other
//! tests use at the same moment.

// Test support: a server that cannot start is a failed test, said loudly.
#![allow(clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` the test owns; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut server = RedisServer { port, child: None };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data goes with it: it keeps nothing on disk).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (Redis must be installed for these tests)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster the test owns: three masters (no replicas) on free loopback ports, each a
/// `redis-server --cluster-enabled yes` keeping its node file in a private directory, joined
/// by `redis-cli --cluster create`; every server is killed and the directory removed when
/// this is dropped.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    dir: std::path::PathBuf,
}

/// A loopback port that is free, and whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if port <= 55_535 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port whose cluster bus port is free too");
}

impl RedisCluster {
    /// Starts three masters, creates the cluster over them and waits until every node
    /// says `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let dir = std::env::temp_dir().join(format!("storefront-redis-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory for the cluster's node files");
        let mut cluster = RedisCluster { ports: Vec::new(), children: Vec::new(), dir };
        for _ in 0..3 {
            let port = free_cluster_port();
            let child = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .arg("--dir")
                .arg(&cluster.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server (Redis must be installed for these tests)");
            cluster.ports.push(port);
            cluster.children.push(child);
        }
        for port in &cluster.ports {
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not listen on port {port}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli (it comes with redis-server)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.wait_until_ok();
        cluster
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in &self.ports {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-h", "127.0.0.1", "-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .expect("run redis-cli");
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "the cluster did not reach cluster_state:ok on port {port}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The nodes' URLs, comma-separated (what `redis.url` is with `redis.cluster = true`).
    pub fn urls(&self) -> String {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RedisCluster {
    /// A cluster shared by the tests of one test binary that run at the same time: the
    /// first starts it, the others reuse it, and it stops when the last holder drops it (a
    /// test starting after that gets a new one). Tests on it keep to key prefixes of their
    /// own.
    pub fn shared() -> std::sync::Arc<RedisCluster> {
        static SHARED: std::sync::Mutex<std::sync::Weak<RedisCluster>> = std::sync::Mutex::new(std::sync::Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cluster) = shared.upgrade() {
            return cluster;
        }
        let cluster = std::sync::Arc::new(RedisCluster::start());
        *shared = std::sync::Arc::downgrade(&cluster);
        cluster
    }
}
