//! The `heraldd` binary as a process of its own, for the rows of the default
//! deployment (`daemon-sled`, `daemon-sled-1`: sled in a fresh data directory, every
//! publish synced to the disk before its 202) and the cluster rows (`postgres`,
//! `postgres3`: nodes on one PostgreSQL database), fed over HTTP by the row's
//! publishers. Its CPU is read from `/proc/<pid>/stat`, so the figures are the
//! daemon's alone, without the publishers' client or the receiver.
//!
//! The binary is the `heraldd` next to `herald-bench` (build both with
//! `cargo build --release -p herald-benches -p herald-examples`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::setup;

/// The admin token of the rows' daemon.
const TOKEN: &str = "bench-token-0123456789abcdef0123456789";

/// How long `heraldd` may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `heraldd` beside the running `herald-bench`, if it was built.
pub fn binary() -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name("heraldd");
    path.is_file().then_some(path)
}

/// Where a row's `heraldd` keeps its data.
#[derive(Debug, Clone)]
pub enum HeralddStorage {
    /// sled in a fresh data directory.
    Sled,
    /// A PostgreSQL database, as node `node_id` of its cluster.
    Postgres {
        /// The database's URL.
        url: String,
        /// `encryption_keys`, the same on every node.
        keys: String,
        /// This node's id.
        node_id: String,
    },
}

/// A running `heraldd`; killed when dropped.
#[derive(Debug)]
pub struct HeralddProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its process id.
    pub pid: u32,
    _dir: tempfile::TempDir,
}

impl HeralddProcess {
    /// Starts `heraldd` on `storage` (with a fresh data directory), plain HTTP on
    /// loopback allowed as a destination, and the rows' fast retry schedule.
    ///
    /// # Panics
    /// When the binary is missing or does not start.
    pub async fn start(storage: HeralddStorage) -> Self {
        let binary = binary().expect(
            "heraldd is not built beside herald-bench: \
             cargo build --release -p herald-benches -p herald-examples",
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("herald.toml");
        std::fs::write(&config, config_text(&dir.path().join("data"), &storage)).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(START_TIMEOUT, lines.next_line()).await;
        let Ok(Ok(Some(line))) = line else {
            let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            panic!("heraldd did not start; stderr:\n{log}");
        };
        let base = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line of heraldd: {line}"))
            .to_owned();
        // Its later output is read and dropped, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            base,
            pid,
            _dir: dir,
        }
    }

    /// Creates `count` endpoints of the rows' tenant at the receiver on `addr`, each
    /// allowed `max_in_flight` attempts at once.
    pub async fn create_endpoints(&self, addr: SocketAddr, count: usize, max_in_flight: u32) {
        use http_body_util::BodyExt;

        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let uri = format!("{}/v1/tenants/{}/endpoints", self.base, setup::tenant());
        for i in 0..count {
            let body = serde_json::json!({
                "url": setup::endpoint_url(addr, i, false),
                "max_in_flight": max_in_flight,
            });
            let request = http::Request::post(&uri)
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(
                    body.to_string(),
                )))
                .unwrap();
            let response = client.request(request).await.unwrap();
            let status = response.status();
            let answer = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(status, 201, "creating an endpoint: {answer:?}");
        }
    }

    /// Waits (at most `START_TIMEOUT`) until `nodes` nodes are alive and own every
    /// partition between them, as `GET /v1/cluster` says.
    ///
    /// # Panics
    /// When they do not in time.
    pub async fn await_cluster(&self, nodes: usize) {
        use http_body_util::BodyExt;

        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let request = http::Request::get(format!("{}/v1/cluster", self.base))
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(http_body_util::Empty::new())
                .unwrap();
            let response = client.request(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let alive = status["nodes"]
                .as_array()
                .map_or(0, |n| n.iter().filter(|n| n["alive"] == true).count());
            if alive == nodes && status["partitions_unowned"] == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the cluster did not settle: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The URL of the rows' tenant's `/events` route.
    pub fn events_url(&self) -> String {
        format!("{}/v1/tenants/{}/events", self.base, setup::tenant())
    }

    /// The admin token.
    pub fn token(&self) -> &'static str {
        TOKEN
    }

    /// Stops the process (SIGKILL: the data directory is thrown away).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The configuration: the defaults of the quick start but for the port, the data
/// directory, the storage, the token, loopback destinations and the rows' retry
/// schedule.
fn config_text(data_dir: &Path, storage: &HeralddStorage) -> String {
    let retries = setup::engine_config()
        .delivery
        .retry_schedule
        .iter()
        .map(|d| format!("\"{}ms\"", d.as_millis()))
        .collect::<Vec<_>>()
        .join(", ");
    let storage = match storage {
        HeralddStorage::Sled => "storage = \"sled\"\n".to_owned(),
        HeralddStorage::Postgres { url, keys, node_id } => format!(
            "storage = \"postgres\"\npostgres_url = {url:?}\nencryption_keys = [{keys:?}]\n\
             node_id = {node_id:?}\n"
        ),
    };
    format!(
        "listen = \"127.0.0.1:0\"\n\
         data_dir = {data_dir:?}\n\
         {storage}\
         api_token = \"{TOKEN}\"\n\
         allow_http = true\n\
         allow_private_destinations = true\n\
         \n\
         [delivery]\n\
         retry_schedule = [{retries}]\n",
        data_dir = data_dir.display().to_string(),
    )
}
