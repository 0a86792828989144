//! Logs and traces: the tracing subscriber (JSON or pretty, `RUST_LOG` filter,
//! optional OTLP export). The per-request server span, access-log line and HTTP
//! metrics are `http::observe`'s.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{FilterExt, LevelFilter, Targets, filter_fn},
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::{config::LogFormat, traces::TraceExport};

/// Keeps trace export running; [`TelemetryGuard::shutdown`] (or drop) exports
/// the spans still queued.
#[must_use = "dropping the guard stops trace export and log writing"]
pub struct TelemetryGuard {
    traces: Option<TraceExport>,
    /// Dropping it writes the log lines still queued, then stops the writer.
    logs: Option<WorkerGuard>,
}

impl TelemetryGuard {
    /// Exports what is queued and stops trace export (at most 5 s), then
    /// writes the log lines still queued.
    pub async fn shutdown(mut self) {
        if let Some(traces) = self.traces.take() {
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
        drop(self.logs.take());
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
///
/// Lines are written to stdout by a thread of their own (`tracing-appender`),
/// never by the thread serving a request; the queue is bounded and lossless
/// (a full queue makes the logging thread wait rather than drop a line), and
/// the guard writes what is queued at shutdown.
pub fn init(settings: &crate::config::LogSettings, traces: Option<TraceExport>) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, writer_guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("trolley-logs")
        .finish(std::io::stdout());
    let logs = match settings.format {
        // JSON lines carry no span fields, so this layer takes events only: a
        // request's span then costs nothing unless traces are exported.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .map_event_format(WithTraceIds)
            .with_writer(writer)
            .with_filter(filter.and(filter_fn(|metadata| metadata.is_event())))
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
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
        .with(logs)
        .with(otel)
        .try_init()
        .is_ok();
    TelemetryGuard {
        traces: traces.filter(|_| installed),
        logs: Some(writer_guard).filter(|_| installed),
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
