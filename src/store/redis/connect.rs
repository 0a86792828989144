//! Connecting to Redis: the URL forms trolley accepts (single node, TLS,
//! Sentinel, Cluster, comma-separated node lists), a private CA, and the pool's
//! timeouts and reconnection policy.

use std::time::Duration;

use fred::{
    prelude::*,
    types::config::{Config as FredConfig, ReconnectPolicy, UnresponsiveConfig},
};

/// Where Redis is and how hard to try.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// redis://, rediss:// (TLS), redis-sentinel:// or redis-cluster:// URL.
    pub url: String,
    /// Overrides the URL's password (URL in a ConfigMap, password in a Secret).
    pub password: Option<String>,
    /// PEM file of the CA(s) that signed the server's certificate.
    pub ca_file: Option<std::path::PathBuf>,
    /// Connections per replica.
    pub pool_size: u32,
    /// Command timeout: past it a request answers 503 instead of hanging.
    pub timeout: Duration,
    /// Replicas a cart change must reach before it is acknowledged (0: none).
    pub wait_replicas: u32,
}

/// Parses a Redis URL into fred's config, with the options' password and CA.
pub fn parse_config(options: &RedisOptions) -> Result<FredConfig, String> {
    // fred builds a rustls config for rediss:// URLs while parsing.
    crate::crypto::install_provider();
    const SCHEMES: [&str; 6] = [
        "redis://",
        "rediss://",
        "redis-sentinel://",
        "rediss-sentinel://",
        "redis-cluster://",
        "rediss-cluster://",
    ];
    let url = options.url.as_str();
    if !SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
        return Err(format!("expected one of {}", SCHEMES.join(", ")));
    }
    let url = comma_nodes_to_query(url);
    let mut config = FredConfig::from_url(&url).map_err(|e| e.details().to_string())?;
    if let Some(password) = &options.password {
        config.password = Some(password.clone());
    }
    if let Some(ca_file) = &options.ca_file {
        if config.tls.is_none() {
            return Err("TROLLEY_REDIS_CA_FILE is set but the URL is not rediss://".into());
        }
        config.tls = Some(tls_trusting(ca_file)?.into());
    }
    // Keep retrying the first connection too, so a replica started before Redis
    // comes up by itself (readiness says 503 meanwhile).
    config.fail_fast = false;
    Ok(config)
}

/// Builds the connection pool: command timeout, reconnection forever with
/// backoff, and detection of half-open connections. Connecting starts in the
/// background. Also says whether the server is a Redis Cluster, and returns the
/// Sentinel failover watchers (see `failover`), which live as long as the store.
pub(super) fn connect_pool(
    options: &RedisOptions,
    fence: &std::sync::Arc<super::failover::WriteFence>,
) -> Result<(Pool, bool, Vec<Client>), String> {
    let config = parse_config(options)?;
    let sentinel_config = config.clone();
    let clustered = config.server.is_clustered();
    let timeout = options.timeout;
    let pool = Builder::from_config(config)
        .with_performance_config(|perf| {
            perf.default_command_timeout = timeout;
        })
        .with_connection_config(|conn| {
            conn.connection_timeout = timeout.max(Duration::from_secs(1));
            conn.internal_command_timeout = timeout.max(Duration::from_secs(1));
            // Fail a command rather than replay it after a reconnection: the
            // caller already answered 503 when its timeout passed.
            conn.max_command_attempts = 1;
            // A pipeline (a change and its `WAIT`) is written command by
            // command: without TCP_NODELAY the kernel would hold the second
            // until Redis acknowledged the first, a round trip more.
            conn.tcp.nodelay = Some(true);
            // A connection that stops answering (half-open TCP, a paused Redis)
            // is closed and reconnected instead of hanging every command.
            conn.unresponsive = UnresponsiveConfig {
                max_timeout: Some(timeout.max(Duration::from_millis(500)) * 2),
                interval: Duration::from_millis(250),
            };
        })
        // 0 attempts = retry forever: from 50 ms doubling up to 2 s.
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
        .build_pool(options.pool_size as usize)
        .map_err(|e| e.details().to_string())?;
    pool.connect_pool();
    let watchers = super::failover::watch_failovers(&pool, &sentinel_config, fence)?;
    Ok((pool, clustered, watchers))
}

/// Accepts the common `redis-cluster://:pw@n1:6379,n2:6379,n3:6379/0` form (and
/// the same for Sentinel) by rewriting it to fred's `…@n1:6379/0?node=n2:6379&node=n3:6379`.
fn comma_nodes_to_query(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    if !(scheme.ends_with("-cluster") || scheme.ends_with("-sentinel")) {
        return url.to_string();
    }
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let mut nodes = hosts.split(',').filter(|n| !n.is_empty());
    let Some(first) = nodes.next() else {
        return url.to_string();
    };
    let others: Vec<&str> = nodes.collect();
    if others.is_empty() {
        return url.to_string();
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    let mut params: Vec<String> = others.iter().map(|n| format!("node={n}")).collect();
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        params.push(query.to_string());
    }
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{userinfo}{first}{path}?{}", params.join("&"))
}

/// A TLS client configuration that trusts only the CA certificates of a PEM file.
fn tls_trusting(ca_file: &std::path::Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let shown = ca_file.display();
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("cannot read {shown}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("{shown}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{shown} holds no certificate"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::{RedisOptions, comma_nodes_to_query, parse_config};

    #[test]
    fn the_urls_the_helm_chart_renders_parse_to_their_topology() {
        let options = |url: &str| RedisOptions {
            url: url.to_string(),
            password: Some("from-a-secret".into()),
            ca_file: None,
            pool_size: 4,
            timeout: std::time::Duration::from_secs(1),
            wait_replicas: 0,
        };
        let sentinel = parse_config(&options(
            "redis-sentinel://redis-node-0.redis-headless:26379,redis-node-1.redis-headless:26379/0?sentinelServiceName=mymaster",
        ))
        .expect("sentinel url");
        assert!(matches!(
            sentinel.server,
            fred::types::config::ServerConfig::Sentinel { ref hosts, ref service_name, .. }
                if hosts.len() == 2 && service_name == "mymaster"
        ));
        assert_eq!(sentinel.password.as_deref(), Some("from-a-secret"));
        let cluster = parse_config(&options(
            "rediss-cluster://redis-cluster-0.h:6379,redis-cluster-1.h:6379,redis-cluster-2.h:6379",
        ))
        .expect("cluster url");
        assert!(cluster.server.is_clustered());
        assert_eq!(cluster.server.hosts().len(), 3);
        assert!(cluster.tls.is_some());
        assert!(parse_config(&options("mysql://nope")).is_err());
    }

    #[test]
    fn comma_separated_nodes_become_fred_node_parameters() {
        assert_eq!(
            comma_nodes_to_query("redis-cluster://:pw@n1:6379,n2:6379,n3:6379"),
            "redis-cluster://:pw@n1:6379?node=n2:6379&node=n3:6379"
        );
        assert_eq!(
            comma_nodes_to_query(
                "redis-sentinel://s1:26379,s2:26379/0?sentinelServiceName=mymaster"
            ),
            "redis-sentinel://s1:26379/0?node=s2:26379&sentinelServiceName=mymaster"
        );
        for unchanged in [
            "redis://:pw@host:6379/0",
            "redis-cluster://n1:6379?node=n2:6379",
            "redis-sentinel://s1:26379/0?sentinelServiceName=mymaster",
        ] {
            assert_eq!(comma_nodes_to_query(unchanged), unchanged);
        }
    }
}
