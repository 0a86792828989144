//! The OpenAPI document is generated from the code (`GET /api/openapi.json`):
//! it describes every route API.md names, every route the router serves, and
//! the configured limits. The storefront's pages are not API routes: they are
//! listed here and kept out of the document.

use libtest_mimic::Trial;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, settings};

pub fn trials() -> Vec<Trial> {
    tests![the_served_openapi_document_describes_every_route_and_the_limits,]
}

/// A documented operation: its method (lower case, as the document's keys are)
/// and its path template.
#[derive(PartialEq)]
struct Route {
    method: &'static str,
    path: &'static str,
}

impl Route {
    const fn new(method: &'static str, path: &'static str) -> Route {
        Route { method, path }
    }
}

/// The public routes of API.md v1.1.
const CONTRACT: [Route; 13] = [
    Route::new("get", "/api/cart"),
    Route::new("delete", "/api/cart"),
    Route::new("post", "/api/cart/add"),
    Route::new("put", "/api/cart/item/{id}"),
    Route::new("delete", "/api/cart/item/{id}"),
    Route::new("get", "/cart"),
    Route::new("post", "/cart/items"),
    Route::new("get", "/api/products"),
    Route::new("get", "/api/products/{id}"),
    Route::new("post", "/api/auth/login"),
    Route::new("post", "/api/auth/logout"),
    Route::new("get", "/api/auth/me"),
    Route::new("get", "/api/openapi.json"),
];

/// The admin port's routes (API.md "Operations"), in the document with the
/// admin port as their server.
const ADMIN: [&str; 3] = ["/livez", "/readyz", "/metrics"];

/// The service port's routes (API.md v1.2 "Service API"), in the document
/// with the service port as their server and a bearer token required.
const SERVICE: [Route; 8] = [
    Route::new("get", "/v1/carts/{kind}/{id}"),
    Route::new("delete", "/v1/carts/{kind}/{id}"),
    Route::new("post", "/v1/carts/{kind}/{id}/items"),
    Route::new("put", "/v1/carts/{kind}/{id}/items/{line}"),
    Route::new("delete", "/v1/carts/{kind}/{id}/items/{line}"),
    Route::new("post", "/v1/carts/{kind}/{id}/checkout"),
    Route::new("post", "/v1/carts/{kind}/{id}/checkout/{claim}/complete"),
    Route::new("post", "/v1/carts/{kind}/{id}/checkout/{claim}/release"),
];

/// The storefront's paths (API.md v1.2 "Storefront"; `src/http/storefront.rs`):
/// pages and the files they load, served only when the storefront is on.
const STOREFRONT_PAGES: [&str; 9] = [
    "/",
    "/storefront/app.js",
    "/storefront/app.css",
    "/favicon.svg",
    "/images/products/{file}",
    "/api/docs",
    "/api/docs/docs.js",
    "/api/docs/swagger-ui-bundle.js",
    "/api/docs/swagger-ui.css",
];

/// A kind of cart owner on the service port: an id of that kind, and the
/// pattern the document gives its ids.
struct OwnerKind {
    kind: &'static str,
    id: &'static str,
    pattern: &'static str,
}

const OWNER_KINDS: [OwnerKind; 3] = [
    OwnerKind {
        kind: "user",
        id: "nobody",
        pattern: r"^[ -z|~]{1,128}$",
    },
    OwnerKind {
        kind: "guest",
        id: "cNoSuchCart0",
        pattern: r"^[A-Za-z0-9_-]{1,64}$",
    },
    OwnerKind {
        kind: "ext",
        id: "contract",
        pattern: r"^[!-~]{1,128}$",
    },
];

/// A service route: on the service port's server entry, tagged `service`,
/// needing the bearer token, served there and not on the public port.
async fn documented_on_the_service_port(
    app: &TestApp,
    visitor: &mut crate::helpers::Browser,
    path: &str,
    item: &Value,
) -> usize {
    let mut documented = 0;
    let server = &item["servers"][0];
    assert_eq!(server["url"], "http://{host}:{port}", "{path}");
    assert_eq!(
        server["variables"]["port"]["default"],
        app.service.rsplit(':').next().expect("port"),
        "{path}"
    );
    // Each kind of owner is its own path, its id with that kind's pattern.
    let OwnerKind { kind, id, pattern } = OWNER_KINDS
        .into_iter()
        .find(|owner| path.starts_with(&format!("/v1/carts/{}/{{id}}", owner.kind)))
        .unwrap_or_else(|| panic!("{path}: no owner kind"));
    let template = path.replacen(kind, "{kind}", 1);
    let concrete = path
        .replace("{id}", id)
        .replace("{line}", "1")
        .replace("{claim}", "kNone");
    let client = reqwest::Client::new();
    for (method, operation) in item.as_object().expect("path item") {
        if method == "servers" {
            continue;
        }
        assert!(
            SERVICE
                .iter()
                .any(|route| route.method == method && route.path == template),
            "{method} {path} is not in API.md's service API"
        );
        let id_parameter = operation["parameters"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "id"))
            .unwrap_or_else(|| panic!("{method} {path}: no id"));
        assert_eq!(
            id_parameter["schema"]["pattern"], pattern,
            "{method} {path}"
        );
        assert_eq!(operation["tags"][0], "service", "{method} {path}");
        assert_eq!(
            operation["security"][0]["serviceToken"],
            serde_json::json!([]),
            "{method} {path} needs the token"
        );
        let method: Method = method.to_uppercase().parse().expect("method");
        let reply = client
            .request(method.clone(), format!("{}{concrete}", app.service))
            .header(
                "authorization",
                format!("Bearer {}", crate::helpers::SERVICE_TOKEN),
            )
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("service port");
        let status = reply.status();
        let text = reply.text().await.unwrap_or_default();
        assert!(
            !(status == StatusCode::NOT_FOUND && text.contains("\"Not found\""))
                && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not served on the service port: {status}"
        );
        let on_public = visitor.send(method.clone(), &concrete, None).await;
        assert_eq!(on_public.status, StatusCode::NOT_FOUND, "{path} is public");
        documented += 1;
    }
    documented
}

async fn the_served_openapi_document_describes_every_route_and_the_limits() {
    let mut config = settings(Backend::Embedded, None);
    config.max_quantity = 12;
    let app = TestApp::spawn(config).await;
    let mut visitor = app.browser();
    let reply = visitor.get("/api/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let document: Value = reply.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    for Route { method, path } in CONTRACT {
        let operation = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in the document"))[method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no response"
        );
    }
    // Every documented operation is served (not the router's 404/405), and the
    // router serves nothing the document does not describe (routes.rs registers
    // routes only through utoipa-axum; this guards the one exception).
    let (mut documented, mut service) = (0, 0);
    for (path, item) in paths {
        if ADMIN.contains(&path.as_str()) {
            assert_eq!(item["get"]["tags"][0], "admin", "{path}");
            let server = &item["servers"][0];
            assert_eq!(server["url"], "http://{host}:{port}", "{path}");
            assert_eq!(
                server["variables"]["port"]["default"],
                app.admin.rsplit(':').next().expect("port"),
                "{path}"
            );
            let reply = reqwest::get(format!("{}{path}", app.admin))
                .await
                .expect("admin port");
            assert_eq!(reply.status(), StatusCode::OK, "{path} on the admin port");
            let on_public = visitor.get(path).await;
            assert_eq!(on_public.status, StatusCode::NOT_FOUND, "{path} is public");
            continue;
        }
        if path.starts_with("/v1/") {
            service += documented_on_the_service_port(&app, &mut visitor, path, item).await;
            continue;
        }
        for method in item.as_object().expect("path item").keys() {
            let concrete = path.replace("{id}", "1");
            let method: Method = method.to_uppercase().parse().expect("method");
            let reply = visitor.send(method.clone(), &concrete, None).await;
            assert!(
                !(reply.status == StatusCode::NOT_FOUND && reply.text.contains("\"Not found\""))
                    && reply.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not served: {}",
                reply.status
            );
            documented += 1;
        }
    }
    assert_eq!(
        documented,
        CONTRACT.len(),
        "the document and API.md list other routes"
    );
    assert_eq!(
        service,
        3 * SERVICE.len(),
        "the document and API.md list other service routes (one path per owner kind)"
    );
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/routes.rs"))
            .expect("routes.rs");
    let plain_routes = source
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .matches(".route(")
        .count();
    assert_eq!(
        plain_routes, 1,
        "a route registered outside utoipa-axum would be undocumented"
    );
    // The one other place with routes: the storefront's pages and files, which
    // are not API routes and so not in the document. Only these, all GET.
    let storefront = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/http/storefront.rs"
    ))
    .expect("storefront.rs");
    let pages: Vec<&str> = storefront
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .split(".route(")
        .skip(1)
        .map(|route| {
            assert!(route.contains("get("), "a storefront route that is not GET");
            route.split('"').nth(1).expect("a route's path")
        })
        .collect();
    assert_eq!(pages, STOREFRONT_PAGES, "the storefront serves other paths");
    for page in STOREFRONT_PAGES {
        assert!(
            !paths.contains_key(page),
            "{page} is a page, not an API route"
        );
    }
    // The configured limits are in the schemas, on every route set.
    for schema in [
        "AddItem",
        "MinimalAddItem",
        "ServiceAddById",
        "ServiceAddBySku",
    ] {
        let quantity = &document["components"]["schemas"][schema]["properties"]["quantity"];
        assert_eq!(
            quantity["maximum"].as_f64(),
            Some(12.0),
            "{schema}: {quantity}"
        );
    }
    for path in ["/api/cart/item/{id}", "/v1/carts/user/{id}/items/{line}"] {
        let put = paths[path]["put"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: parameters"))
            .iter()
            .find(|p| p["name"] == "quantity")
            .cloned()
            .unwrap_or_else(|| panic!("{path}: a quantity parameter"));
        assert_eq!(put["schema"]["maximum"].as_f64(), Some(12.0), "{path}");
        assert_eq!(put["schema"]["type"], "integer");
    }
}
