//! Re-serializes a JSON payload byte for byte as a given language runtime would write it.
//!
//! Subscribers often verify a signature over the body *after* their own runtime has
//! re-encoded it (`JSON.stringify(JSON.parse(body))` in Node, `json.dumps(json.loads(body))`
//! in Python). These modes produce exactly those bytes, so the signed body matches.
//!
//! - [`js`]: Node.js 20 `JSON.stringify(JSON.parse(input))`.
//! - [`python`]: CPython 3.11 `json.dumps(json.loads(input), separators=(",", ":"))`.
//! - [`parse`]: the shared reader both writers walk; [`Unwritable`]: why a value has no
//!   faithful encoding (the runtime would write `null`, `Infinity`, or raise).
//!
//! Besides `std`, only `ryu` is used (shortest round-trip digits, ties to even). Numbers
//! keep their source text until a writer formats them, and most never reach `ryu`: a
//! number of at most 15 significant digits is already its own shortest form.

mod error;
pub(crate) mod js;
mod number;
pub(crate) mod parse;
pub(crate) mod python;

pub use error::Unwritable;

#[cfg(test)]
mod runtime_tests;
