//! `redis-cluster://`: a real 3-master Redis Cluster. The cart scripts are
//! single-slot; the login merge, whose two carts live in two slots, runs as the
//! seal → absorb → done saga, and a crash between its steps is repaired by the
//! next login with nothing lost or counted twice.
//!
//! These tests always start their own cluster (`TROLLEY_TEST_REDIS_URL` names one
//! server, not a cluster); without redis-cli they print a note and pass.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fred::prelude::*;
use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::json;
use trolley::{
    config::Settings,
    testing::{
        CartPolicy, MergeStop, RedisOptions, RedisStore, model::CartRef, parse_config,
        rules::Limits,
    },
};

use crate::{
    accounts::{
        MERGE_RULE_CASES, logins_retried_at_once_merge_each_guest_cart_once,
        merge_clamps_to_the_limits, merge_rule_decides,
        two_sessions_logging_in_at_once_merge_both_carts_once,
    },
    helpers::{
        Backend, Browser, Children, PASSWORD, TestApp, free_port, line_of, quantity_of, redis_cli,
        settings, tool_present, until, user_with_cart,
    },
    trial,
};

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "cluster::a_login_merge_into_a_claimed_cart_is_refused_across_slots",
            a_login_merge_into_a_claimed_cart_is_refused_across_slots,
        ),
        trial(
            "cluster::the_cart_contract_holds_on_a_redis_cluster",
            the_cart_contract_holds_on_a_redis_cluster,
        ),
        trial(
            "cluster::login_merges_the_guest_cart_into_the_users_cart_across_slots",
            login_merges_the_guest_cart_into_the_users_cart_across_slots,
        ),
        trial(
            "cluster::a_cluster_merge_applies_the_rules_and_limits",
            a_cluster_merge_applies_the_rules_and_limits,
        ),
        trial(
            "cluster::retried_and_concurrent_logins_merge_each_guest_cart_once",
            retried_and_concurrent_logins_merge_each_guest_cart_once,
        ),
        trial(
            "cluster::two_sessions_of_one_user_logging_in_at_once_merge_both_carts_once",
            two_sessions_of_one_user_logging_in_at_once_merge_both_carts_once,
        ),
        trial(
            "cluster::a_merge_interrupted_between_its_steps_is_repaired_by_the_next_login",
            a_merge_interrupted_between_its_steps_is_repaired_by_the_next_login,
        ),
    ]
}

const THIRTY_DAYS_MS: i64 = 30 * 24 * 3600 * 1000;

/// Three redis-server masters in cluster mode, killed on drop (`Children`).
struct Cluster {
    /// `redis-cluster://` URL listing every node, comma-separated (as the README
    /// and the Helm chart write it).
    url: String,
    ports: Vec<u16>,
    servers: Children,
    dir: tempfile::TempDir,
}

fn spawn_node(dir: &Path, port: u16, bus_port: u16) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        // The bus port is chosen too: port + 10000 could be another test's server.
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-port", &bus_port.to_string()])
        .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

impl Cluster {
    /// A fresh cluster, or `None` (after a note) when redis-cli or redis-server
    /// is missing.
    async fn start() -> Option<Cluster> {
        if !tool_present("redis-cli") || !tool_present("redis-server") {
            eprintln!(
                "skipped: the Cluster tests need redis-server and redis-cli (Debian package redis-tools)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("dir");
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut cluster = Cluster {
            url: format!(
                "redis-cluster://127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
                ports[0], ports[1], ports[2]
            ),
            ports: ports.clone(),
            servers: Children(Vec::new()),
            dir,
        };
        for &port in &ports {
            let node = spawn_node(cluster.dir.path(), port, free_port());
            cluster.servers.0.push(node);
        }
        for &port in &ports {
            until(&format!("node {port} to answer"), || {
                redis_cli(port, &["ping"]) == "PONG"
            })
            .await;
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let create = tokio::task::spawn_blocking(move || {
            Command::new("redis-cli")
                .args(["--cluster", "create"])
                .args(&addresses)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
                .expect("redis-cli runs")
        })
        .await
        .expect("cluster create");
        assert!(
            create.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&create.stdout),
            String::from_utf8_lossy(&create.stderr)
        );
        for &port in &ports {
            until(&format!("node {port} to see the whole cluster"), || {
                let info = redis_cli(port, &["cluster", "info"]);
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && info.contains("cluster_known_nodes:3")
            })
            .await;
        }
        Some(cluster)
    }

    /// Settings for an app on this cluster.
    fn settings(&self) -> Settings {
        let mut config = settings(Backend::Embedded, None);
        config.redis.url = Some(self.url.clone());
        config
    }

    /// trolley's Redis options for this cluster, as its settings give them.
    fn options(&self) -> RedisOptions {
        let settings = self.settings();
        RedisOptions {
            pool_size: settings.redis.connections(),
            url: self.url.clone(),
            password: settings.redis.password,
            ca_file: settings.redis.ca_file,
            timeout: settings.redis.timeout,
            wait_replicas: 0,
        }
    }

    async fn app(&self) -> TestApp {
        TestApp::spawn(self.settings()).await
    }

    /// A cluster client for inspecting what the app wrote.
    async fn client(&self) -> Client {
        // trolley's own URL parsing, which accepts the comma-separated form.
        let mut config = parse_config(&self.options()).expect("cluster url");
        // A test client fails at once rather than retrying in the background.
        config.fail_fast = true;
        assert!(config.server.is_clustered());
        let client = Builder::from_config(config).build().expect("client");
        client.init().await.expect("connect to the cluster");
        client
    }

    /// The hash slot of a key, as the cluster computes it.
    fn slot(&self, key: &str) -> u16 {
        redis_cli(self.ports[0], &["cluster", "keyslot", key])
            .parse()
            .expect("slot")
    }

    /// How many masters hold at least one key.
    fn masters_with_keys(&self) -> usize {
        self.ports
            .iter()
            .filter(|&&port| redis_cli(port, &["dbsize"]).parse::<u64>().unwrap_or(0) > 0)
            .count()
    }
}

fn cart_key(no: u64) -> String {
    format!("trolley:{{cart:{no}}}")
}

fn tombstone_key(no: u64) -> String {
    format!("trolley:{{cart:{no}}}:merged")
}

fn absorbed_key(no: u64) -> String {
    format!("trolley:{{cart:{no}}}:absorbed")
}

/// The cart number of a line id (the id names the cart that created it).
fn cart_no_of(line: u64) -> u64 {
    line >> 20
}

/// The user's cart as the account record names it.
async fn user_cart(client: &Client, name: &str) -> CartRef {
    let (no, id): (Option<u64>, Option<String>) = client
        .hmget(
            format!("trolley:{{user:{name}}}"),
            vec!["cart_no", "cart_id"],
        )
        .await
        .expect("user record");
    CartRef {
        no: no.expect("the user has a cart"),
        id: id.expect("the user's cart has an id"),
    }
}

async fn the_cart_contract_holds_on_a_redis_cluster() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let app = cluster.app().await;
    let mut alice = app.browser();
    let mut bob = app.browser();

    // Add and increment.
    let line = alice.add(42, 2).await;
    let cart_id = alice.cart().await["cartId"].clone();
    assert_eq!(
        alice.add(42, 3).await,
        line,
        "the same product keeps its line"
    );
    let reply = alice.get("/api/cart").await;
    assert!(reply.text.contains(r#""total":749.95"#), "{}", reply.text);
    let cart = reply.json();
    assert_eq!(cart["cartId"], cart_id);
    assert_eq!(cart["itemCount"], json!(1));
    assert_eq!(quantity_of(&cart, 42), 5);
    assert_eq!(cart["items"][0]["price"], json!(149.99));
    let bobs_line = bob.add(1, 1).await;

    // Update, with the ownership answers.
    let reply = alice
        .put(&format!("/api/cart/item/{line}?quantity=7"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["cartItem"]["quantity"], json!(7));
    let reply = alice
        .put(&format!("/api/cart/item/{bobs_line}?quantity=2"))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"error": "Unauthorized access to cart item"})
    );
    let reply = alice.put("/api/cart/item/424242?quantity=2").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"error": "Cart item not found: 424242"})
    );
    let reply = alice
        .put(&format!("/api/cart/item/{line}?quantity=100"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // Remove.
    let second = alice.add(1, 1).await;
    let reply = alice.delete(&format!("/api/cart/item/{bobs_line}")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let reply = alice.delete(&format!("/api/cart/item/{line}")).await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            StatusCode::OK,
            json!({"success": true, "message": "Item removed from cart"})
        )
    );
    let reply = alice.delete(&format!("/api/cart/item/{line}")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    let cart = alice.cart().await;
    assert_eq!(cart["itemCount"], json!(1));
    assert_eq!(line_of(&cart, 1)["id"], json!(second));
    assert_eq!(quantity_of(&bob.cart().await, 1), 1, "bob's line is intact");

    // Clear: the cart keeps its id, and line ids are not reused.
    alice.add(2, 1).await;
    let reply = alice.delete("/api/cart").await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            StatusCode::OK,
            json!({"success": true, "message": "Cart cleared"})
        )
    );
    let cart = alice.cart().await;
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["cartId"], cart_id);
    assert!(alice.add(42, 1).await > second);

    // The minimal API, sharing the cart with the PerfShop routes.
    let mut shopper = app.browser();
    let first = shopper
        .post("/cart/items", r#"{"sku": "apple"}"#)
        .await
        .json();
    let again = shopper
        .post("/cart/items", r#"{"sku": "banana", "quantity": 2}"#)
        .await
        .json();
    assert_eq!(first["cart_id"], again["cart_id"]);
    let minimal = shopper.get("/cart").await.json();
    assert_eq!(minimal["cart_id"], first["cart_id"]);
    assert_eq!(minimal["total"].as_f64(), Some(1.0), "{minimal}");
    assert_eq!(shopper.cart().await["cartId"], first["cart_id"]);
    let reply = shopper.post("/cart/items", r#"{"sku": "kiwi"}"#).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // Carts live in many slots, on more than one master.
    for product in 1..=12 {
        app.browser().add(product, 1).await;
    }
    assert!(
        cluster.masters_with_keys() >= 2,
        "every key landed on one master: not a cluster test"
    );

    // Safe retries on Cluster: the Idempotency-Key record shares the cart's
    // slot, so the script that applies the change records it.
    let mut careful = app.browser();
    careful.add(7, 1).await;
    let keyed = |key: &'static str| [("Idempotency-Key", key)];
    let body = r#"{"productId": 42, "quantity": 1}"#;
    let first = careful
        .send_with(
            reqwest::Method::POST,
            "/api/cart/add",
            Some(body),
            &keyed("c-1"),
        )
        .await;
    let again = careful
        .send_with(
            reqwest::Method::POST,
            "/api/cart/add",
            Some(body),
            &keyed("c-1"),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(quantity_of(&careful.cart().await, 42), 1);
    let etag = first
        .headers
        .get("etag")
        .expect("etag")
        .to_str()
        .expect("etag")
        .to_string();
    let stale = careful
        .send_with(
            reqwest::Method::DELETE,
            "/api/cart",
            None,
            &[("If-Match", "\"not-it\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let current = careful
        .send_with(
            reqwest::Method::DELETE,
            "/api/cart",
            None,
            &[("If-Match", etag.as_str())],
        )
        .await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.text);
}

async fn login_merges_the_guest_cart_into_the_users_cart_across_slots() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let app = cluster.app().await;
    let client = cluster.client().await;
    let before = user_with_cart(&app, "alice", &[(42, 1), (1, 2)]).await;
    let user = user_cart(&client, "alice").await;
    let mut guest = app.browser();
    let guest_line = guest.add(3, 4).await; // only the guest has it
    tokio::time::sleep(Duration::from_millis(5)).await;
    guest.add(42, 2).await; // in both carts
    let guest_cart = guest.cart().await;
    let guest_no = cart_no_of(guest_line);
    assert_ne!(
        cluster.slot(&cart_key(guest_no)),
        cluster.slot(&cart_key(user.no)),
        "the two carts must be in two slots for this test to mean anything"
    );

    let body = guest.login("alice", PASSWORD).await;
    assert_eq!(
        body["merge"],
        json!({"linesMoved": 1, "linesCombined": 1, "clamped": [], "dropped": []})
    );
    let cart = &body["cart"];
    assert_eq!(cart["cartId"], before["cartId"], "the user's cart is kept");
    assert_eq!(quantity_of(cart, 42), 3);
    assert_eq!(quantity_of(cart, 1), 2);
    assert_eq!(quantity_of(cart, 3), 4);
    // The user's line keeps its id; the moved line keeps id, frozen price, addedAt.
    assert_eq!(line_of(cart, 42)["id"], line_of(&before, 42)["id"]);
    assert_eq!(line_of(cart, 3), line_of(&guest_cart, 3));
    assert_eq!(guest.cart().await, *cart);

    // What the saga leaves: no guest cart, the merged tombstone, the absorbed
    // guest number, and the user's cart on the user TTL.
    let exists: u32 = client.exists(cart_key(guest_no)).await.expect("exists");
    assert_eq!(exists, 0, "the guest cart is gone after the merge");
    let tombstone: Option<String> = client.get(tombstone_key(guest_no)).await.expect("get");
    let guest_id = guest_cart["cartId"].as_str().expect("guest cart id");
    assert_eq!(tombstone, Some(format!("{}|{guest_id}", user.no)));
    let absorbed: Vec<u64> = client.smembers(absorbed_key(user.no)).await.expect("set");
    assert_eq!(absorbed, [guest_no]);
    for key in [
        cart_key(user.no),
        tombstone_key(guest_no),
        absorbed_key(user.no),
    ] {
        let ttl: i64 = client.pttl(&key).await.expect("pttl");
        assert!(
            ttl > THIRTY_DAYS_MS - 60_000 && ttl <= THIRTY_DAYS_MS,
            "{key}: TTL {ttl}"
        );
    }

    // The moved line is the user's now; to anyone else it is 403 (found through
    // the tombstone), and a guest-cart id that never existed is 404.
    let moved = guest_line;
    let reply = guest
        .put(&format!("/api/cart/item/{moved}?quantity=1"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut stranger = app.browser();
    stranger.add(1, 1).await;
    let reply = stranger
        .put(&format!("/api/cart/item/{moved}?quantity=1"))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let never = (guest_no << 20) + 999;
    let reply = stranger
        .put(&format!("/api/cart/item/{never}?quantity=1"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
}

async fn a_cluster_merge_applies_the_rules_and_limits() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // Clamped to the max quantity, dropped past the max lines.
    let mut config = cluster.settings();
    config.max_quantity = 10;
    config.max_lines = 3;
    merge_clamps_to_the_limits(&TestApp::spawn(config).await, "carol").await;

    // The rule decides a product in both carts (one user per rule: one cluster).
    for ((rule, expected), name) in
        MERGE_RULE_CASES
            .into_iter()
            .zip(["rule-sum", "rule-max", "rule-guest"])
    {
        let mut config = cluster.settings();
        config.merge_rule = rule;
        merge_rule_decides(&TestApp::spawn(config).await, name, rule, expected).await;
    }
}

async fn retried_and_concurrent_logins_merge_each_guest_cart_once() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    logins_retried_at_once_merge_each_guest_cart_once(&cluster.app().await).await;
}

async fn two_sessions_of_one_user_logging_in_at_once_merge_both_carts_once() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    // Two replicas, as behind a load balancer.
    let (a, b) = (cluster.app().await, cluster.app().await);
    two_sessions_logging_in_at_once_merge_both_carts_once(&a, &b).await;
}

/// The guest's cart as a store-level reference (number from a line id, public id
/// from the API).
async fn guest_cart_ref(guest: &mut Browser, line: u64) -> CartRef {
    let id = guest.cart().await["cartId"]
        .as_str()
        .expect("cart id")
        .to_string();
    CartRef {
        no: cart_no_of(line),
        id,
    }
}

async fn a_merge_interrupted_between_its_steps_is_repaired_by_the_next_login() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let config = cluster.settings();
    let policy = CartPolicy {
        ttl: config.user_cart_ttl,
        limits: Limits {
            max_quantity: config.max_quantity,
            max_lines: config.max_lines,
        },
    };
    let rule = config.merge_rule;
    // A second replica's store, driven step by step: what a replica that crashed
    // (or timed out) in the middle of a login merge leaves behind.
    let crashed = RedisStore::new(&cluster.options()).expect("store");
    crashed
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("connected");
    let app = TestApp::spawn(config).await;
    let client = cluster.client().await;
    user_with_cart(&app, "alice", &[(42, 1), (1, 2)]).await;
    let alice = user_cart(&client, "alice").await;

    // 1. A crash after the seal: nothing applied yet.
    let mut guest = app.browser();
    let line = guest.add(3, 4).await;
    guest.add(42, 2).await;
    let sealed = guest_cart_ref(&mut guest, line).await;
    crashed
        .interrupted_cluster_merge(&sealed, &alice, rule, policy, MergeStop::AfterSeal)
        .await
        .expect("seal");
    let tombstone: Option<String> = client.get(tombstone_key(sealed.no)).await.expect("get");
    let seal_of_alice = format!("sealed:{}|{}|", alice.no, sealed.id);
    assert!(
        tombstone
            .as_deref()
            .is_some_and(|t| t.starts_with(&seal_of_alice)),
        "{tombstone:?}"
    );
    // The sealed cart is read-only: adds are refused, reads still work.
    let reply = guest
        .post("/api/cart/add", r#"{"productId": 5, "quantity": 1}"#)
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(quantity_of(&guest.cart().await, 3), 4);
    // Owner lookups read the sealed tombstone: 403 for its line, 404 for none.
    let mut stranger = app.browser();
    stranger.add(1, 1).await;
    let reply = stranger
        .put(&format!("/api/cart/item/{line}?quantity=1"))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let never = (sealed.no << 20) + 999;
    let reply = stranger
        .put(&format!("/api/cart/item/{never}?quantity=1"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    // The next login carries on from the seal.
    let body = guest.login("alice", PASSWORD).await;
    assert_eq!(
        body["merge"],
        json!({"linesMoved": 1, "linesCombined": 1, "clamped": [], "dropped": []})
    );
    assert_eq!(quantity_of(&body["cart"], 42), 3);
    assert_eq!(quantity_of(&body["cart"], 1), 2);
    assert_eq!(quantity_of(&body["cart"], 3), 4);
    let exists: u32 = client.exists(cart_key(sealed.no)).await.expect("exists");
    assert_eq!(exists, 0, "the guest cart is gone");
    let tombstone: Option<String> = client.get(tombstone_key(sealed.no)).await.expect("get");
    assert_eq!(tombstone, Some(format!("{}|{}", alice.no, sealed.id)));

    // 2. A crash after the absorb: the lines are in the user's cart already, the
    //    guest cart is still there, sealed.
    let mut guest = app.browser();
    let line = guest.add(42, 5).await;
    guest.add(4, 1).await;
    let absorbed = guest_cart_ref(&mut guest, line).await;
    let report = crashed
        .interrupted_cluster_merge(&absorbed, &alice, rule, policy, MergeStop::AfterAbsorb)
        .await
        .expect("seal and absorb");
    assert_eq!((report.lines_moved, report.lines_combined), (1, 1));
    let mut watcher = app.browser();
    let seen = watcher.login("alice", PASSWORD).await;
    assert_eq!(quantity_of(&seen["cart"], 42), 8);
    assert_eq!(quantity_of(&seen["cart"], 4), 1);
    let exists: u32 = client.exists(cart_key(absorbed.no)).await.expect("exists");
    assert_eq!(exists, 1, "the sealed guest cart waits for the last step");
    // The retried login applies nothing twice and finishes the merge.
    let body = guest.login("alice", PASSWORD).await;
    assert_eq!(body["merge"]["linesMoved"], json!(0));
    assert_eq!(body["merge"]["linesCombined"], json!(0));
    assert_eq!(quantity_of(&body["cart"], 42), 8, "counted twice");
    assert_eq!(quantity_of(&body["cart"], 4), 1, "counted twice");
    assert_eq!(quantity_of(&body["cart"], 3), 4);
    let exists: u32 = client.exists(cart_key(absorbed.no)).await.expect("exists");
    assert_eq!(exists, 0, "the guest cart is gone");
    let tombstone: Option<String> = client.get(tombstone_key(absorbed.no)).await.expect("get");
    assert_eq!(tombstone, Some(format!("{}|{}", alice.no, absorbed.id)));
    assert_eq!(watcher.cart().await, guest.cart().await);

    // 3. A crash after the seal for alice, then the same guest session logs in as
    //    bob: the seal keeps its cart, so the lines go to alice's cart, once.
    app.add_user("bob", PASSWORD);
    let mut guest = app.browser();
    let line = guest.add(7, 2).await;
    let other = guest_cart_ref(&mut guest, line).await;
    crashed
        .interrupted_cluster_merge(&other, &alice, rule, policy, MergeStop::AfterSeal)
        .await
        .expect("seal");
    let body = guest.login("bob", PASSWORD).await;
    assert_eq!(body["merge"]["linesMoved"], json!(0));
    assert_eq!(quantity_of(&body["cart"], 7), 0, "bob got alice's seal");
    assert_eq!(quantity_of(&watcher.cart().await, 7), 2);
    let tombstone: Option<String> = client.get(tombstone_key(other.no)).await.expect("get");
    assert_eq!(tombstone, Some(format!("{}|{}", alice.no, other.id)));
    // Every guest cart absorbed once, and recorded.
    let mut absorbed_carts: Vec<u64> = client.smembers(absorbed_key(alice.no)).await.expect("set");
    absorbed_carts.sort();
    assert_eq!(absorbed_carts, [sealed.no, absorbed.no, other.no]);
}

/// A checkout claim freezes the user's cart on Cluster too: a login that would
/// merge a guest cart with lines into it is refused, and the guest session and
/// its cart stay as they were; so is a login that finds the guest cart sealed
/// by an earlier step and the claim taken after that seal.
async fn a_login_merge_into_a_claimed_cart_is_refused_across_slots() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let app = cluster.app().await;
    user_with_cart(&app, "alice", &[(42, 1)]).await;
    let service = reqwest::Client::new();
    let token = format!("Bearer {}", crate::helpers::SERVICE_TOKEN);
    let claim: serde_json::Value = service
        .post(format!("{}/v1/carts/user/alice/checkout", app.service))
        .header("authorization", &token)
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("json");
    let claim_id = claim["claimId"].as_str().expect("claim id").to_string();
    let mut guest = app.browser();
    guest.add(3, 2).await;
    let reply = guest.login_reply("alice", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(
        quantity_of(&guest.cart().await, 3),
        2,
        "the guest cart is as it was"
    );
    guest.add(4, 1).await;
    let released = service
        .post(format!(
            "{}/v1/carts/user/alice/checkout/{claim_id}/release",
            app.service
        ))
        .header("authorization", &token)
        .send()
        .await
        .expect("release");
    assert_eq!(released.status(), StatusCode::OK);
    let body = guest.login("alice", PASSWORD).await;
    assert_eq!(body["merge"]["linesMoved"], 2);

    // The claim is taken between the seal and the absorb step.
    let client = cluster.client().await;
    let alice = user_cart(&client, "alice").await;
    let mut guest = app.browser();
    let line = guest.add(5, 1).await;
    let sealed = guest_cart_ref(&mut guest, line).await;
    let config = cluster.settings();
    let policy = CartPolicy {
        ttl: config.user_cart_ttl,
        limits: Limits {
            max_quantity: config.max_quantity,
            max_lines: config.max_lines,
        },
    };
    let stopped = RedisStore::new(&cluster.options()).expect("store");
    stopped
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("connected");
    stopped
        .interrupted_cluster_merge(
            &sealed,
            &alice,
            config.merge_rule,
            policy,
            MergeStop::AfterSeal,
        )
        .await
        .expect("seal");
    let claim: serde_json::Value = service
        .post(format!("{}/v1/carts/user/alice/checkout", app.service))
        .header("authorization", &token)
        .send()
        .await
        .expect("checkout")
        .json()
        .await
        .expect("json");
    let before = claim["items"].clone();
    let tombstone_before_login: Option<String> =
        client.get(tombstone_key(sealed.no)).await.expect("get");
    let cookie = guest.cookie.clone();
    let reply = guest.login_reply("alice", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(guest.cookie, cookie, "the guest session is as it was");
    let tombstone: Option<String> = client.get(tombstone_key(sealed.no)).await.expect("get");
    assert_eq!(tombstone, None, "the seal is lifted");
    let ttl: i64 = client.pttl(cart_key(sealed.no)).await.expect("pttl");
    let session_ttl = i64::try_from(config.session_ttl.as_millis()).expect("ms");
    assert!(
        0 < ttl && ttl <= session_ttl,
        "the guest cart keeps its own ttl ({ttl} ms), not the seal's"
    );
    guest.add(5, 1).await;
    assert_eq!(
        quantity_of(&guest.cart().await, 5),
        2,
        "the guest cart takes changes"
    );
    let seen: serde_json::Value = service
        .get(format!("{}/v1/carts/user/alice", app.service))
        .header("authorization", &token)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["items"], before, "nothing landed in the claimed cart");
    let absorbed: Vec<u64> = client.smembers(absorbed_key(alice.no)).await.expect("set");
    assert!(!absorbed.contains(&sealed.no));

    // A login that read the same seal before it was lifted (a double click) is
    // refused too, even after the claim ends: its merge must not finish under a
    // seal that the refused login lifts.
    let refused_seal = tombstone_before_login.expect("the seal");
    let claim_id = claim["claimId"].as_str().expect("claim id");
    let released = service
        .post(format!(
            "{}/v1/carts/user/alice/checkout/{claim_id}/release",
            app.service
        ))
        .header("authorization", &token)
        .send()
        .await
        .expect("release");
    assert_eq!(released.status(), StatusCode::OK);
    let _: () = client
        .set(
            tombstone_key(sealed.no),
            refused_seal.as_str(),
            None,
            None,
            false,
        )
        .await
        .expect("the same seal, as the racing login read it");
    let reply = guest.login_reply("alice", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    // A fresh seal merges.
    let body = guest.login("alice", PASSWORD).await;
    assert_eq!(quantity_of(&body["cart"], 5), 2, "merged once");
}
