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
    helpers::{Backend, TestApp, eventually, free_port, quantity_of, settings},
    trial,
};

pub fn trials() -> Vec<Trial> {
    vec![trial(
        "sentinel::carts_survive_a_sentinel_failover_and_the_service_follows_the_new_master",
        carts_survive_a_sentinel_failover_and_the_service_follows_the_new_master,
    )]
}

/// Processes of this test, killed on drop.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

async fn until(what: &str, check: impl Fn() -> bool) {
    let done = eventually(Duration::from_secs(30), || {
        let result = check();
        async move { result }
    })
    .await;
    assert!(done, "timed out waiting for {what}");
}

async fn carts_survive_a_sentinel_failover_and_the_service_follows_the_new_master() {
    let has_cli = Command::new("redis-cli")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_cli {
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
    let mut servers = Servers(vec![node(master, &[])]);
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
        cli(replica, &["info", "replication"]).contains("master_link_status:up")
    })
    .await;
    until("the sentinel to see the replica", || {
        cli(sentinel, &["sentinel", "replicas", "mymaster"]).contains(&replica.to_string())
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
        cli(replica, &["--scan", "--pattern", "trolley:{cart:*"])
            .lines()
            .count()
            >= 1
            && cli(replica, &["dbsize"]).parse::<u64>().unwrap_or(0) >= 4
    })
    .await;

    // The master dies; Sentinel promotes the replica.
    servers.0[0].kill().expect("kill master");
    let _ = servers.0[0].wait();
    until("the failover", || {
        cli(
            sentinel,
            &["sentinel", "get-master-addr-by-name", "mymaster"],
        )
        .contains(&replica.to_string())
    })
    .await;

    let recovered = eventually(Duration::from_secs(30), || {
        let mut visitor = visitor.clone();
        async move { visitor.get("/api/cart").await.status == StatusCode::OK }
    })
    .await;
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
