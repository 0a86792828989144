//! What an earlier version wrote still serves: lines whose added time is in
//! milliseconds (lines now keep whole seconds) read, change and merge as before.

use libtest_mimic::Trial;

use crate::{
    helpers::{Backend, RedisServer, TestApp, redis_cli, settings},
    trial,
};

pub fn trials() -> Vec<Trial> {
    vec![trial(
        "stored_formats::a_line_written_in_milliseconds_reads_and_changes_like_a_new_one",
        a_line_written_in_milliseconds_reads_and_changes_like_a_new_one,
    )]
}

async fn a_line_written_in_milliseconds_reads_and_changes_like_a_new_one() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut shopper = app.browser();
    let line = shopper.add(42, 1).await;
    let before = shopper.get("/api/cart").await.json();

    // A line id is its cart's number times 2^20 plus its sequence.
    let cart_key = format!("trolley:{{cart:{}}}", line >> 20);
    let cart_key = cart_key.as_str();
    let field = format!("l:{line}");
    let stored = redis_cli(redis.port, &["hget", cart_key, &field]);
    let (rest, seconds) = stored.rsplit_once('|').expect("a line value");
    assert_eq!(
        seconds.len(),
        10,
        "a new line keeps whole seconds: {stored}"
    );
    // The earlier encoding: milliseconds, here 789 past that second.
    let old = format!("{rest}|{seconds}789");
    redis_cli(redis.port, &["hset", cart_key, &field, &old]);

    let read = shopper.get("/api/cart").await.json();
    assert_eq!(
        read["items"], before["items"],
        "the old line reads the same"
    );

    shopper.add(42, 2).await;
    let after = shopper.get("/api/cart").await.json();
    assert_eq!(after["items"][0]["quantity"], 3);
    assert_eq!(after["items"][0]["addedAt"], before["items"][0]["addedAt"]);
    let rewritten = redis_cli(redis.port, &["hget", cart_key, &field]);
    assert_eq!(
        rewritten,
        format!("42|3|{}|{seconds}", rest.split('|').nth(2).expect("price"))
    );
}
