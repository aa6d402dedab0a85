//! Runs the real `heraldd` binary for the tests: spawn it on `127.0.0.1:0`, read its
//! `listening on` line, talk to its API, stop it by SIGTERM or SIGKILL.
#![allow(dead_code)] // each test file uses its own part of this module

pub mod crash;
pub mod raw;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The bound on every wait: generous, so a loaded machine does not fail a test.
pub const WAIT: Duration = Duration::from_secs(30);
/// The API token the daemons of these tests use.
pub const TOKEN: &str = "test-token-of-at-least-32-characters";

/// How to start a daemon.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--storage`.
    pub storage: &'static str,
    /// The TOML file's text, if any.
    pub config: Option<String>,
    /// Allow http:// and private destinations (the test receivers are local).
    pub permissive: bool,
    /// Set `HERALD_API_TOKEN` to `TOKEN`.
    pub token: bool,
    /// More environment variables.
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            storage: "memory",
            config: None,
            permissive: true,
            token: true,
            env: Vec::new(),
        }
    }
}

impl Options {
    /// With this config file text.
    pub fn config(mut self, text: &str) -> Self {
        self.config = Some(text.to_owned());
        self
    }

    /// With this environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A `[delivery]` table whose schedule fits in a test.
pub const SHORT_SCHEDULE: &str =
    "[delivery]\nretry_schedule = [\"200ms\", \"400ms\"]\ntimeout = \"5s\"\n";

fn command(workdir: &Path, options: &Options) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heraldd"));
    command
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(workdir.join("data"))
        .arg("--storage")
        .arg(options.storage)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("HERALD_") {
            command.env_remove(key);
        }
    }
    if let Some(text) = &options.config {
        let path = workdir.join("herald.toml");
        std::fs::write(&path, text).unwrap();
        command.arg("--config").arg(path);
    }
    if options.token {
        command.env("HERALD_API_TOKEN", TOKEN);
    }
    if options.permissive {
        command
            .env("HERALD_ALLOW_HTTP", "true")
            .env("HERALD_ALLOW_PRIVATE_DESTINATIONS", "true");
    }
    for (key, value) in &options.env {
        command.env(key, value);
    }
    command
}

/// Collects a child's stderr as it comes.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let collected = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = collected.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    collected
}

/// A running `heraldd`; killed when dropped.
pub struct Daemon {
    child: Child,
    /// `http` or `https`, from its `listening on` line.
    pub scheme: String,
    /// Where its API listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// An answer of the API.
#[derive(Debug)]
pub struct Reply {
    /// Its status.
    pub status: u16,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its raw body.
    pub body: Bytes,
    /// Its body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Reply {
    /// `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }

    /// `error.message` of an error answer.
    pub fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or_default()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One raw request.
#[derive(Debug, Clone)]
pub struct Call {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// `content-type`, if any.
    pub content_type: Option<String>,
    /// Body.
    pub body: Bytes,
    /// More headers.
    pub headers: Vec<(String, String)>,
}

impl Call {
    /// A request with the test token and no body.
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            token: Some(TOKEN.to_owned()),
            content_type: None,
            body: Bytes::new(),
            headers: Vec::new(),
        }
    }

    /// With one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// With a JSON body.
    pub fn json(self, value: &Value) -> Self {
        self.raw("application/json", serde_json::to_vec(value).unwrap())
    }

    /// With this body and content type.
    pub fn raw(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.content_type = Some(content_type.to_owned());
        self.body = body.into();
        self
    }

    /// With this token (`None`: no `authorization` header).
    pub fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }
}

impl Daemon {
    /// Starts `heraldd` with its data in `workdir/data` and waits for its
    /// `listening on` line.
    pub async fn start(workdir: &Path, options: Options) -> Daemon {
        let mut child = command(workdir, &options).spawn().unwrap();
        let stderr = collect_stderr(&mut child);
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        let lines_sink = stdout.clone();
        let out = child.stdout.take().unwrap();
        tokio::spawn(async move {
            let mut first = Some(first_tx);
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                lines_sink.lock().unwrap().push(line.clone());
                if let Some(first) = first.take() {
                    let _ = first.send(line);
                }
            }
        });
        let line = match tokio::time::timeout(WAIT, first_rx).await {
            Ok(Ok(line)) => line,
            _ => panic!(
                "heraldd printed no `listening on` line; stderr:\n{}",
                stderr.lock().unwrap()
            ),
        };
        let (scheme, addr) = line
            .strip_prefix("listening on ")
            .and_then(|url| url.split_once("://"))
            .unwrap_or_else(|| panic!("unexpected first stdout line: {line}"));
        let scheme = scheme.to_owned();
        let addr = addr.parse().unwrap();
        Daemon {
            child,
            scheme,
            addr,
            data_dir: workdir.join("data"),
            stdout,
            stderr,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Starts `heraldd` expecting it to fail at start; returns its exit status and
    /// stderr.
    pub async fn start_failing(workdir: &Path, options: Options) -> (ExitStatus, String) {
        let mut child = command(workdir, &options).spawn().unwrap();
        let stderr = collect_stderr(&mut child);
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .expect("heraldd should exit at once on a bad configuration")
            .unwrap();
        // The exit closes the pipe; give the reader task its last lines.
        let text = eventually("stderr to be read", || {
            let text = stderr.lock().unwrap().clone();
            async move { (!text.is_empty()).then_some(text) }
        })
        .await;
        (status, text)
    }

    /// Sends one request; panics when the daemon does not answer.
    pub async fn send(&self, call: Call) -> Reply {
        tokio::time::timeout(WAIT, self.try_send(call))
            .await
            .expect("the API answers in time")
            .expect("the API answers")
    }

    /// Sends one request; `None` when the connection fails (a daemon being killed).
    pub async fn try_send(&self, call: Call) -> Option<Reply> {
        self.try_send_with(&self.client, call).await
    }

    /// Sends one request on a connection of its own, for requests the daemon may
    /// answer by closing the connection (a body far over the limit): the shared pool
    /// never hands that connection to a later request.
    pub async fn try_send_alone(&self, call: Call) -> Option<Reply> {
        let client = Client::builder(TokioExecutor::new()).build_http();
        self.try_send_with(&client, call).await
    }

    async fn try_send_with(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        call: Call,
    ) -> Option<Reply> {
        let mut request = Request::builder()
            .method(call.method)
            .uri(format!("http://{}{}", self.addr, call.path));
        if let Some(token) = call.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(content_type) = call.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in call.headers {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(call.body)).unwrap();
        let response = client.request(request).await.ok()?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Some(Reply {
            status,
            headers,
            body,
            json,
        })
    }

    /// `GET path` with the test token.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Call::new(Method::GET, path)).await
    }

    /// `method path` with the test token and a JSON body.
    pub async fn call(&self, method: Method, path: &str, body: &Value) -> Reply {
        self.send(Call::new(method, path).json(body)).await
    }

    /// `POST path` with the test token and a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, body).await
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the daemon is running")
    }

    /// Everything it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Every line it wrote on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().expect("the daemon is running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(self) -> ExitStatus {
        self.sigterm();
        self.exited().await
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Waits for the exit (after `sigterm`).
    pub async fn exited(mut self) -> ExitStatus {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("heraldd exits after SIGTERM")
            .unwrap()
    }

    /// Sends SIGKILL and waits for the exit.
    pub async fn kill(mut self) {
        self.signal("KILL");
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("heraldd dies after SIGKILL")
            .unwrap();
    }
}

/// Polls `check` until it gives a value, at most `WAIT`. For state only visible by
/// asking (an attempt record, a metric), where no notification exists.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
