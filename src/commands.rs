//! What the `trolley` command's subcommands do; `main` only parses and dispatches.

use std::{io::Read, path::Path, time::Duration};

use crate::{
    accounts, app, catalog, config::Settings, logs, shutdown, store::stores::Stores, traces,
};

/// How long a one-shot command waits for Redis.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// `trolley serve`: runs the service until SIGTERM or Ctrl-C.
pub async fn serve(settings: Settings) -> Result<(), String> {
    settings.validate()?;
    let traces = traces::TraceExport::from_env()?;
    let logs = logs::init(&settings.log, traces);
    let served = async {
        let app = app::App::build(settings).await?;
        app.run_until_stopped(shutdown::signal())
            .await
            .map_err(|e| format!("server error: {e}"))
    }
    .await;
    // The spans of the last requests are still queued: export them.
    logs.shutdown().await;
    served
}

async fn open(settings: &Settings) -> Result<Stores, String> {
    settings.validate()?;
    Stores::open(&settings.store_options(), CONNECT_WAIT).await
}

/// `trolley catalog import FILE`: replaces the catalog, all or nothing.
pub async fn import_catalog(settings: Settings, file: &Path) -> Result<(), String> {
    if settings.redis.url.is_none() {
        settings.validate()?;
        return Err("catalog import needs TROLLEY_REDIS_URL (the embedded store always serves the demo catalog)".into());
    }
    let products = catalog::parse_file(file)?;
    let stores = open(&settings).await?;
    let version = stores
        .catalog
        .replace_catalog(&products, false)
        .await
        .map_err(|e| format!("import failed, nothing changed: {e}"))?;
    println!(
        "imported {} products (catalog version {version})",
        products.len()
    );
    Ok(())
}

/// `trolley user add NAME`: creates a user or changes its password (from stdin).
pub async fn add_user(settings: Settings, name: &str) -> Result<(), String> {
    let stores = open(&settings).await?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = password.trim_end_matches(['\r', '\n']);
    let created = accounts::add_user(stores.accounts.as_ref(), name, password).await?;
    let done = if created {
        "added user"
    } else {
        "changed the password of"
    };
    println!("{done} {name}");
    Ok(())
}

/// `trolley user remove NAME`: removes a user, ending its sessions.
pub async fn remove_user(settings: Settings, name: &str) -> Result<(), String> {
    let stores = open(&settings).await?;
    if !accounts::remove_user(stores.accounts.as_ref(), name).await? {
        return Err(format!("no user {name:?}"));
    }
    println!("removed user {name} and ended its sessions");
    Ok(())
}

/// The OpenAPI document of every port's routes, pretty-printed JSON.
pub fn openapi(settings: &Settings) -> String {
    let ports = crate::http::openapi::OtherPorts {
        admin: settings.admin_listen.port(),
        service: settings.service_listen.port(),
        service_paths: crate::service::document(),
    };
    crate::http::routes::document(settings.max_quantity, ports)
        .to_pretty_json()
        .unwrap_or_default()
}

/// `trolley healthcheck`: exits 0 when the URL answers 200 (default: /readyz).
/// A minimal HTTP/1.1 GET, so the container image needs no curl.
pub async fn healthcheck(url: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .ok_or("healthcheck supports http:// URLs only")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(host).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(3), probe)
        .await
        .map_err(|_| format!("{url}: no answer within 3s"))?
        .map_err(|e| format!("{url}: {e}"))?;
    let status_line = String::from_utf8_lossy(&response);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!("{url}: status {status}"))
    }
}
