//! THE SECOND EDGE (API.md v1.2): the service port, where other services
//! (checkout, support, a demo front end) reach carts by their owner, with
//! bearer tokens instead of a session cookie. Thin mappings onto the same
//! domain operations as the public routes (`cart::ops`, `cart::add`), plus
//! checkout claims (`cart::checkout`).
//!
//! Every route and the middleware order are here. Middleware, outermost first:
//! request telemetry (`http::observe`, or `grpc::observe_call` for a gRPC
//! call) → panic → 500 JSON → the bearer token
//! (401, or gRPC `UNAUTHENTICATED`, before anything of the request is looked
//! at; gRPC health checks need none) → body limit → the route. gRPC calls
//! (`grpc/`) are told apart by their content type and run the JSON routes.

mod carts;
mod checkout;
mod doc;
mod grpc;
mod path;

pub(crate) use grpc::METHODS as GRPC_METHODS;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::header,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    config::Settings,
    http::{BODY_LIMIT, error::ApiError, observe},
    state::AppState,
};

/// Who may call the service port.
#[derive(Clone)]
pub(crate) enum Callers {
    /// Any of these bearer tokens (several, so one can be rotated).
    Tokens(Arc<Vec<Vec<u8>>>),
    /// Anyone: a mesh authenticates callers itself (`TROLLEY_SERVICE_AUTH=none`).
    Anyone,
}

impl Callers {
    /// Who may call the service port; `None`: it stays closed (no token configured).
    pub(crate) fn from_settings(settings: &Settings) -> Option<Callers> {
        if settings.service_auth == "none" {
            return Some(Callers::Anyone);
        }
        let tokens: Vec<Vec<u8>> = settings
            .service_tokens
            .iter()
            .map(|token| token.trim())
            .filter(|token| !token.is_empty())
            .map(|token| token.as_bytes().to_vec())
            .collect();
        (!tokens.is_empty()).then(|| Callers::Tokens(Arc::new(tokens)))
    }
}

/// The service router: the JSON routes and the gRPC services (which run those
/// routes in process) on one port, behind one bearer-token check.
pub(crate) async fn router(state: AppState, callers: Callers) -> Router {
    let json = Router::from(documented_routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state.clone());
    let grpc = grpc::routes(json.clone()).await;
    json.merge(grpc)
        .fallback(|| async { ApiError::NotFound("Not found".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(callers, authorize))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("service handler panicked".into()).into_response()
        }))
        .layer(middleware::from_fn_with_state(state, observe))
}

/// Every JSON route of the service port, each registered with its
/// `#[utoipa::path]` document, so none can exist undocumented.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(carts::get_cart, carts::clear_cart))
        .routes(routes!(carts::add_item))
        .routes(routes!(carts::update_item, carts::remove_item))
        .routes(routes!(checkout::claim))
        .routes(routes!(checkout::complete))
        .routes(routes!(checkout::release))
}

/// The OpenAPI paths of the service port's JSON routes (`http::openapi` puts
/// them on the service port's server entry).
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    documented_routes().split_for_parts().1
}

/// The request's telemetry: a gRPC call's (`grpc::observe_call`), else the
/// public port's (`http::observe`).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if grpc::is_grpc(&request) {
        return grpc::observe_call(&state.settings.log, request, next).await;
    }
    observe::observe_request(&state.settings.log, request, next).await
}

/// `Authorization: Bearer <token>`, compared in constant time with every
/// configured token; anything else → 401 before the request is looked at.
async fn authorize(State(callers): State<Callers>, request: Request, next: Next) -> Response {
    let Callers::Tokens(tokens) = &callers else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    // Every token is compared, so the time taken does not tell which one matched.
    let known = tokens.iter().fold(0u8, |found, token| {
        found | u8::from(bool::from(token.as_slice().ct_eq(presented)))
    });
    if presented.is_empty() || known == 0 {
        if grpc::is_health_check(&request) {
            return next.run(request).await;
        }
        if grpc::is_grpc(&request) {
            return grpc::unauthenticated();
        }
        return ApiError::Unauthorized("Unauthorized".into()).into_response();
    }
    next.run(request).await
}
