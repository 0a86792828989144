//! gRPC call telemetry: one server span per call under the OpenTelemetry RPC
//! conventions (named `package.Service/Method`, `rpc.system` `grpc`,
//! `rpc.service`, `rpc.method`, `rpc.grpc.status_code`), continuing the
//! caller's `traceparent` metadata; the RED metrics by method and code; and
//! the access-log line `TROLLEY_ACCESS_LOG` asks for.

use std::time::Instant;

use axum::{extract::Request, middleware::Next, response::Response};
use tonic::Code;
use tracing::{Instrument, field::Empty};

use crate::{config::LogSettings, metrics};

/// Every method the port serves, as the `grpc_method` label (`service/method`).
pub(crate) const METHODS: [&str; 16] = [
    "trolley.cart.v1.CartService/GetCart",
    "trolley.cart.v1.CartService/AddItem",
    "trolley.cart.v1.CartService/SetQuantity",
    "trolley.cart.v1.CartService/RemoveItem",
    "trolley.cart.v1.CartService/ClearCart",
    "trolley.cart.v1.CartService/Checkout",
    "trolley.cart.v1.CartService/CompleteCheckout",
    "trolley.cart.v1.CartService/ReleaseCheckout",
    "hipstershop.CartService/AddItem",
    "hipstershop.CartService/GetCart",
    "hipstershop.CartService/EmptyCart",
    "oteldemo.CartService/AddItem",
    "oteldemo.CartService/GetCart",
    "oteldemo.CartService/EmptyCart",
    "grpc.health.v1.Health/Check",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
];

/// Middleware for a gRPC call (the service port sends every
/// `application/grpc` request here instead of the HTTP telemetry).
pub(crate) async fn observe_call(logs: &LogSettings, request: Request, next: Next) -> Response {
    let path = request.uri().path().trim_start_matches('/');
    // Known methods only, so a caller cannot add label values or span names.
    let method = METHODS
        .iter()
        .find(|method| **method == path)
        .copied()
        .unwrap_or("_OTHER");
    let (service, name) = method.split_once('/').unwrap_or(("_OTHER", "_OTHER"));
    let span = tracing::info_span!(
        "grpc_call",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = name,
        network.protocol.name = "http",
        network.protocol.version = "2",
        rpc.grpc.status_code = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    );
    crate::traces::continue_trace(&span, request.headers());
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    // A failed unary call is trailers-only (its status in the headers); one
    // that answered a message ended OK.
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok()?.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32);
    let code_name = code_name(code);
    span.record("rpc.grpc.status_code", code as i64);
    let server_error = is_server_error(code);
    if server_error {
        span.record("error.type", code_name);
        span.record("otel.status_code", "ERROR");
    }
    metrics::grpc_call(method, code_name, elapsed);
    if logs.logs_access(server_error, elapsed) {
        span.in_scope(|| {
            tracing::info!(
                target: "trolley::access",
                method,
                code = code_name,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "call"
            );
        });
    }
    response
}

/// The codes the RPC conventions count as the server's error (the others are
/// the caller's: a bad argument, a missing cart, a claimed cart, ...).
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// A status code's canonical name, as gRPC writes it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
