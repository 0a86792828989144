//! Each replica's copies of session records (`sessions::copies`): a cart request
//! served a copy makes one Redis round trip, and a copy that went stale on
//! another replica or in Redis is never used: the cart script refuses it and the
//! request runs again from Redis's record. Real replicas on one real Redis.

use fred::prelude::*;
use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, Browser, PASSWORD, RedisServer, TestApp, items, quantity_of, settings,
    store_test_item, store_test_policy, tool_present, two_replicas,
};

pub fn trials() -> Vec<Trial> {
    tests![
        a_copy_saves_the_session_read_and_none_are_kept_when_switched_off,
        a_logout_on_one_replica_ends_the_session_on_the_others,
        a_login_on_one_replica_retires_the_guest_session_on_the_others,
        after_redis_loses_everything_a_copy_reaches_no_cart,
        the_scripts_refuse_a_stale_copy_but_not_the_rerun_of_a_change_it_made,
    ]
}

/// Store level, on a real Redis: a change checked against a copy that still
/// matches applies; once the record changed, a new change and a read are answered
/// `SessionStale` and change nothing; but the re-run of the change that did
/// apply (its reply lost, the same operation id) is answered "already applied",
/// not refused: refusing it would make the request run again as a new change
/// and apply it twice.
async fn the_scripts_refuse_a_stale_copy_but_not_the_rerun_of_a_change_it_made() {
    use trolley::testing::{
        CartRead, CartStore,
        change::{Refusal, ServedCopy, Write, Written},
        model::CartRef,
        rules::AddOutcome,
    };
    let redis = RedisServer::start().await;
    let store = redis.store().await;
    let client = redis.client().await;
    let key = format!("copy-test-{}", std::process::id());
    let _: () = client
        .set(&key, "record v1", None, None, false)
        .await
        .expect("set");
    let policy = store_test_policy();
    let item = store_test_item(rust_decimal::Decimal::new(250, 2));
    let cart = CartRef {
        no: 800_000 + u64::from(std::process::id() % 1000),
        id: "copy-test-cart".into(),
    };
    // An add by a request served the copy of "record v1".
    let served_v1 = ServedCopy::of(&key, b"record v1");
    let add_served_v1 = |write: Write| {
        let (store, cart, item) = (&store, &cart, &item);
        let write = Write {
            session: Some(served_v1.clone()),
            ..write
        };
        async move { store.add_item(cart, item, policy, &write, false).await }
    };
    let change = Write::plain();
    let added = add_served_v1(change.clone())
        .await
        .expect("the matching copy's add");
    assert!(
        matches!(&added, Written::Decided { outcome, .. } if matches!(outcome, AddOutcome::Added { .. })),
        "{added:?}"
    );

    let _: () = client
        .set(&key, "record v2", None, None, false)
        .await
        .expect("set");
    let rerun = add_served_v1(change)
        .await
        .expect("the re-run of the applied add");
    assert!(
        matches!(rerun, Written::AlreadyApplied { .. }),
        "the re-run: {rerun:?}"
    );
    let refused = add_served_v1(Write::plain()).await;
    assert!(
        matches!(refused, Ok(Written::Refused(Refusal::SessionStale))),
        "a new add on the stale copy: {refused:?}"
    );
    let read = store.read_cart(&cart, policy.ttl, Some(&served_v1)).await;
    assert!(matches!(read, Ok(CartRead::SessionStale)), "{read:?}");
    // Without a copy: the one add, once.
    let CartRead::Lines { lines, .. } = store
        .read_cart(&cart, policy.ttl, None)
        .await
        .expect("read")
    else {
        panic!("the cart is foreign");
    };
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].quantity, 1);
    let _: () = client.del(&key).await.expect("del");
}

/// The `GET`s clients sent (not those scripts ran) while `during` ran, from
/// `MONITOR`.
async fn client_gets_during(port: u16, during: impl std::future::Future<Output = ()>) -> usize {
    let monitor = crate::helpers::Monitor::start(port).await;
    during.await;
    monitor
        .stop()
        .await
        .lines()
        // The catalog copy's revalidation is a GET too, and no session read.
        .filter(|entry| {
            !entry.contains(" lua] ") && entry.contains(r#""GET""#) && !entry.contains("catalog")
        })
        .count()
}

/// Ten cart reads of one session: with copies, Redis is not asked for the
/// session record at all (the copy was taken at the add); with
/// `TROLLEY_SESSION_COPIES=0`, once per request. The answers are the same.
async fn a_copy_saves_the_session_read_and_none_are_kept_when_switched_off() {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let redis = RedisServer::start().await;
    if !redis.is_owned() {
        eprintln!("skipped: counts the commands of a redis-server of its own");
        return;
    }
    for (copies, expected) in [(100_000, 0), (0, 10)] {
        let mut config = settings(Backend::Redis, Some(&redis));
        config.session_copies = copies;
        let app = TestApp::spawn(config).await;
        let mut shopper = app.browser();
        shopper.add(42, 2).await;
        // The first read after the add takes the copy (the add rewrote the record).
        assert_eq!(quantity_of(&shopper.cart().await, 42), 2);
        let reads = client_gets_during(redis.port, async {
            for _ in 0..10 {
                assert_eq!(quantity_of(&shopper.cart().await, 42), 2);
            }
        })
        .await;
        assert_eq!(
            reads, expected,
            "TROLLEY_SESSION_COPIES={copies}: {reads} session reads for 10 cart reads"
        );
    }
}

/// Two replicas; the session's record is copied on B. Logging out on A ends it
/// on B at once: the old cookie on B reads no cart and writes none into the
/// user's cart, and the ended record is not written back.
async fn a_logout_on_one_replica_ends_the_session_on_the_others() {
    let redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis).await;
    a.add_user("alice", PASSWORD);
    let client = redis.client().await;
    let mut alice = a.browser();
    alice.login("alice", PASSWORD).await;
    alice.add(42, 3).await;
    let session = alice.cookie.clone().expect("session");
    let mut on_b = alice.via(&b.base);
    for _ in 0..3 {
        assert_eq!(quantity_of(&on_b.cart().await, 42), 3);
    }
    assert_eq!(
        alice.post("/api/auth/logout", "{}").await.status,
        StatusCode::OK
    );

    let mut old = Browser::new(&b.base);
    old.cookie = Some(session.clone());
    let cart = old.cart().await;
    assert_eq!(
        cart["cartId"],
        json!(null),
        "the ended session's cart: {cart}"
    );
    assert!(items(&cart).is_empty());
    let mut old = Browser::new(&b.base);
    old.cookie = Some(session.clone());
    let reply = old
        .post("/api/cart/add", r#"{"productId": 7, "quantity": 1}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_ne!(
        old.cookie.as_deref(),
        Some(session.as_str()),
        "no new session"
    );
    let exists: u32 = client.exists(&session).await.expect("exists");
    assert_eq!(exists, 0, "the ended session's record came back");

    let mut again = b.browser();
    again.login("alice", PASSWORD).await;
    let cart = again.cart().await;
    assert_eq!(quantity_of(&cart, 42), 3);
    assert_eq!(
        quantity_of(&cart, 7),
        0,
        "an ended session added to her cart"
    );
}

/// A guest's record is copied on B; the guest signs in on A (the id rotates,
/// the guest cart merges into the user's). The old guest cookie on B then
/// reaches neither cart.
async fn a_login_on_one_replica_retires_the_guest_session_on_the_others() {
    let redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis).await;
    a.add_user("bob", PASSWORD);
    let mut guest = a.browser();
    let line = guest.add(42, 1).await;
    let guest_cookie = guest.cookie.clone().expect("session");
    let mut on_b = guest.via(&b.base);
    for _ in 0..3 {
        assert_eq!(quantity_of(&on_b.cart().await, 42), 1);
    }
    guest.login("bob", PASSWORD).await;
    assert_eq!(quantity_of(&guest.cart().await, 42), 1);

    let mut old = Browser::new(&b.base);
    old.cookie = Some(guest_cookie.clone());
    let cart = old.cart().await;
    assert!(items(&cart).is_empty(), "the retired guest session: {cart}");
    let mut old = Browser::new(&b.base);
    old.cookie = Some(guest_cookie);
    let reply = old.put_quantity(line, 5).await;
    assert!(
        matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "the retired guest session changed a line: {} {}",
        reply.status,
        reply.text
    );
    assert_eq!(quantity_of(&guest.cart().await, 42), 1);
}

/// Sessions whose records are copied on B; Redis then loses everything, and new
/// shoppers get the same cart numbers again. An old cookie on B reaches no cart,
/// least of all a new shopper's under its old number.
async fn after_redis_loses_everything_a_copy_reaches_no_cart() {
    let mut redis = RedisServer::start().await;
    if !redis.is_owned() {
        return; // TROLLEY_TEST_REDIS_URL: a server this test may not restart.
    }
    let (a, b) = two_replicas(&redis).await;
    let mut before = Vec::new();
    for n in 0..4 {
        let mut shopper = a.browser();
        shopper.add(1 + n, 1).await;
        let mut on_b = shopper.via(&b.base);
        assert_eq!(items(&on_b.cart().await).len(), 1);
        assert_eq!(items(&on_b.cart().await).len(), 1);
        before.push(on_b);
    }
    redis.restart_empty().await;
    let mut after = Vec::new();
    for n in 0..4 {
        let mut shopper = a.browser();
        assert!(
            shopper
                .cart_answers_within(std::time::Duration::from_secs(10))
                .await
        );
        shopper.add(11 + n, 1).await;
        after.push(shopper);
    }
    for old in &mut before {
        let cart = old.cart().await;
        assert!(items(&cart).is_empty(), "an old session sees: {cart}");
    }
    for shopper in &mut after {
        assert_eq!(items(&shopper.cart().await).len(), 1);
    }
    // An add through an old cookie starts a session of its own, which holds it:
    // an acknowledged add never lands in a cart no session reaches.
    for old in &mut before {
        let cookie = old.cookie.clone();
        old.add(99, 1).await;
        assert_ne!(old.cookie, cookie, "the add kept the lost session's cookie");
        let cart = old.cart().await;
        assert_eq!(items(&cart).len(), 1, "{cart}");
        assert_eq!(quantity_of(&cart, 99), 1);
    }
}
