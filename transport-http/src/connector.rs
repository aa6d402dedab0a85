//! The TCP connector: resolves the host, keeps only the addresses the
//! `DestinationPolicy` allows (delivery.md §6), then connects with hyper-util's
//! `HttpConnector`.
//!
//! The check sits after resolution so a public name pointing at a private address
//! (DNS rebinding, `localhost`, a metadata endpoint) is refused as well. Two pieces do
//! it: `PolicyResolver`, the resolver `HttpConnector` calls for names, and
//! `GuardedConnector`, which wraps `HttpConnector` to check the port and literal IP
//! hosts, because `HttpConnector` connects to those without calling its resolver.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use herald::destination::DestinationPolicy;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tower::Service;

use crate::error::ConnectRefusal;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Builds the TCP connector for a policy, with `nodelay` set: webhook requests are
/// small and latency matters more than packet count.
pub(crate) fn guarded_connector(
    policy: Arc<DestinationPolicy>,
    lookups: Arc<Lookups>,
) -> GuardedConnector {
    let mut http = HttpConnector::new_with_resolver(PolicyResolver {
        policy: Arc::clone(&policy),
        lookups,
    });
    // The TLS layer above hands `https` URIs down to this connector.
    http.enforce_http(false);
    http.set_nodelay(true);
    GuardedConnector {
        inner: http,
        policy,
    }
}

/// Most name lookups at once: each runs the system resolver on a blocking thread,
/// which a resolver that never answers would hold.
pub(crate) const MAX_LOOKUPS: usize = 32;
/// How long a lookup may take, its wait for a turn included.
pub(crate) const LOOKUP_DEADLINE: Duration = Duration::from_secs(5);

/// Runs the system resolver with a deadline and a bound on lookups at once. A
/// lookup's turn is held by its blocking thread until the system call returns, so
/// lookups that hang past their deadline still count: the threads they hold stay
/// bounded.
#[derive(Debug)]
pub(crate) struct Lookups {
    turns: Arc<Semaphore>,
    deadline: Duration,
}

impl Lookups {
    pub(crate) fn new(at_once: usize, deadline: Duration) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(at_once.max(1))),
            deadline,
        }
    }

    /// The addresses of `host` (port 0), or why there are none.
    async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, ConnectRefusal> {
        let dns_error = |source| ConnectRefusal::Dns {
            host: host.to_owned(),
            source,
        };
        let lookup = async {
            let turn = Arc::clone(&self.turns)
                .acquire_owned()
                .await
                .map_err(|_| dns_error(None))?;
            let name = host.to_owned();
            let found = tokio::task::spawn_blocking(move || {
                let _turn = turn;
                std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 0))
                    .map(Iterator::collect::<Vec<SocketAddr>>)
            })
            .await
            .map_err(|_| dns_error(None))?;
            found.map_err(|e| dns_error(Some(e)))
        };
        match tokio::time::timeout(self.deadline, lookup).await {
            Ok(found) => found,
            Err(_) => Err(dns_error(Some(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {:?}", self.deadline),
            )))),
        }
    }
}

/// Resolves names with the system resolver (`Lookups`) and drops refused
/// addresses.
#[derive(Debug, Clone)]
pub(crate) struct PolicyResolver {
    policy: Arc<DestinationPolicy>,
    lookups: Arc<Lookups>,
}

impl Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ConnectRefusal;
    type Future = BoxFuture<Result<Self::Response, ConnectRefusal>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        let lookups = Arc::clone(&self.lookups);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // Port 0: `HttpConnector` puts the URL's port on every address afterwards.
            let resolved = lookups.resolve(&host).await?;
            if resolved.is_empty() {
                return Err(ConnectRefusal::Dns { host, source: None });
            }
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| policy.allows(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(ConnectRefusal::Blocked { host });
            }
            Ok(allowed.into_iter())
        })
    }
}

/// `HttpConnector` with the policy applied to the port and to literal IP hosts too.
#[derive(Debug, Clone)]
pub(crate) struct GuardedConnector {
    inner: HttpConnector<PolicyResolver>,
    policy: Arc<DestinationPolicy>,
}

impl Service<http::Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        let port = dst.port_u16().unwrap_or_else(|| default_port(&dst));
        if !self.policy.allows_port(port) {
            let host = dst.host().unwrap_or_default().to_owned();
            return Box::pin(async move { Err(ConnectRefusal::Port { host, port }.into()) });
        }
        if let Some(ip) = dst.host().and_then(literal_ip) {
            if !self.policy.allows(ip) {
                let host = ip.to_string();
                return Box::pin(async move { Err(ConnectRefusal::Blocked { host }.into()) });
            }
        }
        let connecting = self.inner.call(dst);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

/// The port a URI without one connects to: its scheme's (the TLS layer hands
/// `https` URIs down as they are).
fn default_port(uri: &http::Uri) -> u16 {
    if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        443
    } else {
        80
    }
}

/// The IP address a URI host spells literally (`127.0.0.1`, `[::1]`), if it is one.
fn literal_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lookups_resolve_and_give_up_at_their_deadline() {
        let lookups = Lookups::new(1, Duration::from_secs(5));
        let found = lookups.resolve("localhost").await.unwrap();
        assert!(found.iter().all(|a| a.ip().is_loopback()), "{found:?}");
        // With the one turn held (a lookup that hangs), the next gives up in time.
        let hung = Lookups::new(1, Duration::from_millis(100));
        let _held = Arc::clone(&hung.turns).acquire_owned().await.unwrap();
        let started = std::time::Instant::now();
        let refused = hung.resolve("localhost").await.unwrap_err();
        assert!(matches!(refused, ConnectRefusal::Dns { .. }), "{refused:?}");
        assert!(refused.to_string().contains("localhost"), "{refused}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn literal_hosts_are_recognised_with_or_without_brackets() {
        assert_eq!(literal_ip("127.0.0.1"), Some([127, 0, 0, 1].into()));
        assert_eq!(literal_ip("[::1]"), "::1".parse().ok());
        assert_eq!(literal_ip("example.com"), None);
    }

    #[test]
    fn a_uri_without_a_port_connects_to_its_schemes() {
        let port = |uri: &str| default_port(&uri.parse().unwrap());
        assert_eq!(port("https://example.com/"), 443);
        assert_eq!(port("http://example.com/"), 80);
    }
}
