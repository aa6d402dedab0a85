//! Herald's benchmark equipment: what the `herald-bench` load tool and its scenarios
//! are built from (the criterion micro-benchmarks live in `benches/`).
//!
//! # Layout
//! - [`receiver`]: the fast hyper receiver that stamps publish-to-delivery latency,
//!   controllable in-process or over HTTP (`/_stats`, `/_reset`, `/_config`).
//! - [`payload`]: event data of a chosen size carrying a send timestamp.
//! - [`stats`]: percentiles; [`rss`]: the process's resident memory.
//! - [`setup`]: engines, endpoints and transports as every row builds them.
//! - [`load`]: publishers, closed-loop (as fast as possible) and paced (a fixed rate).
//! - [`rows`]: the rows of the throughput table (baseline, memory, sled, daemon,
//!   daemon-sled, daemon-sled-1, postgres, postgres3).
//! - [`heraldd`]: the `heraldd` processes of the daemon-sled and postgres rows;
//!   [`http_publisher`]: publishing over their HTTP API.
//! - [`scenarios`]: idle endpoints, pile-up and restart, failing endpoints.
//! - [`stream`]: consumers of the event stream (SSE): throughput, latency, memory.
//! - [`report`]: the table and the JSON file.
//! - [`child`]: running one measurement in a fresh process of the tool.
#![allow(clippy::unwrap_used)]

pub mod child;
pub mod heraldd;
pub mod http_publisher;
pub mod load;
pub mod payload;
pub mod receiver;
pub mod report;
pub mod rows;
pub mod rss;
pub mod scenarios;
pub mod setup;
pub mod stats;
pub mod stream;
