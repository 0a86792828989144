//! `redis-sentinel://`: a master, a replica and a Sentinel; carts survive a
//! failover and the service follows the new master by itself.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use libtest_mimic::Trial;
use reqwest::StatusCode;

use crate::{
    helpers::{
        Backend, Children, TestApp, free_port, quantity_of, redis_cli, settings, tool_present,
        until,
    },
    trial,
};

pub fn trials() -> Vec<Trial> {
    vec![trial(
        "sentinel::carts_survive_a_sentinel_failover_and_the_service_follows_the_new_master",
        carts_survive_a_sentinel_failover_and_the_service_follows_the_new_master,
    )]
}

fn redis(dir: &Path, args: &[&str]) -> Child {
    Command::new("redis-server")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

async fn carts_survive_a_sentinel_failover_and_the_service_follows_the_new_master() {
    if !tool_present("redis-cli") {
        eprintln!("skipped: needs redis-cli (Debian package redis-tools)");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let (master, replica, sentinel) = (free_port(), free_port(), free_port());
    let node = |port: u16, extra: &[&str]| {
        let sub = dir.path().join(port.to_string());
        std::fs::create_dir_all(&sub).expect("dir");
        let port = port.to_string();
        let mut args = vec![
            "--port",
            port.as_str(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        args.extend_from_slice(extra);
        redis(&sub, &args)
    };
    let mut servers = Children(vec![node(master, &[])]);
    let master_address = format!("{master}");
    servers.0.push(node(
        replica,
        &["--replicaof", "127.0.0.1", &master_address],
    ));
    let config = dir.path().join("sentinel.conf");
    std::fs::write(
        &config,
        format!(
            "port {sentinel}\nbind 127.0.0.1\nsentinel resolve-hostnames no\n\
             sentinel monitor mymaster 127.0.0.1 {master} 1\n\
             sentinel down-after-milliseconds mymaster 1000\n\
             sentinel failover-timeout mymaster 10000\n"
        ),
    )
    .expect("sentinel.conf");
    servers.0.push(redis(
        dir.path(),
        &[config.to_str().expect("path"), "--sentinel"],
    ));
    until("the replica to sync", || {
        redis_cli(replica, &["info", "replication"]).contains("master_link_status:up")
    })
    .await;
    until("the sentinel to see the replica", || {
        redis_cli(sentinel, &["sentinel", "replicas", "mymaster"]).contains(&replica.to_string())
    })
    .await;

    let mut config = settings(Backend::Embedded, None);
    config.redis.url = Some(format!(
        "redis-sentinel://127.0.0.1:{sentinel}/0?sentinelServiceName=mymaster"
    ));
    let app = TestApp::spawn(config).await;
    let mut visitor = app.browser();
    visitor.add(42, 2).await;
    visitor.add(1, 1).await;
    let cart_id = visitor.cart().await["cartId"].clone();
    until("the cart to reach the replica", || {
        redis_cli(replica, &["--scan", "--pattern", "trolley:{cart:*"])
            .lines()
            .count()
            >= 1
            && redis_cli(replica, &["dbsize"]).parse::<u64>().unwrap_or(0) >= 4
    })
    .await;

    // The master dies; Sentinel promotes the replica.
    servers.0[0].kill().expect("kill master");
    let _ = servers.0[0].wait();
    until("the failover", || {
        redis_cli(
            sentinel,
            &["sentinel", "get-master-addr-by-name", "mymaster"],
        )
        .contains(&replica.to_string())
    })
    .await;

    let recovered = visitor.cart_answers_within(Duration::from_secs(30)).await;
    assert!(recovered, "the service did not follow the new master");
    let cart = visitor.cart().await;
    assert_eq!(cart["cartId"], cart_id, "the session survived the failover");
    assert_eq!(quantity_of(&cart, 42), 2);
    assert_eq!(quantity_of(&cart, 1), 1);
    visitor.add(42, 1).await;
    assert_eq!(quantity_of(&visitor.cart().await, 42), 3);
    let ready = reqwest::get(format!("{}/readyz", app.admin))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
}
