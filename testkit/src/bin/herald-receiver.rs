//! `herald-receiver`: the test receiver as a program, for trying Herald by hand. It
//! answers each path in the mode given, prints one line per request, and checks each
//! request's signature when given the endpoint's secret: Standard Webhooks by default,
//! or as a delivery profile signs (profiles.md §3), a built-in by name or one of a
//! heraldd configuration file.
//!
//! ```text
//! cargo run -p herald-testkit --bin herald-receiver -- --listen 127.0.0.1:9000 \
//!     --mode /flaky=fail-first:2 --secret whsec_...
//! cargo run -p herald-testkit --bin herald-receiver -- --listen 127.0.0.1:9000 \
//!     --profile perps --config examples/profiles.toml --secret whsec_...
//! ```
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use herald::profile::{verify_request, HeaderRole, Profile, Profiles};
use herald::signing::{VerifyError, DEFAULT_TOLERANCE};
use herald_examples::config::{DaemonConfig, Overrides};
use herald_testkit::receiver::{Mode, Receiver, RecordedRequest};

/// A webhook receiver with a behaviour per path.
#[derive(Debug, Parser)]
#[command(name = "herald-receiver")]
struct Args {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// `PATH=MODE`, repeatable. Modes: ok, status:N, fail-first:N, random:RATIO,
    /// slow:MS, never, reset, retry-after:STATUS:VALUE, gone, redirect:URL, big:BYTES,
    /// flapping:DOWN:UP. Other paths answer 200.
    #[arg(long = "mode", value_parser = parse_route)]
    modes: Vec<(String, Mode)>,
    /// The endpoint's secret: each request's signature is checked.
    #[arg(long)]
    secret: Option<String>,
    /// The endpoint's delivery profile: a built-in (`standard`, `hex`, `timestamped`)
    /// or one of `--config`. Signatures are checked, and ids read, as it sends them.
    #[arg(long, default_value = "standard")]
    profile: String,
    /// A heraldd configuration file whose `[profiles.NAME]` tables hold `--profile`.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn parse_route(text: &str) -> Result<(String, Mode), String> {
    let (path, mode) = text.split_once('=').ok_or("want PATH=MODE")?;
    if !path.starts_with('/') {
        return Err(format!("the path `{path}` must start with /"));
    }
    Ok((path.to_owned(), mode.parse()?))
}

/// The profile named `name`: a built-in, or one of the configuration at `config`,
/// read and checked as heraldd reads it.
fn load_profile(name: &str, config: Option<PathBuf>) -> Result<Profile, String> {
    let configured = match config {
        None => Vec::new(),
        Some(path) => {
            let flags = Overrides {
                config: Some(path),
                ..Overrides::default()
            };
            DaemonConfig::load(&flags, std::iter::empty())
                .map_err(|e| e.to_string())?
                .engine
                .profiles
        }
    };
    let profiles = Profiles::new(configured).map_err(|e| e.to_string())?;
    profiles
        .get(name)
        .map(|p| Profile::clone(p))
        .ok_or_else(|| {
            let known: Vec<&str> = profiles.iter().map(|p| p.name()).collect();
            format!("no profile is named `{name}`; known: {}", known.join(", "))
        })
}

/// A short word for why a signature did not verify, to keep the line one token.
fn why(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::BadSecret => "bad-secret",
        VerifyError::Malformed => "malformed",
        VerifyError::StaleTimestamp => "stale-timestamp",
        VerifyError::Mismatch => "mismatch",
    }
}

fn describe(request: &RecordedRequest, profile: &Profile, secret: Option<&str>) -> String {
    let role = |role: HeaderRole| {
        profile
            .headers()
            .get(role)
            .and_then(|name| request.header(name))
            .unwrap_or("-")
            .to_owned()
    };
    let signature = match secret {
        None => "unchecked".to_owned(),
        Some(secret) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // Five minutes, as Standard Webhooks and the platforms of profiles.md §4 document.
            match verify_request(
                profile,
                &request.headers,
                &request.body,
                secret,
                now,
                DEFAULT_TOLERANCE,
            ) {
                Ok(()) => "valid".to_owned(),
                Err(error) => format!("INVALID:{}", why(&error)),
            }
        }
    };
    format!(
        "{} {} id={} type={} delivery={} attempt={} signature={} answered={} body={}",
        request.method,
        request.path,
        role(HeaderRole::EventId),
        role(HeaderRole::EventType),
        role(HeaderRole::DeliveryId),
        role(HeaderRole::Attempt),
        signature,
        request
            .answered
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        String::from_utf8_lossy(&request.body),
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let profile = match load_profile(&args.profile, args.config) {
        Ok(profile) => profile,
        Err(message) => {
            eprintln!("herald-receiver: {message}");
            return ExitCode::from(2);
        }
    };
    let mut builder = Receiver::builder().bind(args.listen);
    let modes: HashMap<String, Mode> = args.modes.into_iter().collect();
    for (path, mode) in &modes {
        builder = builder.mode(path, mode.clone());
    }
    let receiver = builder.start().await;
    println!("receiving on {}", receiver.url("/"));
    let mut printed = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let requests = receiver.requests();
        // Print each request once it has been answered (or after it stalls).
        while printed < requests.len() {
            let request = &requests[printed];
            if request.answered.is_none() && request.at.elapsed() < Duration::from_secs(5) {
                break;
            }
            println!("{}", describe(request, &profile, args.secret.as_deref()));
            printed += 1;
        }
    }
    ExitCode::SUCCESS
}
