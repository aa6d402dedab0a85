//! `herald-bench`: Herald's end-to-end load tool. With no subcommand it measures the
//! throughput table (baseline, memory, sled, daemon) against one fast receiver; the
//! subcommands `idle`, `pileup` and `failing` run the scenarios beyond raw speed.
//! Every measurement runs in a child process of the tool (hidden flags `--row` and
//! `--child`) while this process serves the receiver.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use herald_benches::child::{print_result, run_self};
use herald_benches::heraldd;
use herald_benches::receiver::BenchReceiver;
use herald_benches::report;
use herald_benches::rows::{self, Row};
use herald_benches::scenarios::{
    self, ChildTask, DrainResult, FailingRun, FailingShape, FillResult, IdleResult, IndexResult,
};
use herald_benches::setup::{self, LoadParams};

/// Every row (baseline included) runs on mimalloc: the allocator heraldd ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "Herald's end-to-end load tool")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadParams,
    /// Also write the results as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Rows to run, comma-separated: baseline, memory, sled, daemon, daemon-sled,
    /// daemon-sled-1, postgres (one heraldd on PostgreSQL), postgres3 (three heraldd
    /// on one database, publishes spread over them), and memory-js (memory with every
    /// endpoint on a profile writing JSON as JavaScript does). The daemon-sled and
    /// postgres rows run the `heraldd` built beside this binary; the postgres rows
    /// start a private PostgreSQL server with its durable defaults (its binaries as
    /// the tests find them).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "baseline,memory,sled,daemon,daemon-sled,daemon-sled-1,postgres,postgres3"
    )]
    rows: Vec<String>,
    /// Runs one row in this process (used by the tool itself).
    #[arg(long, hide = true)]
    row: Option<String>,
    /// Runs one scenario task, given as JSON, in this process (used by the tool itself).
    #[arg(long, hide = true)]
    child: Option<String>,
    /// The receiver of the parent process.
    #[arg(long, hide = true)]
    receiver: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Many registered endpoints, few active: start-up time, memory, actors.
    Idle {
        /// Registered endpoints.
        #[arg(long, default_value_t = 100_000)]
        total: usize,
        /// Endpoints that get events.
        #[arg(long, default_value_t = 1_000)]
        active: usize,
        /// Events per active endpoint.
        #[arg(long, default_value_t = 5)]
        events_each: u64,
    },
    /// The receiver is down while deliveries pile up; then a restart drains them.
    Pileup {
        /// Deliveries to pile up.
        #[arg(long, default_value_t = 1_000_000)]
        deliveries: u64,
        /// Endpoints they are spread over.
        #[arg(long, default_value_t = 10)]
        endpoints: usize,
        /// The breaker's first cooldown, in ms (the engine's default: 30 s).
        #[arg(long, default_value_t = 30_000)]
        breaker_cooldown_ms: u64,
    },
    /// Some endpoints fail (500), or another tenant's are tarpits, while the others are
    /// served: healthy p99 vs all-healthy.
    Failing(FailingSpec),
    /// Event stream consumers (SSE): events/s, publish-to-receive latency and memory
    /// per open stream, for each consumer count.
    Stream {
        /// Consumer counts, comma-separated; each runs in a process of its own.
        #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
        consumers: Vec<usize>,
        /// Events of the throughput phase.
        #[arg(long, default_value_t = 2_000)]
        events: u64,
        /// Bytes of each event's data.
        #[arg(long, default_value_t = 256)]
        payload: usize,
        /// Events per second of the latency phase.
        #[arg(long, default_value_t = 50)]
        rate: u64,
        /// Seconds of the latency phase.
        #[arg(long, default_value_t = 4)]
        secs: u64,
    },
}

fn main() {
    // Tuned as heraldd tunes it, so the embedded rows run on the daemon's allocator.
    herald_examples::allocator::tune();
    let cli = Cli::parse();
    let runtime = setup::runtime();
    runtime.block_on(async move {
        if let (Some(row), Some(addr)) = (&cli.row, cli.receiver) {
            print_result(&rows::run_row(row, &cli.load, addr).await);
            return;
        }
        if let Some(task) = cli.child.as_deref().and_then(|t| t.strip_prefix("stream:")) {
            let task: StreamTask = serde_json::from_str(task).unwrap();
            print_result(
                &herald_benches::stream::run(task.0, task.1, task.2, task.3, task.4).await,
            );
            return;
        }
        if let (Some(task), Some(addr)) = (&cli.child, cli.receiver) {
            let task: ChildTask = serde_json::from_str(task).unwrap();
            print_result(&scenarios::run_child(task, addr).await);
            return;
        }
        match cli.command {
            None => throughput(&cli.load, &cli.rows, cli.json).await,
            Some(Command::Idle {
                total,
                active,
                events_each,
            }) => idle(total, active, events_each, cli.json).await,
            Some(Command::Pileup {
                deliveries,
                endpoints,
                breaker_cooldown_ms,
            }) => pileup(deliveries, endpoints, breaker_cooldown_ms, cli.json).await,
            Some(Command::Failing(spec)) => failing_scenario(spec, cli.json).await,
            Some(Command::Stream {
                consumers,
                events,
                payload,
                rate,
                secs,
            }) => stream_scenario(&consumers, events, payload, rate, secs, cli.json).await,
        }
    });
}

fn load_args(load: &LoadParams) -> Vec<String> {
    [
        ("--events", load.events.to_string()),
        ("--endpoints", load.endpoints.to_string()),
        ("--payload", load.payload.to_string()),
        ("--concurrency", load.concurrency.to_string()),
        (
            "--receiver-latency-ms",
            load.receiver_latency_ms.to_string(),
        ),
        ("--failure-ratio", load.failure_ratio.to_string()),
        ("--paced-rate", load.paced_rate.to_string()),
        ("--paced-secs", load.paced_secs.to_string()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}

fn child_args(task: &ChildTask, receiver: &BenchReceiver) -> Vec<String> {
    vec![
        "--child".to_owned(),
        serde_json::to_string(task).unwrap(),
        "--receiver".to_owned(),
        receiver.addr().to_string(),
    ]
}

fn write_json(path: Option<PathBuf>, value: &impl serde::Serialize) {
    if let Some(path) = path {
        std::fs::write(&path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
        println!("wrote {}", path.display());
    }
}

async fn throughput(load: &LoadParams, names: &[String], json: Option<PathBuf>) {
    let needs_heraldd = |n: &String| n.starts_with("daemon-sled") || n.starts_with("postgres");
    if names.iter().any(needs_heraldd) && heraldd::binary().is_none() {
        eprintln!(
            "the daemon-sled and postgres rows run the heraldd built beside herald-bench: \
             cargo build --release -p herald-benches -p herald-examples"
        );
        std::process::exit(2);
    }
    let receiver = BenchReceiver::start().await;
    let mut runs: Vec<Row> = Vec::new();
    for (round, name) in (1..=load.rounds.max(1)).flat_map(|r| names.iter().map(move |n| (r, n))) {
        eprintln!("round {round}: running row {name} ...");
        let mut args = vec![
            "--row".to_owned(),
            name.clone(),
            "--receiver".to_owned(),
            receiver.addr().to_string(),
        ];
        args.extend(load_args(load));
        let row: Row = run_self(&args).await;
        if row.deliveries == 0 && name == "daemon" {
            eprintln!("row daemon: not available, left out");
            continue;
        }
        eprintln!(
            "round {round}: {name} {:.0} deliveries/s, {:.0} µs CPU per delivery",
            row.deliveries_per_sec,
            row.cpu_ms_per_delivery * 1000.0
        );
        if row.server_cpu_us_per_event > 0.0 {
            eprintln!(
                "round {round}: {name} heraldd CPU {:.0} µs per event, {:.0} µs per delivery; \
                 publish p99 {:.2} ms; {} publishes refused (503/429) and sent again",
                row.server_cpu_us_per_event,
                row.server_cpu_us_per_delivery,
                row.publish_p99_ms,
                row.publishes_refused
            );
        }
        if row.database_cpu_us_per_delivery > 0.0 {
            eprintln!(
                "round {round}: {name} PostgreSQL CPU {:.0} µs per delivery",
                row.database_cpu_us_per_delivery
            );
        }
        runs.push(row);
    }
    let mut rows = report::best_of_rounds(names, runs);
    report::set_ratios(&mut rows);
    print!("{}", report::table(&rows, load));
    if let Some(path) = json {
        report::write_json(&path, &rows, load).unwrap();
        println!("wrote {}", path.display());
    }
}

async fn idle(total: usize, active: usize, events_each: u64, json: Option<PathBuf>) {
    let receiver = BenchReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("db");
    let populating = std::time::Instant::now();
    scenarios::populate_idle_store(&store, total, receiver.addr()).await;
    eprintln!(
        "registered {total} endpoints in {:.1} s",
        populating.elapsed().as_secs_f64()
    );
    let store_again = store.clone();
    let task = ChildTask::Idle {
        dir: store,
        total,
        active,
        events_each,
    };
    let result: IdleResult = run_self(&child_args(&task, &receiver)).await;
    let index: IndexResult = run_self(&child_args(
        &ChildTask::IdleIndex { dir: store_again },
        &receiver,
    ))
    .await;
    println!(
        "idle: {} endpoints registered, {} active ({} events each)\n\
         open store {:.0} ms, Engine::start {:.0} ms\n\
         RSS before {:.1} MiB, after the open {:.1} MiB, after start {:.1} MiB => <= {:.0} B per idle endpoint\n\
         Engine::start added {:.0} B per endpoint (the index and sled's cache of the records read)\n\
         endpoint actors: {} after start, {} at peak, {} after idling ({:.1} s after the last delivery)\n\
         RSS after serving the active ones {:.1} MiB; all delivered: {}\n\
         the subscription index alone: {:.0} B per endpoint",
        result.total,
        result.active,
        events_each,
        result.open_ms,
        result.start_ms,
        result.rss_before_mb,
        result.rss_opened_mb,
        result.rss_started_mb,
        result.bytes_per_idle_endpoint,
        result.bytes_per_endpoint_at_start,
        result.actors_after_start,
        result.actors_peak,
        result.actors_after_idle,
        result.idle_stop_secs,
        result.rss_after_active_mb,
        result.delivered_all,
        index.bytes_per_endpoint
    );
    write_json(json, &serde_json::json!({"engine": result, "index": index}));
}

async fn pileup(
    deliveries: u64,
    endpoints: usize,
    breaker_cooldown_ms: u64,
    json: Option<PathBuf>,
) {
    let receiver = BenchReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("db");
    receiver.set_down(true);
    let fill = ChildTask::PileupFill {
        dir: store.clone(),
        deliveries,
        endpoints,
        breaker_cooldown_ms,
    };
    let filled: FillResult = run_self(&child_args(&fill, &receiver)).await;
    println!(
        "pile-up: {} deliveries published in {:.1} s with the receiver down; {} pending in storage, \
         {} actors; RSS while piled up {:.1} MiB (peak {:.1} MiB)",
        filled.deliveries,
        filled.publish_secs,
        filled.pending,
        filled.actors,
        filled.rss_piled_mb,
        filled.peak_rss_mb
    );
    receiver.set_down(false);
    receiver.reset();
    let drain = ChildTask::PileupDrain {
        dir: store,
        deliveries: filled.pending,
        breaker_cooldown_ms,
    };
    let drained: DrainResult = run_self(&child_args(&drain, &receiver)).await;
    println!(
        "restart: open + Engine::start {:.0} ms, first delivery {:.2} s after the restart began, \
         {} delivered in {:.1} s ({:.0}/s), peak RSS {:.1} MiB",
        drained.start_ms,
        drained.first_delivery_secs,
        drained.delivered,
        drained.drain_secs,
        drained.drain_per_sec,
        drained.peak_rss_mb
    );
    write_json(
        json,
        &serde_json::json!({"fill": filled, "drain": drained, "breaker_cooldown_ms": breaker_cooldown_ms}),
    );
}

/// The flags of `failing`.
#[derive(Debug, clap::Args)]
struct FailingSpec {
    /// Endpoints of the tenant.
    #[arg(long, default_value_t = 20)]
    endpoints: usize,
    /// How many of them fail.
    #[arg(long, default_value_t = 2)]
    failing: usize,
    /// Events per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Seconds of each run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// `memory` or `sled`.
    #[arg(long, default_value = "memory")]
    storage: String,
    /// Consecutive failures that open a breaker (the engine's default: 5); a
    /// huge value keeps failing endpoints busy with attempts and retries.
    #[arg(long, default_value_t = 5)]
    breaker_threshold: u32,
    /// Endpoints of another tenant at a listener that accepts and never answers, in
    /// the runs with failures (each given 20 events: attempts that hang until their
    /// timeout).
    #[arg(long, default_value_t = 0)]
    tarpits: usize,
    /// Alternating runs of each kind (all healthy, then with failures); the result is
    /// the median of each kind, as one run's p99 near 1 ms swings widely on a
    /// shared machine.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
}

async fn failing_scenario(spec: FailingSpec, json: Option<PathBuf>) {
    let receiver = BenchReceiver::start().await;
    let mut runs: Vec<FailingRun> = Vec::new();
    for round in 0..spec.repeats.max(1) * 2 {
        let (failing, tarpits) = if round % 2 == 0 {
            (0, 0)
        } else {
            (spec.failing, spec.tarpits)
        };
        receiver.reset();
        let task = ChildTask::Failing {
            shape: FailingShape {
                endpoints: spec.endpoints,
                failing,
                tarpits,
                rate: spec.rate,
                secs: spec.secs,
                breaker_threshold: spec.breaker_threshold,
            },
            storage: spec.storage.clone(),
        };
        let run: FailingRun = run_self(&child_args(&task, &receiver)).await;
        println!(
            "failing {:>2}/{}, tarpits {} ({} connections accepted, {} open files): {} events at {}/s \
             ({}, breaker threshold {}), {} healthy deliveries, {} failed requests; \
             healthy p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
            run.failing,
            spec.endpoints,
            run.tarpits,
            run.tarpit_connections,
            run.open_files,
            run.events,
            spec.rate,
            spec.storage,
            spec.breaker_threshold,
            run.healthy_deliveries,
            run.failed_requests,
            run.latency.p50_ms,
            run.latency.p99_ms,
            run.latency.p999_ms
        );
        runs.push(run);
    }
    // Medians: one noisy run (a neighbour's burst) must not decide the verdict.
    let median_p99 = |with_failures: bool| {
        let mut chosen: Vec<f64> = runs
            .iter()
            .filter(|r| (r.failing > 0 || r.tarpits > 0) == with_failures)
            .map(|r| r.latency.p99_ms)
            .collect();
        chosen.sort_by(f64::total_cmp);
        chosen.get(chosen.len() / 2).copied().unwrap_or(0.0)
    };
    let (healthy, mixed) = (median_p99(false), median_p99(true));
    let rise = (mixed / healthy.max(1e-9) - 1.0) * 100.0;
    println!(
        "healthy endpoints' p99, median of runs: all healthy {healthy:.2} ms, with {} failing \
         and {} tarpits {mixed:.2} ms: {rise:+.1}%",
        spec.failing, spec.tarpits
    );
    write_json(
        json,
        &serde_json::json!({"runs": runs, "p99_all_healthy_ms": healthy, "p99_with_failing_ms": mixed, "p99_change_percent": rise}),
    );
}

/// A `stream` run for a child: consumers, events, payload, rate, secs.
type StreamTask = (usize, u64, usize, u64, u64);

async fn stream_scenario(
    consumers: &[usize],
    events: u64,
    payload: usize,
    rate: u64,
    secs: u64,
    json: Option<PathBuf>,
) {
    let mut runs = Vec::new();
    for &count in consumers {
        eprintln!("stream: {count} consumers ...");
        let task: StreamTask = (count, events, payload, rate, secs);
        let args = vec![
            "--child".to_owned(),
            format!("stream:{}", serde_json::to_string(&task).unwrap()),
        ];
        let run: herald_benches::stream::StreamRun = run_self(&args).await;
        runs.push(run);
    }
    println!(
        "| consumers | events | publishes/s | events received/s (all consumers) | p50 ms | p99 ms (at {rate}/s) | engine B/stream | SSE B/stream (both ends) | complete |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for run in &runs {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {} |",
            run.consumers,
            run.events,
            run.publishes_per_sec,
            run.received_per_sec,
            run.latency.p50_ms,
            run.latency.p99_ms,
            run.engine_bytes_per_stream,
            run.sse_bytes_per_stream,
            if run.complete {
                "yes".to_owned()
            } else {
                format!("no ({} ended early)", run.overflows)
            }
        );
    }
    write_json(json, &runs);
}
