//! Every Redis call runs through here: a client span (`db.system.name=redis`,
//! `db.operation.name`), its duration in `trolley_redis_command_duration_seconds`
//! and its failures in `trolley_redis_errors_total`.

use std::{future::Future, time::Instant};

use tracing::Instrument;

use super::{StoreError, StoreResult};
use crate::metrics;

/// Runs one Redis call under a client span, timing it and counting its errors.
pub(crate) async fn redis_call<T>(
    operation: &'static str,
    call: impl Future<Output = Result<T, fred::error::Error>>,
) -> StoreResult<T> {
    redis_call_with(
        operation,
        async { call.await.map_err(StoreError::from) },
        StoreError::kind,
    )
    .await
}

/// [`redis_call`] for calls whose errors are not Redis errors (the session
/// store's); `kind` gives the bounded error label.
pub(crate) async fn redis_call_with<T, E>(
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
    kind: impl Fn(&E) -> &'static str,
) -> Result<T, E> {
    let span = tracing::info_span!(
        "redis",
        otel.name = operation,
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = operation,
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = call.instrument(span.clone()).await;
    metrics::redis_command(operation, started.elapsed());
    if let Err(error) = &result {
        let kind = kind(error);
        metrics::redis_error(kind);
        span.record("otel.status_code", "ERROR");
        span.record("error.type", kind);
    }
    result
}
