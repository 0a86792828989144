//! Logs and traces: the tracing subscriber (JSON or pretty, `RUST_LOG` filter,
//! optional OTLP export), the per-request server span with its access-log line
//! and HTTP metrics.
//!
//! Log lines never carry cookies, session ids or passwords: the server span
//! records the route, the path and the status, nothing from headers or bodies.

use std::{fmt, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    http::{Method, Version},
    middleware::Next,
    response::Response,
};
use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Instrument, Level, Subscriber, field::Empty};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{LevelFilter, Targets},
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::{config::LogFormat, metrics, tracing_otlp::TraceExport};

/// Keeps trace export running; [`TelemetryGuard::shutdown`] (or drop) exports
/// the spans still queued.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    traces: Option<TraceExport>,
}

impl TelemetryGuard {
    /// Exports what is queued and stops trace export (at most 5 s).
    pub async fn shutdown(mut self) {
        if let Some(traces) = self.traces.take() {
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(traces) = self.traces.take() {
            traces.shutdown();
        }
    }
}

/// Installs the global subscriber: log lines filtered by `RUST_LOG` (default
/// `info`) in the given format, and, when `traces` is given, trolley's spans
/// exported over OTLP. `RUST_LOG` filters only the log lines, so quieter logs
/// never cost traces. A second call (tests start several apps in one process)
/// is a no-op.
pub fn init(settings: &crate::config::LogSettings, traces: Option<TraceExport>) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match settings.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .map_event_format(WithTraceIds)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().boxed(),
    };
    // Our own spans and events only: the exporter's HTTP client must not trace
    // itself, and the access-log line would repeat the span's attributes.
    let spans = Targets::new()
        .with_target("trolley", Level::INFO)
        .with_target("trolley::access", LevelFilter::OFF);
    let otel = traces
        .as_ref()
        .map(|traces| traces.layer().with_filter(spans));
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(otel)
        .try_init()
        .is_ok();
    TelemetryGuard {
        traces: traces.filter(|_| installed),
    }
}

/// JSON lines with the `trace_id` and `span_id` of the active OpenTelemetry
/// span first, so logs and traces join up; unchanged when no trace is active.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    N: for<'writer> FormatFields<'writer> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let context = opentelemetry::Context::current();
        let span = context.span();
        let ids = span.span_context();
        if !ids.is_valid() {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{rest}",
                ids.trace_id(),
                ids.span_id()
            ),
            None => writer.write_str(&line),
        }
    }
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
    let matched = request.extensions().get::<MatchedPath>();
    // No route matched: the semantic conventions name the span by the method alone.
    let name = match matched {
        Some(path) => format!("{method} {}", path.as_str()),
        None => method.to_string(),
    };
    let route = matched
        .map_or("unmatched", |path| path.as_str())
        .to_string();
    let span = tracing::info_span!(
        "http_request",
        otel.name = %name,
        otel.kind = "server",
        http.request.method = method,
        http.route = %route,
        url.path = %request.uri().path(),
        url.scheme = "http",
        network.protocol.version = protocol_version(request.version()),
        http.response.status_code = Empty,
        error.type = Empty,
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
    // As i64: tracing-opentelemetry would export an unsigned value as a string.
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("error.type", tracing::field::display(status));
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
