//! The client's address, seen through trusted reverse proxies.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::Request;

/// The resolved client address of a request.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

/// Returns the socket peer, unless the peer is a trusted proxy: then the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Entries left of it were written
/// by the client and cannot be trusted. Without trusted proxies the header changes nothing.
pub fn resolve_client_ip(request: &Request, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = request
        .remote_addr()
        .as_socket_addr()
        .map(|address| canonical(address.ip()))?;
    if !is_trusted(peer, trusted_proxies) {
        return Some(peer);
    }

    let forwarded: Vec<IpAddr> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .map(canonical)
        .collect();
    let client = forwarded
        .iter()
        .rev()
        .find(|address| !is_trusted(**address, trusted_proxies));
    // Every hop being trusted means the request came from inside; the left-most hop is then
    // the best-known origin.
    Some(client.or(forwarded.first()).copied().unwrap_or(peer))
}

fn is_trusted(address: IpAddr, trusted_proxies: &[IpNet]) -> bool {
    trusted_proxies.iter().any(|network| network.contains(&address))
}

/// Maps an IPv4-mapped IPv6 address to plain IPv4, so one client has one form.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}
