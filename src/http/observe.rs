//! Request telemetry: one server span per request named `METHOD /route/template`,
//! the HTTP metrics, and an access-log line for the requests
//! `TROLLEY_ACCESS_LOG` names (by default a 5xx or a slow one).
//!
//! Log lines never carry cookies, session ids or passwords: the server span
//! records the route, the path and the status, nothing from headers or bodies.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    http::{Method, Version},
    middleware::Next,
    response::Response,
};
use tracing::{Instrument, field::Empty};

use crate::{config::LogSettings, metrics};

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

/// `network.protocol.version` as the semantic conventions write it.
fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "_OTHER",
    }
}

/// The server span's name: `METHOD /route/template`, or the method alone when
/// no route matched (as the semantic conventions name it).
struct SpanName<'a>(&'static str, Option<&'a MatchedPath>);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(path) => write!(f, "{} {}", self.0, path.as_str()),
            None => f.write_str(self.0),
        }
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
/// HTTP metrics, and the access-log line `logs` asks for. Routes are templates,
/// never raw paths, so ids in URLs add no label values.
pub(crate) async fn observe_request(logs: &LogSettings, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    // Cloned (an Arc) rather than copied into strings: nothing is allocated
    // for the span or the labels unless a span is recorded.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        "http_request",
        otel.name = %SpanName(method, matched.as_ref()),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = request.uri().path(),
        url.scheme = "http",
        network.protocol.version = protocol_version(request.version()),
        http.response.status_code = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    );
    crate::traces::continue_trace(&span, request.headers());
    metrics::http_active(method, 1.0);
    let active = ActiveRequest(method);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    drop(active);
    let status = response.status().as_u16();
    // As i64: tracing-opentelemetry would export an unsigned value as a string.
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("error.type", tracing::field::display(status));
        span.record("otel.status_code", "ERROR");
    }
    metrics::http_request(method, route, status, elapsed);
    if !logs.logs_access(status >= 500, elapsed) {
        return response;
    }
    span.in_scope(|| {
        tracing::info!(
            target: "trolley::access",
            method,
            route,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{AccessLog, LogFormat, LogSettings};

    #[test]
    fn errors_logs_a_server_error_or_a_slow_request_and_all_logs_every_one() {
        let logs = |access_log| LogSettings {
            format: LogFormat::Json,
            access_log,
            access_log_slow: Duration::from_millis(500),
        };
        let (fast, slow) = (Duration::from_millis(3), Duration::from_millis(500));
        let errors = logs(AccessLog::Errors);
        assert!(!errors.logs_access(false, fast));
        assert!(errors.logs_access(true, fast) && errors.logs_access(false, slow));
        assert!(logs(AccessLog::All).logs_access(false, fast));
        assert!(!logs(AccessLog::Off).logs_access(true, slow));
    }
}
