//! Load benchmark: the real app over real HTTP, on a private redis-server and on
//! the embedded store. Prints throughput and latency percentiles per scenario.
//!
//!     cargo bench --bench cart_load                 # 10 s per scenario, 32 clients
//!     BENCH_SECONDS=30 BENCH_CLIENTS=64 cargo bench --bench cart_load
//!
//! Client and server share this machine's cores, so the figures are a floor for
//! a replica, and comparable between runs on one machine only.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use tokio::sync::Mutex;
use trolley::{app::App, config::Settings};

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    settings: Settings,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server, and its data directory (removed on drop).
struct Redis(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_redis() -> (Redis, String) {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
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

async fn start_app(redis_url: Option<String>) -> String {
    let mut settings = Wrapper::parse_from(["trolley"]).settings;
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.admin_listen = "127.0.0.1:0".parse().expect("addr");
    settings.redis.url = redis_url;
    settings.users_file = std::env::temp_dir().join(format!("trolley-bench-{}.json", free_port()));
    let app = App::build(settings).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    base
}

#[derive(Clone, Copy)]
enum Scenario {
    /// GET /api/cart of a session holding 5 lines.
    ReadCart,
    /// POST /api/cart/add cycling over 20 products; DELETE /api/cart every 40 adds.
    AddItems,
}

async fn session(client: &reqwest::Client, base: &str) -> String {
    let reply = client
        .post(format!("{base}/api/cart/add"))
        .header("content-type", "application/json")
        .body(r#"{"productId": 42, "quantity": 1}"#)
        .send()
        .await
        .expect("first add");
    let cookie = reply
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    for product in 1..=4 {
        client
            .post(format!("{base}/api/cart/add"))
            .header("content-type", "application/json")
            .header("cookie", &cookie)
            .body(format!(r#"{{"productId": {product}, "quantity": 1}}"#))
            .send()
            .await
            .expect("add");
    }
    cookie
}

async fn run(
    base: &str,
    scenario: Scenario,
    clients: u64,
    seconds: u64,
) -> (f64, Vec<Duration>, u64) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()
        .expect("client");
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let http = http.clone();
        let base = base.to_string();
        let latencies = latencies.clone();
        let errors = errors.clone();
        workers.push(tokio::spawn(async move {
            let cookie = session(&http, &base).await;
            let mut mine = Vec::with_capacity(50_000);
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let request = match scenario {
                    Scenario::ReadCart => http.get(format!("{base}/api/cart")),
                    Scenario::AddItems if n.is_multiple_of(40) => {
                        http.delete(format!("{base}/api/cart"))
                    }
                    Scenario::AddItems => http
                        .post(format!("{base}/api/cart/add"))
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"productId": {}, "quantity": 1}}"#, 1 + n % 20)),
                };
                let at = Instant::now();
                let ok = request
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                mine.push(at.elapsed());
                if !ok {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = std::mem::take(&mut *latencies.lock().await);
    all.sort();
    let errors = errors.load(std::sync::atomic::Ordering::Relaxed);
    (all.len() as f64 / elapsed, all, errors)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let seconds = env_number("BENCH_SECONDS", 10);
        let clients = env_number("BENCH_CLIENTS", 32);
        let (_redis, url) = start_redis().await;
        println!("| store | scenario | clients | req/s | p50 ms | p95 ms | p99 ms | errors |");
        println!("|---|---|---|---|---|---|---|---|");
        for (store, redis_url) in [("redis", Some(url.clone())), ("embedded", None)] {
            let base = start_app(redis_url).await;
            for (name, scenario) in [("GET /api/cart (5 lines)", Scenario::ReadCart), ("POST /api/cart/add", Scenario::AddItems)] {
                let (rate, latencies, errors) = run(&base, scenario, clients, seconds).await;
                println!(
                    "| {store} | {name} | {clients} | {rate:.0} | {:.2} | {:.2} | {:.2} | {errors} |",
                    percentile(&latencies, 0.50),
                    percentile(&latencies, 0.95),
                    percentile(&latencies, 0.99),
                );
            }
        }
    });
}
