//! Shared test equipment for Herald's crates, written once and reused.
//!
//! Layout:
//! - `receiver`: a recording HTTP(S) receiver on 127.0.0.1 (hyper server).
//! - `certs`: rcgen certificates for TLS tests.
//! - `scripted`: `ScriptedTransport`, an in-process transport for engine tests.
//! - `conformance`: the storage conformance suite every backend runs.
//! - `postgres`: a private PostgreSQL cluster per test binary, a database per test.
//! - `two_handles`: the conformance cases for two handles on one store.
//! - `hooked`: `HookedStorage`, gates and faults on any storage's delivery path.
//! - `fuzz`: generators of hostile input (text, URLs, numbers, JSON bodies) for
//!   property tests.
//! - `browser`: headless Chromium over WebDriver (chromedriver), with an accessibility
//!   audit and a keyboard walk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod certs;
pub mod conformance;
pub mod fuzz;
pub mod hooked;
pub mod postgres;
pub mod receiver;
pub mod scripted;
pub mod two_handles;
