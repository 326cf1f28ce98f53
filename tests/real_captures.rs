//! `nat` on packets captured from real Linux traffic (`tests/captures/mod.rs` says how they were
//! made and that tshark found every checksum good). The oracle is `common::verify_checksums`,
//! which recomputes every checksum from its RFC definition without svcplane's code.

mod captures;
mod common;

use captures::*;
use common::{verify_checksums, Rng};
use std::net::IpAddr;
use svcplane::nat::{self, Error, Kind, Rewrite, Tuple};

/// Every capture with its name.
const ALL: &[(&str, &[u8])] = &[
    ("IPV4_TCP_SYN", IPV4_TCP_SYN),
    ("IPV4_TCP_DATA", IPV4_TCP_DATA),
    ("IPV4_UDP", IPV4_UDP),
    ("IPV6_TCP_SYN", IPV6_TCP_SYN),
    ("IPV6_TCP_DATA", IPV6_TCP_DATA),
    ("IPV6_UDP", IPV6_UDP),
    ("IPV4_ICMP_ECHO_REQUEST", IPV4_ICMP_ECHO_REQUEST),
    ("IPV4_ICMP_ECHO_REPLY", IPV4_ICMP_ECHO_REPLY),
    ("IPV6_ICMP_ECHO_REQUEST", IPV6_ICMP_ECHO_REQUEST),
    ("IPV6_ICMP_ECHO_REPLY", IPV6_ICMP_ECHO_REPLY),
    ("IPV4_ICMP_PORT_UNREACHABLE", IPV4_ICMP_PORT_UNREACHABLE),
    ("IPV6_ICMP_PORT_UNREACHABLE", IPV6_ICMP_PORT_UNREACHABLE),
    ("IPV4_ICMP_FRAG_NEEDED", IPV4_ICMP_FRAG_NEEDED),
    ("IPV6_ICMP_PACKET_TOO_BIG", IPV6_ICMP_PACKET_TOO_BIG),
    ("IPV4_ICMP_TIME_EXCEEDED", IPV4_ICMP_TIME_EXCEEDED),
    ("IPV6_ICMP_TIME_EXCEEDED", IPV6_ICMP_TIME_EXCEEDED),
    ("IPV4_UDP_FRAG_FIRST", IPV4_UDP_FRAG_FIRST),
    ("IPV4_UDP_FRAG_LAST", IPV4_UDP_FRAG_LAST),
    ("IPV6_UDP_FRAG_FIRST", IPV6_UDP_FRAG_FIRST),
    ("IPV6_UDP_FRAG_LAST", IPV6_UDP_FRAG_LAST),
    ("IPV4_SCTP_INIT", IPV4_SCTP_INIT),
    ("IPV6_SCTP_INIT", IPV6_SCTP_INIT),
    ("IPV4_ICMP_PROTO_UNREACHABLE", IPV4_ICMP_PROTO_UNREACHABLE),
    (
        "IPV6_ICMP_PARAM_PROBLEM_NEXT_HEADER",
        IPV6_ICMP_PARAM_PROBLEM_NEXT_HEADER,
    ),
    ("IPV6_HOPOPTS_UDP", IPV6_HOPOPTS_UDP),
    ("IPV6_DSTOPTS_UDP", IPV6_DSTOPTS_UDP),
];

const C4: &str = "10.0.1.2";
const S4: &str = "10.0.2.2";
const R4: &str = "10.0.1.1";
const C6: &str = "fd00:1::2";
const S6: &str = "fd00:2::2";
const R6: &str = "fd00:1::1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tuple(protocol: u8, src: &str, sport: u16, dst: &str, dport: u16) -> Tuple {
    Tuple {
        protocol,
        src: ip(src),
        dst: ip(dst),
        src_port: sport,
        dst_port: dport,
    }
}

#[test]
fn the_oracle_accepts_every_capture_and_rejects_a_flipped_bit() {
    for (name, pkt) in ALL {
        verify_checksums(pkt).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // The oracle can fail: one flipped payload bit is caught in every unfragmented capture.
    for (name, pkt) in ALL {
        if name.contains("FRAG_") {
            continue;
        }
        let mut bad = pkt.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x10;
        assert!(
            verify_checksums(&bad).is_err(),
            "{name}: flipped bit not seen"
        );
    }
}

#[test]
fn every_capture_parses_to_its_documented_tuple() {
    let ports = Kind::Ports;
    let cases: &[(&[u8], Tuple, Kind)] = &[
        (IPV4_TCP_SYN, tuple(6, C4, 40001, S4, 7001), ports),
        (IPV4_TCP_DATA, tuple(6, C4, 40001, S4, 7001), ports),
        (IPV4_UDP, tuple(17, C4, 40003, S4, 7002), ports),
        (IPV6_TCP_SYN, tuple(6, C6, 40002, S6, 7001), ports),
        (IPV6_TCP_DATA, tuple(6, C6, 40002, S6, 7001), ports),
        (IPV6_UDP, tuple(17, C6, 40004, S6, 7002), ports),
        (
            IPV4_ICMP_ECHO_REQUEST,
            tuple(1, C4, 0x5454, S4, 0),
            Kind::Echo { request: true },
        ),
        (
            IPV4_ICMP_ECHO_REPLY,
            tuple(1, S4, 0, C4, 0x5454),
            Kind::Echo { request: false },
        ),
        (
            IPV6_ICMP_ECHO_REQUEST,
            tuple(58, C6, 0x5455, S6, 0),
            Kind::Echo { request: true },
        ),
        (
            IPV6_ICMP_ECHO_REPLY,
            tuple(58, S6, 0, C6, 0x5455),
            Kind::Echo { request: false },
        ),
        (IPV4_UDP_FRAG_FIRST, tuple(17, C4, 40008, S4, 7008), ports),
        (IPV4_UDP_FRAG_LAST, tuple(17, C4, 0, S4, 0), Kind::Fragment),
        (IPV6_UDP_FRAG_FIRST, tuple(17, C6, 40010, S6, 7008), ports),
        (IPV6_UDP_FRAG_LAST, tuple(17, C6, 0, S6, 0), Kind::Fragment),
        (IPV4_SCTP_INIT, tuple(132, C4, 40013, S4, 7009), ports),
        (IPV6_SCTP_INIT, tuple(132, C6, 40014, S6, 7009), ports),
        (IPV6_HOPOPTS_UDP, tuple(17, C6, 40015, S6, 7012), ports),
        (IPV6_DSTOPTS_UDP, tuple(17, C6, 40016, S6, 7013), ports),
    ];
    for (pkt, want, kind) in cases {
        let p = nat::parse(pkt).unwrap();
        assert_eq!((p.tuple, p.kind), (*want, *kind));
        assert_eq!(p.end, pkt.len());
    }
    // ICMP errors: the outer addresses, and the quoted packet's own tuple.
    let errors: &[(&[u8], &str, &str, Tuple)] = &[
        (
            IPV4_ICMP_PORT_UNREACHABLE,
            S4,
            C4,
            tuple(17, C4, 40005, S4, 7005),
        ),
        (
            IPV6_ICMP_PORT_UNREACHABLE,
            S6,
            C6,
            tuple(17, C6, 40006, S6, 7005),
        ),
        (
            IPV4_ICMP_FRAG_NEEDED,
            R4,
            C4,
            tuple(17, C4, 40009, S4, 7006),
        ),
        (
            IPV6_ICMP_PACKET_TOO_BIG,
            R6,
            C6,
            tuple(17, C6, 40010, S6, 7008),
        ),
        (
            IPV4_ICMP_TIME_EXCEEDED,
            R4,
            C4,
            tuple(17, C4, 40011, S4, 7007),
        ),
        (
            IPV6_ICMP_TIME_EXCEEDED,
            R6,
            C6,
            tuple(17, C6, 40012, S6, 7007),
        ),
        (
            IPV4_ICMP_PROTO_UNREACHABLE,
            S4,
            C4,
            tuple(132, C4, 40013, S4, 7009),
        ),
        (
            IPV6_ICMP_PARAM_PROBLEM_NEXT_HEADER,
            S6,
            C6,
            tuple(132, C6, 40014, S6, 7009),
        ),
    ];
    for (pkt, src, dst, inner) in errors {
        let p = nat::parse(pkt).unwrap();
        assert_eq!(p.kind, Kind::IcmpError);
        assert_eq!((p.tuple.src, p.tuple.dst), (ip(src), ip(dst)));
        assert_eq!(p.inner.unwrap().tuple, *inner);
    }
}

fn random_rewrite(rng: &mut Rng, v6: bool) -> Rewrite {
    let mut rw = Rewrite::default();
    if rng.chance(70) {
        rw.dst_addr = Some(rng.addr(v6));
        rw.dst_port = Some(rng.u16());
    }
    if rng.chance(50) {
        rw.src_addr = Some(rng.addr(v6));
        rw.src_port = Some(rng.u16());
    }
    rw
}

/// The rewrite that undoes `rw` on a packet whose tuple (or, for an ICMP error, whose
/// quoted tuple mirrored) was `t` before it.
fn undo(rw: &Rewrite, t: &Tuple) -> Rewrite {
    Rewrite {
        src_addr: rw.src_addr.map(|_| t.src),
        src_port: rw.src_port.map(|_| t.src_port),
        dst_addr: rw.dst_addr.map(|_| t.dst),
        dst_port: rw.dst_port.map(|_| t.dst_port),
    }
}

#[test]
fn rewriting_any_capture_verifies_and_undoing_it_restores_every_byte() {
    let mut rng = Rng(0xcab);
    for (name, pkt) in ALL {
        let before = nat::parse(pkt).unwrap();
        let v6 = pkt[0] >> 4 == 6;
        for round in 0..500 {
            let rw = random_rewrite(&mut rng, v6);
            let mut buf = pkt.to_vec();
            let p = nat::rewrite(&mut buf, &rw).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p, before, "{name}: parse result is of the packet before");
            verify_checksums(&buf).unwrap_or_else(|e| panic!("{name} round {round}: {e}"));
            let after = nat::parse(&buf).unwrap();
            let back = match before.kind {
                Kind::IcmpError => {
                    // The quoted packet gets the mirrored rewrite.
                    let q = before.inner.unwrap().tuple;
                    let mirrored = q.reversed();
                    let got = after.inner.unwrap().tuple.reversed();
                    let want = rw.applied_to(&mirrored, Kind::Ports);
                    assert_eq!((got.src, got.dst), (want.src, want.dst), "{name}");
                    undo(&rw, &mirrored)
                }
                kind => {
                    assert_eq!(after.tuple, rw.applied_to(&before.tuple, kind), "{name}");
                    undo(&rw, &before.tuple)
                }
            };
            nat::rewrite(&mut buf, &back).unwrap();
            assert_eq!(&buf[..], *pkt, "{name} round {round}: {rw:?} then {back:?}");
        }
    }
}

/// Reassembles a fragmented datagram's transport segment from its IPv4 or IPv6 fragments.
fn reassemble(first: &[u8], last: &[u8]) -> (IpAddr, IpAddr, Vec<u8>) {
    let v6 = first[0] >> 4 == 6;
    let p = first;
    let (hl, data_len) = if v6 {
        (48, 40 + usize::from(u16::from_be_bytes([p[4], p[5]])) - 48)
    } else {
        let ihl = usize::from(p[0] & 15) * 4;
        (ihl, usize::from(u16::from_be_bytes([p[2], p[3]])) - ihl)
    };
    let last_hl = if v6 {
        48
    } else {
        usize::from(last[0] & 15) * 4
    };
    let mut seg = first[hl..hl + data_len].to_vec();
    seg.extend_from_slice(&last[last_hl..]);
    let (src, dst) = if v6 {
        (
            IpAddr::from(<[u8; 16]>::try_from(&first[8..24]).unwrap()),
            IpAddr::from(<[u8; 16]>::try_from(&first[24..40]).unwrap()),
        )
    } else {
        (
            IpAddr::from(<[u8; 4]>::try_from(&first[12..16]).unwrap()),
            IpAddr::from(<[u8; 4]>::try_from(&first[16..20]).unwrap()),
        )
    };
    (src, dst, seg)
}

fn segment_checksum_ok(src: IpAddr, dst: IpAddr, seg: &[u8]) -> bool {
    let ps = common::pseudo(&src, &dst, 17, seg.len());
    common::ones_sum(&[&ps, seg]) == 0xffff
}

#[test]
fn fragmented_datagrams_reassemble_to_a_valid_datagram_after_dnat() {
    let mut rng = Rng(0xf4a9);
    for (first, last) in [
        (IPV4_UDP_FRAG_FIRST, IPV4_UDP_FRAG_LAST),
        (IPV6_UDP_FRAG_FIRST, IPV6_UDP_FRAG_LAST),
    ] {
        let (src, dst, seg) = reassemble(first, last);
        assert!(segment_checksum_ok(src, dst, &seg), "capture itself");
        let v6 = first[0] >> 4 == 6;
        for _ in 0..200 {
            let rw = random_rewrite(&mut rng, v6);
            let (mut a, mut b) = (first.to_vec(), last.to_vec());
            // The first fragment carries the ports and the datagram's checksum; the later one
            // only gets its addresses rewritten (the decision the first one made).
            nat::rewrite(&mut a, &rw).unwrap();
            let l3_only = Rewrite {
                src_port: None,
                dst_port: None,
                ..rw
            };
            let p = nat::rewrite(&mut b, &l3_only).unwrap();
            assert_eq!(p.kind, Kind::Fragment);
            verify_checksums(&a).unwrap();
            verify_checksums(&b).unwrap();
            let (s2, d2, seg2) = reassemble(&a, &b);
            assert_eq!(s2, rw.src_addr.unwrap_or(src));
            assert_eq!(d2, rw.dst_addr.unwrap_or(dst));
            assert!(segment_checksum_ok(s2, d2, &seg2), "{rw:?}");
        }
    }
}

/// The scenario the ICMP-error rewrite exists for: a client spoke to a Service address, the
/// packet was DNATed to the backend (the captured server), and an ICMP error came back from
/// the backend itself or from a router on the way. After the reply rewrite the client sees an
/// error about the packet it sent (to the Service address), from the Service address when the
/// backend sent it.
#[test]
fn icmp_errors_reach_the_client_about_the_service_it_spoke_to() {
    let cases: &[(&str, &[u8], &str, &str)] = &[
        (
            "port unreachable v4",
            IPV4_ICMP_PORT_UNREACHABLE,
            "10.96.0.10",
            S4,
        ),
        (
            "port unreachable v6",
            IPV6_ICMP_PORT_UNREACHABLE,
            "fd00:96::10",
            S6,
        ),
        ("frag needed v4", IPV4_ICMP_FRAG_NEEDED, "10.96.0.10", R4),
        (
            "packet too big v6",
            IPV6_ICMP_PACKET_TOO_BIG,
            "fd00:96::10",
            R6,
        ),
        (
            "time exceeded v4",
            IPV4_ICMP_TIME_EXCEEDED,
            "10.96.0.10",
            R4,
        ),
        (
            "time exceeded v6",
            IPV6_ICMP_TIME_EXCEEDED,
            "fd00:96::10",
            R6,
        ),
        (
            "proto unreachable v4",
            IPV4_ICMP_PROTO_UNREACHABLE,
            "10.96.0.10",
            S4,
        ),
        (
            "param problem v6",
            IPV6_ICMP_PARAM_PROBLEM_NEXT_HEADER,
            "fd00:96::10",
            S6,
        ),
    ];
    for (name, pkt, vip, sender) in cases {
        let quoted = nat::parse(pkt).unwrap().inner.unwrap().tuple;
        // What the client sent: to the Service at port 80.
        let sent = Tuple {
            dst: ip(vip),
            dst_port: 80,
            ..quoted
        };
        let forward = Rewrite::dnat(quoted.dst, quoted.dst_port);
        assert_eq!(forward.applied_to(&sent, Kind::Ports), quoted);
        let mut buf = pkt.to_vec();
        nat::rewrite(&mut buf, &forward.reply(&sent)).unwrap();
        verify_checksums(&buf).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = nat::parse(&buf).unwrap();
        assert_eq!(p.inner.unwrap().tuple, sent, "{name}");
        let shown = if ip(sender) == quoted.dst {
            ip(vip)
        } else {
            ip(sender)
        };
        assert_eq!((p.tuple.src, p.tuple.dst), (shown, quoted.src), "{name}");
        // Nothing but the addresses, the port and checksums changed: same length, same
        // ICMP type, code and MTU/pointer word.
        let off = p.l4_offset;
        assert_eq!(buf.len(), pkt.len());
        assert_eq!(buf[off], pkt[off]);
        assert_eq!(buf[off + 1], pkt[off + 1]);
        assert_eq!(buf[off + 4..off + 8], pkt[off + 4..off + 8]);
    }
}

#[test]
fn a_family_mismatch_is_refused_and_changes_nothing() {
    for (name, pkt) in ALL {
        let other: IpAddr = if pkt[0] >> 4 == 6 { ip(S4) } else { ip(S6) };
        let mut buf = pkt.to_vec();
        assert_eq!(
            nat::rewrite(&mut buf, &Rewrite::dnat(other, 1)),
            Err(Error::FamilyMismatch),
            "{name}"
        );
        assert_eq!(&buf[..], *pkt, "{name}");
    }
}
