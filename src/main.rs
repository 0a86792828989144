//! The `trolley` command: parses the command line and dispatches to `commands`.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use trolley::{commands, config::Settings, crypto};

// glibc's allocator was a fifth of the CPU under load (malloc, free and their
// consolidation; docs/PERFORMANCE.md): mimalloc's per-thread heaps cost far less
// for the many small, short-lived allocations of a request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Print the OpenAPI 3.1 document of the public API (as served at
    /// /api/openapi.json, with these settings' limits).
    Openapi,
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
    crypto::install_provider();
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => commands::serve(settings).await,
        Command::Catalog {
            command: CatalogCommand::Import { file },
        } => commands::import_catalog(settings, &file).await,
        Command::User {
            command: UserCommand::Add { name },
        } => commands::add_user(settings, &name).await,
        Command::User {
            command: UserCommand::Remove { name },
        } => commands::remove_user(settings, &name).await,
        Command::Openapi => {
            println!("{}", commands::openapi(&settings));
            Ok(())
        }
        Command::Healthcheck { url } => {
            let url = url.unwrap_or_else(|| {
                format!("http://127.0.0.1:{}/readyz", settings.admin_listen.port())
            });
            commands::healthcheck(&url).await
        }
    }
}
