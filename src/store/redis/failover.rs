//! Following a Sentinel failover within about a second of the promotion.
//!
//! fred asks a sentinel for the primary's address and checks `ROLE` when it
//! (re)connects, and (with `custom-reconnect-errors`) reconnects on a `READONLY`
//! reply, but it does not watch `+switch-master`: until something breaks its
//! connections it keeps writing to the old primary, whose writes the failover
//! then discards. So every sentinel of the URL gets a watcher subscribed to
//! `+switch-master`; when the service's primary moves, each pool connection
//! still on another address is forced to reconnect, which asks a sentinel for
//! the new primary and checks its role again. Go-redis and Lettuce do the same.
//!
//! Moving at `+switch-master` is not enough on its own: Sentinel announces it
//! only after the promotion, and the old primary keeps acknowledging writes
//! until it is reconfigured as a replica, writes its resync then discards. So
//! cart changes are fenced ([`WriteFence`]: refused with 503, never
//! acknowledged) from `+failover-state-send-slaveof-noone`, announced before
//! the replica is promoted, until every connection has moved to the new
//! primary (or the failover is aborted, or the fence's time runs out).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use fred::{
    prelude::*,
    types::config::{Config as FredConfig, ServerConfig},
};

/// Longest a failover may fence cart changes (its failover-timeout is longer,
/// but a promotion takes seconds; past this, trolley writes again).
const FENCE_AT_MOST: Duration = Duration::from_secs(15);

/// The channels a watcher follows.
const CHANNELS: [&str; 4] = [
    "+failover-state-send-slaveof-noone",
    "+switch-master",
    "-failover-abort-not-elected",
    "-failover-abort-slave-timeout",
];

/// Cart changes are refused while a Sentinel failover is moving the primary.
#[derive(Debug, Default)]
pub(crate) struct WriteFence(Mutex<Option<Instant>>);

impl WriteFence {
    /// Whether cart changes must wait (be refused) now.
    pub(crate) fn is_up(&self) -> bool {
        let mut until = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match *until {
            Some(deadline) if deadline > Instant::now() => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    fn raise(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + FENCE_AT_MOST);
    }

    fn lower(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Starts one watcher per sentinel; they live as long as the returned clients.
pub(super) fn watch_failovers(
    pool: &Pool,
    config: &FredConfig,
    fence: &Arc<WriteFence>,
) -> Result<Vec<Client>, String> {
    let ServerConfig::Sentinel {
        hosts,
        service_name,
        username,
        password,
    } = &config.server
    else {
        return Ok(Vec::new());
    };
    let mut watchers = Vec::with_capacity(hosts.len());
    for host in hosts {
        let watcher = Builder::from_config(FredConfig {
            server: ServerConfig::Centralized {
                server: host.clone(),
            },
            username: username.clone(),
            password: password.clone(),
            // A sentinel has no databases to SELECT.
            database: None,
            fail_fast: false,
            tls: config.tls.clone(),
            ..FredConfig::default()
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
        .build()
        .map_err(|e| e.details().to_string())?;
        subscribe(&watcher, pool, service_name.to_string(), fence.clone());
        watchers.push(watcher);
    }
    Ok(watchers)
}

/// Subscribes a watcher to `+switch-master` (again after each reconnection:
/// a plain client does not re-subscribe by itself) and follows the messages
/// about `service`.
fn subscribe(watcher: &Client, pool: &Pool, service: String, fence: Arc<WriteFence>) {
    let resubscribe = watcher.clone();
    watcher.on_reconnect(move |_| {
        let watcher = resubscribe.clone();
        async move {
            if let Err(error) = watcher.subscribe(CHANNELS.to_vec()).await {
                tracing::warn!(%error, "could not subscribe to the sentinel's failover events");
            }
            Ok(())
        }
    });
    let pool = pool.clone();
    watcher.on_message(move |message| {
        let text = message
            .value
            .as_str()
            .map(|s| s.into_owned())
            .unwrap_or_default();
        match &*message.channel {
            "+switch-master" => {
                if let Some((host, port)) = new_primary(&text, &service) {
                    follow(&pool, &host, port, fence.clone());
                }
            }
            "+failover-state-send-slaveof-noone" if names_service(&text, &service) => {
                tracing::warn!("a Sentinel failover is promoting a replica; cart changes wait");
                fence.raise();
            }
            channel if channel.starts_with("-failover-abort") && names_service(&text, &service) => {
                tracing::warn!(channel, "the Sentinel failover was aborted");
                fence.lower();
            }
            _ => {}
        }
        async { Ok(()) }
    });
    watcher.connect();
    // Also subscribe once the first connection is up, in case the first
    // connection raises no reconnection event.
    let first = watcher.clone();
    tokio::spawn(async move {
        if first.wait_for_connect().await.is_ok() {
            let _ = first.subscribe(CHANNELS.to_vec()).await;
        }
    });
}

/// An instance event (`<type> <name> <ip> <port> @ <master name> <ip> <port>`)
/// about our service's primary.
fn names_service(message: &str, service: &str) -> bool {
    let mut words = message.split_whitespace();
    words.by_ref().any(|word| word == "@") && words.next() == Some(service)
}

/// The new primary of a `+switch-master` message for `service`:
/// `<name> <old ip> <old port> <new ip> <new port>`.
fn new_primary(message: &str, service: &str) -> Option<(String, u16)> {
    match message.split_whitespace().collect::<Vec<_>>().as_slice() {
        [name, _, _, host, port] if *name == service => {
            Some((host.to_string(), port.parse().ok()?))
        }
        _ => None,
    }
}

/// Reconnects every connection that is not on the new primary (three sentinels
/// announce one failover three times; connections already moved stay).
/// Once all have moved, the fence comes down.
fn follow(pool: &Pool, host: &str, port: u16, fence: Arc<WriteFence>) {
    tracing::warn!(
        host,
        port,
        "Sentinel promoted a new primary; moving the connections to it"
    );
    let stale: Vec<Client> = pool
        .clients()
        .iter()
        .filter(|client| {
            client
                .sentinel_primary()
                .is_none_or(|server| &*server.host != host || server.port != port)
        })
        .cloned()
        .collect();
    for client in &stale {
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(error) = client.force_reconnection().await {
                tracing::warn!(%error, "could not reconnect to the new primary");
            }
        });
    }
    // The fence comes down once no connection is on the old primary any more:
    // each is on the new one, or down (a change sent on it fails, unacknowledged).
    let host = host.to_string();
    tokio::spawn(async move {
        let deadline = Instant::now() + FENCE_AT_MOST;
        while Instant::now() < deadline {
            let moved = stale.iter().all(|client| {
                !client.is_connected()
                    || client
                        .sentinel_primary()
                        .is_some_and(|server| *server.host == *host && server.port == port)
            });
            if moved {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        fence.lower();
    });
}

#[cfg(test)]
mod tests {
    use super::{names_service, new_primary};

    #[test]
    fn failover_events_are_followed_for_our_service_only() {
        assert!(names_service(
            "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379",
            "mymaster"
        ));
        assert!(!names_service(
            "slave 127.0.0.1:6380 127.0.0.1 6380 @ other 127.0.0.1 6379",
            "mymaster"
        ));
        assert!(!names_service("mymaster", "mymaster"));
    }

    #[test]
    fn a_switch_master_message_names_the_new_primary_of_our_service_only() {
        assert_eq!(
            new_primary("mymaster 10.0.0.1 6379 10.0.0.2 6380", "mymaster"),
            Some(("10.0.0.2".into(), 6380))
        );
        assert_eq!(new_primary("other 1 2 3 4", "mymaster"), None);
        assert_eq!(new_primary("mymaster 1 2 3", "mymaster"), None);
    }
}
