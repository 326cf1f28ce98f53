//! Rewriting one parsed packet in place with incremental checksum updates (`nat::apply`),
//! beside a baseline measured in the same run: the same field writes followed by a full
//! recomputation of every checksum the packet carries (what a NAT without RFC 1624 updates
//! does). Before measuring, each pair is checked to produce identical bytes, so both do the
//! same work. Parsing (shared by both) and `nat::rewrite` (parse + apply) are measured for
//! context. Results and the command are in BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::net::IpAddr;
use svcplane::nat::{self, Parsed, Rewrite};
use svcplane::wire::checksum::{finish, pseudo_header_v4, pseudo_header_v6, sum};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{icmp_error, Spec};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn spec(proto: u8, src: &str, dst: &str, sport: u16, dport: u16, payload: usize) -> Spec {
    Spec {
        proto,
        src: ip(src),
        dst: ip(dst),
        sport,
        dport,
        icmp_type: 0,
        payload: (0..payload).map(|i| i as u8).collect(),
        ip_opts: 0,
        ext: vec![],
        ttl: 64,
        ident: 0x1234,
        udp_no_checksum: false,
        tcp_flags: 0x18,
    }
}

fn put_addr(buf: &mut [u8], at: usize, a: IpAddr) {
    match a {
        IpAddr::V4(a) => buf[at..at + 4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => buf[at..at + 16].copy_from_slice(&a.octets()),
    }
}

fn put16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn ipv4_header_checksum(buf: &mut [u8], l3: usize) {
    let ihl = usize::from(buf[l3] & 15) * 4;
    put16(buf, l3 + 10, 0);
    let c = finish(sum(&buf[l3..l3 + ihl]));
    put16(buf, l3 + 10, c);
}

/// The full checksum of a TCP or UDP segment at `l4..end` of the IP packet at `l3`.
fn l4_checksum(buf: &mut [u8], l3: usize, l4: usize, end: usize, proto: u8, at: usize) {
    put16(buf, l4 + at, 0);
    let len = end - l4;
    let pseudo = if buf[l3] >> 4 == 4 {
        let s: [u8; 4] = buf[l3 + 12..l3 + 16].try_into().unwrap();
        let d: [u8; 4] = buf[l3 + 16..l3 + 20].try_into().unwrap();
        pseudo_header_v4(s, d, proto, len as u16)
    } else {
        let s: [u8; 16] = buf[l3 + 8..l3 + 24].try_into().unwrap();
        let d: [u8; 16] = buf[l3 + 24..l3 + 40].try_into().unwrap();
        pseudo_header_v6(s, d, proto, len as u32)
    };
    let mut c = finish(pseudo + sum(&buf[l4..end]));
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    put16(buf, l4 + at, c);
}

/// Baseline for a TCP/IPv4 or UDP/IPv6 DNAT: parse, write the fields, recompute in full.
fn full_dnat(buf: &mut [u8], p: &Parsed, rw: &Rewrite) {
    let v4 = buf[0] >> 4 == 4;
    put_addr(buf, if v4 { 16 } else { 24 }, rw.dst_addr.unwrap());
    put16(buf, p.l4_offset + 2, rw.dst_port.unwrap());
    if v4 {
        ipv4_header_checksum(buf, 0);
    }
    let at = if p.tuple.protocol == 6 { 16 } else { 6 };
    l4_checksum(buf, 0, p.l4_offset, p.end, p.tuple.protocol, at);
}

/// Baseline for the reply rewrite of an ICMPv4 error from a backend quoting a UDP datagram:
/// outer source and quoted destination address and port, then every checksum in full (quoted
/// IPv4 header, quoted UDP, ICMP, outer IPv4 header).
fn full_icmp_error(buf: &mut [u8], p: &Parsed, rw: &Rewrite) {
    let inner = p.inner.unwrap();
    let (vip, vport) = (rw.src_addr.unwrap(), rw.src_port.unwrap());
    put_addr(buf, 12, vip);
    put_addr(buf, inner.l3_offset + 16, vip);
    put16(buf, inner.l4_offset + 2, vport);
    ipv4_header_checksum(buf, inner.l3_offset);
    l4_checksum(buf, inner.l3_offset, inner.l4_offset, p.end, 17, 6);
    put16(buf, p.l4_offset + 2, 0);
    let c = finish(sum(&buf[p.l4_offset..p.end]));
    put16(buf, p.l4_offset + 2, c);
    ipv4_header_checksum(buf, 0);
}

fn bench_pair<const N: usize>(
    c: &mut Criterion,
    name: &str,
    packet: &[u8],
    rw: Rewrite,
    baseline: fn(&mut [u8], &Parsed, &Rewrite),
) {
    // Both must produce the same bytes, and those must verify with the test oracle.
    let p = nat::parse(packet).unwrap();
    let (mut a, mut b) = (packet.to_vec(), packet.to_vec());
    nat::apply(&mut a, &p, &rw).unwrap();
    baseline(&mut b, &p, &rw);
    assert_eq!(a, b, "{name}: incremental and full recomputation differ");
    common::verify_checksums(&a).unwrap();

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    // A fixed-size copy per iteration (inline moves, no memmove call) restores the packet.
    let packet: [u8; N] = packet.try_into().unwrap();
    let mut buf = packet;
    // The two compared: the same parsed packet, the same field writes; the checksums
    // updated incrementally (nat::apply) or recomputed in full.
    g.bench_function("incremental: nat::apply", |bch| {
        bch.iter(|| {
            buf = packet;
            nat::apply(black_box(&mut buf), black_box(&p), black_box(&rw)).unwrap();
        })
    });
    g.bench_function("baseline: full recomputation", |bch| {
        bch.iter(|| {
            buf = packet;
            baseline(black_box(&mut buf), black_box(&p), black_box(&rw));
        })
    });
    // For context: parsing, and parse + apply in one call.
    g.bench_function("context: nat::parse", |bch| {
        bch.iter(|| {
            // By reference: the result is materialised, not copied again.
            let p = nat::parse(black_box(&packet));
            black_box(&p);
        })
    });
    g.bench_function("context: nat::rewrite (parse + apply)", |bch| {
        bch.iter(|| {
            buf = packet;
            let p = nat::rewrite(black_box(&mut buf), black_box(&rw));
            black_box(&p);
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    // 64 bytes: IPv4 20 + TCP 24 (MSS option) + 20 payload.
    let tcp4 = spec(6, "10.0.1.2", "10.96.0.10", 40001, 80, 20).packet();
    assert_eq!(tcp4.len(), 64);
    bench_pair::<64>(
        c,
        "nat/tcp4_64B_dnat",
        &tcp4,
        Rewrite::dnat(ip("10.244.1.7"), 8080),
        full_dnat,
    );

    // 80 bytes: IPv6 40 + UDP 8 + 32 payload (a small DNS-sized datagram).
    let udp6 = spec(17, "fd00:1::2", "fd00:96::a", 40004, 53, 32).packet();
    assert_eq!(udp6.len(), 80);
    bench_pair::<80>(
        c,
        "nat/udp6_80B_dnat",
        &udp6,
        Rewrite::dnat(ip("fd00:244::7"), 5353),
        full_dnat,
    );

    // 70 bytes: a backend's ICMPv4 port unreachable quoting the client's DNATed 42-byte UDP
    // datagram, rewritten back so the client sees it come from the Service.
    let sent = spec(17, "10.0.1.2", "10.96.0.10", 40005, 53, 14);
    let before = nat::parse(&sent.packet()).unwrap().tuple;
    let fwd = Rewrite::dnat(ip("10.244.1.7"), 5353);
    let mut translated = sent.clone();
    translated.dst = ip("10.244.1.7");
    translated.dport = 5353;
    let quote = translated.packet();
    let err = icmp_error(&translated.dst, &translated.src, 3, 3, 0, &quote);
    assert_eq!(err.len(), 70);
    bench_pair::<70>(
        c,
        "nat/icmp4_port_unreachable_70B_reply",
        &err,
        fwd.reply(&before),
        full_icmp_error,
    );
}

criterion_group!(nat_benches, benches);
criterion_main!(nat_benches);
