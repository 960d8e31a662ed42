//! The client's address behind reverse proxies.
//!
//! Append-style proxies (nginx `$proxy_add_x_forwarded_for`, HAProxy `option forwardfor`, cloud
//! load balancers) add the address they saw to the *right* of whatever `X-Forwarded-For` the
//! client sent, so the leftmost hops are the client's to choose. Only hops added by proxies we
//! trust can be believed: walk the header from the right, skip trusted proxies, and the first
//! address that is not one is the client (security.md S-15).

use std::net::{IpAddr, SocketAddr};

/// The address to rate-limit and record for a request that came from `peer` with these
/// `X-Forwarded-For` header values (in the order received; several headers count as one list).
///
/// - A peer that is not a trusted proxy is the client; its header is ignored.
/// - Otherwise each hop from the right replaces the answer until one is not a trusted proxy.
/// - A hop that does not parse ends the walk: nothing to its left was written by a proxy we
///   trust, so the answer stays the last trusted hop (never a value the client chose).
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpAddr],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| canonical(*t) == *ip);
    let mut client = canonical(peer);
    if !is_trusted(&client) {
        return client;
    }
    let hops = forwarded_for.rev().flat_map(|value| value.rsplit(','));
    for hop in hops {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// One hop: `198.51.100.7`, `2001:db8::1`, `198.51.100.7:4711` or `[2001:db8::1]:4711`
/// (some load balancers add the port).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(canonical(ip))
}

/// IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket reports) as plain IPv4, so
/// trust and buckets see one address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn walk(peer: &str, headers: &[&str], trusted: &[&str]) -> IpAddr {
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| ip(t)).collect();
        client_address(ip(peer), headers.iter().copied(), &trusted)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            walk("192.0.2.1", &["203.0.113.9"], &["10.0.0.1"]),
            ip("192.0.2.1")
        );
        assert_eq!(walk("192.0.2.1", &[], &[]), ip("192.0.2.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_not_the_leftmost() {
        // nginx appended 192.0.2.50 (who connected to it) to the client's forged value.
        let got = walk("10.0.0.1", &["203.0.113.9, 192.0.2.50"], &["10.0.0.1"]);
        assert_eq!(got, ip("192.0.2.50"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_skipped() {
        let trusted = ["10.0.0.1", "10.0.0.2"];
        let got = walk("10.0.0.1", &["203.0.113.9, 192.0.2.50, 10.0.0.2"], &trusted);
        assert_eq!(got, ip("192.0.2.50"));
        // Several header lines are one list, in order.
        let got = walk(
            "10.0.0.1",
            &["203.0.113.9", "192.0.2.50", "10.0.0.2"],
            &trusted,
        );
        assert_eq!(got, ip("192.0.2.50"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let trusted = ["10.0.0.1", "10.0.0.2"];
        assert_eq!(
            walk("10.0.0.1", &["192.0.2.9, junk, 10.0.0.2"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(walk("10.0.0.1", &["junk"], &trusted), ip("10.0.0.1"));
        assert_eq!(walk("10.0.0.1", &[""], &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn ports_and_mapped_addresses_are_understood() {
        let trusted = ["10.0.0.1"];
        assert_eq!(
            walk("::ffff:10.0.0.1", &["192.0.2.7:4711"], &trusted),
            ip("192.0.2.7")
        );
        assert_eq!(
            walk("10.0.0.1", &["[2001:db8::5]:443"], &trusted),
            ip("2001:db8::5")
        );
        assert_eq!(
            walk("10.0.0.1", &["::ffff:192.0.2.8"], &trusted),
            ip("192.0.2.8")
        );
    }

    #[test]
    fn only_trusted_hops_means_the_leftmost_trusted_one() {
        let trusted = ["10.0.0.1", "10.0.0.2"];
        assert_eq!(walk("10.0.0.1", &["10.0.0.2"], &trusted), ip("10.0.0.2"));
    }
}
