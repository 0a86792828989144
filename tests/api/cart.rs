//! The cart contract of API.md, run against both stores.

use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, Browser, TestApp, quantity_of, settings},
};

pub fn trials() -> Vec<Trial> {
    [
        both(
            "a_product_id_beyond_64_bits_is_refused_never_clamped",
            a_product_id_beyond_64_bits_is_refused_never_clamped,
        ),
        both(
            "an_anonymous_get_answers_an_empty_cart_and_sets_no_cookie",
            an_anonymous_get_answers_an_empty_cart_and_sets_no_cookie,
        ),
        both(
            "adding_a_product_returns_the_line_and_the_cart_lists_it_with_exact_money",
            adding_a_product_returns_the_line_and_the_cart_lists_it_with_exact_money,
        ),
        both(
            "adding_an_existing_product_increments_its_line",
            adding_an_existing_product_increments_its_line,
        ),
        both(
            "invalid_adds_answer_the_contract_errors_and_change_nothing",
            invalid_adds_answer_the_contract_errors_and_change_nothing,
        ),
        both(
            "a_line_past_the_max_quantity_is_refused",
            a_line_past_the_max_quantity_is_refused,
        ),
        both(
            "a_cart_past_the_max_lines_is_refused",
            a_cart_past_the_max_lines_is_refused,
        ),
        both(
            "updating_a_line_sets_its_quantity_and_checks_ownership",
            updating_a_line_sets_its_quantity_and_checks_ownership,
        ),
        both(
            "removing_a_line_checks_ownership",
            removing_a_line_checks_ownership,
        ),
        both(
            "clearing_works_on_full_empty_and_absent_carts",
            clearing_works_on_full_empty_and_absent_carts,
        ),
        both(
            "the_minimal_api_keeps_one_cart_across_requests",
            the_minimal_api_keeps_one_cart_across_requests,
        ),
        both(
            "both_route_sets_share_one_cart",
            both_route_sets_share_one_cart,
        ),
        both(
            "lines_are_listed_in_the_order_they_were_first_added",
            lines_are_listed_in_the_order_they_were_first_added,
        ),
        both(
            "the_session_cookie_has_the_contract_attributes",
            the_session_cookie_has_the_contract_attributes,
        ),
        both(
            "unknown_routes_methods_big_bodies_and_wrong_types_get_json_errors",
            unknown_routes_methods_big_bodies_and_wrong_types_get_json_errors,
        ),
        both("the_catalog_is_paged_by_id", the_catalog_is_paged_by_id),
    ]
    .into_iter()
    .flatten()
    .collect()
}

async fn an_anonymous_get_answers_an_empty_cart_and_sets_no_cookie(backend: Backend) {
    let (app, redis) = TestApp::on(backend).await;
    let keys_before = match &redis {
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
    if let (Some(redis), Some(before)) = (&redis, keys_before) {
        assert_eq!(
            dbsize(redis).await,
            before,
            "an anonymous GET wrote to Redis"
        );
    }
}

async fn dbsize(redis: &crate::helpers::RedisServer) -> u64 {
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
    let (app, _redis) = TestApp::on(backend).await;
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
    let (app, _redis) = TestApp::on(backend).await;
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

async fn invalid_adds_answer_the_contract_errors_and_change_nothing(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    visitor.add(1, 1).await;
    let before = visitor.cart().await;
    let cases: Vec<(&str, Option<&str>, u16, serde_json::Value)> = vec![
        (
            r#"{"quantity": 1}"#,
            None,
            400,
            json!({"productId": "Product ID is required"}),
        ),
        (
            r#"{"productId": null, "quantity": 1}"#,
            None,
            400,
            json!({"productId": "Product ID is required"}),
        ),
        (
            r#"{"productId": 42}"#,
            None,
            400,
            json!({"quantity": "Quantity is required"}),
        ),
        (
            r#"{"productId": 42, "quantity": 0}"#,
            None,
            400,
            json!({"quantity": "Quantity must be at least 1"}),
        ),
        (
            r#"{"productId": 42, "quantity": -3}"#,
            None,
            400,
            json!({"quantity": "Quantity must be at least 1"}),
        ),
        (
            r#"{"productId": 42, "quantity": 100}"#,
            None,
            400,
            json!({"quantity": "Quantity must be at most 99"}),
        ),
        (
            r#"{}"#,
            None,
            400,
            json!({"productId": "Product ID is required", "quantity": "Quantity is required"}),
        ),
        (
            r#"{"quantity": 0}"#,
            None,
            400,
            json!({"productId": "Product ID is required", "quantity": "Quantity must be at least 1"}),
        ),
        (
            r#"{"productId": 999, "quantity": 1}"#,
            None,
            404,
            json!({"error": "Product not found: 999"}),
        ),
    ];
    for (body, _, status, expected) in cases {
        let reply = visitor.post("/api/cart/add", body).await;
        assert_eq!(reply.status.as_u16(), status, "{body} → {}", reply.text);
        assert_eq!(reply.json(), expected, "{body}");
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
    let (app, _redis) = TestApp::on(backend).await;
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
    let (app, _redis) = TestApp::on(backend).await;
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
    let redis = match backend {
        Backend::Redis => Some(crate::helpers::RedisServer::start().await),
        Backend::Embedded => None,
    };
    let mut small = settings(backend, redis.as_ref());
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

async fn updating_a_line_sets_its_quantity_and_checks_ownership(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut alice = app.browser();
    let mut bob = app.browser();
    let line = alice.add(42, 1).await;
    let bobs_line = bob.add(1, 1).await;

    let reply = alice
        .put(&format!("/api/cart/item/{line}?quantity=7"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["message"], json!("Cart item updated"));
    assert_eq!(body["cartItem"]["id"], json!(line));
    assert_eq!(body["cartItem"]["quantity"], json!(7));
    assert_eq!(body["cartItem"]["price"], json!(149.99));

    let errors = [
        (
            format!("/api/cart/item/{line}"),
            400,
            json!({"error": "Quantity must be at least 1"}),
        ),
        (
            format!("/api/cart/item/{line}?quantity=0"),
            400,
            json!({"error": "Quantity must be at least 1"}),
        ),
        (
            format!("/api/cart/item/{line}?quantity=100"),
            400,
            json!({"error": "Quantity must be at most 99"}),
        ),
        (
            format!("/api/cart/item/{bobs_line}?quantity=2"),
            403,
            json!({"error": "Unauthorized access to cart item"}),
        ),
        (
            "/api/cart/item/424242?quantity=2".to_string(),
            404,
            json!({"error": "Cart item not found: 424242"}),
        ),
    ];
    for (path, status, expected) in errors {
        let reply = alice.put(&path).await;
        assert_eq!(reply.status.as_u16(), status, "{path}: {}", reply.text);
        assert_eq!(reply.json(), expected, "{path}");
    }
    for path in [
        "/api/cart/item/abc?quantity=2",
        "/api/cart/item/0?quantity=2",
        "/api/cart/item/-4?quantity=2",
    ] {
        let reply = alice.put(path).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(reply.json()["error"].is_string());
    }
    let reply = alice
        .put(&format!("/api/cart/item/{line}?quantity=x"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // A visitor without a session: another cart's line is still 403.
    let mut stranger = app.browser();
    let reply = stranger
        .put(&format!("/api/cart/item/{line}?quantity=2"))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(quantity_of(&alice.cart().await, 42), 7);
    assert_eq!(quantity_of(&bob.cart().await, 1), 1);
}

async fn removing_a_line_checks_ownership(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut alice = app.browser();
    let mut bob = app.browser();
    let line = alice.add(42, 1).await;
    alice.add(1, 1).await;
    let bobs_line = bob.add(1, 1).await;

    let reply = alice.delete(&format!("/api/cart/item/{bobs_line}")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.json(),
        json!({"error": "Unauthorized access to cart item"})
    );
    let reply = alice.delete(&format!("/api/cart/item/{line}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"success": true, "message": "Item removed from cart"})
    );
    let reply = alice.delete(&format!("/api/cart/item/{line}")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({"error": format!("Cart item not found: {line}")})
    );
    let reply = alice.delete("/api/cart/item/nope").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let cart = alice.cart().await;
    assert_eq!(cart["itemCount"], json!(1));
    assert_eq!(quantity_of(&cart, 1), 1);
    assert_eq!(bob.cart().await["itemCount"], json!(1));
    // A product added again after removal gets a new line.
    let again = alice.add(42, 1).await;
    assert_ne!(again, line);
}

async fn clearing_works_on_full_empty_and_absent_carts(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let cleared = json!({"success": true, "message": "Cart cleared"});
    let reply = visitor.delete("/api/cart").await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, cleared.clone())
    );
    assert!(reply.set_cookie("trolley_session").is_none());
    let first_line = visitor.add(42, 2).await;
    visitor.add(1, 1).await;
    let cart_id = visitor.cart().await["cartId"].clone();
    let reply = visitor.delete("/api/cart").await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, cleared.clone())
    );
    let cart = visitor.cart().await;
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["cartId"], cart_id, "the cart keeps its id");
    let reply = visitor.delete("/api/cart").await;
    assert_eq!((reply.status, reply.json()), (StatusCode::OK, cleared));
    // Line ids are never reused within a cart.
    assert_ne!(visitor.add(42, 1).await, first_line);
}

async fn the_minimal_api_keeps_one_cart_across_requests(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
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
    let (app, _redis) = TestApp::on(backend).await;
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
    let (app, _redis) = TestApp::on(backend).await;
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
    let redis = match backend {
        Backend::Redis => Some(crate::helpers::RedisServer::start().await),
        Backend::Embedded => None,
    };
    let mut custom = settings(backend, redis.as_ref());
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
    let (app, _redis) = TestApp::on(backend).await;
    let reply = app
        .browser()
        .post("/api/cart/add", r#"{"productId": 1, "quantity": 1}"#)
        .await;
    let cookie = reply.set_cookie("trolley_session").expect("default cookie");
    assert!(!cookie.to_ascii_lowercase().contains("secure"), "{cookie}");
}

async fn unknown_routes_methods_big_bodies_and_wrong_types_get_json_errors(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
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
    let (app, _redis) = TestApp::on(backend).await;
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
    let (app, _redis) = TestApp::on(backend).await;
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
