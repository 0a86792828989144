//! Metrics, traces and logs of the real binary: `/metrics` parsed after real
//! requests, spans exported to an OTLP receiver running inside the test, JSON
//! log lines read back, and a missing collector that changes nothing for clients.

use std::{
    collections::{BTreeMap, HashMap},
    io::Write,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode as AxumStatus, routing::post};
use libtest_mimic::Trial;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{Span, span::SpanKind},
};
use prost::Message;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Browser, Process, RedisServer, binary, eventually, free_port};

/// Named `observability::…`, so `cargo test --test api observability` runs them all.
pub fn trials() -> Vec<Trial> {
    tests![
        every_labelled_counter_is_exported_at_zero_from_the_start,
        metrics_count_cart_operations_and_label_requests_by_route_template,
        an_incoming_traceparent_is_continued_by_the_exported_server_span_and_its_redis_spans,
        a_grpc_call_is_a_server_span_under_the_rpc_conventions_continuing_its_metadata,
        requests_succeed_when_the_http_collector_port_is_closed =
            || requests_succeed_when_the_collector_port_is_closed("http/protobuf"),
        requests_succeed_when_the_grpc_collector_port_is_closed =
            || requests_succeed_when_the_collector_port_is_closed("grpc"),
        json_access_logs_carry_the_trace_and_never_the_session_or_password,
        by_default_only_failed_and_slow_requests_get_an_access_line,
        every_queued_log_line_is_written_by_shutdown,
    ]
}

// ---------------------------------------------------------------- metrics

/// One sample of the Prometheus text format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format (the subset an exporter writes: no
/// timestamps, label values with `\"`, `\\` and `\n` escapes).
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels: {line}"));
                (name.to_string(), parse_labels(body))
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return labels;
        }
        assert_eq!(chars.next(), Some('"'), "label {key} is not quoted");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.insert(key.trim_start_matches(',').trim().to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// The sum of the samples named `name` whose labels include all of `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(process: &Process) -> String {
    let response = reqwest::get(format!("{}/metrics", process.admin))
        .await
        .expect("metrics answer");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("metrics body")
}

async fn metrics_count_cart_operations_and_label_requests_by_route_template() {
    let redis = RedisServer::start().await;
    let process = Process::spawn(&[("TROLLEY_REDIS_URL", redis.url.clone())]).await;
    let mut browser = Browser::new(&process.base);
    let adds = |samples: &[Sample]| {
        value(
            samples,
            "trolley_cart_operations_total",
            &[("operation", "add"), ("outcome", "ok")],
        )
    };
    let before = parse_metrics(&scrape(&process).await);

    for _ in 0..3 {
        browser.add(42, 1).await;
    }
    let missing = browser.put("/api/cart/item/999999?quantity=1").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    let wrong_method = browser.get("/api/cart/item/123").await;
    assert_eq!(
        wrong_method.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        wrong_method.text
    );
    let unknown = browser.get("/no/such/page/31337").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    let ready = reqwest::get(format!("{}/readyz", process.admin))
        .await
        .expect("readyz answers");
    assert_eq!(ready.status(), StatusCode::OK);

    let text = scrape(&process).await;
    let after = parse_metrics(&text);
    assert_eq!(adds(&after) - adds(&before), 3.0, "{text}");

    let requests = |method: &str, route: &str, status: &str| {
        value(
            &after,
            "http_server_request_duration_seconds_count",
            &[
                ("http_request_method", method),
                ("http_route", route),
                ("http_response_status_code", status),
            ],
        )
    };
    assert_eq!(requests("POST", "/api/cart/add", "200"), 3.0, "{text}");
    assert_eq!(requests("PUT", "/api/cart/item/{id}", "404"), 1.0, "{text}");
    assert_eq!(requests("GET", "/api/cart/item/{id}", "405"), 1.0, "{text}");
    assert_eq!(requests("GET", "unmatched", "404"), 1.0, "{text}");
    for raw in ["999999", "31337", "/no/such"] {
        assert!(
            !after
                .iter()
                .any(|s| s.labels.values().any(|v| v.contains(raw))),
            "a raw path leaked into a label ({raw}): {text}"
        );
    }

    // A real histogram with the explicit buckets, not a summary.
    let mut bounds: Vec<f64> = after
        .iter()
        .filter(|s| {
            s.name == "http_server_request_duration_seconds_bucket"
                && s.labels.get("http_route").map(String::as_str) == Some("/api/cart/add")
        })
        .map(|s| {
            let le = &s.labels["le"];
            if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("numeric le")
            }
        })
        .collect();
    bounds.sort_by(f64::total_cmp);
    let mut expected = trolley::metrics::LATENCY_BUCKETS.to_vec();
    expected.push(f64::INFINITY);
    assert_eq!(bounds, expected, "{text}");
    assert_eq!(
        after
            .iter()
            .find(|s| s.name == "http_server_request_duration_seconds_bucket"
                && s.labels.get("http_route").map(String::as_str) == Some("/api/cart/add")
                && s.labels["le"] == "+Inf")
            .map(|s| s.value),
        Some(3.0),
        "{text}"
    );

    assert!(
        value(
            &after,
            "trolley_redis_command_duration_seconds_count",
            &[("operation", "cart_add")]
        ) >= 3.0,
        "{text}"
    );
    assert_eq!(value(&after, "trolley_redis_up", &[]), 1.0, "{text}");
    assert_eq!(
        value(
            &after,
            "trolley_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0,
        "{text}"
    );
    assert!(
        value(&after, "trolley_sessions_created_total", &[]) >= 1.0,
        "{text}"
    );

    promtool_check(&text);
}

/// `promtool check metrics` prints nothing for a clean scrape.
fn promtool_check(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("note: promtool is not installed; skipped `promtool check metrics`");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool finishes");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}"
    );
}

// ---------------------------------------------------------------- traces

/// An OTLP/HTTP receiver on 127.0.0.1: decodes `POST /v1/traces` (protobuf)
/// and keeps every span with its resource attributes.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

/// A received span, with the attributes of its resource.
type Received = (Vec<KeyValue>, Span);

impl Collector {
    /// Starts the receiver; returns it and its base URL.
    async fn start() -> (Collector, String) {
        let collector = Collector::default();
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(collector.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (collector, url)
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().expect("lock").clone()
    }
}

async fn receive(State(collector): State<Collector>, body: Bytes) -> (AxumStatus, Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (AxumStatus::BAD_REQUEST, Vec::new());
    };
    let mut spans = collector.spans.lock().expect("lock");
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                spans.push((resource.clone(), span));
            }
        }
    }
    (
        AxumStatus::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute(attributes, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh W3C trace id and parent span id (hex).
fn trace_ids() -> (String, String) {
    let trace_id = format!("{:032x}", rand::random::<u128>() | 1);
    let parent_id = format!("{:016x}", rand::random::<u64>() | 1);
    (trace_id, parent_id)
}

async fn post_with_traceparent(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    traceparent: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .post(url)
        .header("traceparent", traceparent)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("request is answered")
}

async fn an_incoming_traceparent_is_continued_by_the_exported_server_span_and_its_redis_spans() {
    let (collector, endpoint) = Collector::start().await;
    let redis = RedisServer::start().await;
    // RUST_LOG stays at the harness's `warn`: quieter logs must not cost traces.
    let process = Process::spawn(&[
        ("TROLLEY_REDIS_URL", redis.url.clone()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200".into()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test".into(),
        ),
    ])
    .await;
    let (trace_id, parent_id) = trace_ids();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let response = post_with_traceparent(
        &client,
        &format!("{}/api/cart/add", process.base),
        r#"{"productId": 42, "quantity": 1}"#,
        &format!("00-{trace_id}-{parent_id}-01"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    // The server span ends after its children, so once it is here they are too.
    let server_span = || {
        collector
            .spans()
            .into_iter()
            .find(|(_, span)| hex(&span.trace_id) == trace_id && span.name == "POST /api/cart/add")
    };
    let exported = eventually(Duration::from_secs(15), || async {
        server_span().is_some()
    })
    .await;
    assert!(
        exported,
        "no server span of trace {trace_id} was exported; got {:?}",
        collector
            .spans()
            .iter()
            .map(|(_, s)| &s.name)
            .collect::<Vec<_>>()
    );
    let (resource, server) = server_span().expect("server span");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(
        hex(&server.parent_span_id),
        parent_id,
        "continues the caller's span"
    );
    assert_eq!(string_attribute(&resource, "service.name"), Some("trolley"));
    assert_eq!(
        string_attribute(&resource, "service.version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        string_attribute(&resource, "deployment.environment.name"),
        Some("test")
    );
    assert_eq!(
        string_attribute(&server.attributes, "http.request.method"),
        Some("POST")
    );
    assert_eq!(
        string_attribute(&server.attributes, "http.route"),
        Some("/api/cart/add")
    );
    assert_eq!(
        attribute(&server.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );

    // Redis spans of the same trace, descending from the server span.
    let trace: HashMap<Vec<u8>, Span> = collector
        .spans()
        .into_iter()
        .filter(|(_, span)| hex(&span.trace_id) == trace_id)
        .map(|(_, span)| (span.span_id.clone(), span))
        .collect();
    let descends_from_server = |span: &Span| {
        let mut parent = span.parent_span_id.clone();
        for _ in 0..32 {
            if parent == server.span_id {
                return true;
            }
            match trace.get(&parent) {
                Some(up) => parent = up.parent_span_id.clone(),
                None => return false,
            }
        }
        false
    };
    let redis_spans: Vec<&Span> = trace
        .values()
        .filter(|span| string_attribute(&span.attributes, "db.system.name") == Some("redis"))
        .collect();
    assert!(
        !redis_spans.is_empty(),
        "no Redis span in the trace: {:?}",
        trace.values().map(|s| &s.name).collect::<Vec<_>>()
    );
    for span in &redis_spans {
        assert!(
            descends_from_server(span),
            "{} is not under the server span",
            span.name
        );
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert!(
            string_attribute(&span.attributes, "db.operation.name").is_some(),
            "{span:?}"
        );
    }
    assert!(
        redis_spans.iter().any(|s| s.name == "cart_add"),
        "{:?}",
        redis_spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
}

/// A traced gRPC call: the trace and span ids it was sent under, its method and
/// the status code it ended with.
struct TracedCall<'a> {
    trace_id: &'a str,
    parent_id: &'a str,
    method: &'static str,
    code: i64,
}

async fn a_grpc_call_is_a_server_span_under_the_rpc_conventions_continuing_its_metadata() {
    use trolley::proto::trolley::cart::v1::{self as pb, cart_service_client::CartServiceClient};
    let (collector, endpoint) = Collector::start().await;
    let service_port = free_port();
    let process = Process::spawn(&[
        ("TROLLEY_SERVICE_AUTH", "none".into()),
        (
            "TROLLEY_SERVICE_LISTEN",
            format!("127.0.0.1:{service_port}"),
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200".into()),
    ])
    .await;
    let channel =
        tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{service_port}"))
            .expect("url")
            .connect()
            .await
            .expect("h2c connection to the service port");
    let mut client = CartServiceClient::new(channel);
    let (added_trace, added_parent) = trace_ids();
    client
        .add_item(traced(
            pb::AddItemRequest {
                owner: "ext/traced".into(),
                product: Some(pb::add_item_request::Product::Sku("apple".into())),
                quantity: 1,
            },
            &added_trace,
            &added_parent,
        ))
        .await
        .expect("added");
    let (missing_trace, missing_parent) = trace_ids();
    let missing = client
        .complete_checkout(traced(
            pb::CompleteCheckoutRequest {
                owner: "ext/traced".into(),
                claim_id: "kNoSuchClaim".into(),
                order_id: "o-1".into(),
            },
            &missing_trace,
            &missing_parent,
        ))
        .await
        .expect_err("no such claim");
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let span_of = |trace_id: &str| {
        collector
            .spans()
            .into_iter()
            .map(|(_, span)| span)
            .find(|span| hex(&span.trace_id) == trace_id && span.kind == SpanKind::Server as i32)
    };
    let exported = eventually(Duration::from_secs(15), || async {
        span_of(&added_trace).is_some() && span_of(&missing_trace).is_some()
    })
    .await;
    assert!(exported, "no gRPC server spans exported");
    for trace_id in [&added_trace, &missing_trace] {
        let servers = collector
            .spans()
            .iter()
            .filter(|(_, span)| {
                hex(&span.trace_id) == *trace_id && span.kind == SpanKind::Server as i32
            })
            .count();
        assert_eq!(servers, 1, "one server span per call, not an HTTP one too");
    }
    let calls = [
        TracedCall {
            trace_id: &added_trace,
            parent_id: &added_parent,
            method: "AddItem",
            code: 0,
        },
        TracedCall {
            trace_id: &missing_trace,
            parent_id: &missing_parent,
            method: "CompleteCheckout",
            code: 5,
        },
    ];
    for TracedCall {
        trace_id,
        parent_id,
        method,
        code,
    } in calls
    {
        let span = span_of(trace_id).expect("span");
        assert_eq!(span.name, format!("trolley.cart.v1.CartService/{method}"));
        assert_eq!(
            hex(&span.parent_span_id),
            parent_id,
            "continues the caller's span"
        );
        let attributes = &span.attributes;
        assert_eq!(string_attribute(attributes, "rpc.system"), Some("grpc"));
        assert_eq!(
            string_attribute(attributes, "rpc.service"),
            Some("trolley.cart.v1.CartService")
        );
        assert_eq!(string_attribute(attributes, "rpc.method"), Some(method));
        assert_eq!(
            attribute(attributes, "rpc.grpc.status_code"),
            Some(&any_value::Value::IntValue(code))
        );
        // NOT_FOUND is the caller's error, not the server's.
        assert_eq!(
            span.status.as_ref().map_or(0, |status| status.code),
            0,
            "{span:?}"
        );
    }
    drop(process);
}

/// A gRPC request carrying a W3C `traceparent` in its metadata.
fn traced<T>(message: T, trace_id: &str, parent_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "traceparent",
        tonic::metadata::MetadataValue::try_from(format!("00-{trace_id}-{parent_id}-01"))
            .expect("ascii"),
    );
    request
}

async fn requests_succeed_when_the_collector_port_is_closed(protocol: &str) {
    let redis = RedisServer::start().await;
    let closed = free_port();
    let process = Process::spawn(&[
        ("TROLLEY_REDIS_URL", redis.url.clone()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{closed}"),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ])
    .await;
    // A generous per-request bound: a request must never wait for the collector.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let (trace_id, parent_id) = trace_ids();
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    let mut cookie: Option<String> = None;
    for i in 0..20 {
        let response = if i % 2 == 0 {
            post_with_traceparent(
                &client,
                &format!("{}/api/cart/add", process.base),
                r#"{"productId": 42, "quantity": 1}"#,
                &traceparent,
                cookie.as_deref(),
            )
            .await
        } else {
            let mut request = client
                .get(format!("{}/api/cart", process.base))
                .header("traceparent", &traceparent);
            if let Some(cookie) = &cookie {
                request = request.header("cookie", cookie);
            }
            request
                .send()
                .await
                .unwrap_or_else(|e| panic!("request {i}: {e}"))
        };
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().expect("cookie");
            cookie = set.split(';').next().map(str::to_string);
        }
        let body: Value = response.json().await.expect("JSON body");
        if i % 2 == 1 {
            assert_eq!(body["items"][0]["quantity"], (i / 2 + 1) as u64, "{body}");
        }
    }
}

// ---------------------------------------------------------------- logs

/// Runs `trolley user add NAME` against `redis_url`, the password on stdin.
fn add_user(redis_url: &str, name: &str, password: &str) {
    let mut child = Command::new(binary())
        .args(["user", "add", name])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TROLLEY_REDIS_URL", redis_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trolley user add runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(password.as_bytes())
        .expect("password");
    let output = child.wait_with_output().expect("user add finishes");
    assert!(
        output.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn json_access_logs_carry_the_trace_and_never_the_session_or_password() {
    let (_collector, endpoint) = Collector::start().await;
    let redis = RedisServer::start().await;
    let password = "correct-horse-battery-staple-7";
    add_user(&redis.url, "alice", password);
    let logs = tempfile::NamedTempFile::new().expect("log file");

    // The binary with its stdout (the log stream) in a file.
    let port = free_port();
    let admin_port = free_port();
    let child = Command::new(binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TROLLEY_LISTEN", format!("127.0.0.1:{port}"))
        .env("TROLLEY_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
        .env("TROLLEY_REDIS_URL", &redis.url)
        .env("TROLLEY_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("TROLLEY_ACCESS_LOG", "all")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .stdout(logs.reopen().expect("log file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("trolley starts");
    let mut process = Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
        admin: format!("http://127.0.0.1:{admin_port}"),
    };
    let started = eventually(Duration::from_secs(20), || async {
        reqwest::get(format!("{}/livez", process.admin))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(started, "trolley did not start");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let (trace_id, parent_id) = trace_ids();
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    let added = post_with_traceparent(
        &client,
        &format!("{}/api/cart/add", process.base),
        r#"{"productId": 42, "quantity": 2}"#,
        &traceparent,
        None,
    )
    .await;
    assert_eq!(added.status(), StatusCode::OK);
    let guest_cookie = added
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let login = post_with_traceparent(
        &client,
        &format!("{}/api/auth/login", process.base),
        &serde_json::json!({"username": "alice", "password": password}).to_string(),
        &traceparent,
        Some(&guest_cookie),
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);
    let user_cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a rotated session cookie")
        .to_string();
    let wrong = post_with_traceparent(
        &client,
        &format!("{}/api/auth/login", process.base),
        r#"{"username": "alice", "password": "not-the-password-9"}"#,
        &traceparent,
        Some(&user_cookie),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    process.terminate();
    let status = process.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "trolley exited with {status}");

    let text = std::fs::read_to_string(logs.path()).expect("read logs");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect();
    let access = |route: &str, status: u64| {
        lines
            .iter()
            .find(|l| {
                l["target"] == "trolley::access" && l["route"] == route && l["status"] == status
            })
            .unwrap_or_else(|| panic!("no access line for {route} {status}:\n{text}"))
    };
    let add_line = access("/api/cart/add", 200);
    assert_eq!(add_line["level"], "INFO");
    assert_eq!(add_line["method"], "POST");
    assert!(add_line["latency_ms"].as_f64().is_some(), "{add_line}");
    assert_eq!(add_line["trace_id"], trace_id.as_str(), "{add_line}");
    let span_id = add_line["span_id"].as_str().expect("span_id");
    assert!(
        span_id.len() == 16 && span_id != parent_id,
        "the server span's own id: {add_line}"
    );
    access("/api/auth/login", 200);
    access("/api/auth/login", 401);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["target"] == "trolley::access")
            .count(),
        3,
        "one access line per request:\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "login merge" && l["trace_id"] == trace_id.as_str()),
        "the login merge is logged within the trace:\n{text}"
    );

    for secret in [
        password,
        "not-the-password-9",
        guest_cookie.split_once('=').expect("cookie").1,
        user_cookie.split_once('=').expect("cookie").1,
    ] {
        assert!(
            !text.contains(secret),
            "the logs hold a secret ({secret}):\n{text}"
        );
    }
}

/// The access lines of a run of the binary (JSON logs at `info`, as the Helm
/// chart runs it), read after it exited.
fn access_lines(logs: &tempfile::NamedTempFile) -> Vec<Value> {
    std::fs::read_to_string(logs.path())
        .expect("read logs")
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "trolley::access")
        .collect()
}

async fn by_default_only_failed_and_slow_requests_get_an_access_line() {
    let mut redis = RedisServer::start().await;
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let mut process = Process::spawn_logging_to(
        &[
            ("TROLLEY_REDIS_URL", redis.url.clone()),
            ("RUST_LOG", "info".into()),
            ("TROLLEY_REDIS_TIMEOUT", "500ms".into()),
            // No request of this test is "slow" on a loaded machine (the rule
            // for slow ones is a unit test of LogSettings).
            ("TROLLEY_ACCESS_LOG_SLOW", "60s".into()),
        ],
        logs.reopen().expect("log file").into(),
    )
    .await;
    let mut shopper = Browser::new(&process.base);
    shopper.add(42, 1).await;
    for _ in 0..20 {
        assert_eq!(shopper.get("/api/cart").await.status, StatusCode::OK);
    }
    redis.stop();
    let failed = shopper.get("/api/cart").await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    process.terminate();
    assert!(process.wait_exit(Duration::from_secs(30)).await.success());
    let lines = access_lines(&logs);
    assert_eq!(lines.len(), 1, "only the 503 is logged: {lines:?}");
    assert_eq!(lines[0]["status"], 503);
    assert_eq!(lines[0]["route"], "/api/cart");
}

/// Lines are written by a thread of their own; none of a burst is lost when
/// the process is stopped right after it.
async fn every_queued_log_line_is_written_by_shutdown() {
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let mut process = Process::spawn_logging_to(
        &[
            ("RUST_LOG", "info".into()),
            ("TROLLEY_ACCESS_LOG", "all".into()),
        ],
        logs.reopen().expect("log file").into(),
    )
    .await;
    let requests: Vec<_> = (0..400)
        .map(|_| {
            let mut visitor = Browser::new(&process.base);
            tokio::spawn(async move { visitor.get("/api/products/42").await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.expect("task"), StatusCode::OK);
    }
    process.terminate();
    assert!(process.wait_exit(Duration::from_secs(30)).await.success());
    let served = access_lines(&logs)
        .iter()
        .filter(|line| line["route"] == "/api/products/{id}")
        .count();
    assert_eq!(served, 400);
}

async fn every_labelled_counter_is_exported_at_zero_from_the_start() {
    // A fresh process: the recorder is process-wide.
    let process = Process::spawn(&[]).await;
    let scrape = reqwest::get(format!("{}/metrics", process.admin))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    let mut expected = vec![
        r#"trolley_login_merges_total{outcome="merged"} 0"#.to_string(),
        r#"trolley_login_merges_total{outcome="nothing_to_merge"} 0"#.to_string(),
        r#"trolley_login_merges_total{outcome="retried"} 0"#.to_string(),
        r#"trolley_login_merges_total{outcome="failed"} 0"#.to_string(),
        r#"trolley_logins_total{outcome="rate_limited"} 0"#.to_string(),
        r#"trolley_redis_errors_total{kind="timeout"} 0"#.to_string(),
        r#"trolley_redis_errors_total{kind="session_store"} 0"#.to_string(),
        "trolley_merge_lines_moved_total 0".to_string(),
    ];
    for operation in ["get", "add", "set_quantity", "remove", "clear"] {
        for outcome in [
            "ok",
            "invalid",
            "not_found",
            "forbidden",
            "limit",
            "unavailable",
        ] {
            expected.push(format!(
                r#"trolley_cart_operations_total{{operation="{operation}",outcome="{outcome}"}} 0"#
            ));
        }
    }
    for line in expected {
        assert!(
            scrape.lines().any(|l| l == line),
            "missing `{line}` in:\n{scrape}"
        );
    }
}
