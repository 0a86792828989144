//! Load benchmark: the real app over real HTTP, on a private redis-server and on
//! the embedded store. Prints measured requests per second and latency
//! percentiles for each route on its own, then for the mixed workload.
//!
//!     cargo bench --bench cart_load                 # 5 s per route, 32 clients
//!     BENCH_SECONDS=30 BENCH_CLIENTS=64 cargo bench --bench cart_load
//!
//! Client and server share this machine's cores, so the figures are a floor for
//! a replica, and comparable between runs on one machine only.

mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{Wrapper, env_number, free_port, percentile, start_redis};
use trolley::app::App;

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

/// What one phase measures: each route on its own, then the mixed workload.
#[derive(Clone, Copy)]
enum Route {
    /// GET /api/cart of a session holding 5 lines.
    GetCart,
    /// POST /api/cart/add cycling over 20 products; every 40th request clears
    /// the cart (unmeasured), so it stays under the line limit.
    Add,
    /// PUT /api/cart/item/{id}?quantity=n on a line the session owns.
    SetQuantity,
    /// DELETE /api/cart/item/{id}; each is followed by an unmeasured re-add.
    Remove,
    /// DELETE /api/cart; each is followed by an unmeasured add.
    Clear,
    /// GET /cart (the minimal API) of the same session.
    MinimalGet,
    /// POST /cart/items {"sku"} (the minimal API answers the whole cart); the
    /// cart is cleared every 40th request, unmeasured, like the add's.
    MinimalAdd,
    /// 60% add, 30% GET, 10% PUT: the workload of bench/ (compare.sh).
    Mixed,
}

impl Route {
    const ALL: [(Route, &'static str); 8] = [
        (Route::GetCart, "GET /api/cart (5 lines)"),
        (Route::Add, "POST /api/cart/add"),
        (Route::SetQuantity, "PUT /api/cart/item/{id}"),
        (Route::Remove, "DELETE /api/cart/item/{id}"),
        (Route::Clear, "DELETE /api/cart"),
        (Route::MinimalGet, "GET /cart (5 lines)"),
        (Route::MinimalAdd, "POST /cart/items"),
        (Route::Mixed, "mixed 60% add / 30% get / 10% put"),
    ];
}

/// A session with 5 lines; its cookie and the id of its first line.
async fn session(client: &reqwest::Client, base: &str) -> (String, u64) {
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
    let body: serde_json::Value = reply.json().await.expect("add answer");
    let line = body["cartItem"]["id"].as_u64().expect("a line id");
    for product in 1..=4 {
        add(client, base, &cookie, product).await;
    }
    (cookie, line)
}

/// An add whose time is not measured (setting up the next measured request).
async fn add(client: &reqwest::Client, base: &str, cookie: &str, product: u64) -> Option<u64> {
    let reply = client
        .post(format!("{base}/api/cart/add"))
        .header("content-type", "application/json")
        .header("cookie", cookie)
        .body(format!(r#"{{"productId": {product}, "quantity": 1}}"#))
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = reply.json().await.ok()?;
    body["cartItem"]["id"].as_u64()
}

/// The `n`th request of a client for one route (`line` is its cart line).
fn request_for(
    http: &reqwest::Client,
    base: &str,
    kind: Route,
    line: u64,
    n: u64,
) -> reqwest::RequestBuilder {
    match kind {
        Route::GetCart => http.get(format!("{base}/api/cart")),
        Route::Add | Route::Mixed => http
            .post(format!("{base}/api/cart/add"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"productId": {}, "quantity": 1}}"#, 1 + n % 20)),
        Route::SetQuantity => http.put(format!(
            "{base}/api/cart/item/{line}?quantity={}",
            1 + n % 5
        )),
        Route::Remove => http.delete(format!("{base}/api/cart/item/{line}")),
        Route::Clear => http.delete(format!("{base}/api/cart")),
        Route::MinimalGet => http.get(format!("{base}/cart")),
        Route::MinimalAdd => http
            .post(format!("{base}/cart/items"))
            .header("content-type", "application/json")
            .body(r#"{"sku": "apple"}"#),
    }
}

/// One client's measured requests for `route` until `deadline`.
async fn drive(
    http: reqwest::Client,
    base: String,
    route: Route,
    deadline: Instant,
) -> (Vec<Duration>, u64) {
    let (cookie, mut line) = session(&http, &base).await;
    let mut mine = Vec::with_capacity(50_000);
    let mut errors = 0;
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let kind = match route {
            Route::Mixed => match n % 10 {
                0..=5 => Route::Add,
                6..=8 => Route::GetCart,
                _ => Route::SetQuantity,
            },
            Route::Add | Route::MinimalAdd if n.is_multiple_of(40) => {
                let _ = http
                    .delete(format!("{base}/api/cart"))
                    .header("cookie", &cookie)
                    .send()
                    .await;
                continue;
            }
            other => other,
        };
        let request = request_for(&http, &base, kind, line, n);
        let at = Instant::now();
        let ok = request
            .header("cookie", &cookie)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        mine.push(at.elapsed());
        if !ok {
            errors += 1;
        }
        if matches!(kind, Route::Remove | Route::Clear)
            && let Some(id) = add(&http, &base, &cookie, 42).await
        {
            line = id;
        }
        if matches!(route, Route::Mixed) && n.is_multiple_of(200) {
            // Keep the mixed cart under the line limit, unmeasured.
            let _ = http
                .delete(format!("{base}/api/cart"))
                .header("cookie", &cookie)
                .send()
                .await;
            if let Some(id) = add(&http, &base, &cookie, 42).await {
                line = id;
            }
        }
    }
    (mine, errors)
}

/// Runs `clients` clients on `route` for `seconds`: measured requests per
/// second, their sorted latencies and how many were not 2xx.
async fn run(base: &str, route: Route, clients: u64, seconds: u64) -> (f64, Vec<Duration>, u64) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(drive(http.clone(), base.to_string(), route, deadline)))
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mine, failed) = worker.await.expect("worker");
        all.extend(mine);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    (all.len() as f64 / elapsed, all, errors)
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
        println!("| store | route | clients | req/s | p50 ms | p95 ms | p99 ms | errors |");
        println!("|---|---|---|---|---|---|---|---|");
        for (store, redis_url) in [("redis", Some(url.clone())), ("embedded", None)] {
            let base = start_app(redis_url).await;
            for (route, name) in Route::ALL {
                let (rate, latencies, errors) = run(&base, route, clients, seconds).await;
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
