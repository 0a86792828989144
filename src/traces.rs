//! OpenTelemetry trace export over OTLP, configured only by the standard variables:
//!
//! * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): where
//!   spans go, e.g. `http://otel-collector:4318`. Unset: no exporter and no layer,
//!   so tracing costs nothing beyond the log lines.
//! * `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (default) or `grpc` (`:4317`);
//!   `OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT` (default 10 s), `_COMPRESSION`.
//! * `OTEL_SERVICE_NAME` (default `trolley`), `OTEL_RESOURCE_ATTRIBUTES`.
//! * `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`).
//! * `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE` (default 2048), ...
//! * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn export off.
//!
//! Finished spans go onto the batch processor's bounded queue and are exported
//! from its own thread; a full queue drops spans instead of waiting. So a slow,
//! down or missing collector never slows or fails a request.

use std::{
    env,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use axum::http::HeaderMap;
use opentelemetry::{
    Key, KeyValue,
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::{WithTonicConfig, tonic_types::transport::ClientTlsConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider},
};
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::registry::LookupSpan;

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
const DEFAULT_SERVICE_NAME: &str = "trolley";

/// How long shutdown waits for the last spans to be exported.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Set once an exporting layer exists: until then `continue_trace` does nothing.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// A running trace pipeline: OTLP exporter behind a batch span processor.
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// The pipeline the `OTEL_*` variables describe, or `None` when they name no
    /// endpoint. Must run inside the Tokio runtime (the gRPC client lives there).
    pub fn from_env() -> Result<Option<TraceExport>, String> {
        let set = |name: &str| env::var(name).is_ok_and(|v| !v.trim().is_empty());
        let disabled = env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim() == "true")
            || env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
        if disabled
            || !(set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        {
            return Ok(None);
        }
        // Protocol, endpoint, headers and timeout come from the variables. Only
        // gRPC over TLS needs help: tonic trusts no roots unless told to.
        let exporter = if grpc_over_tls() {
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_tls_config(ClientTlsConfig::new().with_enabled_roots())
                .build()
        } else {
            opentelemetry_otlp::SpanExporter::builder().build()
        }
        .map_err(|e| format!("OTLP trace exporter: {e}"))?;
        // Queue size, batch size and delay come from `OTEL_BSP_*`.
        let processor = BatchSpanProcessor::builder(exporter).build();
        // The sampler comes from `OTEL_TRACES_SAMPLER(_ARG)`.
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource())
            .build();
        Ok(Some(TraceExport { provider }))
    }

    /// The tracing layer that turns spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        EXPORTING.store(true, Ordering::Relaxed);
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("trolley"))
    }

    /// Exports what is queued and stops the exporter. Blocks for at most 5 s.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            tracing::warn!(%error, "trace export did not shut down cleanly");
        }
    }
}

/// Whether the variables ask for gRPC to an `https://` endpoint (the trace-specific
/// variable first, as the exporter reads them).
fn grpc_over_tls() -> bool {
    let first = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| env::var(name).ok().filter(|v| !v.trim().is_empty()))
            .unwrap_or_default()
    };
    let protocol = first([
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]);
    let endpoint = first([
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]);
    protocol.trim() == "grpc" && endpoint.trim().starts_with("https://")
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, SDK
/// attributes) with our defaults for `service.name` and `service.version`.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let mut builder = Resource::builder();
    let named = detected
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if !named {
        builder = builder.with_service_name(DEFAULT_SERVICE_NAME);
    }
    if detected
        .get(&Key::from_static_str("service.version"))
        .is_none()
    {
        builder =
            builder.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    builder.build()
}

/// Makes `span` continue the W3C trace context (`traceparent`, `tracestate`) of
/// the incoming request. A missing or malformed header starts a new trace.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when the span is disabled or already started: nothing to continue then.
        let _ = span.set_parent(parent);
    }
}

/// Request headers as an OpenTelemetry carrier.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
