//! gRPC on the service port (API.md v1.2 "gRPC"): `trolley.cart.v1.CartService`,
//! the `CartService` of Online Boutique (`hipstershop`) and of the OpenTelemetry
//! demo (`oteldemo`) on `ext/{user_id}` carts, `grpc.health.v1.Health` and
//! server reflection.
//!
//! Each call is transcoded onto the service port's JSON route of the same
//! operation and run in process through that router, so the rules, limits,
//! money, errors, Idempotency-Key (metadata `idempotency-key`) and If-Match
//! (`if-match`) are those routes' by construction; the route's status becomes
//! the gRPC status API.md maps it to.

mod demo;
mod json;
mod observe;
mod trolley;

pub(crate) use observe::METHODS;
pub(super) use observe::observe_call;

use axum::{Router, body::Body, http::header};
use tonic::Status;

use crate::proto::{
    hipstershop, oteldemo, trolley::cart::v1::cart_service_server::CartServiceServer,
};
use demo::Demo;
use json::Json;
use trolley::Trolley;

/// The largest gRPC message read, the JSON routes' body limit: a longer one
/// is refused with `RESOURCE_EXHAUSTED` from its length prefix, before it is
/// read.
const MAX_MESSAGE: usize = crate::http::BODY_LIMIT;

/// The gRPC services, as routes to merge into the service router; `json` is
/// that router's JSON routes (without the middleware, which the merged router
/// runs once for every request).
pub(super) async fn routes(json: Router) -> Router {
    let json = Json(json);
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<CartServiceServer<Trolley>>().await;
    health
        .set_serving::<hipstershop::cart_service_server::CartServiceServer<Demo>>()
        .await;
    health
        .set_serving::<oteldemo::cart_service_server::CartServiceServer<Demo>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::DESCRIPTORS)
        .build_v1();
    let mut routes = tonic::service::Routes::new(health_service)
        .add_service(
            CartServiceServer::new(Trolley(json.clone())).max_decoding_message_size(MAX_MESSAGE),
        )
        .add_service(
            hipstershop::cart_service_server::CartServiceServer::new(Demo(json.clone()))
                .max_decoding_message_size(MAX_MESSAGE),
        )
        .add_service(
            oteldemo::cart_service_server::CartServiceServer::new(Demo(json))
                .max_decoding_message_size(MAX_MESSAGE),
        );
    match reflection {
        Ok(reflection) => routes = routes.add_service(reflection),
        Err(error) => tracing::warn!(%error, "gRPC server reflection is off"),
    }
    routes.prepare().into_axum_router()
}

/// Whether a request is a gRPC call (`content-type: application/grpc…`).
pub(super) fn is_grpc<B>(request: &axum::http::Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// Health checks are answered without a token, for probes.
pub(super) fn is_health_check<B>(request: &axum::http::Request<B>) -> bool {
    request.uri().path().starts_with("/grpc.health.v1.Health/")
}

/// A gRPC call's answer to a missing or wrong token.
pub(super) fn unauthenticated() -> axum::response::Response {
    Status::unauthenticated("Unauthorized").into_http::<Body>()
}
