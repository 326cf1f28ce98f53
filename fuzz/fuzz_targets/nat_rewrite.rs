//! Arbitrary bytes and arbitrary rewrites into `nat::rewrite`.
//!
//! Asserts: no panic; a failure leaves the buffer exactly as it was; on success every checksum
//! that a full recomputation can check (IPv4 header, the transport checksum of a whole
//! datagram, the ICMP checksum of an error, the quoted IPv4 header) is correct after the rewrite
//! exactly when it was correct before it — so with `fill` set (the harness first stores correct
//! checksums), every success verifies by full recomputation. Only the address, port and
//! checksum fields may change: everything else is compared byte for byte.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use svcplane::nat::{self, Family, Kind, Parsed, Rewrite};
use svcplane::wire::ip_protocol;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Store correct checksums in the packet before rewriting it.
    fill: bool,
    /// Give the rewrite addresses of the other family than the packet's.
    mismatch: bool,
    src_addr: Option<[u8; 16]>,
    src_port: Option<u16>,
    dst_addr: Option<[u8; 16]>,
    dst_port: Option<u16>,
    packet: Vec<u8>,
}

fn addr(raw: [u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::from(raw)
    } else {
        IpAddr::from([raw[0], raw[1], raw[2], raw[3]])
    }
}

/// The naive ones'-complement sum, independent of svcplane's.
fn ones(parts: &[&[u8]]) -> u16 {
    let mut acc: u64 = 0;
    let mut i = 0;
    for p in parts {
        for b in p.iter() {
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

fn crc32c(data: &[u8]) -> u32 {
    let mut crc: u32 = !0;
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

fn pseudo(buf: &[u8], v6: bool, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    if v6 {
        p.extend(&buf[8..40]);
        p.extend((len as u32).to_be_bytes());
        p.extend([0, 0, 0, proto]);
    } else {
        p.extend(&buf[12..20]);
        p.extend([0, proto]);
        p.extend((len as u16).to_be_bytes());
    }
    p
}

/// A checksum the harness can verify in full: where it is, and how to compute it.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// Internet checksum at `at` over `from..to`, with the pseudo-header of `proto` if set.
    Inet {
        at: usize,
        from: usize,
        to: usize,
        pseudo: Option<u8>,
        udp: bool,
    },
    /// SCTP CRC32c at `at` over `from..to`.
    Crc { at: usize, from: usize, to: usize },
}

fn checks(p: &Parsed) -> Vec<Check> {
    let v6 = p.family == Family::V6;
    let mut out = Vec::new();
    if !v6 {
        out.push(Check::Inet {
            at: 10,
            from: 0,
            to: p.l4_offset,
            pseudo: None,
            udp: false,
        });
    }
    let whole = p.fragment.is_none();
    let (l4, end) = (p.l4_offset, p.end);
    match (p.kind, p.tuple.protocol) {
        (Kind::Ports, ip_protocol::TCP) if whole => out.push(Check::Inet {
            at: l4 + 16,
            from: l4,
            to: end,
            pseudo: Some(6),
            udp: false,
        }),
        (Kind::Ports, ip_protocol::UDP) if whole => out.push(Check::Inet {
            at: l4 + 6,
            from: l4,
            to: end,
            pseudo: Some(17),
            udp: true,
        }),
        (Kind::Ports, ip_protocol::SCTP) if whole => out.push(Check::Crc {
            at: l4 + 8,
            from: l4,
            to: end,
        }),
        (Kind::Echo { .. } | Kind::IcmpOther | Kind::IcmpError, _) if whole => {
            out.push(Check::Inet {
                at: l4 + 2,
                from: l4,
                to: end,
                pseudo: v6.then_some(58),
                udp: false,
            })
        }
        _ => {}
    }
    if let (Some(inner), false) = (p.inner, v6) {
        out.push(Check::Inet {
            at: inner.l3_offset + 10,
            from: inner.l3_offset,
            to: inner.l4_offset,
            pseudo: None,
            udp: false,
        });
    }
    out
}

fn compute(buf: &[u8], v6: bool, c: Check) -> Vec<u8> {
    match c {
        Check::Inet {
            at,
            from,
            to,
            pseudo: ph,
            udp,
        } => {
            let mut seg = buf[from..to].to_vec();
            seg[at - from..at - from + 2].copy_from_slice(&[0, 0]);
            let phb = ph
                .map(|proto| pseudo(buf, v6, proto, to - from))
                .unwrap_or_default();
            let mut v = !ones(&[&phb, &seg]);
            if udp && v == 0 {
                v = 0xffff;
            }
            v.to_be_bytes().to_vec()
        }
        Check::Crc { at, from, to } => {
            let mut seg = buf[from..to].to_vec();
            seg[at - from..at - from + 4].fill(0);
            crc32c(&seg).to_le_bytes().to_vec()
        }
    }
}

fn field(c: Check) -> std::ops::Range<usize> {
    match c {
        Check::Inet { at, .. } => at..at + 2,
        Check::Crc { at, .. } => at..at + 4,
    }
}

fn correct(buf: &[u8], v6: bool, c: Check) -> bool {
    if let Check::Inet { at, udp: true, .. } = c {
        if !v6 && buf[at..at + 2] == [0, 0] {
            return true; // no checksum: nothing to verify, and it must stay absent
        }
    }
    buf[field(c)] == compute(buf, v6, c)[..]
}

/// Whether the checksum verifies as a receiver checks it (RFC 1071: the one's-complement sum
/// over the covered bytes, checksum included, is all ones). Differs from `correct` in one case
/// only: when the computed checksum is 0x0000, a field of 0xFFFF (the other zero of one's
/// complement) verifies too, and an incremental update (RFC 1624) may turn it into 0x0000.
fn verifies(buf: &[u8], v6: bool, c: Check) -> bool {
    correct(buf, v6, c)
        || matches!(c, Check::Inet { udp: false, .. })
            && buf[field(c)] == [0xff, 0xff]
            && compute(buf, v6, c) == [0, 0]
}

fuzz_target!(|input: Input| {
    let mut buf = input.packet;
    let parsed = nat::parse(&buf);
    if let (true, Ok(p)) = (input.fill, &parsed) {
        let v6 = p.family == Family::V6;
        // Transport and ICMP checksums first, then the IPv4 headers that cover nothing else.
        for c in checks(p).into_iter().rev() {
            let v = compute(&buf, v6, c);
            buf[field(c)].copy_from_slice(&v);
        }
    }
    let v6_packet = buf.first().is_some_and(|b| b >> 4 == 6);
    let fam_v6 = v6_packet ^ input.mismatch;
    let rw = Rewrite {
        src_addr: input.src_addr.map(|a| addr(a, fam_v6)),
        src_port: input.src_port,
        dst_addr: input.dst_addr.map(|a| addr(a, fam_v6)),
        dst_port: input.dst_port,
    };
    let before = buf.clone();
    match nat::rewrite(&mut buf, &rw) {
        Err(_) => assert_eq!(buf, before, "a failed rewrite changed the buffer"),
        Ok(p) => {
            assert_eq!(Ok(p), parsed, "rewrite parsed differently from parse");
            let v6 = p.family == Family::V6;
            let cs = checks(&p);
            for c in &cs {
                if input.fill {
                    assert!(
                        correct(&buf, v6, *c),
                        "{c:?} wrong after rewrite of a correct packet"
                    );
                } else {
                    assert_eq!(
                        verifies(&before, v6, *c),
                        verifies(&buf, v6, *c),
                        "{c:?} validity changed"
                    );
                }
            }
            // Nothing but addresses, ports/identifiers and checksums may change.
            let (sa, da, alen) = if v6 { (8, 24, 16) } else { (12, 16, 4) };
            let mut allowed: Vec<std::ops::Range<usize>> = vec![sa..sa + alen, da..da + alen];
            allowed.extend(cs.iter().map(|c| field(*c)));
            let l4 = p.l4_offset;
            allowed.extend([
                l4..l4 + 4,
                l4 + 2..l4 + 8,
                l4 + 6..l4 + 8,
                l4 + 8..l4 + 12,
                l4 + 16..l4 + 18,
            ]);
            if let Some(i) = p.inner {
                allowed.extend([
                    i.l3_offset + sa..i.l3_offset + sa + alen,
                    i.l3_offset + da..i.l3_offset + da + alen,
                ]);
                allowed.extend([i.l3_offset + 10..i.l3_offset + 12]);
                let l = i.l4_offset;
                allowed.extend([l..l + 8, l + 8..l + 12, l + 16..l + 18]);
            }
            for (i, (a, b)) in before.iter().zip(&buf).enumerate() {
                if a != b {
                    assert!(
                        allowed.iter().any(|r| r.contains(&i)),
                        "byte {i} changed outside the rewritten fields"
                    );
                }
            }
            assert_eq!(before.len(), buf.len());
        }
    }
});
