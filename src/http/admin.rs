//! The admin port: liveness, readiness and Prometheus metrics, never on the
//! public port.

use std::time::Duration;

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use super::error::ApiError;
use crate::{metrics, state::AppState};

#[derive(Clone)]
struct AdminState {
    app: AppState,
    metrics: PrometheusHandle,
}

/// The admin router.
pub(crate) fn router(app: AppState, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .fallback(|| async { ApiError::NotFound("Not found".into()) })
        .with_state(AdminState { app, metrics })
}

/// The admin port's routes in the OpenAPI document (`openapi::document` tags
/// them `admin` and names the admin port as their server).
#[derive(utoipa::OpenApi)]
#[openapi(paths(livez, readyz, render_metrics))]
pub(crate) struct AdminDoc;

/// A probe's answer: `{"status": "ok" | "ready" | "unavailable"}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = ProbeStatus)]
#[allow(dead_code)]
struct ProbeDoc {
    status: String,
    /// Only when unavailable.
    error: Option<String>,
}

#[utoipa::path(get, path = "/livez", tag = "admin",
    responses((status = 200, description = "The process serves requests", body = ProbeDoc)))]
/// 200 while the process serves requests.
async fn livez() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "admin",
    responses(
        (status = 200, description = "Ready: the store answers and takes writes", body = ProbeDoc),
        (status = 503, description = "Not ready: the store is unreachable or read-only, or the replica is draining", body = ProbeDoc)))]
/// 200 only when the store answers within a short timeout and takes writes (a
/// writable primary; on Cluster `cluster_state:ok`), and the replica is not draining.
async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    let timeout = state.app.settings.redis.timeout.min(Duration::from_secs(1));
    let ready = !state.app.is_draining()
        && matches!(
            tokio::time::timeout(timeout, state.app.carts().ready()).await,
            Ok(Ok(()))
        );
    metrics::redis_up(ready);
    if ready {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "error": "Cart storage unavailable"})),
        )
    }
}

#[utoipa::path(get, path = "/metrics", tag = "admin",
    responses((status = 200, description = "Prometheus metrics (text exposition format 0.0.4)",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
/// The Prometheus exposition of this replica's metrics.
async fn render_metrics(State(state): State<AdminState>) -> impl IntoResponse {
    if let Some((connected, total)) = state.app.stores.pool_state() {
        metrics::redis_pool(connected, total);
    }
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}
