//! NAT header rewriting: DNAT, SNAT, both, and the reverse for replies, in place, with
//! incremental checksum updates (RFC 1624), for IPv4 and IPv6 carrying TCP, UDP, SCTP and ICMP
//! echo, and for ICMP errors (the quoted header is rewritten too).
//!
//! # Model
//! A packet is parsed once ([`parse`]) into a [`Parsed`] summary: its [`Tuple`], where its
//! layers start, and what kind of transport it carries. A [`Rewrite`] names the new source
//! and/or destination address and port; [`apply`] writes it and updates every checksum the
//! change touches. [`rewrite`] does both.
//!
//! - **Ports.** TCP, UDP and SCTP ports are rewritten as given. For ICMP echo the identifier
//!   plays the port's role: it is the *source* port of an echo request and the *destination*
//!   port of an echo reply, so the reply of a flow is its exact mirror (as in Linux conntrack).
//! - **Replies.** [`Rewrite::reply`] turns the rewrite of a flow's first packet into the one
//!   that restores the original addresses on the replies.
//! - **ICMP errors** (ICMPv4 destination unreachable incl. fragmentation needed, source quench,
//!   redirect, time exceeded, parameter problem: the types Linux's `icmp_is_err` names; every
//!   ICMPv6 type below 128, RFC 4443 §2.1) travel in the direction opposite to the packet they quote.
//!   Pass them the rewrite of their own direction (for an error from a backend, the reply
//!   rewrite): the quoted packet gets the mirror of it (its source takes the rewrite's
//!   destination and the other way round), with its IPv4 header checksum and, where the quote
//!   holds them, its transport checksum updated. The outer destination takes the rewrite's
//!   destination address. The outer source takes the rewrite's source address only when the
//!   error was sent by the quoted packet's destination itself (a backend answering "port
//!   unreachable"); an error from a router on the path keeps the router's address, so
//!   traceroute and path-MTU discovery still show who spoke. A quoted transport checksum is
//!   updated when the quote holds all of it; a quote that ends inside the field leaves it as it
//!   is (its new value depends on the missing byte), as Linux does.
//! - **Fragments.** A non-first IPv4/IPv6 fragment has no transport header: only its
//!   addresses are rewritten. A first fragment is rewritten like a whole packet (the
//!   transport checksum covers the whole datagram and is updated incrementally), except that
//!   an SCTP port change needs the datagram's full length and is refused. An IPv6 atomic
//!   fragment (offset 0, no more fragments) is a whole packet (RFC 6946 §4). A quoted packet
//!   of another protocol than TCP, UDP, SCTP or the family's ICMP ([`Kind::OtherProtocol`])
//!   gets only its addresses rewritten.
//!
//! # Guarantees
//! - No allocation, no panic, O(1) work (at most [`wire::ipv6::MAX_EXTENSION_HEADERS`]
//!   extension headers are walked; an SCTP port change costs O(log length)).
//! - On any error the buffer is left exactly as it was: everything is checked before the
//!   first byte is written.
//! - Checksums are updated, never recomputed: when the input's checksums were correct, the
//!   output's equal a full recomputation; when they were wrong, they stay wrong, so a
//!   corrupted packet is never made to look valid. UDP over IPv4 without a checksum keeps none.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::{self, checksum::Delta, icmpv4, icmpv6, ip_protocol, ipv4, ipv6, tcp, udp};

/// Why a packet could not be rewritten. The buffer is unchanged in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the headers (or lengths) the packet announces.
    Truncated,
    /// A header holds a value the protocol forbids (including a zero UDP checksum over IPv6,
    /// which RFC 8200 §8.1 says receivers must drop).
    Malformed,
    /// A well-formed packet svcplane does not rewrite: another transport protocol, ESP or AH,
    /// an IPv6 routing header with segments left, an ICMP error quoting an ICMP error, or an
    /// SCTP port change in a first fragment.
    Unsupported,
    /// The rewrite names an address of the other IP family.
    FamilyMismatch,
}

impl From<wire::Error> for Error {
    fn from(e: wire::Error) -> Self {
        match e {
            wire::Error::Truncated => Error::Truncated,
            wire::Error::Malformed => Error::Malformed,
            wire::Error::Unsupported => Error::Unsupported,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Unsupported => "packet kind not supported for rewriting",
            Error::FamilyMismatch => "rewrite address family differs from the packet's",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// The IP version of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// The addresses and ports of a packet, with its transport protocol.
///
/// For ICMP echo the identifier is `src_port` of a request and `dst_port` of a reply (the
/// other one is 0); packets without ports (non-first fragments, other ICMP) carry 0 and 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// IP protocol number (see [`wire::ip_protocol`]).
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (or echo-request identifier).
    pub src_port: u16,
    /// Destination port (or echo-reply identifier).
    pub dst_port: u16,
}

impl Tuple {
    /// The tuple of a packet going the other way.
    pub fn reversed(&self) -> Tuple {
        Tuple {
            protocol: self.protocol,
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }
}

/// What a packet's transport layer is, as far as rewriting goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// TCP, UDP or SCTP, with its ports.
    Ports,
    /// ICMP or ICMPv6 echo; `request` tells which way (the identifier's role depends on it).
    Echo {
        /// True for an echo request, false for an echo reply.
        request: bool,
    },
    /// A non-first fragment: no transport header, only the addresses are rewritten.
    Fragment,
    /// An ICMP or ICMPv6 error quoting a packet, described by [`Parsed::inner`].
    IcmpError,
    /// Another ICMP message (no identifier): only the addresses are rewritten.
    IcmpOther,
    /// A quoted packet (in an ICMP error) of another IP protocol, GRE or IP-in-IP say, or an
    /// IPv6 packet whose extension headers are not walked (ESP, AH, a routing header with
    /// segments left: its tuple then has protocol 59, "no next header"): nothing past its IP
    /// header is known, so only the addresses are rewritten.
    OtherProtocol,
}

/// Fragmentation of the packet (IPv4 header fields or the IPv6 fragment header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub ident: u32,
    /// Offset of this fragment's data in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

/// The packet quoted inside an ICMP error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Inner {
    /// The quoted packet's addresses and ports (as it was sent, before the error).
    pub tuple: Tuple,
    /// Offset of the quoted IP header in the buffer.
    pub l3_offset: usize,
    /// Offset of the quoted transport header in the buffer.
    pub l4_offset: usize,
    /// What the quoted transport layer is: [`Kind::Ports`], [`Kind::Echo`] or
    /// [`Kind::Fragment`] (no ports quoted, addresses only).
    pub kind: Kind,
    /// The full length of the quoted transport segment as its IP header gives it, when known
    /// (needed to update a quoted SCTP CRC32c).
    pub l4_len: Option<usize>,
}

/// A parsed packet: everything [`apply`] needs, found once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Parsed {
    /// IP version.
    pub family: Family,
    /// The outer addresses and ports.
    pub tuple: Tuple,
    /// Offset of the transport header (or of the fragment data) in the buffer.
    pub l4_offset: usize,
    /// End of the packet as its IP header gives it (bytes after it are padding).
    pub end: usize,
    /// The transport kind.
    pub kind: Kind,
    /// TCP flags; for SCTP, the [`wire::sctp::chunks`] bits of its chunks
    /// ([`wire::sctp::chunk_bits`]); 0 for other protocols.
    pub tcp_flags: u8,
    /// Fragmentation, when the packet is a fragment.
    pub fragment: Option<Fragment>,
    /// The quoted packet, for [`Kind::IcmpError`].
    pub inner: Option<Inner>,
}

/// New addresses and ports for a packet; `None` keeps the field as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rewrite {
    /// New source address.
    pub src_addr: Option<IpAddr>,
    /// New source port (echo-request identifier).
    pub src_port: Option<u16>,
    /// New destination address.
    pub dst_addr: Option<IpAddr>,
    /// New destination port (echo-reply identifier).
    pub dst_port: Option<u16>,
}

impl Rewrite {
    /// Destination NAT to `addr:port`.
    pub fn dnat(addr: IpAddr, port: u16) -> Rewrite {
        Rewrite {
            dst_addr: Some(addr),
            dst_port: Some(port),
            ..Rewrite::default()
        }
    }

    /// Source NAT to `addr:port`.
    pub fn snat(addr: IpAddr, port: u16) -> Rewrite {
        Rewrite {
            src_addr: Some(addr),
            src_port: Some(port),
            ..Rewrite::default()
        }
    }

    /// Adds a source NAT to this rewrite.
    pub fn with_snat(mut self, addr: IpAddr, port: u16) -> Rewrite {
        self.src_addr = Some(addr);
        self.src_port = Some(port);
        self
    }

    /// The rewrite for replies of a flow whose packets had `before` as their tuple and get
    /// this rewrite: it restores `before`'s destination as the replies' source and `before`'s
    /// source as their destination, for exactly the fields this rewrite changes.
    pub fn reply(&self, before: &Tuple) -> Rewrite {
        Rewrite {
            src_addr: self.dst_addr.map(|_| before.dst),
            src_port: self.dst_port.map(|_| before.dst_port),
            dst_addr: self.src_addr.map(|_| before.src),
            dst_port: self.src_port.map(|_| before.src_port),
        }
    }

    /// The tuple a packet with tuple `t` has after this rewrite (ports of packets without
    /// ports stay 0; the identifier of an echo message follows the rule in the module docs).
    pub fn applied_to(&self, t: &Tuple, kind: Kind) -> Tuple {
        let mut out = Tuple {
            protocol: t.protocol,
            src: self.src_addr.unwrap_or(t.src),
            dst: self.dst_addr.unwrap_or(t.dst),
            src_port: t.src_port,
            dst_port: t.dst_port,
        };
        match kind {
            Kind::Ports => {
                out.src_port = self.src_port.unwrap_or(t.src_port);
                out.dst_port = self.dst_port.unwrap_or(t.dst_port);
            }
            Kind::Echo { request: true } => out.src_port = self.src_port.unwrap_or(t.src_port),
            Kind::Echo { request: false } => out.dst_port = self.dst_port.unwrap_or(t.dst_port),
            _ => {}
        }
        out
    }

    fn check_family(&self, family: Family) -> Result<(), Error> {
        let ok = |a: &Option<IpAddr>| a.map_or(true, |a| Family::of(&a) == family);
        if ok(&self.src_addr) && ok(&self.dst_addr) {
            Ok(())
        } else {
            Err(Error::FamilyMismatch)
        }
    }

    /// The mirror: source and destination swapped (what a quoted packet gets).
    fn mirrored(&self) -> Rewrite {
        Rewrite {
            src_addr: self.dst_addr,
            src_port: self.dst_port,
            dst_addr: self.src_addr,
            dst_port: self.src_port,
        }
    }
}

/// Parses the IP packet at the start of `buf` and rewrites it in place. See the module docs.
pub fn rewrite(buf: &mut [u8], rw: &Rewrite) -> Result<Parsed, Error> {
    let p = parse(buf)?;
    apply(buf, &p, rw)?;
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parses the IP packet at the start of `buf` (an IPv4 or IPv6 header first).
///
/// Checks everything [`apply`] relies on, so that a successful parse followed by `apply` on
/// the same bytes can only fail for a rewrite that does not fit the packet.
pub fn parse(buf: &[u8]) -> Result<Parsed, Error> {
    match buf.first().map(|b| b >> 4) {
        Some(4) => parse_v4(buf),
        Some(6) => parse_v6(buf),
        Some(_) => Err(Error::Malformed),
        None => Err(Error::Truncated),
    }
}

/// The IP layer of a packet whose transport [`parse`] does not read: a well-formed IPv4 or
/// IPv6 packet (extension headers included) carrying another protocol than TCP, UDP, SCTP or
/// ICMP / ICMPv6 (GRE, ESP, OSPF, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OtherProtocol {
    /// The packet's source address.
    pub src: IpAddr,
    /// The packet's destination address.
    pub dst: IpAddr,
    /// Offset of the upper-layer header (after any IPv6 extension headers).
    pub l4_offset: usize,
    /// End of the packet as its IP header gives it.
    pub end: usize,
}

/// [`OtherProtocol`] of `buf`, or `None` when its IP header is malformed or truncated or it
/// carries a protocol [`parse`] reads (then [`parse`] says what it is).
pub(crate) fn other_protocol(buf: &[u8]) -> Option<OtherProtocol> {
    let (src, dst, l4_offset, end, protocol, icmp) = match buf.first().map(|b| b >> 4)? {
        4 => {
            let ip = ipv4::Packet::new_checked(buf).ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(ip.src_addr())),
                IpAddr::V4(Ipv4Addr::from(ip.dst_addr())),
                ip.header_len(),
                usize::from(ip.total_len()),
                ip.protocol(),
                ip_protocol::ICMP,
            )
        }
        6 => {
            let ip = ipv6::Packet::new_checked(buf).ok()?;
            if is_v4_mapped(&ip.src_addr()) || is_v4_mapped(&ip.dst_addr()) {
                return None;
            }
            let end = ipv6::HEADER_LEN + usize::from(ip.payload_len());
            // ESP, AH and "no next header" end the walk as unsupported: another protocol.
            let (offset, protocol) = match ipv6::upper_layer(buf.get(..end)?) {
                Ok(ul) => (ul.offset, ul.protocol),
                Err(wire::Error::Unsupported) => (ipv6::HEADER_LEN, ip_protocol::IPV6_NO_NEXT),
                Err(_) => return None,
            };
            (
                IpAddr::V6(Ipv6Addr::from(ip.src_addr())),
                IpAddr::V6(Ipv6Addr::from(ip.dst_addr())),
                offset,
                end,
                protocol,
                ip_protocol::ICMPV6,
            )
        }
        _ => return None,
    };
    let read = [ip_protocol::TCP, ip_protocol::UDP, ip_protocol::SCTP, icmp];
    (!read.contains(&protocol) && l4_offset <= end && end <= buf.len()).then_some(OtherProtocol {
        src,
        dst,
        l4_offset,
        end,
    })
}

fn parse_v4(buf: &[u8]) -> Result<Parsed, Error> {
    let ip = ipv4::Packet::new_checked(buf)?;
    let end = usize::from(ip.total_len());
    let l4_offset = ip.header_len();
    let fragment = (ip.more_frags() || ip.frag_offset() != 0).then(|| Fragment {
        ident: u32::from(ip.ident()),
        offset: ip.frag_offset(),
        more: ip.more_frags(),
    });
    let tuple = Tuple {
        protocol: ip.protocol(),
        src: IpAddr::V4(Ipv4Addr::from(ip.src_addr())),
        dst: IpAddr::V4(Ipv4Addr::from(ip.dst_addr())),
        src_port: 0,
        dst_port: 0,
    };
    finish_parse(Family::V4, buf, tuple, l4_offset, end, fragment)
}

/// Whether a 16-byte address is IPv4-mapped (`::ffff:a.b.c.d`): such an address stands for an
/// IPv4 node inside software and never belongs in an IPv6 header on the wire (RFC 4291
/// §2.5.5.2; Linux drops packets from one). svcplane refuses them: its flow keys hold IPv4 as
/// IPv4-mapped, so such a packet would otherwise alias an IPv4 flow.
#[inline(always)]
fn is_v4_mapped(a: &[u8; 16]) -> bool {
    a[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
}

fn parse_v6(buf: &[u8]) -> Result<Parsed, Error> {
    let ip = ipv6::Packet::new_checked(buf)?;
    if is_v4_mapped(&ip.src_addr()) || is_v4_mapped(&ip.dst_addr()) {
        return Err(Error::Malformed);
    }
    let end = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let ul = ipv6::upper_layer(&buf[..end])?;
    // An atomic fragment (offset 0, no more fragments) is a whole packet (RFC 6946 §4).
    let fragment = ul
        .fragment
        .filter(|f| f.offset != 0 || f.more)
        .map(|f| Fragment {
            ident: f.ident,
            offset: f.offset,
            more: f.more,
        });
    let tuple = Tuple {
        protocol: ul.protocol,
        src: IpAddr::V6(Ipv6Addr::from(ip.src_addr())),
        dst: IpAddr::V6(Ipv6Addr::from(ip.dst_addr())),
        src_port: 0,
        dst_port: 0,
    };
    finish_parse(Family::V6, buf, tuple, ul.offset, end, fragment)
}

fn finish_parse(
    family: Family,
    buf: &[u8],
    mut tuple: Tuple,
    l4_offset: usize,
    end: usize,
    fragment: Option<Fragment>,
) -> Result<Parsed, Error> {
    let mut parsed = Parsed {
        family,
        tuple,
        l4_offset,
        end,
        kind: Kind::Fragment,
        tcp_flags: 0,
        fragment,
        inner: None,
    };
    if fragment.is_some_and(|f| f.offset != 0) {
        return Ok(parsed);
    }
    let l4 = buf.get(l4_offset..end).ok_or(Error::Truncated)?;
    let whole = fragment.is_none();
    match (tuple.protocol, family) {
        (ip_protocol::TCP, _) => {
            let t = tcp::Packet::new_checked(l4)?;
            tuple.src_port = t.src_port();
            tuple.dst_port = t.dst_port();
            parsed.tcp_flags = t.flags();
            parsed.kind = Kind::Ports;
        }
        (ip_protocol::UDP, _) => {
            let u = udp::Packet::new_checked(l4)?;
            if whole && (usize::from(u.len()) < udp::HEADER_LEN || usize::from(u.len()) > l4.len())
            {
                return Err(Error::Malformed);
            }
            if family == Family::V6 && u.checksum() == 0 {
                return Err(Error::Malformed);
            }
            tuple.src_port = u.src_port();
            tuple.dst_port = u.dst_port();
            parsed.kind = Kind::Ports;
        }
        (ip_protocol::SCTP, _) => {
            let s = wire::sctp::Packet::new_checked(l4)?;
            tuple.src_port = s.src_port();
            tuple.dst_port = s.dst_port();
            parsed.tcp_flags = wire::sctp::chunk_bits(l4);
            parsed.kind = Kind::Ports;
        }
        (ip_protocol::ICMP, Family::V4) => {
            let i = icmpv4::Packet::new_checked(l4)?;
            match i.msg_type() {
                icmpv4::msg_type::ECHO_REQUEST => {
                    tuple.src_port = i.echo_ident();
                    parsed.kind = Kind::Echo { request: true };
                }
                icmpv4::msg_type::ECHO_REPLY => {
                    tuple.dst_port = i.echo_ident();
                    parsed.kind = Kind::Echo { request: false };
                }
                t if icmpv4::is_error(t) => {
                    parsed.inner = Some(parse_inner(
                        Family::V4,
                        buf,
                        l4_offset + icmpv4::HEADER_LEN,
                        end,
                    )?);
                    parsed.kind = Kind::IcmpError;
                }
                _ => parsed.kind = Kind::IcmpOther,
            }
        }
        (ip_protocol::ICMPV6, Family::V6) => {
            let i = icmpv6::Packet::new_checked(l4)?;
            match i.msg_type() {
                icmpv6::msg_type::ECHO_REQUEST => {
                    tuple.src_port = i.echo_ident();
                    parsed.kind = Kind::Echo { request: true };
                }
                icmpv6::msg_type::ECHO_REPLY => {
                    tuple.dst_port = i.echo_ident();
                    parsed.kind = Kind::Echo { request: false };
                }
                t if icmpv6::is_error(t) => {
                    parsed.inner = Some(parse_inner(
                        Family::V6,
                        buf,
                        l4_offset + icmpv6::HEADER_LEN,
                        end,
                    )?);
                    parsed.kind = Kind::IcmpError;
                }
                _ => parsed.kind = Kind::IcmpOther,
            }
        }
        _ => return Err(Error::Unsupported),
    }
    parsed.tuple = tuple;
    Ok(parsed)
}

/// Parses the packet an ICMP error quotes, starting at `l3_offset` and ending at `end` (the
/// outer packet's end): usually truncated, so only its headers are required.
fn parse_inner(family: Family, buf: &[u8], l3_offset: usize, end: usize) -> Result<Inner, Error> {
    let q = buf.get(l3_offset..end).ok_or(Error::Truncated)?;
    let (mut tuple, l4_rel, nonfirst, l4_len) = match family {
        Family::V4 => {
            let ip = ipv4::Packet::new_unchecked(q);
            ip.check_header_len()?;
            let hl = ip.header_len();
            let frag = ip.more_frags() || ip.frag_offset() != 0;
            let t = Tuple {
                protocol: ip.protocol(),
                src: IpAddr::V4(Ipv4Addr::from(ip.src_addr())),
                dst: IpAddr::V4(Ipv4Addr::from(ip.dst_addr())),
                src_port: 0,
                dst_port: 0,
            };
            let l4_len = usize::from(ip.total_len()).checked_sub(hl);
            (
                t,
                hl,
                ip.frag_offset() != 0,
                if frag { None } else { l4_len },
            )
        }
        Family::V6 => {
            let ip = ipv6::Packet::new_unchecked(q);
            ip.check_header_len()?;
            if is_v4_mapped(&ip.src_addr()) || is_v4_mapped(&ip.dst_addr()) {
                return Err(Error::Malformed);
            }
            let ul = match ipv6::upper_layer(q) {
                Ok(ul) => ul,
                // ESP, AH, no next header, a routing header with segments left, too many
                // extension headers: nothing past the fixed header is known, so the quote is
                // taken as `other_protocol` takes such a packet itself (addresses only, no
                // flow of it is tracked). The error is still about that packet and must reach
                // it (RFC 4443 §2.4; a Packet Too Big must not be filtered, RFC 4890 §4.3.1),
                // as IPv4 errors quoting ESP or GRE do.
                Err(wire::Error::Unsupported) => {
                    let tuple = Tuple {
                        protocol: ip_protocol::IPV6_NO_NEXT,
                        src: IpAddr::V6(Ipv6Addr::from(ip.src_addr())),
                        dst: IpAddr::V6(Ipv6Addr::from(ip.dst_addr())),
                        src_port: 0,
                        dst_port: 0,
                    };
                    return Ok(Inner {
                        tuple,
                        l3_offset,
                        l4_offset: l3_offset + ipv6::HEADER_LEN,
                        kind: Kind::OtherProtocol,
                        l4_len: None,
                    });
                }
                Err(e) => return Err(e.into()),
            };
            let t = Tuple {
                protocol: ul.protocol,
                src: IpAddr::V6(Ipv6Addr::from(ip.src_addr())),
                dst: IpAddr::V6(Ipv6Addr::from(ip.dst_addr())),
                src_port: 0,
                dst_port: 0,
            };
            let total = ipv6::HEADER_LEN + usize::from(ip.payload_len());
            let l4_len = total.checked_sub(ul.offset);
            let nonfirst = ul.fragment.is_some_and(|f| f.offset != 0);
            // An atomic fragment is whole (RFC 6946 §4): its length is the segment's.
            let fragmented = ul.fragment.is_some_and(|f| f.offset != 0 || f.more);
            let l4_len = if fragmented { None } else { l4_len };
            (t, ul.offset, nonfirst, l4_len)
        }
    };
    let l4_offset = l3_offset + l4_rel;
    let mut inner = Inner {
        tuple,
        l3_offset,
        l4_offset,
        kind: Kind::Fragment,
        l4_len,
    };
    if nonfirst {
        return Ok(inner);
    }
    // RFC 792 and RFC 4443 quote at least 8 bytes of the transport header: enough for the
    // ports (and the UDP checksum, and an echo identifier and checksum).
    let l4 = q.get(l4_rel..).ok_or(Error::Truncated)?;
    let head = l4.get(..8).ok_or(Error::Truncated)?;
    let port = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
    match (tuple.protocol, family) {
        (ip_protocol::TCP | ip_protocol::UDP | ip_protocol::SCTP, _) => {
            tuple.src_port = port(0);
            tuple.dst_port = port(2);
            inner.kind = Kind::Ports;
        }
        (ip_protocol::ICMP, Family::V4) | (ip_protocol::ICMPV6, Family::V6) => {
            let (req, rep) = if family == Family::V4 {
                (icmpv4::msg_type::ECHO_REQUEST, icmpv4::msg_type::ECHO_REPLY)
            } else {
                (icmpv6::msg_type::ECHO_REQUEST, icmpv6::msg_type::ECHO_REPLY)
            };
            let is_err = if family == Family::V4 {
                icmpv4::is_error(head[0])
            } else {
                icmpv6::is_error(head[0])
            };
            if is_err {
                // RFC 1122 §3.2.2 / RFC 4443 §2.4(e): never an error about an error.
                return Err(Error::Unsupported);
            }
            if head[0] == req {
                tuple.src_port = port(4);
                inner.kind = Kind::Echo { request: true };
            } else if head[0] == rep {
                tuple.dst_port = port(4);
                inner.kind = Kind::Echo { request: false };
            } else {
                inner.kind = Kind::IcmpOther;
            }
        }
        // Not ICMP of this family: its bytes 2-3 are not a checksum to update.
        _ => inner.kind = Kind::OtherProtocol,
    }
    inner.tuple = tuple;
    Ok(inner)
}

// ---------------------------------------------------------------------------------------------
// Rewriting

/// Offsets of the source and destination address fields from the IP header start.
#[inline]
fn addr_fields(family: Family) -> (usize, usize, usize) {
    match family {
        Family::V4 => (12, 16, 4),
        Family::V6 => (8, 24, 16),
    }
}

/// Bounds-checked big-endian reads and writes; the offsets were checked by [`parse`], so the
/// fallbacks are never taken for a buffer that was parsed, and nothing here can panic.
#[inline]
fn rd16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

#[inline]
fn wr16(buf: &mut [u8], at: usize, v: u16) {
    if let Some(s) = buf.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Writes a new 16-bit field value and records the change.
#[inline]
fn set16(buf: &mut [u8], at: usize, v: u16, d: &mut Delta) {
    let old = rd16(buf, at);
    if old != v {
        d.replace(old, v);
        wr16(buf, at, v);
    }
}

/// Writes the address field at `at` (the family's length) and records the change.
#[inline]
fn set_addr(buf: &mut [u8], at: usize, new: &IpAddr, d: &mut Delta) {
    match new {
        IpAddr::V4(a) => {
            let new = u32::from(*a);
            if let Some(f) = buf.get_mut(at..at + 4) {
                let old = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
                if old != new {
                    d.replace32(old, new);
                    f.copy_from_slice(&new.to_be_bytes());
                }
            }
        }
        IpAddr::V6(a) => {
            let new = u128::from(*a);
            if let Some(f) = buf.get_mut(at..at + 16) {
                let mut o = [0u8; 16];
                o.copy_from_slice(f);
                let old = u128::from_be_bytes(o);
                if old != new {
                    for k in 0..4 {
                        let shift = 96 - 32 * k;
                        d.replace32((old >> shift) as u32, (new >> shift) as u32);
                    }
                    f.copy_from_slice(&new.to_be_bytes());
                }
            }
        }
    }
}

/// Updates the checksum field at `at` by `d`, recording the change of the field itself in
/// `outer` (for a checksum that sits inside data another checksum covers).
#[inline]
/// After a checksum update of the ICMPv4 message `buf[l4..end]`: if every byte but the
/// checksum is zero (an echo reply with identifier 0, sequence 0 and no or a zero payload), the
/// checksum must be `0xffff`, not the `0` RFC 1624 eqn. 3 ([`Delta::apply`]) gives. The data
/// then sums to zero, and a receiver's sum over the message, checksum included, must fold to
/// `0xffff` (Linux checks `csum_fold(...) == 0`): a `0` checksum fails that. Eqn. 3 is exact
/// for every other header svcplane rewrites, whose data is never all zero (IPv4's version
/// field, the pseudo-headers of TCP, UDP and ICMPv6). `outer` records the change for a
/// checksum that covers these bytes (the ICMP error quoting the message); in one's complement
/// `0` and `0xffff` are the same value, so it changes that checksum only where it must.
fn icmpv4_zero_message(buf: &mut [u8], l4: usize, end: usize, outer: &mut Delta) {
    let Some(msg) = buf.get(l4..end) else {
        return;
    };
    if msg.len() < 4 || msg[2] != 0 || msg[3] != 0 {
        return;
    }
    if msg.iter().all(|&b| b == 0) {
        wr16(buf, l4 + 2, 0xffff);
        outer.replace(0, 0xffff);
    }
}

fn update_csum(buf: &mut [u8], at: usize, d: &Delta, udp: bool, outer: &mut Delta) {
    let old = rd16(buf, at);
    let new = if udp { d.apply_udp(old) } else { d.apply(old) };
    if new != old {
        outer.replace(old, new);
        wr16(buf, at, new);
    }
}

/// Rewrites a packet [`parse`] described. `p` must come from parsing these very bytes.
///
/// Fails, leaving `buf` unchanged, when a rewrite address has the other family, when an SCTP
/// port change hits a first fragment, or when `buf` is shorter than `p` says.
pub fn apply(buf: &mut [u8], p: &Parsed, rw: &Rewrite) -> Result<(), Error> {
    rw.check_family(p.family)?;
    if buf.len() < p.end || p.l4_offset > p.end {
        return Err(Error::Truncated);
    }
    let sctp_ports = p.tuple.protocol == ip_protocol::SCTP
        && p.kind == Kind::Ports
        && (rw.src_port.is_some_and(|v| v != p.tuple.src_port)
            || rw.dst_port.is_some_and(|v| v != p.tuple.dst_port));
    if sctp_ports && p.fragment.is_some() {
        return Err(Error::Unsupported);
    }
    // All checks are done: from here on nothing fails.
    if p.kind == Kind::IcmpError {
        if let Some(inner) = &p.inner {
            apply_icmp_error(buf, p, inner, rw);
        }
        return Ok(());
    }
    let (src_at, dst_at, _) = addr_fields(p.family);
    // Only the fields the rewrite names are written (writing a field's own value back would be
    // a no-op): this is `rw.applied_to(&p.tuple, p.kind)` without building the tuple.
    let mut d_addr = Delta::new();
    if let Some(a) = &rw.src_addr {
        set_addr(buf, src_at, a, &mut d_addr);
    }
    if let Some(a) = &rw.dst_addr {
        set_addr(buf, dst_at, a, &mut d_addr);
    }
    let mut unused = Delta::new();
    if p.family == Family::V4 {
        update_csum(buf, 10, &d_addr, false, &mut unused);
    }
    let l4 = p.l4_offset;
    let mut d_l4 = Delta::new();
    match p.kind {
        Kind::Ports => {
            if let Some(port) = rw.src_port {
                set16(buf, l4, port, &mut d_l4);
            }
            if let Some(port) = rw.dst_port {
                set16(buf, l4 + 2, port, &mut d_l4);
            }
            match p.tuple.protocol {
                ip_protocol::TCP => {
                    d_l4.merge(d_addr);
                    update_csum(buf, l4 + tcp::CHECKSUM_OFFSET, &d_l4, false, &mut unused);
                }
                ip_protocol::UDP => {
                    d_l4.merge(d_addr);
                    update_csum(buf, l4 + udp::CHECKSUM_OFFSET, &d_l4, true, &mut unused);
                }
                _ => {
                    if sctp_ports {
                        let new = rw.applied_to(&p.tuple, p.kind);
                        update_sctp_crc(buf, l4, p.end - l4, &p.tuple, &new);
                    }
                }
            }
        }
        Kind::Echo { request } => {
            let id = if request { rw.src_port } else { rw.dst_port };
            if let Some(id) = id {
                set16(buf, l4 + 4, id, &mut d_l4);
            }
            if p.family == Family::V6 {
                d_l4.merge(d_addr);
            }
            update_csum(buf, l4 + 2, &d_l4, false, &mut unused);
            if p.family == Family::V4 {
                icmpv4_zero_message(buf, l4, p.end, &mut unused);
            }
        }
        Kind::IcmpOther if p.family == Family::V6 => {
            update_csum(buf, l4 + 2, &d_addr, false, &mut unused);
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The common case: IPv4 without options or IPv6 without extension headers, TCP or UDP, no
// fragment. The packet path parses and rewrites these without building a [`Parsed`] or a
// [`Rewrite`]; everything else goes through [`parse`] and [`apply`].

/// A packet of the common case, as [`parse_common`] finds it: what [`parse`] would report for
/// it, in a compact form. Addresses are 16-byte keys ([`crate::maglev::ip_key`]: IPv4-mapped
/// for IPv4) held as `u128::from_le_bytes` of the key's bytes, so they stay in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Common {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// [`ip_protocol::TCP`] or [`ip_protocol::UDP`].
    pub protocol: u8,
    /// TCP flags (0 for UDP).
    pub tcp_flags: u8,
    /// End of the packet as its IP header gives it.
    pub end: u32,
    /// Source address key (`u128::from_le_bytes`).
    pub src: u128,
    /// Destination address key (`u128::from_le_bytes`).
    pub dst: u128,
    /// The source and destination ports as the transport header's first 4 bytes read
    /// big-endian (source port in the high half). One field, so that a spilled `Common` is
    /// stored and reloaded as one word (two adjacent 16-bit stores read back as one 32-bit
    /// load defeat store-to-load forwarding).
    pub ports: u32,
}

impl Common {
    /// The source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        (self.ports >> 16) as u16
    }

    /// The destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.ports as u16
    }

    /// The family.
    #[inline]
    pub fn family(&self) -> Family {
        if self.v6 {
            Family::V6
        } else {
            Family::V4
        }
    }

    /// The tuple [`parse`] reports for the same bytes.
    #[inline]
    pub fn tuple(&self) -> Tuple {
        let family = self.family();
        Tuple {
            protocol: self.protocol,
            src: addr_of_key(&self.src.to_le_bytes(), family),
            dst: addr_of_key(&self.dst.to_le_bytes(), family),
            src_port: self.src_port(),
            dst_port: self.dst_port(),
        }
    }

    /// Exactly what [`parse`] returns for the same bytes (for the tests).
    #[cfg(test)]
    pub fn parsed(&self) -> Parsed {
        Parsed {
            family: self.family(),
            tuple: self.tuple(),
            l4_offset: if self.v6 {
                ipv6::HEADER_LEN
            } else {
                ipv4::HEADER_LEN
            },
            end: self.end as usize,
            kind: Kind::Ports,
            tcp_flags: self.tcp_flags,
            fragment: None,
            inner: None,
        }
    }
}

/// A 16-byte address key as an address of `family` (IPv4: its last 4 bytes).
#[inline]
fn addr_of_key(k: &[u8; 16], family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(k[12], k[13], k[14], k[15])),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(*k)),
    }
}

/// `u128::from_le_bytes` of the IPv4-mapped key of the 4 address bytes `b`
/// (`::ffff:a.b.c.d`: bytes 10 and 11 are 0xff, 12 to 15 the address).
#[inline]
fn v4_key(b: [u8; 4]) -> u128 {
    u128::from(u32::from_le_bytes(b)) << 96 | 0xffff << 80
}

/// Parses the common case, or says `None` (nothing is decided: the packet may still be valid,
/// [`parse`] tells). A packet it accepts is one [`parse`] accepts as [`Kind::Ports`] without a
/// fragment, with the same tuple ([`Common::tuple`]), offsets and flags: an IPv4 header of
/// exactly 20 bytes, version 4, total length between 20 and the buffer's length, neither
/// "more fragments" nor an offset; or an IPv6 header whose next header is TCP or UDP and whose
/// payload fits the buffer; then a TCP header whose data offset fits the segment, or a UDP
/// header whose length field is at least 8 and fits the segment (and, over IPv6, a checksum
/// that is not 0).
#[inline(always)]
pub(crate) fn parse_common(buf: &[u8]) -> Option<Common> {
    let first = *buf.first()?;
    let (v6, protocol, end, src, dst) = if first == 0x45 {
        let h: &[u8; 20] = buf.first_chunk()?;
        let end = u32::from(u16::from_be_bytes([h[2], h[3]]));
        if end as usize > buf.len() || end < 20 {
            return None;
        }
        // Flags and fragment offset: "more fragments" and the 13-bit offset must be 0.
        if u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
            return None;
        }
        let s: [u8; 4] = h[12..16].try_into().ok()?;
        let d: [u8; 4] = h[16..20].try_into().ok()?;
        (false, h[9], end, v4_key(s), v4_key(d))
    } else if first >> 4 == 6 {
        let h: &[u8; 40] = buf.first_chunk()?;
        let end = 40 + u32::from(u16::from_be_bytes([h[4], h[5]]));
        if end as usize > buf.len() {
            return None;
        }
        let s: [u8; 16] = h[8..24].try_into().ok()?;
        let d: [u8; 16] = h[24..40].try_into().ok()?;
        let (s, d) = (u128::from_le_bytes(s), u128::from_le_bytes(d));
        // IPv4-mapped (see `is_v4_mapped`): the first 12 bytes, the low 96 bits here.
        const LOW96: u128 = (1 << 96) - 1;
        const MAPPED: u128 = 0xffff << 80;
        if s & LOW96 == MAPPED || d & LOW96 == MAPPED {
            return None;
        }
        (true, h[6], end, s, d)
    } else {
        return None;
    };
    let l4_offset = if v6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    let l4 = buf.get(l4_offset..end as usize)?;
    let tcp_flags = match protocol {
        ip_protocol::TCP => {
            let t: &[u8; 20] = l4.first_chunk()?;
            let hl = usize::from(t[12] >> 4) * 4;
            if hl < tcp::HEADER_LEN || hl > l4.len() {
                return None;
            }
            t[13]
        }
        ip_protocol::UDP => {
            let u: &[u8; 8] = l4.first_chunk()?;
            let len = usize::from(u16::from_be_bytes([u[4], u[5]]));
            if len < udp::HEADER_LEN || len > l4.len() || (v6 && u[6] == 0 && u[7] == 0) {
                return None;
            }
            0
        }
        _ => return None,
    };
    let p: &[u8; 4] = l4.first_chunk()?;
    Some(Common {
        v6,
        protocol,
        tcp_flags,
        end,
        src,
        dst,
        ports: u32::from_be_bytes(*p),
    })
}

/// New addresses and ports for [`apply_common`]: each side is either kept or gets a new
/// address and port. Addresses are 16-byte keys; for an IPv4 packet the last 4 bytes are the
/// address (what [`Rewrite`] with the IPv4 address of an IPv4-mapped key does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommonRewrite {
    /// New source address and port.
    pub src: Option<([u8; 16], u16)>,
    /// New destination address and port.
    pub dst: Option<([u8; 16], u16)>,
}

/// Rewrites a packet [`parse_common`] described (`c` must come from these very bytes): the same
/// bytes as [`apply`] with the equivalent [`Rewrite`] (each side's address and port), with the
/// same incremental checksum updates. Cannot fail.
#[inline]
pub(crate) fn apply_common(buf: &mut [u8], c: &Common, rw: &CommonRewrite) {
    apply_common_to(buf, c.v6, c.protocol == ip_protocol::TCP, rw);
}

/// [`apply_common`] with the packet's family and transport as values (the rest of the
/// [`Common`] is not needed).
#[inline(always)]
pub(crate) fn apply_common_to(buf: &mut [u8], v6: bool, tcp: bool, rw: &CommonRewrite) {
    // The headers as fixed-size arrays (their lengths were checked by `parse_common`), so that
    // every field access below has constant bounds and no run-time check.
    match (v6, tcp) {
        (false, true) => {
            if let Some(h) = buf.first_chunk_mut::<40>() {
                apply_headers(h, false, true, rw);
            }
        }
        (false, false) => {
            if let Some(h) = buf.first_chunk_mut::<28>() {
                apply_headers(h, false, false, rw);
            }
        }
        (true, true) => {
            if let Some(h) = buf.first_chunk_mut::<60>() {
                apply_headers(h, true, true, rw);
            }
        }
        (true, false) => {
            if let Some(h) = buf.first_chunk_mut::<48>() {
                apply_headers(h, true, false, rw);
            }
        }
    }
}

/// [`apply_common`] on the IP and transport headers of a packet of the common case.
///
/// The same bytes as the general path (`set_addr`, `set16`, `update_csum`; the common path's
/// test compares them on random packets), computed in the machine's byte order: a ones'-
/// complement sum of byte-swapped words is the byte-swapped sum (RFC 1071 §2(B)), so the old
/// fields, the new ones and the checksums are loaded and stored as native integers, without a
/// byte swap each. As there, a field that does not change adds nothing to the sums, and every
/// change is a branch-free select, not a branch.
#[inline(always)]
fn apply_headers<const N: usize>(h: &mut [u8; N], v6: bool, tcp: bool, rw: &CommonRewrite) {
    let (src_at, dst_at, _) = addr_fields(if v6 { Family::V6 } else { Family::V4 });
    let mut addrs = 0u64;
    if let Some((a, _)) = &rw.src {
        addrs += swap_addr(h, src_at, a, v6);
    }
    if let Some((a, _)) = &rw.dst {
        addrs += swap_addr(h, dst_at, a, v6);
    }
    if !v6 {
        update_ne(h, 10, addrs, false);
    }
    let l4 = if v6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    let mut sum = addrs;
    if let Some((_, port)) = rw.src {
        sum += swap16(h, l4, port);
    }
    if let Some((_, port)) = rw.dst {
        sum += swap16(h, l4 + 2, port);
    }
    if tcp {
        update_ne(h, l4 + tcp::CHECKSUM_OFFSET, sum, false);
    } else {
        update_ne(h, l4 + udp::CHECKSUM_OFFSET, sum, true);
    }
}

/// Native-order reads and writes of a fixed-size header; the offsets are constants within
/// the array, so the fallbacks are never taken.
#[inline(always)]
fn rd32ne<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    match h.get(at..at + 4) {
        Some(s) => u32::from_ne_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

#[inline(always)]
fn wr32ne<const N: usize>(h: &mut [u8; N], at: usize, v: u32) {
    if let Some(s) = h.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_ne_bytes());
    }
}

/// RFC 1624 eqn. 3's term `~old + new` of a 32-bit word.
#[inline(always)]
fn term32(old: u32, new: u32) -> u64 {
    u64::from(!old) + u64::from(new)
}

/// `term` for a field that changed, 0 (nothing added) for one that did not; a select, not a
/// branch.
#[inline(always)]
fn if_changed(changed: bool, term: u64) -> u64 {
    if changed {
        term
    } else {
        0
    }
}

/// Writes the address field at `at` from a 16-byte key (its last 4 bytes for IPv4) and returns
/// its term in native order: as [`set_addr`] does, an IPv6 address that changes adds all four of
/// its 32-bit words, one that does not change adds nothing. The key is taken as one integer
/// (`u128::from_le_bytes`), so that its words are shifts of a register, not array reads.
#[inline(always)]
fn swap_addr<const N: usize>(h: &mut [u8; N], at: usize, new: &[u8; 16], v6: bool) -> u64 {
    let key = u128::from_le_bytes(*new);
    // Key bytes 4k..4k + 4 as a native-order word.
    let word = |k: usize| u32::from_ne_bytes(((key >> (32 * k)) as u32).to_le_bytes());
    if v6 {
        let mut sum = 0u64;
        let mut changed = false;
        for k in 0..4 {
            let (o, n) = (rd32ne(h, at + 4 * k), word(k));
            changed |= o != n;
            sum += term32(o, n);
            wr32ne(h, at + 4 * k, n);
        }
        if_changed(changed, sum)
    } else {
        let (o, n) = (rd32ne(h, at), word(3));
        wr32ne(h, at, n);
        if_changed(o != n, term32(o, n))
    }
}

/// Writes the 16-bit field at `at` (`v` in network order) and returns its term in native
/// order.
#[inline(always)]
fn swap16<const N: usize>(h: &mut [u8; N], at: usize, v: u16) -> u64 {
    let Some(s) = h.get_mut(at..at + 2) else {
        return 0;
    };
    let o = u16::from_ne_bytes([s[0], s[1]]);
    let n = u16::from_ne_bytes(v.to_be_bytes());
    s.copy_from_slice(&n.to_ne_bytes());
    if_changed(o != n, u64::from(!o) + u64::from(n))
}

/// Updates the checksum at `at` (native order) by `sum` of native-order terms, with
/// [`Delta::apply`] / [`Delta::apply_udp`] as `update_csum` does.
#[inline(always)]
fn update_ne<const N: usize>(h: &mut [u8; N], at: usize, sum: u64, udp: bool) {
    let Some(s) = h.get_mut(at..at + 2) else {
        return;
    };
    let old = u16::from_ne_bytes([s[0], s[1]]);
    let d = Delta::from_sum(sum);
    let new = if udp { d.apply_udp(old) } else { d.apply(old) };
    s.copy_from_slice(&new.to_ne_bytes());
}

/// Updates an SCTP CRC32c after a port change: the ports are the first 4 bytes it covers.
fn update_sctp_crc(buf: &mut [u8], l4: usize, len: usize, old: &Tuple, new: &Tuple) -> [u8; 4] {
    let mut old_ports = [0u8; 4];
    old_ports[..2].copy_from_slice(&old.src_port.to_be_bytes());
    old_ports[2..].copy_from_slice(&old.dst_port.to_be_bytes());
    let mut new_ports = [0u8; 4];
    new_ports[..2].copy_from_slice(&new.src_port.to_be_bytes());
    new_ports[2..].copy_from_slice(&new.dst_port.to_be_bytes());
    let mut crc_bytes = [0u8; 4];
    if let Some(c) = buf.get_mut(l4 + 8..l4 + 12) {
        let old_crc = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let crc = wire::checksum::crc32c_update_prefix(old_crc, &old_ports, &new_ports, len);
        crc_bytes = crc.to_le_bytes();
        c.copy_from_slice(&crc_bytes);
    }
    crc_bytes
}

fn apply_icmp_error(buf: &mut [u8], p: &Parsed, inner: &Inner, rw: &Rewrite) {
    let family = p.family;
    let (src_at, dst_at, _) = addr_fields(family);
    // 1. The quoted packet gets the mirror of the rewrite. Every word changed inside the
    //    ICMP payload is recorded in `d_icmp` for the ICMP checksum.
    let mirror = rw.mirrored();
    let new_in = mirror.applied_to(&inner.tuple, inner.kind);
    let mut d_icmp = Delta::new();
    let mut d_in_addr = Delta::new();
    set_addr(buf, inner.l3_offset + src_at, &new_in.src, &mut d_in_addr);
    set_addr(buf, inner.l3_offset + dst_at, &new_in.dst, &mut d_in_addr);
    d_icmp.merge(d_in_addr);
    if family == Family::V4 {
        update_csum(buf, inner.l3_offset + 10, &d_in_addr, false, &mut d_icmp);
    }
    let l4 = inner.l4_offset;
    let quoted = p.end.saturating_sub(l4);
    let mut d_in_l4 = Delta::new();
    match inner.kind {
        Kind::Ports => {
            set16(buf, l4, new_in.src_port, &mut d_in_l4);
            set16(buf, l4 + 2, new_in.dst_port, &mut d_in_l4);
            d_icmp.merge(d_in_l4);
            match inner.tuple.protocol {
                ip_protocol::TCP if quoted >= tcp::CHECKSUM_OFFSET + 2 => {
                    d_in_l4.merge(d_in_addr);
                    update_csum(buf, l4 + tcp::CHECKSUM_OFFSET, &d_in_l4, false, &mut d_icmp);
                }
                ip_protocol::UDP => {
                    d_in_l4.merge(d_in_addr);
                    update_csum(buf, l4 + udp::CHECKSUM_OFFSET, &d_in_l4, true, &mut d_icmp);
                }
                ip_protocol::SCTP if quoted >= wire::sctp::HEADER_LEN => {
                    let ports_changed = new_in.src_port != inner.tuple.src_port
                        || new_in.dst_port != inner.tuple.dst_port;
                    if let (true, Some(len)) = (ports_changed, inner.l4_len) {
                        if len >= wire::sctp::HEADER_LEN {
                            let old = [rd16(buf, l4 + 8), rd16(buf, l4 + 10)];
                            let new = update_sctp_crc(buf, l4, len, &inner.tuple, &new_in);
                            d_icmp.replace(old[0], u16::from_be_bytes([new[0], new[1]]));
                            d_icmp.replace(old[1], u16::from_be_bytes([new[2], new[3]]));
                        }
                    }
                }
                _ => {}
            }
        }
        Kind::Echo { request } => {
            let id = if request {
                new_in.src_port
            } else {
                new_in.dst_port
            };
            set16(buf, l4 + 4, id, &mut d_in_l4);
            d_icmp.merge(d_in_l4);
            if family == Family::V6 {
                d_in_l4.merge(d_in_addr);
            }
            update_csum(buf, l4 + 2, &d_in_l4, false, &mut d_icmp);
            // Only a message quoted whole can be seen to be all zero.
            if let (Family::V4, Some(len)) = (family, inner.l4_len) {
                if l4 + len <= p.end {
                    icmpv4_zero_message(buf, l4, l4 + len, &mut d_icmp);
                }
            }
        }
        Kind::IcmpOther if family == Family::V6 => {
            update_csum(buf, l4 + 2, &d_in_addr, false, &mut d_icmp);
        }
        _ => {}
    }
    // 2. The outer header: destination as the rewrite says; source only when the error came
    //    from the quoted packet's destination itself.
    let mut d_out = Delta::new();
    if let Some(dst) = &rw.dst_addr {
        set_addr(buf, dst_at, dst, &mut d_out);
    }
    if let Some(src) = &rw.src_addr {
        if p.tuple.src == inner.tuple.dst {
            set_addr(buf, src_at, src, &mut d_out);
        }
    }
    let mut unused = Delta::new();
    match family {
        Family::V4 => {
            update_csum(buf, 10, &d_out, false, &mut unused);
            update_csum(buf, p.l4_offset + 2, &d_icmp, false, &mut unused);
        }
        Family::V6 => {
            d_icmp.merge(d_out);
            update_csum(buf, p.l4_offset + 2, &d_icmp, false, &mut unused);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::{verify_checksums, Rng, Spec};
    use alloc::vec::Vec;

    /// A random packet of any kind the oracle builds (TCP, UDP, SCTP, ICMP echo; IPv4 options,
    /// IPv6 extension headers, first and later fragments, UDP without a checksum), then, half of
    /// the time, damaged in a field `parse` or `parse_common` looks at.
    fn packet(r: &mut Rng) -> Vec<u8> {
        let v6 = r.chance(40);
        let proto = match r.below(10) {
            0..=3 => 6,
            4..=6 => 17,
            7 => 132,
            _ => {
                if v6 {
                    58
                } else {
                    1
                }
            }
        };
        let spec = Spec {
            proto,
            src: r.addr(v6),
            dst: r.addr(v6),
            sport: r.u16(),
            dport: r.u16(),
            icmp_type: if r.chance(50) {
                if v6 {
                    128
                } else {
                    8
                }
            } else if v6 {
                129
            } else {
                0
            },
            payload: {
                let n = r.below(40) as usize;
                r.bytes(n)
            },
            ip_opts: if !v6 && r.chance(15) {
                1 + r.below(3) as usize
            } else {
                0
            },
            ext: if v6 && r.chance(15) {
                [0u8, 60, 43][..1 + r.below(3) as usize].to_vec()
            } else {
                Vec::new()
            },
            ttl: 64,
            ident: r.u16(),
            udp_no_checksum: r.chance(10),
            tcp_flags: r.next() as u8,
        };
        let mut pkt = if r.chance(10) {
            let l4 = spec.l4();
            let (off, more) = if r.chance(50) {
                (0, true)
            } else {
                (8 * (1 + r.below(4) as u16), r.chance(50))
            };
            let cut = l4.len().min(8 * (1 + r.below(3) as usize));
            spec.packet_with(&l4[..cut], Some((off, more)))
        } else {
            spec.packet()
        };
        if r.chance(50) {
            let l3 = if v6 {
                40 + 8 * spec.ext.len()
            } else {
                20 + 4 * spec.ip_opts
            };
            let l4 = l3.min(pkt.len());
            match r.below(12) {
                0 => pkt.truncate(r.below(pkt.len() as u64 + 1) as usize),
                1 => {
                    let n = 1 + r.below(8) as usize;
                    pkt.extend(r.bytes(n))
                }
                2 => pkt[0] = r.next() as u8,
                // IPv4 total length / IPv6 payload length.
                3 => {
                    let at = if v6 { 4 } else { 2 };
                    let v = r.u16() % (pkt.len() as u16 + 8);
                    pkt[at..at + 2].copy_from_slice(&v.to_be_bytes());
                }
                // IPv4 flags and fragment offset / IPv6 next header.
                4 => {
                    if v6 {
                        pkt[6] = [0, 6, 17, 44, 58, 60, 132][r.below(7) as usize];
                    } else {
                        pkt[6] = r.next() as u8 & 0xe0;
                        pkt[7] = if r.chance(50) { 0 } else { r.next() as u8 };
                    }
                }
                // IPv4 protocol.
                5 if !v6 => pkt[9] = [6, 17, 1, 132, 50][r.below(5) as usize],
                // TCP data offset.
                6 if pkt.len() > l4 + 12 => pkt[l4 + 12] = r.next() as u8,
                // UDP length.
                7 if pkt.len() > l4 + 5 => {
                    let v = r.u16() % (pkt.len() as u16 + 8);
                    pkt[l4 + 4..l4 + 6].copy_from_slice(&v.to_be_bytes());
                }
                // A zero UDP checksum.
                8 if pkt.len() > l4 + 7 => pkt[l4 + 6..l4 + 8].fill(0),
                // Any byte of the headers.
                _ => {
                    let n = pkt.len().min(l3 + 20);
                    if n > 0 {
                        let i = r.below(n as u64) as usize;
                        pkt[i] = r.next() as u8;
                    }
                }
            }
        }
        pkt
    }

    /// What `parse_common` must accept: exactly the packets `parse` reads as TCP or UDP with
    /// ports, not a fragment, with the transport header right after a 20-byte IPv4 or 40-byte
    /// IPv6 header.
    fn common_class(p: &Parsed) -> bool {
        p.kind == Kind::Ports
            && p.fragment.is_none()
            && matches!(p.tuple.protocol, ip_protocol::TCP | ip_protocol::UDP)
            && p.l4_offset
                == match p.family {
                    Family::V4 => 20,
                    Family::V6 => 40,
                }
    }

    #[test]
    fn parse_common_takes_exactly_the_common_packets_and_agrees_with_parse() {
        let mut r = Rng(0xc0ffee);
        let (mut taken, mut declined) = (0, 0);
        for i in 0..200_000 {
            let pkt = packet(&mut r);
            let general = parse(&pkt).ok().filter(common_class);
            let fast = parse_common(&pkt).map(|c| c.parsed());
            assert_eq!(fast, general, "packet {i}: {pkt:02x?}");
            if fast.is_some() {
                taken += 1;
            } else {
                declined += 1;
            }
        }
        // Both sides are well exercised.
        assert!(taken > 50_000 && declined > 50_000, "{taken} {declined}");
    }

    #[test]
    fn apply_common_writes_what_apply_writes() {
        let mut r = Rng(0xfeed);
        let mut checked = 0;
        for i in 0..200_000 {
            let mut pkt = packet(&mut r);
            let Some(c) = parse_common(&pkt) else {
                continue;
            };
            // Sometimes checksums of 0xffff (−0, which no full computation writes) and ports
            // of 0xffff rewritten to 0 (a change whose term is 0): the cases where skipping an
            // unchanged field's term, or not, decides between the two zeros.
            let l4 = if c.v6 { 40 } else { 20 };
            if r.chance(5) {
                let at = l4
                    + if c.protocol == ip_protocol::TCP {
                        16
                    } else {
                        6
                    };
                pkt[at..at + 2].copy_from_slice(&[0xff, 0xff]);
                if !c.v6 {
                    pkt[10..12].copy_from_slice(&[0xff, 0xff]);
                }
            }
            if r.chance(5) {
                pkt[l4..l4 + 4].copy_from_slice(&[0xff; 4]);
            }
            let Some(c) = parse_common(&pkt) else {
                continue;
            };
            let p = parse(&pkt).unwrap();
            // Sometimes a side's own address or port (no change), sometimes an IPv4 key with
            // garbage in its first 12 bytes (only the last 4 count for IPv4).
            let mut side = |own: (u128, u16)| -> Option<([u8; 16], u16)> {
                if r.chance(30) {
                    return None;
                }
                let addr = if r.chance(20) {
                    own.0.to_le_bytes()
                } else {
                    let mut k = [0u8; 16];
                    k.copy_from_slice(&r.bytes(16));
                    if !c.v6 && r.chance(70) {
                        k[..12].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
                    }
                    k
                };
                let port = if r.chance(20) {
                    own.1
                } else if r.chance(10) {
                    0
                } else {
                    r.u16()
                };
                Some((addr, port))
            };
            let rw = CommonRewrite {
                src: side((c.src, c.src_port())),
                dst: side((c.dst, c.dst_port())),
            };
            let general = Rewrite {
                src_addr: rw.src.map(|(a, _)| addr_of_key(&a, p.family)),
                src_port: rw.src.map(|(_, port)| port),
                dst_addr: rw.dst.map(|(a, _)| addr_of_key(&a, p.family)),
                dst_port: rw.dst.map(|(_, port)| port),
            };
            let mut want = pkt.clone();
            apply(&mut want, &p, &general).unwrap();
            let mut got = pkt.clone();
            apply_common(&mut got, &c, &rw);
            assert_eq!(got, want, "packet {i}: {pkt:02x?} {rw:?}");
            // And by the independent oracle: correct checksums stay correct.
            if verify_checksums(&pkt).is_ok() {
                verify_checksums(&got).unwrap();
            }
            checked += 1;
        }
        assert!(checked > 50_000, "{checked}");
    }
}
