//! [`TrustedProxies`]: the `forwarded_allow_ips` setting, the peers whose
//! forwarding headers are believed.

use std::fmt;
use std::net::IpAddr;

/// The `forwarded_allow_ips` setting, parsed: addresses and CIDR ranges
/// whose forwarding headers are believed, or `*` for every peer.
///
/// IPv4-mapped IPv6 peers (`::ffff:127.0.0.1`, as a dual-stack socket
/// reports IPv4 clients) match the IPv4 entries.
///
/// ```
/// use wsgi_core::forwarded::TrustedProxies;
///
/// let proxies = TrustedProxies::parse(["10.0.0.0/8", "fd00::/8", "192.0.2.1"]).unwrap();
/// assert!(proxies.trusts("10.20.30.40".parse().unwrap()));
/// assert!(proxies.trusts("fd12::1".parse().unwrap()));
/// assert!(proxies.trusts("::ffff:192.0.2.1".parse().unwrap()));
/// assert!(!proxies.trusts("192.0.2.2".parse().unwrap()));
/// assert!(TrustedProxies::parse(["*"]).unwrap().trusts("198.51.100.7".parse().unwrap()));
/// assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    any: bool,
    nets: Vec<(IpAddr, u8)>,
    /// The entries as given, for `Display` (the setting's value).
    entries: Vec<String>,
}

impl TrustedProxies {
    /// Parses the entries (surrounding spaces and empty entries are
    /// ignored): an address, a CIDR range (`10.0.0.0/8`, `fd00::/8`), or
    /// `*`. The error says which entry is wrong and what is accepted.
    pub fn parse<I, S>(entries: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut proxies = TrustedProxies::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                continue;
            }
            proxies.entries.push(entry.to_owned());
            if entry == "*" {
                proxies.any = true;
                continue;
            }
            let invalid = || {
                format!(
                    "`{entry}` is not an IP address, a CIDR range (10.0.0.0/8, fd00::/8) or `*`"
                )
            };
            let (addr, prefix) = match entry.split_once('/') {
                Some((addr, prefix)) => {
                    let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
                    let max = if addr.is_ipv4() { 32 } else { 128 };
                    let prefix: u8 =
                        prefix.parse().ok().filter(|&p| p <= max).ok_or_else(|| {
                            format!("`{entry}`: the prefix length must be 0-{max}")
                        })?;
                    (addr, prefix)
                }
                None => {
                    let addr: IpAddr = entry.parse().map_err(|_| invalid())?;
                    (addr, if addr.is_ipv4() { 32 } else { 128 })
                }
            };
            proxies.nets.push((addr.to_canonical(), prefix));
        }
        Ok(proxies)
    }

    /// `127.0.0.1` and `::1`: the default, a proxy on the same host.
    pub fn loopback() -> Self {
        TrustedProxies {
            any: false,
            nets: vec![
                (IpAddr::from([127, 0, 0, 1]), 32),
                (IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 128),
            ],
            entries: vec!["127.0.0.1".to_owned(), "::1".to_owned()],
        }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        if self.any {
            return true;
        }
        let ip = ip.to_canonical();
        self.nets.iter().any(|&(net, prefix)| match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }

    /// Whether no peer is trusted (the setting is empty).
    pub fn is_empty(&self) -> bool {
        !self.any && self.nets.is_empty()
    }
}

/// Comma-separated entries, as the setting is written
/// (`10.0.0.0/8,fd00::/8`).
impl std::str::FromStr for TrustedProxies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        TrustedProxies::parse(text.split(','))
    }
}

/// The entries as given, comma-separated (empty when no peer is trusted).
impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.entries.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_entries() {
        let proxies = TrustedProxies::parse([" 10.0.0.0/8 ", "", "fd00::/8", "0.0.0.0/0"]).unwrap();
        assert!(proxies.trusts("8.8.8.8".parse().unwrap()), "/0 is every v4");
        assert!(!proxies.trusts("2001:db8::1".parse().unwrap()));
        let proxies = TrustedProxies::parse(["10.1.2.3/8"]).unwrap();
        assert!(
            proxies.trusts("10.200.0.1".parse().unwrap()),
            "host bits ignored"
        );
        for bad in ["10.0.0", "localhost", "10.0.0.0/", "::1/129", "1.2.3.4/x"] {
            let err = TrustedProxies::parse([bad]).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        assert!(TrustedProxies::parse([""]).unwrap().is_empty());
    }

    #[test]
    fn the_setting_is_shown_as_written() {
        let proxies: TrustedProxies = " 10.0.0.0/8, *,::1".parse().unwrap();
        assert_eq!(proxies.to_string(), "10.0.0.0/8,*,::1");
        assert_eq!(TrustedProxies::loopback().to_string(), "127.0.0.1,::1");
        assert_eq!(
            TrustedProxies::loopback(),
            "127.0.0.1,::1".parse::<TrustedProxies>().unwrap()
        );
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }
}
