//! The round-trip budget of each route: the commands a replica sends to a real
//! redis-server per request, counted with `MONITOR` (commands run inside a
//! script are not round trips and are left out). A change that adds a round
//! trip to a route fails here, not in a benchmark months later.

use std::{collections::BTreeMap, time::Duration};

use libtest_mimic::Trial;
use reqwest::Method;

use crate::helpers::{
    Backend, Monitor, PASSWORD, RedisServer, TestApp, redis_cli, settings, tool_present,
};

pub fn trials() -> Vec<Trial> {
    tests![
        every_route_stays_within_its_redis_round_trip_budget,
        a_replica_pipelines_over_one_connection_and_keeps_four_for_wait,
    ]
}

/// `TROLLEY_REDIS_POOL_SIZE` and `TROLLEY_REDIS_WAIT`, and the connections a
/// replica on them holds.
struct Pool {
    pool_size: Option<u32>,
    wait: u32,
    expected: usize,
}

/// The connections a replica holds to Redis: one by default (every request's
/// commands pipelined over it), four with `TROLLEY_REDIS_WAIT` (a `WAIT` holds
/// its connection), or what `TROLLEY_REDIS_POOL_SIZE` says.
async fn a_replica_pipelines_over_one_connection_and_keeps_four_for_wait() {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let pools = [
        Pool {
            pool_size: None,
            wait: 0,
            expected: 1,
        },
        Pool {
            pool_size: None,
            wait: 1,
            expected: 4,
        },
        Pool {
            pool_size: Some(3),
            wait: 0,
            expected: 3,
        },
    ];
    for Pool {
        pool_size,
        wait,
        expected,
    } in pools
    {
        let redis = RedisServer::start().await;
        if !redis.is_owned() {
            eprintln!("skipped: counts the connections of a redis-server of its own");
            return;
        }
        let mut config = settings(Backend::Redis, Some(&redis));
        config.redis.pool_size = pool_size;
        config.redis.wait_replicas = wait;
        // Held until the count is taken: its pool is what is counted.
        let _app = TestApp::spawn(config).await;
        // `CLIENT LIST` minus the redis-cli asking. The pool connects in the
        // background (start waits for it, but only so long): wait until it holds
        // at least the expected number; it never opens more than its size.
        let connections = || redis_cli(redis.port, &["client", "list"]).lines().count() - 1;
        crate::helpers::eventually(Duration::from_secs(10), || async {
            connections() >= expected
        })
        .await;
        let held = connections();
        assert_eq!(
            held, expected,
            "pool size {pool_size:?}, TROLLEY_REDIS_WAIT={wait}: {held} connections"
        );
    }
}

/// Requests per measured route.
const RUNS: usize = 10;

/// Logins measured per guest-cart size, and the large size.
const LOGINS: usize = 3;
const LARGE_CART: i64 = 30;

/// A login's round trips, whatever the size of the guest cart it merges (see
/// docs/PERFORMANCE.md "Round trips per request").
const LOGIN_BUDGET: f64 = 13.0;

/// Round trips each route may take per request (a session already started, its
/// record not due for a slide and copied by the replica, so the cart script is
/// the only round trip; see `sessions::copies`).
const BUDGETS: [Budget; 9] = [
    Budget::of("anonymous-get", 0.0),
    Budget::of("add", 1.0),
    Budget::of("get", 1.0),
    Budget::of("put", 1.0),
    // A refusal: the line is looked for where its id says it was made.
    Budget::of("remove-missing", 2.0),
    Budget::of("clear", 1.0),
    Budget::of("minimal-add", 1.0),
    Budget::of("minimal-get", 1.0),
    Budget::of("signed-in-add", 1.0),
];

/// A measured route (as its block in the `MONITOR` log is named) and the round
/// trips it may take per request.
struct Budget {
    route: &'static str,
    round_trips: f64,
}

impl Budget {
    const fn of(route: &'static str, round_trips: f64) -> Budget {
        Budget { route, round_trips }
    }
}

/// A measured request: its block's name in the `MONITOR` log, and the request.
struct Measured<'a> {
    name: &'static str,
    method: Method,
    path: &'a str,
    body: Option<&'a str>,
}

async fn every_route_stays_within_its_redis_round_trip_budget() {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(settings(Backend::Redis, Some(&redis))).await;
    app.add_user("counter", PASSWORD);
    let mut shopper = app.browser();
    let line = shopper.add(42, 1).await;
    let mut member = app.browser();
    member.login("counter", PASSWORD).await;
    member.add(7, 1).await;
    // Guests about to sign in, with a small and a large cart: a login's round
    // trips must not grow with the cart it merges.
    let mut small_guests = Vec::new();
    let mut large_guests = Vec::new();
    for n in 0..LOGINS {
        let mut guest = app.browser();
        guest.add(42, 1).await;
        app.add_user(&format!("small{n}"), PASSWORD);
        small_guests.push(guest);
        let mut guest = app.browser();
        for product in 1..=LARGE_CART {
            guest.add(product, 1).await;
        }
        app.add_user(&format!("large{n}"), PASSWORD);
        large_guests.push(guest);
    }
    // The adds rewrote the records; a read takes the replica's copy of each.
    shopper.cart().await;
    member.cart().await;
    // Wait for the catalog copy to be fresh, so no revalidation lands in a block.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let monitor = Monitor::start(redis.port).await;
    let mark = |name: &str| {
        redis_cli(redis.port, &["echo", &format!("MARK-{name}")]);
    };
    let put = format!("/api/cart/item/{line}?quantity=3");
    let add = r#"{"productId": 42, "quantity": 1}"#;
    let mut anonymous = app.browser();
    mark("anonymous-get");
    for _ in 0..RUNS {
        anonymous.get("/api/cart").await;
    }
    let measured = [
        Measured {
            name: "add",
            method: Method::POST,
            path: "/api/cart/add",
            body: Some(add),
        },
        Measured {
            name: "get",
            method: Method::GET,
            path: "/api/cart",
            body: None,
        },
        Measured {
            name: "put",
            method: Method::PUT,
            path: &put,
            body: None,
        },
        Measured {
            name: "remove-missing",
            method: Method::DELETE,
            path: "/api/cart/item/999999999",
            body: None,
        },
        Measured {
            name: "minimal-add",
            method: Method::POST,
            path: "/cart/items",
            body: Some(r#"{"sku": "apple"}"#),
        },
        Measured {
            name: "minimal-get",
            method: Method::GET,
            path: "/cart",
            body: None,
        },
        Measured {
            name: "clear",
            method: Method::DELETE,
            path: "/api/cart",
            body: None,
        },
    ];
    for Measured {
        name,
        method,
        path,
        body,
    } in measured
    {
        mark(name);
        for _ in 0..RUNS {
            shopper.send(method.clone(), path, body).await;
        }
    }
    mark("signed-in-add");
    for _ in 0..RUNS {
        member
            .send(
                Method::POST,
                "/api/cart/add",
                Some(r#"{"productId": 7, "quantity": 1}"#),
            )
            .await;
    }
    mark("login-small");
    for (n, guest) in small_guests.iter_mut().enumerate() {
        guest.login(&format!("small{n}"), PASSWORD).await;
    }
    mark("login-large");
    for (n, guest) in large_guests.iter_mut().enumerate() {
        guest.login(&format!("large{n}"), PASSWORD).await;
    }
    mark("end");
    let text = monitor.stop().await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut current: Option<String> = None;
    for entry in text.lines() {
        if let Some(at) = entry.find("\"MARK-") {
            let name = entry[at + 6..].trim_end_matches('"').to_string();
            current = (name != "end").then_some(name);
            continue;
        }
        // Commands a script runs (logged as `[0 lua]`) are no round trips; the
        // catalog copy's revalidation (one GET of its version per refresh
        // interval, whatever the traffic) lands in whichever block is running
        // and is no route's.
        if entry.contains(" lua] ")
            || entry.contains("\"trolley:{catalog}:version\"")
            || !entry.starts_with(|c: char| c.is_ascii_digit())
        {
            continue;
        }
        if let Some(name) = &current {
            *counts.entry(name.clone()).or_default() += 1;
        }
    }
    let mut report = Vec::new();
    for Budget {
        route: name,
        round_trips: budget,
    } in BUDGETS
    {
        let per_request = *counts.get(name).unwrap_or(&0) as f64 / RUNS as f64;
        report.push(format!("{name}={per_request:.1}"));
        assert!(
            per_request <= budget,
            "{name} takes {per_request} round trips per request, over its budget of {budget}: {counts:?}"
        );
    }
    let small = *counts.get("login-small").unwrap_or(&0) as f64 / LOGINS as f64;
    let large = *counts.get("login-large").unwrap_or(&0) as f64 / LOGINS as f64;
    report.push(format!(
        "login-1-line={small:.1} login-{LARGE_CART}-lines={large:.1}"
    ));
    assert!(
        small <= LOGIN_BUDGET && large == small,
        "a login takes {small} round trips with a 1-line guest cart and {large} with {LARGE_CART} lines \
         (budget {LOGIN_BUDGET}, the same whatever the cart): {counts:?}"
    );
    eprintln!("round trips per request: {}", report.join(" "));
}
