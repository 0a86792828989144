//! Faults between trolley and Redis, injected by the fault proxy: a reply lost
//! after Redis ran the change (re-run once with the same operation id, never
//! applied twice), and resets, a blackhole and replies slower than the command
//! timeout (503 with `Retry-After`, nothing applied twice for a client that
//! retries with its Idempotency-Key, recovery by itself).

use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use reqwest::StatusCode;

use crate::{
    helpers::{Backend, Browser, RedisServer, TestApp, quantity_of, settings},
    proxy::{Fault, FaultProxy},
};

pub fn trials() -> Vec<Trial> {
    tests![
        a_lost_reply_is_run_again_once_and_never_applied_twice,
        a_lost_session_slide_does_not_fail_the_change_and_a_lost_new_session_makes_no_cart,
        resets_blackholes_and_slow_replies_answer_503_and_recover,
    ]
}

const TIMEOUT: Duration = Duration::from_millis(500);

async fn app_behind_proxy() -> (TestApp, FaultProxy, RedisServer) {
    let redis = RedisServer::start().await;
    let proxy = FaultProxy::start(redis.port).await;
    let mut settings = settings(Backend::Redis, Some(&redis));
    settings.redis.url = Some(proxy.url());
    settings.redis.timeout = TIMEOUT;
    // The record slides at most every tenth of the TTL: 1 s here.
    settings.session_ttl = Duration::from_secs(10);
    (TestApp::spawn(settings).await, proxy, redis)
}

async fn add_keyed(visitor: &mut Browser, key: &str) -> crate::helpers::Reply {
    visitor
        .post("/api/cart/add", r#"{"productId": 42, "quantity": 1}"#)
        .idempotency_key(key)
        .await
}

async fn a_lost_reply_is_run_again_once_and_never_applied_twice() {
    let (app, proxy, _redis) = app_behind_proxy().await;
    let mut visitor = app.browser();
    visitor.add(42, 1).await;
    // Redis runs the add; its reply is lost with the connection. trolley runs
    // the same change again with its operation id, finds it applied, answers 200.
    proxy.set(Fault::LoseScriptReplies { times: 1 });
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 42, "quantity": 1}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(proxy.armed(), 0, "the reply was really lost");
    assert_eq!(reply.json()["cartItem"]["quantity"], 2);
    assert_eq!(quantity_of(&visitor.cart().await, 42), 2, "applied once");
    // Both the change's reply and the re-run's are lost: 503. The client
    // retries with its key and gets the first (applied) answer, once.
    proxy.set(Fault::LoseScriptReplies { times: 2 });
    let lost = add_keyed(&mut visitor, "retry-me").await;
    assert_eq!(
        lost.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        lost.text
    );
    assert!(lost.headers.get("retry-after").is_some());
    assert_eq!(proxy.armed(), 0);
    let retried = add_keyed(&mut visitor, "retry-me").await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(
        retried
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..]),
        "the first attempt had applied"
    );
    assert_eq!(quantity_of(&visitor.cart().await, 42), 3, "exactly once");
}

async fn resets_blackholes_and_slow_replies_answer_503_and_recover() {
    let (app, proxy, _redis) = app_behind_proxy().await;
    let mut visitor = app.browser();
    visitor.add(42, 1).await;
    // Resets: at most a 503 for the requests in flight, then served again.
    proxy.reset_all();
    assert!(
        visitor.cart_answers_within(Duration::from_secs(5)).await,
        "served again after a reset"
    );
    // Blackhole: 503 within a bounded time, never a hung request.
    proxy.set(Fault::Blackhole);
    let started = Instant::now();
    let reply = visitor.get("/api/cart").await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert!(
        started.elapsed() < TIMEOUT * 4,
        "took {:?}",
        started.elapsed()
    );
    // Replies slower than the command timeout: the add may run in Redis but the
    // client hears 503; its retry with the same key applies it exactly once.
    proxy.set(Fault::Delay(TIMEOUT * 3));
    let slow = add_keyed(&mut visitor, "slow-1").await;
    assert_eq!(
        slow.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        slow.text
    );
    proxy.set(Fault::None);
    proxy.reset_all();
    assert!(
        visitor.cart_answers_within(Duration::from_secs(10)).await,
        "served again after the blackhole and the delay"
    );
    let retried = add_keyed(&mut visitor, "slow-1").await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(
        quantity_of(&visitor.cart().await, 42),
        2,
        "the slow add applied once"
    );
}

/// RESP bytes of one bulk string, so a needle matches a whole argument.
fn bulk(text: &str) -> Vec<u8> {
    format!("${}\r\n{text}\r\n", text.len()).into_bytes()
}

async fn a_lost_session_slide_does_not_fail_the_change_and_a_lost_new_session_makes_no_cart() {
    let (app, proxy, redis) = app_behind_proxy().await;
    let mut visitor = app.browser();
    visitor.add(42, 1).await;
    let session = visitor.cookie.clone().expect("session cookie");
    // Past the slide granularity, the next request rewrites the record.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // The cart change succeeds; only the slide of the existing record is lost.
    proxy.set(Fault::LoseReplies {
        needles: vec![bulk("SET"), bulk(&session), bulk("XX")],
        times: 1,
    });
    let reply = visitor
        .post("/api/cart/add", r#"{"productId": 42, "quantity": 1}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(proxy.armed(), 0, "the slide's reply was really lost");
    assert_eq!(quantity_of(&visitor.cart().await, 42), 2);
    // A new session whose record cannot be written: 503, and the add is not
    // made (it would be in a cart no session reaches).
    let carts_before =
        crate::helpers::redis_cli(redis.port, &["--scan", "--pattern", "trolley:{cart:*"])
            .lines()
            .count();
    proxy.set(Fault::LoseReplies {
        needles: vec![bulk("SET"), bulk("NX")],
        times: 1,
    });
    let mut newcomer = app.browser();
    let reply = newcomer
        .post("/api/cart/add", r#"{"productId": 42, "quantity": 1}"#)
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(proxy.armed(), 0);
    let carts_after =
        crate::helpers::redis_cli(redis.port, &["--scan", "--pattern", "trolley:{cart:*"])
            .lines()
            .count();
    assert_eq!(
        carts_after, carts_before,
        "no cart was written for the lost session"
    );
}
