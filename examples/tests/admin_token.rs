//! The admin token through `heraldd` (http-api.md "Conventions"): at least 32
//! characters, configured or stored, and compared without surrounding whitespace.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Call, Daemon, Options};
use hyper::Method;

const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
/// 31 characters: one short.
const SHORT: &str = "0123456789abcdef0123456789abcde";
/// 32 characters: just long enough.
const LONG: &str = "0123456789abcdef0123456789abcdef";

fn without_token() -> Options {
    Options {
        token: false,
        ..Options::default()
    }
}

/// A token shorter than 32 characters stops the start with exit code 2 and a
/// message naming `api_token`, from the file and from the environment alike;
/// surrounding whitespace does not count towards the length.
#[tokio::test]
async fn a_configured_token_shorter_than_32_characters_stops_the_start() {
    for options in [
        without_token().config(&format!("api_token = \"{SHORT}\"\n")),
        without_token().env("HERALD_API_TOKEN", SHORT),
        without_token().env("HERALD_API_TOKEN", &format!("   {SHORT}\t")),
        without_token().env("HERALD_API_TOKEN", "secret"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (status, stderr) = Daemon::start_failing(dir.path(), options).await;
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("`api_token`"), "{stderr}");
        assert!(stderr.contains("at least 32 characters"), "{stderr}");
        assert!(!stderr.contains(SHORT), "the token itself is not shown");
    }
}

/// Whitespace around the configured token and around the presented one is
/// trimmed before they are compared; anything else still differs.
#[tokio::test]
async fn surrounding_whitespace_is_trimmed_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let options = without_token().env("HERALD_API_TOKEN", &format!("  {LONG} \n"));
    let daemon = Daemon::start(dir.path(), options).await;
    let bearer = |value: String| {
        Call::new(Method::GET, ENDPOINTS)
            .token(None)
            .header("authorization", &value)
    };
    for call in [
        bearer(format!("Bearer {LONG}")),
        bearer(format!("Bearer    {LONG}")),
        Call::new(Method::GET, ENDPOINTS)
            .token(None)
            .header("x-api-key", &format!(" {LONG}\t")),
    ] {
        let reply = daemon.send(call.clone()).await;
        assert_eq!(reply.status, 200, "{call:?}: {}", reply.text());
    }
    for wrong in [
        format!("{LONG}x"),
        LONG[1..].to_owned(),
        format!("{LONG} x"),
    ] {
        let reply = daemon
            .send(Call::new(Method::GET, ENDPOINTS).token(Some(&wrong)))
            .await;
        assert_eq!(reply.status, 401, "{wrong}");
    }
}

/// A token file in the data dir holding a short token (written by hand) is refused
/// as a configured one is, instead of guarding the API with it.
#[tokio::test]
async fn a_short_stored_token_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("api-token"), "hunter2\n").unwrap();
    let (status, stderr) = Daemon::start_failing(dir.path(), without_token()).await;
    assert!(!status.success());
    assert!(stderr.contains("api-token"), "{stderr}");
    assert!(stderr.contains("at least 32 characters"), "{stderr}");
}
