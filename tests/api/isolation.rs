//! Shopper isolation through Redis faults: a cart number handed out twice (Redis
//! restarted with its data lost while replicas still hold blocks of numbers) never
//! lets one session see or change another session's lines.

use libtest_mimic::Trial;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use trolley::testing::{
    CartRead, CartStore, MemoryStore,
    change::{Refusal, Write, Written},
    model::{CartRef, LineId},
    rules::{AddOutcome, LineChange, MergeRule},
};

use crate::helpers::{
    Browser, RedisServer, TestApp, items, store_test_item, store_test_policy, two_replicas,
};

pub fn trials() -> Vec<Trial> {
    tests![
        after_redis_restarts_empty_no_session_sees_or_changes_another_sessions_lines,
        a_reused_number_is_another_carts_whatever_it_left_behind,
    ]
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
    let (a, b) = two_replicas(&redis).await;
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
        let reply = after[i].browser.put_quantity(victim, 7).await;
        assert!(
            matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "PUT of another session's line answered {}: {}",
            reply.status,
            reply.text
        );
        let reply = after[i].browser.remove(victim).await;
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

/// Store level, on both stores: a cart number that another cart used (its hash,
/// or the tombstone its login merge left) is foreign to a new cart under it:
/// nothing is read, changed or refused as "merged".
async fn a_reused_number_is_another_carts_whatever_it_left_behind() {
    let redis_server = RedisServer::start().await;
    let redis = redis_server.store().await;
    let memory = MemoryStore::new(None);
    let base = 900_000 + u64::from(std::process::id() % 1000) * 10;
    for store in [&redis as &dyn CartStore, &memory as &dyn CartStore] {
        let policy = store_test_policy();
        let item = store_test_item(Decimal::new(14999, 2));
        let first = |no: u64| CartRef {
            no,
            id: format!("first-{no}"),
        };
        let second = |no: u64| CartRef {
            no,
            id: format!("second-{no}"),
        };
        // A live hash of another cart.
        let live = first(base);
        let AddOutcome::Added { line, .. } = decided(
            store
                .add_item(&live, &item, policy, &Write::plain(), false)
                .await
                .expect("add"),
        ) else {
            panic!("first add refused");
        };
        let intruder = second(base);
        assert_eq!(
            store
                .add_item(&intruder, &item, policy, &Write::plain(), false)
                .await
                .expect("add"),
            Written::Foreign
        );
        assert_eq!(
            store
                .read_cart(&intruder, policy.ttl, None)
                .await
                .expect("read"),
            CartRead::Foreign
        );
        for change in [LineChange::SetQuantity(5), LineChange::Remove] {
            assert_eq!(
                store
                    .change_line(&intruder, line.id, change, policy, &Write::plain())
                    .await
                    .expect("change"),
                Written::Foreign
            );
        }
        assert_eq!(
            store
                .clear_cart(&intruder, policy, &Write::plain())
                .await
                .expect("clear"),
            Written::Foreign
        );
        let CartRead::Lines { lines, .. } = store
            .read_cart(&live, policy.ttl, None)
            .await
            .expect("read")
        else {
            panic!("own cart read as foreign");
        };
        assert_eq!(lines, vec![line.clone()], "the other cart was changed");
        // A merge tombstone of another cart: foreign, not "merged".
        let user = first(base + 1);
        store
            .merge_carts(&live, &user, MergeRule::Sum, policy)
            .await
            .expect("merge");
        assert_eq!(
            store
                .add_item(&live, &item, policy, &Write::plain(), false)
                .await
                .expect("add"),
            Written::Refused(Refusal::CartMerged)
        );
        assert_eq!(
            store
                .add_item(&intruder, &item, policy, &Write::plain(), false)
                .await
                .expect("add"),
            Written::Foreign
        );
        assert!(!store.line_exists(LineId(1)).await.expect("exists"));
    }
}

/// The outcome of a change the store decided.
fn decided<T: std::fmt::Debug>(written: Written<T>) -> T {
    match written {
        Written::Decided { outcome, .. } => outcome,
        other => panic!("expected a decision, got {other:?}"),
    }
}
