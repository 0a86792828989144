//! The storefront (API.md v1.2 "Storefront"): a small shop page at `GET /` and
//! the API docs at `GET /api/docs`. Pages, not API routes: they are not in the
//! OpenAPI document (`tests/api/contract.rs` lists them), and they only serve
//! files. The page talks to the public API from the browser, like any client.
//!
//! Every asset is compiled into the binary (no CDN: the page works offline), and
//! every answer carries a strict `Content-Security-Policy`: no inline script or
//! style, nothing loaded from another origin. The page is plain HTML, CSS and
//! JavaScript with no build step; the docs page is Swagger UI, vendored from a
//! pinned npm package (`storefront/swagger-ui/README.md`).

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::error::ApiError;

/// The policy of every storefront answer. `img-src data:`: Swagger UI draws
/// some of its icons as `data:` SVGs.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The storefront's routes (all GET; HEAD comes with them), merged into the
/// public router when `TROLLEY_STOREFRONT` is on.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| file(HTML, include_str!("storefront/index.html"))),
        )
        .route(
            "/storefront/app.js",
            get(|| file(JS, include_str!("storefront/app.js"))),
        )
        .route(
            "/storefront/app.css",
            get(|| file(CSS, include_str!("storefront/app.css"))),
        )
        .route(
            "/favicon.svg",
            get(|| file(SVG, include_str!("storefront/favicon.svg"))),
        )
        .route("/images/products/{file}", get(product_image))
        .route(
            "/api/docs",
            get(|| file(HTML, include_str!("storefront/docs.html"))),
        )
        .route(
            "/api/docs/docs.js",
            get(|| file(JS, include_str!("storefront/docs.js"))),
        )
        .route(
            "/api/docs/swagger-ui-bundle.js",
            get(|| {
                file(
                    JS,
                    include_str!("storefront/swagger-ui/swagger-ui-bundle.js"),
                )
            }),
        )
        .route(
            "/api/docs/swagger-ui.css",
            get(|| file(CSS, include_str!("storefront/swagger-ui/swagger-ui.css"))),
        )
}

/// A compiled-in file. `no-cache`: a browser revalidates, so a new release's
/// page and script never mix with an old one's.
async fn file(content_type: &'static str, body: &'static str) -> Response {
    answer(content_type, "no-cache", body.to_string())
}

fn answer(content_type: &'static str, cache: &'static str, body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// `GET /images/products/{id}.jpg`, the demo catalog's image paths: a
/// placeholder drawn for the product (an SVG, and said to be one: the
/// content type is honest whatever the path's extension).
async fn product_image(Path(file): Path<String>) -> Result<Response, ApiError> {
    let id = file
        .strip_suffix(".jpg")
        .filter(|id| !id.is_empty() && id.len() <= 12 && id.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|id| id.parse::<u64>().ok())
        .ok_or_else(|| ApiError::NotFound("Not found".into()))?;
    Ok(answer(SVG, "public, max-age=86400", placeholder(id)))
}

/// A 4:3 tile in a hue of its own, with the product's number on it.
fn placeholder(id: u64) -> String {
    let hue = (id * 47) % 360;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"160\" height=\"120\" \
         viewBox=\"0 0 160 120\"><rect width=\"160\" height=\"120\" \
         fill=\"hsl({hue},55%,86%)\"/><circle cx=\"80\" cy=\"52\" r=\"26\" \
         fill=\"hsl({hue},45%,70%)\"/><text x=\"80\" y=\"108\" \
         font-family=\"sans-serif\" font-size=\"16\" text-anchor=\"middle\" \
         fill=\"hsl({hue},40%,25%)\">#{id}</text></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::placeholder;

    #[test]
    fn a_placeholder_is_an_svg_naming_its_product() {
        let svg = placeholder(42);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains(">#42</text>"));
    }
}
