//! Arbitrary packets through `Worker::process` against the seed cluster
//! (`testdata/seed-cluster.json`, loaded by the JSON loader), with snapshot switches and clock
//! jumps: raw bytes, and well-formed packets aimed at the seed cluster's frontends (and replies
//! to what was forwarded).
//!
//! Asserts: no panic; a packet that is not forwarded is left exactly as it was; a forwarded
//! packet keeps its length, and when its checksums were correct before (all aimed packets) they
//! verify by full recomputation (`tests/common`, independent of svcplane) after the rewrite;
//! `explain` agrees with `process` (it does not try the rewrite or the SNAT port search, so
//! where it says Forward, `process` may still find the packet Invalid or the ports taken); a
//! second worker with the fast path off (`WorkerConfig::fast_path`) gets the same operations and
//! returns the same verdicts, bytes and counters; and a third worker gets the same packets in
//! bursts through `process_burst` (cut at every snapshot switch and clock jump, at `Flush` and at
//! 64 packets) and must return, packet for packet, the verdicts and bytes `process` returned,
//! and the same counters.
#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use arbitrary::Arbitrary;
use common::{verify_checksums, Spec};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use svcplane::catalog::Catalog;
use svcplane::dataplane::{steer, DropReason, Meta, Verdict, Worker, WorkerConfig};
use svcplane::k8s::Loader;
use svcplane::model::{seed, ObjectRef};
use svcplane::nat::{self, Tuple};
use svcplane::snapshot::Snapshot;

#[derive(Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Aimed {
        frontend: u8,
        client: u8,
        host: u8,
        sport: u16,
        flags: u8,
        payload: u8,
    },
    Reply {
        flags: u8,
        icmp_error: bool,
    },
    Switch(u8),
    Advance(u16),
    Flush,
}

/// Packets waiting for the burst worker: (the packet as it arrived, the verdict and bytes the
/// single-packet worker gave it).
type Pending = Vec<(Vec<u8>, Verdict, Vec<u8>)>;

/// Runs `pending` through `burst` as one `process_burst` call and checks each result against
/// what `process` gave.
fn flush(burst: &mut Worker, snap: &Snapshot, meta: &Meta, pending: &mut Pending) {
    if pending.is_empty() {
        return;
    }
    let mut bufs: Vec<Vec<u8>> = pending.iter().map(|(b, _, _)| b.clone()).collect();
    let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
    let mut verdicts = vec![Verdict::Invalid; refs.len()];
    assert_eq!(
        burst.process_burst(snap, &mut refs, meta, &mut verdicts),
        pending.len()
    );
    for (i, ((_, v, after), (got_v, got))) in
        pending.iter().zip(verdicts.iter().zip(&bufs)).enumerate()
    {
        assert_eq!(got_v, v, "packet {i} of a burst of {}", pending.len());
        assert_eq!(got, after, "packet {i} of a burst of {}", pending.len());
    }
    pending.clear();
}

const FRONTENDS: &[(u8, &str, u16)] = &[
    (6, "10.96.47.182", 80),
    (6, "10.96.47.182", 81),
    (6, "192.168.0.10", 30080),
    (6, "198.51.100.7", 80),
    (6, "198.51.100.7", 443),
    (6, "192.168.0.10", 31205),
    (6, "10.96.33.91", 9090),
    (6, "10.96.45.100", 80),
    (6, "10.96.0.80", 80),
    (6, "10.96.100.50", 80),
    (17, "10.96.0.10", 53),
    (6, "10.96.0.10", 53),
    (17, "fd00:10:96::a", 53),
    (6, "10.96.200.1", 80),
    (17, "8.8.8.8", 53),
    (132, "10.96.0.80", 80),
];

const CLIENTS: &[&str] = &[
    "10.244.1.",
    "10.244.3.",
    "192.168.0.10",
    "203.0.113.",
    "198.18.0.",
    "fd00:10:244:1::",
    "2001:db8::",
];

fn snapshots() -> &'static [Arc<Snapshot>] {
    static SNAPS: OnceLock<Vec<Arc<Snapshot>>> = OnceLock::new();
    SNAPS.get_or_init(|| {
        // The example cluster, loaded by the JSON loader; the loader is not kept, so the
        // changes below go to the catalog directly.
        let mut cat = Catalog::new(seed::node(0)).unwrap();
        Loader::new()
            .apply_json(&mut cat, include_bytes!("../../testdata/seed-cluster.json"))
            .unwrap();
        let full = cat.compile();
        let mut shrink = |ns: &str, name: &str, keep: usize| {
            let id = ObjectRef::new(ns, name);
            let mut slices = cat.endpoints(&id).unwrap().to_vec();
            for s in &mut slices {
                s.endpoints.truncate(keep);
            }
            cat.replace_endpoints(&id, slices).unwrap();
        };
        shrink("production", "pricing-engine-svc", 1);
        shrink("kube-system", "kube-dns", 1);
        shrink("default", "my-api", 1);
        let churned = cat.compile();
        let mut cat2 = cat;
        for (ns, name) in [
            ("production", "pricing-engine-svc"),
            ("kube-system", "kube-dns"),
            ("production", "order-api-svc"),
        ] {
            let id = ObjectRef::new(ns, name);
            let mut slices = cat2.endpoints(&id).unwrap().to_vec();
            for s in &mut slices {
                s.endpoints.clear();
            }
            cat2.replace_endpoints(&id, slices).unwrap();
        }
        vec![full, churned, cat2.compile()]
    })
}

fn spec(proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16, flags: u8, len: u8) -> Spec {
    Spec {
        proto,
        src,
        dst,
        sport,
        dport,
        icmp_type: 0,
        payload: vec![0x5a; usize::from(len)],
        ip_opts: 0,
        ext: vec![],
        ttl: 64,
        ident: 1,
        udp_no_checksum: false,
        tcp_flags: flags,
    }
}

fn client(i: u8, host: u8, v6: bool) -> IpAddr {
    let fam: Vec<&&str> = CLIENTS.iter().filter(|c| c.contains(':') == v6).collect();
    let base = fam[usize::from(i) % fam.len()];
    let text = if base.ends_with('.') || base.ends_with(':') {
        format!("{base}{}", host % 250 + 1)
    } else {
        (*base).to_string()
    };
    text.parse().unwrap()
}

fuzz_target!(|ops: Vec<Op>| {
    let snaps = snapshots();
    let config = WorkerConfig {
        flows: 64,
        affinity_entries: 16,
        conntrack_seed: 9,
        ..WorkerConfig::default()
    };
    let mut w = Worker::new(config).unwrap();
    let mut general = Worker::new(WorkerConfig {
        fast_path: false,
        ..config
    })
    .unwrap();
    let mut burst = Worker::new(config).unwrap();
    let mut pending: Pending = Vec::new();
    let mut snap = &snaps[0];
    let mut now: u64 = 1_000_000_000;
    let mut last: Option<(Tuple, Vec<u8>)> = None;
    for op in ops.into_iter().take(256) {
        let (mut pkt, checked) = match op {
            Op::Switch(i) => {
                flush(&mut burst, snap, &Meta::new(now), &mut pending);
                snap = &snaps[usize::from(i) % snaps.len()];
                let flushed = w.on_snapshot(snap);
                assert_eq!(general.on_snapshot(snap), flushed);
                assert_eq!(burst.on_snapshot(snap), flushed);
                continue;
            }
            Op::Advance(s) => {
                flush(&mut burst, snap, &Meta::new(now), &mut pending);
                now += u64::from(s) * 1_000_000_000;
                let expired = w.expire(now, 16);
                assert_eq!(general.expire(now, 16), expired);
                assert_eq!(burst.expire(now, 16), expired);
                continue;
            }
            Op::Flush => {
                flush(&mut burst, snap, &Meta::new(now), &mut pending);
                continue;
            }
            Op::Raw(bytes) => (bytes, false),
            Op::Aimed {
                frontend,
                client: c,
                host,
                sport,
                flags,
                payload,
            } => {
                let (proto, dst, dport) = FRONTENDS[usize::from(frontend) % FRONTENDS.len()];
                let dst: IpAddr = dst.parse().unwrap();
                let src = client(c, host, dst.is_ipv6());
                (
                    spec(proto, src, sport, dst, dport, flags, payload).packet(),
                    true,
                )
            }
            Op::Reply { flags, icmp_error } => {
                let Some((t, fwd)) = &last else { continue };
                if icmp_error {
                    (common::icmp_error(&t.dst, &t.src, 3, 3, 0, fwd), true)
                } else {
                    let r = t.reversed();
                    (
                        spec(r.protocol, r.src, r.src_port, r.dst, r.dst_port, flags, 3).packet(),
                        true,
                    )
                }
            }
        };
        let before = pkt.clone();
        let was_valid = checked || verify_checksums(&before).is_ok();
        let meta = Meta::new(now);
        let explained = w.explain(snap, &before, &meta).verdict;
        // Steering: any packet, a worker below the count (or None: a later fragment).
        for workers in [1u16, 3, 1024] {
            if let Some(i) = steer(snap, &before, workers) {
                assert!(i < workers);
            }
        }
        let v = w.process(snap, &mut pkt, &meta);
        let mut pkt_general = before.clone();
        assert_eq!(general.process(snap, &mut pkt_general, &meta), v);
        assert_eq!(pkt_general, pkt);
        pending.push((before.clone(), v, pkt.clone()));
        if pending.len() == 64 {
            flush(&mut burst, snap, &meta, &mut pending);
        }
        if explained == Verdict::Forward {
            // explain does not try the rewrite or the SNAT port search.
            assert!(
                matches!(
                    v,
                    Verdict::Forward | Verdict::Invalid | Verdict::Drop(DropReason::FlowClash)
                ),
                "{v:?}"
            );
        } else {
            assert_eq!(v, explained);
        }
        if v == Verdict::Forward {
            assert_eq!(pkt.len(), before.len());
            if was_valid {
                verify_checksums(&pkt).unwrap();
            }
            if let Ok(p) = nat::parse(&pkt) {
                if p.inner.is_none() {
                    last = Some((p.tuple, pkt.clone()));
                }
            }
        } else {
            assert_eq!(pkt, before, "{v:?}");
        }
    }
    flush(&mut burst, snap, &Meta::new(now), &mut pending);
    assert_eq!(w.counters(), general.counters());
    assert_eq!(w.counters(), burst.counters());
});
