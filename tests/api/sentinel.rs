//! `redis-sentinel://`: a master, a replica and a Sentinel; carts survive a
//! failover and the service follows the new master by itself.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use libtest_mimic::Trial;
use reqwest::StatusCode;

use crate::helpers::{
    Backend, Children, TestApp, free_port, quantity_of, redis_cli, settings, tool_present, until,
};

pub fn trials() -> Vec<Trial> {
    tests![
        carts_survive_a_sentinel_failover_and_the_service_follows_the_new_master,
        no_acknowledged_add_is_lost_in_a_manual_failover =
            || no_acknowledged_add_is_lost_in_a_manual_failover(0),
        no_acknowledged_add_is_lost_in_a_manual_failover_with_redis_wait =
            || no_acknowledged_add_is_lost_in_a_manual_failover(1),
        with_redis_wait_no_acknowledged_add_is_lost_when_the_primary_is_killed,
        a_checkout_claim_holds_through_a_manual_failover =
            || a_checkout_claim_holds_through_a_failover(Failover::Manual),
        with_redis_wait_a_checkout_claim_holds_when_the_primary_is_killed =
            || a_checkout_claim_holds_through_a_failover(Failover::KillWithWait),
    ]
}

fn redis(dir: &Path, args: &[&str]) -> Child {
    Command::new("redis-server")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

async fn carts_survive_a_sentinel_failover_and_the_service_follows_the_new_master() {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let (master, replica, sentinel) = (free_port(), free_port(), free_port());
    let node = |port: u16, extra: &[&str]| {
        let sub = dir.path().join(port.to_string());
        std::fs::create_dir_all(&sub).expect("dir");
        let port = port.to_string();
        let mut args = vec![
            "--port",
            port.as_str(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        args.extend_from_slice(extra);
        redis(&sub, &args)
    };
    let mut servers = Children(vec![node(master, &[])]);
    let master_address = format!("{master}");
    servers.0.push(node(
        replica,
        &["--replicaof", "127.0.0.1", &master_address],
    ));
    let config = dir.path().join("sentinel.conf");
    std::fs::write(
        &config,
        format!(
            "port {sentinel}\nbind 127.0.0.1\nsentinel resolve-hostnames no\n\
             sentinel monitor mymaster 127.0.0.1 {master} 1\n\
             sentinel down-after-milliseconds mymaster 1000\n\
             sentinel failover-timeout mymaster 10000\n"
        ),
    )
    .expect("sentinel.conf");
    servers.0.push(redis(
        dir.path(),
        &[config.to_str().expect("path"), "--sentinel"],
    ));
    until("the replica to sync", || {
        redis_cli(replica, &["info", "replication"]).contains("master_link_status:up")
    })
    .await;
    until("the sentinel to see the replica", || {
        redis_cli(sentinel, &["sentinel", "replicas", "mymaster"]).contains(&replica.to_string())
    })
    .await;

    let mut config = settings(Backend::Embedded, None);
    config.redis.url = Some(format!(
        "redis-sentinel://127.0.0.1:{sentinel}/0?sentinelServiceName=mymaster"
    ));
    let app = TestApp::spawn(config).await;
    let mut visitor = app.browser();
    visitor.add(42, 2).await;
    visitor.add(1, 1).await;
    let cart_id = visitor.cart().await["cartId"].clone();
    until("the cart to reach the replica", || {
        redis_cli(replica, &["--scan", "--pattern", "trolley:{cart:*"])
            .lines()
            .count()
            >= 1
            && redis_cli(replica, &["dbsize"]).parse::<u64>().unwrap_or(0) >= 4
    })
    .await;

    // The master dies; Sentinel promotes the replica.
    servers.0[0].kill().expect("kill master");
    let _ = servers.0[0].wait();
    until("the failover", || {
        redis_cli(
            sentinel,
            &["sentinel", "get-master-addr-by-name", "mymaster"],
        )
        .contains(&replica.to_string())
    })
    .await;

    let recovered = visitor.cart_answers_within(Duration::from_secs(30)).await;
    assert!(recovered, "the service did not follow the new master");
    let cart = visitor.cart().await;
    assert_eq!(cart["cartId"], cart_id, "the session survived the failover");
    assert_eq!(quantity_of(&cart, 42), 2);
    assert_eq!(quantity_of(&cart, 1), 1);
    visitor.add(42, 1).await;
    assert_eq!(quantity_of(&visitor.cart().await, 42), 3);
    let ready = reqwest::get(format!("{}/readyz", app.admin))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
}

/// A primary, a replica and three sentinels (quorum 2), all on 127.0.0.1.
struct SentinelTopology {
    _dir: tempfile::TempDir,
    servers: Children,
    primary: u16,
    replica: u16,
    sentinels: [u16; 3],
}

impl SentinelTopology {
    async fn start() -> SentinelTopology {
        let dir = tempfile::tempdir().expect("dir");
        let (primary, replica) = (free_port(), free_port());
        let sentinels = [free_port(), free_port(), free_port()];
        let node = |port: u16, extra: &[&str]| {
            let sub = dir.path().join(port.to_string());
            std::fs::create_dir_all(&sub).expect("dir");
            let port = port.to_string();
            let mut args = vec![
                "--port",
                port.as_str(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ];
            args.extend_from_slice(extra);
            redis(&sub, &args)
        };
        let mut servers = Children(vec![node(primary, &[])]);
        let primary_port = primary.to_string();
        servers
            .0
            .push(node(replica, &["--replicaof", "127.0.0.1", &primary_port]));
        for port in sentinels {
            let config = dir.path().join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &config,
                format!(
                    "port {port}\nbind 127.0.0.1\nsentinel resolve-hostnames no\n\
                     sentinel monitor mymaster 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds mymaster 1000\n\
                     sentinel failover-timeout mymaster 10000\n"
                ),
            )
            .expect("sentinel.conf");
            servers.0.push(redis(
                dir.path(),
                &[config.to_str().expect("path"), "--sentinel"],
            ));
        }
        until("the replica to sync", || {
            redis_cli(replica, &["info", "replication"]).contains("master_link_status:up")
        })
        .await;
        // The primary counts a replica for WAIT only once it is "online" on its
        // side, which after a diskless sync waits for the replica's first ACK
        // (sent once a second): before that a WAIT-ed change is refused.
        until("the primary to count the replica online", || {
            redis_cli(primary, &["info", "replication"]).contains("state=online")
        })
        .await;
        for port in sentinels {
            until("every sentinel to see the replica and the others", || {
                redis_cli(port, &["sentinel", "replicas", "mymaster"])
                    .contains(&replica.to_string())
                    && redis_cli(port, &["sentinel", "sentinels", "mymaster"])
                        .matches("127.0.0.1")
                        .count()
                        >= 2
            })
            .await;
        }
        SentinelTopology {
            _dir: dir,
            servers,
            primary,
            replica,
            sentinels,
        }
    }

    /// The first primary's node started again (empty) as a replica of the
    /// node that was the replica.
    fn rejoin_as_replica(&self) -> Child {
        let sub = self._dir.path().join(self.primary.to_string());
        let (port, of) = (self.primary.to_string(), self.replica.to_string());
        redis(
            &sub,
            &[
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--replicaof",
                "127.0.0.1",
                &of,
            ],
        )
    }

    fn url(&self) -> String {
        let [a, b, c] = self.sentinels;
        format!(
            "redis-sentinel://127.0.0.1:{a},127.0.0.1:{b},127.0.0.1:{c}/0?sentinelServiceName=mymaster"
        )
    }

    fn primary_now(&self) -> String {
        redis_cli(
            self.sentinels[0],
            &["sentinel", "get-master-addr-by-name", "mymaster"],
        )
    }
}

fn total_quantity(cart: &serde_json::Value) -> u64 {
    crate::helpers::items(cart)
        .iter()
        .map(|item| item["quantity"].as_u64().unwrap_or(0))
        .sum()
}

/// Shoppers adding one item at a time, counting the adds trolley acknowledged.
async fn shoppers_adding_while(
    app: &TestApp,
    shoppers: usize,
    during: impl std::future::Future<Output = ()>,
) -> Vec<(crate::helpers::Browser, u64, u64)> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..shoppers {
        let mut shopper = app.browser();
        // The first add makes the cart; on a loaded machine a WAIT-ed one may
        // miss its deadline (503) and is simply tried again.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let body = r#"{"productId": 42, "quantity": 1}"#;
        while shopper.post("/api/cart/add", body).await.status != StatusCode::OK {
            assert!(
                std::time::Instant::now() < deadline,
                "the first add never succeeded"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let (mut acked, mut sent) = (1u64, 1u64);
            let mut first_503: Option<std::time::Instant> = None;
            let mut last_503 = first_503;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sent += 1;
                // Spread over 100 products, paced: one line stops at the max quantity.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let body = format!(r#"{{"productId": {}, "quantity": 1}}"#, 1 + sent % 100);
                let reply = shopper.post("/api/cart/add", &body).await;
                if reply.status == StatusCode::OK {
                    acked += 1;
                } else {
                    assert_eq!(
                        reply.status,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "{}",
                        reply.text
                    );
                    let now = std::time::Instant::now();
                    first_503.get_or_insert(now);
                    last_503 = Some(now);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            if let (Some(a), Some(b)) = (first_503, last_503) {
                eprintln!("503 window of one shopper: {:?}", b - a);
            }
            (shopper, acked, sent)
        }));
    }
    during.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut done = Vec::new();
    for task in tasks {
        done.push(task.await.expect("shopper"));
    }
    done
}

/// `SENTINEL FAILOVER` while shoppers add: the old primary would acknowledge
/// adds between the promotion and `+switch-master` and discard them when it
/// resyncs; trolley's write fence refuses them instead (503), with and without
/// `TROLLEY_REDIS_WAIT`.
async fn no_acknowledged_add_is_lost_in_a_manual_failover(wait_replicas: u32) {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let topology = SentinelTopology::start().await;
    let mut config = settings(Backend::Embedded, None);
    config.redis.url = Some(topology.url());
    config.redis.wait_replicas = wait_replicas;
    let app = TestApp::spawn(config).await;
    let before = topology.primary_now();
    let results = shoppers_adding_while(&app, 4, async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let answer = redis_cli(topology.sentinels[0], &["sentinel", "failover", "mymaster"]);
        assert!(answer.contains("OK"), "SENTINEL FAILOVER: {answer}");
        until("the promotion", || topology.primary_now() != before).await;
        until("the old primary to become a replica", || {
            redis_cli(topology.primary, &["info", "replication"]).contains("role:slave")
        })
        .await;
        // Keep adding for a while on the new primary.
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    assert!(
        topology
            .primary_now()
            .contains(&topology.replica.to_string())
    );
    for (mut shopper, acked, sent) in results {
        assert!(shopper.cart_answers_within(Duration::from_secs(10)).await);
        let quantity = total_quantity(&shopper.cart().await);
        assert!(
            quantity >= acked,
            "acknowledged adds lost: {quantity} < {acked}"
        );
        assert!(
            quantity <= sent,
            "more in the cart than was sent: {quantity} > {sent}"
        );
        assert!(
            acked > 10,
            "the shopper barely got through: {acked} of {sent}"
        );
    }
    let ready = reqwest::get(format!("{}/readyz", app.admin))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    drop(topology.servers);
}

async fn with_redis_wait_no_acknowledged_add_is_lost_when_the_primary_is_killed() {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let mut topology = SentinelTopology::start().await;
    let mut config = settings(Backend::Embedded, None);
    config.redis.url = Some(topology.url());
    config.redis.wait_replicas = 1;
    let app = TestApp::spawn(config).await;
    let replica = topology.replica;
    let results = shoppers_adding_while(&app, 4, async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        topology.servers.0[0].kill().expect("kill -9 the primary");
        let _ = topology.servers.0[0].wait();
        until("the promotion", || {
            topology.primary_now().contains(&replica.to_string())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    })
    .await;
    for (mut shopper, acked, sent) in results {
        let quantity = total_quantity(&shopper.cart().await);
        assert!(
            quantity >= acked,
            "acknowledged adds lost: {quantity} < {acked}"
        );
        assert!(quantity <= sent);
    }
    // With no replica left, a change cannot be acknowledged on two nodes: 503.
    let mut late = app.browser();
    let reply = late
        .post("/api/cart/add", r#"{"productId": 42, "quantity": 1}"#)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
}

/// How the primary goes away.
#[derive(Clone, Copy, PartialEq)]
enum Failover {
    /// `SENTINEL FAILOVER`, without `TROLLEY_REDIS_WAIT`.
    Manual,
    /// `kill -9` of the primary, with `TROLLEY_REDIS_WAIT=1`.
    KillWithWait,
}

/// A service-port call that retries while the answer is 503 (the failover).
async fn service_call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = client
            .request(method.clone(), url)
            .header(
                "authorization",
                format!("Bearer {}", crate::helpers::SERVICE_TOKEN),
            )
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("answered");
        let status = reply.status();
        let json = reply.json().await.unwrap_or_default();
        if status != StatusCode::SERVICE_UNAVAILABLE {
            return (status, json);
        }
        assert!(std::time::Instant::now() < deadline, "503 for too long");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Adds race a checkout claim of one cart across a failover, then the claim is
/// completed: every acknowledged add is in the claim (and removed by the
/// complete, once); every add after the claim is 409, before and after the
/// failover.
async fn a_checkout_claim_holds_through_a_failover(how: Failover) {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let mut topology = SentinelTopology::start().await;
    let mut config = settings(Backend::Embedded, None);
    config.redis.url = Some(topology.url());
    config.redis.wait_replicas = u32::from(how == Failover::KillWithWait);
    let app = TestApp::spawn(config).await;
    let cart = format!("{}/v1/carts/ext/failover", app.service);
    let client = reqwest::Client::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let adder = {
        let (client, cart, stop) = (client.clone(), cart.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut acked, mut sent, mut refused) = (0u64, 0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sent += 1;
                let body = format!(r#"{{"productId": {}}}"#, 1 + sent % 20);
                let reply = client
                    .post(format!("{cart}/items"))
                    .header(
                        "authorization",
                        format!("Bearer {}", crate::helpers::SERVICE_TOKEN),
                    )
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("answered");
                match reply.status() {
                    StatusCode::OK => acked += 1,
                    StatusCode::CONFLICT => refused += 1,
                    other => assert_eq!(other, StatusCode::SERVICE_UNAVAILABLE),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (acked, sent, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, claim) = service_call(
        &client,
        reqwest::Method::POST,
        &format!("{cart}/checkout"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{claim}");
    let claimed = total_quantity(&claim);
    assert!(claimed > 0, "the claim took lines");
    let before = topology.primary_now();
    match how {
        Failover::Manual => {
            // Without WAIT an acknowledged write is on the replica only once
            // replication has carried it, and SENTINEL FAILOVER does not wait
            // for that: the failover starts once the replica has the claim.
            let claimed_at = repl_offset(topology.primary);
            until("the replica to have the claim", || {
                repl_offset(topology.replica) >= claimed_at
            })
            .await;
            let answer = redis_cli(topology.sentinels[0], &["sentinel", "failover", "mymaster"]);
            assert!(answer.contains("OK"), "SENTINEL FAILOVER: {answer}");
        }
        Failover::KillWithWait => {
            topology.servers.0[0].kill().expect("kill -9 the primary");
            let _ = topology.servers.0[0].wait();
        }
    }
    until("the promotion", || topology.primary_now() != before).await;
    if how == Failover::KillWithWait {
        // WAIT needs a replica again: the killed node comes back empty and
        // syncs from the new primary.
        topology.servers.0.push(topology.rejoin_as_replica());
        let (old, new) = (topology.primary, topology.replica);
        until("the old primary to sync as a replica", || {
            redis_cli(old, &["info", "replication"]).contains("master_link_status:up")
                && redis_cli(new, &["info", "replication"]).contains("state=online")
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (acked, sent, refused) = adder.await.expect("adder");
    assert!(refused > 0, "no add met the claim");

    // The claim survived: the cart still refuses changes, and completes once.
    let (status, seen) = service_call(&client, reqwest::Method::GET, &cart, "").await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(
        seen["checkout"]["claimId"], claim["claimId"],
        "the claim is lost"
    );
    let complete = format!(
        "{cart}/checkout/{}/complete",
        claim["claimId"].as_str().expect("id")
    );
    let (status, completed) = service_call(
        &client,
        reqwest::Method::POST,
        &complete,
        r#"{"orderId": "o-1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    assert_eq!(
        completed["items"], claim["items"],
        "exactly the claimed lines"
    );
    // Every add before the claim is in it; every add after it was refused.
    let (_, after) = service_call(&client, reqwest::Method::GET, &cart, "").await;
    assert_eq!(
        total_quantity(&after),
        0,
        "a line outside the claim: {after}"
    );
    assert!(
        claimed >= acked,
        "acknowledged adds lost: {claimed} < {acked}"
    );
    assert!(claimed <= sent, "more than was sent");
    drop(topology.servers);
}

/// A server's replication offset (`master_repl_offset`: on a replica, how far
/// it has processed its primary's stream).
fn repl_offset(port: u16) -> u64 {
    redis_cli(port, &["info", "replication"])
        .lines()
        .find_map(|line| line.trim().strip_prefix("master_repl_offset:"))
        .and_then(|offset| offset.parse().ok())
        .unwrap_or(0)
}
