//! What the load benchmarks share: a private redis-server, the settings parser,
//! free ports, environment knobs and percentiles.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use clap::Parser;
use trolley::config::Settings;

/// The settings as `trolley serve` parses them (defaults and environment).
#[derive(Parser)]
pub struct Wrapper {
    #[command(flatten)]
    pub settings: Settings,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server, and its data directory (removed on drop).
pub struct Redis(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A redis-server on a free port of 127.0.0.1 and its URL.
pub async fn start_redis() -> (Redis, String) {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (install it: apt-get install redis-server)");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (Redis(child, dir), format!("redis://127.0.0.1:{port}"))
}

/// The `p` percentile of sorted latencies, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}
