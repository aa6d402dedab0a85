//! `DestinationPolicy` (delivery.md §6): which URLs and resolved addresses Herald may
//! send to. Pure; used at endpoint creation and by transports after DNS resolution.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::error::Invalid;

/// The schemes and address ranges an engine may deliver to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Allow `http://` URLs (else `https` only).
    pub allow_http: bool,
    /// Allow loopback, private, link-local and the other special ranges.
    pub allow_private_destinations: bool,
    /// Ranges allowed even when private.
    pub allowlist: Vec<IpNet>,
}

impl DestinationPolicy {
    /// A policy for local development and tests: http and private addresses allowed.
    pub fn permissive() -> Self {
        Self {
            allow_http: true,
            allow_private_destinations: true,
            allowlist: Vec::new(),
        }
    }

    /// Checks an endpoint URL: scheme, no credentials, a host, and a literal IP host
    /// against the blocked ranges. Returns the parsed URL.
    ///
    /// # Errors
    /// `Invalid { field: "url" }` saying which rule failed.
    pub fn check_url(&self, text: &str) -> Result<url::Url, Invalid> {
        if text.len() > 2048 {
            return Err(Invalid::new("url", "must be at most 2048 characters"));
        }
        let url = url::Url::parse(text)
            .map_err(|e| Invalid::new("url", format!("not a valid URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(Invalid::new(
                    "url",
                    "must use https (http is not allowed by this engine's configuration)",
                ))
            }
            other => {
                return Err(Invalid::new(
                    "url",
                    format!("scheme `{other}` is not allowed"),
                ))
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new("url", "must not contain credentials"));
        }
        if url.fragment().is_some() {
            return Err(Invalid::new("url", "must not contain a fragment"));
        }
        // Attempts go to this URL as an `http::Uri` (`actors::settings`): a host the URL
        // standard takes but HTTP does not (`{`, `"`, a backtick) could never be sent.
        if http::Uri::try_from(url.as_str()).is_err() {
            return Err(Invalid::new(
                "url",
                "has a character an HTTP request cannot carry",
            ));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(domain)) if !domain.is_empty() => None,
            _ => return Err(Invalid::new("url", "must have a host")),
        };
        if let Some(ip) = literal {
            if !self.allows(ip) {
                return Err(Invalid::new(
                    "url",
                    format!("blocked destination: {ip} is in a private or reserved range"),
                ));
            }
        }
        if let Some(url::Host::Domain(domain)) = url.host() {
            let lower = domain.to_ascii_lowercase();
            // Single-label names (`hooks`, `db`) resolve through local search domains.
            let internal = lower == "localhost"
                || lower.ends_with(".localhost")
                || lower.ends_with(".internal")
                || lower.ends_with(".local")
                || !lower.trim_end_matches('.').contains('.');
            if internal && !self.allow_private_destinations {
                return Err(Invalid::new(
                    "url",
                    format!("blocked destination: {domain} is an internal host name"),
                ));
            }
        }
        Ok(url)
    }

    /// Whether a resolved address may be connected to.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow_private_destinations
            || !is_special(ip)
            || self.allowlist.iter().any(|net| net.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Loopback, private, link-local, CGNAT, multicast, unspecified, broadcast,
/// documentation and other reserved ranges.
pub fn is_special(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => is_special_v6(v6),
    }
}

fn is_special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_special_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 (may reach IPv4 private)
        || (first == 0x2002) // 6to4 (may embed private IPv4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> DestinationPolicy {
        DestinationPolicy::default()
    }

    #[test]
    fn blocks_the_special_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!strict().allows(ip), "{ip} should be blocked");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(strict().allows(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn allowlist_and_permissive_open_private_ranges() {
        let mut policy = strict();
        policy.allowlist.push("10.0.0.0/8".parse().unwrap());
        assert!(policy.allows("10.2.3.4".parse().unwrap()));
        assert!(!policy.allows("192.168.0.1".parse().unwrap()));
        assert!(DestinationPolicy::permissive().allows("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn url_checks() {
        let policy = strict();
        assert!(policy.check_url("https://example.com/hooks").is_ok());
        for bad in [
            "http://example.com/",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://[::1]/",
            "https://0x7f.1/",
            "https://localhost/",
            "https:///hooks",
            "https://intranet/",
            "not a url",
            "https://169.254.169.254/latest",
        ] {
            let err = policy.check_url(bad).unwrap_err();
            assert_eq!(err.field, "url", "{bad}");
        }
        assert!(DestinationPolicy::permissive()
            .check_url("http://127.0.0.1:9/")
            .is_ok());
    }

    #[test]
    fn urls_an_http_request_cannot_carry_are_refused() {
        for bad in [
            "https://{.example/",
            "https://a\"b.example.com/",
            "https://a`b.example/",
        ] {
            let err = DestinationPolicy::permissive().check_url(bad).unwrap_err();
            assert_eq!(err.field, "url", "{bad}");
        }
        let ok = strict().check_url("https://example.com/{x}?q={y}").unwrap();
        assert!(http::Uri::try_from(ok.as_str()).is_ok());
    }
}
