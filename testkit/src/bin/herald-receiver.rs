//! `herald-receiver`: the test receiver as a program, for trying Herald by hand. It
//! answers each path in the mode given, prints one line per request, and checks
//! Standard Webhooks signatures when given the endpoint's secret.
//!
//! ```text
//! cargo run -p herald-testkit --bin herald-receiver -- --listen 127.0.0.1:9000 \
//!     --mode /flaky=fail-first:2 --secret whsec_...
//! ```
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use herald_testkit::receiver::{Mode, Receiver, RecordedRequest};

/// A webhook receiver with a behaviour per path.
#[derive(Debug, Parser)]
#[command(name = "herald-receiver")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// `PATH=MODE`, repeatable. Modes: ok, status:N, fail-first:N, random:RATIO,
    /// slow:MS, never, reset, retry-after:STATUS:VALUE, gone, redirect:URL, big:BYTES,
    /// flapping:DOWN:UP. Other paths answer 200.
    #[arg(long = "mode", value_parser = parse_route)]
    modes: Vec<(String, Mode)>,
    /// The endpoint's `whsec_` secret: each request's signature is checked.
    #[arg(long)]
    secret: Option<String>,
}

fn parse_route(text: &str) -> Result<(String, Mode), String> {
    let (path, mode) = text.split_once('=').ok_or("want PATH=MODE")?;
    if !path.starts_with('/') {
        return Err(format!("the path `{path}` must start with /"));
    }
    Ok((path.to_owned(), mode.parse()?))
}

fn describe(request: &RecordedRequest, secret: Option<&str>) -> String {
    let header = |name: &str| request.header(name).unwrap_or("-").to_owned();
    let signature = match secret {
        None => "unchecked",
        Some(secret) => {
            if request.verify_standard(secret).is_ok() {
                "valid"
            } else {
                "INVALID"
            }
        }
    };
    format!(
        "{} {} id={} type={} delivery={} attempt={} signature={} answered={} body={}",
        request.method,
        request.path,
        header("webhook-id"),
        header("x-event-type"),
        header("x-delivery-id"),
        header("x-delivery-attempt"),
        signature,
        request
            .answered
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        String::from_utf8_lossy(&request.body),
    )
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
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
            println!("{}", describe(request, args.secret.as_deref()));
            printed += 1;
        }
    }
}
