//! `nat` against an independent oracle: every rewritten packet must equal, byte for byte, the
//! packet built from scratch (with checksums computed from their definitions by
//! `tests/common`) with the new addresses and ports. That checks that the right fields changed,
//! that nothing else did, and that every checksum equals a full recomputation.

mod common;

use common::{icmp_error, ip_packet, Rng, Spec};
use std::net::IpAddr;
use svcplane::nat::{self, Error, Kind, Rewrite, Tuple};

const CASES: usize = 20_000;

fn random_spec(rng: &mut Rng, v6: bool, proto: u8) -> Spec {
    let icmp = proto == 1 || proto == 58;
    let icmp_type = match (icmp, v6, rng.chance(50)) {
        (false, _, _) => 0,
        (true, false, true) => 8,
        (true, false, false) => 0,
        (true, true, true) => 128,
        (true, true, false) => 129,
    };
    let mut ext = Vec::new();
    if v6 {
        if rng.chance(30) {
            ext.push(0);
        }
        for _ in 0..rng.below(3) {
            ext.push(if rng.chance(50) { 60 } else { 43 });
        }
    }
    Spec {
        proto,
        src: rng.addr(v6),
        dst: rng.addr(v6),
        sport: rng.u16(),
        dport: rng.u16(),
        icmp_type,
        payload: {
            let n = rng.below(120) as usize;
            rng.bytes(n)
        },
        ip_opts: if v6 || rng.chance(70) {
            0
        } else {
            1 + rng.below(10) as usize
        },
        ext,
        ttl: 64,
        ident: rng.u16(),
        udp_no_checksum: proto == 17 && !v6 && rng.chance(20),
        tcp_flags: 0x18,
    }
}

fn random_proto(rng: &mut Rng, v6: bool) -> u8 {
    match rng.below(4) {
        0 => 6,
        1 => 17,
        2 => 132,
        _ if v6 => 58,
        _ => 1,
    }
}

fn random_rewrite(rng: &mut Rng, v6: bool) -> Rewrite {
    Rewrite {
        src_addr: rng.chance(50).then(|| rng.addr(v6)),
        src_port: rng.chance(50).then(|| rng.u16()),
        dst_addr: rng.chance(50).then(|| rng.addr(v6)),
        dst_port: rng.chance(50).then(|| rng.u16()),
    }
}

/// The spec after `rw`, by the rules of the module docs (independent of `Rewrite::applied_to`).
fn rewritten(spec: &Spec, rw: &Rewrite) -> Spec {
    let mut s = spec.clone();
    s.src = rw.src_addr.unwrap_or(s.src);
    s.dst = rw.dst_addr.unwrap_or(s.dst);
    match (spec.proto, spec.icmp_type) {
        (1, 8) | (58, 128) => s.sport = rw.src_port.unwrap_or(s.sport),
        (1, 0) | (58, 129) => s.dport = rw.dst_port.unwrap_or(s.dport),
        (1 | 58, _) => {}
        _ => {
            s.sport = rw.src_port.unwrap_or(s.sport);
            s.dport = rw.dst_port.unwrap_or(s.dport);
        }
    }
    s
}

#[test]
fn random_rewrites_equal_rebuilt_packets() {
    let mut rng = Rng(1);
    for case in 0..CASES {
        let v6 = rng.chance(50);
        let proto = random_proto(&mut rng, v6);
        let spec = random_spec(&mut rng, v6, proto);
        let rw = random_rewrite(&mut rng, v6);
        let mut buf = spec.packet();
        let parsed =
            nat::rewrite(&mut buf, &rw).unwrap_or_else(|e| panic!("case {case}: {e} for {spec:?}"));
        let expected = rewritten(&spec, &rw);
        assert_eq!(buf, expected.packet(), "case {case}: {spec:?} {rw:?}");
        // The parsed tuple is the packet's before the rewrite.
        assert_eq!(parsed.tuple.src, spec.src);
        assert_eq!(parsed.tuple.dst, spec.dst);
        // Parsing the result gives the rewritten tuple.
        let after = nat::parse(&buf).unwrap();
        assert_eq!(after.tuple, rw.applied_to(&parsed.tuple, parsed.kind));
    }
}

#[test]
fn reply_rewrite_restores_the_original_tuple() {
    let mut rng = Rng(2);
    for _ in 0..2_000 {
        let v6 = rng.chance(50);
        let proto = [6u8, 17, 132][rng.below(3) as usize];
        let client = random_spec(&mut rng, v6, proto);
        // DNAT to a backend, sometimes with masquerade.
        let mut fwd = Rewrite::dnat(rng.addr(v6), rng.u16());
        if rng.chance(50) {
            fwd = fwd.with_snat(rng.addr(v6), rng.u16());
        }
        let before = nat::parse(&client.packet()).unwrap().tuple;
        let after = fwd.applied_to(&before, Kind::Ports);
        // The backend's reply to the translated packet …
        let mut reply = client.clone();
        reply.src = after.dst;
        reply.dst = after.src;
        reply.sport = after.dst_port;
        reply.dport = after.src_port;
        let mut buf = reply.packet();
        nat::rewrite(&mut buf, &fwd.reply(&before)).unwrap();
        // … reaches the client from the service address it spoke to.
        let mut expected = reply.clone();
        expected.src = before.dst;
        expected.dst = before.src;
        expected.sport = before.dst_port;
        expected.dport = before.src_port;
        assert_eq!(buf, expected.packet());
    }
}

#[test]
fn fragments_first_gets_l4_update_later_ones_l3_only() {
    let mut rng = Rng(3);
    for case in 0..4_000 {
        let v6 = rng.chance(50);
        let proto = [6u8, 17, 132][rng.below(3) as usize];
        let mut spec = random_spec(&mut rng, v6, proto);
        let n = 40 + rng.below(100) as usize;
        spec.payload = rng.bytes(n);
        let rw = random_rewrite(&mut rng, v6);
        let l4 = spec.l4();
        let cut = 32; // a multiple of 8 past every transport header and checksum
        let mut first = ip_packet(&spec, &l4[..cut], Some((0, true)));
        let mut rest = ip_packet(&spec, &l4[cut..], Some((cut as u16, false)));
        let expected = rewritten(&spec, &rw);
        let new_l4 = expected.l4();
        let sctp_port_change = proto == 132
            && (rw.src_port.is_some_and(|p| p != spec.sport)
                || rw.dst_port.is_some_and(|p| p != spec.dport));
        let original = first.clone();
        match nat::rewrite(&mut first, &rw) {
            Ok(p) => {
                assert!(!sctp_port_change, "case {case}");
                assert!(p.fragment.is_some_and(|f| f.more && f.offset == 0));
                assert_eq!(p.kind, Kind::Ports);
                assert_eq!(first, ip_packet(&expected, &new_l4[..cut], Some((0, true))));
            }
            Err(e) => {
                assert!(sctp_port_change, "case {case}: {e}");
                assert_eq!(e, Error::Unsupported);
                assert_eq!(
                    first, original,
                    "a failed rewrite leaves the buffer as it was"
                );
            }
        }
        let p = nat::rewrite(&mut rest, &rw).unwrap();
        assert_eq!(p.kind, Kind::Fragment);
        assert_eq!((p.tuple.src_port, p.tuple.dst_port), (0, 0));
        // Only the addresses change in a later fragment: its data is the old segment's.
        let mut addr_only = spec.clone();
        addr_only.src = expected.src;
        addr_only.dst = expected.dst;
        assert_eq!(
            rest,
            ip_packet(&addr_only, &l4[cut..], Some((cut as u16, false)))
        );
    }
}

/// An ICMP error sent back by a backend (or a router on the way to it) about a translated
/// packet reaches the client as if the Service had sent it: the quote is exactly the client's
/// own packet again, every checksum (outer, ICMP, quoted IP, quoted transport) recomputed.
#[test]
fn icmp_errors_quote_the_clients_own_packet() {
    let mut rng = Rng(4);
    for case in 0..CASES {
        let v6 = rng.chance(50);
        let proto = random_proto(&mut rng, v6);
        let mut client = random_spec(&mut rng, v6, proto);
        if proto == 1 || proto == 58 {
            client.icmp_type = if v6 { 128 } else { 8 };
        }
        let mut fwd = Rewrite::dnat(rng.addr(v6), rng.u16());
        if rng.chance(50) {
            fwd = fwd.with_snat(rng.addr(v6), rng.u16());
        }
        let original = client.packet();
        let translated_spec = rewritten(&client, &fwd);
        let translated = translated_spec.packet();
        let inner_hl = translated.len() - translated_spec.l4().len();
        let quote_len =
            inner_hl + 8 + rng.below((translated.len() - inner_hl - 8) as u64 + 1) as usize;
        let router = rng.addr(v6);
        let from_backend = rng.chance(50);
        let sender = if from_backend {
            translated_spec.dst
        } else {
            router
        };
        // Every error type: ICMPv4's five (Linux's icmp_is_err), ICMPv6's 0-127 (RFC 4443 §2.1:
        // the unassigned ones too).
        let (ty, code, extra) = match (v6, rng.below(6)) {
            (false, 0) => (3, 3, 0),
            (false, 1) => (3, 4, 1400),
            (false, 2) => (11, 0, 0),
            (false, 3) => (4, 0, 0),
            (false, 4) => (5, 1, u32::from_be_bytes([10, 0, 0, 1])),
            (false, _) => (12, 0, 0x0800_0000),
            (true, 0) => (1, 4, 0),
            (true, 1) => (2, 0, 1280),
            (true, 2) => (3, 0, 0),
            (true, 3) => (4, 0, 8),
            (true, 4) => (0, 0, 0),
            (true, _) => (5 + rng.below(123) as u8, 0, 0),
        };
        let mut err = icmp_error(
            &sender,
            &translated_spec.src,
            ty,
            code,
            extra,
            &translated[..quote_len],
        );
        let before = nat::parse(&original).unwrap().tuple;
        let p = nat::rewrite(&mut err, &fwd.reply(&before))
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(p.kind, Kind::IcmpError);
        let inner = p.inner.unwrap();
        assert_eq!(inner.tuple.src, translated_spec.src);
        assert_eq!(inner.tuple.dst, translated_spec.dst);
        let shown_sender = if from_backend { client.dst } else { router };
        // A checksum field the quote cuts in two cannot be updated: it keeps its bytes.
        let mut quote = original[..quote_len].to_vec();
        let l4_quoted = quote_len - inner_hl;
        let cut_field = match proto {
            6 if l4_quoted == 17 => Some(16..17),
            132 if (9..12).contains(&l4_quoted) => Some(8..l4_quoted),
            _ => None,
        };
        if let Some(r) = cut_field {
            let r = inner_hl + r.start..inner_hl + r.end;
            quote[r.clone()].copy_from_slice(&translated[r]);
        }
        let expected = icmp_error(&shown_sender, &client.src, ty, code, extra, &quote);
        assert_eq!(
            err, expected,
            "case {case}: {client:?} quote {quote_len} from backend {from_backend}"
        );
    }
}

fn sample_packets() -> Vec<Vec<u8>> {
    let mut rng = Rng(5);
    let mut out = Vec::new();
    for v6 in [false, true] {
        for proto in [6u8, 17, 132, if v6 { 58 } else { 1 }] {
            let spec = random_spec(&mut rng, v6, proto);
            let pkt = spec.packet();
            let hl = pkt.len() - spec.l4().len();
            out.push(icmp_error(
                &rng.addr(v6),
                &spec.src,
                if v6 { 1 } else { 3 },
                if v6 { 4 } else { 3 },
                0,
                &pkt[..(hl + 8).min(pkt.len())],
            ));
            out.push(pkt);
        }
    }
    out
}

#[test]
fn every_truncation_is_an_error_and_changes_nothing() {
    let rw = Rewrite::dnat(IpAddr::from([10, 9, 9, 9]), 8080)
        .with_snat(IpAddr::from([10, 8, 8, 8]), 4242);
    let rw6 =
        Rewrite::dnat("fd00::9".parse().unwrap(), 8080).with_snat("fd00::8".parse().unwrap(), 4242);
    for pkt in sample_packets() {
        let rw = if pkt[0] >> 4 == 6 { &rw6 } else { &rw };
        for len in 0..pkt.len() {
            let mut buf = pkt[..len].to_vec();
            let e = nat::rewrite(&mut buf, rw);
            assert!(
                e.is_err(),
                "prefix of {len} bytes of {pkt:02x?} was accepted"
            );
            assert_eq!(buf, &pkt[..len]);
        }
        // Trailing bytes after the IP length (Ethernet padding) are ignored and kept.
        let mut padded = pkt.clone();
        padded.extend([0xee; 6]);
        nat::rewrite(&mut padded, rw).unwrap();
        assert_eq!(&padded[pkt.len()..], &[0xee; 6]);
    }
}

#[test]
fn corrupted_packets_never_panic_and_failures_change_nothing() {
    let mut rng = Rng(6);
    let samples = sample_packets();
    for _ in 0..CASES {
        let mut buf = samples[rng.below(samples.len() as u64) as usize].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(buf.len() as u64) as usize;
            buf[i] = rng.next() as u8;
        }
        let v6 = rng.chance(50);
        let rw = random_rewrite(&mut rng, v6);
        let before = buf.clone();
        if nat::rewrite(&mut buf, &rw).is_err() {
            assert_eq!(buf, before);
        }
    }
}

#[test]
fn specific_refusals() {
    let mut rng = Rng(7);
    // Family mismatch.
    let spec = random_spec(&mut rng, false, 6);
    let mut buf = spec.packet();
    let rw = Rewrite::dnat("fd00::1".parse().unwrap(), 80);
    assert_eq!(
        nat::rewrite(&mut buf, &rw).unwrap_err(),
        Error::FamilyMismatch
    );
    assert_eq!(buf, spec.packet());
    // A zero UDP checksum over IPv6 (RFC 8200 §8.1: receivers discard it).
    let spec = random_spec(&mut rng, true, 17);
    let mut buf = spec.packet();
    let at = buf.len() - spec.l4().len() + 6;
    buf[at..at + 2].copy_from_slice(&[0, 0]);
    assert_eq!(nat::parse(&buf).unwrap_err(), Error::Malformed);
    // An ICMP error about an ICMP error.
    let inner = icmp_error(
        &rng.addr(false),
        &rng.addr(false),
        3,
        3,
        0,
        &spec_bytes(&mut rng),
    );
    let err = icmp_error(&rng.addr(false), &rng.addr(false), 11, 0, 0, &inner[..28]);
    assert_eq!(nat::parse(&err).unwrap_err(), Error::Unsupported);
    // A routing header with segments left.
    let mut spec = random_spec(&mut rng, true, 6);
    spec.ext = vec![43];
    let mut buf = spec.packet();
    buf[43] = 1;
    assert_eq!(nat::parse(&buf).unwrap_err(), Error::Unsupported);
    // Another transport protocol (GRE), in a well-formed IPv4 packet (checksum right).
    let spec = Spec::ip_only(47, rng.addr(false), rng.addr(false));
    let buf = ip_packet(&spec, &[0, 0, 0x08, 0x00, 1, 2, 3, 4], None);
    assert_eq!(nat::parse(&buf).unwrap_err(), Error::Unsupported);
}

fn spec_bytes(rng: &mut Rng) -> Vec<u8> {
    random_spec(rng, false, 17).packet()
}

#[test]
fn tuple_helpers() {
    let t = Tuple {
        protocol: 6,
        src: IpAddr::from([1, 1, 1, 1]),
        dst: IpAddr::from([2, 2, 2, 2]),
        src_port: 1,
        dst_port: 2,
    };
    assert_eq!(t.reversed().reversed(), t);
    assert_eq!(t.reversed().src, t.dst);
    let rw = Rewrite::dnat(IpAddr::from([3, 3, 3, 3]), 3);
    let r = rw.reply(&t);
    assert_eq!(r.src_addr, Some(t.dst));
    assert_eq!(r.src_port, Some(t.dst_port));
    assert_eq!(r.dst_addr, None);
    assert_eq!(r.dst_port, None);
}

/// An ICMP error quoting a packet of a protocol without ports svcplane knows (GRE, IP in IP,
/// UDP-Lite, the other family's ICMP): only the quoted addresses change. Bytes 2-3 of such a
/// quote are not a checksum (they were updated as an ICMPv6 one once: GRE's protocol type
/// 0x0800 became 0x0801).
#[test]
fn icmp_errors_quoting_other_protocols_change_only_the_addresses() {
    let mut rng = Rng(11);
    for v6 in [false, true] {
        let others: &[u8] = if v6 {
            &[47, 4, 41, 136, 1]
        } else {
            &[47, 4, 41, 136, 58]
        };
        for &proto in others {
            let (client, vip, backend, router) =
                (rng.addr(v6), rng.addr(v6), rng.addr(v6), rng.addr(v6));
            let spec = |dst: IpAddr| Spec::ip_only(proto, client, dst);
            // GRE carrying IPv4 (protocol type 0x0800), then payload bytes.
            let l4 = [0, 0, 8, 0, 0x45, 0, 0, 20, 1, 2, 3, 4];
            let translated = ip_packet(&spec(backend), &l4, None);
            let original = ip_packet(&spec(vip), &l4, None);
            let (ty, code, extra) = if v6 { (2, 0, 1280) } else { (3, 4, 1400) };
            let mut err = icmp_error(&router, &client, ty, code, extra, &translated);
            let before = Tuple {
                protocol: proto,
                src: client,
                dst: vip,
                src_port: 0,
                dst_port: 0,
            };
            let p = nat::rewrite(&mut err, &Rewrite::dnat(backend, 0).reply(&before))
                .unwrap_or_else(|e| panic!("v6 {v6} protocol {proto}: {e}"));
            assert_eq!(p.kind, Kind::IcmpError);
            assert_eq!(p.inner.unwrap().kind, Kind::OtherProtocol);
            let expected = icmp_error(&router, &client, ty, code, extra, &original);
            assert_eq!(err, expected, "v6 {v6} protocol {proto}");
        }
    }
}

/// An IPv6 atomic fragment (a fragment header with offset 0 and no more fragments) is a whole
/// packet (RFC 6946 §4): rewritten like one, SCTP ports included, and its UDP length checked
/// like one.
#[test]
fn ipv6_atomic_fragments_are_whole_packets() {
    let mut rng = Rng(12);
    for case in 0..2_000 {
        let proto = random_proto(&mut rng, true);
        let spec = random_spec(&mut rng, true, proto);
        let rw = random_rewrite(&mut rng, true);
        let mut pkt = spec.packet_with(&spec.l4(), Some((0, false)));
        let p = nat::rewrite(&mut pkt, &rw).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(p.fragment, None, "case {case}");
        assert_ne!(p.kind, Kind::Fragment, "case {case}");
        let want = rewritten(&spec, &rw);
        assert_eq!(
            pkt,
            want.packet_with(&want.l4(), Some((0, false))),
            "case {case}: {spec:?} {rw:?}"
        );
    }
    // A UDP length beyond the segment is refused, as without the fragment header.
    let mut spec = random_spec(&mut rng, true, 17);
    spec.payload = vec![1, 2, 3, 4];
    let mut l4 = spec.l4();
    l4[4..6].copy_from_slice(&500u16.to_be_bytes());
    for frag in [None, Some((0, false))] {
        let pkt = spec.packet_with(&l4, frag);
        assert_eq!(nat::parse(&pkt).unwrap_err(), Error::Malformed, "{frag:?}");
    }
}

/// An ICMPv4 echo reply whose bytes are all zero but the checksum (identifier 0, sequence 0,
/// no payload) must carry checksum 0xffff, as a full computation gives: RFC 1624 eqn. 3 alone
/// yields 0, which a receiver's check refuses. Whole, and quoted whole in an ICMP error; and
/// the inverse rewrite gives the original bytes back.
#[test]
fn all_zero_icmpv4_echo_gets_checksum_ffff() {
    use common::inet_checksum;
    let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    let echo = |id: u16| {
        let mut msg = vec![0u8, 0, 0, 0];
        msg.extend(id.to_be_bytes());
        msg.extend([0, 0]);
        let c = inet_checksum(&[&msg]);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        msg
    };
    assert_eq!(
        &echo(0)[2..4],
        &[0xff, 0xff],
        "the oracle: all-zero data sums to 0xffff"
    );
    let spec = Spec::ip_only(1, a, b);
    let with_id = ip_packet(&spec, &echo(0x1234), None);
    let zero = ip_packet(&spec, &echo(0), None);
    let to_zero = Rewrite {
        dst_port: Some(0),
        ..Rewrite::default()
    };
    let back = Rewrite {
        dst_port: Some(0x1234),
        ..Rewrite::default()
    };
    let mut buf = with_id.clone();
    nat::rewrite(&mut buf, &to_zero).unwrap();
    assert_eq!(buf, zero);
    nat::rewrite(&mut buf, &back).unwrap();
    assert_eq!(buf, with_id);
    // Quoted whole in a destination unreachable: the quote gets the mirror of the rewrite, so
    // the reply's identifier (its destination-port role) is the rewrite's source port.
    let err = |q: &[u8]| icmp_error(&a, &b, 3, 1, 0, q);
    let (to_zero, back) = (
        Rewrite {
            src_port: Some(0),
            ..Rewrite::default()
        },
        Rewrite {
            src_port: Some(0x1234),
            ..Rewrite::default()
        },
    );
    let mut buf = err(&with_id);
    nat::rewrite(&mut buf, &to_zero).unwrap();
    assert_eq!(buf, err(&zero));
    nat::rewrite(&mut buf, &back).unwrap();
    assert_eq!(buf, err(&with_id));
}
