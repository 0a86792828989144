//! Accounts, login with the atomic guest-cart merge, logout, and limits.

use std::time::Duration;

use fred::prelude::*;
use libtest_mimic::Trial;
use reqwest::StatusCode;
use serde_json::json;

use trolley::testing::rules::MergeRule;

use crate::helpers::{
    Backend, Browser, PASSWORD, RedisServer, TestApp, cart_key, cart_no_of, items, line_of,
    quantity_of, settings, user_with_cart,
};

pub fn trials() -> Vec<Trial> {
    // Not on the shared Cluster: these tests name their users alike ("alice"),
    // and count failed logins per address. cluster.rs runs the merge's
    // guarantees on clusters of their own.
    let mut trials = contract_suite![on [Redis, Embedded]:
        login_merges_the_guest_cart_into_the_users_cart,
        a_merge_is_clamped_to_the_max_quantity_and_max_lines,
        the_merge_rule_decides_a_product_in_both_carts,
        the_old_cookie_after_login_reaches_a_fresh_empty_guest_cart,
        retried_and_concurrent_logins_merge_each_guest_cart_once,
        logout_ends_the_session_and_the_users_cart_awaits_the_next_login,
        wrong_credentials_get_one_401_body_and_repeated_failures_get_429,
        the_login_answer_names_the_account_as_stored_not_as_typed,
        removing_a_user_ends_its_sessions,
        usernames_and_passwords_are_validated_by_the_cli,
        a_session_ends_at_its_absolute_lifetime_however_active,
    ];
    trials.extend(tests![
        two_replicas_logging_one_user_in_from_two_sessions_merge_both_carts_once,
        adds_racing_a_login_are_never_lost_or_double_counted,
        a_request_in_flight_at_logout_never_brings_the_session_back,
        the_merged_guest_cart_is_gone_and_the_user_cart_lives_thirty_days,
    ]);
    trials
}

async fn login_merges_the_guest_cart_into_the_users_cart(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let before = user_with_cart(&app, "alice", &[(42, 1), (1, 2)]).await;
    let mut guest = app.browser();
    guest.add(3, 4).await; // only the guest has it
    tokio::time::sleep(Duration::from_millis(5)).await;
    guest.add(42, 2).await; // in both carts
    let guest_cart = guest.cart().await;
    let guest_cookie = guest.cookie.clone();

    let body = guest.login("alice", PASSWORD).await;
    assert_ne!(guest.cookie, guest_cookie, "login rotates the session id");
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["user"], json!({"username": "alice"}));
    assert_eq!(
        body["merge"],
        json!({"linesMoved": 1, "linesCombined": 1, "clamped": [], "dropped": []})
    );
    let cart = &body["cart"];
    assert_eq!(cart["cartId"], before["cartId"], "the user's cart is kept");
    assert_eq!(quantity_of(cart, 42), 3);
    assert_eq!(quantity_of(cart, 1), 2);
    assert_eq!(quantity_of(cart, 3), 4);
    // The user's line keeps its id; the moved line keeps id, price and addedAt.
    assert_eq!(line_of(cart, 42)["id"], line_of(&before, 42)["id"]);
    let moved = line_of(&guest_cart, 3);
    assert_eq!(line_of(cart, 3), moved);
    // Order by first add: the user's lines were added before the guest's.
    let order: Vec<i64> = items(cart)
        .iter()
        .map(|i| i["productId"].as_i64().expect("id"))
        .collect();
    assert_eq!(order, [42, 1, 3]);
    assert_eq!(
        guest.cart().await,
        *cart,
        "GET /api/cart shows the merged cart"
    );
    assert_eq!(
        guest.get("/api/auth/me").await.json(),
        json!({"username": "alice"})
    );
    // The moved line is the user's now: it can be changed.
    let moved_id = moved["id"].as_u64().expect("id");
    assert_eq!(guest.put_quantity(moved_id, 1).await.status, StatusCode::OK);
    // And it is not anyone else's.
    let mut stranger = app.browser();
    stranger.add(1, 1).await;
    let reply = stranger.put_quantity(moved_id, 1).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

async fn a_merge_is_clamped_to_the_max_quantity_and_max_lines(backend: Backend) {
    let store = backend.start().await;
    let mut config = store.settings();
    config.max_quantity = 10;
    config.max_lines = 3;
    merge_clamps_to_the_limits(&TestApp::spawn(config).await, "alice").await;
}

/// On an app with max quantity 10 and max lines 3: a combined line is clamped,
/// a guest line past the max lines is dropped, both reported. Shared with the
/// Cluster tests.
pub(crate) async fn merge_clamps_to_the_limits(app: &TestApp, user: &str) {
    let before = user_with_cart(app, user, &[(42, 8), (1, 1)]).await;
    let mut guest = app.browser();
    guest.add(42, 5).await;
    guest.add(2, 1).await;
    guest.add(3, 1).await; // the user's cart has room for one more line only
    let guest_cart = guest.cart().await;
    let body = guest.login(user, PASSWORD).await;
    let user_42 = line_of(&before, 42)["id"].clone();
    let dropped = line_of(&guest_cart, 3)["id"].clone();
    assert_eq!(
        body["merge"],
        json!({"linesMoved": 1, "linesCombined": 1, "clamped": [user_42], "dropped": [dropped]})
    );
    let cart = &body["cart"];
    assert_eq!(quantity_of(cart, 42), 10);
    assert_eq!(quantity_of(cart, 2), 1);
    assert_eq!(quantity_of(cart, 3), 0);
    assert_eq!(cart["itemCount"], json!(3));
}

/// A merge rule and the quantity it gives a product the user had 5 of and the
/// guest 2.
pub(crate) struct MergeRuleCase {
    pub rule: MergeRule,
    pub quantity: u64,
}

/// Each merge rule's case.
pub(crate) const MERGE_RULE_CASES: [MergeRuleCase; 3] = [
    MergeRuleCase {
        rule: MergeRule::Sum,
        quantity: 7,
    },
    MergeRuleCase {
        rule: MergeRule::Max,
        quantity: 5,
    },
    MergeRuleCase {
        rule: MergeRule::Guest,
        quantity: 2,
    },
];

/// On an app configured with `rule`: the user had 5 of a product, the guest adds
/// 2, login gives `expected`. Shared with the Cluster tests.
pub(crate) async fn merge_rule_decides(app: &TestApp, user: &str, rule: MergeRule, expected: u64) {
    user_with_cart(app, user, &[(42, 5)]).await;
    let mut guest = app.browser();
    guest.add(42, 2).await;
    let body = guest.login(user, PASSWORD).await;
    assert_eq!(quantity_of(&body["cart"], 42), expected, "{rule:?}");
}

async fn the_merge_rule_decides_a_product_in_both_carts(backend: Backend) {
    for MergeRuleCase { rule, quantity } in MERGE_RULE_CASES {
        let store = backend.start().await;
        let mut config = store.settings();
        config.merge_rule = rule;
        merge_rule_decides(&TestApp::spawn(config).await, "alice", rule, quantity).await;
    }
}

async fn the_old_cookie_after_login_reaches_a_fresh_empty_guest_cart(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    app.add_user("alice", PASSWORD);
    let mut guest = app.browser();
    guest.add(42, 1).await;
    let old = guest.clone();
    guest.login("alice", PASSWORD).await;

    let mut old = old;
    let cart = old.cart().await;
    assert_eq!(cart["cartId"], json!(null));
    assert_eq!(cart["items"], json!([]));
    assert_eq!(
        old.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    // The user's session is untouched by whatever the old cookie does.
    old.add(1, 1).await;
    assert_eq!(quantity_of(&guest.cart().await, 1), 0);
    assert_eq!(quantity_of(&guest.cart().await, 42), 1);
}

async fn retried_and_concurrent_logins_merge_each_guest_cart_once(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    logins_retried_at_once_merge_each_guest_cart_once(&app).await;
}

/// Rounds of a double click, two tabs and a client retry: one guest cart, logged in
/// with the same old cookie at once, then once more. Shared with the Cluster tests.
pub(crate) async fn logins_retried_at_once_merge_each_guest_cart_once(app: &TestApp) {
    app.add_user("alice", PASSWORD);
    let mut expected = 0;
    for round in 0..6 {
        let mut guest = app.browser();
        let quantity = round + 1;
        guest.add(42, quantity).await;
        guest.add(100 + round, 1).await;
        expected += quantity;
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let mut tab = guest.clone();
            tasks.push(tokio::spawn(async move {
                tab.login_reply("alice", PASSWORD).await
            }));
        }
        let mut moved = 0;
        for task in tasks {
            let reply = task.await.expect("login task");
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            moved += reply.json()["merge"]["linesMoved"]
                .as_u64()
                .expect("linesMoved");
        }
        // And one more retry after the fact.
        let retry = guest.login("alice", PASSWORD).await;
        assert_eq!(retry["merge"]["linesMoved"], json!(0));
        let cart = guest.cart().await;
        assert_eq!(quantity_of(&cart, 42), expected as u64, "round {round}");
        for earlier in 0..=round {
            assert_eq!(quantity_of(&cart, 100 + earlier), 1, "round {round}");
        }
        let new_lines = if round == 0 { 2 } else { 1 };
        assert_eq!(moved, new_lines, "round {round}: lines reported moved");
    }
}

async fn logout_ends_the_session_and_the_users_cart_awaits_the_next_login(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    app.add_user("alice", PASSWORD);
    let mut alice = app.browser();
    alice.login("alice", PASSWORD).await;
    alice.add(42, 2).await;
    let cart_id = alice.cart().await["cartId"].clone();
    let before_logout = alice.clone();
    let reply = alice.post("/api/auth/logout", "{}").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"success": true, "message": "Logged out"})
    );
    assert!(alice.cookie.is_none(), "the cookie is removed");
    let cart = alice.cart().await;
    assert_eq!(
        (cart["cartId"].clone(), cart["itemCount"].clone()),
        (json!(null), json!(0))
    );
    assert_eq!(
        alice.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut old = before_logout;
    assert_eq!(
        old.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(old.cart().await["cartId"], json!(null));

    let mut later = app.browser();
    let body = later.login("alice", PASSWORD).await;
    assert_eq!(body["cart"]["cartId"], cart_id);
    assert_eq!(quantity_of(&body["cart"], 42), 2);
    assert_eq!(body["merge"]["linesMoved"], json!(0));
    // Logging out without a session is fine too.
    assert_eq!(
        app.browser().post("/api/auth/logout", "{}").await.status,
        StatusCode::OK
    );
}

async fn wrong_credentials_get_one_401_body_and_repeated_failures_get_429(backend: Backend) {
    let store = backend.start().await;
    let mut config = store.settings();
    config.login_max_failures = 3;
    let app = TestApp::spawn(config).await;
    app.add_user("alice", PASSWORD);
    let mut visitor = app.browser();
    let unknown = visitor.login_reply("mallory", PASSWORD).await;
    let wrong = visitor.login_reply("alice", "not the password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.text, wrong.text);
    assert_eq!(
        wrong.json(),
        json!({"error": "Invalid username or password"})
    );
    for body in [
        r#"{"username": "alice"}"#,
        r#"{"username": 1, "password": "x"}"#,
    ] {
        let reply = visitor.post("/api/auth/login", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
    // A success resets the username's counter.
    visitor.login("alice", PASSWORD).await;
    visitor.login_reply("alice", "wrong 1").await;
    visitor.login_reply("alice", "wrong 2").await;
    let third = visitor.login_reply("alice", "wrong 3").await;
    assert_eq!(third.status, StatusCode::UNAUTHORIZED);
    let limited = visitor.login_reply("alice", PASSWORD).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    assert!(limited.json()["error"].is_string());
}

/// `Kate-x` typed with a KELVIN SIGN (NFC-equal to `K`) signs in to `Kate-x`,
/// and the login body, `/api/auth/me` and the user's sessions all say `Kate-x`.
async fn the_login_answer_names_the_account_as_stored_not_as_typed(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    app.add_user("Kate-x", PASSWORD);
    let mut visitor = app.browser();
    let reply = visitor.login_reply("\u{212A}ate-x", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["user"], json!({"username": "Kate-x"}));
    let me = visitor.get("/api/auth/me").await;
    assert_eq!(me.json(), json!({"username": "Kate-x"}));
    // The session is the account's: removing the account ends it.
    assert!(
        app.cli(&["user", "remove", "Kate-x"], None)
            .status
            .success()
    );
    assert_eq!(
        visitor.get("/api/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn removing_a_user_ends_its_sessions(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    app.add_user("alice", PASSWORD);
    let mut phone = app.browser();
    let mut laptop = app.browser();
    phone.login("alice", PASSWORD).await;
    laptop.login("alice", PASSWORD).await;
    assert_eq!(phone.get("/api/auth/me").await.status, StatusCode::OK);
    let output = app.cli(&["user", "remove", "alice"], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for device in [&mut phone, &mut laptop] {
        assert_eq!(
            device.get("/api/auth/me").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        phone.login_reply("alice", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(!app.cli(&["user", "remove", "alice"], None).status.success());
}

async fn usernames_and_passwords_are_validated_by_the_cli(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    for (name, password) in [
        ("bad name", PASSWORD),
        ("", PASSWORD),
        ("-dash", PASSWORD),
        ("bob", "short"),
    ] {
        let output = app.cli(&["user", "add", "--", name], Some(password));
        assert!(!output.status.success(), "{name:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    let output = app.cli(
        &["user", "add", "bob.smith-2"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(output.status.success());
    // The trailing newline of `echo pw |` is not part of the password.
    app.browser().login("bob.smith-2", PASSWORD).await;
    // Adding again changes the password.
    assert!(
        app.cli(&["user", "add", "bob.smith-2"], Some("another password"))
            .status
            .success()
    );
    assert_eq!(
        app.browser()
            .login_reply("bob.smith-2", PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.browser().login("bob.smith-2", "another password").await;
}

async fn a_session_ends_at_its_absolute_lifetime_however_active(backend: Backend) {
    let store = backend.start().await;
    let mut config = store.settings();
    config.session_ttl = Duration::from_secs(2);
    config.session_max_age = Duration::from_secs(3);
    let app = TestApp::spawn(config).await;
    let mut visitor = app.browser();
    visitor.add(42, 1).await;
    let first = visitor.cart().await["cartId"].clone();
    // Active all along: every 500 ms.
    let mut ended = false;
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cart = visitor.cart().await;
        if cart["cartId"] != first {
            ended = true;
            break;
        }
    }
    assert!(ended, "the session outlived its absolute lifetime");
}

async fn two_replicas_logging_one_user_in_from_two_sessions_merge_both_carts_once() {
    let redis = RedisServer::start().await;
    let a = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let b = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    two_sessions_logging_in_at_once_merge_both_carts_once(&a, &b).await;
}

/// Rounds of one user logging in from two sessions at once, on two replicas.
/// Shared with the Cluster tests.
pub(crate) async fn two_sessions_logging_in_at_once_merge_both_carts_once(
    a: &TestApp,
    b: &TestApp,
) {
    a.add_user("alice", PASSWORD);
    let mut expected_42 = 0;
    for round in 0..8 {
        let mut phone = a.browser();
        let mut laptop = b.browser();
        phone.add(42, 1).await;
        phone.add(130 - round, 1).await;
        laptop.add(42, 2).await;
        expected_42 += 3;
        let (p, l) = tokio::join!(
            phone.login_reply("alice", PASSWORD),
            laptop.login_reply("alice", PASSWORD)
        );
        assert_eq!(
            (p.status, l.status),
            (StatusCode::OK, StatusCode::OK),
            "{} {}",
            p.text,
            l.text
        );
        let cart = phone.cart().await;
        assert_eq!(quantity_of(&cart, 42), expected_42, "round {round}");
        assert_eq!(quantity_of(&cart, 130 - round), 1, "round {round}");
        assert_eq!(laptop.cart().await, cart, "both sessions see one cart");
    }
}

async fn adds_racing_a_login_are_never_lost_or_double_counted() {
    let redis = RedisServer::start().await;
    // Every round merges into alice's one cart: product 1 and up to ten products
    // of the round's own, so up to 101 lines after ten rounds. Past the max lines
    // (100 by default) the merge drops lines by rule and reports them in
    // `merge.dropped`; leave room, so every add merged is in the user's cart.
    let roomy = || {
        let mut config = settings(Backend::Redis, Some(&redis));
        config.max_lines = 200;
        config
    };
    let a = TestApp::spawn(roomy()).await;
    let b = TestApp::spawn(roomy()).await;
    a.add_user("alice", PASSWORD);
    let mut succeeded = 0;
    let mut refused = 0;
    for round in 0..10_i64 {
        let mut guest = a.browser();
        guest.add(1, 1).await;
        let old_cookie = guest.cookie.clone();
        // Each racing add puts a product of its own, so every one can be traced.
        let products: Vec<i64> = (0..10).map(|i| 11 + round * 10 + i).collect();
        let mut racers = Vec::new();
        for (i, &product) in products.iter().enumerate() {
            let mut tab = guest.via(if i % 2 == 0 { &b.base } else { &a.base });
            racers.push(tokio::spawn(async move {
                // Spread over the login's password check and merge, so some
                // adds land before the merge, some during, some after.
                tokio::time::sleep(Duration::from_millis(i as u64 * 7 + round as u64 % 3)).await;
                let reply = tab
                    .post(
                        "/api/cart/add",
                        &format!(r#"{{"productId": {product}, "quantity": 1}}"#),
                    )
                    .await;
                (product, reply.status, tab.cookie.clone())
            }));
        }
        let login = guest.login("alice", PASSWORD).await;
        assert_eq!(
            login["merge"]["dropped"],
            json!([]),
            "round {round}: max lines reached"
        );
        let user_cart = guest.cart().await;
        for racer in racers {
            let (product, status, cookie) = racer.await.expect("racer");
            let in_user_cart = quantity_of(&user_cart, product);
            if status == StatusCode::OK {
                succeeded += 1;
                if cookie == old_cookie {
                    // Ran on the guest cart before the merge: it moved, once.
                    assert_eq!(in_user_cart, 1, "round {round}: a successful add was lost");
                } else {
                    // Ran after the old session was gone: its own response's cookie
                    // leads to the cart that holds it.
                    let mut own = guest.clone();
                    own.cookie = cookie;
                    assert_eq!(quantity_of(&own.cart().await, product), 1, "round {round}");
                    assert_eq!(in_user_cart, 0, "round {round}: counted twice");
                }
            } else {
                refused += 1;
                assert_eq!(status, StatusCode::CONFLICT, "round {round}");
                assert_eq!(in_user_cart, 0, "round {round}: a refused add was applied");
            }
        }
        let final_cart = guest.cart().await;
        assert_eq!(quantity_of(&final_cart, 1), (round + 1) as u64);
    }
    eprintln!("racing adds: {succeeded} succeeded, {refused} refused with 409");
    assert!(succeeded > 0);
}

async fn a_request_in_flight_at_logout_never_brings_the_session_back() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    app.add_user("alice", PASSWORD);
    let client = redis.client().await;
    for round in 0..10 {
        let mut alice = app.browser();
        alice.login("alice", PASSWORD).await;
        let session = alice.cookie.clone().expect("session");
        let mut readers = Vec::new();
        for i in 0..8 {
            let mut tab = alice.clone();
            readers.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i % 3)).await;
                tab.get("/api/cart").await.status
            }));
        }
        assert_eq!(
            alice.post("/api/auth/logout", "{}").await.status,
            StatusCode::OK
        );
        for reader in readers {
            assert_eq!(reader.await.expect("reader"), StatusCode::OK);
        }
        let exists: u32 = client.exists(&session).await.expect("exists");
        assert_eq!(exists, 0, "round {round}: the session record came back");
        let mut old = Browser::new(&app.base);
        old.cookie = Some(session);
        assert_eq!(
            old.get("/api/auth/me").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

async fn the_merged_guest_cart_is_gone_and_the_user_cart_lives_thirty_days() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    app.add_user("alice", PASSWORD);
    let client = redis.client().await;
    let mut guest = app.browser();
    let line = guest.add(42, 1).await;
    // A line id names the cart that created it.
    let guest_key = cart_key(cart_no_of(line));
    let exists: u32 = client.exists(&guest_key).await.expect("exists");
    assert_eq!(exists, 1);
    guest.login("alice", PASSWORD).await;
    let exists: u32 = client.exists(&guest_key).await.expect("exists");
    assert_eq!(exists, 0, "the guest cart is gone after the merge");
    let user_no: u64 = client
        .hget("trolley:{user:alice}", "cart_no")
        .await
        .expect("user cart");
    let ttl: i64 = client.pttl(cart_key(user_no)).await.expect("pttl");
    let thirty_days = 30 * 24 * 3600 * 1000_i64;
    assert!(
        ttl > thirty_days - 60_000 && ttl <= thirty_days,
        "user cart TTL {ttl}"
    );
    // The signed-in session slides the user's cart TTL, not the guest TTL.
    guest.add(1, 1).await;
    let ttl: i64 = client.pttl(cart_key(user_no)).await.expect("pttl");
    assert!(ttl > thirty_days - 60_000, "user cart TTL {ttl}");
}
