//! An independent packet builder and checksum oracle for tests.
//!
//! Nothing here uses svcplane: checksums are computed byte by byte from their RFC definitions
//! (RFC 1071 sums, RFC 768/793/8200 pseudo-headers, bitwise CRC32c), so a test that compares
//! svcplane's output with a packet built here compares against an independent implementation.
#![allow(dead_code)]

use std::net::IpAddr;

/// A seeded generator (splitmix64): deterministic, so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn u16(&mut self) -> u16 {
        self.next() as u16
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    pub fn addr(&mut self, v6: bool) -> IpAddr {
        if v6 {
            let mut o = [0u8; 16];
            o[0] = 0xfd;
            for b in o[1..].iter_mut() {
                *b = self.next() as u8;
            }
            IpAddr::from(o)
        } else {
            let o = [10, self.next() as u8, self.next() as u8, self.next() as u8];
            IpAddr::from(o)
        }
    }
}

/// Ones'-complement sum of the concatenation of `parts`, byte by byte (RFC 1071).
pub fn ones_sum(parts: &[&[u8]]) -> u16 {
    let mut acc: u64 = 0;
    let mut i = 0usize;
    for part in parts {
        for b in part.iter() {
            acc += if i % 2 == 0 {
                u64::from(*b) << 8
            } else {
                u64::from(*b)
            };
            i += 1;
        }
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum to store over `parts` (with the checksum field zeroed in them).
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    !ones_sum(parts)
}

/// CRC32c, bit by bit (RFC 9260 appendix A definition).
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xffff_ffff;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn addr_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// The pseudo-header bytes for the upper-layer checksum.
pub fn pseudo(src: &IpAddr, dst: &IpAddr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = addr_bytes(src);
    p.extend(addr_bytes(dst));
    if src.is_ipv4() {
        p.extend([0, proto]);
        p.extend((len as u16).to_be_bytes());
    } else {
        p.extend((len as u32).to_be_bytes());
        p.extend([0, 0, 0, proto]);
    }
    p
}

/// What a test packet is.
#[derive(Clone, Debug)]
pub struct Spec {
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// For ICMP: the type (echo request/reply, or an informational type).
    pub icmp_type: u8,
    pub payload: Vec<u8>,
    /// IPv4: number of 4-byte option words (NOPs and a final EOL); IPv6: the extension
    /// headers (0 hop-by-hop, 60 destination options, 43 routing with segments left 0), each
    /// 8 bytes, before the upper layer.
    pub ip_opts: usize,
    pub ext: Vec<u8>,
    pub ttl: u8,
    pub ident: u16,
    /// UDP over IPv4 sent without a checksum.
    pub udp_no_checksum: bool,
    pub tcp_flags: u8,
}

impl Spec {
    /// A packet of `proto` from `src` to `dst` with no ports, options or payload (the caller
    /// brings the bytes after the IP header, e.g. to [`ip_packet`]).
    pub fn ip_only(proto: u8, src: IpAddr, dst: IpAddr) -> Spec {
        Spec {
            proto,
            src,
            dst,
            sport: 0,
            dport: 0,
            icmp_type: 0,
            payload: vec![],
            ip_opts: 0,
            ext: vec![],
            ttl: 64,
            ident: 7,
            udp_no_checksum: false,
            tcp_flags: 0,
        }
    }

    pub fn v6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// The transport segment, checksum filled by the oracle.
    pub fn l4(&self) -> Vec<u8> {
        let mut seg = Vec::new();
        match self.proto {
            6 => {
                seg.extend(self.sport.to_be_bytes());
                seg.extend(self.dport.to_be_bytes());
                seg.extend(0x0102_0304u32.to_be_bytes());
                seg.extend(0x0506_0708u32.to_be_bytes());
                seg.extend([0x60, self.tcp_flags, 0xff, 0xff, 0, 0, 0, 0]);
                seg.extend([2, 4, 0x05, 0xb4]); // MSS option: data offset 6
                seg.extend(&self.payload);
                let c = inet_checksum(&[&pseudo(&self.src, &self.dst, 6, seg.len()), &seg]);
                seg[16..18].copy_from_slice(&c.to_be_bytes());
            }
            17 => {
                let len = 8 + self.payload.len();
                seg.extend(self.sport.to_be_bytes());
                seg.extend(self.dport.to_be_bytes());
                seg.extend((len as u16).to_be_bytes());
                seg.extend([0, 0]);
                seg.extend(&self.payload);
                if !self.udp_no_checksum || self.v6() {
                    let mut c = inet_checksum(&[&pseudo(&self.src, &self.dst, 17, len), &seg]);
                    if c == 0 {
                        c = 0xffff;
                    }
                    seg[6..8].copy_from_slice(&c.to_be_bytes());
                }
            }
            132 => {
                seg.extend(self.sport.to_be_bytes());
                seg.extend(self.dport.to_be_bytes());
                seg.extend(0xcafe_f00du32.to_be_bytes());
                seg.extend([0, 0, 0, 0]);
                // One DATA chunk carrying the payload, padded to 4 bytes.
                let clen = 16 + self.payload.len();
                seg.extend([0, 3]);
                seg.extend((clen as u16).to_be_bytes());
                seg.extend([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
                seg.extend(&self.payload);
                while seg.len() % 4 != 0 {
                    seg.push(0);
                }
                let c = crc32c(&seg);
                seg[8..12].copy_from_slice(&c.to_le_bytes());
            }
            1 | 58 => {
                // Echo (or another informational type): identifier from the port that plays
                // its role: request → sport, reply → dport.
                let id = if matches!(self.icmp_type, 8 | 128) {
                    self.sport
                } else {
                    self.dport
                };
                seg.extend([self.icmp_type, 0, 0, 0]);
                seg.extend(id.to_be_bytes());
                seg.extend(0x0042u16.to_be_bytes());
                seg.extend(&self.payload);
                let c = if self.proto == 58 {
                    inet_checksum(&[&pseudo(&self.src, &self.dst, 58, seg.len()), &seg])
                } else {
                    inet_checksum(&[&seg])
                };
                seg[2..4].copy_from_slice(&c.to_be_bytes());
            }
            _ => panic!("unknown proto"),
        }
        seg
    }

    /// The whole packet, or one fragment of it: `frag = Some((offset, more, data))` puts
    /// `data` (a slice of the transport segment) in a fragment at `offset`.
    pub fn packet_with(&self, l4: &[u8], frag: Option<(u16, bool)>) -> Vec<u8> {
        ip_packet(self, l4, frag)
    }

    pub fn packet(&self) -> Vec<u8> {
        let l4 = self.l4();
        ip_packet(self, &l4, None)
    }
}

/// An IP header in front of `payload`, per `spec`'s addresses and options.
pub fn ip_packet(spec: &Spec, payload: &[u8], frag: Option<(u16, bool)>) -> Vec<u8> {
    let mut p = Vec::new();
    if !spec.v6() {
        let hl = 20 + 4 * spec.ip_opts;
        let total = hl + payload.len();
        p.push(0x40 | (hl / 4) as u8);
        p.push(0);
        p.extend((total as u16).to_be_bytes());
        p.extend(spec.ident.to_be_bytes());
        let (off, more) = frag.unwrap_or((0, false));
        let fl =
            (off >> 3) | if more { 0x2000 } else { 0 } | if frag.is_none() { 0x4000 } else { 0 };
        p.extend(fl.to_be_bytes());
        p.push(spec.ttl);
        p.push(spec.proto);
        p.extend([0, 0]);
        p.extend(addr_bytes(&spec.src));
        p.extend(addr_bytes(&spec.dst));
        for i in 0..spec.ip_opts * 4 {
            p.push(if i + 1 == spec.ip_opts * 4 { 0 } else { 1 });
        }
        let c = inet_checksum(&[&p]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend(payload);
    } else {
        let mut exts: Vec<u8> = spec.ext.clone();
        if frag.is_some() {
            exts.push(44);
        }
        let ext_len = 8 * exts.len();
        p.extend([0x60, 0, 0, 0]);
        p.extend(((ext_len + payload.len()) as u16).to_be_bytes());
        p.push(*exts.first().unwrap_or(&spec.proto));
        p.push(spec.ttl);
        p.extend(addr_bytes(&spec.src));
        p.extend(addr_bytes(&spec.dst));
        for (i, e) in exts.iter().enumerate() {
            let next = *exts.get(i + 1).unwrap_or(&spec.proto);
            if *e == 44 {
                let (off, more) = frag.unwrap();
                p.push(next);
                p.push(0);
                p.extend((off | u16::from(more)).to_be_bytes());
                p.extend(u32::from(spec.ident).wrapping_mul(0x10001).to_be_bytes());
            } else if *e == 43 {
                p.extend([next, 0, 0, 0, 0, 0, 0, 0]); // type 0, segments left 0
            } else {
                p.extend([next, 0, 1, 4, 0, 0, 0, 0]); // a PadN option filling the header
            }
        }
        p.extend(payload);
    }
    p
}

/// An ICMP error from `from` to `to` quoting `quote`, checksums by the oracle.
pub fn icmp_error(
    from: &IpAddr,
    to: &IpAddr,
    ty: u8,
    code: u8,
    extra: u32,
    quote: &[u8],
) -> Vec<u8> {
    let v6 = from.is_ipv6();
    let proto = if v6 { 58 } else { 1 };
    let mut msg = vec![ty, code, 0, 0];
    msg.extend(extra.to_be_bytes());
    msg.extend(quote);
    let c = if v6 {
        inet_checksum(&[&pseudo(from, to, 58, msg.len()), &msg])
    } else {
        inet_checksum(&[&msg])
    };
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    let spec = Spec {
        ttl: 63,
        ident: 0x4242,
        ..Spec::ip_only(proto, *from, *to)
    };
    ip_packet(&spec, &msg, None)
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

/// Checks every checksum an IP packet carries, from the RFC definitions and nothing of
/// svcplane's: the IPv4 header checksum; the TCP, UDP, SCTP, ICMP or ICMPv6 checksum of a
/// packet that is not a fragment; and, inside an ICMP error, the quoted IPv4 header's checksum
/// and the quoted transport checksum when the quote holds the whole quoted segment.
/// Returns what is wrong, or `Ok(())`.
pub fn verify_checksums(pkt: &[u8]) -> Result<(), String> {
    verify_at(pkt, false)
}

fn verify_at(pkt: &[u8], quoted: bool) -> Result<(), String> {
    let short = || format!("too short ({} bytes)", pkt.len());
    let version = pkt.first().ok_or_else(short)? >> 4;
    let (src, dst, mut proto, mut off, end, fragment): (IpAddr, IpAddr, u8, usize, usize, bool);
    if version == 4 {
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        if pkt.len() < ihl || ihl < 20 {
            return Err(short());
        }
        if ones_sum(&[&pkt[..ihl]]) != 0xffff {
            return Err("IPv4 header checksum".into());
        }
        let total = be16(pkt, 2).ok_or_else(short)?;
        let frag = be16(pkt, 6).ok_or_else(short)?;
        src = IpAddr::from(<[u8; 4]>::try_from(&pkt[12..16]).unwrap());
        dst = IpAddr::from(<[u8; 4]>::try_from(&pkt[16..20]).unwrap());
        proto = pkt[9];
        off = ihl;
        end = total;
        fragment = frag & 0x3fff != 0;
    } else if version == 6 {
        if pkt.len() < 40 {
            return Err(short());
        }
        src = IpAddr::from(<[u8; 16]>::try_from(&pkt[8..24]).unwrap());
        dst = IpAddr::from(<[u8; 16]>::try_from(&pkt[24..40]).unwrap());
        end = 40 + be16(pkt, 4).ok_or_else(short)?;
        proto = pkt[6];
        off = 40;
        let mut frag = false;
        loop {
            match proto {
                0 | 43 | 60 => {
                    let len = (usize::from(*pkt.get(off + 1).ok_or_else(short)?) + 1) * 8;
                    proto = pkt[off];
                    off += len;
                }
                44 => {
                    let fo = be16(pkt, off + 2).ok_or_else(short)?;
                    frag = fo & 0xfff9 != 0;
                    proto = pkt[off];
                    off += 8;
                }
                _ => break,
            }
        }
        fragment = frag;
    } else {
        return Err(format!("IP version {version}"));
    }
    if fragment {
        return Ok(());
    }
    if end > pkt.len() {
        // A quote that holds only part of the quoted packet: its transport checksum covers
        // bytes that are not here, so it cannot be checked.
        return if quoted { Ok(()) } else { Err(short()) };
    }
    let l4 = &pkt[off..end];
    let v6 = version == 6;
    let with_pseudo = |proto: u8| {
        let ps = pseudo(&src, &dst, proto, l4.len());
        ones_sum(&[&ps, l4]) == 0xffff
    };
    let ok = match proto {
        6 => with_pseudo(6),
        17 => (!v6 && l4.get(6..8) == Some(&[0, 0][..])) || with_pseudo(17),
        132 => {
            let mut copy = l4.to_vec();
            let stored = u32::from_le_bytes(copy.get(8..12).ok_or_else(short)?.try_into().unwrap());
            copy[8..12].fill(0);
            crc32c(&copy) == stored
        }
        1 if !v6 => ones_sum(&[l4]) == 0xffff,
        58 if v6 => with_pseudo(58),
        _ => true,
    };
    if !ok {
        return Err(format!("checksum of protocol {proto}"));
    }
    let is_error = matches!(
        (v6, proto, l4.first()),
        (false, 1, Some(3 | 4 | 5 | 11 | 12)) | (true, 58, Some(1..=4))
    );
    if is_error && l4.len() > 8 {
        verify_at(&l4[8..], true).map_err(|e| format!("quoted packet: {e}"))?;
    }
    Ok(())
}
