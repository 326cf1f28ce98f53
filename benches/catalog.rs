//! Service table: frontend lookup with 10 and 100,000 Services (beside a same-run baseline of a
//! plain `std::collections::HashMap` holding the same keys), and `compile()` after one change in
//! a catalog of 10,000 Services.
//!
//! `cargo bench --bench catalog -- --warm-up-time 1 --measurement-time 3`
//!
//! Each Service is a ClusterIP Service with one TCP port (every fourth has a second port and an
//! externalIP) and two ready endpoints. Lookups run over 16,384 keys drawn at random from all
//! existing frontends, in random order, so the 100,000-Service run touches the whole table.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use svcplane::catalog::Catalog;
use svcplane::model::{
    ClusterIps, Endpoint, EndpointPort, EndpointSlice, IpFamily, NodeConfig, ObjectRef, Protocol,
    Service, ServicePort,
};
use svcplane::snapshot::{FrontendQuery, Snapshot};

const LOOKUP_KEYS: usize = 16_384;

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

fn service(i: u32) -> Service {
    let mut ports = vec![ServicePort::tcp(80).named("http")];
    let mut external_ips = Vec::new();
    if i % 4 == 0 {
        ports.push(ServicePort::tcp(443).named("https"));
        external_ips.push(v4(0xCB00_0000 + i)); // 203.x.y.z
    }
    Service {
        cluster_ips: ClusterIps::Assigned(vec![v4(0x0A60_0000 + i)]), // 10.96.0.0/12
        ports,
        external_ips,
        ..Service::new("bench", format!("svc-{i}"))
    }
}

/// Service `i`'s slice: two ready endpoints, three when `third`.
fn slices(i: u32, third: bool) -> Vec<EndpointSlice> {
    let base = 0x0AF4_0000u32.wrapping_add(i.wrapping_mul(4)); // 10.244.0.0/14
    vec![EndpointSlice {
        ports: vec![
            EndpointPort::new("http", Protocol::Tcp, 8080),
            EndpointPort::new("https", Protocol::Tcp, 8443),
        ],
        endpoints: (0..2 + u32::from(third))
            .map(|k| Endpoint::new(v4(base + k)).on_node("node-b"))
            .collect(),
        ..EndpointSlice::new(format!("svc-{i}-abcde"), IpFamily::V4)
    }]
}

fn catalog(n: u32) -> Catalog {
    let mut config = NodeConfig::new("node-a");
    config.node_ips = vec![v4(0xC0A8_000A)];
    let mut c = Catalog::new(config).expect("valid config");
    for i in 0..n {
        let s = service(i);
        let id = s.id.clone();
        c.upsert_service(s).expect("valid service");
        c.replace_endpoints(&id, slices(i, false))
            .expect("valid slices");
    }
    c
}

/// `LOOKUP_KEYS` random frontends of the snapshot: (protocol, address, port).
fn keys(snap: &Snapshot, seed: u64) -> Vec<(Protocol, IpAddr, u16)> {
    let all: Vec<(Protocol, IpAddr, u16)> = snap
        .frontends()
        .into_iter()
        .filter_map(|(f, _)| f.address.map(|a| (f.protocol, a, f.port)))
        .collect();
    let mut r = Lcg(seed);
    (0..LOOKUP_KEYS)
        .map(|_| all[(r.next() as usize) % all.len()])
        .collect()
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("frontend_lookup");
    g.throughput(Throughput::Elements(LOOKUP_KEYS as u64));
    for n in [10u32, 100_000] {
        let snap: Arc<Snapshot> = catalog(n).compile();
        let keys = keys(&snap, 7);
        assert!(keys
            .iter()
            .all(|(p, a, port)| snap.frontend(*p, *a, *port).is_some()));
        // The same lookups over a hot set of 64 frontends (repeated to the same count): the
        // table's own cost, with the working set in cache at either size.
        let hot: Vec<_> = keys
            .iter()
            .take(64)
            .copied()
            .cycle()
            .take(LOOKUP_KEYS)
            .collect();
        g.bench_with_input(BenchmarkId::new("snapshot_hot64", n), &hot, |b, keys| {
            b.iter(|| {
                let mut found = 0usize;
                for (p, a, port) in keys {
                    if let Some(f) = snap.frontend(*p, *a, *port) {
                        found += f.kind() as usize;
                    }
                }
                black_box(found)
            })
        });
        g.bench_with_input(BenchmarkId::new("snapshot", n), &keys, |b, keys| {
            b.iter(|| {
                let mut found = 0usize;
                for (p, a, port) in keys {
                    if let Some(f) = snap.frontend(*p, *a, *port) {
                        found += f.kind() as usize;
                    }
                }
                black_box(found)
            })
        });
        // The same uniform keys, 32 per call of the burst lookup (a typical receive burst):
        // every slot of the burst is prefetched before any is probed.
        let queries: Vec<FrontendQuery> = keys
            .iter()
            .map(|&(protocol, address, port)| FrontendQuery {
                protocol,
                address,
                port,
            })
            .collect();
        g.bench_with_input(
            BenchmarkId::new("snapshot_burst32", n),
            &queries,
            |b, queries| {
                let mut out = [None; 32];
                b.iter(|| {
                    let mut found = 0usize;
                    for burst in queries.chunks(32) {
                        let got = snap.frontend_burst(burst, &mut out);
                        for f in out[..got].iter().flatten() {
                            found += f.kind() as usize;
                        }
                    }
                    black_box(found)
                })
            },
        );
        // The baseline: the same keys in a plain std HashMap (SipHash), mapping to an index.
        let map: HashMap<(Protocol, IpAddr, u16), usize> = snap
            .frontends()
            .into_iter()
            .enumerate()
            .filter_map(|(i, (f, _))| f.address.map(|a| ((f.protocol, a, f.port), i)))
            .collect();
        g.bench_with_input(BenchmarkId::new("std_hashmap", n), &keys, |b, keys| {
            b.iter(|| {
                let mut found = 0usize;
                for k in keys {
                    if let Some(i) = map.get(k) {
                        found += *i;
                    }
                }
                black_box(found)
            })
        });
    }
    g.finish();
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile_after_one_change");
    let n = 10_000u32;
    let mut cat = catalog(n);
    let mut snap = cat.compile();
    let mut r = Lcg(11);
    // Each iteration flips the chosen Service's own state (a third endpoint, or its target
    // port), so every change is a real one: a change to a state the Service already has is
    // detected as no change and compiles nothing. Each compile is checked to make a new
    // snapshot (a compare, nanoseconds against the microseconds of a compile).
    let mut third = vec![false; n as usize];
    let mut other_port = vec![false; n as usize];
    g.bench_function(BenchmarkId::new("replace_endpoints", n), |b| {
        b.iter(|| {
            let i = (r.next() % u64::from(n)) as u32;
            let flip = &mut third[i as usize];
            *flip = !*flip;
            let id = ObjectRef::new("bench", format!("svc-{i}"));
            cat.replace_endpoints(&id, slices(i, *flip))
                .expect("valid slices");
            let before = snap.generation();
            snap = cat.compile();
            assert!(snap.generation() > before, "a real change");
            black_box(snap.generation())
        })
    });
    g.bench_function(BenchmarkId::new("upsert_service", n), |b| {
        b.iter(|| {
            let i = (r.next() % u64::from(n)) as u32;
            let flip = &mut other_port[i as usize];
            *flip = !*flip;
            let mut s = service(i);
            s.ports[0].target_port = (8000 + u16::from(*flip)).into();
            cat.upsert_service(s).expect("valid service");
            let before = snap.generation();
            snap = cat.compile();
            assert!(snap.generation() > before, "a real change");
            black_box(snap.generation())
        })
    });
    g.finish();
}

criterion_group!(benches, lookup, compile);
criterion_main!(benches);
