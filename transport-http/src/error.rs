//! This crate's errors, and the one place that turns a failed attempt's error into an
//! `ErrorClass` (delivery.md §3).
//!
//! hyper-util wraps errors several layers deep (client error → connector error →
//! `io::Error` → rustls error), so classification walks the whole chain. `io::Error`
//! needs care: its `source()` skips the error it wraps, so the walk looks inside with
//! `get_ref()` instead.

use std::error::Error as StdError;
use std::io;

use herald::transport::ErrorClass;

/// Why an `HttpTransport` could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportBuildError {
    /// An extra root certificate could not be parsed or was refused by rustls.
    #[error("extra root certificate #{index}: {reason}")]
    InvalidRootCertificate {
        /// Its position in the configuration's list.
        index: usize,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the TLS configuration.
    #[error("TLS configuration refused")]
    Tls(#[source] rustls::Error),
}

/// Why the connector refused to open a connection; carried inside hyper-util's errors
/// and recognised again by [`classify`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectRefusal {
    /// delivery.md §6: every address of the host is in a refused range.
    #[error("blocked destination: every address of {host} is refused by the destination policy")]
    Blocked {
        /// The host as written in the URL.
        host: String,
    },
    /// delivery.md §6: the URL's port is not among the allowed ports.
    #[error("blocked destination: port {port} of {host} is not an allowed port")]
    Port {
        /// The host as written in the URL.
        host: String,
        /// The port refused.
        port: u16,
    },
    /// The host name did not resolve to any address.
    #[error("could not resolve {host}")]
    Dns {
        /// The host as written in the URL.
        host: String,
        /// The resolver's error, when it gave one (none when it answered with no address).
        #[source]
        source: Option<io::Error>,
    },
}

/// The class of an error raised before a response head arrived.
pub(crate) fn classify(err: &hyper_util::client::legacy::Error) -> ErrorClass {
    let mut tls = false;
    let mut hyper_timeout = false;
    for cause in chain(err) {
        if let Some(refusal) = cause.downcast_ref::<ConnectRefusal>() {
            return match refusal {
                ConnectRefusal::Blocked { .. } | ConnectRefusal::Port { .. } => {
                    ErrorClass::BlockedDestination
                }
                ConnectRefusal::Dns { .. } => ErrorClass::Dns,
            };
        }
        if cause.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        if let Some(hyper_err) = cause.downcast_ref::<hyper::Error>() {
            hyper_timeout |= hyper_err.is_timeout();
        }
    }
    if tls {
        ErrorClass::Tls
    } else if hyper_timeout {
        ErrorClass::Timeout
    } else if err.is_connect() {
        // Refused, reset or unreachable before any byte of HTTP was exchanged.
        ErrorClass::Connect
    } else {
        // The connection was up; the peer closed it early or sent something that is
        // not HTTP.
        ErrorClass::Protocol
    }
}

/// `err` and its causes as one line, for logs: the class alone cannot say which
/// certificate or which address was at fault.
pub(crate) fn describe(err: &hyper_util::client::legacy::Error) -> String {
    let mut text = String::new();
    for cause in chain(err) {
        let line = cause.to_string();
        // Wrappers often repeat their cause's message; keep each message once.
        if !text.contains(&line) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&line);
        }
    }
    text
}

/// Every error in `err`'s chain, `err` first, looking inside `io::Error`s.
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    // Bounded: a pathological self-referencing chain must not loop forever.
    std::iter::successors(Some(err), |&current| next_cause(current)).take(32)
}

/// The error `err` wraps: an `io::Error`'s inner error, else `source()`.
fn next_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match err.downcast_ref::<io::Error>() {
        Some(io_err) => io_err
            .get_ref()
            .map(|inner| inner as &(dyn StdError + 'static)),
        None => err.source(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_looks_inside_io_errors() {
        let tls = rustls::Error::General("bad".into());
        let inner = io::Error::new(io::ErrorKind::InvalidData, tls);
        let outer = io::Error::other(inner);
        let found = chain(&outer).any(|e| e.downcast_ref::<rustls::Error>().is_some());
        assert!(found);
    }
}
