//! Running one measurement in a fresh process of the tool: the parent re-invokes its
//! own executable with hidden flags, the child prints its result as one JSON line on
//! stdout (its last line), and the parent reads it back. A process per measurement
//! makes its peak RSS its own.

use serde::de::DeserializeOwned;

/// Runs this executable with `args` and parses the last line of its stdout as `T`.
/// The child's stderr passes through.
///
/// # Panics
/// When the child cannot start, fails, or prints no JSON.
pub async fn run_self<T: DeserializeOwned>(args: &[String]) -> T {
    let exe = std::env::current_exe().unwrap();
    // Spawned, not `output()`: tokio's `output()` pipes stderr whatever was set.
    let child = tokio::process::Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "child {args:?} failed: {}",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|error| panic!("child printed {last:?}: {error}"))
}

/// Prints a child's result: one JSON line on stdout.
pub fn print_result<T: serde::Serialize>(value: &T) {
    println!("{}", serde_json::to_string(value).unwrap());
}
