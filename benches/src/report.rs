//! The throughput table on stdout and the JSON file of `--json`.

use std::path::Path;

use serde::Serialize;

use crate::rows::Row;
use crate::setup::LoadParams;

/// What `--json` writes.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// One per row that ran.
    pub rows: &'a [Row],
    /// The parameters of the run.
    pub params: &'a LoadParams,
}

/// One row per name, in `names` order: the round with the most deliveries/s.
pub fn best_of_rounds(names: &[String], runs: Vec<Row>) -> Vec<Row> {
    let mut best: Vec<Row> = Vec::new();
    for name in names {
        let fastest = runs
            .iter()
            .filter(|r| &r.name == name)
            .max_by(|a, b| a.deliveries_per_sec.total_cmp(&b.deliveries_per_sec));
        if let Some(row) = fastest {
            best.push(row.clone());
        }
    }
    best
}

/// Fills `ratio_to_baseline` from the baseline row, if there is one.
pub fn set_ratios(rows: &mut [Row]) {
    let baseline = rows
        .iter()
        .find(|r| r.name == "baseline")
        .map(|r| r.deliveries_per_sec)
        .unwrap_or(0.0);
    for row in rows {
        row.ratio_to_baseline = if baseline > 0.0 {
            row.deliveries_per_sec / baseline
        } else {
            0.0
        };
    }
}

/// The table, one line per row.
pub fn table(rows: &[Row], params: &LoadParams) -> String {
    let mut out = format!(
        "{} events x {} endpoints, {} B payload, concurrency {}, receiver delay {} ms, failure ratio {}; latency at {} events/s for {} s; best of {} rounds\n",
        params.events,
        params.endpoints,
        params.payload,
        params.concurrency,
        params.receiver_latency_ms,
        params.failure_ratio,
        params.paced_rate,
        params.paced_secs,
        params.rounds
    );
    out.push_str(&format!(
        "{:<13} {:>11} {:>12} {:>6} {:>8} {:>8} {:>9} {:>10} {:>9} {:>8} {:>4} {:>4} {:>8} {:>10} {:>9} {:>8}\n",
        "row",
        "publish/s",
        "deliveries/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "sat p99",
        "peak MiB",
        "cpu µs/d",
        "ok",
        "dup",
        "pub p99",
        "srv µs/ev",
        "srv µs/d",
        "db µs/d"
    ));
    for r in rows {
        out.push_str(&format!(
            "{:<13} {:>11.0} {:>12.0} {:>6.2} {:>8.2} {:>8.2} {:>9.2} {:>10.1} {:>9.1} {:>8.0} {:>4} {:>4} {:>8} {:>10} {:>9} {:>8}\n",
            r.name,
            r.publishes_per_sec,
            r.deliveries_per_sec,
            r.ratio_to_baseline,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.saturated_p99_ms,
            r.peak_rss_mb,
            r.cpu_ms_per_delivery * 1000.0,
            if r.complete { "yes" } else { "NO" },
            r.duplicates,
            optional(r.publish_p99_ms, 2),
            optional(r.server_cpu_us_per_event, 0),
            optional(r.server_cpu_us_per_delivery, 0),
            optional(r.database_cpu_us_per_delivery, 0)
        ));
    }
    out
}

/// `value` with `decimals`, or `-` for a figure the row does not have (0).
fn optional(value: f64, decimals: usize) -> String {
    if value > 0.0 {
        format!("{value:.decimals$}")
    } else {
        "-".to_owned()
    }
}

/// Writes the JSON report.
///
/// # Errors
/// When the file cannot be written.
pub fn write_json(path: &Path, rows: &[Row], params: &LoadParams) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(&Report { rows, params })?;
    std::fs::write(path, text + "\n")
}
