//! Load benchmark of the service API (API.md v1.2): the real app over real HTTP
//! and h2c on a private redis-server and on the embedded store, each client
//! with its own `ext/` cart. Prints requests per second and latency
//! percentiles for reads and adds (JSON and gRPC), and for checkouts: each
//! client fills its cart (3 adds, not measured), claims it and completes the
//! claim, so the claim and complete rows share one run and each row's rate is
//! its own operation's.
//!
//!     cargo bench --bench service_load              # 5 s per phase, 32 clients
//!     BENCH_SECONDS=30 BENCH_CLIENTS=64 cargo bench --bench service_load
//!
//! Client and server share this machine's cores, so the figures are a floor for
//! a replica, and comparable between runs on one machine only.

mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{Wrapper, env_number, free_port, percentile, start_redis};
use tonic::{metadata::MetadataValue, transport::Channel};
use trolley::{
    app::App,
    proto::trolley::cart::v1::{self as pb, cart_service_client::CartServiceClient},
};

const TOKEN: &str = "bench-token";

/// The service port's base URL.
async fn start_app(redis_url: Option<String>) -> String {
    let mut settings = Wrapper::parse_from(["trolley"]).settings;
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.admin_listen = "127.0.0.1:0".parse().expect("addr");
    settings.service_listen = "127.0.0.1:0".parse().expect("addr");
    settings.service_tokens = vec![TOKEN.to_string()];
    settings.redis.url = redis_url;
    settings.users_file = std::env::temp_dir().join(format!("trolley-bench-{}.json", free_port()));
    let app = App::build(settings).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.service_port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    base
}

/// What one phase measures.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    /// GET /v1/carts/ext/{id} of a cart holding 5 lines.
    Get,
    /// POST /v1/carts/ext/{id}/items cycling over 20 products; every 40th
    /// request clears the cart (unmeasured), so it stays under the line limit.
    Add,
    /// trolley.cart.v1.CartService/GetCart of a cart holding 5 lines.
    GrpcGet,
    /// trolley.cart.v1.CartService/AddItem, like the JSON add.
    GrpcAdd,
    /// 3 adds (unmeasured), POST …/checkout, POST …/complete: rows claim and complete.
    Checkout,
}

/// Which measured operation a latency belongs to.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Get,
    Add,
    GrpcGet,
    GrpcAdd,
    Claim,
    Complete,
}

const ROWS: [(Op, &str); 6] = [
    (Op::Get, "GET /v1/carts/{owner} (5 lines)"),
    (Op::Add, "POST /v1/carts/{owner}/items"),
    (Op::GrpcGet, "gRPC CartService/GetCart (5 lines)"),
    (Op::GrpcAdd, "gRPC CartService/AddItem"),
    (Op::Claim, "POST /v1/carts/{owner}/checkout (3 lines)"),
    (Op::Complete, "POST …/checkout/{claimId}/complete"),
];

/// One client: its HTTP and gRPC clients and its cart.
struct Client {
    http: reqwest::Client,
    grpc: CartServiceClient<Channel>,
    base: String,
    owner: String,
}

impl Client {
    fn json(&self, method: reqwest::Method, path: &str, body: &str) -> reqwest::RequestBuilder {
        self.http
            .request(
                method,
                format!("{}/v1/carts/{}{path}", self.base, self.owner),
            )
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &str,
    ) -> Option<serde_json::Value> {
        let reply = self.json(method, path, body).send().await.ok()?;
        if !reply.status().is_success() {
            return None;
        }
        reply.json().await.ok()
    }

    async fn add(&self, product: u64) -> bool {
        let body = format!(r#"{{"productId": {product}}}"#);
        self.ok(reqwest::Method::POST, "/items", &body)
            .await
            .is_some()
    }

    fn grpc_request<T>(message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = MetadataValue::try_from(format!("Bearer {TOKEN}")) {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// One measured operation of `phase` (the `n`th): what it was and whether it succeeded.
    async fn step(&mut self, phase: Phase, n: u64, measured: &mut Vec<(Op, Duration)>) -> bool {
        let at = Instant::now();
        let (op, ok) = match phase {
            Phase::Get => (
                Op::Get,
                self.ok(reqwest::Method::GET, "", "").await.is_some(),
            ),
            Phase::Add => (Op::Add, self.add(1 + n % 20).await),
            Phase::GrpcGet => {
                let request = Self::grpc_request(pb::GetCartRequest {
                    owner: self.owner.clone(),
                });
                (Op::GrpcGet, self.grpc.get_cart(request).await.is_ok())
            }
            Phase::GrpcAdd => {
                let request = Self::grpc_request(pb::AddItemRequest {
                    owner: self.owner.clone(),
                    product: Some(pb::add_item_request::Product::ProductId(1 + n % 20)),
                    quantity: 1,
                });
                (Op::GrpcAdd, self.grpc.add_item(request).await.is_ok())
            }
            Phase::Checkout => return self.checkout(n, measured).await,
        };
        measured.push((op, at.elapsed()));
        ok
    }

    /// Fills the cart (unmeasured), claims it and completes the claim.
    async fn checkout(&mut self, n: u64, measured: &mut Vec<(Op, Duration)>) -> bool {
        for product in 1..=3 {
            self.add(product).await;
        }
        let at = Instant::now();
        let claim = self.ok(reqwest::Method::POST, "/checkout", "").await;
        measured.push((Op::Claim, at.elapsed()));
        let Some(id) = claim.as_ref().and_then(|c| c["claimId"].as_str()) else {
            return false;
        };
        let path = format!("/checkout/{id}/complete");
        let body = format!(r#"{{"orderId": "order-{n}"}}"#);
        let at = Instant::now();
        let completed = self.ok(reqwest::Method::POST, &path, &body).await;
        measured.push((Op::Complete, at.elapsed()));
        completed.is_some()
    }
}

/// One client's measured operations of `phase` until `deadline`, and its failures.
async fn drive(mut client: Client, phase: Phase, deadline: Instant) -> (Vec<(Op, Duration)>, u64) {
    let _ = client.ok(reqwest::Method::DELETE, "", "").await;
    if matches!(phase, Phase::Get | Phase::GrpcGet) {
        for product in 1..=5 {
            client.add(product).await;
        }
    }
    let mut measured = Vec::with_capacity(50_000);
    let (mut n, mut errors) = (0u64, 0u64);
    while Instant::now() < deadline {
        n += 1;
        if matches!(phase, Phase::Add | Phase::GrpcAdd) && n.is_multiple_of(40) {
            let _ = client.ok(reqwest::Method::DELETE, "", "").await;
            continue;
        }
        if !client.step(phase, n, &mut measured).await {
            errors += 1;
        }
    }
    (measured, errors)
}

/// Runs `clients` clients on `phase` for `seconds`: the measured operations
/// with their latencies, the elapsed seconds and the failures.
async fn run(
    base: &str,
    phase: Phase,
    clients: u64,
    seconds: u64,
) -> (Vec<(Op, Duration)>, f64, u64) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()
        .expect("client");
    let channel = Channel::from_shared(base.to_string())
        .expect("url")
        .connect()
        .await
        .expect("h2c connection to the service port");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let client = Client {
                http: http.clone(),
                grpc: CartServiceClient::new(channel.clone()),
                base: base.to_string(),
                owner: format!("ext/bench-{i}"),
            };
            tokio::spawn(drive(client, phase, deadline))
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mine, failed) = worker.await.expect("worker");
        all.extend(mine);
        errors += failed;
    }
    (all, started.elapsed().as_secs_f64(), errors)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let seconds = env_number("BENCH_SECONDS", 5);
        let clients = env_number("BENCH_CLIENTS", 32);
        let (_redis, url) = start_redis().await;
        println!("| store | operation | clients | ops/s | p50 ms | p95 ms | p99 ms | failed |");
        println!("|---|---|---|---|---|---|---|---|");
        for (store, redis_url) in [("redis", Some(url.clone())), ("embedded", None)] {
            let base = start_app(redis_url).await;
            for phase in [Phase::Get, Phase::Add, Phase::GrpcGet, Phase::GrpcAdd, Phase::Checkout] {
                let (measured, elapsed, errors) = run(&base, phase, clients, seconds).await;
                for (op, name) in ROWS {
                    let mut latencies: Vec<Duration> = measured
                        .iter()
                        .filter(|(kind, _)| *kind == op)
                        .map(|(_, latency)| *latency)
                        .collect();
                    if latencies.is_empty() {
                        continue;
                    }
                    latencies.sort();
                    println!(
                        "| {store} | {name} | {clients} | {:.0} | {:.2} | {:.2} | {:.2} | {errors} |",
                        latencies.len() as f64 / elapsed,
                        percentile(&latencies, 0.50),
                        percentile(&latencies, 0.95),
                        percentile(&latencies, 0.99),
                    );
                }
            }
        }
    });
}
