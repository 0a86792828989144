//! API.md v1.1 "Hostile clients", over real sockets (raw TCP where a client
//! must omit `Host` or declare a body it never sends): every refusal has its
//! status and JSON body, and changes nothing in Redis.

use std::time::Duration;

use libtest_mimic::Trial;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    Backend, PASSWORD, RedisServer, TestApp, items, quantity_of, redis_cli, settings,
};

pub fn trials() -> Vec<Trial> {
    let mut trials = tests![
        slow_and_idle_clients_are_cut_off_with_408,
        refused_requests_write_nothing_to_redis,
        allowed_origins_and_cors_let_the_shop_in,
    ];
    trials.extend(contract_suite![
        an_integer_field_takes_a_number_only_when_its_text_is_integral,
        an_nfd_password_matches_its_nfc_twin,
    ]);
    // Not on the shared Cluster: the limits they test (or, with thirty logins
    // at once, reach) count per client address, and every test's client has
    // the same one there.
    trials.extend(contract_suite![on [Redis, Embedded]:
        parallel_correct_logins_of_one_user_all_succeed_and_merge_each_guest_line_once,
        parallel_wrong_logins_get_at_most_the_limit_of_password_checks,
        a_flood_of_new_sessions_is_limited_and_existing_sessions_are_not,
        right_passwords_among_parallel_wrong_ones_succeed_while_failures_stay_under_the_limit,
    ]);
    trials
}

/// Sends raw bytes and reads the answer until the server closes or 2 s pass.
async fn raw(base: &str, request: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    socket.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

fn body_of(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer:?}"))
}

fn key_count(redis: &RedisServer) -> usize {
    redis_cli(redis.port, &["dbsize"])
        .trim()
        .parse()
        .unwrap_or(0)
}

/// A request that changes something: method, path and body.
struct Change {
    method: Method,
    path: &'static str,
    body: Option<&'static str>,
}

async fn refused_requests_write_nothing_to_redis() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut shopper = app.browser();
    shopper.add(42, 1).await;
    let before = key_count(&redis);
    let cookie = format!(
        "trolley_session={}",
        shopper.cookie.clone().expect("cookie")
    );
    let add = r#"{"productId": 42, "quantity": 1}"#;

    // No Host on HTTP/1.1.
    let answer = raw(
        &app.base,
        &format!(
            "POST /api/cart/add HTTP/1.1\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{add}",
            add.len()
        ),
    )
    .await;
    assert!(status_line(&answer).contains(" 400 "), "{answer}");
    assert!(body_of(&answer)["error"].is_string());

    // A declared 10 MB body: 413 at once, no `100 Continue`, nothing read.
    let answer = raw(
        &app.base,
        "POST /api/cart/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(status_line(&answer).contains(" 413 "), "{answer}");
    assert_eq!(
        body_of(&answer),
        json!({"error": "Request body is larger than 16 KiB"})
    );

    // Cross-site changes: 403 with the exact body, whatever the route.
    let cross = [
        vec![("Origin", "https://evil.example")],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ];
    let changes = [
        Change {
            method: Method::POST,
            path: "/api/cart/add",
            body: Some(add),
        },
        Change {
            method: Method::DELETE,
            path: "/api/cart",
            body: None,
        },
        Change {
            method: Method::POST,
            path: "/api/auth/login",
            body: Some(r#"{"username": "a", "password": "b"}"#),
        },
    ];
    for headers in &cross {
        for Change { method, path, body } in &changes {
            let reply = shopper
                .send(method.clone(), path, *body)
                .headers(headers)
                .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{method} {path} {headers:?}"
            );
            assert_eq!(reply.json(), json!({"error": "Cross-site request refused"}));
        }
    }
    // Its own origin (any scheme: TLS may end at a proxy) passes.
    let host = app.base.trim_start_matches("http://");
    let own = format!("https://{host}");
    let reply = shopper
        .post("/api/cart/add", add)
        .header("Origin", &own)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let before = before.max(key_count(&redis));

    // Strict JSON and ids.
    for (path, body) in [
        (
            "/api/cart/add",
            r#"{"productId": 42, "productId": 7, "quantity": 1}"#,
        ),
        (
            "/api/cart/add",
            r#"{"productId": 9223372036854775808, "quantity": 1}"#,
        ),
        ("/cart/items", r#"{"sku": "apple", "sku": "banana"}"#),
    ] {
        let reply = shopper.post(path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert!(reply.json()["error"].is_string() || reply.json()["productId"].is_string());
    }
    for path in ["/api/cart/item/%FF", "/api/cart/item/%C3%28"] {
        let reply = shopper.delete(path).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(reply.json()["error"].is_string(), "{}", reply.text);
    }
    let reply = shopper.get("/api/products/%FF").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["error"].is_string());

    assert_eq!(
        key_count(&redis),
        before,
        "a refused request wrote to Redis"
    );
    assert_eq!(
        quantity_of(&shopper.cart().await, 42),
        2,
        "only the two served adds"
    );
    assert_eq!(quantity_of(&shopper.cart().await, 7), 0);
}

async fn allowed_origins_and_cors_let_the_shop_in() {
    let redis = RedisServer::start().await;
    let mut config = settings(Backend::Redis, Some(&redis));
    config.allowed_origins = vec!["https://shop.example".into()];
    config.cors_origins = vec!["https://spa.example".into()];
    let app = TestApp::spawn(config).await;
    let mut shopper = app.browser();
    let add = r#"{"productId": 42, "quantity": 1}"#;
    for origin in ["https://shop.example", "https://spa.example"] {
        let reply = shopper
            .post("/api/cart/add", add)
            .header("Origin", origin)
            .header("Sec-Fetch-Site", "cross-site")
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{origin}: {}", reply.text);
    }
    // CORS only for its list: the preflight names the safe-retry headers.
    let client = reqwest::Client::new();
    let preflight = client
        .request(Method::OPTIONS, format!("{}/api/cart/add", app.base))
        .header("Origin", "https://spa.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type,idempotency-key,if-match",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success());
    let allow = |name: &str| {
        preflight
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    assert_eq!(allow("access-control-allow-origin"), "https://spa.example");
    assert_eq!(allow("access-control-allow-credentials"), "true");
    assert!(allow("access-control-allow-headers").contains("idempotency-key"));
    let other = shopper
        .get("/api/cart")
        .header("Origin", "https://shop.example")
        .await;
    assert!(
        other.headers.get("access-control-allow-origin").is_none(),
        "CORS only for its list"
    );
    assert_eq!(quantity_of(&shopper.cart().await, 42), 2);
}

async fn parallel_wrong_logins_get_at_most_the_limit_of_password_checks(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    app.add_user("victim", "the-right-password");
    let attempts: Vec<_> = (0..50)
        .map(|_| {
            let mut attacker = app.browser();
            tokio::spawn(async move { attacker.login_reply("victim", "a-wrong-guess").await })
        })
        .collect();
    let (mut checked, mut limited) = (0, 0);
    for attempt in attempts {
        let reply = attempt.await.expect("task");
        match reply.status {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(reply.headers.get("retry-after").is_some());
                limited += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert!(
        checked <= 5,
        "{checked} passwords checked with a limit of 5"
    );
    assert_eq!(checked + limited, 50);
}

/// Six, twelve and thirty devices signing in to one account at once, each with
/// a guest cart of one line (API.md v1.2): every login is answered 200 and
/// every guest line is in the user's cart exactly once.
async fn parallel_correct_logins_of_one_user_all_succeed_and_merge_each_guest_line_once(
    backend: Backend,
) {
    let (app, _store) = TestApp::on(backend).await;
    for (user, devices) in [("six", 6), ("twelve", 12), ("thirty", 30)] {
        app.add_user(user, PASSWORD);
        let mut guests = Vec::new();
        for product in 1..=devices {
            let mut guest = app.browser();
            guest.add(product, 1).await;
            guests.push(guest);
        }
        let logins: Vec<_> = guests
            .into_iter()
            .map(|mut guest| tokio::spawn(async move { guest.login_reply(user, PASSWORD).await }))
            .collect();
        for login in logins {
            let reply = login.await.expect("task");
            assert_eq!(reply.status, StatusCode::OK, "{user}: {}", reply.text);
        }
        let cart = app.browser().login(user, PASSWORD).await["cart"].clone();
        assert_eq!(items(&cart).len(), devices as usize, "{user}: {cart}");
        for product in 1..=devices {
            assert_eq!(quantity_of(&cart, product), 1, "{user}: {cart}");
        }
    }
}

/// Wrong and right passwords for one account in parallel, the wrong ones
/// fewer than the limit: every right one is answered 200, every wrong one 401
/// (none refused, since the failures never reach the limit).
async fn right_passwords_among_parallel_wrong_ones_succeed_while_failures_stay_under_the_limit(
    backend: Backend,
) {
    let (app, _store) = TestApp::on(backend).await;
    app.add_user("mixed", PASSWORD);
    let attempts: Vec<_> = (0..14)
        .map(|n| {
            let mut device = app.browser();
            let password = if n % 4 == 0 {
                "a-wrong-guess"
            } else {
                PASSWORD
            };
            tokio::spawn(async move { (password, device.login_reply("mixed", password).await) })
        })
        .collect();
    let (mut right, mut wrong) = (0, 0);
    for attempt in attempts {
        let (password, reply) = attempt.await.expect("task");
        if password == PASSWORD {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            right += 1;
        } else {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
            wrong += 1;
        }
    }
    assert_eq!((right, wrong), (10, 4));
}

/// Integral means integral in the JSON text: `2.0` and `2e0` are 2, a number
/// that only rounds to an integer as a float is a 400 that changes nothing.
async fn an_integer_field_takes_a_number_only_when_its_text_is_integral(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut shopper = app.browser();
    shopper.add(42, 1).await;
    let before = shopper.cart().await;
    for (path, body) in [
        (
            "/api/cart/add",
            r#"{"productId": 42, "quantity": 0.9999999999999999999}"#,
        ),
        (
            "/api/cart/add",
            r#"{"productId": 42, "quantity": 1.0000000000000001}"#,
        ),
        (
            "/api/cart/add",
            r#"{"productId": 42.00000000000000001, "quantity": 1}"#,
        ),
        ("/api/cart/add", r#"{"productId": 42, "quantity": 15e-1}"#),
        (
            "/cart/items",
            r#"{"sku": "apple", "quantity": 0.9999999999999999999}"#,
        ),
    ] {
        let reply = shopper.post(path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body} → {}",
            reply.text
        );
        assert!(reply.json().is_object(), "{body} → {}", reply.text);
    }
    assert_eq!(
        shopper.cart().await,
        before,
        "a refused add changed the cart"
    );
    for body in [
        r#"{"productId": 42, "quantity": 2.0}"#,
        r#"{"productId": 4.2e1, "quantity": 2e0}"#,
        r#"{"productId": 42, "quantity": 0.2E1}"#,
    ] {
        let reply = shopper.post("/api/cart/add", body).await;
        assert_eq!(reply.status, StatusCode::OK, "{body} → {}", reply.text);
    }
    assert_eq!(quantity_of(&shopper.cart().await, 42), 7);
    let reply = shopper
        .post("/cart/items", r#"{"sku": "apple", "quantity": 3.00}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

async fn an_nfd_password_matches_its_nfc_twin(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    // "café-crème" with composed é and è (NFC)…
    app.add_user("amelie", "caf\u{e9}-cr\u{e8}me!");
    // …typed with decomposed ones (e + combining accents, NFD).
    let mut visitor = app.browser();
    let reply = visitor
        .login_reply("amelie", "cafe\u{301}-cre\u{300}me!")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// Writes `request` in pieces, `every` apart, and reads what comes back until
/// the server closes (or `within` passes).
async fn dribble(
    base: &str,
    pieces: &[&str],
    every: Duration,
    within: Duration,
) -> (String, Duration) {
    let started = std::time::Instant::now();
    let mut socket = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect");
    let (mut read, mut write) = socket.split();
    let mut answer = Vec::new();
    let sending = async {
        for piece in pieces {
            if write.write_all(piece.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
        std::future::pending::<()>().await;
    };
    let reading = async {
        let _ = read.read_to_end(&mut answer).await;
    };
    let _ = tokio::time::timeout(within, async {
        tokio::select! { () = sending => {}, () = reading => {} }
    })
    .await;
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

async fn slow_and_idle_clients_are_cut_off_with_408() {
    let redis = RedisServer::start().await;
    let mut config = settings(Backend::Redis, Some(&redis));
    config.header_timeout = Duration::from_secs(1);
    config.body_timeout = Duration::from_secs(1);
    config.idle_timeout = Duration::from_secs(2);
    let app = TestApp::spawn(config).await;
    let slow = Duration::from_millis(300);
    let cut = Duration::from_secs(6);
    let expect_408 = |answer: &str, elapsed: Duration, what: &str| {
        assert!(status_line(answer).contains(" 408 "), "{what}: {answer:?}");
        assert_eq!(
            body_of(answer),
            json!({"error": "Request timeout"}),
            "{what}"
        );
        assert!(
            elapsed < Duration::from_secs(4),
            "{what}: cut after {elapsed:?}"
        );
    };
    // Headers at a few bytes per 300 ms.
    let head = "GET /api/cart HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let pieces: Vec<String> = head
        .as_bytes()
        .chunks(3)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let (answer, elapsed) = dribble(&app.base, &pieces, slow, cut).await;
    expect_408(&answer, elapsed, "slow headers");
    // A body at a byte per 300 ms, with Content-Length and chunked.
    let body = r#"{"productId": 42, "quantity": 1}"#;
    let mut pieces = vec![format!(
        "POST /api/cart/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )];
    pieces.extend(body.chars().map(String::from));
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let (answer, elapsed) = dribble(&app.base, &pieces, slow, cut).await;
    expect_408(&answer, elapsed, "slow body");
    let mut pieces = vec!["POST /api/cart/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()];
    pieces.extend(body.chars().map(|c| format!("1\r\n{c}\r\n")));
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let (answer, elapsed) = dribble(&app.base, &pieces, slow, cut).await;
    expect_408(&answer, elapsed, "slow chunked body");
    assert_eq!(
        key_count(&redis),
        2,
        "only the catalog: a cut-off add wrote nothing"
    );
    // An idle connection, and one idle after a request, are closed.
    let (answer, elapsed) = dribble(&app.base, &[], slow, cut).await;
    assert!(answer.is_empty(), "{answer:?}");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(4),
        "idle cut after {elapsed:?}"
    );
    let (answer, elapsed) = dribble(
        &app.base,
        &["GET /api/cart HTTP/1.1\r\nHost: x\r\n\r\n"],
        slow,
        cut,
    )
    .await;
    assert!(status_line(&answer).contains(" 200 "), "{answer:?}");
    assert!(elapsed < Duration::from_secs(4), "kept open {elapsed:?}");
}

async fn a_flood_of_new_sessions_is_limited_and_existing_sessions_are_not(backend: Backend) {
    let store = backend.start().await;
    let mut config = store.settings();
    config.new_sessions_per_minute = 10;
    let app = TestApp::spawn(config).await;
    let mut regular = app.browser();
    regular.add(42, 1).await;
    let add = r#"{"productId": 42, "quantity": 1}"#;
    let mut limited = 0;
    for _ in 0..30 {
        let mut bot = app.browser();
        let reply = bot.post("/api/cart/add", add).await;
        match reply.status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                assert!(reply.headers.get("retry-after").is_some());
                assert_eq!(
                    reply.json(),
                    json!({"error": "Too many new sessions from this address; try again later"})
                );
                assert!(
                    reply.set_cookie("trolley_session").is_none(),
                    "a refused add starts no session"
                );
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
        // The shopper who already has a session is never limited.
        regular.add(7, 1).await;
    }
    assert_eq!(
        limited, 21,
        "the first 9 new sessions after the regular one pass"
    );
    assert_eq!(quantity_of(&regular.cart().await, 7), 30);
    if let Some(redis) = store.redis() {
        let carts = redis_cli(redis.port, &["--scan", "--pattern", "trolley:{cart:*"])
            .lines()
            .count();
        assert_eq!(carts, 10, "one cart per admitted session");
    }
}
