//! IPv6 (RFC 8200) and the walk over its extension headers to the upper layer.

use super::{be16, be32, ip_protocol, Error};

mod field {
    pub const PAYLOAD_LEN: core::ops::Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: core::ops::Range<usize> = 8..24;
    pub const DST_ADDR: core::ops::Range<usize> = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// How many extension headers [`upper_layer`] walks before it gives up with
/// [`Error::Unsupported`]; this keeps the packet path's cost bounded.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Checks the version and that the buffer holds the fixed header and the payload length it
    /// announces (trailing bytes are allowed and ignored). A payload length of zero (a
    /// jumbogram, RFC 2675) is [`Error::Unsupported`] unless the packet really has no payload.
    pub fn check_len(&self) -> Result<(), Error> {
        self.check_header_len()?;
        let end = HEADER_LEN + usize::from(self.payload_len());
        if end > self.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        if self.payload_len() == 0 && self.next_header() == ip_protocol::HOP_BY_HOP {
            return Err(Error::Unsupported);
        }
        Ok(())
    }

    /// Like [`Packet::check_len`] for a packet quoted inside an ICMPv6 error: only the fixed
    /// header must be present; the payload length may exceed the buffer.
    pub fn check_header_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (6).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// The payload length field: everything after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PAYLOAD_LEN.start)
    }

    /// The next-header field of the fixed header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// The hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// The source address.
    pub fn src_addr(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        a
    }

    /// The destination address.
    pub fn dst_addr(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        a
    }

    /// The payload (extension headers included), as long as the payload-length field says.
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a);
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a);
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = h;
    }
}

/// What a fragment header says about the packet carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Offset of this fragment's data in the original datagram, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// The identification shared by the fragments of one datagram.
    pub ident: u32,
}

/// Where the upper-layer header starts, after the extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpperLayer {
    /// The upper-layer protocol (see [`super::ip_protocol`]).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header.
    pub offset: usize,
    /// The fragment header, when there is one.
    pub fragment: Option<Fragment>,
}

/// Walks the extension headers of the IPv6 packet at the start of `packet` to the upper layer.
///
/// Hop-by-hop options, routing, fragment and destination options headers are walked, at most
/// [`MAX_EXTENSION_HEADERS`] of them. Only the bytes in `packet` are read: for a packet quoted
/// in an ICMPv6 error, pass the quote. Errors:
/// - [`Error::Truncated`] when an extension header runs past the buffer;
/// - [`Error::Unsupported`] for ESP, AH, "no next header", a routing header with segments
///   left (its final destination is not the destination field, so rewriting that field would
///   break the upper-layer checksum), a second fragment header, or too many headers.
///
/// After a non-first fragment header the walk stops: the returned offset is where the
/// fragment's data starts, and no upper-layer header is present there.
pub fn upper_layer(packet: &[u8]) -> Result<UpperLayer, Error> {
    if packet.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    let mut next = packet[field::NEXT_HEADER];
    let mut off = HEADER_LEN;
    let mut fragment = None;
    for _ in 0..=MAX_EXTENSION_HEADERS {
        match next {
            ip_protocol::HOP_BY_HOP | ip_protocol::IPV6_ROUTE | ip_protocol::IPV6_OPTS => {
                if next == ip_protocol::HOP_BY_HOP && off != HEADER_LEN {
                    return Err(Error::Malformed); // RFC 8200 §4.3: only right after the header
                }
                let hdr = packet.get(off..off + 8).ok_or(Error::Truncated)?;
                let len = (usize::from(hdr[1]) + 1) * 8;
                if packet.len() < off + len {
                    return Err(Error::Truncated);
                }
                if next == ip_protocol::IPV6_ROUTE && hdr[3] != 0 {
                    return Err(Error::Unsupported);
                }
                next = hdr[0];
                off += len;
            }
            ip_protocol::IPV6_FRAG => {
                if fragment.is_some() {
                    return Err(Error::Unsupported);
                }
                let hdr = packet.get(off..off + 8).ok_or(Error::Truncated)?;
                let fo = be16(hdr, 2);
                let frag = Fragment {
                    offset: fo & 0xfff8,
                    more: fo & 1 != 0,
                    ident: be32(hdr, 4),
                };
                fragment = Some(frag);
                next = hdr[0];
                off += 8;
                if frag.offset != 0 {
                    return Ok(UpperLayer {
                        protocol: next,
                        offset: off,
                        fragment,
                    });
                }
            }
            ip_protocol::ESP | ip_protocol::AH | ip_protocol::IPV6_NO_NEXT => {
                return Err(Error::Unsupported)
            }
            protocol => {
                return Ok(UpperLayer {
                    protocol,
                    offset: off,
                    fragment,
                })
            }
        }
    }
    Err(Error::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(next: u8, payload_len: u16) -> [u8; 40] {
        let mut h = [0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&payload_len.to_be_bytes());
        h[6] = next;
        h[7] = 64;
        h[8..24].copy_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h[24..40].copy_from_slice(&[0xfd, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h
    }

    #[test]
    fn test_parse() {
        let mut buf = [0u8; 48];
        buf[..40].copy_from_slice(&header(17, 8));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), 17);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr()[15], 1);
        assert_eq!(p.dst_addr()[15], 2);
        assert_eq!(
            upper_layer(&buf).unwrap(),
            UpperLayer {
                protocol: 17,
                offset: 40,
                fragment: None
            }
        );
        assert_eq!(
            Packet::new_checked(&buf[..47]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn extension_headers() {
        // hop-by-hop (8 bytes) → destination options (16 bytes) → fragment (first) → TCP
        let mut buf = [0u8; 40 + 8 + 16 + 8 + 20];
        buf[..40].copy_from_slice(&header(0, 52));
        buf[40] = 60;
        buf[41] = 0;
        buf[48] = 44;
        buf[49] = 1;
        buf[64] = 6;
        buf[66..68].copy_from_slice(&0x0001u16.to_be_bytes()); // offset 0, M
        buf[68..72].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        let ul = upper_layer(&buf).unwrap();
        assert_eq!(ul.protocol, 6);
        assert_eq!(ul.offset, 72);
        assert_eq!(
            ul.fragment,
            Some(Fragment {
                offset: 0,
                more: true,
                ident: 0xdead_beef
            })
        );
        // Non-first fragment: the walk stops at the fragment data.
        buf[66..68].copy_from_slice(&(185u16 << 3).to_be_bytes());
        let ul = upper_layer(&buf).unwrap();
        assert_eq!(ul.fragment.unwrap().offset, 1480);
        assert!(!ul.fragment.unwrap().more);
        // Truncated extension header.
        assert_eq!(upper_layer(&buf[..60]).unwrap_err(), Error::Truncated);
        // Routing header with segments left.
        let mut buf = [0u8; 40 + 8 + 8];
        buf[..40].copy_from_slice(&header(43, 16));
        buf[40] = 17;
        buf[43] = 1;
        assert_eq!(upper_layer(&buf).unwrap_err(), Error::Unsupported);
        buf[43] = 0;
        assert_eq!(upper_layer(&buf).unwrap().offset, 48);
        // ESP, and hop-by-hop not first.
        buf[40] = 50;
        assert_eq!(upper_layer(&buf).unwrap_err(), Error::Unsupported);
        buf[40] = 0;
        assert_eq!(upper_layer(&buf).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn too_many_extension_headers() {
        let n = MAX_EXTENSION_HEADERS + 1;
        let mut buf = [0u8; 40 + 8 * 10 + 8];
        buf[..40].copy_from_slice(&header(60, 88));
        for i in 0..n {
            buf[40 + 8 * i] = if i + 1 == n { 17 } else { 60 };
        }
        assert_eq!(upper_layer(&buf).unwrap_err(), Error::Unsupported);
    }
}
