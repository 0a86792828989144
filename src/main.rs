//! The `trolley` command: parse, build, run.

use std::{io::Read, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use trolley::{accounts, app, catalog, config::Settings, shutdown, telemetry, tracing_otlp};

#[derive(Parser)]
#[command(
    name = "trolley",
    version,
    about = "Session-backed shopping-cart service"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the cart API (the default).
    Serve,
    /// Manage the product catalog.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Exit 0 when the local replica is ready (for container health checks).
    Healthcheck {
        /// URL to probe; default: /readyz on the admin port.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Replace the catalog with the products of a JSON file (all or nothing).
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user, or change its password; the password is read from stdin.
    Add { name: String },
    /// Remove a user, ending all of its sessions.
    Remove { name: String },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                error.exit();
            }
            // A bad setting stops start-up with one clear line.
            let text = error.to_string();
            let line = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            eprintln!("trolley: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("trolley: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("trolley: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    app::install_crypto_provider();
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            settings.validate()?;
            let traces = tracing_otlp::TraceExport::from_env()?;
            let telemetry = telemetry::init(&settings.log, traces);
            let served = async {
                let app = app::App::build(settings).await?;
                app.run_until_stopped(shutdown::signal())
                    .await
                    .map_err(|e| format!("server error: {e}"))
            }
            .await;
            // The spans of the last requests are still queued: export them.
            telemetry.shutdown().await;
            served
        }
        Command::Catalog {
            command: CatalogCommand::Import { file },
        } => {
            settings.validate()?;
            if settings.redis.url.is_none() {
                return Err("catalog import needs TROLLEY_REDIS_URL (the embedded store always serves the demo catalog)".into());
            }
            let products = catalog::parse_file(&file)?;
            let backend = app::open_backend(&settings, Duration::from_secs(5)).await?;
            let version = backend
                .store
                .replace_catalog(&products, false)
                .await
                .map_err(|e| format!("import failed, nothing changed: {e}"))?;
            println!(
                "imported {} products (catalog version {version})",
                products.len()
            );
            Ok(())
        }
        Command::User { command } => {
            settings.validate()?;
            let backend = app::open_backend(&settings, Duration::from_secs(5)).await?;
            match command {
                UserCommand::Add { name } => {
                    let mut password = String::new();
                    std::io::stdin()
                        .read_to_string(&mut password)
                        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
                    let password = password.trim_end_matches(['\r', '\n']);
                    let created =
                        accounts::add_user(backend.store.as_ref(), &name, password).await?;
                    println!(
                        "{} {name}",
                        if created {
                            "added user"
                        } else {
                            "changed the password of"
                        }
                    );
                }
                UserCommand::Remove { name } => {
                    if !accounts::remove_user(backend.store.as_ref(), &name).await? {
                        return Err(format!("no user {name:?}"));
                    }
                    println!("removed user {name} and ended its sessions");
                }
            }
            Ok(())
        }
        Command::Healthcheck { url } => {
            let url = url.unwrap_or_else(|| {
                format!("http://127.0.0.1:{}/readyz", settings.admin_listen.port())
            });
            healthcheck(&url).await
        }
    }
}

/// A minimal HTTP/1.1 GET, so the container image needs no curl.
async fn healthcheck(url: &str) -> Result<(), String> {
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
