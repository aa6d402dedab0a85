//! Secrets at rest through the real `heraldd` on sled: the data directory's files
//! hold no endpoint secret or custom header value in the clear; a wrong or missing
//! key stops the start with a clear error (never garbage signatures); `heraldd
//! rotate-key` seals everything under a new key and deliveries stay correctly
//! signed; a bad `encryption_keys` is a configuration error naming the key.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{eventually, Daemon, Options, WAIT};
use herald_testkit::receiver::Receiver;
use serde_json::json;

const ENDPOINTS: &str = "/v1/tenants/acme/endpoints";
const EVENTS: &str = "/v1/tenants/acme/events";
/// A secret the test chooses, so it can look for it in the files.
const SECRET: &str = "whsec_c2VhbGVkLWF0LXJlc3QtdGVzdC1zZWNyZXQtMDE=";
const HEADER_VALUE: &str = "desk-7-header-value-kept-sealed";

fn sled_options() -> Options {
    Options {
        storage: "sled",
        ..Options::default()
    }
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The files under `dir` that hold `text`.
fn holding(dir: &Path, text: &str) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap();
            bytes.windows(text.len()).any(|w| w == text.as_bytes())
        })
        .collect()
}

/// Creates the endpoint with the test's secret and header; returns its id.
async fn create_endpoint(daemon: &Daemon, url: &str) -> String {
    let created = daemon
        .post(
            ENDPOINTS,
            &json!({
                "url": url,
                "secret": SECRET,
                "headers": {"x-desk": HEADER_VALUE},
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json["id"].as_str().unwrap().to_owned()
}

/// Publishes one event and waits for the receiver to get it; checks its signature
/// with the test's secret and its header.
async fn publish_and_verify(daemon: &Daemon, receiver: &Receiver, n: usize) {
    let published = daemon
        .post(EVENTS, &json!({"type": "order.filled", "data": {"n": n}}))
        .await;
    assert_eq!(published.status, 202, "{}", published.text());
    let requests = eventually("the delivery", || async {
        let requests = receiver.requests_to("/hooks");
        (requests.len() >= n).then_some(requests)
    })
    .await;
    let request = &requests[n - 1];
    request.verify_standard(SECRET).unwrap();
    assert_eq!(request.header("x-desk"), Some(HEADER_VALUE));
}

/// Runs `heraldd rotate-key` on `workdir/data`; returns its stdout.
async fn rotate_key(workdir: &Path, config: Option<&Path>) -> String {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_heraldd"));
    command
        .arg("rotate-key")
        .arg("--data-dir")
        .arg(workdir.join("data"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("HERALD_") {
            command.env_remove(key);
        }
    }
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let output = tokio::time::timeout(WAIT, command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "rotate-key failed: {stdout}{stderr}"
    );
    stdout
}

#[tokio::test]
async fn the_data_directory_holds_no_secret_and_rotation_keeps_signatures() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), sled_options()).await;
    create_endpoint(&daemon, &receiver.url("/hooks")).await;
    publish_and_verify(&daemon, &receiver, 1).await;
    assert!(daemon.terminate().await.success());

    let data = dir.path().join("data");
    let keyring = data.join("db").join(herald_storage_sled::KEYRING_FILE);
    assert!(keyring.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keyring).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret_body = SECRET.strip_prefix("whsec_").unwrap();
    for text in [SECRET, secret_body, HEADER_VALUE] {
        assert_eq!(
            holding(&data, text),
            Vec::<PathBuf>::new(),
            "{text} in the clear"
        );
    }

    // Rotation: a new key, everything sealed under it, and the signatures unchanged.
    let before = std::fs::read_to_string(&keyring).unwrap();
    let out = rotate_key(dir.path(), None).await;
    assert!(
        out.contains("sealed 1 endpoints under the new key"),
        "{out}"
    );
    let after = std::fs::read_to_string(&keyring).unwrap();
    assert_ne!(before, after);
    let daemon = Daemon::start(dir.path(), sled_options()).await;
    publish_and_verify(&daemon, &receiver, 2).await;
    assert!(daemon.terminate().await.success());
    for text in [SECRET, secret_body, HEADER_VALUE] {
        assert_eq!(
            holding(&data, text),
            Vec::<PathBuf>::new(),
            "{text} in the clear"
        );
    }

    // The keyring from before the rotation no longer opens the store: a clear error.
    std::fs::write(&keyring, &before).unwrap();
    let (status, stderr) = Daemon::start_failing(dir.path(), sled_options()).await;
    assert!(!status.success());
    assert!(
        stderr.contains("which the keyring does not have"),
        "{stderr}"
    );
}

#[tokio::test]
async fn configured_keys_seal_and_a_wrong_key_stops_the_start() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let first = herald::sealing::SealingKey::generate();
    let configured = |keys: &[&herald::sealing::SealingKey]| {
        let list: Vec<String> = keys
            .iter()
            .map(|k| format!("\"{}\"", k.to_text()))
            .collect();
        sled_options().config(&format!("encryption_keys = [{}]\n", list.join(", ")))
    };
    let daemon = Daemon::start(dir.path(), configured(&[&first])).await;
    create_endpoint(&daemon, &receiver.url("/hooks")).await;
    publish_and_verify(&daemon, &receiver, 1).await;
    assert!(daemon.terminate().await.success());
    let data = dir.path().join("data");
    assert!(
        !data
            .join("db")
            .join(herald_storage_sled::KEYRING_FILE)
            .exists(),
        "configured keys write no keyring file"
    );
    assert_eq!(holding(&data, HEADER_VALUE), Vec::<PathBuf>::new());

    // Another key under the same id: refused at start, naming the id.
    let impostor =
        herald::sealing::SealingKey::parse(&format!("{}:{}", first.id(), "A".repeat(43) + "="))
            .unwrap();
    let (status, stderr) = Daemon::start_failing(dir.path(), configured(&[&impostor])).await;
    assert!(!status.success());
    assert!(stderr.contains("wrong encryption key"), "{stderr}");
    assert!(stderr.contains(first.id()), "{stderr}");
    assert!(
        !stderr.contains(&first.to_text()),
        "a key in the logs: {stderr}"
    );

    // A new key first, the old one kept: starts, reads the old records, signs right.
    let second = herald::sealing::SealingKey::generate();
    let daemon = Daemon::start(dir.path(), configured(&[&second, &first])).await;
    publish_and_verify(&daemon, &receiver, 2).await;
    assert!(daemon.terminate().await.success());
    // rotate-key seals everything under the new key; then the old one can go.
    let config = dir.path().join("herald.toml");
    let out = rotate_key(dir.path(), Some(&config)).await;
    assert!(out.contains(&format!("under key {}", second.id())), "{out}");
    assert!(out.contains(first.id()), "{out}");
    let daemon = Daemon::start(dir.path(), configured(&[&second])).await;
    publish_and_verify(&daemon, &receiver, 3).await;
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn bad_encryption_keys_are_configuration_errors() {
    let short = "k1:AAAA";
    for (value, expected) in [
        ("[\"no-colon\"]", "encryption_keys[0]"),
        (&*format!("[\"{short}\"]"), "3 bytes, not 32"),
        ("[\"bad id:AAAA\"]", "the id must be"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let options = sled_options().config(&format!("encryption_keys = {value}\n"));
        let (status, stderr) = Daemon::start_failing(dir.path(), options).await;
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{value}: {stderr}");
        assert!(
            !dir.path().join("data").exists(),
            "nothing made on a bad config"
        );
    }
    // The environment too, comma-separated.
    let dir = tempfile::tempdir().unwrap();
    let options = sled_options().env("HERALD_ENCRYPTION_KEYS", "k1:AAAA");
    let (status, stderr) = Daemon::start_failing(dir.path(), options).await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("encryption_keys[0]"), "{stderr}");
}
