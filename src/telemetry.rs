//! Logs and traces: the tracing subscriber (JSON or pretty, `RUST_LOG` filter),
//! the per-request server span with its access-log line and HTTP metrics.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::Response,
};
use tracing::{Instrument, field::Empty};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::{config::LogFormat, metrics};

/// Installs the global subscriber: `RUST_LOG` (default `info`), in the given format.
/// A second call (tests start several apps in one process) is a no-op.
pub fn init(settings: &crate::config::LogSettings) {
    let format = settings.format;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    let _ = result;
}

/// The semantic-conventions method label: known methods by name, others `_OTHER`
/// (so a client cannot blow up the label set).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    }
}

/// Decrements the active-requests gauge even when the client goes away mid-request.
struct ActiveRequest(&'static str);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        metrics::http_active(self.0, -1.0);
    }
}

/// Middleware: one server span per request named `METHOD /route/template`, the
/// HTTP metrics, and one access-log line. Routes are templates, never raw paths,
/// so ids in URLs add no label values.
pub async fn observe_request(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::info_span!(
        "http_request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = %route,
        url.path = %request.uri().path(),
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    crate::tracing_otlp::continue_trace(&span, request.headers());
    metrics::http_active(method, 1.0);
    let active = ActiveRequest(method);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    drop(active);
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    metrics::http_request(method, &route, status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            target: "trolley::access",
            method,
            route = %route,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    response
}
