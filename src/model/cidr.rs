//! IP prefixes: source ranges, pod and service CIDRs, NodePort address ranges.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use super::IpFamily;

/// An IP prefix such as `10.96.0.0/12` or `fd00:10:96::/112`.
///
/// The address is stored with its host bits cleared, so `10.1.2.3/8` and `10.0.0.0/8` are the
/// same `Cidr` (Kubernetes accepts host bits in CIDR fields and kube-proxy uses the network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a string or an (address, prefix length) pair is not a [`Cidr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CidrError {
    /// There is no `/` followed by a prefix length.
    MissingPrefix,
    /// The part before the `/` is not an IPv4 or IPv6 address.
    InvalidAddress,
    /// The part after the `/` is not a decimal number.
    InvalidPrefix,
    /// The prefix length is larger than the address family allows.
    PrefixTooLong {
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
}

impl Cidr {
    /// The prefix `addr/prefix_len`, host bits cleared; an error when `prefix_len` is longer
    /// than the family allows.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, CidrError> {
        let max = IpFamily::of(addr).bits();
        if prefix_len > max {
            return Err(CidrError::PrefixTooLong { max });
        }
        Ok(Self {
            addr: mask(addr, prefix_len),
            prefix_len,
        })
    }

    /// The prefix holding exactly `addr` (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            prefix_len: IpFamily::of(addr).bits(),
        }
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The address family of the prefix.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.addr)
    }

    /// True when `ip` lies inside the prefix. An address of the other family is never inside.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpFamily::of(ip) == self.family() && mask(ip, self.prefix_len) == self.addr
    }
}

/// Clears the host bits of `addr`; `len` is at most the family's width.
#[inline]
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let keep = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & keep))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let keep = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & keep))
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `address/length`. Leading and trailing whitespace is ignored, as the API server
    /// and kube-proxy trim `loadBalancerSourceRanges` values.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = s.trim().split_once('/').ok_or(CidrError::MissingPrefix)?;
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::InvalidAddress)?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::InvalidPrefix);
        }
        let len: u8 = len.parse().map_err(|_| CidrError::InvalidPrefix)?;
        Self::new(addr, len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingPrefix => f.write_str("missing '/' and prefix length"),
            Self::InvalidAddress => f.write_str("not an IPv4 or IPv6 address"),
            Self::InvalidPrefix => f.write_str("prefix length is not a decimal number"),
            Self::PrefixTooLong { max } => write!(f, "prefix length is longer than {max}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CidrError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display() {
        let c: Cidr = "203.0.113.0/24".parse().unwrap();
        assert_eq!(c.addr(), ip("203.0.113.0"));
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(c.family(), IpFamily::V4);
        assert_eq!(c.to_string(), "203.0.113.0/24");
        let c6: Cidr = "fd00:10:96::/112".parse().unwrap();
        assert_eq!(c6.family(), IpFamily::V6);
        assert_eq!(c6.to_string(), "fd00:10:96::/112");
    }

    #[test]
    fn parse_trims_whitespace_like_kube_proxy() {
        let c: Cidr = "  10.0.0.0/8 \t\n".parse().unwrap();
        assert_eq!(c, "10.0.0.0/8".parse().unwrap());
    }

    #[test]
    fn host_bits_are_cleared() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.addr(), ip("10.0.0.0"));
        assert_eq!(c, Cidr::new(ip("10.0.0.0"), 8).unwrap());
    }

    #[test]
    fn parse_errors_are_typed() {
        assert_eq!("10.0.0.0".parse::<Cidr>(), Err(CidrError::MissingPrefix));
        assert_eq!("10.0.0/8".parse::<Cidr>(), Err(CidrError::InvalidAddress));
        assert_eq!("10.0.0.0/".parse::<Cidr>(), Err(CidrError::InvalidPrefix));
        assert_eq!("10.0.0.0/+8".parse::<Cidr>(), Err(CidrError::InvalidPrefix));
        assert_eq!(
            "10.0.0.0/1000".parse::<Cidr>(),
            Err(CidrError::InvalidPrefix)
        );
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { max: 32 })
        );
        assert_eq!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { max: 128 })
        );
        assert_eq!(
            "10.0.0.0 /8".parse::<Cidr>(),
            Err(CidrError::InvalidAddress)
        );
    }

    #[test]
    fn contains() {
        let c: Cidr = "203.0.113.0/24".parse().unwrap();
        assert!(c.contains(ip("203.0.113.0")));
        assert!(c.contains(ip("203.0.113.255")));
        assert!(!c.contains(ip("203.0.114.0")));
        assert!(!c.contains(ip("::ffff:203.0.113.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        assert!(!all.contains(ip("::1")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert!(all6.contains(ip("fd00::1")));
        let c6: Cidr = "fd00:10:244::/56".parse().unwrap();
        assert!(c6.contains(ip("fd00:10:244:ff::2")));
        assert!(!c6.contains(ip("fd00:10:245::2")));
        let h = Cidr::host(ip("10.0.0.1"));
        assert!(h.contains(ip("10.0.0.1")));
        assert!(!h.contains(ip("10.0.0.2")));
    }
}
