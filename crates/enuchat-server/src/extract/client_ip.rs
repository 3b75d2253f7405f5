//! The caller's address, for the limits counted per address (new visitors,
//! new conversations, failed sign-ins).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The TCP peer, or, when the operator said a proxy of theirs sits in front
/// (`trust_forwarded_for`), the address that proxy saw (see
/// [`nearest_forwarded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// What a limit per address counts: an IPv4 address (also when it
    /// arrives IPv4-mapped, as on a dual-stack socket), or the /64 network
    /// of an IPv6 address. One subscriber usually holds a whole /64, so
    /// counting single IPv6 addresses would let them take a fresh one for
    /// every request.
    pub fn network(&self) -> IpAddr {
        match self.0 {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let prefix = u128::from(v6) & !(u128::from(u64::MAX));
                    IpAddr::V6(Ipv6Addr::from(prefix))
                }
            },
        }
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.trust_forwarded_for {
            if let Some(ip) = nearest_forwarded(&parts.headers) {
                return Ok(ClientIp(ip));
            }
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| ClientIp(addr.ip()))
            .ok_or_else(|| ApiError::Internal("server started without connect info".into()))
    }
}

/// The address the proxy in front of this server saw: the last entry of the
/// last `X-Forwarded-For` line. Proxies append what they saw, so the entries
/// before it are what the client (or hops further out) claimed, and a client
/// can put anything there. Taking the first entry would let anyone pick the
/// address their limits are counted on. Behind a chain of proxies, the one
/// nearest to this server should set the header to the client address it
/// trusts (nginx's `realip` module does that).
///
/// `None` when there is no usable entry: then the TCP peer (the proxy) is
/// used, which is safe, only coarser.
fn nearest_forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    let line = headers.get_all("x-forwarded-for").iter().next_back()?;
    // Only the proxy's entry is decoded: bytes a client put earlier in the
    // line must not make the whole line unusable (that would move the client
    // onto the proxy's address, a bucket shared with others).
    let tail = line.as_bytes().rsplit(|&byte| byte == b',').next()?;
    let entry = std::str::from_utf8(tail).ok()?.trim();
    // Some proxies add the port (`203.0.113.7:41234`, `[2001:db8::1]:443`).
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::{nearest_forwarded, ClientIp};
    use axum::http::{HeaderMap, HeaderValue};
    use std::net::IpAddr;

    fn forwarded(lines: &[&str]) -> Option<IpAddr> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        nearest_forwarded(&headers)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_entry_the_nearest_proxy_added_counts_not_what_the_client_claimed() {
        assert_eq!(forwarded(&["198.51.100.7"]), Some(ip("198.51.100.7")));
        assert_eq!(
            forwarded(&["203.0.113.1, 198.51.100.7"]),
            Some(ip("198.51.100.7"))
        );
        // A second header line was added after the first.
        assert_eq!(
            forwarded(&["203.0.113.1", "198.51.100.9 , 198.51.100.7 "]),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(forwarded(&["198.51.100.7:41234"]), Some(ip("198.51.100.7")));
        assert_eq!(forwarded(&["[2001:db8::1]:443"]), Some(ip("2001:db8::1")));
    }

    #[test]
    fn bytes_the_client_sent_do_not_hide_the_proxys_entry() {
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\x80\xff, 198.51.100.7").unwrap(),
        );
        assert_eq!(nearest_forwarded(&headers), Some(ip("198.51.100.7")));
    }

    #[test]
    fn no_usable_entry_means_no_forwarded_address() {
        assert_eq!(forwarded(&[]), None);
        assert_eq!(forwarded(&["198.51.100.7, unknown"]), None);
        assert_eq!(forwarded(&[""]), None);
        assert_eq!(forwarded(&["198.51.100.7,"]), None);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_network_and_mapped_ipv4_as_ipv4() {
        let network = |text: &str| ClientIp(ip(text)).network();
        assert_eq!(network("198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(network("::ffff:198.51.100.7"), ip("198.51.100.7"));
        assert_eq!(network("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2::"));
        assert_eq!(
            network("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            network("2001:db8:1:2::1")
        );
        assert_ne!(network("2001:db8:1:3::1"), network("2001:db8:1:2::1"));
    }
}
