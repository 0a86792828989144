//! API.md v1.1 "Safe retries and concurrent edits": `Idempotency-Key` (replay,
//! 422, 409 in progress, scope per cart, 50 concurrent requests applied once,
//! nothing recorded for a request refused before the cart), `ETag`,
//! `If-None-Match` (304) and `If-Match` (412, `*`), on every backend.

use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, Reply, TestApp, quantity_of};

pub fn trials() -> Vec<Trial> {
    contract_suite![
        a_repeat_with_the_same_key_is_replayed_and_applies_nothing,
        a_key_reused_with_another_request_is_422,
        fifty_concurrent_requests_with_one_key_apply_once,
        keys_are_scoped_to_the_cart_and_a_refused_body_records_nothing,
        a_decision_of_the_cart_is_replayed_and_bad_keys_are_400,
        etags_are_shared_by_both_apis_and_if_none_match_answers_304,
        a_validator_outside_its_documented_pattern_is_a_400,
        if_match_applies_only_at_that_version,
    ]
}

const ADD: &str = "/api/cart/add";

fn etag(reply: &Reply) -> String {
    reply
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no ETag on {} {}", reply.status, reply.text))
        .to_string()
}

fn replayed(reply: &Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

fn error_of(reply: &Reply) -> Value {
    reply.json()["error"].clone()
}

async fn a_repeat_with_the_same_key_is_replayed_and_applies_nothing(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(7, 1).await;
    let body = r#"{"productId": 42, "quantity": 2}"#;
    let first = visitor.post(ADD, body).idempotency_key("add-42").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(!replayed(&first));
    // The quoted structured-field form names the same key.
    for key in ["add-42", "\"add-42\""] {
        let again = visitor.post(ADD, body).idempotency_key(key).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert!(replayed(&again), "no Idempotent-Replayed on {key}");
        assert_eq!(
            again.json(),
            first.json(),
            "the first body is answered again"
        );
        assert_eq!(etag(&again), etag(&first));
    }
    let cart = visitor.cart().await;
    assert_eq!(quantity_of(&cart, 42), 2, "applied exactly once: {cart}");
    // Every mutation takes a key, and a replay of each changes nothing.
    let line = first.json()["cartItem"]["id"].as_u64().expect("line id");
    for _ in 0..2 {
        let reply = visitor.put_quantity(line, 5).idempotency_key("put-1").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let apple = r#"{"sku": "apple"}"#;
    let reply = visitor
        .post("/cart/items", apple)
        .idempotency_key("minimal-1")
        .await;
    let minimal = reply.json();
    let replay = visitor
        .post("/cart/items", apple)
        .idempotency_key("minimal-1")
        .await;
    assert!(replayed(&replay));
    assert_eq!(
        replay.json(),
        minimal,
        "the minimal add's cart is answered again"
    );
    for path in [format!("/api/cart/item/{line}"), "/api/cart".to_string()] {
        for _ in 0..2 {
            let reply = visitor.delete(&path).idempotency_key("del-1").await;
            assert!(
                reply.status == StatusCode::OK || reply.status == StatusCode::UNPROCESSABLE_ENTITY,
                "{path}: {} {}",
                reply.status,
                reply.text
            );
        }
    }
    let cart = visitor.cart().await;
    assert_eq!(quantity_of(&cart, 42), 0, "{cart}");
}

async fn a_key_reused_with_another_request_is_422(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(7, 1).await;
    let key = "k-1";
    let first = visitor
        .post(ADD, r#"{"productId": 42, "quantity": 1}"#)
        .idempotency_key(key)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let other = visitor
        .post(ADD, r#"{"productId": 42, "quantity": 3}"#)
        .idempotency_key(key)
        .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text
    );
    assert_eq!(
        error_of(&other),
        "Idempotency-Key reused with a different request"
    );
    // Another route with the same key is another request too.
    let line = first.json()["cartItem"]["id"].as_u64().expect("id");
    let put = visitor.put_quantity(line, 9).idempotency_key(key).await;
    assert_eq!(put.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", put.text);
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1, "nothing changed");
}

async fn fifty_concurrent_requests_with_one_key_apply_once(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(7, 1).await;
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let mut same = visitor.clone();
            tokio::spawn(async move {
                same.post(ADD, r#"{"productId": 42, "quantity": 1}"#)
                    .idempotency_key("burst")
                    .await
            })
        })
        .collect();
    let mut applied = 0;
    for request in requests {
        let reply = request.await.expect("task");
        match reply.status {
            StatusCode::OK if !replayed(&reply) => applied += 1,
            StatusCode::OK => {}
            StatusCode::CONFLICT => assert_eq!(
                error_of(&reply),
                "A request with this Idempotency-Key is in progress"
            ),
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!(applied, 1, "exactly one request applied");
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1);
}

async fn keys_are_scoped_to_the_cart_and_a_refused_body_records_nothing(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let (mut alice, mut bob) = (app.browser(), app.browser());
    alice.add(7, 1).await;
    bob.add(7, 1).await;
    for shopper in [&mut alice, &mut bob] {
        let reply = shopper
            .post(ADD, r#"{"productId": 42, "quantity": 1}"#)
            .idempotency_key("shared-key")
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(!replayed(&reply), "another cart's key must not be replayed");
        assert_eq!(quantity_of(&shopper.cart().await, 42), 1);
    }
    // Refused before the cart was touched: nothing recorded, so the corrected
    // request with the same key is applied, not refused as another request.
    let mut carol = app.browser();
    carol.add(7, 1).await;
    for bad in [
        r#"{"productId": 999999, "quantity": 1}"#,
        r#"{"productId": 42}"#,
    ] {
        let reply = carol.post(ADD, bad).idempotency_key("fix-me").await;
        assert!(reply.status.is_client_error(), "{}", reply.text);
        assert!(!replayed(&reply));
    }
    let good = carol
        .post(ADD, r#"{"productId": 42, "quantity": 1}"#)
        .idempotency_key("fix-me")
        .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text);
    assert!(!replayed(&good));
}

async fn a_decision_of_the_cart_is_replayed_and_bad_keys_are_400(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(7, 1).await;
    for attempt in 0..2 {
        let reply = visitor.remove(999_999_999).idempotency_key("miss").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
        assert_eq!(replayed(&reply), attempt == 1, "{:?}", reply.headers);
    }
    let long = "k".repeat(256);
    for bad in ["", "has space", long.as_str(), "\"\"", "caf\u{e9}"] {
        let reply = visitor
            .post(ADD, r#"{"productId": 42, "quantity": 1}"#)
            .idempotency_key(bad)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad:?}: {}",
            reply.text
        );
        assert!(error_of(&reply).is_string());
    }
    let ok = "k".repeat(255);
    let reply = visitor
        .post(ADD, r#"{"productId": 42, "quantity": 1}"#)
        .idempotency_key(&ok)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "255 characters are a key");
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1);
}

async fn etags_are_shared_by_both_apis_and_if_none_match_answers_304(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let empty = visitor.get("/api/cart").await;
    let no_cart = etag(&empty);
    assert_eq!(
        etag(&visitor.get("/cart").await),
        no_cart,
        "a fixed ETag without a cart"
    );
    let added = visitor
        .post(ADD, r#"{"productId": 42, "quantity": 1}"#)
        .await;
    let after_add = etag(&added);
    assert_ne!(after_add, no_cart);
    let get = visitor.get("/api/cart").await;
    assert_eq!(etag(&get), after_add, "a mutation's ETag is the next GET's");
    assert_eq!(etag(&visitor.get("/cart").await), after_add);
    let same = visitor.get("/api/cart").if_none_match(&after_add).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.text.is_empty());
    assert_eq!(etag(&same), after_add);
    let minimal = visitor.get("/cart").if_none_match(&after_add).await;
    assert_eq!(minimal.status, StatusCode::NOT_MODIFIED);
    visitor.add(42, 1).await;
    let changed = visitor.get("/api/cart").if_none_match(&after_add).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(etag(&changed), after_add, "every change moves the ETag");
}

/// `If-None-Match` and `If-Match` that break the document's pattern are
/// refused with 400, with a session or without one, and change nothing.
async fn a_validator_outside_its_documented_pattern_is_a_400(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let malformed = [
        "wR,",
        ",",
        "\"a\" \"b\"",
        "\"a\",",
        "W/",
        "\"a b\"",
        "*, \"a\"",
        "\"unterminated",
    ];
    let mut anonymous = app.browser();
    let mut shopper = app.browser();
    shopper.add(42, 1).await;
    for visitor in [&mut anonymous, &mut shopper] {
        for path in ["/api/cart", "/cart"] {
            for value in malformed {
                let reply = visitor.get(path).if_none_match(value).await;
                assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path} {value}");
                assert!(reply.json()["error"].is_string(), "{path} {value}");
            }
            for value in ["wR", "\"x\", W/\"y\"", "\"x\" ,w-1"] {
                let reply = visitor.get(path).if_none_match(value).await;
                assert_eq!(reply.status, StatusCode::OK, "{path} {value}");
            }
        }
    }
    for value in malformed {
        let reply = shopper
            .post(ADD, r#"{"productId": 42, "quantity": 1}"#)
            .if_match(value)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "If-Match {value}");
    }
    assert_eq!(quantity_of(&shopper.cart().await, 42), 1);
}

async fn if_match_applies_only_at_that_version(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    // No cart yet: `*` does not hold.
    let star = visitor
        .post(ADD, r#"{"productId": 42, "quantity": 1}"#)
        .if_match("*")
        .await;
    assert_eq!(
        star.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        star.text
    );
    assert_eq!(error_of(&star), "The cart has changed");
    assert!(visitor.cookie.is_none(), "a refused add starts no session");
    let line = visitor.add(42, 1).await;
    let version = etag(&visitor.get("/api/cart").await);
    visitor.add(7, 1).await;
    let stale = visitor.put_quantity(line, 5).if_match(&version).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(error_of(&stale), "The cart has changed");
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1, "nothing changed");
    // A line the cart does not hold is 404 before a stale If-Match is 412.
    let missing = visitor.remove(line + 100).if_match(&version).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    let current = etag(&visitor.get("/api/cart").await);
    let weak = format!("W/{current}");
    let refused = visitor.put_quantity(line, 5).if_match(&weak).await;
    assert_eq!(
        refused.status,
        StatusCode::PRECONDITION_FAILED,
        "If-Match compares strongly"
    );
    let listed = format!("\"other\", {current}");
    let ok = visitor.put_quantity(line, 5).if_match(&listed).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(quantity_of(&visitor.cart().await, 42), 5);
    // A change's own ETag is the version it left.
    let again = visitor.put_quantity(line, 5).if_match(&etag(&ok)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    // Clearing takes a precondition too.
    let stale = visitor.clear().if_match("\"not-it\"").await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.text
    );
    assert_eq!(quantity_of(&visitor.cart().await, 42), 5, "nothing changed");
    let star = visitor.clear().if_match("*").await;
    assert_eq!(
        star.status,
        StatusCode::OK,
        "the cart exists: {}",
        star.text
    );
    assert!(
        visitor.cart().await["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
}
