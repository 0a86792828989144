//! Shopper isolation through Redis faults: a cart number handed out twice (Redis
//! restarted with its data lost while replicas still hold blocks of numbers) never
//! lets one session see or change another session's lines.

use libtest_mimic::Trial;
use reqwest::StatusCode;

use crate::{
    helpers::{Backend, Browser, RedisServer, TestApp, items, settings},
    trial,
};

pub fn trials() -> Vec<Trial> {
    vec![trial(
        "isolation::after_redis_restarts_empty_no_session_sees_or_changes_another_sessions_lines",
        after_redis_restarts_empty_no_session_sees_or_changes_another_sessions_lines,
    )]
}

/// Carts each replica creates before and after the data loss: more than two
/// blocks of 64 numbers, so numbers handed out before are handed out again.
const CARTS_BEFORE: usize = 100;
const CARTS_AFTER: usize = 140;

struct Shopper {
    browser: Browser,
    product: i64,
    line: u64,
}

async fn shoppers(replicas: &[&TestApp], count: usize, first_product: i64) -> Vec<Shopper> {
    let mut shoppers = Vec::new();
    for i in 0..count * replicas.len() {
        let mut browser = replicas[i % replicas.len()].browser();
        let product = first_product + (i as i64 % 60);
        let line = browser.add(product, 1).await;
        shoppers.push(Shopper {
            browser,
            product,
            line,
        });
    }
    shoppers
}

async fn after_redis_restarts_empty_no_session_sees_or_changes_another_sessions_lines() {
    let mut redis = RedisServer::start().await;
    if !redis.is_owned() {
        return; // TROLLEY_TEST_REDIS_URL: a server this test may not restart.
    }
    let a = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let b = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let before = shoppers(&[&a, &b], CARTS_BEFORE, 1).await;
    let highest_before = before.iter().map(|s| s.line >> 20).max().unwrap_or(0);

    redis.restart_empty().await;
    let mut after = shoppers(&[&a, &b], CARTS_AFTER, 61).await;

    // Numbers from before the loss were handed out again...
    let reused = after
        .iter()
        .filter(|s| s.line >> 20 <= highest_before)
        .count();
    assert!(
        reused > 0,
        "no cart number below {highest_before} was reused"
    );
    // ... yet every live cart has a number of its own.
    let mut numbers: Vec<u64> = after.iter().map(|s| s.line >> 20).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        after.len(),
        "two sessions share a cart number"
    );

    // Every session sees exactly its own line.
    for shopper in &mut after {
        let cart = shopper.browser.cart().await;
        let lines = items(&cart);
        assert_eq!(lines.len(), 1, "a session sees other lines: {cart}");
        assert_eq!(lines[0]["id"].as_u64(), Some(shopper.line));
        assert_eq!(lines[0]["productId"].as_i64(), Some(shopper.product));
    }
    // Nobody changes another session's line: 403 or 404, and it stays as it was.
    let count = after.len();
    for i in 0..count {
        let victim = after[(i + 1) % count].line;
        let reply = after[i]
            .browser
            .put(&format!("/api/cart/item/{victim}?quantity=7"))
            .await;
        assert!(
            matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "PUT of another session's line answered {}: {}",
            reply.status,
            reply.text
        );
        let reply = after[i]
            .browser
            .delete(&format!("/api/cart/item/{victim}"))
            .await;
        assert!(matches!(
            reply.status,
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ));
    }
    for shopper in &mut after {
        let cart = shopper.browser.cart().await;
        assert_eq!(
            items(&cart).len(),
            1,
            "a line was removed by another session"
        );
        assert_eq!(items(&cart)[0]["quantity"].as_u64(), Some(1));
    }
}
