//! Every Prometheus metric trolley exports, in one place.
//!
//! Names follow the OpenTelemetry HTTP semantic conventions in Prometheus form
//! (base unit seconds); histograms have explicit buckets, so the exporter writes
//! real histograms that aggregate across replicas instead of summaries.

use std::{sync::OnceLock, time::Duration};

use metrics::{
    Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub(crate) const HTTP_DURATION: &str = "http_server_request_duration_seconds";
pub(crate) const HTTP_ACTIVE: &str = "http_server_active_requests";
pub(crate) const REDIS_DURATION: &str = "trolley_redis_command_duration_seconds";
pub(crate) const REDIS_ERRORS: &str = "trolley_redis_errors_total";
pub(crate) const REDIS_UP: &str = "trolley_redis_up";
pub(crate) const REDIS_POOL: &str = "trolley_redis_pool_connections";
pub(crate) const CART_OPERATIONS: &str = "trolley_cart_operations_total";
pub(crate) const LOGIN_MERGES: &str = "trolley_login_merges_total";
pub(crate) const MERGE_LINES_MOVED: &str = "trolley_merge_lines_moved_total";
pub(crate) const SESSIONS_CREATED: &str = "trolley_sessions_created_total";
pub(crate) const LOGINS: &str = "trolley_logins_total";
pub(crate) const BUILD_INFO: &str = "trolley_build_info";
pub(crate) const CART_CHANGE_RERUNS: &str = "trolley_cart_change_reruns_total";
pub(crate) const IDEMPOTENT_REPLAYS: &str = "trolley_idempotent_replays_total";
pub(crate) const SESSION_SLIDE_FAILURES: &str = "trolley_session_slide_failures_total";
pub(crate) const SESSION_COPIES: &str = "trolley_session_copies_total";
pub(crate) const CHECKOUT_CLAIMS: &str = "trolley_checkout_claims_total";
pub(crate) const CHECKOUT_COMPLETIONS: &str = "trolley_checkout_completions_total";
pub(crate) const CHECKOUT_RELEASES: &str = "trolley_checkout_releases_total";
pub(crate) const CHECKOUT_EXPIRIES: &str = "trolley_checkout_expiries_total";
pub(crate) const GRPC_HANDLED: &str = "trolley_grpc_server_handled_total";
pub(crate) const GRPC_DURATION: &str = "trolley_grpc_server_handling_seconds";

/// The gRPC status codes registered at 0 for every method: the ones API.md
/// maps trolley's answers to, and the two any server may end a call with.
pub(crate) const GRPC_CODES: [&str; 10] = [
    "OK",
    "INVALID_ARGUMENT",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "FAILED_PRECONDITION",
    "RESOURCE_EXHAUSTED",
    "UNAVAILABLE",
    "INTERNAL",
    "UNKNOWN",
];

/// `trolley_checkout_claims_total` outcomes.
pub(crate) const CHECKOUT_CLAIM_OUTCOMES: [&str; 5] =
    ["claimed", "empty", "busy", "refused", "unavailable"];
/// `trolley_checkout_completions_total` and `…_releases_total` outcomes.
pub(crate) const CHECKOUT_END_OUTCOMES: [&str; 6] = [
    "completed",
    "released",
    "expired",
    "not_found",
    "conflict",
    "unavailable",
];

/// `trolley_session_copies_total` outcomes: a copy served, a record read from
/// Redis instead, a served copy a cart script found stale.
pub(crate) const SESSION_COPY_OUTCOMES: [&str; 3] = ["served", "loaded", "stale"];

/// From 0.25 ms to 10 s: a cart request is sub-millisecond to a few milliseconds
/// when healthy, and a Redis timeout (1 s by default) must still land in a bucket.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns the handle that renders
/// `/metrics`.
pub(crate) fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(REDIS_DURATION.into()), LATENCY_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(GRPC_DURATION.into()), LATENCY_BUCKETS)
                })
                .map(|b| b.build_recorder());
            let recorder = match recorder {
                Ok(recorder) => recorder,
                // The bucket lists are constants, so this cannot fail at run time.
                Err(e) => panic!("metrics buckets: {e}"),
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            describe();
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "git_sha" => env!("TROLLEY_GIT_SHA"))
                .set(1.0);
            handle
        })
        .clone()
}

fn describe() {
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Duration of HTTP server requests."
    );
    describe_gauge!(HTTP_ACTIVE, "Number of active HTTP server requests.");
    describe_histogram!(
        REDIS_DURATION,
        Unit::Seconds,
        "Duration of Redis commands and scripts, by operation."
    );
    describe_counter!(REDIS_ERRORS, "Failed Redis commands, by kind.");
    describe_gauge!(
        REDIS_UP,
        "1 when the last readiness check found Redis reachable and writable, else 0."
    );
    describe_gauge!(REDIS_POOL, "Redis connections of this replica, by state.");
    describe_counter!(
        CART_OPERATIONS,
        "Cart operations, by operation and outcome."
    );
    describe_counter!(LOGIN_MERGES, "Guest-cart merges at login, by outcome.");
    describe_counter!(
        MERGE_LINES_MOVED,
        "Guest cart lines moved into user carts by login merges."
    );
    describe_counter!(
        SESSIONS_CREATED,
        "Sessions created (first write of a guest, or a login)."
    );
    describe_checkout();
    describe_counter!(
        GRPC_HANDLED,
        "gRPC calls on the service port, by method and status code."
    );
    describe_histogram!(
        GRPC_DURATION,
        Unit::Seconds,
        "Duration of gRPC calls on the service port, by method."
    );
    describe_counter!(LOGINS, "Login attempts, by outcome.");
    describe_gauge!(BUILD_INFO, "Build information; always 1.");
    describe_counter!(
        CART_CHANGE_RERUNS,
        "Cart changes run again with the same operation id because their reply may have been lost."
    );
    describe_counter!(
        IDEMPOTENT_REPLAYS,
        "Cart changes answered again from their Idempotency-Key record."
    );
    describe_counter!(
        SESSION_SLIDE_FAILURES,
        "Session expiry slides that could not be written after a successful request (the answer stays 2xx)."
    );
    describe_counter!(
        SESSION_COPIES,
        "Cart requests' session records: served from the replica's copy, loaded from Redis, or a served copy found stale (the request then runs again)."
    );
}

/// Keeps the histograms' memory bounded; the exporter leaves this to its user.
pub(crate) fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
}

/// Records one Redis call's duration.
pub(crate) fn redis_command(operation: &'static str, elapsed: Duration) {
    histogram!(REDIS_DURATION, "operation" => operation).record(elapsed.as_secs_f64());
}

/// Counts one failed Redis call by its kind.
pub(crate) fn redis_error(kind: &'static str) {
    counter!(REDIS_ERRORS, "kind" => kind).increment(1);
}

fn describe_checkout() {
    describe_counter!(CHECKOUT_CLAIMS, "Checkout claims asked for, by outcome.");
    describe_counter!(
        CHECKOUT_COMPLETIONS,
        "Checkout completions asked for, by outcome."
    );
    describe_counter!(
        CHECKOUT_RELEASES,
        "Checkout releases asked for, by outcome."
    );
    describe_counter!(
        CHECKOUT_EXPIRIES,
        "Checkout claims found expired when completed or released."
    );
}

/// A checkout claim asked for, by outcome.
pub(crate) fn checkout_claim(outcome: &'static str) {
    counter!(CHECKOUT_CLAIMS, "outcome" => outcome).increment(1);
}

/// A checkout completion (`completing`) or release asked for, by outcome.
pub(crate) fn checkout_end(completing: bool, outcome: &'static str) {
    let name = if completing {
        CHECKOUT_COMPLETIONS
    } else {
        CHECKOUT_RELEASES
    };
    counter!(name, "outcome" => outcome).increment(1);
}

/// A claim found past its end when it was completed or released.
pub(crate) fn checkout_expiry() {
    counter!(CHECKOUT_EXPIRIES).increment(1);
}

/// Counts a cart operation by its outcome (labels from `cart::CartError`).
pub(crate) fn cart_operation(operation: &'static str, outcome: &'static str) {
    counter!(CART_OPERATIONS, "operation" => operation, "outcome" => outcome).increment(1);
}

/// One gRPC call ended.
pub(crate) fn grpc_call(method: &'static str, code: &'static str, elapsed: Duration) {
    counter!(GRPC_HANDLED, "grpc_method" => method, "grpc_code" => code).increment(1);
    histogram!(GRPC_DURATION, "grpc_method" => method).record(elapsed.as_secs_f64());
}

/// Registers a counter at 0 for every combination of its known label values, so
/// `rate()` and alerts see a series before the first event.
pub(crate) fn register_counter(name: &'static str, labels: &[(&'static str, &[&'static str])]) {
    let mut combinations: Vec<Vec<(&'static str, &'static str)>> = vec![Vec::new()];
    for (label, values) in labels {
        combinations = combinations
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |value| {
                    let mut next = prefix.clone();
                    next.push((*label, *value));
                    next
                })
            })
            .collect();
    }
    for combination in combinations {
        let labels: Vec<metrics::Label> = combination
            .into_iter()
            .map(|(key, value)| metrics::Label::new(key, value))
            .collect();
        counter!(name, labels).increment(0);
    }
}

/// Registers a histogram with no observations for each value of its one
/// label, so its series (at 0) exist before the first event.
pub(crate) fn register_histogram(name: &'static str, label: &'static str, values: &[&'static str]) {
    for value in values {
        let _ = histogram!(name, label => *value);
    }
}

/// A cart change re-run after its reply may have been lost.
pub(crate) fn cart_change_rerun(operation: &'static str) {
    counter!(CART_CHANGE_RERUNS, "operation" => operation).increment(1);
}

/// A cart change answered from its Idempotency-Key record.
pub(crate) fn idempotent_replay() {
    counter!(IDEMPOTENT_REPLAYS).increment(1);
}

/// A session's expiry slide that failed after the request itself succeeded.
pub(crate) fn session_slide_failure() {
    counter!(SESSION_SLIDE_FAILURES).increment(1);
}

/// A cart request's session record: `outcome` one of [`SESSION_COPY_OUTCOMES`].
pub(crate) fn session_copy(outcome: &'static str) {
    counter!(SESSION_COPIES, "outcome" => outcome).increment(1);
}

pub(crate) fn session_created() {
    counter!(SESSIONS_CREATED).increment(1);
}

/// `outcome`: success, invalid, rate_limited.
pub(crate) fn login(outcome: &'static str) {
    counter!(LOGINS, "outcome" => outcome).increment(1);
}

/// `outcome`: merged, nothing_to_merge, retried, failed.
pub(crate) fn login_merge(outcome: &'static str, lines_moved: u32) {
    counter!(LOGIN_MERGES, "outcome" => outcome).increment(1);
    if lines_moved > 0 {
        counter!(MERGE_LINES_MOVED).increment(u64::from(lines_moved));
    }
}

pub(crate) fn redis_up(up: bool) {
    gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
}

pub(crate) fn redis_pool(connected: usize, total: usize) {
    gauge!(REDIS_POOL, "state" => "connected").set(connected as f64);
    gauge!(REDIS_POOL, "state" => "disconnected").set(total.saturating_sub(connected) as f64);
}

/// The request-duration histogram of each (route, method, status) seen so far.
/// Building a labelled key (two label strings) and looking it up in the
/// registry on every request cost more than the lookup here; the label set is
/// bounded (route templates and "unmatched", the statuses trolley answers).
type HttpDurations = std::collections::HashMap<String, Vec<(&'static str, u16, Histogram)>>;
static HTTP_DURATIONS: std::sync::LazyLock<std::sync::RwLock<HttpDurations>> =
    std::sync::LazyLock::new(Default::default);

/// Records one finished HTTP request.
pub(crate) fn http_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let find = |durations: &HttpDurations| {
        durations.get(route).and_then(|seen| {
            seen.iter()
                .find(|(m, s, _)| *m == method && *s == status)
                .map(|(_, _, histogram)| histogram.clone())
        })
    };
    let known = HTTP_DURATIONS
        .read()
        .ok()
        .and_then(|durations| find(&durations));
    if let Some(histogram) = known {
        histogram.record(seconds);
        return;
    }
    let histogram = histogram!(
        HTTP_DURATION,
        "http_request_method" => method,
        "http_route" => route.to_string(),
        "http_response_status_code" => status.to_string(),
    );
    histogram.record(seconds);
    if let Ok(mut durations) = HTTP_DURATIONS.write()
        && find(&durations).is_none()
    {
        durations
            .entry(route.to_string())
            .or_default()
            .push((method, status, histogram));
    }
}

/// Adjusts the active-requests gauge.
pub(crate) fn http_active(method: &'static str, delta: f64) {
    gauge!(HTTP_ACTIVE, "http_request_method" => method).increment(delta);
}
