//! The storefront's server side (API.md v1.2 "Storefront"): `GET /` and
//! `GET /api/docs` serve compiled-in files under a strict CSP, on by default
//! with the embedded store and with Redis only when `TROLLEY_STOREFRONT=true`.
//! The page itself is driven in a real browser by `tests/browser/` (.ci/browser.sh).

use libtest_mimic::Trial;
use reqwest::{StatusCode, header};

use crate::helpers::{Backend, Browser, RedisServer, Reply, TestApp, settings};

pub fn trials() -> Vec<Trial> {
    tests![
        the_page_and_its_assets_are_served_with_honest_types_and_a_strict_csp,
        every_file_the_pages_name_is_served,
        the_page_shows_money_as_the_api_wrote_it_and_computes_none,
        it_is_off_by_default_on_redis_and_on_when_asked,
        switched_off_the_pages_answer_the_json_404,
    ]
}

/// A storefront file and the content type it is served with.
struct File {
    path: &'static str,
    content_type: &'static str,
}

impl File {
    const fn new(path: &'static str, content_type: &'static str) -> File {
        File { path, content_type }
    }
}

/// Every storefront file.
const FILES: [File; 9] = [
    File::new("/", "text/html; charset=utf-8"),
    File::new("/storefront/app.js", "text/javascript; charset=utf-8"),
    File::new("/storefront/app.css", "text/css; charset=utf-8"),
    File::new("/favicon.svg", "image/svg+xml"),
    File::new("/images/products/42.jpg", "image/svg+xml"),
    File::new("/api/docs", "text/html; charset=utf-8"),
    File::new("/api/docs/docs.js", "text/javascript; charset=utf-8"),
    File::new(
        "/api/docs/swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
    ),
    File::new("/api/docs/swagger-ui.css", "text/css; charset=utf-8"),
];

fn text(reply: &Reply, name: header::HeaderName) -> &str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn assert_not_found(reply: &Reply, path: &str) {
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    assert_eq!(reply.text, r#"{"error":"Not found"}"#, "{path}");
}

async fn the_page_and_its_assets_are_served_with_honest_types_and_a_strict_csp() {
    let app = TestApp::spawn(settings(Backend::Embedded, None)).await;
    let mut visitor = app.browser();
    for File { path, content_type } in FILES {
        let reply = visitor.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(text(&reply, header::CONTENT_TYPE), content_type, "{path}");
        assert_eq!(text(&reply, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        let csp = text(&reply, header::CONTENT_SECURITY_POLICY);
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert!(!reply.text.is_empty(), "{path}");
        // Reading a page starts no session.
        assert!(reply.set_cookie("trolley_session").is_none(), "{path}");
    }
    let page = visitor.get("/").await.text;
    for hook in [
        "login-username",
        "login-password",
        "login-submit",
        "signed-in-as",
        "logout",
        "merge-report",
        "error",
        "cart-total",
        "cart-count",
        "clear-cart",
    ] {
        assert!(page.contains(&format!("data-testid=\"{hook}\"")), "{hook}");
    }
    assert!(!page.contains("<script>") && !page.contains("style="));
    // A product image of the demo catalog is a placeholder drawn for it; any
    // other name under /images is the JSON 404.
    let image = visitor.get("/images/products/42.jpg").await;
    assert!(image.text.starts_with("<svg") && image.text.contains("#42"));
    for path in ["/images/products/x.jpg", "/images/products/42.png"] {
        assert_not_found(&visitor.get(path).await, path);
    }
}

/// Each `src` and `href` of the two pages that points at this origin answers
/// 200: the page loads with no failed request.
async fn every_file_the_pages_name_is_served() {
    let app = TestApp::spawn(settings(Backend::Embedded, None)).await;
    let mut visitor = app.browser();
    for page in ["/", "/api/docs"] {
        let html = visitor.get(page).await.text;
        let links: Vec<&str> = html
            .split(['"', '\''])
            .filter(|part| part.starts_with('/') && !part.starts_with("//"))
            .collect();
        assert!(links.len() >= 3, "{page}: {links:?}");
        for link in links {
            let reply = visitor.get(link).await;
            assert_eq!(reply.status, StatusCode::OK, "{page} names {link}");
        }
    }
}

/// API.md: totals are the API's, never summed in the page. The script keeps
/// money as the source digits of the JSON and has no arithmetic helpers.
async fn the_page_shows_money_as_the_api_wrote_it_and_computes_none() {
    let app = TestApp::spawn(settings(Backend::Embedded, None)).await;
    let script = app.browser().get("/storefront/app.js").await.text;
    assert!(
        script.contains("context.source"),
        "money is kept as written"
    );
    for arithmetic in [
        "reduce(",
        "parseFloat",
        "toFixed",
        "Math.round",
        "+= item",
        "* item",
    ] {
        assert!(!script.contains(arithmetic), "app.js uses {arithmetic}");
    }
    assert!(script.contains("\"Idempotency-Key\""));
    assert!(script.contains("crypto.randomUUID()"));
}

async fn it_is_off_by_default_on_redis_and_on_when_asked() {
    let redis = RedisServer::start().await;
    let off = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut asked = settings(Backend::Redis, Some(&redis));
    asked.storefront = Some(true);
    let on = TestApp::spawn(asked).await;
    for File { path, .. } in FILES {
        assert_not_found(&off.browser().get(path).await, path);
        let reply = on.browser().get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    // The API is the same either way.
    let mut visitor = Browser::new(&off.base);
    assert_eq!(visitor.get("/api/cart").await.status, StatusCode::OK);
}

async fn switched_off_the_pages_answer_the_json_404() {
    let mut config = settings(Backend::Embedded, None);
    config.storefront = Some(false);
    let app = TestApp::spawn(config).await;
    let mut visitor = app.browser();
    for File { path, .. } in FILES {
        assert_not_found(&visitor.get(path).await, path);
    }
    assert_eq!(
        visitor.get("/api/openapi.json").await.status,
        StatusCode::OK
    );
}
