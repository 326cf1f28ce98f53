//! The dataplane: `Worker::process` per packet (issue 4 item 8, DESIGN.md's budgets), with
//! snapshots compiled from 10 and from 100,000 Services, beside a same-run baseline: a
//! `hashbrown` lookup of the flow's 5-tuple key plus `nat::apply` of the same packet with the
//! same rewrite (the bare cost of a lookup and an incremental checksum rewrite).
//!
//! `cargo bench --bench dataplane -- --warm-up-time 1 --measurement-time 3`
//!
//! Every packet is a 64-byte TCP/IPv4 segment (20 + 24 with an MSS option + 20 payload), from a
//! pod (10.200.0.0/16, inside the cluster CIDR: no masquerade) to a ClusterIP on port 80,
//! DNATed to a backend on 8080. The catalogs are built like `benches/catalog.rs`'s: ClusterIP
//! Services with one TCP port (every fourth with a second port and an externalIP) and two ready
//! endpoints. Workers have the default configuration (131,072 flows: a 4 MiB index and 8 MiB
//! of entries). Measured, each for 10 and for 100,000 Services:
//!
//! - `established`: a client→ClusterIP ACK of a flow already in conntrack (SYN and SYN-ACK
//!   were processed before);
//! - `new_flow/one_service`: a SYN with a different client port each packet, all to one
//!   Service; `new_flow/spread`: the same, each to a Service drawn at random (4,096 draws:
//!   4,026 distinct Services at 100,000), so the service table and the Maglev tables are
//!   touched like real traffic would;
//! - `reply`: the backend→client ACK of an established flow;
//! - `burst32`: `process_burst` of 32 ACKs of 32 established flows (to 32 random Services),
//!   reported per packet;
//! - `new_flow_burst32`: the new-flow rings of `new_flow`, 32 SYNs per `process_burst`,
//!   reported per packet;
//! - `burst32_of_65536_flows`: bursts of 32 ACKs from a ring of 16,384 drawn at random (with
//!   replacement) from 65,536 established flows (10 Services): 14,484 distinct flows, about
//!   2 MB of flow-table lines, beyond L2 but within L3: `process_burst` against `process` on
//!   each of the 32 packets (and `burst32` has the same pair for its 32 hot flows).
//!
//! Every iteration first restores its packet(s) from a fixed-size array copy (inline moves), in
//! the baselines too. New flows come from a precomputed ring of 4,096 SYNs; the timed loop
//! runs at most one pass of the ring, then (untimed, via `iter_custom`) the worker's flows are
//! expired, so every timed SYN is a miss and the table never fills (no eviction).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashbrown::HashMap;
use svcplane::catalog::Catalog;
use svcplane::conntrack::FlowKey;
use svcplane::dataplane::{Meta, Verdict, Worker, WorkerConfig};
use svcplane::model::{
    Cidr, ClusterIps, Endpoint, EndpointPort, EndpointSlice, IpFamily, NodeConfig, Protocol,
    Service, ServicePort,
};
use svcplane::nat::{self, Parsed, Rewrite};
use svcplane::snapshot::Snapshot;

#[path = "../tests/common/mod.rs"]
mod common;
use common::{verify_checksums, Spec};

/// Packet size: IPv4 20 + TCP 24 (MSS option) + 20 payload.
const LEN: usize = 64;
const RING: usize = 4096;
const BURST: usize = 32;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const SYN_ACK: u8 = 0x12;

type Packet = [u8; LEN];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn v4(x: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(x))
}

fn vip(i: u32) -> IpAddr {
    v4(0x0A60_0000 + i) // 10.96.0.0/12
}

fn service(i: u32) -> Service {
    let mut ports = vec![ServicePort::tcp(80).named("http")];
    let mut external_ips = Vec::new();
    if i % 4 == 0 {
        ports.push(ServicePort::tcp(443).named("https"));
        external_ips.push(v4(0xCB00_0000 + i)); // 203.x.y.z
    }
    Service {
        cluster_ips: ClusterIps::Assigned(vec![vip(i)]),
        ports,
        external_ips,
        ..Service::new("bench", format!("svc-{i}"))
    }
}

fn slices(i: u32) -> Vec<EndpointSlice> {
    let base = 0x0AF4_0000u32.wrapping_add(i.wrapping_mul(4)); // 10.244.0.0 upwards
    vec![EndpointSlice {
        ports: vec![
            EndpointPort::new("http", Protocol::Tcp, 8080),
            EndpointPort::new("https", Protocol::Tcp, 8443),
        ],
        endpoints: (0..2)
            .map(|k| Endpoint::new(v4(base + k)).on_node("node-b"))
            .collect(),
        ..EndpointSlice::new(format!("svc-{i}-abcde"), IpFamily::V4)
    }]
}

fn snapshot(n: u32) -> Arc<Snapshot> {
    let mut config = NodeConfig::new("node-a");
    config.node_ips = vec![v4(0xC0A8_000A)];
    // Pods (clients 10.200/16 and backends 10.244 upwards) are inside; Services are not.
    config.cluster_cidrs = vec![Cidr::new(v4(0x0A80_0000), 9).unwrap()];
    config.service_cidrs = vec![Cidr::new(vip(0), 12).unwrap()];
    let mut c = Catalog::new(config).expect("valid config");
    for i in 0..n {
        let s = service(i);
        let id = s.id.clone();
        c.upsert_service(s).expect("valid service");
        c.replace_endpoints(&id, slices(i)).expect("valid slices");
    }
    c.compile()
}

fn tcp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, flags: u8) -> Packet {
    let s = Spec {
        proto: 6,
        src,
        dst,
        sport,
        dport,
        icmp_type: 0,
        payload: (0..20).collect(),
        ip_opts: 0,
        ext: vec![],
        ttl: 64,
        ident: 0x1234,
        udp_no_checksum: false,
        tcp_flags: flags,
    };
    s.packet().try_into().expect("64-byte packet")
}

fn client(i: u32) -> IpAddr {
    v4(0x0AC8_0000 + (i & 0xffff)) // 10.200.0.0/16
}

fn worker() -> Worker {
    Worker::new(WorkerConfig {
        conntrack_seed: 0x5eed_1234_abcd_0042,
        ..WorkerConfig::default()
    })
    .expect("worker")
}

fn meta() -> Meta {
    Meta::new(1_000_000_000)
}

/// Processes a copy of `pkt`: the verdict and the bytes afterwards.
fn run(w: &mut Worker, snap: &Snapshot, pkt: &Packet) -> (Verdict, Packet) {
    let mut buf = *pkt;
    let v = w.process(snap, &mut buf, &meta());
    (v, buf)
}

/// An established TCP flow of one worker: its ACK (client → ClusterIP) and reply ACK
/// (backend → client) before rewriting, with what the worker made of them.
struct Flow {
    ack: Packet,
    reply: Packet,
    ack_out: Packet,
    reply_out: Packet,
}

/// Opens a flow from `client:port` to Service `svc` (SYN, SYN-ACK) in `w`.
fn open(w: &mut Worker, snap: &Snapshot, client: IpAddr, port: u16, svc: u32) -> Flow {
    let (v, syn_out) = run(w, snap, &tcp(client, port, vip(svc), 80, SYN));
    assert_eq!(v, Verdict::Forward, "SYN");
    verify_checksums(&syn_out).unwrap();
    let t = nat::parse(&syn_out).unwrap().tuple;
    assert_eq!(t.dst_port, 8080);
    let (v, _) = run(w, snap, &tcp(t.dst, 8080, client, port, SYN_ACK));
    assert_eq!(v, Verdict::Forward, "SYN-ACK");
    let ack = tcp(client, port, vip(svc), 80, ACK);
    let reply = tcp(t.dst, 8080, client, port, ACK);
    // The rewrites expected (checked against the oracle's own packets).
    let (v, ack_out) = run(w, snap, &ack);
    assert_eq!(v, Verdict::Forward, "ACK");
    assert_eq!(ack_out, tcp(client, port, t.dst, 8080, ACK));
    let (v, reply_out) = run(w, snap, &reply);
    assert_eq!(v, Verdict::Forward, "reply");
    assert_eq!(reply_out, tcp(vip(svc), 80, client, port, ACK));
    Flow {
        ack,
        reply,
        ack_out,
        reply_out,
    }
}

/// The baseline's state: the flow's key in each direction mapped to the rewrite `process`
/// applies, in a hashbrown map (foldhash).
fn baseline_entries(map: &mut HashMap<FlowKey, Rewrite>, f: &Flow) {
    for (pkt, out) in [(&f.ack, &f.ack_out), (&f.reply, &f.reply_out)] {
        let before = nat::parse(pkt).unwrap().tuple;
        let after = nat::parse(out).unwrap().tuple;
        let rw = if before.dst != after.dst {
            Rewrite::dnat(after.dst, after.dst_port)
        } else {
            Rewrite::snat(after.src, after.src_port)
        };
        map.insert(FlowKey::from_tuple(&before), rw);
    }
}

/// Lookup + incremental rewrite of a parsed packet: the baseline's per-packet work.
#[inline(always)]
fn bare(map: &HashMap<FlowKey, Rewrite>, buf: &mut [u8], key: &FlowKey, p: &Parsed) {
    let rw = map.get(key).expect("tracked");
    nat::apply(buf, p, rw).expect("rewritable");
}

/// The baseline check: the same bytes as `process`.
fn check_baseline(map: &HashMap<FlowKey, Rewrite>, pkt: &Packet, out: &Packet) {
    let p = nat::parse(pkt).unwrap();
    let mut buf = *pkt;
    bare(map, &mut buf, &FlowKey::from_tuple(&p.tuple), &p);
    assert_eq!(&buf, out, "baseline and process differ");
}

struct Setup {
    n: u32,
    snap: Arc<Snapshot>,
    /// Holds `one`, and the burst's flows.
    w: Worker,
    one: Flow,
    burst: Vec<Flow>,
}

fn setup(n: u32, map: &mut HashMap<FlowKey, Rewrite>) -> Setup {
    let snap = snapshot(n);
    let mut w = worker();
    let mut r = Lcg(u64::from(n));
    let one = open(&mut w, &snap, client(1), 40_000, n / 3);
    baseline_entries(map, &one);
    let burst: Vec<Flow> = (0..BURST as u32)
        .map(|i| {
            let svc = (r.next() % u64::from(n)) as u32;
            open(&mut w, &snap, client(2 + i), 41_000 + i as u16, svc)
        })
        .collect();
    for f in &burst {
        baseline_entries(map, f);
    }
    Setup {
        n,
        snap,
        w,
        one,
        burst,
    }
}

/// `RING` SYNs with distinct client ports, to Service `svc(i)`.
fn syn_ring(mut svc: impl FnMut(usize) -> u32) -> Vec<Packet> {
    (0..RING)
        .map(|i| tcp(client(7), 10_000 + i as u16, vip(svc(i)), 80, SYN))
        .collect()
}

fn benches(c: &mut Criterion) {
    let mut map: HashMap<FlowKey, Rewrite> = HashMap::new();
    let mut setups: Vec<Setup> = [10u32, 100_000]
        .into_iter()
        .map(|n| setup(n, &mut map))
        .collect();
    for s in &setups {
        check_baseline(&map, &s.one.ack, &s.one.ack_out);
        check_baseline(&map, &s.one.reply, &s.one.reply_out);
        for f in &s.burst {
            check_baseline(&map, &f.ack, &f.ack_out);
        }
    }
    let meta = meta();

    // (a) Established flow, client → ClusterIP.
    let mut g = c.benchmark_group("dataplane/established");
    g.throughput(Throughput::Elements(1));
    for s in &mut setups {
        let (pkt, snap, w) = (s.one.ack, &s.snap, &mut s.w);
        let mut buf = pkt;
        g.bench_function(BenchmarkId::new("process", s.n), |b| {
            b.iter(|| {
                buf = pkt;
                let v = w.process(snap, black_box(&mut buf), black_box(&meta));
                black_box(v)
            })
        });
        // What the timed loop left (unless a filter skipped it).
        assert!(buf == pkt || buf == s.one.ack_out);
    }
    bench_baselines(&mut g, &map, &setups[0].one.ack);
    g.finish();

    // (b) New flow: a SYN with a fresh client port each packet.
    let mut g = c.benchmark_group("dataplane/new_flow");
    g.throughput(Throughput::Elements(1));
    for s in &setups {
        let n = s.n;
        let mut r = Lcg(99);
        let spread = syn_ring(|_| (r.next() % u64::from(n)) as u32);
        for (name, ring) in [("one_service", syn_ring(|_| n / 3)), ("spread", spread)] {
            let mut w = worker();
            let snap = &s.snap;
            for pkt in &ring {
                let (v, out) = run(&mut w, snap, pkt);
                assert_eq!(v, Verdict::Forward, "new flow");
                verify_checksums(&out).unwrap();
            }
            assert_eq!(w.conntrack().len(), RING);
            w.expire(u64::MAX, usize::MAX);
            assert!(w.conntrack().is_empty());
            g.bench_function(BenchmarkId::new(format!("process/{name}"), n), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters;
                    let mut buf = ring[0];
                    while left > 0 {
                        let chunk = left.min(RING as u64) as usize;
                        let start = Instant::now();
                        for pkt in &ring[..chunk] {
                            buf = *pkt;
                            let v = w.process(snap, black_box(&mut buf), black_box(&meta));
                            black_box(v);
                        }
                        total += start.elapsed();
                        // Untimed: empty the table for the next pass.
                        w.expire(u64::MAX, usize::MAX);
                        left -= chunk as u64;
                    }
                    black_box(buf);
                    total
                })
            });
            let counters = w.counters();
            assert_eq!(counters.flows.evicted, 0);
            assert_eq!(counters.forward.packets, counters.flows.created);
        }
    }
    g.finish();

    // (b2) New flows in bursts: the same rings, 32 SYNs per `process_burst`, per packet.
    let mut g = c.benchmark_group("dataplane/new_flow_burst32");
    g.throughput(Throughput::Elements(BURST as u64));
    for s in &setups {
        let n = s.n;
        let mut r = Lcg(99);
        let spread = syn_ring(|_| (r.next() % u64::from(n)) as u32);
        for (name, ring) in [("one_service", syn_ring(|_| n / 3)), ("spread", spread)] {
            let mut w = worker();
            let snap = &s.snap;
            let mut verdicts = [Verdict::Invalid; BURST];
            for chunk in ring.chunks(BURST) {
                let mut bufs: [Packet; BURST] = std::array::from_fn(|i| chunk[i]);
                let mut refs: [&mut [u8]; BURST] = bufs.each_mut().map(|b| &mut b[..]);
                assert_eq!(
                    w.process_burst(snap, &mut refs, &meta, &mut verdicts),
                    BURST
                );
                assert!(verdicts.iter().all(|v| *v == Verdict::Forward), "new flows");
                for out in &bufs {
                    verify_checksums(out).unwrap();
                }
            }
            assert_eq!(w.conntrack().len(), RING);
            w.expire(u64::MAX, usize::MAX);
            g.bench_function(BenchmarkId::new(format!("process_burst/{name}"), n), |b| {
                b.iter_custom(|iters| {
                    // One iteration is one burst of 32; a pass of the ring is 128 bursts.
                    let bursts = RING / BURST;
                    let mut total = Duration::ZERO;
                    let mut left = iters;
                    let mut bufs: [Packet; BURST] = [ring[0]; BURST];
                    while left > 0 {
                        let chunk = left.min(bursts as u64) as usize;
                        let start = Instant::now();
                        for k in 0..chunk {
                            bufs = std::array::from_fn(|i| ring[k * BURST + i]);
                            let mut refs: [&mut [u8]; BURST] = bufs.each_mut().map(|b| &mut b[..]);
                            let done = w.process_burst(
                                snap,
                                black_box(&mut refs),
                                black_box(&meta),
                                &mut verdicts,
                            );
                            black_box((done, &verdicts));
                        }
                        total += start.elapsed();
                        // Untimed: empty the table for the next pass.
                        w.expire(u64::MAX, usize::MAX);
                        left -= chunk as u64;
                    }
                    black_box(bufs);
                    total
                })
            });
            let counters = w.counters();
            assert_eq!(counters.flows.evicted, 0);
            assert_eq!(counters.forward.packets, counters.flows.created);
        }
    }
    g.finish();

    // (d2) Bursts of 32 established-flow packets drawn from 65,536 tracked flows: the index
    //      and the entries no longer fit the caches; `process_burst` against `process` x32.
    let mut g = c.benchmark_group("dataplane/burst32_of_65536_flows");
    g.throughput(Throughput::Elements(BURST as u64));
    {
        let s = &setups[0];
        let snap = &s.snap;
        let mut w = worker();
        let flows = 65_536u32;
        let acks: Vec<Packet> = (0..flows)
            .map(|i| {
                let (cl, port) = (client(100 + i / 4096), 20_000 + (i % 4096) as u16);
                let f = open(&mut w, snap, cl, port, i % s.n);
                f.ack
            })
            .collect();
        assert_eq!(w.conntrack().len(), flows as usize);
        let mut r = Lcg(7);
        let ring: Vec<Packet> = (0..RING * 4)
            .map(|_| acks[(r.next() % u64::from(flows)) as usize])
            .collect();
        let bursts = ring.len() / BURST;
        let mut verdicts = [Verdict::Invalid; BURST];
        let mut k = 0;
        g.bench_function(BenchmarkId::new("process_burst", s.n), |b| {
            b.iter(|| {
                let mut bufs: [Packet; BURST] = std::array::from_fn(|i| ring[k * BURST + i]);
                k = (k + 1) % bursts;
                let mut refs: [&mut [u8]; BURST] = bufs.each_mut().map(|b| &mut b[..]);
                let done =
                    w.process_burst(snap, black_box(&mut refs), black_box(&meta), &mut verdicts);
                black_box((&verdicts, bufs));
                done
            })
        });
        assert!(verdicts.iter().all(|v| *v == Verdict::Forward));
        g.bench_function(BenchmarkId::new("process x32", s.n), |b| {
            b.iter(|| {
                let mut bufs: [Packet; BURST] = std::array::from_fn(|i| ring[k * BURST + i]);
                k = (k + 1) % bursts;
                for buf in bufs.iter_mut() {
                    black_box(w.process(snap, black_box(&mut buf[..]), black_box(&meta)));
                }
                black_box(bufs);
            })
        });
        assert_eq!(w.conntrack().len(), flows as usize);
    }
    g.finish();

    // (c) Reply: backend → client of an established flow.
    let mut g = c.benchmark_group("dataplane/reply");
    g.throughput(Throughput::Elements(1));
    for s in &mut setups {
        let (pkt, snap, w) = (s.one.reply, &s.snap, &mut s.w);
        let mut buf = pkt;
        g.bench_function(BenchmarkId::new("process", s.n), |b| {
            b.iter(|| {
                buf = pkt;
                let v = w.process(snap, black_box(&mut buf), black_box(&meta));
                black_box(v)
            })
        });
        assert!(buf == pkt || buf == s.one.reply_out);
    }
    bench_baselines(&mut g, &map, &setups[0].one.reply);
    g.finish();

    // (d) A burst of 32 established-flow packets (32 flows), per packet.
    let mut g = c.benchmark_group("dataplane/burst32");
    g.throughput(Throughput::Elements(BURST as u64));
    for s in &mut setups {
        let (snap, w) = (&s.snap, &mut s.w);
        let packets: [Packet; BURST] = std::array::from_fn(|i| s.burst[i].ack);
        let mut bufs = packets;
        let mut verdicts = [Verdict::Invalid; BURST];
        g.bench_function(BenchmarkId::new("process_burst", s.n), |b| {
            b.iter(|| {
                bufs = packets;
                let mut refs: [&mut [u8]; BURST] = bufs.each_mut().map(|b| &mut b[..]);
                let done =
                    w.process_burst(snap, black_box(&mut refs), black_box(&meta), &mut verdicts);
                black_box(&verdicts);
                done
            })
        });
        if bufs != packets {
            assert!(verdicts.iter().all(|v| *v == Verdict::Forward));
            for (buf, f) in bufs.iter().zip(&s.burst) {
                assert_eq!(*buf, f.ack_out);
            }
        }
        // The same 32 packets through `process` one by one (what `process_burst` does without
        // its prefetching stages).
        g.bench_function(BenchmarkId::new("process x32", s.n), |b| {
            b.iter(|| {
                bufs = packets;
                for buf in bufs.iter_mut() {
                    black_box(w.process(snap, black_box(&mut buf[..]), black_box(&meta)));
                }
            })
        });
    }
    let packets: [Packet; BURST] = std::array::from_fn(|i| setups[0].burst[i].ack);
    let parsed: Vec<(FlowKey, Parsed)> = packets
        .iter()
        .map(|p| {
            let p = nat::parse(p).unwrap();
            (FlowKey::from_tuple(&p.tuple), p)
        })
        .collect();
    let mut bufs = packets;
    g.bench_function("baseline: hashbrown get + nat::apply", |b| {
        b.iter(|| {
            bufs = packets;
            for (buf, (key, p)) in bufs.iter_mut().zip(&parsed) {
                bare(&map, black_box(buf), black_box(key), black_box(p));
            }
        })
    });
    if bufs != packets {
        for (buf, f) in bufs.iter().zip(&setups[0].burst) {
            assert_eq!(*buf, f.ack_out);
        }
    }
    g.finish();
}

/// The baseline for one packet: the key and the parse precomputed (the "bare cost");
/// and, for context, with `nat::parse` and the key's construction in the loop.
fn bench_baselines(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    map: &HashMap<FlowKey, Rewrite>,
    pkt: &Packet,
) {
    let pkt = *pkt;
    let p = nat::parse(&pkt).unwrap();
    let key = FlowKey::from_tuple(&p.tuple);
    let mut buf = pkt;
    g.bench_function("baseline: hashbrown get + nat::apply", |b| {
        b.iter(|| {
            buf = pkt;
            bare(map, black_box(&mut buf), black_box(&key), black_box(&p));
        })
    });
    g.bench_function(
        "context: nat::parse + key + hashbrown get + nat::apply",
        |b| {
            b.iter(|| {
                buf = pkt;
                let p = nat::parse(black_box(&buf)).expect("parses");
                let key = FlowKey::from_tuple(&p.tuple);
                bare(map, black_box(&mut buf), &key, &p);
            })
        },
    );
}

criterion_group!(dataplane_benches, benches);
criterion_main!(dataplane_benches);
