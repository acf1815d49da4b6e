//! Which address a request comes from: the socket's peer, unless that peer is a trusted
//! proxy, in which case `X-Forwarded-For` is read from the right, skipping trusted hops, and
//! the first untrusted address is the client. A header sent by anyone else changes nothing,
//! so a client cannot pick its own rate-limit bucket.

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use ipnet::IpNet;
use std::net::IpAddr;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `192.0.2.1`, `::1`, `fd00::/8`…; empty entries are skipped.
    ///
    /// # Errors
    /// The first entry that is neither an address nor a CIDR range.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in entries.iter().map(|e| e.as_ref().trim()).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => entry
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("`{entry}` is neither an IP address nor a CIDR range"))?,
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address for a request whose socket peer is `peer`.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: &[&str]) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !self.trusts(peer) {
            return Some(peer);
        }
        // Each proxy appends the address it received from, so the rightmost entries are
        // the nearest hops; the first one not trusted is the client as far as we can know.
        let hops: Vec<&str> = forwarded_for.iter().flat_map(|h| h.split(',')).map(str::trim).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(addr) => {
                    client = canonical(addr);
                    if !self.trusts(client) {
                        return Some(client);
                    }
                }
                // A garbled entry ends what can be believed: the last good hop stands.
                Err(_) => return Some(client),
            }
        }
        Some(client)
    }

    /// The client's address for `req`.
    pub fn client_ip_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let headers: Vec<&str> =
            req.headers().get_all(X_FORWARDED_FOR).filter_map(|value| value.to_str().ok()).collect();
        self.client_ip(req.peer_addr().map(|addr| addr.ip()), &headers)
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:192.0.2.1`) is the IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(Some(ip("203.0.113.7")), &["198.51.100.1"]), Some(ip("203.0.113.7")));
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_changes_nothing() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client_ip(Some(ip("203.0.113.7")), &["198.51.100.1"]), Some(ip("203.0.113.7")));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client forged the first entry; the proxies appended the rest.
        let header = ["1.1.1.1, 203.0.113.7, 10.1.2.3"];
        assert_eq!(trusted.client_ip(Some(ip("192.0.2.1")), &header), Some(ip("203.0.113.7")));
        // Several headers are one list, in order.
        let headers = ["1.1.1.1", "203.0.113.9", "10.1.2.3"];
        assert_eq!(trusted.client_ip(Some(ip("10.0.0.1")), &headers), Some(ip("203.0.113.9")));
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client_ip(Some(ip("10.0.0.1")), &[]), Some(ip("10.0.0.1")));
        assert_eq!(trusted.client_ip(Some(ip("10.0.0.1")), &["garbage"]), Some(ip("10.0.0.1")));
        assert_eq!(trusted.client_ip(Some(ip("10.0.0.1")), &["10.0.0.2"]), Some(ip("10.0.0.2")));
        assert_eq!(trusted.client_ip(None, &["203.0.113.7"]), None);
    }

    #[test]
    fn ipv4_mapped_ipv6_peers_match_ipv4_ranges() {
        let trusted = proxies(&["127.0.0.1"]);
        assert_eq!(trusted.client_ip(Some(ip("::ffff:127.0.0.1")), &["203.0.113.7"]), Some(ip("203.0.113.7")));
    }

    #[test]
    fn entries_that_are_not_addresses_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.internal"]).is_err());
        assert_eq!(TrustedProxies::parse(&["", " ::1 "]).unwrap(), proxies(&["::1/128"]));
    }
}
