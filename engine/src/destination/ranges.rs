//! Which addresses are special (not a public unicast host), and which IPv4 address
//! an IPv6 address carries. Pure; `DestinationPolicy` judges with these.
//!
//! An IPv6 address can reach an IPv4 host: an IPv4-mapped address is the IPv4 host
//! itself to a dual-stack socket, and NAT64, 6to4, Teredo and the older compatible
//! and translated forms carry one in their bits. A rule written for IPv4 (the
//! special ranges, a deny list) must see that IPv4 address too, or the IPv6 spelling
//! of `127.0.0.1` would slip past it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address that rules judge: an IPv4-mapped address (`::ffff:a.b.c.d`) and a
/// NAT64 address of the well-known prefix (`64:ff9b::a.b.c.d`, RFC 6052) are judged
/// as the IPv4 address they reach; every other address as itself.
pub(crate) fn judged(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .or_else(|| nat64_well_known(v6))
            .map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 address of `64:ff9b::/96`, if `ip` is in it.
fn nat64_well_known(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| last_32_bits(ip))
}

fn last_32_bits(ip: Ipv6Addr) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

/// Every IPv4 address `ip` carries, in the forms that can carry one: mapped
/// `::ffff:0:0/96`, compatible `::/96`, translated `::ffff:0:0:0/96`, NAT64
/// `64:ff9b::/96` and the local-use `64:ff9b:1::/48` (with its usual /96 prefix),
/// 6to4 `2002::/16` (bits 16 to 48), and Teredo `2001::/32` (its server, bits 32 to
/// 64, and its client, the last 32 bits inverted). Empty for an IPv4 address and for
/// any other IPv6 address.
pub(crate) fn embedded_ipv4(ip: IpAddr) -> Vec<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else {
        return Vec::new();
    };
    let s = v6.segments();
    let o = v6.octets();
    if s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff) {
        // Compatible (`::/96`) and mapped (`::ffff:0:0/96`).
        vec![last_32_bits(v6)]
    } else if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        // Translated (`::ffff:0:0:0/96`, RFC 2765).
        vec![last_32_bits(v6)]
    } else if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        vec![last_32_bits(v6)]
    } else if s[0] == 0x2002 {
        vec![Ipv4Addr::new(o[2], o[3], o[4], o[5])]
    } else if s[0] == 0x2001 && s[1] == 0 {
        let client = !u32::from(last_32_bits(v6));
        vec![
            Ipv4Addr::new(o[4], o[5], o[6], o[7]),
            Ipv4Addr::from(client),
        ]
    } else {
        Vec::new()
    }
}

/// Whether `ip`, judged as `judged` says, is outside public unicast: loopback,
/// private, link-local, shared (CGNAT), multicast, unspecified, broadcast,
/// documentation, benchmarking, reserved, and the IPv6 ranges that are not global
/// unicast or that tunnel to an IPv4 host Herald cannot judge.
pub fn is_special(ip: IpAddr) -> bool {
    match judged(ip) {
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
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network" 0.0.0.0/8, the unspecified address included
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT) 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast 192.88.99/24 (RFC 7526)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || a >= 240 // reserved 240/4
}

fn is_special_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Everything outside global unicast 2000::/3: unspecified, loopback, compatible
    // ::/96, translated ::ffff:0:0:0/96, discard 100::/64, local NAT64 64:ff9b:1::/48,
    // ULA fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast ff00::/8.
    (s[0] & 0xe000) != 0x2000
        // IETF protocol assignments 2001::/23: Teredo 2001::/32, benchmarking
        // 2001:2::/48, ORCHID 2001:10::/28 and 2001:20::/28.
        || (s[0] == 0x2001 && s[1] < 0x0200)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || s[0] == 0x2002 // 6to4: deprecated (RFC 7526), relayed by routers Herald cannot see
        || (s[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20 (RFC 9637)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn mapped_and_well_known_nat64_addresses_are_judged_as_their_ipv4() {
        assert_eq!(judged(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(judged(ip("64:ff9b::8.8.8.8")), ip("8.8.8.8"));
        assert_eq!(judged(ip("::10.1.2.3")), ip("::10.1.2.3"));
        assert_eq!(judged(ip("2606:4700::1111")), ip("2606:4700::1111"));
    }

    #[test]
    fn every_ipv4_carrying_form_gives_its_ipv4() {
        let cases = [
            ("::ffff:127.0.0.1", vec!["127.0.0.1"]),
            ("::127.0.0.1", vec!["127.0.0.1"]),
            ("::ffff:0:127.0.0.1", vec!["127.0.0.1"]),
            ("64:ff9b::127.0.0.1", vec!["127.0.0.1"]),
            ("64:ff9b:1:abcd::127.0.0.1", vec!["127.0.0.1"]),
            ("2002:7f00:1::1", vec!["127.0.0.1"]),
            // Teredo: server 65.54.227.120, client 192.0.2.45 (RFC 4380's example).
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                vec!["65.54.227.120", "192.0.2.45"],
            ),
        ];
        for (v6, want) in cases {
            let want: Vec<Ipv4Addr> = want.iter().map(|w| w.parse().unwrap()).collect();
            assert_eq!(embedded_ipv4(ip(v6)), want, "{v6}");
        }
        assert!(embedded_ipv4(ip("2606:4700::1111")).is_empty());
        assert!(embedded_ipv4(ip("127.0.0.1")).is_empty());
    }

    #[test]
    fn special_ranges() {
        for special in [
            "0.1.2.3",
            "100.127.255.255",
            "192.0.0.8",
            "192.88.99.1",
            "198.19.0.1",
            "203.0.113.9",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::8.8.8.8",
            "::ffff:0:8.8.8.8",
            "::ffff:10.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::8.8.8.8",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "2002:808:808::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(is_special(ip(special)), "{special} is special");
        }
        for public in [
            "8.8.8.8",
            "93.184.216.34",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert!(!is_special(ip(public)), "{public} is public");
        }
    }
}
