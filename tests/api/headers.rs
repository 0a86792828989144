//! Response headers API.md v1.1 asks of every public response, errors included.

use libtest_mimic::Trial;
use reqwest::{Method, header};

use crate::{
    both,
    helpers::{Backend, TestApp},
};

pub fn trials() -> Vec<Trial> {
    both(
        "headers::every_public_response_is_nosniff_and_shoppers_answers_are_never_cached",
        every_public_response_is_nosniff_and_shoppers_answers_are_never_cached,
    )
}

async fn every_public_response_is_nosniff_and_shoppers_answers_are_never_cached(backend: Backend) {
    let (app, _redis) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    // (method, path, body, whether the answer is a shopper's own)
    let cases = [
        (Method::GET, "/api/cart", None, true),
        (
            Method::POST,
            "/api/cart/add",
            Some(r#"{"productId": 42, "quantity": 1}"#),
            true,
        ),
        (Method::POST, "/api/cart/add", Some("not json"), true),
        (Method::PUT, "/api/cart/item/999?quantity=1", None, true),
        (Method::PATCH, "/api/cart", None, true),
        (Method::GET, "/cart", None, true),
        (
            Method::POST,
            "/cart/items",
            Some(r#"{"sku": "kiwi"}"#),
            true,
        ),
        (Method::GET, "/api/auth/me", None, true),
        (
            Method::POST,
            "/api/auth/login",
            Some(r#"{"username": "x", "password": "y"}"#),
            true,
        ),
        (Method::GET, "/api/products?limit=2", None, false),
        (Method::GET, "/api/products/999", None, false),
        (Method::GET, "/nowhere", None, false),
        (Method::GET, "/cartography", None, false),
    ];
    for (method, path, body, private) in cases {
        let reply = visitor.send(method.clone(), path, body).await;
        let nosniff = reply.headers.get(header::X_CONTENT_TYPE_OPTIONS);
        assert_eq!(
            nosniff.and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{method} {path} ({})",
            reply.status
        );
        let cache = reply
            .headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok());
        if private {
            assert_eq!(
                cache,
                Some("no-store"),
                "{method} {path} ({})",
                reply.status
            );
        } else {
            assert_ne!(cache, Some("no-store"), "{method} {path}");
        }
    }
}
