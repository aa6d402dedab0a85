//! `DestinationPolicy` (delivery.md §6): which URLs and resolved addresses Herald may
//! send to. Pure; used at endpoint creation and by transports after DNS resolution.
//!
//! - `ranges`: which addresses are special, and the IPv4 address an IPv6 one carries.

mod ranges;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Invalid;

pub use ranges::is_special;

/// The schemes, address ranges and ports an engine may deliver to.
///
/// An address is refused when it is in `deny` (or carries an IPv4 address that is:
/// `::ffff:127.0.0.1`, `64:ff9b::7f00:1`, `2002:7f00:1::`, ...), whatever the other
/// fields say; otherwise when it is special (`is_special`), unless
/// `allow_private_destinations` is set or it is in `allowlist`. IPv4-mapped and
/// well-known NAT64 addresses are judged as the IPv4 address they reach, so neither
/// ever passes where that IPv4 address would not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Allow `http://` URLs (else `https` only).
    pub allow_http: bool,
    /// Allow loopback, private, link-local and the other special ranges.
    pub allow_private_destinations: bool,
    /// Ranges allowed even when special.
    pub allowlist: Vec<IpNet>,
    /// Ranges refused always: over `allow_private_destinations` and `allowlist`.
    pub deny: Vec<IpNet>,
    /// The only ports a URL may name (its scheme's default when it names none);
    /// empty: any port.
    pub allowed_ports: Vec<u16>,
}

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It is in the deny list, or carries an IPv4 address that is.
    Denied,
    /// It is in a special range, neither allowed by `allow_private_destinations` nor
    /// by the allow-list.
    Special,
}

impl DestinationPolicy {
    /// A policy for local development and tests: http and private addresses allowed.
    pub fn permissive() -> Self {
        Self {
            allow_http: true,
            allow_private_destinations: true,
            ..Self::default()
        }
    }

    /// Checks an endpoint URL: scheme, no credentials, a host, the port, and a
    /// literal IP host against the deny list and the special ranges. Returns the
    /// parsed URL.
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
            let why = match self.refusal(ip) {
                None => None,
                Some(Refusal::Denied) => Some("is in a denied range"),
                Some(Refusal::Special) => Some("is in a private or reserved range"),
            };
            if let Some(why) = why {
                return Err(Invalid::new(
                    "url",
                    format!("blocked destination: {ip} {why}"),
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
        let port = url
            .port_or_known_default()
            .expect("http and https, the only schemes left, have a default port");
        if !self.allows_port(port) {
            return Err(Invalid::new(
                "url",
                format!("blocked destination: port {port} is not an allowed port"),
            ));
        }
        Ok(url)
    }

    /// Whether a resolved address may be connected to.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.refusal(ip).is_none()
    }

    /// Why a resolved address may not be connected to; `None` when it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<Refusal> {
        if self.is_denied(ip) {
            return Some(Refusal::Denied);
        }
        let judged = ranges::judged(ip);
        let allowed = self.allow_private_destinations
            || !is_special(judged)
            || self.allowlist.iter().any(|net| net.contains(&judged));
        (!allowed).then_some(Refusal::Special)
    }

    /// Whether a connection may go to `port`.
    pub fn allows_port(&self, port: u16) -> bool {
        self.allowed_ports.is_empty() || self.allowed_ports.contains(&port)
    }

    /// Whether `ip`, or an IPv4 address it carries, is in the deny list.
    fn is_denied(&self, ip: IpAddr) -> bool {
        if self.deny.is_empty() {
            return false;
        }
        let in_deny = |ip: IpAddr| self.deny.iter().any(|net| net.contains(&ip));
        in_deny(ip)
            || ranges::embedded_ipv4(ip)
                .into_iter()
                .any(|v4| in_deny(IpAddr::V4(v4)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> DestinationPolicy {
        DestinationPolicy::default()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// A URL whose host is `ip` (bracketed when IPv6).
    fn url_of(ip: &str) -> String {
        if ip.contains(':') {
            format!("https://[{ip}]/hooks")
        } else {
            format!("https://{ip}/hooks")
        }
    }

    /// One address of each refused range, with the range's name.
    const REFUSED: &[(&str, &str)] = &[
        ("127.0.0.1", "IPv4 loopback"),
        ("10.1.2.3", "RFC 1918"),
        ("172.16.0.1", "RFC 1918"),
        ("192.168.1.1", "RFC 1918"),
        ("169.254.169.254", "link-local (metadata)"),
        ("100.64.0.1", "shared address space"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this network"),
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "IPv4 multicast"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.1", "documentation"),
        ("203.0.113.1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.0.170", "IETF protocol assignments"),
        ("192.88.99.1", "6to4 relay anycast"),
        ("240.0.0.1", "reserved"),
        ("::", "IPv6 unspecified"),
        ("::1", "IPv6 loopback"),
        ("::8.8.8.8", "IPv4-compatible ::/96"),
        ("::127.0.0.1", "IPv4-compatible ::/96"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("::ffff:169.254.169.254", "IPv4-mapped link-local"),
        ("::ffff:0:8.8.8.8", "IPv4-translated ::ffff:0:0:0/96"),
        ("64:ff9b::127.0.0.1", "NAT64 of loopback"),
        ("64:ff9b::a9fe:a9fe", "NAT64 of the metadata address"),
        ("64:ff9b:1::8.8.8.8", "local-use NAT64"),
        ("100::1", "discard-only"),
        ("2001::1", "Teredo"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:2::1", "IPv6 benchmarking"),
        ("2001:10::1", "ORCHID"),
        ("2001:db8::1", "IPv6 documentation"),
        ("3fff::1", "IPv6 documentation"),
        ("2002:808:808::1", "6to4"),
        ("2002:7f00:1::1", "6to4 of loopback"),
        ("fc00::1", "unique local"),
        ("fd00::1", "unique local"),
        ("fe80::1", "IPv6 link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "IPv6 multicast"),
    ];

    const PUBLIC: &[&str] = &[
        "93.184.216.34",
        "1.1.1.1",
        "::ffff:1.1.1.1",
        "64:ff9b::1.1.1.1",
        "2606:4700::1111",
        "2001:4860:4860::8888",
    ];

    #[test]
    fn every_special_range_is_refused_as_an_address_and_as_a_literal() {
        for (ip_text, range) in REFUSED {
            assert_eq!(
                strict().refusal(ip(ip_text)),
                Some(Refusal::Special),
                "{ip_text} ({range}) as a resolved address"
            );
            let err = strict().check_url(&url_of(ip_text)).unwrap_err();
            assert_eq!(err.field, "url", "{ip_text} ({range})");
            assert!(
                err.message.contains("private or reserved"),
                "{ip_text}: {}",
                err.message
            );
        }
        for ip_text in PUBLIC {
            assert!(strict().allows(ip(ip_text)), "{ip_text} should be allowed");
            assert!(strict().check_url(&url_of(ip_text)).is_ok(), "{ip_text}");
        }
    }

    #[test]
    fn allowlist_and_permissive_open_private_ranges() {
        let mut policy = strict();
        policy.allowlist.push("10.0.0.0/8".parse().unwrap());
        assert!(policy.allows(ip("10.2.3.4")));
        assert!(policy.allows(ip("::ffff:10.2.3.4")), "mapped: as its IPv4");
        assert!(!policy.allows(ip("192.168.0.1")));
        assert!(DestinationPolicy::permissive().allows(ip("127.0.0.1")));
        for (ip_text, _) in REFUSED {
            assert!(DestinationPolicy::permissive().allows(ip(ip_text)));
        }
    }

    /// A mapped address is judged as its IPv4 address, never by an IPv6 range
    /// that happens to contain it.
    #[test]
    fn a_mapped_address_never_bypasses_the_ipv4_rules() {
        let mut policy = strict();
        policy.allowlist.push("::/0".parse().unwrap());
        assert!(policy.allows(ip("fd00::1")), "the allow-list opens IPv6");
        assert!(!policy.allows(ip("::ffff:127.0.0.1")));
        assert!(!policy.allows(ip("64:ff9b::10.0.0.1")));
        assert!(policy.check_url("https://[::ffff:7f00:1]/").is_err());
    }

    /// The deny list wins over `allow_private_destinations` and the allow-list, and
    /// sees the IPv4 address inside every IPv6 form that carries one.
    #[test]
    fn the_deny_list_wins_over_everything() {
        let mut policy = DestinationPolicy::permissive();
        policy.allowlist.push("127.0.0.0/8".parse().unwrap());
        policy.deny = vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
            "8.8.8.0/24".parse().unwrap(),
        ];
        for denied in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "8.8.8.8",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::8.8.8.8",
            "64:ff9b:1:2::8.8.8.8",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7", // Teredo client 8.8.8.8
        ] {
            assert_eq!(
                policy.refusal(ip(denied)),
                Some(Refusal::Denied),
                "{denied}"
            );
            let err = policy.check_url(&url_of(denied)).unwrap_err();
            assert_eq!(err.field, "url");
            assert!(err.message.contains("denied"), "{denied}: {}", err.message);
        }
        for allowed in ["10.0.0.1", "::2", "8.8.4.4", "::ffff:8.8.4.4"] {
            assert!(policy.allows(ip(allowed)), "{allowed}");
        }
        // A host name is judged by its addresses, after resolution.
        assert!(policy.check_url("http://localhost:8080/").is_ok());
    }

    #[test]
    fn allowed_ports_limit_every_url_and_connection() {
        let mut policy = DestinationPolicy::permissive();
        assert!(
            policy.allows_port(1) && policy.allows_port(65535),
            "empty: any"
        );
        policy.allowed_ports = vec![443, 8443];
        assert!(policy.allows_port(443) && policy.allows_port(8443));
        assert!(!policy.allows_port(80) && !policy.allows_port(8080));
        assert!(policy.check_url("https://example.com/").is_ok());
        assert!(policy.check_url("https://example.com:8443/").is_ok());
        for bad in [
            "http://example.com/",
            "https://example.com:8080/",
            "https://127.0.0.1:22/",
        ] {
            let err = policy.check_url(bad).unwrap_err();
            assert_eq!(err.field, "url");
            assert!(err.message.contains("port"), "{bad}: {}", err.message);
        }
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
