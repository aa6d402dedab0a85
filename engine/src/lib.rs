//! Herald: an embeddable webhook delivery engine.
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod destination;
pub mod error;
pub mod ids;
pub mod model;
pub mod signing;
pub mod storage;
pub mod time;
pub mod transport;
