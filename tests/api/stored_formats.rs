//! What trolley stores in a cart hash, pinned as it is written (the layout in
//! `src/store/lua/prelude.lua`): `id`, `seq`, `v`, and one field per line named
//! by its product, `l:<product id>` = `<line id>|<quantity>|<price>|<added,
//! whole seconds>`. A change to what this test reads is a change of the stored
//! format: from the first release on it ships with a migration (CHANGELOG.md).

use libtest_mimic::Trial;
use reqwest::StatusCode;
use trolley::testing::change::RECENT_OPS;

use crate::helpers::{
    Backend, PASSWORD, RedisServer, TestApp, cart_key, cart_no_of, line_of, redis_cli, settings,
    tool_present,
};

pub fn trials() -> Vec<Trial> {
    tests![
        a_cart_hash_holds_its_fixed_fields_and_one_line_per_product,
        a_line_moved_at_login_keeps_its_id_under_its_products_field,
    ]
}

/// The cart hash as a sorted list of (field, value).
fn stored(port: u16, key: &str) -> Vec<(String, String)> {
    let flat = redis_cli(port, &["hgetall", key]);
    let flat: Vec<&str> = flat.lines().collect();
    let mut pairs: Vec<(String, String)> = flat
        .chunks_exact(2)
        .map(|pair| (pair[0].to_string(), pair[1].to_string()))
        .collect();
    pairs.sort();
    pairs
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
}

/// A line's stored value, `<line id>|<quantity>|<price>|<seconds>`, checked
/// against the line as `GET /api/cart` shows it; returns the seconds.
fn assert_line(value: &str, line: &serde_json::Value) -> String {
    let parts: Vec<&str> = value.split('|').collect();
    let [id, quantity, price, seconds] = parts.as_slice() else {
        panic!("a line value has four parts: {value}");
    };
    assert_eq!(
        *id,
        line["id"].to_string(),
        "the line id comes first: {value}"
    );
    assert_eq!(*quantity, line["quantity"].to_string(), "{value}");
    assert_eq!(*price, line["price"].to_string(), "{value}");
    assert!(
        seconds.len() == 10 && seconds.bytes().all(|b| b.is_ascii_digit()),
        "a line keeps whole seconds: {value}"
    );
    (*seconds).to_string()
}

async fn a_cart_hash_holds_its_fixed_fields_and_one_line_per_product() {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    let mut shopper = app.browser();
    let headset = shopper.add(42, 1).await;
    let other = shopper.add(7, 2).await;
    assert_eq!(shopper.add(42, 1).await, headset, "one line per product");
    let key = cart_key(cart_no_of(headset));
    let cart = shopper.cart().await;

    let pairs = stored(redis.port, &key);
    let names: Vec<&str> = pairs.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(names, ["id", "l:42", "l:7", "seq", "v"], "{pairs:?}");
    assert_eq!(field(&pairs, "id"), cart["cartId"].as_str());
    assert_eq!(field(&pairs, "seq"), Some("2"), "the last line sequence");
    let ops: Vec<&str> = field(&pairs, "v").expect("v").split(' ').collect();
    assert_eq!(ops.len(), RECENT_OPS, "the last operations: {ops:?}");
    let headset_line = line_of(&cart, 42);
    assert_eq!(headset_line["quantity"], 2);
    let added = assert_line(field(&pairs, "l:42").expect("l:42"), &headset_line);
    assert_line(field(&pairs, "l:7").expect("l:7"), &line_of(&cart, 7));

    // A change by line id rewrites its product's field; its id and added time stay.
    let reply = shopper.put_quantity(headset, 5).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let version = reply.headers["etag"].to_str().expect("etag").to_string();
    let cart = shopper.cart().await;
    let pairs = stored(redis.port, &key);
    assert_eq!(
        assert_line(field(&pairs, "l:42").expect("l:42"), &line_of(&cart, 42)),
        added
    );
    let newest = field(&pairs, "v").expect("v").split(' ').next();
    assert_eq!(
        newest.map(|op| format!("\"{op}\"")),
        Some(version),
        "the newest operation is the version"
    );

    // A removal takes its field away; `seq` stays, so no line id comes back.
    let reply = shopper.remove(other).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let pairs = stored(redis.port, &key);
    let names: Vec<&str> = pairs.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(names, ["id", "l:42", "seq", "v"], "{pairs:?}");
    assert_eq!(field(&pairs, "seq"), Some("2"));
}

async fn a_line_moved_at_login_keeps_its_id_under_its_products_field() {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    app.add_user("alice", PASSWORD);
    let mut user = app.browser();
    user.login("alice", PASSWORD).await;
    let kept = user.add(7, 1).await;
    let user_key = cart_key(cart_no_of(kept));
    let mut guest = app.browser();
    guest.add(7, 2).await;
    let moved = guest.add(42, 3).await;
    let guest_key = cart_key(cart_no_of(moved));

    guest.login("alice", PASSWORD).await;
    let cart = guest.cart().await;
    let pairs = stored(redis.port, &user_key);
    // The user's line of a product in both carts keeps the user's id; the
    // guest's new product moves with its id (which names the guest cart).
    let combined = line_of(&cart, 7);
    assert_eq!(combined["id"], kept);
    assert_eq!(combined["quantity"], 3);
    assert_line(field(&pairs, "l:7").expect("l:7"), &combined);
    let arrived = line_of(&cart, 42);
    assert_eq!(arrived["id"], moved);
    assert_line(field(&pairs, "l:42").expect("l:42"), &arrived);
    assert_eq!(
        redis_cli(redis.port, &["exists", &guest_key]),
        "0",
        "the merged guest cart is gone"
    );
}
