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

use fred::{
    prelude::*,
    types::config::{Config as FredConfig, ServerConfig},
};

/// Starts one watcher per sentinel; they live as long as the returned clients.
pub(super) fn watch_failovers(pool: &Pool, config: &FredConfig) -> Result<Vec<Client>, String> {
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
        subscribe(&watcher, pool, service_name.to_string());
        watchers.push(watcher);
    }
    Ok(watchers)
}

/// Subscribes a watcher to `+switch-master` (again after each reconnection:
/// a plain client does not re-subscribe by itself) and follows the messages
/// about `service`.
fn subscribe(watcher: &Client, pool: &Pool, service: String) {
    // A plain client does not subscribe again by itself after a reconnection.
    let resubscribe = watcher.clone();
    watcher.on_reconnect(move |_| {
        let watcher = resubscribe.clone();
        async move {
            if let Err(error) = watcher.subscribe("+switch-master").await {
                tracing::warn!(%error, "could not subscribe to +switch-master");
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
        if let Some((host, port)) = new_primary(&text, &service) {
            follow(&pool, &host, port);
        }
        async { Ok(()) }
    });
    watcher.connect();
    // Also subscribe once the first connection is up, in case the first
    // connection raises no reconnection event.
    let first = watcher.clone();
    tokio::spawn(async move {
        if first.wait_for_connect().await.is_ok() {
            let _ = first.subscribe("+switch-master").await;
        }
    });
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
fn follow(pool: &Pool, host: &str, port: u16) {
    tracing::warn!(
        host,
        port,
        "Sentinel promoted a new primary; moving the connections to it"
    );
    for client in pool.clients() {
        let stale = client
            .sentinel_primary()
            .is_none_or(|server| &*server.host != host || server.port != port);
        if stale {
            let client = client.clone();
            tokio::spawn(async move {
                if let Err(error) = client.force_reconnection().await {
                    tracing::warn!(%error, "could not reconnect to the new primary");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::new_primary;

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
