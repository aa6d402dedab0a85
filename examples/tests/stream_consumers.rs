//! The README's stream consumers (Node and Python, no packages) run against the real
//! `heraldd`: each prints exactly the matching events, live, and after a restart
//! resumes from the id it kept.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{eventually, Call, Daemon, Options, TOKEN, WAIT};
use http::Method;
use serde_json::json;

/// The README's fenced block of `language` whose first line is `first_line`.
fn readme_block(language: &str, first_line: &str) -> String {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let opening = format!("```{language}\n{first_line}");
    let start = readme
        .find(&opening)
        .unwrap_or_else(|| panic!("README.md has no block starting with {opening:?}"));
    let body = &readme[start + language.len() + 4..];
    body[..body.find("```").unwrap()].to_owned()
}

async fn publish(daemon: &Daemon, event_type: &str) -> String {
    let reply = daemon
        .post(
            "/v1/tenants/acme/events",
            &json!({"type": event_type, "data": {"sym": "BTC-USD"}}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    reply.json["id"].as_str().unwrap().to_owned()
}

async fn streams_open(daemon: &Daemon) -> f64 {
    let text = daemon.send(Call::new(Method::GET, "/metrics")).await.text();
    text.lines()
        .find_map(|l| l.strip_prefix("herald_streams_open ")?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Runs `program script` in `dir` until it has printed `stop_after` events; returns
/// the event ids it printed. `while_running` runs once the stream is open.
async fn run_consumer<F: std::future::Future<Output = ()>>(
    daemon: &Daemon,
    dir: &Path,
    program: &str,
    script: &str,
    stop_after: usize,
    while_running: F,
) -> Vec<String> {
    let mut child = tokio::process::Command::new(program)
        .arg(script)
        .current_dir(dir)
        .env("HERALD_URL", format!("http://{}", daemon.addr))
        .env("HERALD_TOKEN", TOKEN)
        .env("STOP_AFTER", stop_after.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("`{program}` is needed for this test: {e}"));
    eventually("the consumer's stream to open", || async {
        (streams_open(daemon).await >= 1.0).then_some(())
    })
    .await;
    while_running.await;
    let output = tokio::time::timeout(WAIT, async {
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (out, err, status) = tokio::join!(read_all(stdout), read_all(stderr), child.wait());
        (out, err, status.unwrap())
    })
    .await
    .unwrap_or_else(|_| panic!("{program} {script} did not print {stop_after} events"));
    let (stdout, stderr, status) = output;
    assert!(status.success(), "{program}: {status}\n{stdout}\n{stderr}");
    eventually("the consumer's stream to close", || async {
        (streams_open(daemon).await == 0.0).then_some(())
    })
    .await;
    stdout
        .lines()
        .map(|line| line.split_whitespace().next().unwrap().to_owned())
        .collect()
}

async fn read_all(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut text)
        .await
        .unwrap();
    text
}

async fn consumer_prints_matching_events_then_resumes(program: &str, script: &str, code: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(script), code).unwrap();
    let daemon = Daemon::start(dir.path(), Options::default()).await;
    let mut matching = Vec::new();
    let live = run_consumer(&daemon, dir.path(), program, script, 3, async {
        for event_type in [
            "order.filled",
            "deposit.received",
            "order.cancelled",
            "order.filled",
        ] {
            let id = publish(&daemon, event_type).await;
            if event_type.starts_with("order.") {
                matching.push(id);
            }
        }
    })
    .await;
    assert_eq!(live, matching);
    let kept = std::fs::read_to_string(dir.path().join("last-event-id")).unwrap();
    assert_eq!(kept, matching[2]);

    // Stopped; events published meanwhile come first at the next start, from the id
    // it kept, then live ones.
    let missed = publish(&daemon, "order.filled").await;
    publish(&daemon, "deposit.received").await;
    let mut live_after = String::new();
    let resumed = run_consumer(&daemon, dir.path(), program, script, 2, async {
        live_after = publish(&daemon, "order.filled").await;
    })
    .await;
    assert_eq!(resumed, [missed, live_after]);
}

#[tokio::test]
async fn the_readme_node_consumer_streams_and_resumes() {
    let code = readme_block("js", "// stream.js");
    consumer_prints_matching_events_then_resumes("node", "stream.js", &code).await;
}

#[tokio::test]
async fn the_readme_python_consumer_streams_and_resumes() {
    let code = readme_block("python", "# stream.py");
    consumer_prints_matching_events_then_resumes("python3", "stream.py", &code).await;
}
