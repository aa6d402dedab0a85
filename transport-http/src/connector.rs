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

use herald::destination::DestinationPolicy;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::Service;

use crate::error::ConnectRefusal;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Builds the TCP connector for a policy, with `nodelay` set: webhook requests are
/// small and latency matters more than packet count.
pub(crate) fn guarded_connector(policy: Arc<DestinationPolicy>) -> GuardedConnector {
    let mut http = HttpConnector::new_with_resolver(PolicyResolver {
        policy: Arc::clone(&policy),
    });
    // The TLS layer above hands `https` URIs down to this connector.
    http.enforce_http(false);
    http.set_nodelay(true);
    GuardedConnector {
        inner: http,
        policy,
    }
}

/// Resolves names with the system resolver and drops refused addresses.
#[derive(Debug, Clone)]
pub(crate) struct PolicyResolver {
    policy: Arc<DestinationPolicy>,
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
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // Port 0: `HttpConnector` puts the URL's port on every address afterwards.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|source| ConnectRefusal::Dns {
                    host: host.clone(),
                    source: Some(source),
                })?
                .collect();
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
