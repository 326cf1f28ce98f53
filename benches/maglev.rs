//! Maglev table builds: svcplane against the `maglev` crate (crates.io), side by side on the
//! same inputs in the same run.
//!
//! `cargo bench --bench maglev -- --warm-up-time 1 --measurement-time 3`
//!
//! `svcplane` builds each table with `Maglev::build_with_size` (a fresh builder: the occupancy
//! map is allocated and freed every time), `svcplane_builder` with one reused `MaglevBuilder`,
//! as the catalog does.
//!
//! Inputs: N distinct pod addresses (IPv4-mapped 16-byte keys, canonical order), equal weights,
//! table size M = 65537 for both (the `maglev` crate takes the smallest prime >= the capacity it
//! is given, and 65537 is prime).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use svcplane::maglev::{sort_canonical, Backend, Maglev, MaglevBuilder};

const M: u32 = 65537;
const SEED: u64 = 0x5EED_5EED_5EED_5EED;

/// `n` distinct backends 10.x.y.z spread over a /8, in canonical order, weight 1.
fn backends(n: usize) -> Vec<Backend> {
    let mut v: Vec<Backend> = (0..n as u32)
        .map(|i| {
            let ip = Ipv4Addr::from(0x0A00_0000 | (i.wrapping_mul(2_654_435_761) & 0x00FF_FFFF));
            Backend::from_ip(IpAddr::V4(ip), 1)
        })
        .collect();
    sort_canonical(&mut v);
    v.dedup_by_key(|b| b.key);
    assert_eq!(v.len(), n);
    v
}

fn maglev_build(c: &mut Criterion) {
    let sizes = [10usize, 100, 1000];

    let mut g = c.benchmark_group("maglev_build_m65537");
    for &n in &sizes {
        let b = backends(n);
        g.bench_with_input(BenchmarkId::new("svcplane", n), &b, |bench, b| {
            bench.iter(|| Maglev::build_with_size(black_box(b), SEED, M).unwrap())
        });
        // The same builds through one reused builder, as the catalog compiles: only the table
        // is allocated per build (see `MaglevBuilder` on why that matters here).
        let mut builder = MaglevBuilder::new();
        g.bench_with_input(BenchmarkId::new("svcplane_builder", n), &b, |bench, b| {
            bench.iter(|| builder.build_with_size(black_box(b), SEED, M).unwrap())
        });
    }
    // Weighted (1:2:3 round the list), for reference: not compared with the crate, which has
    // no weights.
    let mut w = backends(1000);
    for (i, x) in w.iter_mut().enumerate() {
        x.weight = 1 + i as u32 % 3;
    }
    g.bench_with_input(
        BenchmarkId::new("svcplane_weighted_1_2_3", 1000),
        &w,
        |bench, w| bench.iter(|| Maglev::build_with_size(black_box(w), SEED, M).unwrap()),
    );
    g.finish();

    // The `maglev` crate materialises every backend's full permutation (N x M words) before
    // populating, so a build takes long enough that ten flat samples are plenty.
    let mut g = c.benchmark_group("maglev_build_m65537");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    for &n in &sizes {
        let nodes: Vec<[u8; 16]> = backends(n).iter().map(|b| b.key).collect();
        g.bench_with_input(
            BenchmarkId::new("maglev_crate", n),
            &nodes,
            |bench, nodes| {
                bench.iter(|| {
                    let t =
                        maglev::Maglev::with_capacity(black_box(nodes).iter().copied(), M as usize);
                    debug_assert_eq!(maglev::ConsistentHasher::capacity(&t), M as usize);
                    t
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, maglev_build);
criterion_main!(benches);
