//! The main job: the example cluster on one node, with generated traffic through a worker.
//!
//! Loads the seed cluster (`testdata/seed-cluster.json`, a `kubectl get svc,endpointslices -A
//! -o json` List) through the Kubernetes JSON loader (`svcplane::k8s::Loader`, feature
//! `k8s-json`, on by default) into a catalog for node `node-eu-west-1a` (the node's
//! configuration comes from `svcplane::model::seed::node`: the JSON holds no Node objects),
//! compiles a snapshot, and drives flows through one `Worker` for every kind of Service in it:
//! ClusterIP (TCP, and UDP over IPv4 and IPv6 to kube-dns), NodePort from outside and from a
//! pod, LoadBalancer from an allowed and a denied source range, ClientIP affinity, the Service
//! with no ready endpoint. Every forwarded packet gets its reply from the backend, which must
//! come back to the client from the address it spoke to; every rewritten packet's checksums are
//! recomputed from scratch and compared. Half way, one backend of pricing-engine-svc is removed
//! and one endpoint of api-service starts terminating; the worker switches snapshot,
//! established flows keep their backends and new flows avoid the leaving ones. Finally it
//! prints what happened.
//!
//! Run: `cargo run --release --example quickstart`. A document the loader refuses is reported
//! with the loader's error (kind, namespace/name, field path) and the run exits with status 1.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use svcplane::catalog::Catalog;
use svcplane::dataplane::{DropReason, Meta, RejectReason, Verdict, Worker, WorkerConfig};
use svcplane::k8s::{Applied, LoadError, Loader};
use svcplane::model::{seed, Conditions, ObjectRef, Protocol};
use svcplane::nat;
use svcplane::select::Pool;
use svcplane::snapshot::Snapshot;
use svcplane::wire::checksum::{finish, pseudo_header_v4, pseudo_header_v6, sum};

const TCP: u8 = 6;
const UDP: u8 = 17;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const SYN_ACK: u8 = 0x12;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// A TCP (20-byte header) or UDP packet with `payload`, checksums filled in.
fn packet(proto: u8, src: SocketAddr, dst: SocketAddr, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(20 + payload.len());
    l4.extend(src.port().to_be_bytes());
    l4.extend(dst.port().to_be_bytes());
    if proto == TCP {
        l4.extend(0x1000_0000u32.to_be_bytes());
        l4.extend(0x2000_0000u32.to_be_bytes());
        l4.extend([5 << 4, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    } else {
        l4.extend(((8 + payload.len()) as u16).to_be_bytes());
        l4.extend([0, 0]);
    }
    l4.extend(payload);
    let at = if proto == TCP { 16 } else { 6 };
    let mut pkt = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + l4.len()) as u16;
            let mut h = vec![0x45, 0];
            h.extend(total.to_be_bytes());
            h.extend([0, 1, 0x40, 0, 64, proto, 0, 0]);
            h.extend(s.octets());
            h.extend(d.octets());
            let c = finish(sum(&h));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            let c =
                finish(pseudo_header_v4(s.octets(), d.octets(), proto, l4.len() as u16) + sum(&l4));
            l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0];
            h.extend((l4.len() as u16).to_be_bytes());
            h.extend([proto, 64]);
            h.extend(s.octets());
            h.extend(d.octets());
            let c =
                finish(pseudo_header_v6(s.octets(), d.octets(), proto, l4.len() as u32) + sum(&l4));
            l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
            h
        }
        _ => unreachable!("one family per packet"),
    };
    pkt.extend(l4);
    pkt
}

/// Every checksum of a TCP or UDP packet recomputed from scratch: true when all are correct.
fn checksums_ok(pkt: &[u8]) -> bool {
    let Ok(p) = nat::parse(pkt) else {
        return false;
    };
    let seg = &pkt[p.l4_offset..p.end];
    let ps = match (p.tuple.src, p.tuple.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if finish(sum(&pkt[..20])) != 0 {
                return false;
            }
            pseudo_header_v4(s.octets(), d.octets(), p.tuple.protocol, seg.len() as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo_header_v6(s.octets(), d.octets(), p.tuple.protocol, seg.len() as u32)
        }
        _ => return false,
    };
    finish(ps + sum(seg)) == 0
}

/// One kind of traffic: clients of `from` (a /24 or /64 base) to `to`.
struct Scenario {
    name: &'static str,
    service: &'static str,
    proto: u8,
    from: &'static str,
    to: &'static str,
    flows: u32,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "ClusterIP from pods",
        service: "production/pricing-engine-svc",
        proto: TCP,
        from: "10.244.1.0",
        to: "10.96.47.182:80",
        flows: 3000,
    },
    Scenario {
        name: "ClusterIP, UDP/IPv4 DNS",
        service: "kube-system/kube-dns",
        proto: UDP,
        from: "10.244.1.0",
        to: "10.96.0.10:53",
        flows: 1000,
    },
    Scenario {
        name: "ClusterIP, UDP/IPv6 DNS",
        service: "kube-system/kube-dns",
        proto: UDP,
        from: "fd00:10:244:1::",
        to: "[fd00:10:96::a]:53",
        flows: 1000,
    },
    Scenario {
        name: "NodePort from outside",
        service: "production/order-api-svc",
        proto: TCP,
        from: "198.18.0.0",
        to: "192.168.0.10:30080",
        flows: 1000,
    },
    Scenario {
        name: "NodePort from a pod",
        service: "production/order-api-svc",
        proto: TCP,
        from: "10.244.2.0",
        to: "192.168.0.10:30080",
        flows: 500,
    },
    Scenario {
        name: "LoadBalancer, allowed range",
        service: "production/order-api-lb",
        proto: TCP,
        from: "203.0.113.0",
        to: "198.51.100.7:80",
        flows: 1000,
    },
    Scenario {
        name: "LoadBalancer, denied range",
        service: "production/order-api-lb",
        proto: TCP,
        from: "192.0.2.0",
        to: "198.51.100.7:80",
        flows: 500,
    },
    Scenario {
        name: "ClientIP affinity (20 clients)",
        service: "default/my-api",
        proto: TCP,
        from: "10.244.3.0",
        to: "10.96.45.100:80",
        flows: 1000,
    },
    Scenario {
        name: "ClusterIP with a terminating endpoint",
        service: "default/api-service",
        proto: TCP,
        from: "10.244.1.0",
        to: "10.96.0.80:80",
        flows: 1000,
    },
    Scenario {
        name: "no ready endpoint",
        service: "billing/payments",
        proto: TCP,
        from: "10.244.1.0",
        to: "10.96.100.50:80",
        flows: 200,
    },
];

/// Client `i` of a scenario: address and port.
fn client(s: &Scenario, i: u32) -> SocketAddr {
    let hosts = if s.name.starts_with("ClientIP") {
        20
    } else {
        150
    };
    // Hosts from .100 up: none of them is a backend (a pod talking to its own Service would
    // hairpin, which is masqueraded).
    let host = 100 + i % hosts;
    let addr = match ip(s.from) {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + host).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + u128::from(host)).into()),
    };
    SocketAddr::new(addr, 20_000 + (i / hosts) as u16 + (i % 7) as u16 * 1000)
}

#[derive(Default)]
struct Tally {
    packets: u64,
    forwarded: u64,
    other: BTreeMap<String, u64>,
    per_backend: BTreeMap<SocketAddr, u64>,
    bad_checksums: u64,
    wrong_reply: u64,
}

struct Run {
    worker: Worker,
    tallies: BTreeMap<&'static str, Tally>,
    flow_backend: BTreeMap<(usize, u32), SocketAddr>,
    packets: u64,
    busy_ns: u128,
}

impl Run {
    fn process(&mut self, snap: &Snapshot, pkt: &mut [u8], now: u64) -> Verdict {
        let t = Instant::now();
        let v = self.worker.process(snap, pkt, &Meta::new(now));
        self.busy_ns += t.elapsed().as_nanos();
        self.packets += 1;
        v
    }

    /// One flow of scenario `k`: the client's packets, each answered by the backend. A new
    /// flow opens with a SYN (answered by a SYN-ACK); a flow that goes on (`open`) sends data.
    fn flow(&mut self, snap: &Snapshot, k: usize, i: u32, packets: u32, now: u64, open: bool) {
        let s = &SCENARIOS[k];
        let (c, vip) = (
            client(s, i),
            s.to.parse::<SocketAddr>().expect("frontend literal"),
        );
        for n in 0..packets {
            let opening = n == 0 && !open;
            let flags = if opening { SYN } else { PSH_ACK };
            let mut pkt = packet(s.proto, c, vip, flags, b"GET / HTTP/1.1\r\n");
            let verdict = self.process(snap, &mut pkt, now);
            let tally = self.tallies.entry(s.service).or_default();
            tally.packets += 1;
            if verdict != Verdict::Forward {
                *tally.other.entry(format!("{verdict:?}")).or_default() += 1;
                return;
            }
            tally.forwarded += 1;
            let Ok(p) = nat::parse(&pkt) else {
                tally.bad_checksums += 1;
                return;
            };
            if !checksums_ok(&pkt) {
                tally.bad_checksums += 1;
            }
            let backend = SocketAddr::new(p.tuple.dst, p.tuple.dst_port);
            *tally.per_backend.entry(backend).or_default() += 1;
            self.flow_backend.insert((k, i), backend);
            // The backend answers whoever it saw.
            let seen = SocketAddr::new(p.tuple.src, p.tuple.src_port);
            let rflags = if opening { SYN_ACK } else { ACK };
            let mut reply = packet(s.proto, backend, seen, rflags, b"HTTP/1.1 200 OK\r\n");
            let rv = self.process(snap, &mut reply, now);
            let back = nat::parse(&reply).map(|r| r.tuple);
            let tally = self.tallies.entry(s.service).or_default();
            tally.packets += 1;
            let ok = rv == Verdict::Forward
                && checksums_ok(&reply)
                && back.is_ok_and(|t| {
                    (t.src, t.src_port, t.dst, t.dst_port)
                        == (vip.ip(), vip.port(), c.ip(), c.port())
                });
            if ok {
                tally.forwarded += 1;
            } else {
                tally.wrong_reply += 1;
            }
        }
    }
}

/// Where the example cluster comes from, for messages.
const SEED_CLUSTER_PATH: &str = "testdata/seed-cluster.json";

/// The example cluster, embedded at build time: the example then runs the same from any working
/// directory and as a bare binary (`target/release/examples/quickstart`), and cargo rebuilds it
/// when the file changes.
const SEED_CLUSTER_JSON: &[u8] = include_bytes!("../testdata/seed-cluster.json");

/// The catalog of node `node-eu-west-1a` holding the example cluster, loaded by the Kubernetes
/// JSON loader, and what the loader applied.
fn catalog() -> Result<(Catalog, Applied), LoadError> {
    let mut c = Catalog::new(seed::node(0)).expect("seed node configuration is valid");
    // The loader is dropped here: from now on this program changes the catalog's endpoints
    // directly (the churn below), with no loader whose slices could go stale.
    let applied = Loader::new().apply_json(&mut c, SEED_CLUSTER_JSON)?;
    Ok((c, applied))
}

fn main() {
    let (mut cat, applied) = match catalog() {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("svcplane quickstart: {SEED_CLUSTER_PATH} refused by the loader: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "loaded {SEED_CLUSTER_PATH} through svcplane::k8s::Loader: {} Services, {} EndpointSlices \
         applied, {} objects ignored",
        applied.services, applied.endpoint_slices, applied.ignored
    );
    let snap = cat.compile();
    println!(
        "svcplane quickstart: the seed cluster on node {} ({} Services, {} frontends)\n",
        snap.config().node_name,
        snap.service_count(),
        snap.frontend_count()
    );
    print!("{snap}");

    let mut run = Run {
        worker: Worker::new(WorkerConfig {
            flows: 65_536,
            affinity_entries: 4_096,
            // conntrack_seed: the default, random per process (never choose a fixed one).
            ..WorkerConfig::default()
        })
        .expect("worker configuration is valid"),
        tallies: BTreeMap::new(),
        flow_backend: BTreeMap::new(),
        packets: 0,
        busy_ns: 0,
    };
    let sec = 1_000_000_000u64;

    // Phase 1: every scenario's flows, three packets each way.
    for (k, s) in SCENARIOS.iter().enumerate() {
        for i in 0..s.flows / 2 {
            run.flow(&snap, k, i, 3, sec, false);
        }
    }

    // Churn: pricing-engine-svc loses 10.244.2.9; api-service's 10.244.1.30 starts terminating.
    let gone = ip("10.244.2.9");
    let id = ObjectRef::new("production", "pricing-engine-svc");
    let mut slices = cat.endpoints(&id).expect("seed Service").to_vec();
    slices
        .iter_mut()
        .for_each(|s| s.endpoints.retain(|e| e.address != gone));
    cat.replace_endpoints(&id, slices).expect("valid");
    let id = ObjectRef::new("default", "api-service");
    let mut slices = cat.endpoints(&id).expect("seed Service").to_vec();
    for e in slices.iter_mut().flat_map(|s| s.endpoints.iter_mut()) {
        if e.address == ip("10.244.1.30") {
            e.conditions = Conditions::from_api(Some(false), Some(true), Some(true));
        }
    }
    cat.replace_endpoints(&id, slices).expect("valid");
    let before: BTreeMap<(usize, u32), SocketAddr> = run.flow_backend.clone();
    let t = Instant::now();
    let snap2 = cat.compile();
    let compile_us = t.elapsed().as_secs_f64() * 1e6;
    let flushed = run.worker.on_snapshot(&snap2);
    println!(
        "\n-- churn: removed backend 10.244.2.9:8080 of production/pricing-engine-svc, \
         10.244.1.30:8000 of default/api-service now terminating; compile {compile_us:.0} µs, \
         {flushed} flows flushed by the switch --\n"
    );

    // Phase 2: the established flows of phase 1 go on (TCP keeps its backend)...
    let mut kept = 0u64;
    let mut kept_on_gone = 0u64;
    for (&(k, i), &b) in &before {
        run.flow(&snap2, k, i, 2, 2 * sec, true);
        if run.flow_backend.get(&(k, i)) == Some(&b) {
            kept += 1;
            kept_on_gone += u64::from(b.ip() == gone);
        }
    }
    // ... and new flows (the second half of each scenario) are balanced over what is left.
    // Which share of the pricing-engine flows would land elsewhere as new flows now (Maglev's
    // disruption): explain() asks without changing state, of a worker that tracks no flow
    // (the run's worker would answer its tracked flows from conntrack, unmoved by design).
    let fresh = Worker::new(WorkerConfig::default()).expect("worker configuration is valid");
    let (mut moved, mut total, mut moved_not_gone) = (0u32, 0u32, 0u32);
    for i in 0..SCENARIOS[0].flows {
        let s = &SCENARIOS[0];
        let (c, vip) = (client(s, i), s.to.parse::<SocketAddr>().expect("literal"));
        let pkt = packet(TCP, c, vip, SYN, b"");
        let a = fresh.explain(&snap, &pkt, &Meta::new(sec)).backend;
        let b = fresh.explain(&snap2, &pkt, &Meta::new(2 * sec)).backend;
        if let (Some(a), Some(b)) = (a, b) {
            total += 1;
            if a != b {
                moved += 1;
                moved_not_gone += u32::from(a.0 != gone);
            }
        }
    }
    let table_size = |snap: &Snapshot| {
        snap.frontend(Protocol::Tcp, ip("10.96.47.182"), 80)
            .and_then(|f| f.plan().pool(Pool::Cluster).maglev().map(|m| m.size()))
            .unwrap_or(0)
    };
    let (m1, m2) = (table_size(&snap), table_size(&snap2));
    for (k, s) in SCENARIOS.iter().enumerate() {
        for i in s.flows / 2..s.flows {
            run.flow(&snap2, k, i, 3, 2 * sec, false);
        }
    }

    // The report.
    println!(
        "{:<40} {:>8} {:>9}  verdicts other than Forward",
        "Service", "packets", "forwarded"
    );
    let (mut bad, mut wrong) = (0, 0);
    for (svc, t) in &run.tallies {
        let other: Vec<String> = t.other.iter().map(|(v, n)| format!("{v} ×{n}")).collect();
        println!(
            "{svc:<40} {:>8} {:>9}  {}",
            t.packets,
            t.forwarded,
            other.join(", ")
        );
        for (b, n) in &t.per_backend {
            println!("    {:<36} {n:>8} packets to the backend", b.to_string());
        }
        bad += t.bad_checksums;
        wrong += t.wrong_reply;
    }
    let c = run.worker.counters();
    println!(
        "\nworker verdicts: Forward {}, Pass {}, Invalid {}",
        c.forward.packets, c.pass.packets, c.invalid.packets
    );
    for r in DropReason::ALL {
        if c.dropped(r).packets > 0 {
            println!("  Drop({r:?}) {}", c.dropped(r).packets);
        }
    }
    for r in RejectReason::ALL {
        if c.rejected(r).packets > 0 {
            println!("  Reject({r:?}) {}", c.rejected(r).packets);
        }
    }
    let mut per_backend: Vec<_> = run.worker.backend_counts().collect();
    per_backend.sort_by_key(|(a, p, _)| (*a, *p));
    println!("worker per-backend counters (packets to / from):");
    for (addr, port, c) in per_backend {
        println!(
            "  {:<30} {:>7} / {:>7}",
            SocketAddr::new(addr, port).to_string(),
            c.to_backend.packets,
            c.from_backend.packets
        );
    }
    println!(
        "flows: {} created, {} evicted, {} expired, {} flushed on the snapshot switch; \
         affinity pins: {} created, {} evicted, {} removed (backend gone)",
        c.flows.created,
        c.flows.evicted,
        c.flows.expired,
        c.flows_flushed,
        c.affinity.created,
        c.affinity.evicted,
        c.affinity.removed
    );
    println!(
        "churn: {kept} of {} established flows kept their backend ({kept_on_gone} of them on the removed \
         backend, as TCP flows do); as new flows, {moved} of {total} pricing-engine flows ({:.1}%) \
         would move, {moved_not_gone} of them from a backend that stayed",
        before.len(),
        f64::from(moved) * 100.0 / f64::from(total.max(1))
    );
    if m1 != m2 {
        println!(
            "       (the Maglev table size follows the backend count: {m1} slots before, {m2} after, \
             so this removal rebuilt the table at a new size and flows on remaining backends moved \
             too; at an unchanged size only the removed backend's flows move. Pin the size per \
             Service with maglev_table_size to avoid it.)"
        );
    }
    println!(
        "checksums: {bad} forwarded packets wrong by full recomputation; replies not restored to \
         the client's view: {wrong}"
    );
    println!(
        "throughput: {} packets through Worker::process in {:.1} ms of processing = {:.2} M packets/s \
         on one core (timed per packet, so the clock calls are included)",
        run.packets,
        run.busy_ns as f64 / 1e6,
        run.packets as f64 / run.busy_ns.max(1) as f64 * 1e3
    );
    assert_eq!(bad + wrong, 0, "every rewritten packet must verify");
}
