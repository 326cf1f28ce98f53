//! The packet path allocates nothing (DESIGN.md invariant 1): a counting global allocator
//! records every allocation made by this test's thread while counting is on, and `process`,
//! `process_burst`, `explain`, `on_snapshot`, `expire`, `write_port_unreachable` and `write_tcp_reset` run under it for new flows,
//! established flows, replies, ICMP errors, affinity, masquerade, rejects, drops, passes and
//! malformed packets.

mod common;
mod counting;

use common::{icmp_error, Spec};
use counting::allocations;
use std::net::IpAddr;
use svcplane::catalog::Catalog;
use svcplane::dataplane::{Meta, Verdict, Worker, WorkerConfig};
use svcplane::k8s::Loader;
use svcplane::model::seed;

fn spec(proto: u8, src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Spec {
    Spec {
        proto,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        sport,
        dport,
        icmp_type: 0,
        payload: b"payload".to_vec(),
        ip_opts: 0,
        ext: vec![],
        ttl: 64,
        ident: 7,
        udp_no_checksum: false,
        tcp_flags: flags,
    }
}

#[test]
fn the_packet_path_allocates_nothing() {
    // The example cluster, loaded by the JSON loader (before counting starts).
    let mut cat = Catalog::new(seed::node(0)).unwrap();
    Loader::new()
        .apply_json(&mut cat, include_bytes!("../testdata/seed-cluster.json"))
        .unwrap();
    let snap = cat.compile();
    let mut w = Worker::new(WorkerConfig {
        flows: 4096,
        affinity_entries: 1024,
        conntrack_seed: 42,
        ..WorkerConfig::default()
    })
    .unwrap();

    // Every packet built before counting starts.
    let mut new_flows: Vec<Vec<u8>> = Vec::new();
    for i in 0..200u16 {
        let pod = format!("10.244.1.{}", i % 200 + 1);
        new_flows.push(spec(6, &pod, 10000 + i, "10.96.47.182", 80, 0x02).packet());
        new_flows.push(spec(17, &pod, 10000 + i, "10.96.0.10", 53, 0).packet());
        new_flows.push(spec(6, &pod, 10000 + i, "10.96.45.100", 80, 0x02).packet());
        new_flows.push(spec(6, "192.168.0.10", 10000 + i, "10.96.0.80", 80, 0x02).packet());
        new_flows.push(spec(6, "203.0.113.9", 10000 + i, "198.51.100.7", 80, 0x02).packet());
        new_flows.push(spec(6, &pod, 10000 + i, "10.96.100.50", 80, 0x02).packet());
        new_flows.push(spec(6, &pod, 10000 + i, "10.96.47.182", 81, 0x02).packet());
        new_flows.push(spec(6, "192.0.2.1", 10000 + i, "198.51.100.7", 80, 0x02).packet());
        new_flows.push(spec(6, &pod, 10000 + i, "8.8.8.8", 80, 0x02).packet());
        new_flows.push(spec(17, "fd00:10:244:1::100", 10000 + i, "fd00:10:96::a", 53, 0).packet());
        // A fragmented datagram: first fragment, then the later one (fragment tracking).
        let mut f = spec(17, &pod, 30000 + i, "10.96.0.10", 53, 0);
        f.payload = vec![7; 40];
        f.ident = i;
        let l4 = f.l4();
        new_flows.push(f.packet_with(&l4[..24], Some((0, true))));
        new_flows.push(f.packet_with(&l4[24..], Some((24, false))));
    }
    let mut junk = new_flows[0][..25].to_vec();
    let meta = Meta::new(5_000_000_000);

    // The counter counts.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))) > 0);

    // Warm up with one packet of each kind (nothing in svcplane is lazy; this only makes sure
    // the test's own first uses are done).
    let mut warm = spec(6, "10.244.2.200", 9, "10.96.47.182", 80, 0x02).packet();
    assert_eq!(w.process(&snap, &mut warm, &meta), Verdict::Forward);

    let mut forwarded: Vec<Vec<u8>> = Vec::new();
    let n = allocations(|| {
        for p in new_flows.iter_mut() {
            w.process(&snap, p, &meta);
        }
        w.process(&snap, &mut junk, &meta);
    });
    assert_eq!(
        n, 0,
        "new flows, rejects, drops, passes and malformed packets"
    );
    assert!(w.counters().forward.packets >= 1000);
    assert!(w.counters().drop.iter().any(|d| d.packets > 0));
    assert!(w.counters().reject.iter().any(|r| r.packets > 0));

    // Established packets (the rewritten buffers sent again are new tuples, so resend the
    // originals) and replies with ICMP errors built from the forwarded packets.
    let mut again: Vec<Vec<u8>> = Vec::new();
    let mut replies: Vec<Vec<u8>> = Vec::new();
    // What each resent or reply packet must get: Forward, except a reply to a hairpin flow
    // (the pod reached itself, so the flow was masqueraded and a reply to the pod's own address
    // matches nothing: Pass).
    let mut expect: Vec<Verdict> = Vec::new();
    let mut expect_replies: Vec<Verdict> = Vec::new();
    for i in 0..200u16 {
        let pod = format!("10.244.1.{}", i % 200 + 1);
        let s = spec(17, &pod, 20000 + i, "10.96.0.10", 53, 0);
        let mut p = s.packet();
        assert_eq!(w.process(&snap, &mut p, &meta), Verdict::Forward);
        let t = svcplane::nat::parse(&p).unwrap().tuple;
        let back: IpAddr = t.dst;
        replies.push(spec(17, &back.to_string(), 53, &pod, 20000 + i, 0).packet());
        replies.push(icmp_error(&back, &t.src, 3, 3, 0, &p));
        let hairpin = back.to_string() == pod;
        expect_replies.push(if hairpin {
            Verdict::Pass
        } else {
            Verdict::Forward
        });
        expect_replies.push(Verdict::Forward);
        expect.push(Verdict::Forward);
        again.push(s.packet());
        forwarded.push(p);
    }
    let mut verdicts = [Verdict::Pass; 64];
    let mut seen: Vec<Verdict> = Vec::with_capacity(again.len() + replies.len());
    let n = allocations(|| {
        for p in again.iter_mut().chain(replies.iter_mut()) {
            seen.push(w.process(&snap, p, &meta));
        }
    });
    assert_eq!(n, 0, "established flows, replies, ICMP errors");
    expect.extend(expect_replies);
    assert_eq!(seen, expect);
    assert!(expect.iter().filter(|v| **v == Verdict::Forward).count() >= 590);

    // A burst that must be forwarded, so the burst path's new-flow stages run while counting:
    // 32 new TCP flows and 32 established UDP ones.
    let mut burst_bufs: Vec<Vec<u8>> = (0..32u16)
        .map(|i| {
            let pod = format!("10.244.1.{}", i + 1);
            spec(6, &pod, 50_000 + i, "10.96.47.182", 80, 0x02).packet()
        })
        .chain((0..32u16).map(|i| {
            let pod = format!("10.244.1.{}", i % 200 + 1);
            spec(17, &pod, 20_000 + i, "10.96.0.10", 53, 0).packet()
        }))
        .collect();
    let mut burst: Vec<&mut [u8]> = burst_bufs.iter_mut().map(|p| &mut p[..]).collect();
    let probe = spec(6, "10.244.1.1", 1, "10.96.47.182", 80, 0x02).packet();
    let mut explained = None;
    let mut reject_buf = [0u8; 1500];
    let n = allocations(|| {
        w.process_burst(&snap, &mut burst, &meta, &mut verdicts);
        explained = Some(w.explain(&snap, &probe, &meta).verdict);
        w.on_snapshot(&snap);
        w.expire(500_000_000_000, 1000);
        let rejected = &new_flows[5];
        assert!(svcplane::dataplane::write_port_unreachable(rejected, &mut reject_buf).is_some());
        assert!(svcplane::dataplane::write_tcp_reset(rejected, &mut reject_buf).is_some());
    });
    assert_eq!(n, 0, "burst, explain, on_snapshot, expire");
    assert!(
        verdicts.iter().all(|v| *v == Verdict::Forward),
        "{verdicts:?}"
    );
    assert_eq!(explained, Some(Verdict::Forward));
}
