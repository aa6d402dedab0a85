//! `heraldd`: flags → configuration → bind → one `listening on` line → serve until
//! SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use herald_examples::config::{DaemonConfig, Overrides};
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
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address of the management API (`listen`), e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<String>,
    /// Data directory (`data_dir`).
    #[arg(long)]
    data_dir: Option<String>,
    /// `sled` or `memory` (`storage`).
    #[arg(long)]
    storage: Option<String>,
    /// Logs as JSON lines on stderr.
    #[arg(long)]
    log_json: bool,
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
