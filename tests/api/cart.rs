//! The cart contract of API.md, on every backend.

use std::collections::HashSet;

use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Browser, RedisServer, TestApp, cart_key, cart_no_of, items, line_of, quantity_of,
};

pub fn trials() -> Vec<Trial> {
    contract_suite![
        a_product_id_beyond_64_bits_is_refused_never_clamped,
        an_anonymous_get_answers_an_empty_cart_and_sets_no_cookie,
        adding_a_product_returns_the_line_and_the_cart_lists_it_with_exact_money,
        adding_an_existing_product_increments_its_line,
        invalid_adds_answer_the_contract_errors_and_change_nothing,
        a_line_past_the_max_quantity_is_refused,
        a_cart_past_the_max_lines_is_refused,
        updating_a_line_sets_its_quantity_and_checks_ownership,
        removing_a_line_checks_ownership,
        clearing_works_on_full_empty_and_absent_carts,
        each_visitor_gets_a_cart_of_their_own,
        the_minimal_api_keeps_one_cart_across_requests,
        both_route_sets_share_one_cart,
        lines_are_listed_in_the_order_they_were_first_added,
        the_session_cookie_has_the_contract_attributes,
        unknown_routes_methods_big_bodies_and_wrong_types_get_json_errors,
        the_catalog_is_paged_by_id,
    ]
}

async fn an_anonymous_get_answers_an_empty_cart_and_sets_no_cookie(backend: Backend) {
    let (app, store) = TestApp::on(backend).await;
    // On its own redis-server only: the shared Cluster counts every test's keys.
    let redis = store.redis();
    let keys_before = match redis {
        Some(redis) => Some(dbsize(redis).await),
        None => None,
    };
    let mut visitor = app.browser();
    for path in ["/api/cart", "/cart"] {
        let reply = visitor.get(path).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.set_cookie("trolley_session").is_none(),
            "{path} set a cookie"
        );
        let body = reply.json();
        let id_key = if path == "/cart" { "cart_id" } else { "cartId" };
        assert_eq!(body[id_key], json!(null));
        assert_eq!(body["items"], json!([]));
        assert_eq!(body["total"], json!(0));
    }
    assert_eq!(visitor.cart().await["itemCount"], json!(0));
    if let (Some(redis), Some(before)) = (redis, keys_before) {
        assert_eq!(
            dbsize(redis).await,
            before,
            "an anonymous GET wrote to Redis"
        );
    }
}

async fn dbsize(redis: &RedisServer) -> u64 {
    use fred::prelude::*;
    let client = redis.client().await;
    let size: u64 = client
        .custom(fred::cmd!("DBSIZE"), Vec::<String>::new())
        .await
        .expect("dbsize");
    size
}

async fn adding_a_product_returns_the_line_and_the_cart_lists_it_with_exact_money(
    backend: Backend,
) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 42, "quantity": 2}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["message"], json!("Item added to cart"));
    let item = &body["cartItem"];
    let line_id = item["id"].as_u64().expect("a positive integer id");
    assert!(line_id > 0);
    assert_eq!(item["productId"], json!(42));
    assert_eq!(item["quantity"], json!(2));
    assert!(reply.text.contains(r#""price":149.99"#), "{}", reply.text);
    let added_at = item["addedAt"].as_str().expect("addedAt");
    assert!(
        added_at.ends_with('Z') && added_at.len() == 20,
        "{added_at}"
    );

    let cart = visitor.get("/api/cart").await;
    assert!(
        cart.text.contains(r#""total":299.98"#),
        "money is not exact: {}",
        cart.text
    );
    let cart = cart.json();
    // "c" and 64 random bits in base64url.
    assert!(cart["cartId"].as_str().is_some_and(|id| id.len() == 12));
    assert_eq!(cart["itemCount"], json!(1));
    assert_eq!(
        cart["items"][0],
        json!({
            "id": line_id, "productId": 42, "sku": "BT-HEADSET", "quantity": 2, "price": 149.99,
            "addedAt": added_at, "productName": "Bluetooth audio headset",
            "productImage": "/images/products/42.jpg", "productPrice": 149.99
        })
    );
}

async fn adding_an_existing_product_increments_its_line(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let first = visitor.add(42, 1).await;
    let cart_id = visitor.cart().await["cartId"].clone();
    let second = visitor.add(42, 3).await;
    assert_eq!(first, second, "the same product keeps its line");
    let cart = visitor.cart().await;
    assert_eq!(cart["cartId"], cart_id);
    assert_eq!(quantity_of(&cart, 42), 4);
    assert_eq!(cart["itemCount"], json!(1));
    assert_eq!(cart["items"][0]["price"], json!(149.99));
}

/// An add the contract refuses: its body, the status and the JSON answer.
struct RefusedAdd {
    body: &'static str,
    status: u16,
    answer: Value,
}

async fn invalid_adds_answer_the_contract_errors_and_change_nothing(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(1, 1).await;
    let before = visitor.cart().await;
    let refused = [
        RefusedAdd {
            body: r#"{"quantity": 1}"#,
            status: 400,
            answer: json!({"productId": "Product ID is required"}),
        },
        RefusedAdd {
            body: r#"{"productId": null, "quantity": 1}"#,
            status: 400,
            answer: json!({"productId": "Product ID is required"}),
        },
        RefusedAdd {
            body: r#"{"productId": 42}"#,
            status: 400,
            answer: json!({"quantity": "Quantity is required"}),
        },
        RefusedAdd {
            body: r#"{"productId": 42, "quantity": 0}"#,
            status: 400,
            answer: json!({"quantity": "Quantity must be at least 1"}),
        },
        RefusedAdd {
            body: r#"{"productId": 42, "quantity": -3}"#,
            status: 400,
            answer: json!({"quantity": "Quantity must be at least 1"}),
        },
        RefusedAdd {
            body: r#"{"productId": 42, "quantity": 100}"#,
            status: 400,
            answer: json!({"quantity": "Quantity must be at most 99"}),
        },
        RefusedAdd {
            body: r#"{}"#,
            status: 400,
            answer: json!({"productId": "Product ID is required", "quantity": "Quantity is required"}),
        },
        RefusedAdd {
            body: r#"{"quantity": 0}"#,
            status: 400,
            answer: json!({"productId": "Product ID is required", "quantity": "Quantity must be at least 1"}),
        },
        RefusedAdd {
            body: r#"{"productId": 999, "quantity": 1}"#,
            status: 404,
            answer: json!({"error": "Product not found: 999"}),
        },
    ];
    for RefusedAdd {
        body,
        status,
        answer,
    } in refused
    {
        let reply = visitor.post("/api/cart/add", body).await;
        assert_eq!(reply.status.as_u16(), status, "{body} → {}", reply.text);
        assert_eq!(reply.json(), answer, "{body}");
    }
    for body in [
        r#"{"productId": "42", "quantity": 1}"#,
        r#"{"productId": 42, "quantity": "two"}"#,
        r#"{"productId": 42, "quantity": 1.5}"#,
        r#"{"productId": 42, "quantity": 1"#,
        r#"[42, 1]"#,
        "not json",
    ] {
        let reply = visitor.post("/api/cart/add", body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body} → {}",
            reply.text
        );
        assert!(reply.json()["error"].is_string(), "{body} → {}", reply.text);
    }
    assert_eq!(
        visitor.cart().await,
        before,
        "a refused add changed the cart"
    );
}

async fn a_line_past_the_max_quantity_is_refused(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(42, 98).await;
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 42, "quantity": 2}"#)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"quantity": "Quantity must be at most 99"})
    );
    assert_eq!(quantity_of(&visitor.cart().await, 42), 98);
    visitor.add(42, 1).await;
    assert_eq!(quantity_of(&visitor.cart().await, 42), 99);
}

async fn a_cart_past_the_max_lines_is_refused(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    for product in 1..=100 {
        visitor.add(product, 1).await;
    }
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 101, "quantity": 1}"#)
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(reply.json(), json!({"error": "Cart is full (100 lines)"}));
    // An existing line can still grow.
    visitor.add(100, 1).await;
    let cart = visitor.cart().await;
    assert_eq!(cart["itemCount"], json!(100));
    assert_eq!(quantity_of(&cart, 101), 0);

    // The limits are settings.
    let store = backend.start().await;
    let mut small = store.settings();
    small.max_lines = 2;
    small.max_quantity = 5;
    let app = TestApp::spawn(small).await;
    let mut visitor = app.browser();
    visitor.add(1, 5).await;
    visitor.add(2, 1).await;
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 3, "quantity": 1}"#)
        .await;
    assert_eq!(reply.json(), json!({"error": "Cart is full (2 lines)"}));
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 2, "quantity": 5}"#)
        .await;
    assert_eq!(
        reply.json(),
        json!({"quantity": "Quantity must be at most 5"})
    );
}

/// An update the contract refuses: its path, the status and the JSON answer.
struct RefusedUpdate {
    path: String,
    status: u16,
    answer: Value,
}

async fn updating_a_line_sets_its_quantity_and_checks_ownership(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut alice = app.browser();
    let mut bob = app.browser();
    let line = alice.add(42, 1).await;
    let bobs_line = bob.add(1, 1).await;

    let reply = alice.put_quantity(line, 7).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["message"], json!("Cart item updated"));
    assert_eq!(body["cartItem"]["id"], json!(line));
    assert_eq!(body["cartItem"]["quantity"], json!(7));
    assert_eq!(body["cartItem"]["price"], json!(149.99));

    let refused = [
        RefusedUpdate {
            path: format!("/api/cart/item/{line}"),
            status: 400,
            answer: json!({"error": "Quantity must be at least 1"}),
        },
        RefusedUpdate {
            path: format!("/api/cart/item/{line}?quantity=0"),
            status: 400,
            answer: json!({"error": "Quantity must be at least 1"}),
        },
        RefusedUpdate {
            path: format!("/api/cart/item/{line}?quantity=100"),
            status: 400,
            answer: json!({"error": "Quantity must be at most 99"}),
        },
        RefusedUpdate {
            path: format!("/api/cart/item/{bobs_line}?quantity=2"),
            status: 403,
            answer: json!({"error": "Unauthorized access to cart item"}),
        },
        RefusedUpdate {
            path: "/api/cart/item/424242?quantity=2".to_string(),
            status: 404,
            answer: json!({"error": "Cart item not found: 424242"}),
        },
    ];
    for RefusedUpdate {
        path,
        status,
        answer,
    } in refused
    {
        let reply = alice.put(&path).await;
        assert_eq!(reply.status.as_u16(), status, "{path}: {}", reply.text);
        assert_eq!(reply.json(), answer, "{path}");
    }
    for malformed in ["abc", "0", "-4"] {
        let reply = alice.put_quantity(malformed, 2).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "line {malformed}");
        assert!(reply.json()["error"].is_string());
    }
    let reply = alice.put_quantity(line, "x").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // A visitor without a session: another cart's line is still 403.
    let mut stranger = app.browser();
    let reply = stranger.put_quantity(line, 2).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(quantity_of(&alice.cart().await, 42), 7);
    assert_eq!(quantity_of(&bob.cart().await, 1), 1);
}

async fn removing_a_line_checks_ownership(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut alice = app.browser();
    let mut bob = app.browser();
    let line = alice.add(42, 1).await;
    let second = alice.add(1, 1).await;
    let bobs_line = bob.add(1, 1).await;

    let reply = alice.remove(bobs_line).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.json(),
        json!({"error": "Unauthorized access to cart item"})
    );
    let reply = alice.remove(line).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"success": true, "message": "Item removed from cart"})
    );
    let reply = alice.remove(line).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({"error": format!("Cart item not found: {line}")})
    );
    let reply = alice.remove("nope").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let cart = alice.cart().await;
    assert_eq!(cart["itemCount"], json!(1));
    assert_eq!(quantity_of(&cart, 1), 1);
    assert_eq!(
        line_of(&cart, 1)["id"],
        json!(second),
        "the other line is kept"
    );
    let bobs_cart = bob.cart().await;
    assert_eq!(bobs_cart["itemCount"], json!(1));
    assert_eq!(quantity_of(&bobs_cart, 1), 1, "bob's line is intact");
    // A product added again after removal gets a new line.
    let again = alice.add(42, 1).await;
    assert_ne!(again, line);
}

async fn clearing_works_on_full_empty_and_absent_carts(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let cleared = json!({"success": true, "message": "Cart cleared"});
    let reply = visitor.clear().await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, cleared.clone())
    );
    assert!(reply.set_cookie("trolley_session").is_none());
    let first_line = visitor.add(42, 2).await;
    let last_line = visitor.add(1, 1).await;
    let cart_id = visitor.cart().await["cartId"].clone();
    let reply = visitor.clear().await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, cleared.clone())
    );
    let cart = visitor.cart().await;
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["cartId"], cart_id, "the cart keeps its id");
    let reply = visitor.clear().await;
    assert_eq!((reply.status, reply.json()), (StatusCode::OK, cleared));
    // Line ids are never reused within a cart: they only grow.
    let again = visitor.add(42, 1).await;
    assert_ne!(again, first_line);
    assert!(again > last_line, "{again} after {last_line}");
}

/// Twelve visitors, twelve carts, each with its own line only; on a Cluster
/// those carts live in many slots, on more than one master.
async fn each_visitor_gets_a_cart_of_their_own(backend: Backend) {
    let (app, store) = TestApp::on(backend).await;
    let mut cart_ids = HashSet::new();
    let mut lines = Vec::new();
    for product in 1..=12 {
        let mut visitor = app.browser();
        lines.push(visitor.add(product, 1).await);
        let cart = visitor.cart().await;
        assert_eq!(items(&cart).len(), 1, "{cart}");
        assert_eq!(quantity_of(&cart, product), 1, "{cart}");
        let id = cart["cartId"].as_str().expect("cart id").to_string();
        assert!(cart_ids.insert(id), "two visitors share a cart: {cart}");
    }
    if let Some(cluster) = store.cluster() {
        let masters: HashSet<u16> = lines
            .iter()
            .map(|&line| {
                let key = cart_key(cart_no_of(line));
                cluster
                    .master_holding(&key)
                    .unwrap_or_else(|| panic!("no master holds {key}"))
            })
            .collect();
        assert!(
            masters.len() >= 2,
            "every cart landed on one master: not a cluster test"
        );
    }
}

async fn the_minimal_api_keeps_one_cart_across_requests(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    // Like Python's requests.Session(): a client with a cookie jar.
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let post = |sku: &'static str| {
        let client = client.clone();
        let url = format!("{}/cart/items", app.base);
        async move {
            let reply = client
                .post(url)
                .json(&json!({"sku": sku}))
                .send()
                .await
                .expect("post");
            assert_eq!(reply.status(), StatusCode::OK);
            reply.json::<serde_json::Value>().await.expect("json")
        }
    };
    let first = post("apple").await;
    let second = post("banana").await;
    let cart_id = first["cart_id"].as_str().expect("cart_id").to_string();
    assert_eq!(second["cart_id"], json!(cart_id));
    assert_eq!(first["items"][0]["sku"], json!("apple"));
    assert_eq!(first["items"][0]["quantity"], json!(1));
    assert_eq!(first["items"][0]["price"], json!(0.5));
    assert_eq!(first["total"], json!(0.5));
    let get_cart = || async {
        client
            .get(format!("{}/cart", app.base))
            .send()
            .await
            .expect("get")
            .json::<serde_json::Value>()
            .await
            .expect("json")
    };
    let cart = get_cart().await;
    assert_eq!(cart["cart_id"], json!(cart_id));
    let mut skus: Vec<&str> = cart["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["sku"].as_str().expect("sku"))
        .collect();
    skus.sort();
    assert_eq!(skus, ["apple", "banana"]);
    assert_eq!(cart["total"], json!(0.75));

    let reply = client
        .post(format!("{}/cart/items", app.base))
        .json(&json!({"sku": "kiwi"}))
        .send()
        .await
        .expect("post");
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json::<serde_json::Value>().await.expect("json"),
        json!({"error": "Product not found: kiwi"})
    );
    let reply = client
        .post(format!("{}/cart/items", app.base))
        .json(&json!({"sku": "apple", "quantity": 3}))
        .send()
        .await
        .expect("post");
    let body: serde_json::Value = reply.json().await.expect("json");
    let apples = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["sku"] == "apple")
        .cloned();
    assert_eq!(apples.expect("apple line")["quantity"], json!(4));
    // The answer is the cart the add produced: every line, as the next GET has it.
    let after = get_cart().await;
    assert_eq!(body, after);
    let reply = client
        .post(format!("{}/cart/items", app.base))
        .json(&json!({"sku": "apple", "quantity": 96}))
        .send()
        .await
        .expect("post");
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json::<serde_json::Value>().await.expect("json"),
        json!({"error": "Quantity must be at most 99"})
    );
}

async fn both_route_sets_share_one_cart(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let minimal = visitor
        .post("/cart/items", r#"{"sku": "banana", "quantity": 2}"#)
        .await
        .json();
    visitor.add(42, 1).await;
    let cart = visitor.cart().await;
    assert_eq!(cart["cartId"], minimal["cart_id"]);
    assert_eq!(quantity_of(&cart, 2), 2);
    let minimal = visitor.get("/cart").await.json();
    assert_eq!(minimal["items"].as_array().expect("items").len(), 2);
    assert!(
        visitor
            .get("/cart")
            .await
            .text
            .contains(r#""total":150.49"#)
    );
}

async fn lines_are_listed_in_the_order_they_were_first_added(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    for product in [7, 3, 42, 5] {
        visitor.add(product, 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    visitor.add(3, 1).await;
    let cart = visitor.cart().await;
    let order: Vec<i64> = cart["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["productId"].as_i64().expect("id"))
        .collect();
    assert_eq!(order, [7, 3, 42, 5]);
}

async fn the_session_cookie_has_the_contract_attributes(backend: Backend) {
    let store = backend.start().await;
    let mut custom = store.settings();
    custom.cookie_name = "shop_sid".into();
    custom.cookie_secure = true;
    custom.session_ttl = std::time::Duration::from_secs(600);
    let app = TestApp::spawn(custom).await;
    let mut visitor = Browser::new(&app.base);
    visitor.cookie_name = "shop_sid".into();
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 1, "quantity": 1}"#)
        .await;
    let cookie = reply.set_cookie("shop_sid").expect("a session cookie");
    let lower = cookie.to_ascii_lowercase();
    for attribute in ["httponly", "samesite=lax", "path=/", "secure"] {
        assert!(lower.contains(attribute), "{attribute} missing in {cookie}");
    }
    let max_age: u64 = lower
        .split("max-age=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|v| v.trim().parse().ok())
        .expect("a Max-Age");
    assert!(
        (595..=600).contains(&max_age),
        "Max-Age {max_age} is not the session TTL"
    );
    // The default is not Secure (plain-HTTP development), and is named trolley_session.
    let (app, _store) = TestApp::on(backend).await;
    let reply = app
        .browser()
        .post("/api/cart/add", r#"{"productId": 1, "quantity": 1}"#)
        .await;
    let cookie = reply.set_cookie("trolley_session").expect("default cookie");
    assert!(!cookie.to_ascii_lowercase().contains("secure"), "{cookie}");
}

async fn unknown_routes_methods_big_bodies_and_wrong_types_get_json_errors(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(42, 1).await;
    let before = visitor.cart().await;

    let reply = visitor.get("/api/nothing-here").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.json()["error"].is_string());
    let reply = visitor
        .send(reqwest::Method::PATCH, "/api/cart", None)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.json()["error"].is_string());
    let reply = visitor.get("/api/cart/add").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);

    let big = format!(
        r#"{{"productId": 1, "quantity": 1, "pad": "{}"}}"#,
        "x".repeat(17 * 1024)
    );
    let reply = visitor.post("/api/cart/add", &big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.json()["error"].is_string());

    let client = reqwest::Client::new();
    let reply = client
        .post(format!("{}/api/cart/add", app.base))
        .header("content-type", "text/plain")
        .header(
            "cookie",
            format!(
                "trolley_session={}",
                visitor.cookie.clone().unwrap_or_default()
            ),
        )
        .body(r#"{"productId": 1, "quantity": 1}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(reply.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = reply.json().await.expect("json");
    assert!(body["error"].is_string());
    assert_eq!(visitor.cart().await, before, "an error changed the cart");
}

async fn the_catalog_is_paged_by_id(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let page = visitor.get("/api/products?offset=0&limit=50").await.json();
    let total = page["total"].as_u64().expect("total");
    assert!(total >= 120);
    let ids: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 50);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");
    let next = visitor
        .get("/api/products?offset=50&limit=200")
        .await
        .json();
    assert_eq!(
        next["items"].as_array().expect("items").len() as u64,
        total - 50
    );
    assert!(next["items"][0]["id"].as_i64() > ids.last().copied());
    let reply = visitor.get("/api/products?limit=201").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["error"].is_string());
    assert_eq!(
        visitor.get("/api/products?limit=-1").await.status,
        StatusCode::BAD_REQUEST
    );
    let reply = visitor.get("/api/products/42").await;
    assert_eq!(
        reply.json(),
        json!({"id": 42, "sku": "BT-HEADSET", "name": "Bluetooth audio headset", "price": 149.99, "image": "/images/products/42.jpg"})
    );
    let reply = visitor.get("/api/products/999").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json(), json!({"error": "Product not found: 999"}));
    assert!(reply.set_cookie("trolley_session").is_none());
}

async fn a_product_id_beyond_64_bits_is_refused_never_clamped(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    for id in ["9223372036854775808", "18446744073709551615"] {
        let reply = visitor
            .post(
                "/api/cart/add",
                &format!(r#"{{"productId": {id}, "quantity": 1}}"#),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{id}: {}",
            reply.text
        );
        assert_eq!(reply.json(), json!({"error": "productId is out of range"}));
    }
    // The largest id that can exist is looked up like any other.
    let reply = visitor
        .post(
            "/api/cart/add",
            r#"{"productId": 9223372036854775807, "quantity": 1}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({"error": "Product not found: 9223372036854775807"})
    );
    assert!(visitor.cookie.is_none(), "a refused add created a session");
}
