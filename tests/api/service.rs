//! The service API (API.md v1.2): carts by owner on the service port, bearer
//! tokens, and checkout claims, which freeze a cart on every route set until
//! they are completed, released or run out.

use std::time::Duration;

use libtest_mimic::Trial;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Browser, PASSWORD, ROTATED_TOKEN, RedisServer, Reply, SERVICE_TOKEN, TestApp, items,
    quantity_of, settings, two_replicas, user_with_cart,
};

pub fn trials() -> Vec<Trial> {
    let mut trials = contract_suite![
        the_service_port_answers_401_without_a_valid_token,
        an_ext_cart_is_created_by_its_first_add_and_changed_like_a_public_cart,
        a_user_cart_is_the_one_the_shopper_sees_both_ways,
        a_guest_cart_is_reached_by_its_cart_id_and_frozen_by_a_claim,
        malformed_owners_ids_and_bodies_are_400_and_write_nothing,
        a_claim_freezes_the_cart_on_every_route_until_it_is_completed,
        a_released_claim_lets_the_cart_change_and_cannot_be_completed,
        a_claim_past_its_until_ends_by_itself_and_answers_410,
        an_empty_cart_or_an_unknown_claim_is_refused,
        a_login_merging_into_a_claimed_cart_is_refused_and_changes_nothing,
        a_409_during_a_claim_is_not_recorded_under_its_idempotency_key,
        a_checkout_retried_with_its_idempotency_key_answers_the_same_claim,
    ];
    trials.extend(tests![
        the_checkout_and_grpc_series_are_exported_from_start_up,
        without_a_token_the_service_port_stays_closed,
        adds_racing_a_claim_across_replicas_are_claimed_or_kept_never_lost,
        ten_concurrent_completes_across_replicas_remove_the_lines_once,
        reading_an_ext_cart_slides_its_owner_record_with_it,
        a_complete_after_redis_lost_the_claim_removes_nothing,
    ]);
    trials
}

/// A caller of the service port with a token.
#[derive(Clone)]
struct Caller {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Caller {
    fn of(app: &TestApp) -> Caller {
        assert!(!app.service.is_empty(), "the service port is open");
        Caller {
            base: app.service.clone(),
            token: Some(SERVICE_TOKEN.to_string()),
            client: reqwest::Client::new(),
        }
    }

    fn with_token(&self, token: Option<&str>) -> Caller {
        Caller {
            token: token.map(str::to_string),
            ..self.clone()
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("answered");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    async fn post(&self, path: &str, body: &str) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    async fn cart(&self, owner: &str) -> Value {
        let reply = self.get(&format!("/v1/carts/{owner}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()
    }

    /// Claims the owner's cart, asserting 201.
    async fn checkout(&self, owner: &str) -> Value {
        let reply = self.post(&format!("/v1/carts/{owner}/checkout"), "").await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()
    }

    async fn complete(&self, owner: &str, claim: &str, order: &str) -> Reply {
        self.post(
            &format!("/v1/carts/{owner}/checkout/{claim}/complete"),
            &json!({ "orderId": order }).to_string(),
        )
        .await
    }

    async fn release(&self, owner: &str, claim: &str) -> Reply {
        self.post(&format!("/v1/carts/{owner}/checkout/{claim}/release"), "")
            .await
    }
}

fn error_of(reply: &Reply) -> String {
    reply.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_refused(reply: &Reply, status: StatusCode, message: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(error_of(reply), message, "{}", reply.text);
}

const CLAIMED: &str = "Cart is being checked out";

async fn the_service_port_answers_401_without_a_valid_token(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    for token in [None, Some("wrong"), Some("")] {
        let reply = caller
            .with_token(token)
            .post("/v1/carts/ext/shop-1/items", r#"{"sku": "apple"}"#)
            .await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    // Nothing was written, and the rotated token works as well as the first.
    let cart = caller
        .with_token(Some(ROTATED_TOKEN))
        .cart("ext/shop-1")
        .await;
    assert_eq!(cart["version"], "0");
    assert_eq!(items(&cart).len(), 0);
    // Malformed paths are 401 too without a token: nothing is looked at first.
    let reply = caller.with_token(None).get("/v1/carts/nonsense/x").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // The public port does not serve the service API.
    let reply = Browser::new(&app.base).get("/v1/carts/ext/shop-1").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

async fn without_a_token_the_service_port_stays_closed() {
    let mut closed = settings(Backend::Embedded, None);
    closed.service_tokens = Vec::new();
    let app = TestApp::spawn(closed).await;
    assert!(app.service.is_empty(), "no token, no service port");
    let mut open = settings(Backend::Embedded, None);
    open.service_tokens = Vec::new();
    open.service_auth = "none".into();
    let app = TestApp::spawn(open).await;
    let caller = Caller::of(&app).with_token(None);
    assert_eq!(caller.get("/v1/carts/ext/a").await.status, StatusCode::OK);
}

async fn an_ext_cart_is_created_by_its_first_add_and_changed_like_a_public_cart(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    let empty = caller.cart("ext/OB-user-1").await;
    assert_eq!(empty["cartId"], Value::Null);
    assert_eq!(empty["checkout"], Value::Null);
    let added = caller
        .post(
            "/v1/carts/ext/OB-user-1/items",
            r#"{"sku": "apple", "quantity": 2}"#,
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let line = added.json()["line"].clone();
    assert_eq!(line["sku"], "apple");
    assert_eq!(line["quantity"], 2);
    let version = added.json()["version"]
        .as_str()
        .expect("version")
        .to_string();
    let etag = added.headers["etag"].to_str().expect("etag").to_string();
    assert_eq!(etag, format!("\"{version}\""));
    let again = caller
        .post("/v1/carts/ext/OB-user-1/items", r#"{"productId": 42}"#)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let cart = caller.cart("ext/OB-user-1").await;
    assert_eq!(cart["owner"], "ext/OB-user-1");
    assert_eq!(cart["itemCount"], 2);
    assert!(cart["cartId"].is_string());
    let id = line["id"].as_u64().expect("line id");
    let path = format!("/v1/carts/ext/OB-user-1/items/{id}?quantity=5");
    let set = caller.send(Method::PUT, &path, None, &[]).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.json()["line"]["quantity"], 5);
    let too_many = caller
        .send(
            Method::PUT,
            &format!("/v1/carts/ext/OB-user-1/items/{id}?quantity=100"),
            None,
            &[],
        )
        .await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    let gone = caller
        .send(
            Method::DELETE,
            &format!("/v1/carts/ext/OB-user-1/items/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text);
    let missing = caller
        .send(
            Method::DELETE,
            &format!("/v1/carts/ext/OB-user-1/items/{id}"),
            None,
            &[],
        )
        .await;
    assert_refused(
        &missing,
        StatusCode::NOT_FOUND,
        &format!("Cart item not found: {id}"),
    );
    let unknown = caller
        .post("/v1/carts/ext/OB-user-1/items", r#"{"sku": "kiwi"}"#)
        .await;
    assert_refused(&unknown, StatusCode::NOT_FOUND, "Product not found: kiwi");
    let cleared = caller
        .send(Method::DELETE, "/v1/carts/ext/OB-user-1", None, &[])
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    let cart = caller.cart("ext/OB-user-1").await;
    assert_eq!(cart["itemCount"], 0);
    assert!(cart["cartId"].is_string(), "the cart keeps its id");
}

async fn a_user_cart_is_the_one_the_shopper_sees_both_ways(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    app.add_user("carol", PASSWORD);
    // A write creates the user's cart, which the next login merges into.
    let added = caller
        .post(
            "/v1/carts/user/carol/items",
            r#"{"sku": "banana", "quantity": 3}"#,
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let mut shopper = app.browser();
    shopper.login("carol", PASSWORD).await;
    let cart = shopper.cart().await;
    assert_eq!(items(&cart).len(), 1);
    shopper.add(42, 1).await;
    let seen = caller.cart("user/carol").await;
    assert_eq!(seen["itemCount"], 2);
    assert_eq!(quantity_of(&seen, 42), 1);
    assert_eq!(seen["cartId"], shopper.cart().await["cartId"]);
    let etag = shopper.get("/api/cart").await.headers["etag"].clone();
    assert_eq!(
        caller.get("/v1/carts/user/carol").await.headers["etag"],
        etag,
        "one version on both sides"
    );
    let unknown = caller
        .post("/v1/carts/user/nobody/items", r#"{"sku": "apple"}"#)
        .await;
    assert_refused(&unknown, StatusCode::NOT_FOUND, "User not found");
    let unknown = caller.get("/v1/carts/user/nobody").await;
    assert_refused(&unknown, StatusCode::NOT_FOUND, "User not found");
}

async fn malformed_owners_ids_and_bodies_are_400_and_write_nothing(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    let long = "x".repeat(129);
    for path in [
        "/v1/carts/shop/x".to_string(),
        format!("/v1/carts/ext/{long}"),
        "/v1/carts/ext/a%20b".to_string(),
    ] {
        let reply = caller.get(&path).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.text
        );
    }
    for body in [
        r#"{"productId": 42, "sku": "apple"}"#,
        r#"{}"#,
        r#"{"sku": 5}"#,
        r#"{"productId": 42, "quantity": 0}"#,
        r#"not json"#,
    ] {
        let reply = caller.post("/v1/carts/ext/bad/items", body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
    }
    assert_eq!(caller.cart("ext/bad").await["version"], "0");
    caller
        .post("/v1/carts/ext/bad/items", r#"{"sku": "apple"}"#)
        .await;
    for body in [r#"{"ttl": "2h"}"#, r#"{"ttl": "soon"}"#, r#"{"ttl": 5}"#] {
        let reply = caller.post("/v1/carts/ext/bad/checkout", body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
    }
    assert_eq!(caller.cart("ext/bad").await["checkout"], Value::Null);
    let claim = caller.checkout("ext/bad").await;
    let id = claim["claimId"].as_str().expect("claim id");
    for body in [
        r#"{}"#,
        r#"{"orderId": ""}"#,
        r#"{"orderId": "a b"}"#,
        r#"{"orderId": 7}"#,
    ] {
        let reply = caller
            .post(&format!("/v1/carts/ext/bad/checkout/{id}/complete"), body)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
    }
    let reply = caller.complete("ext/bad", "not%20an%20id", "o-1").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(
        items(&caller.cart("ext/bad").await).len(),
        1,
        "nothing removed"
    );
}

async fn a_claim_freezes_the_cart_on_every_route_until_it_is_completed(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    user_with_cart(&app, "dora", &[(42, 2)]).await;
    let mut shopper = app.browser();
    shopper.login("dora", PASSWORD).await;
    let line = shopper.cart().await["items"][0]["id"]
        .as_u64()
        .expect("line");
    let before = caller.cart("user/dora").await;

    let claim = caller.checkout("user/dora").await;
    assert_eq!(
        claim["version"], before["version"],
        "a claim keeps the version"
    );
    assert_eq!(claim["itemCount"], 1);
    assert_eq!(claim["total"], json!(299.98));
    assert_eq!(claim["warnings"], json!([]));
    let id = claim["claimId"].as_str().expect("claim id").to_string();
    let held = caller.cart("user/dora").await;
    assert_eq!(held["checkout"]["claimId"], id.as_str());
    assert_eq!(held["version"], before["version"]);

    // Every change, on every route set, is refused and changes nothing.
    let body = r#"{"productId": 7, "quantity": 1}"#;
    assert_refused(
        &shopper.post("/api/cart/add", body).await,
        StatusCode::CONFLICT,
        CLAIMED,
    );
    let reply = shopper.post("/cart/items", r#"{"sku": "apple"}"#).await;
    assert_refused(&reply, StatusCode::CONFLICT, CLAIMED);
    let reply = shopper.put_quantity(line, 1).await;
    assert_refused(&reply, StatusCode::CONFLICT, CLAIMED);
    let reply = shopper.remove(line).await;
    assert_refused(&reply, StatusCode::CONFLICT, CLAIMED);
    // A line that is not in the cart is 404 before the claim is 409 and a
    // stale If-Match is 412 (API.md's order).
    let missing = format!("Cart item not found: {}", line + 1);
    let reply = shopper.remove(line + 1).await;
    assert_refused(&reply, StatusCode::NOT_FOUND, &missing);
    let reply = shopper
        .put_quantity(line + 1, 1)
        .if_match("\"stale\"")
        .await;
    assert_refused(&reply, StatusCode::NOT_FOUND, &missing);
    assert_refused(&shopper.clear().await, StatusCode::CONFLICT, CLAIMED);
    let reply = caller
        .post("/v1/carts/user/dora/items", r#"{"sku": "apple"}"#)
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, CLAIMED);
    let reply = caller
        .send(Method::DELETE, "/v1/carts/user/dora", None, &[])
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, CLAIMED);
    let reply = caller.post("/v1/carts/user/dora/checkout", "").await;
    assert_refused(&reply, StatusCode::CONFLICT, CLAIMED);
    // Reads still work.
    assert_eq!(quantity_of(&shopper.cart().await, 42), 2);

    let done = caller.complete("user/dora", &id, "order-1").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let body = done.json();
    assert_eq!(body["orderId"], "order-1");
    assert_eq!(body["claimId"], id.as_str());
    assert_eq!(body["itemCount"], 1);
    assert_eq!(body["total"], json!(299.98));
    let after = caller.cart("user/dora").await;
    assert_eq!(after["itemCount"], 0);
    assert_ne!(
        after["version"], before["version"],
        "complete changes the version"
    );
    assert_eq!(after["cartId"], before["cartId"]);
    assert_eq!(after["checkout"], Value::Null);

    let again = caller.complete("user/dora", &id, "order-1").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json(), body, "the same call answers the same");
    let other = caller.complete("user/dora", &id, "order-2").await;
    assert_refused(&other, StatusCode::CONFLICT, "Checkout already completed");
    let release = caller.release("user/dora", &id).await;
    assert_refused(&release, StatusCode::CONFLICT, "Checkout already completed");
    // The cart takes changes again.
    shopper.add(7, 1).await;
    assert_eq!(caller.cart("user/dora").await["itemCount"], 1);
}

async fn a_released_claim_lets_the_cart_change_and_cannot_be_completed(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    caller
        .post("/v1/carts/ext/r1/items", r#"{"productId": 42}"#)
        .await;
    let claim = caller.checkout("ext/r1").await;
    let id = claim["claimId"].as_str().expect("claim id");
    for _ in 0..2 {
        let released = caller.release("ext/r1", id).await;
        assert_eq!(released.status, StatusCode::OK, "{}", released.text);
        assert_eq!(released.json(), json!({"released": true}));
    }
    let reply = caller
        .post("/v1/carts/ext/r1/items", r#"{"productId": 7}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let complete = caller.complete("ext/r1", id, "o-1").await;
    assert_refused(&complete, StatusCode::GONE, "Checkout claim released");
    assert_eq!(
        caller.cart("ext/r1").await["itemCount"],
        2,
        "nothing removed"
    );
}

async fn a_claim_past_its_until_ends_by_itself_and_answers_410(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    caller
        .post("/v1/carts/ext/e1/items", r#"{"productId": 42}"#)
        .await;
    let reply = caller
        .post("/v1/carts/ext/e1/checkout", r#"{"ttl": "1s"}"#)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let old = reply.json()["claimId"].as_str().expect("claim").to_string();
    let reply = caller
        .post("/v1/carts/ext/e1/items", r#"{"productId": 7}"#)
        .await;
    assert_refused(&reply, StatusCode::CONFLICT, CLAIMED);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(caller.cart("ext/e1").await["checkout"], Value::Null);
    let reply = caller
        .post("/v1/carts/ext/e1/items", r#"{"productId": 7}"#)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the cart takes changes again: {}",
        reply.text
    );
    let newer = caller.checkout("ext/e1").await;
    assert_eq!(newer["itemCount"], 2);
    let complete = caller.complete("ext/e1", &old, "o-1").await;
    assert_refused(&complete, StatusCode::GONE, "Checkout claim expired");
    let release = caller.release("ext/e1", &old).await;
    assert_refused(&release, StatusCode::GONE, "Checkout claim expired");
    assert_eq!(
        caller.cart("ext/e1").await["itemCount"],
        2,
        "nothing removed"
    );
    let id = newer["claimId"].as_str().expect("claim");
    assert_eq!(
        caller.complete("ext/e1", id, "o-2").await.status,
        StatusCode::OK
    );
}

async fn an_empty_cart_or_an_unknown_claim_is_refused(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    let reply = caller.post("/v1/carts/ext/none/checkout", "").await;
    assert_refused(&reply, StatusCode::CONFLICT, "Cart is empty");
    caller
        .post("/v1/carts/ext/one/items", r#"{"productId": 42}"#)
        .await;
    caller
        .post("/v1/carts/ext/two/items", r#"{"productId": 42}"#)
        .await;
    let claim = caller.checkout("ext/one").await;
    let id = claim["claimId"].as_str().expect("claim");
    let reply = caller.complete("ext/one", "kUnknownClaim", "o-1").await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "Checkout claim not found");
    // Another owner's claim is not found either, and changes nothing.
    let reply = caller.complete("ext/two", id, "o-1").await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "Checkout claim not found");
    let reply = caller.release("ext/none", id).await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "Checkout claim not found");
    assert_eq!(caller.cart("ext/two").await["itemCount"], 1);
}

async fn a_login_merging_into_a_claimed_cart_is_refused_and_changes_nothing(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    user_with_cart(&app, "erin", &[(42, 1)]).await;
    let claim = caller.checkout("user/erin").await;
    let mut guest = app.browser();
    guest.add(7, 2).await;
    let cookie = guest.cookie.clone();
    let reply = guest.login_reply("erin", PASSWORD).await;
    assert_refused(&reply, StatusCode::CONFLICT, CLAIMED);
    assert_eq!(guest.cookie, cookie, "the guest session is as it was");
    assert_eq!(quantity_of(&guest.cart().await, 7), 2);
    assert_eq!(caller.cart("user/erin").await["itemCount"], 1);
    let id = claim["claimId"].as_str().expect("claim");
    assert_eq!(caller.release("user/erin", id).await.status, StatusCode::OK);
    let merged = guest.login("erin", PASSWORD).await;
    assert_eq!(merged["merge"]["linesMoved"], 1);
}

async fn a_409_during_a_claim_is_not_recorded_under_its_idempotency_key(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    caller
        .post("/v1/carts/ext/k1/items", r#"{"productId": 42}"#)
        .await;
    let claim = caller.checkout("ext/k1").await;
    let key = [("idempotency-key", "add-7")];
    let body = Some(r#"{"productId": 7}"#);
    let refused = caller
        .send(Method::POST, "/v1/carts/ext/k1/items", body, &key)
        .await;
    assert_refused(&refused, StatusCode::CONFLICT, CLAIMED);
    let id = claim["claimId"].as_str().expect("claim");
    assert_eq!(caller.release("ext/k1", id).await.status, StatusCode::OK);
    let applied = caller
        .send(Method::POST, "/v1/carts/ext/k1/items", body, &key)
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    assert!(!applied.headers.contains_key("idempotent-replayed"));
    let replayed = caller
        .send(Method::POST, "/v1/carts/ext/k1/items", body, &key)
        .await;
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(caller.cart("ext/k1").await["itemCount"], 2);
}

/// Many shoppers' adds (distinct products, one each) through two replicas race
/// one claim, then complete: each answered 200 is either in the claim (and gone
/// after complete) or still in the cart; none answered 409 is anywhere.
async fn adds_racing_a_claim_across_replicas_are_claimed_or_kept_never_lost() {
    let redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis).await;
    let (ca, cb) = (Caller::of(&a), Caller::of(&b));
    ca.post("/v1/carts/ext/race/items", r#"{"productId": 1}"#)
        .await;
    let mut adds = Vec::new();
    for product in 2..=60i64 {
        let caller = if product % 2 == 0 {
            ca.clone()
        } else {
            cb.clone()
        };
        adds.push(tokio::spawn(async move {
            let body = json!({ "productId": product }).to_string();
            let reply = caller.post("/v1/carts/ext/race/items", &body).await;
            (product, reply.status)
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let claim = cb.checkout("ext/race").await;
    let mut outcomes = Vec::new();
    for add in adds {
        outcomes.push(add.await.expect("add"));
    }
    let claimed: Vec<i64> = items(&claim)
        .iter()
        .map(|item| item["productId"].as_i64().expect("product"))
        .collect();
    let id = claim["claimId"].as_str().expect("claim");
    let done = ca.complete("ext/race", id, "race-order").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let left = ca.cart("ext/race").await;
    for (product, status) in outcomes {
        let in_claim = claimed.contains(&product);
        let in_cart = quantity_of(&left, product) == 1;
        match status {
            StatusCode::OK => assert!(
                in_claim != in_cart,
                "product {product}: claimed {in_claim}, left {in_cart}"
            ),
            StatusCode::CONFLICT => assert!(!in_claim && !in_cart, "product {product}"),
            other => panic!("product {product}: {other}"),
        }
    }
    assert!(claimed.contains(&1));
}

async fn ten_concurrent_completes_across_replicas_remove_the_lines_once() {
    let redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis).await;
    let (ca, cb) = (Caller::of(&a), Caller::of(&b));
    ca.post(
        "/v1/carts/ext/ten/items",
        r#"{"productId": 42, "quantity": 3}"#,
    )
    .await;
    let claim = ca.checkout("ext/ten").await;
    let id = claim["claimId"].as_str().expect("claim").to_string();
    let mut completes = Vec::new();
    for n in 0..10 {
        let caller = if n % 2 == 0 { ca.clone() } else { cb.clone() };
        let id = id.clone();
        completes.push(tokio::spawn(async move {
            caller.complete("ext/ten", &id, "order-10").await
        }));
    }
    let mut bodies = Vec::new();
    for complete in completes {
        let reply = complete.await.expect("complete");
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        bodies.push(reply.json());
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]));
    // A line added after the claim ended is not removed by any complete.
    cb.post("/v1/carts/ext/ten/items", r#"{"productId": 42}"#)
        .await;
    assert_eq!(
        ca.complete("ext/ten", &id, "order-10").await.status,
        StatusCode::OK
    );
    let cart = ca.cart("ext/ten").await;
    assert_eq!(quantity_of(&cart, 42), 1);
}

async fn a_complete_after_redis_lost_the_claim_removes_nothing() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let caller = Caller::of(&app);
    caller
        .post("/v1/carts/ext/lost/items", r#"{"productId": 42}"#)
        .await;
    let claim = caller.checkout("ext/lost").await;
    redis.restart_empty().await;
    let reply = caller
        .post("/v1/carts/ext/lost/items", r#"{"productId": 7}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let id = claim["claimId"].as_str().expect("claim");
    let reply = caller.complete("ext/lost", id, "o-1").await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "Checkout claim not found");
    assert_eq!(quantity_of(&caller.cart("ext/lost").await, 7), 1);
}

/// A write to the service API: method, path and body.
struct Write {
    method: Method,
    path: String,
    body: Option<&'static str>,
}

async fn a_guest_cart_is_reached_by_its_cart_id_and_frozen_by_a_claim(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    app.add_user("gina", PASSWORD);
    let mut guest = app.browser();
    guest.add(42, 1).await;
    let cart_id = guest.cart().await["cartId"]
        .as_str()
        .expect("cart id")
        .to_string();
    let owner = format!("guest/{cart_id}");
    let seen = caller.cart(&owner).await;
    assert_eq!(seen["cartId"], cart_id.as_str());
    assert_eq!(quantity_of(&seen, 42), 1);
    let added = caller
        .post(&format!("/v1/carts/{owner}/items"), r#"{"sku": "apple"}"#)
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    assert_eq!(items(&guest.cart().await).len(), 2, "the shopper sees it");

    let claim = caller.checkout(&owner).await;
    assert_refused(
        &guest
            .post("/api/cart/add", r#"{"productId": 7, "quantity": 1}"#)
            .await,
        StatusCode::CONFLICT,
        CLAIMED,
    );
    let cookie = guest.cookie.clone();
    assert_refused(
        &guest.login_reply("gina", PASSWORD).await,
        StatusCode::CONFLICT,
        CLAIMED,
    );
    assert_eq!(guest.cookie, cookie, "the guest session is as it was");
    let id = claim["claimId"].as_str().expect("claim");
    assert_eq!(
        caller.complete(&owner, id, "g-1").await.status,
        StatusCode::OK
    );
    assert_eq!(items(&guest.cart().await).len(), 0);
    guest.add(7, 1).await;

    // An id that names no cart reads as empty and cannot be written.
    let nobody = caller.cart("guest/cNoSuchCart0").await;
    assert_eq!(nobody["version"], "0");
    let nowhere = "/v1/carts/guest/cNoSuchCart0";
    let writes = [
        Write {
            method: Method::POST,
            path: format!("{nowhere}/items"),
            body: Some(r#"{"sku": "apple"}"#),
        },
        Write {
            method: Method::PUT,
            path: format!("{nowhere}/items/1?quantity=2"),
            body: None,
        },
        Write {
            method: Method::DELETE,
            path: format!("{nowhere}/items/1"),
            body: None,
        },
        Write {
            method: Method::DELETE,
            path: nowhere.to_string(),
            body: None,
        },
        Write {
            method: Method::POST,
            path: format!("{nowhere}/checkout"),
            body: None,
        },
    ];
    for Write { method, path, body } in writes {
        let reply = caller.send(method, &path, body, &[]).await;
        assert_refused(&reply, StatusCode::NOT_FOUND, "Cart not found");
    }
    let reply = caller.get("/v1/carts/guest/not.an.id").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

async fn a_checkout_retried_with_its_idempotency_key_answers_the_same_claim(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let caller = Caller::of(&app);
    caller
        .post("/v1/carts/ext/idem/items", r#"{"productId": 42}"#)
        .await;
    let key = [("idempotency-key", "checkout-1")];
    let path = "/v1/carts/ext/idem/checkout";
    let first = caller.send(Method::POST, path, None, &key).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = caller.send(Method::POST, path, None, &key).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(again.json(), first.json(), "the same claim, answered again");
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..]),
        "a replay says so"
    );
    assert_eq!(again.headers.get("etag"), first.headers.get("etag"));
    // The same key asking for another ttl, or with a precondition: 422.
    for (body, headers) in [
        (
            Some(r#"{"ttl": "5m"}"#),
            vec![("idempotency-key", "checkout-1")],
        ),
        (
            None,
            vec![("idempotency-key", "checkout-1"), ("if-match", "*")],
        ),
    ] {
        let reused = caller.send(Method::POST, path, body, &headers).await;
        assert_refused(
            &reused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Idempotency-Key reused with a different request",
        );
    }
    let other = caller.send(Method::POST, path, None, &[]).await;
    assert_refused(&other, StatusCode::CONFLICT, CLAIMED);
    let id = first.json()["claimId"].as_str().expect("claim").to_string();
    assert_eq!(
        caller.complete("ext/idem", &id, "o-1").await.status,
        StatusCode::OK
    );
    let late = caller.send(Method::POST, path, None, &key).await;
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.text);
    assert_eq!(late.json()["claimId"], id.as_str());
    assert!(late.headers.get("idempotent-replayed").is_some());
    assert_eq!(
        caller.cart("ext/idem").await["itemCount"],
        0,
        "claimed nothing again"
    );
    let fresh = caller
        .send(
            Method::POST,
            path,
            None,
            &[("idempotency-key", "checkout-2")],
        )
        .await;
    assert_refused(&fresh, StatusCode::CONFLICT, "Cart is empty");
}

async fn the_checkout_and_grpc_series_are_exported_from_start_up() {
    let app = TestApp::spawn(settings(Backend::Embedded, None)).await;
    let metrics = reqwest::get(format!("{}/metrics", app.admin))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    for series in [
        r#"trolley_checkout_claims_total{outcome="claimed"}"#,
        r#"trolley_checkout_claims_total{outcome="busy"}"#,
        r#"trolley_checkout_completions_total{outcome="completed"}"#,
        r#"trolley_checkout_completions_total{outcome="expired"}"#,
        r#"trolley_checkout_releases_total{outcome="released"}"#,
        "trolley_checkout_expiries_total",
        r#"trolley_grpc_server_handled_total{grpc_method="hipstershop.CartService/AddItem",grpc_code="OK"} 0"#,
        r#"trolley_grpc_server_handling_seconds_count{grpc_method="hipstershop.CartService/AddItem"} 0"#,
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
}

/// Every touch of an `ext/` cart slides the owner's record as it slides the
/// cart, so a cart kept alive by reads never outlives the record that names it.
async fn reading_an_ext_cart_slides_its_owner_record_with_it() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let caller = Caller::of(&app);
    let added = caller
        .post("/v1/carts/ext/slider/items", r#"{"productId": 42}"#)
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let record = "trolley:{ext:slider}";
    crate::helpers::redis_cli(redis.port, &["pexpire", record, "5000"]);
    assert_eq!(quantity_of(&caller.cart("ext/slider").await, 42), 1);
    let ttl: i64 = crate::helpers::redis_cli(redis.port, &["pttl", record])
        .trim()
        .parse()
        .expect("pttl");
    assert!(ttl > 5000, "the read left the record to expire ({ttl} ms)");
}
