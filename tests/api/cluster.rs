//! `redis-cluster://`: a real 3-master Redis Cluster. The cart scripts are
//! single-slot (the contract suites run on a Cluster as their `…::cluster`
//! trials); the login merge, whose two carts live in two slots, runs as the
//! seal → absorb → done saga, and a crash between its steps is repaired by the
//! next login with nothing lost or counted twice.
//!
//! These tests start a cluster each, since their users and carts are named alike
//! (`TROLLEY_TEST_REDIS_URL` names one server, not a cluster); without redis-cli
//! they print a note and pass.

use std::time::Duration;

use fred::prelude::*;
use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::json;
use trolley::testing::{CartPolicy, MergeStop, RedisStore, model::CartRef, rules::Limits};

use crate::{
    accounts::{
        MERGE_RULE_CASES, MergeRuleCase, logins_retried_at_once_merge_each_guest_cart_once,
        merge_clamps_to_the_limits, merge_rule_decides,
        two_sessions_logging_in_at_once_merge_both_carts_once,
    },
    helpers::{
        Browser, Cluster, PASSWORD, TestApp, cart_key, cart_no_of, line_of, quantity_of,
        user_with_cart,
    },
};

pub fn trials() -> Vec<Trial> {
    // Without redis-cli (which makes the cluster) they show as ignored.
    let ignored = !crate::helpers::Backend::Cluster.available();
    tests![
        a_login_merge_into_a_claimed_cart_is_refused_across_slots,
        login_merges_the_guest_cart_into_the_users_cart_across_slots,
        a_cluster_merge_applies_the_rules_and_limits,
        retried_and_concurrent_logins_merge_each_guest_cart_once,
        two_sessions_of_one_user_logging_in_at_once_merge_both_carts_once,
        a_merge_interrupted_between_its_steps_is_repaired_by_the_next_login,
    ]
    .into_iter()
    .map(|trial| trial.with_ignored_flag(ignored))
    .collect()
}

const THIRTY_DAYS_MS: i64 = 30 * 24 * 3600 * 1000;

fn tombstone_key(no: u64) -> String {
    format!("trolley:{{cart:{no}}}:merged")
}

fn absorbed_key(no: u64) -> String {
    format!("trolley:{{cart:{no}}}:absorbed")
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
    let reply = guest.put_quantity(moved, 1).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut stranger = app.browser();
    stranger.add(1, 1).await;
    let reply = stranger.put_quantity(moved, 1).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let never = (guest_no << 20) + 999;
    let reply = stranger.put_quantity(never, 1).await;
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
    for (MergeRuleCase { rule, quantity }, name) in
        MERGE_RULE_CASES
            .into_iter()
            .zip(["rule-sum", "rule-max", "rule-guest"])
    {
        let mut config = cluster.settings();
        config.merge_rule = rule;
        merge_rule_decides(&TestApp::spawn(config).await, name, rule, quantity).await;
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
    let reply = stranger.put_quantity(line, 1).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let never = (sealed.no << 20) + 999;
    let reply = stranger.put_quantity(never, 1).await;
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
