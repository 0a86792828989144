//! Response headers API.md v1.1 asks of every public response, errors included.

use libtest_mimic::Trial;
use reqwest::{Method, header};

use crate::helpers::{Backend, TestApp};

pub fn trials() -> Vec<Trial> {
    contract_suite![every_public_response_is_nosniff_and_shoppers_answers_are_never_cached]
}

/// A request, and whether its answer is the shopper's own (so never cached).
struct Case {
    method: Method,
    path: &'static str,
    body: Option<&'static str>,
    shoppers_own: bool,
}

/// A request whose answer is the shopper's own.
fn shoppers(method: Method, path: &'static str, body: Option<&'static str>) -> Case {
    Case {
        method,
        path,
        body,
        shoppers_own: true,
    }
}

/// A `GET` whose answer is everyone's.
fn public(path: &'static str) -> Case {
    Case {
        method: Method::GET,
        path,
        body: None,
        shoppers_own: false,
    }
}

async fn every_public_response_is_nosniff_and_shoppers_answers_are_never_cached(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut visitor = app.browser();
    let cases = [
        shoppers(Method::GET, "/api/cart", None),
        shoppers(
            Method::POST,
            "/api/cart/add",
            Some(r#"{"productId": 42, "quantity": 1}"#),
        ),
        shoppers(Method::POST, "/api/cart/add", Some("not json")),
        shoppers(Method::PUT, "/api/cart/item/999?quantity=1", None),
        shoppers(Method::PATCH, "/api/cart", None),
        shoppers(Method::GET, "/cart", None),
        shoppers(Method::POST, "/cart/items", Some(r#"{"sku": "kiwi"}"#)),
        shoppers(Method::GET, "/api/auth/me", None),
        shoppers(
            Method::POST,
            "/api/auth/login",
            Some(r#"{"username": "x", "password": "y"}"#),
        ),
        public("/api/products?limit=2"),
        public("/api/products/999"),
        public("/nowhere"),
        public("/cartography"),
    ];
    for Case {
        method,
        path,
        body,
        shoppers_own,
    } in cases
    {
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
        if shoppers_own {
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
