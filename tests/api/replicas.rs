//! Stateless replicas on one Redis: shared carts, atomic concurrent changes, TTLs.

use std::time::Duration;

use fred::prelude::*;
use libtest_mimic::Trial;
use serde_json::json;

use crate::helpers::{Backend, RedisServer, TestApp, quantity_of, settings};

pub fn trials() -> Vec<Trial> {
    tests![
        three_replicas_share_one_visitors_cart,
        fifty_concurrent_adds_of_one_product_give_quantity_fifty,
        fifty_concurrent_adds_of_different_products_give_fifty_lines,
        the_cart_hash_and_session_record_carry_the_session_ttl_and_slide_together,
    ]
}

async fn three_replicas_share_one_visitors_cart() {
    let redis = RedisServer::start().await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(TestApp::spawn(settings(Backend::Redis, Some(&redis))).await);
    }
    let mut visitor = replicas[0].browser();
    let products = [42, 1, 2, 7, 9, 11];
    let mut cart_id = None;
    for (turn, product) in products.iter().enumerate() {
        let replica = &replicas[turn % 3];
        let mut here = visitor.via(&replica.base);
        here.add(*product, 1).await;
        let cart = here.cart().await;
        let id = cart["cartId"].clone();
        assert!(id.is_string());
        assert_eq!(
            *cart_id.get_or_insert(id.clone()),
            id,
            "cartId changed on replica {turn}"
        );
        assert_eq!(
            cart["itemCount"],
            json!(turn + 1),
            "replica {} misses items",
            turn % 3
        );
        visitor = here;
    }
    for replica in &replicas {
        let cart = visitor.via(&replica.base).cart().await;
        for product in products {
            assert_eq!(quantity_of(&cart, product), 1);
        }
        let minimal = visitor.via(&replica.base).get("/cart").await.json();
        assert_eq!(minimal["cart_id"], cart_id.clone().expect("cart id"));
    }
}

async fn fifty_concurrent_adds_of_one_product_give_quantity_fifty() {
    let redis = RedisServer::start().await;
    let a = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let b = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut visitor = a.browser();
    visitor.add(1, 1).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let mut client = visitor.via(if i % 2 == 0 { &a.base } else { &b.base });
        tasks.push(tokio::spawn(async move { client.add(42, 1).await }));
    }
    for task in tasks {
        task.await.expect("add task");
    }
    let cart = visitor.cart().await;
    assert_eq!(quantity_of(&cart, 42), 50);
    assert_eq!(cart["itemCount"], json!(2));
}

async fn fifty_concurrent_adds_of_different_products_give_fifty_lines() {
    let redis = RedisServer::start().await;
    let a = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let b = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut visitor = a.browser();
    visitor.add(1, 1).await;
    let mut tasks = Vec::new();
    for product in 2..=51 {
        let mut client = visitor.via(if product % 2 == 0 { &a.base } else { &b.base });
        tasks.push(tokio::spawn(async move { client.add(product, 1).await }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("add task"));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50, "line ids are unique");
    let cart = visitor.cart().await;
    assert_eq!(cart["itemCount"], json!(51));
    for product in 1..=51 {
        assert_eq!(quantity_of(&cart, product), 1, "product {product}");
    }
}

async fn the_cart_hash_and_session_record_carry_the_session_ttl_and_slide_together() {
    let redis = RedisServer::start().await;
    let mut config = settings(Backend::Redis, Some(&redis));
    // The record slides coarsely, by at least a tenth of the TTL (2 s here).
    config.session_ttl = Duration::from_secs(20);
    let app = TestApp::spawn(config).await;
    let client = redis.client().await;
    let mut visitor = app.browser();
    visitor.add(42, 1).await;
    let session_key = visitor.cookie.clone().expect("session cookie");
    let cart_key = cart_key(&client).await;

    let ttl = |key: String| {
        let client = client.clone();
        async move {
            let ms: i64 = client.pttl(&key).await.expect("pttl");
            ms
        }
    };
    let (session_ttl, cart_ttl) = (ttl(session_key.clone()).await, ttl(cart_key.clone()).await);
    for (what, value) in [("session", session_ttl), ("cart", cart_ttl)] {
        assert!(
            (18_000..=20_000).contains(&value),
            "{what} TTL {value} ms is not the session TTL"
        );
    }
    // Within the tenth, a request writes no session record; the cart slides.
    let sets = || {
        crate::helpers::redis_cli(redis.port, &["info", "commandstats"])
            .lines()
            .find(|line| line.starts_with("cmdstat_set:"))
            .and_then(|line| line.split("calls=").nth(1))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = sets();
    visitor.cart().await;
    visitor.add(1, 1).await;
    assert_eq!(
        sets(),
        before,
        "a request within the slide granularity rewrote the record"
    );

    // The session store sets whole-second expiries (EXAT): wait over two seconds
    // more than the granularity, so rounding cannot hide the slide.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let aged = (ttl(session_key.clone()).await, ttl(cart_key.clone()).await);
    assert!(
        aged.0 < session_ttl - 1_500 && aged.1 < cart_ttl - 1_500,
        "TTLs did not run down: {aged:?}"
    );

    // Past the granularity, a write slides both.
    visitor.add(1, 1).await;
    let slid = (ttl(session_key.clone()).await, ttl(cart_key.clone()).await);
    assert!(
        slid.0 > aged.0 + 1_500,
        "session TTL did not slide: {aged:?} → {slid:?}"
    );
    assert!(
        slid.1 > aged.1 + 1_500,
        "cart TTL did not slide: {aged:?} → {slid:?}"
    );

    // So does a read: they expire together, within the granularity.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    visitor.cart().await;
    let read = (ttl(session_key).await, ttl(cart_key).await);
    assert!(
        read.0 > 17_000 && read.1 > 19_000,
        "a read did not slide the TTLs: {read:?}"
    );
}

/// The one cart hash in this test's Redis.
async fn cart_key(client: &Client) -> String {
    let keys: Vec<String> = client
        .custom(fred::cmd!("KEYS"), vec!["trolley:{cart:*}"])
        .await
        .expect("keys");
    let carts: Vec<String> = keys
        .into_iter()
        .filter(|k| !k.ends_with(":merged"))
        .collect();
    assert_eq!(carts.len(), 1, "{carts:?}");
    carts[0].clone()
}
