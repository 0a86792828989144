//! Every public route and the middleware order, in one file.

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use std::sync::Arc;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    BODY_LIMIT, auth,
    error::{ApiError, StaleSessionCopy},
    guard, minimal, observe,
    openapi::{self, OtherPorts},
    perfshop, products,
    replayable::Replayable,
    storefront,
};
use crate::{
    metrics,
    sessions::{CopyUse, SessionBackend, fields::time_duration, track_request},
    state::AppState,
    store::StoreError,
};

/// The public router.
///
/// Middleware, outermost first: the edge (request telemetry: span, metrics,
/// access log; and the response headers `nosniff`, `no-store`) → panic → 500
/// JSON → CORS (when configured) → the gate (hostile requests refused; the
/// session save told a slide from a change; a session-save failure → 503 JSON)
/// → sessions (cookie ↔ Redis record) → body limit → the route. Each layer of
/// its own costs a boxed future and a service clone per request, so what runs
/// at one place in the order shares one layer.
pub(crate) fn router(state: AppState, sessions: SessionBackend, ports: OtherPorts) -> Router {
    let settings = &state.settings;
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name(settings.cookie_name.clone())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.cookie_secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time_duration(settings.session_ttl)))
        // Only a changed session is written: CartSession slides the expiry
        // coarsely (a tenth of the TTL), so most requests write no record.
        // The store's save is SET XX, so a save never resurrects a deleted session.
        .with_always_save(false);

    let (routes, paths) = documented_routes().split_for_parts();
    let document = Arc::new(openapi::document(
        paths,
        state.cart.limits.max_quantity,
        ports,
    ));
    // The storefront's pages are not API routes: storefront.rs serves files.
    let routes = if settings.storefront_enabled() {
        routes.merge(storefront::router())
    } else {
        routes
    };
    routes
        .route(
            "/api/openapi.json",
            get(move || {
                let document = document.clone();
                async move { Json(document) }
            }),
        )
        .fallback(|| async { ApiError::NotFound("Not found".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(session_layer)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .layer(tower::util::option_layer(cors(&settings.cors_origins)))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Every public route, each registered with its `#[utoipa::path]` document, so
/// none can exist undocumented (the document is served at /api/openapi.json).
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(perfshop::get_cart, perfshop::clear_cart))
        .routes(routes!(perfshop::add_item))
        .routes(routes!(perfshop::update_item, perfshop::remove_item))
        .routes(routes!(minimal::get_cart))
        .routes(routes!(minimal::add_item))
        .routes(routes!(products::list_products))
        .routes(routes!(products::get_product))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
}

/// The OpenAPI document of every port's routes, with the configured max quantity.
pub(crate) fn document(max_quantity: u32, ports: OtherPorts) -> utoipa::openapi::OpenApi {
    openapi::document(documented_routes().split_for_parts().1, max_quantity, ports)
}

/// CORS for the listed origins (credentials included, so the session cookie
/// goes along), or none. The safe-retry headers may be sent and read.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin.trim().trim_end_matches('/')).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::ETAG,
                header::RETRY_AFTER,
                HeaderName::from_static("idempotent-replayed"),
            ]),
    )
}

/// Just outside the session layer: refuses hostile requests before a session
/// is touched (`guard`); runs the rest under the session-change tracking, so
/// the layer's save at the end sees whether the request changed the session
/// or only slides its expiry; and answers a failed save as storage trouble.
///
/// A cart route's request may be served its session record from this
/// replica's copy (its cart script checks the record); if the script finds the
/// copy stale, it changed nothing, and the request runs once more from Redis's
/// record.
async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(refusal) = guard::refuse_hostile(&state, &request) {
        return refusal.into_response();
    }
    if !checks_its_session(&request) {
        let response = track_request(CopyUse::Off, next.run(request)).await;
        return session_failure_is_unavailable(response);
    }
    let (request, replayable) = Replayable::keep(request);
    let response = track_request(CopyUse::Serve, next.clone().run(request)).await;
    if response.extensions().get::<StaleSessionCopy>().is_none() {
        return session_failure_is_unavailable(response);
    }
    metrics::session_copy("stale");
    drop(response);
    let response = track_request(CopyUse::Refresh, next.run(replayable.request())).await;
    session_failure_is_unavailable(response)
}

/// The routes whose every use of the session record goes through a cart script
/// that checks it (`session_is_current` in `lua/prelude.lua`): the cart routes
/// of both APIs. Only their requests may be served a copy of the record, and
/// only with a session cookie (without one there is no record to copy).
const SESSION_CHECKED_PREFIXES: [&str; 2] = ["/api/cart", "/cart"];

fn checks_its_session(request: &Request) -> bool {
    let path = request.uri().path();
    request.headers().contains_key(header::COOKIE)
        && SESSION_CHECKED_PREFIXES.iter().any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// Outermost: the request's telemetry (`observe`) and the response headers
/// every answer carries, panics and refusals included.
async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let private = is_private(request.uri().path());
    let mut response = observe::observe_request(&state.settings.log, request, next).await;
    response_headers(response.headers_mut(), private);
    response
}

/// Routes whose answers are a shopper's own: never stored by a cache.
const PRIVATE_PREFIXES: [&str; 3] = ["/api/cart", "/cart", "/api/auth"];

fn is_private(path: &str) -> bool {
    PRIVATE_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Headers API.md v1.1 asks of every public response, errors included: no MIME
/// sniffing anywhere, and `Cache-Control: no-store` on cart, auth and minimal-API
/// answers (a shared cache must never hand one shopper's cart to another).
fn response_headers(headers: &mut axum::http::HeaderMap, private: bool) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// tower-sessions answers a bare 500 when it cannot save the session record
/// (Redis went away after the handler ran). That is storage trouble: answer the
/// contract's 503 JSON instead. Our own 500s always carry a JSON content type.
fn session_failure_is_unavailable(response: Response) -> Response {
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        return ApiError::Unavailable(StoreError::SessionStore("session save failed".into()))
            .into_response();
    }
    response
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request, routing::get};
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> &'static str {
        panic!("secret internal detail")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json_without_internals() {
        let app: Router = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panic_response));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(&body[..], br#"{"error":"Internal server error"}"#);
    }

    #[tokio::test]
    async fn a_bare_500_from_the_session_layer_becomes_a_503_json() {
        let bare = Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(axum::body::Body::empty())
            .expect("response");
        let mapped = session_failure_is_unavailable(bare);
        assert_eq!(mapped.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(mapped.headers().contains_key(header::RETRY_AFTER));
    }
}
