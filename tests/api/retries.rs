//! API.md v1.1 "Safe retries and concurrent edits": `Idempotency-Key` (replay,
//! 422, 409 in progress, scope per cart, 50 concurrent requests applied once,
//! nothing recorded for a request refused before the cart), `ETag`,
//! `If-None-Match` (304) and `If-Match` (412, `*`), on both stores.

use libtest_mimic::Trial;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::{
    both,
    helpers::{Backend, Browser, Reply, TestApp, quantity_of},
};

pub fn trials() -> Vec<Trial> {
    [
        both(
            "retries::a_repeat_with_the_same_key_is_replayed_and_applies_nothing",
            a_repeat_with_the_same_key_is_replayed_and_applies_nothing,
        ),
        both(
            "retries::a_key_reused_with_another_request_is_422",
            a_key_reused_with_another_request_is_422,
        ),
        both(
            "retries::fifty_concurrent_requests_with_one_key_apply_once",
            fifty_concurrent_requests_with_one_key_apply_once,
        ),
        both(
            "retries::keys_are_scoped_to_the_cart_and_a_refused_body_records_nothing",
            keys_are_scoped_to_the_cart_and_a_refused_body_records_nothing,
        ),
        both(
            "retries::a_decision_of_the_cart_is_replayed_and_bad_keys_are_400",
            a_decision_of_the_cart_is_replayed_and_bad_keys_are_400,
        ),
        both(
            "retries::etags_are_shared_by_both_apis_and_if_none_match_answers_304",
            etags_are_shared_by_both_apis_and_if_none_match_answers_304,
        ),
        both(
            "retries::a_validator_outside_its_documented_pattern_is_a_400",
            a_validator_outside_its_documented_pattern_is_a_400,
        ),
        both(
            "retries::if_match_applies_only_at_that_version",
            if_match_applies_only_at_that_version,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

const ADD: &str = "/api/cart/add";

async fn add_with(visitor: &mut Browser, body: &str, headers: &[(&str, &str)]) -> Reply {
    visitor
        .send_with(Method::POST, ADD, Some(body), headers)
        .await
}

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
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(7, 1).await;
    let body = r#"{"productId": 42, "quantity": 2}"#;
    let first = add_with(&mut visitor, body, &[("Idempotency-Key", "add-42")]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(!replayed(&first));
    // The quoted structured-field form names the same key.
    for key in ["add-42", "\"add-42\""] {
        let again = add_with(&mut visitor, body, &[("Idempotency-Key", key)]).await;
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
    let put = format!("/api/cart/item/{line}?quantity=5");
    for _ in 0..2 {
        let reply = visitor
            .send_with(Method::PUT, &put, None, &[("Idempotency-Key", "put-1")])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let reply = visitor
        .send_with(
            Method::POST,
            "/cart/items",
            Some(r#"{"sku": "apple"}"#),
            &[("Idempotency-Key", "minimal-1")],
        )
        .await;
    let minimal = reply.json();
    let replay = visitor
        .send_with(
            Method::POST,
            "/cart/items",
            Some(r#"{"sku": "apple"}"#),
            &[("Idempotency-Key", "minimal-1")],
        )
        .await;
    assert!(replayed(&replay));
    assert_eq!(
        replay.json(),
        minimal,
        "the minimal add's cart is answered again"
    );
    for path in [format!("/api/cart/item/{line}"), "/api/cart".to_string()] {
        for _ in 0..2 {
            let reply = visitor
                .send_with(Method::DELETE, &path, None, &[("Idempotency-Key", "del-1")])
                .await;
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
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(7, 1).await;
    let key = [("Idempotency-Key", "k-1")];
    let first = add_with(&mut visitor, r#"{"productId": 42, "quantity": 1}"#, &key).await;
    assert_eq!(first.status, StatusCode::OK);
    let other = add_with(&mut visitor, r#"{"productId": 42, "quantity": 3}"#, &key).await;
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
    let put = visitor
        .send_with(
            Method::PUT,
            &format!("/api/cart/item/{line}?quantity=9"),
            None,
            &key,
        )
        .await;
    assert_eq!(put.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", put.text);
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1, "nothing changed");
}

async fn fifty_concurrent_requests_with_one_key_apply_once(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(7, 1).await;
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let mut same = visitor.clone();
            tokio::spawn(async move {
                add_with(
                    &mut same,
                    r#"{"productId": 42, "quantity": 1}"#,
                    &[("Idempotency-Key", "burst")],
                )
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
    let (app, _redis) = TestApp::on(backend).await;
    let (mut alice, mut bob) = (app.browser(), app.browser());
    alice.add(7, 1).await;
    bob.add(7, 1).await;
    let key = [("Idempotency-Key", "shared-key")];
    for shopper in [&mut alice, &mut bob] {
        let reply = add_with(shopper, r#"{"productId": 42, "quantity": 1}"#, &key).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(!replayed(&reply), "another cart's key must not be replayed");
        assert_eq!(quantity_of(&shopper.cart().await, 42), 1);
    }
    // Refused before the cart was touched: nothing recorded, so the corrected
    // request with the same key is applied, not refused as another request.
    let mut carol = app.browser();
    carol.add(7, 1).await;
    let key = [("Idempotency-Key", "fix-me")];
    for bad in [
        r#"{"productId": 999999, "quantity": 1}"#,
        r#"{"productId": 42}"#,
    ] {
        let reply = add_with(&mut carol, bad, &key).await;
        assert!(reply.status.is_client_error(), "{}", reply.text);
        assert!(!replayed(&reply));
    }
    let good = add_with(&mut carol, r#"{"productId": 42, "quantity": 1}"#, &key).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text);
    assert!(!replayed(&good));
}

async fn a_decision_of_the_cart_is_replayed_and_bad_keys_are_400(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(7, 1).await;
    let gone = "/api/cart/item/999999999";
    for attempt in 0..2 {
        let reply = visitor
            .send_with(Method::DELETE, gone, None, &[("Idempotency-Key", "miss")])
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
        assert_eq!(replayed(&reply), attempt == 1, "{:?}", reply.headers);
    }
    let long = "k".repeat(256);
    for bad in ["", "has space", long.as_str(), "\"\"", "caf\u{e9}"] {
        let reply = add_with(
            &mut visitor,
            r#"{"productId": 42, "quantity": 1}"#,
            &[("Idempotency-Key", bad)],
        )
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
    let reply = add_with(
        &mut visitor,
        r#"{"productId": 42, "quantity": 1}"#,
        &[("Idempotency-Key", ok.as_str())],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "255 characters are a key");
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1);
}

async fn etags_are_shared_by_both_apis_and_if_none_match_answers_304(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let empty = visitor.get("/api/cart").await;
    let no_cart = etag(&empty);
    assert_eq!(
        etag(&visitor.get("/cart").await),
        no_cart,
        "a fixed ETag without a cart"
    );
    let added = add_with(&mut visitor, r#"{"productId": 42, "quantity": 1}"#, &[]).await;
    let after_add = etag(&added);
    assert_ne!(after_add, no_cart);
    let get = visitor.get("/api/cart").await;
    assert_eq!(etag(&get), after_add, "a mutation's ETag is the next GET's");
    assert_eq!(etag(&visitor.get("/cart").await), after_add);
    let same = visitor
        .send_with(
            Method::GET,
            "/api/cart",
            None,
            &[("If-None-Match", &after_add)],
        )
        .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.text.is_empty());
    assert_eq!(etag(&same), after_add);
    let minimal = visitor
        .send_with(Method::GET, "/cart", None, &[("If-None-Match", &after_add)])
        .await;
    assert_eq!(minimal.status, StatusCode::NOT_MODIFIED);
    visitor.add(42, 1).await;
    let changed = visitor
        .send_with(
            Method::GET,
            "/api/cart",
            None,
            &[("If-None-Match", &after_add)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(etag(&changed), after_add, "every change moves the ETag");
}

/// `If-None-Match` and `If-Match` that break the document's pattern are
/// refused with 400, with a session or without one, and change nothing.
async fn a_validator_outside_its_documented_pattern_is_a_400(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
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
                let reply = visitor
                    .send_with(Method::GET, path, None, &[("If-None-Match", value)])
                    .await;
                assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path} {value}");
                assert!(reply.json()["error"].is_string(), "{path} {value}");
            }
            for value in ["wR", "\"x\", W/\"y\"", "\"x\" ,w-1"] {
                let reply = visitor
                    .send_with(Method::GET, path, None, &[("If-None-Match", value)])
                    .await;
                assert_eq!(reply.status, StatusCode::OK, "{path} {value}");
            }
        }
    }
    for value in malformed {
        let reply = shopper
            .send_with(
                Method::POST,
                "/api/cart/add",
                Some(r#"{"productId": 42, "quantity": 1}"#),
                &[("If-Match", value)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "If-Match {value}");
    }
    assert_eq!(quantity_of(&shopper.cart().await, 42), 1);
}

async fn if_match_applies_only_at_that_version(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    // No cart yet: `*` does not hold.
    let star = add_with(
        &mut visitor,
        r#"{"productId": 42, "quantity": 1}"#,
        &[("If-Match", "*")],
    )
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
    let put = format!("/api/cart/item/{line}?quantity=5");
    let stale = visitor
        .send_with(Method::PUT, &put, None, &[("If-Match", &version)])
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(error_of(&stale), "The cart has changed");
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1, "nothing changed");
    let current = etag(&visitor.get("/api/cart").await);
    let weak = format!("W/{current}");
    let refused = visitor
        .send_with(Method::PUT, &put, None, &[("If-Match", &weak)])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::PRECONDITION_FAILED,
        "If-Match compares strongly"
    );
    let listed = format!("\"other\", {current}");
    let ok = visitor
        .send_with(Method::PUT, &put, None, &[("If-Match", &listed)])
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(quantity_of(&visitor.cart().await, 42), 5);
    let star = visitor
        .send_with(Method::DELETE, "/api/cart", None, &[("If-Match", "*")])
        .await;
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
