//! `herald-receiver --profile NAME --config FILE` (profiles.md §3): it checks each
//! request's signature as the named profile makes it, a built-in by name or one of a
//! heraldd configuration file, and says which requests verify.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use herald::model::Event;
use herald::profile::{Profile, Profiles};
use herald::request::{signed_request, AttemptOf, CustomHeaders, PreparedEvent, RequestTarget};
use herald::signing::SecretSet;
use herald::{DeliveryId, EndpointId, EventId, TenantId, Timestamp};
use herald_examples::config::{DaemonConfig, Overrides};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The bound on every wait.
const WAIT: Duration = Duration::from_secs(30);
const PROFILES: &str = include_str!("../../examples/profiles.toml");

/// A running `herald-receiver`; killed when dropped.
struct Running {
    _child: Child,
    out: Lines<BufReader<ChildStdout>>,
    url: String,
}

impl Running {
    async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald-receiver"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = Self::line_of(&mut out).await;
        let url = first
            .strip_prefix("receiving on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .trim_end_matches('/')
            .to_owned();
        Self {
            _child: child,
            out,
            url,
        }
    }

    async fn line_of(out: &mut Lines<BufReader<ChildStdout>>) -> String {
        tokio::time::timeout(WAIT, out.next_line())
            .await
            .expect("herald-receiver prints in time")
            .unwrap()
            .expect("herald-receiver is running")
    }

    async fn next_line(&mut self) -> String {
        Self::line_of(&mut self.out).await
    }
}

/// The profiles of examples/profiles.toml, read as heraldd reads them.
fn configured(path: &Path) -> Profiles {
    let flags = Overrides {
        config: Some(path.to_owned()),
        ..Overrides::default()
    };
    let config = DaemonConfig::load(&flags, std::iter::empty()).unwrap();
    Profiles::new(config.engine.profiles).unwrap()
}

/// Signs an event for `profile` with `secret` as Herald's attempts do, and posts it to
/// `url`.
async fn deliver(url: &str, profile: &Profile, secret: &str) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let now = Timestamp(u64::try_from(now_ms).unwrap());
    let event = Event {
        id: EventId::generate(),
        tenant: TenantId::parse("acme").unwrap(),
        event_type: "position.opened".into(),
        channels: Vec::new(),
        created_at: now,
        data: Arc::from(r#"{"sizeUsd":15000.50,"price":45000.0,"name":"café ☃"}"#),
        deliveries: 1,
    };
    let secrets = SecretSet::new(profile.parse_secret(secret).unwrap());
    let target = RequestTarget {
        url: url.parse().unwrap(),
        profile,
        secrets: &secrets,
        custom_headers: &CustomHeaders::default(),
        timeout: WAIT,
    };
    let delivery = DeliveryId::generate();
    let endpoint = EndpointId::generate();
    let attempt = AttemptOf {
        delivery_id: &delivery,
        endpoint_id: &endpoint,
        attempt: 1,
    };
    let signed = signed_request(&target, &PreparedEvent::new(event), Some(attempt), now).unwrap();
    let mut request = Request::post(url);
    for (name, value) in &signed.headers {
        request = request.header(name, value);
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(
        WAIT,
        client.request(request.body(Full::new(signed.body)).unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 200);
    let _ = response.into_body().collect().await;
}

/// A configured profile: requests it signs with the receiver's secret verify, others
/// do not, and the ids are read from the profile's own headers.
#[tokio::test]
async fn a_configured_profile_checks_signatures_as_that_profile_signs() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("heraldd.toml");
    std::fs::write(&config, PROFILES).unwrap();
    let perps = Profile::clone(configured(&config).get("perps").unwrap());
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut receiver = Running::start(&[
        "--profile",
        "perps",
        "--config",
        config.to_str().unwrap(),
        "--secret",
        secret,
    ])
    .await;
    let url = format!("{}/perps", receiver.url);

    deliver(&url, &perps, secret).await;
    let line = receiver.next_line().await;
    assert!(line.starts_with("POST /perps "), "{line}");
    assert!(line.contains(" type=position.opened "), "{line}");
    assert!(line.contains(" delivery=dlv_"), "{line}");
    assert!(line.contains(" signature=valid "), "{line}");
    assert!(
        line.contains(r#""sizeUsd":15000.5,"price":45000"#),
        "{line}"
    );

    deliver(&url, &perps, "another-secret-of-the-same-kind").await;
    let line = receiver.next_line().await;
    assert!(line.contains(" signature=INVALID:mismatch "), "{line}");

    // A request of another profile lacks this one's signature header.
    deliver(&url, &Profile::builtin("standard").unwrap(), secret).await;
    let line = receiver.next_line().await;
    assert!(line.contains(" signature=INVALID:malformed "), "{line}");
}

/// A built-in profile needs no configuration file.
#[tokio::test]
async fn a_built_in_profile_is_found_without_a_file() {
    let secret = "a-customer-chosen-secret";
    let mut receiver = Running::start(&["--profile", "timestamped", "--secret", secret]).await;
    let url = format!("{}/hooks", receiver.url);
    deliver(&url, &Profile::builtin("timestamped").unwrap(), secret).await;
    let line = receiver.next_line().await;
    assert!(line.contains(" signature=valid "), "{line}");
    assert!(line.contains(" type=position.opened "), "{line}");
}

/// A profile it cannot find stops it at once, naming the profile.
#[tokio::test]
async fn an_unknown_profile_stops_it_naming_the_profile() {
    let output = tokio::time::timeout(
        WAIT,
        Command::new(env!("CARGO_BIN_EXE_herald-receiver"))
            .args(["--listen", "127.0.0.1:0", "--profile", "perps"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`perps`"), "{stderr}");
    assert!(stderr.contains("standard, hex, timestamped"), "{stderr}");
}
