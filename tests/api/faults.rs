//! Redis trouble, hung connections and shutdown: the service answers 503 within
//! its command timeout, recovers by itself, and drains on SIGTERM.

use std::{process::Command, time::Duration};

use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, Process, RedisServer, TestApp, binary, cart_key, cart_no_of, eventually, free_port,
    quantity_of, settings,
};

pub fn trials() -> Vec<Trial> {
    tests![
        readiness_requires_a_writable_primary,
        redis_down_answers_503_and_the_service_recovers_when_it_returns,
        a_hung_redis_answers_503_instead_of_hanging_and_recovers,
        a_replica_started_before_redis_becomes_ready_by_itself,
        sigterm_lets_in_flight_requests_finish_and_exits_zero,
        sigterm_lets_a_service_port_request_in_flight_finish,
        a_library_flushed_from_redis_is_loaded_again,
        a_cart_read_redis_answers_with_an_error_is_503,
        a_bad_setting_stops_start_up_with_one_line,
    ]
}

async fn assert_unavailable(reply: crate::helpers::Reply) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(reply.json(), json!({"error": "Cart storage unavailable"}));
    assert!(reply.headers.get("retry-after").is_some(), "no Retry-After");
}

async fn status_of(url: String) -> Option<StatusCode> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    client.get(url).send().await.ok().map(|r| r.status())
}

async fn readiness_requires_a_writable_primary() {
    let redis = RedisServer::start().await;
    if !redis.is_owned() {
        return; // TROLLEY_TEST_REDIS_URL: a server this test may not demote.
    }
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let ready = || status_of(format!("{}/readyz", app.admin));
    assert_eq!(ready().await, Some(StatusCode::OK));
    // Demoted, as a failed-over primary is: it answers PING but takes no writes.
    use fred::interfaces::ClientLike;
    let client = redis.client().await;
    let unreachable_primary = free_port().to_string();
    let _: String = client
        .custom(
            fred::cmd!("REPLICAOF"),
            vec!["127.0.0.1", unreachable_primary.as_str()],
        )
        .await
        .expect("replicaof");
    assert_eq!(ready().await, Some(StatusCode::SERVICE_UNAVAILABLE));
    let _: String = client
        .custom(fred::cmd!("REPLICAOF"), vec!["NO", "ONE"])
        .await
        .expect("replicaof no one");
    assert_eq!(ready().await, Some(StatusCode::OK));
}

async fn redis_down_answers_503_and_the_service_recovers_when_it_returns() {
    let mut redis = RedisServer::start().await;
    if !redis.is_owned() {
        eprintln!("skipped: TROLLEY_TEST_REDIS_URL is shared, this test must stop its own Redis");
        return;
    }
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut visitor = app.browser();
    visitor.add(42, 2).await;
    assert_eq!(
        status_of(format!("{}/readyz", app.admin)).await,
        Some(StatusCode::OK)
    );

    redis.stop();
    assert_unavailable(visitor.get("/api/cart").await).await;
    assert_unavailable(
        visitor
            .post("/api/cart/add", r#"{"productId": 1, "quantity": 1}"#)
            .await,
    )
    .await;
    assert_unavailable(visitor.get("/cart").await).await;
    assert_eq!(
        status_of(format!("{}/readyz", app.admin)).await,
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(
        status_of(format!("{}/livez", app.admin)).await,
        Some(StatusCode::OK)
    );

    redis.restart().await;
    let recovered = visitor.cart_answers_within(Duration::from_secs(20)).await;
    assert!(
        recovered,
        "the service did not recover after Redis came back"
    );
    assert_eq!(
        status_of(format!("{}/readyz", app.admin)).await,
        Some(StatusCode::OK)
    );
    let cart = visitor.cart().await;
    assert_eq!(quantity_of(&cart, 42), 2, "the cart survived in Redis");
    visitor.add(1, 1).await;
    assert_eq!(quantity_of(&visitor.cart().await, 1), 1);
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn a_hung_redis_answers_503_instead_of_hanging_and_recovers() {
    let redis = RedisServer::start().await;
    let Some(pid) = redis.pid() else {
        eprintln!("skipped: TROLLEY_TEST_REDIS_URL is shared, this test must pause its own Redis");
        return;
    };
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut visitor = app.browser();
    visitor.add(42, 1).await;

    // SIGSTOP: the TCP connection stays open but nothing answers (like a
    // half-open connection or a stalled server).
    signal(pid, "-STOP");
    assert_unavailable(visitor.get("/api/cart").await).await;
    assert_unavailable(
        visitor
            .post("/api/cart/add", r#"{"productId": 1, "quantity": 1}"#)
            .await,
    )
    .await;
    assert_eq!(
        status_of(format!("{}/readyz", app.admin)).await,
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    signal(pid, "-CONT");

    let recovered = visitor.cart_answers_within(Duration::from_secs(20)).await;
    assert!(recovered, "the service did not recover after Redis resumed");
    let cart = visitor.cart().await;
    assert_eq!(quantity_of(&cart, 42), 1);
    // The add refused while Redis hung must not have been applied behind the
    // client's back after Redis resumed.
    assert_eq!(quantity_of(&cart, 1), 0, "a refused add was replayed later");
}

async fn a_replica_started_before_redis_becomes_ready_by_itself() {
    let mut redis = RedisServer::start().await;
    if !redis.is_owned() {
        eprintln!("skipped: TROLLEY_TEST_REDIS_URL is shared");
        return;
    }
    redis.stop();
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    assert_eq!(
        status_of(format!("{}/readyz", app.admin)).await,
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    let mut visitor = app.browser();
    assert_unavailable(
        visitor
            .post("/api/cart/add", r#"{"productId": 42, "quantity": 1}"#)
            .await,
    )
    .await;
    redis.restart().await;
    let ready = eventually(Duration::from_secs(20), || async {
        status_of(format!("{}/readyz", app.admin)).await == Some(StatusCode::OK)
    })
    .await;
    assert!(ready, "never became ready");
    visitor.add(42, 1).await;
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1);
}

async fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    let users = tempfile::tempdir().expect("dir");
    let users_file = users.path().join("users.json").display().to_string();
    let mut add = Command::new(binary())
        .args(["user", "add", "slowpoke"])
        .env("TROLLEY_USERS_FILE", &users_file)
        .env_remove("TROLLEY_REDIS_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("user add");
    {
        use std::io::Write;
        add.stdin
            .take()
            .expect("stdin")
            .write_all(b"a long enough password")
            .expect("write");
    }
    assert!(add.wait().expect("user add").success());

    let mut process = Process::spawn(&[("TROLLEY_USERS_FILE", users_file)]).await;
    let base = process.base.clone();
    // A login spends a deliberate argon2 verification: a request that is still
    // in flight when SIGTERM arrives.
    // Written whole over a raw socket before the signal, so it is surely in flight.
    let mut socket = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    let body = json!({"username": "slowpoke", "password": "a long enough password"}).to_string();
    let request = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    {
        use tokio::io::AsyncWriteExt;
        socket.write_all(request.as_bytes()).await.expect("send");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    process.terminate();
    let mut response = String::new();
    {
        use tokio::io::AsyncReadExt;
        socket
            .read_to_string(&mut response)
            .await
            .expect("the in-flight request was answered");
    }
    let status = response.split_whitespace().nth(1).unwrap_or_default();
    assert_eq!(status, StatusCode::OK.as_str(), "{response}");
    let exit = process.wait_exit(Duration::from_secs(30)).await;
    assert!(exit.success(), "exit status {exit:?}");
    let refused = reqwest::Client::new()
        .get(format!("{}/api/cart", process.base))
        .send()
        .await;
    assert!(refused.is_err(), "still accepting after shutdown");
}

async fn sigterm_lets_a_service_port_request_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let service_port = free_port();
    let mut process = Process::spawn(&[
        ("TROLLEY_SERVICE_AUTH", "none".to_string()),
        (
            "TROLLEY_SERVICE_LISTEN",
            format!("127.0.0.1:{service_port}"),
        ),
    ])
    .await;
    // An add whose body is half sent when SIGTERM arrives: in flight.
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", service_port))
        .await
        .expect("connect");
    let body = json!({"sku": "apple", "quantity": 2}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let request = format!(
        "POST /v1/carts/ext/draining/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;
    process.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    socket
        .write_all(tail.as_bytes())
        .await
        .expect("send the rest");
    let mut response = String::new();
    socket
        .read_to_string(&mut response)
        .await
        .expect("the in-flight request was answered");
    let status = response.split_whitespace().nth(1).unwrap_or_default();
    assert_eq!(status, StatusCode::OK.as_str(), "{response}");
    assert!(response.contains(r#""quantity":2"#), "{response}");
    let exit = process.wait_exit(Duration::from_secs(30)).await;
    assert!(exit.success(), "exit status {exit:?}");
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", service_port)).await;
    assert!(
        refused.is_err(),
        "the service port still accepts after shutdown"
    );
}

async fn a_library_flushed_from_redis_is_loaded_again() {
    use fred::prelude::*;
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut visitor = app.browser();
    visitor.add(42, 1).await;
    // As after a restart of a Redis that lost its data.
    let client = redis.client().await;
    let _: String = client
        .custom(fred::cmd!("FUNCTION"), vec!["FLUSH"])
        .await
        .expect("function flush");
    visitor.add(42, 1).await;
    assert_eq!(quantity_of(&visitor.cart().await, 42), 2);
}

/// A cart read Redis answers with an error (a cart key holding no hash; a
/// demoted primary refusing the script, which slides the cart's TTL) answers
/// 503, and the cart reads again once Redis is right.
async fn a_cart_read_redis_answers_with_an_error_is_503() {
    use fred::prelude::*;
    let redis = RedisServer::start().await;
    if !redis.is_owned() {
        return; // TROLLEY_TEST_REDIS_URL: a server this test may not demote.
    }
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut visitor = app.browser();
    let line = visitor.add(42, 1).await;
    let client = redis.client().await;

    let key = cart_key(cart_no_of(line));
    let kept = format!("{key}:kept");
    let _: () = client.rename(&key, &kept).await.expect("rename");
    let _: () = client
        .set(&key, "no hash", None, None, false)
        .await
        .expect("set");
    assert_unavailable(visitor.get("/api/cart").await).await;
    let _: () = client.rename(&kept, &key).await.expect("rename back");
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1);

    let unreachable_primary = free_port().to_string();
    let _: String = client
        .custom(
            fred::cmd!("REPLICAOF"),
            vec!["127.0.0.1", unreachable_primary.as_str()],
        )
        .await
        .expect("replicaof");
    assert_unavailable(visitor.get("/api/cart").await).await;
    let _: String = client
        .custom(fred::cmd!("REPLICAOF"), vec!["NO", "ONE"])
        .await
        .expect("replicaof no one");
    assert!(
        visitor.cart_answers_within(Duration::from_secs(10)).await,
        "no cart read after the primary took writes again"
    );
    assert_eq!(quantity_of(&visitor.cart().await, 42), 1);
}

async fn a_bad_setting_stops_start_up_with_one_line() {
    for (key, value) in [
        ("TROLLEY_SESSION_TTL", "soon"),
        ("TROLLEY_MAX_QUANTITY", "0"),
        ("TROLLEY_REDIS_URL", "mysql://nope"),
        ("TROLLEY_MERGE_RULE", "average"),
    ] {
        let output = Command::new(binary())
            .env(key, value)
            .env("TROLLEY_LISTEN", "127.0.0.1:0")
            .env("TROLLEY_ADMIN_LISTEN", "127.0.0.1:0")
            .output()
            .expect("trolley runs");
        assert!(!output.status.success(), "{key}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{key}={value}: {stderr}");
    }
}
