//! `trolley catalog import`: all or nothing, idempotent, and prices frozen in carts.

use std::{process::Command, time::Duration};

use libtest_mimic::Trial;
use serde_json::json;

use crate::helpers::{Backend, RedisServer, TestApp, binary, eventually, settings};

pub fn trials() -> Vec<Trial> {
    tests![
        a_bad_catalog_file_is_rejected_naming_the_entry_and_nothing_changes,
        importing_replaces_the_catalog_idempotently_and_cart_prices_stay_frozen,
        online_boutiques_products_json_imports_with_its_ids_as_skus,
    ]
}

fn import(redis: &RedisServer, file: &std::path::Path) -> std::process::Output {
    Command::new(binary())
        .args(["catalog", "import"])
        .arg(file)
        .env("TROLLEY_REDIS_URL", &redis.url)
        .output()
        .expect("trolley catalog import runs")
}

async fn a_bad_catalog_file_is_rejected_naming_the_entry_and_nothing_changes() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut visitor = app.browser();
    let before = visitor.get("/api/products?limit=200").await.json();
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"id": 1, "sku": "apple", "name": "Apple", "price": 0.4},
            {"id": 2, "sku": "banana", "name": "Banana", "price": "cheap"}]"#,
    )
    .expect("write");
    let output = import(&redis, &bad);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("entry 2 (id 2)") && stderr.contains("price"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    let missing = dir.path().join("missing.json");
    assert!(!import(&redis, &missing).status.success());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(visitor.get("/api/products?limit=200").await.json(), before);
}

/// The demo's own catalog file, unchanged: its ids are skus a cart takes.
async fn online_boutiques_products_json_imports_with_its_ids_as_skus() {
    let redis = RedisServer::start().await;
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/catalog/online-boutique/products.json"
    );
    let output = import(&redis, std::path::Path::new(file));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut config = settings(Backend::Redis, Some(&redis));
    config.seed_demo_catalog = false;
    let app = TestApp::spawn(config).await;
    let mut shopper = app.browser();
    let catalog = shopper.get("/api/products?limit=200").await.json();
    assert_eq!(catalog["total"], 9, "{catalog}");
    assert_eq!(
        catalog["items"][0],
        json!({"id": 1, "sku": "OLJCESPC7Z", "name": "Sunglasses", "price": 19.99,
               "image": "/static/img/products/sunglasses.jpg"})
    );
    let cart = shopper
        .post("/cart/items", r#"{"sku": "66VCHSJNUP", "quantity": 2}"#)
        .await;
    assert_eq!(cart.json()["total"], json!(37.98), "{}", cart.text);
}

async fn importing_replaces_the_catalog_idempotently_and_cart_prices_stay_frozen() {
    let redis = RedisServer::start().await;
    let mut config = settings(Backend::Redis, Some(&redis));
    config.catalog_refresh = Duration::from_millis(50);
    let app = TestApp::spawn(config).await;
    let mut visitor = app.browser();
    visitor.add(42, 2).await;

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("catalog.json");
    std::fs::write(
        &file,
        r#"[{"id": 42, "sku": "BT-HEADSET", "name": "Bluetooth audio headset", "price": 129.99, "image": "/images/products/42.jpg"},
            {"id": 7, "sku": "pear", "name": "Pear", "price": 0.75}]"#,
    )
    .expect("write");
    for _ in 0..2 {
        let output = import(&redis, &file);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let seen = eventually(Duration::from_secs(5), || {
        let mut visitor = visitor.clone();
        async move { visitor.get("/api/products").await.json()["total"] == json!(2) }
    })
    .await;
    assert!(seen, "the replica never saw the import");
    let products = visitor.get("/api/products").await.json();
    assert_eq!(products["items"][0]["id"], json!(7));
    assert_eq!(
        products["items"][0]["image"],
        json!("/images/products/7.jpg")
    );

    let cart = visitor.cart().await;
    assert_eq!(
        cart["items"][0]["price"],
        json!(149.99),
        "the price is frozen at first add"
    );
    assert_eq!(
        cart["items"][0]["productPrice"],
        json!(129.99),
        "productPrice is today's"
    );
    assert!(
        visitor
            .get("/api/cart")
            .await
            .text
            .contains(r#""total":299.98"#)
    );
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 1, "quantity": 1}"#)
        .await;
    assert_eq!(reply.json(), json!({"error": "Product not found: 1"}));
}
