//! The no-Docker topology of `deploy/local/`: three replicas behind a real
//! round-robin haproxy, one Redis. Proves statelessness end to end.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Browser, binary, free_port, quantity_of};

pub fn trials() -> Vec<Trial> {
    tests![the_local_topology_shares_carts_across_replicas_and_survives_losing_one,]
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn has(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A base port whose next `count` ports are free and reserved for this test
/// (`free_port` hands ports out in sequence, so consecutive ones are a run).
fn free_run(count: u16) -> u16 {
    'search: loop {
        let first = free_port();
        for i in 1..count {
            if free_port() != first + i {
                continue 'search;
            }
        }
        return first - 1;
    }
}

/// Stops the topology however the test ends.
struct Topology {
    env: Vec<(String, String)>,
}

impl Topology {
    fn script(&self, name: &str, args: &[&str]) -> std::process::Output {
        Command::new("bash")
            .arg(repo().join("deploy/local").join(name))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("TROLLEY_REDIS_URL")
            .output()
            .expect("script runs")
    }

    fn pid_of(&self, name: &str) -> u32 {
        let state = &self
            .env
            .iter()
            .find(|(k, _)| k == "TROLLEY_LOCAL_STATE")
            .expect("state")
            .1;
        std::fs::read_to_string(
            PathBuf::from(state)
                .join("pids")
                .join(format!("{name}.pid")),
        )
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = self.script("down.sh", &[]);
    }
}

/// Requests each replica has served, from its own /metrics.
async fn served(admin_ports: &[u16]) -> Vec<f64> {
    let mut counts = Vec::new();
    for port in admin_ports {
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let total: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with("http_server_request_duration_seconds_count{")
                    && l.contains("/api/cart")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        counts.push(total);
    }
    counts
}

async fn the_local_topology_shares_carts_across_replicas_and_survives_losing_one() {
    if !(has("haproxy") && has("redis-server")) {
        eprintln!(
            "skipped: needs haproxy and redis-server (apt-get install haproxy redis-server; .ci/run installs them)"
        );
        return;
    }
    let state = tempfile::tempdir().expect("state dir");
    let lb_port = free_port();
    let public_base = free_run(3);
    let admin_base = free_run(3);
    let service_base = free_run(3);
    let service_lb_port = free_port();
    let topology = Topology {
        env: vec![
            ("TROLLEY_BIN".into(), binary().display().to_string()),
            (
                "TROLLEY_LOCAL_STATE".into(),
                state.path().display().to_string(),
            ),
            ("LB_PORT".into(), lb_port.to_string()),
            ("LB_STATS_PORT".into(), free_port().to_string()),
            ("REDIS_PORT".into(), free_port().to_string()),
            ("PUBLIC_PORT_BASE".into(), public_base.to_string()),
            ("ADMIN_PORT_BASE".into(), admin_base.to_string()),
            ("SERVICE_PORT_BASE".into(), service_base.to_string()),
            ("SERVICE_LB_PORT".into(), service_lb_port.to_string()),
            ("TROLLEY_SERVICE_TOKENS".into(), "topology-token".into()),
        ],
    };
    let up = topology.script("up.sh", &["3"]);
    assert!(
        up.status.success(),
        "up.sh failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let admin_ports: Vec<u16> = (1..=3).map(|i| admin_base + i).collect();

    let lb = format!("http://127.0.0.1:{lb_port}");
    let mut shopper = Browser::new(&lb);
    let before = served(&admin_ports).await;
    for product in 1..=12 {
        shopper.add(product, 1).await;
    }
    let cart = shopper.cart().await;
    assert_eq!(cart["itemCount"], json!(12));
    let cart_id = cart["cartId"].clone();
    let after = served(&admin_ports).await;
    for (replica, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            a > b,
            "replica {} served none of the requests: {before:?} → {after:?}",
            replica + 1
        );
    }

    // The service API through its load balancer: one connection per call, so
    // the calls land on several replicas, and each sees the shopper's cart.
    for _ in 0..3 {
        let reply = reqwest::Client::new()
            .get(format!(
                "http://127.0.0.1:{service_lb_port}/v1/carts/guest/{}",
                cart_id.as_str().expect("cart id")
            ))
            .header("authorization", "Bearer topology-token")
            .header("connection", "close")
            .send()
            .await
            .expect("the service API through the load balancer");
        assert_eq!(reply.status(), StatusCode::OK);
        let seen: serde_json::Value = reply.json().await.expect("json");
        assert_eq!(seen["itemCount"], json!(12), "{seen}");
    }

    // Lose a replica mid-run: the load balancer's health check and retry keep the
    // shopper's requests answered, and the cart is intact (it lives in Redis).
    let victim = topology.pid_of("trolley-2");
    assert!(
        Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .status()
            .expect("kill")
            .success()
    );
    let mut failures: HashMap<u16, u32> = HashMap::new();
    for round in 0..30 {
        let reply = shopper
            .post(
                "/api/cart/add",
                &format!(r#"{{"productId": {}, "quantity": 1}}"#, 13 + round % 5),
            )
            .await;
        if reply.status != StatusCode::OK {
            *failures.entry(reply.status.as_u16()).or_default() += 1;
        }
        let reply = shopper.get("/api/cart").await;
        if reply.status != StatusCode::OK {
            *failures.entry(reply.status.as_u16()).or_default() += 1;
        } else {
            assert_eq!(reply.json()["cartId"], cart_id, "the cart changed");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        failures.is_empty(),
        "requests failed after losing a replica: {failures:?}"
    );
    let cart = shopper.cart().await;
    for product in 1..=12 {
        assert_eq!(quantity_of(&cart, product), 1);
    }
    assert_eq!((13..=17).map(|p| quantity_of(&cart, p)).sum::<u64>(), 30);

    let down = topology.script("down.sh", &[]);
    assert!(
        down.status.success(),
        "down.sh failed: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        reqwest::get(format!("{lb}/api/cart")).await.is_err(),
        "still serving after down.sh"
    );
}
