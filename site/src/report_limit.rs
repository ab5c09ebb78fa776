//! The limit on an experiment's reports per network and day (README, "Abuse"): which address
//! a report counts against (the peer's, or the one a trusted proxy forwarded), the network it
//! belongs to (an IPv4 address, an IPv6 /64) and the wider one (an IPv4 /24, an IPv6 /48), and
//! the counts, kept in memory under a keyed hash and forgotten each day.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use http::HeaderMap;

use crate::cli::Network;

/// The client's address, put in each request's extensions by the server for this limit (and
/// read nowhere else).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub IpAddr);

/// How long a network's count of reports lasts.
const WINDOW: Duration = Duration::from_secs(86_400);
/// The most networks counted in one window: past it, a newcomer's reports are refused until
/// the window ends, so a flood from many addresses cannot grow the map without bound.
const MAX_NETWORKS: usize = 100_000;
/// A wider network (an IPv4 /24, an IPv6 /48: what one customer or site may hold) gets this
/// many times one network's reports, so a client cannot multiply its share by cycling
/// through the addresses or /64s it controls.
const WIDER: u32 = 10;

/// Counts reports per network for one window, keyed by a hash under a key drawn at start
/// (the map holds no address, and the key dies with the process); forgotten when the window
/// ends.
pub struct Limiter {
    per_network: u32,
    hasher: RandomState,
    started: Instant,
    counts: HashMap<u64, u32>,
}

impl Limiter {
    pub fn new(per_network: u32, now: Instant) -> Limiter {
        Limiter {
            per_network,
            hasher: RandomState::new(),
            started: now,
            counts: HashMap::new(),
        }
    }

    /// Whether `source` may send one more report at `now` (always, with a limit of 0).
    pub fn admit(&mut self, source: IpAddr, now: Instant) -> bool {
        if self.per_network == 0 {
            return true;
        }
        if now.duration_since(self.started) >= WINDOW {
            self.counts.clear();
            self.started = now;
        }
        let limits = [
            (network(source), self.per_network),
            (
                wider_network(source),
                self.per_network.saturating_mul(WIDER),
            ),
        ];
        let keys = limits.map(|(network, limit)| (self.hasher.hash_one(network), limit));
        let mut new = 0;
        for (key, limit) in keys {
            match self.counts.get(&key) {
                Some(&count) if count >= limit => return false,
                Some(_) => {}
                None => new += 1,
            }
        }
        if self.counts.len() + new > MAX_NETWORKS {
            return false;
        }
        for (key, _) in keys {
            *self.counts.entry(key).or_insert(0) += 1;
        }
        true
    }
}

/// The address a report counts against: the peer's, or, when the peer is a trusted proxy, the
/// last address in its last `X-Forwarded-For` field (the one the proxy appended: what a client
/// wrote there itself comes before it). A field the proxy did not fill counts against the proxy.
pub fn reporter(peer: Option<Peer>, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Peer(address)| {
        address.to_canonical()
    });
    if !trusted.iter().any(|proxy| proxy.contains(peer)) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|field| field.to_str().ok())
        .and_then(|field| field.rsplit(',').next())
        .and_then(|last| forwarded_address(last.trim()))
        .map_or(peer, |address| address.to_canonical())
}

/// An address as proxies write it in `X-Forwarded-For`: bare, or with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), or in brackets (`[2001:db8::1]`).
fn forwarded_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|at| at.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The wider network around `address` (see [`WIDER`]), keyed apart from every [`network`].
fn wider_network(address: IpAddr) -> u128 {
    match address.to_canonical() {
        IpAddr::V4(v4) => u128::from(u32::from(v4) >> 8) | (1 << 126),
        IpAddr::V6(v6) => (u128::from(v6) >> 80) | (3 << 125),
    }
}

/// The part of an address one device controls: a whole IPv4 address, an IPv6 address's /64
/// (a device picks its own addresses inside its network's /64).
fn network(address: IpAddr) -> u128 {
    // An IPv4 client of a server bound to `[::]` arrives as `::ffff:a.b.c.d`: its own network,
    // not the /64 every IPv4 address shares in that form.
    match address.to_canonical() {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => (u128::from(v6) >> 64) | (1 << 127),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn a_network_gets_its_reports_per_window_and_no_more() {
        let start = Instant::now();
        let mut limiter = Limiter::new(2, start);
        let one: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        assert!(limiter.admit(one, start));
        assert!(limiter.admit(one, start));
        assert!(!limiter.admit(one, start));
        assert!(limiter.admit(other, start));
        // The next window forgets them.
        assert!(limiter.admit(one, start + WINDOW));
        // An IPv6 /64 is one network.
        let (a, b): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::ffff:2".parse().unwrap(),
        );
        assert!(limiter.admit(a, start + WINDOW));
        assert!(limiter.admit(b, start + WINDOW));
        assert!(!limiter.admit(a, start + WINDOW));
        assert!(limiter.admit("2001:db8:0:1::1".parse().unwrap(), start + WINDOW));
    }

    #[test]
    fn a_wider_network_gets_ten_networks_worth_however_many_addresses_it_uses() {
        let start = Instant::now();
        let mut limiter = Limiter::new(2, start);
        // 20 /64s of one /48: 20 reports, not 40; a /64 of another /48 still gets its own.
        let admitted = (0..40u32)
            .filter(|n| {
                let address = format!("2001:db8:7:{:x}::1", n / 2);
                limiter.admit(address.parse().unwrap(), start)
            })
            .count();
        assert_eq!(admitted, 20);
        assert!(limiter.admit("2001:db8:8::1".parse().unwrap(), start));
        // The same for IPv4 addresses of one /24.
        let admitted = (0..50u8)
            .filter(|n| limiter.admit(IpAddr::V4(Ipv4Addr::new(198, 51, 100, *n)), start))
            .count();
        assert_eq!(admitted, 20);
    }

    #[test]
    fn ipv4_addresses_mapped_into_ipv6_are_networks_of_their_own() {
        let start = Instant::now();
        let mut limiter = Limiter::new(1, start);
        assert!(limiter.admit("::ffff:203.0.113.7".parse().unwrap(), start));
        assert!(limiter.admit("::ffff:203.0.113.8".parse().unwrap(), start));
        assert!(!limiter.admit("203.0.113.7".parse().unwrap(), start));
    }

    #[test]
    fn only_a_trusted_proxy_names_the_reporter_and_only_its_own_entry_counts() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "198.51.100.4".parse().unwrap();
        // The proxy's subnet, as a load balancer's nodes are named.
        let proxies = [Network::parse("10.0.0.0/24").unwrap()];
        let headers = |fields: &[&str]| {
            let mut headers = HeaderMap::new();
            for field in fields {
                headers.append("x-forwarded-for", HeaderValue::from_str(field).unwrap());
            }
            headers
        };
        // The client's own field comes first; the proxy appends its field, or its entry.
        let spoofed = headers(&["203.0.113.1", "198.51.100.4"]);
        assert_eq!(reporter(Some(Peer(proxy)), &spoofed, &proxies), client);
        let appended = headers(&["203.0.113.1, 198.51.100.4"]);
        assert_eq!(reporter(Some(Peer(proxy)), &appended, &proxies), client);
        // From anyone else the header is ignored.
        assert_eq!(reporter(Some(Peer(client)), &spoofed, &proxies), client);
        assert_eq!(reporter(Some(Peer(proxy)), &spoofed, &[]), proxy);
        // A field that is no address, or none: the proxy's own address.
        assert_eq!(
            reporter(Some(Peer(proxy)), &headers(&["unknown"]), &proxies),
            proxy
        );
        assert_eq!(
            reporter(Some(Peer(proxy)), &HeaderMap::new(), &proxies),
            proxy
        );
        // Addresses with a port or in brackets, as some proxies write them.
        for written in [
            "198.51.100.4:5678",
            "[::ffff:198.51.100.4]",
            "[::ffff:198.51.100.4]:443",
        ] {
            let headers = headers(&[written]);
            assert_eq!(
                reporter(Some(Peer(proxy)), &headers, &proxies),
                client,
                "{written}"
            );
        }
        // A proxy connecting over IPv6 to a dual-stack socket, named by its IPv4 address.
        let mapped = Peer("::ffff:10.0.0.2".parse().unwrap());
        assert_eq!(reporter(Some(mapped), &spoofed, &proxies), client);
    }

    #[test]
    fn the_limiter_never_holds_more_than_its_networks() {
        let start = Instant::now();
        let mut limiter = Limiter::new(1, start);
        // Each address of its own /24: two entries each.
        for n in 0..MAX_NETWORKS as u32 / 2 {
            assert!(limiter.admit(IpAddr::V4(Ipv4Addr::from(n << 8)), start));
        }
        assert!(!limiter.admit(IpAddr::V4(Ipv4Addr::from(u32::MAX)), start));
        assert_eq!(limiter.counts.len(), MAX_NETWORKS);
    }
}
