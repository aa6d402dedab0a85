//! `heraldd`: flags → configuration → bind → one `listening on` line → serve until
//! SIGINT or SIGTERM. `heraldd rotate-key` seals the stored secrets under a new key
//! instead (the daemon stopped).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use herald_examples::config::{DaemonConfig, Overrides, StorageKind};
use herald_examples::{fd_limit, shutdown, telemetry, Daemon};

/// mimalloc: a delivery allocates and frees many small records and buffers across
/// worker threads, and the system allocator was the largest single cost in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Herald's webhook delivery daemon. Settings: a TOML file (`--config`), then
/// `HERALD_<KEY>` environment variables, then these flags.
#[derive(Debug, Parser)]
#[command(name = "heraldd", version)]
struct Cli {
    /// The TOML configuration file (without one, every default applies).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Address of the management API (`listen`), e.g. 127.0.0.1:8080.
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Data directory (`data_dir`).
    #[arg(long, global = true)]
    data_dir: Option<String>,
    /// `sled`, `memory` or `postgres` (`storage`).
    #[arg(long, global = true)]
    storage: Option<String>,
    /// Logs as JSON lines on stderr.
    #[arg(long, global = true)]
    log_json: bool,
    /// Without a command, serves the API.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Seals every endpoint's secret and header values under a new key, with the
    /// daemon stopped. Without `encryption_keys`, a new key joins the data
    /// directory's keyring file and the old one leaves it; with `encryption_keys`,
    /// everything is sealed under the first configured key, and the others may then
    /// be removed from the configuration.
    RotateKey,
}

fn main() -> ExitCode {
    herald_examples::allocator::tune();
    let cli = Cli::parse();
    let flags = Overrides {
        config: cli.config,
        listen: cli.listen,
        data_dir: cli.data_dir,
        storage: cli.storage,
        log_json: cli.log_json,
    };
    let config = match DaemonConfig::load(&flags, std::env::vars()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("heraldd: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_tracing(config.log_json);
    if let Some(Command::RotateKey) = cli.command {
        return match rotate_key(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("heraldd: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(error) = fd_limit::raise() {
        tracing::warn!(%error, "cannot raise the open-files limit");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("heraldd: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("heraldd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `heraldd rotate-key`.
fn rotate_key(config: &DaemonConfig) -> anyhow::Result<()> {
    use herald_storage_sled::SledStorage;
    if config.storage != StorageKind::Sled {
        anyhow::bail!("rotate-key seals sled's data directory; storage is not \"sled\"");
    }
    let path = config.sled_dir();
    match &config.encryption_keys {
        None => {
            let (id, count) = SledStorage::rotate_keyring_file(&path)
                .with_context(|| format!("cannot rotate the key of {}", path.display()))?;
            println!(
                "sealed {count} endpoints under the new key {id}; {} holds it alone",
                path.join(herald_storage_sled::KEYRING_FILE).display()
            );
        }
        Some(keyring) => {
            let count = SledStorage::reseal(&path, keyring)
                .with_context(|| format!("cannot seal {} again", path.display()))?;
            let current = keyring.current().id();
            let others: Vec<&str> = keyring
                .keys()
                .iter()
                .map(|k| k.id())
                .filter(|id| *id != current)
                .collect();
            println!("sealed {count} endpoints under key {current}");
            if !others.is_empty() {
                println!(
                    "no stored value needs the keys {} any more: remove them from encryption_keys",
                    others.join(", ")
                );
            }
        }
    }
    Ok(())
}

async fn serve(config: DaemonConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen: cannot bind {}", config.listen))?;
    let daemon = Daemon::start(config, listener).await?;
    if let Some((token, path)) = daemon.generated_api_token() {
        // Shown this once; later starts reuse the stored token silently.
        eprintln!(
            "heraldd: generated an API token (kept in {}): {token}",
            path.display()
        );
    }
    println!("listening on {}", daemon.url());
    tracing::info!(addr = %daemon.local_addr(), "listening");
    daemon.serve(shutdown::signal()).await
}
