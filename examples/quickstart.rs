//! The seed cluster (the repo's copy of `../shared/testdata/seed-cluster.json`, built by
//! hand-written Rust in `svcplane::model::seed`) on its first node: for every Service port, the
//! endpoints that serve it, the Maglev table over them, where 10,000 generated client flows to
//! its cluster IP land, and one SYN of each DNATed in place with its checksums checked by a full
//! recomputation.
//!
//! Run: `cargo run --release --example quickstart`. (The full per-core worker with connection
//! tracking and policies replaces this walk-through when the dataplane lands.)

use std::net::IpAddr;
use std::time::Instant;

use svcplane::hash::flow_hash;
use svcplane::maglev::{ip_key, sort_canonical, Backend as MaglevBackend, Maglev};
use svcplane::model::{self, seed, IpFamily, Protocol, ServicePort};
use svcplane::nat::{self, Rewrite};
use svcplane::select::{select, Traffic};
use svcplane::wire::checksum::{finish, pseudo_header_v4, pseudo_header_v6, sum};

const FLOWS: u32 = 10_000;
const SEED: u64 = 0x5eed_c1a5_7e12_0001;

/// A TCP SYN (IPv4 or IPv6, 20-byte TCP header) from `src:sport` to `dst:dport`.
fn syn(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let mut pkt = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0];
            h.extend(s.octets());
            h.extend(d.octets());
            let c = finish(sum(&h));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            let ps = pseudo_header_v4(s.octets(), d.octets(), 6, 20);
            let c = finish(ps + sum(&tcp));
            tcp[16..18].copy_from_slice(&c.to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
            h.extend(s.octets());
            h.extend(d.octets());
            let ps = pseudo_header_v6(s.octets(), d.octets(), 6, 20);
            let c = finish(ps + sum(&tcp));
            tcp[16..18].copy_from_slice(&c.to_be_bytes());
            h
        }
        _ => unreachable!("one family per packet"),
    };
    pkt.extend(tcp);
    pkt
}

/// Every checksum of a TCP packet recomputed from scratch: true when all are correct.
fn checksums_ok(pkt: &[u8]) -> bool {
    let p = match nat::parse(pkt) {
        Ok(p) => p,
        Err(_) => return false,
    };
    let seg = &pkt[p.l4_offset..p.end];
    let ps = match (p.tuple.src, p.tuple.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            if finish(sum(&pkt[..20])) != 0 {
                return false;
            }
            pseudo_header_v4(s.octets(), d.octets(), 6, seg.len() as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo_header_v6(s.octets(), d.octets(), 6, seg.len() as u32)
        }
        _ => return false,
    };
    finish(ps + sum(seg)) == 0
}

fn client(family: IpFamily, i: u32) -> IpAddr {
    match family {
        IpFamily::V4 => IpAddr::from([10, 244, 1 + (i % 3) as u8, (i % 250) as u8 + 2]),
        IpFamily::V6 => {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&[0xfd, 0, 0x02, 0x44]);
            o[12..].copy_from_slice(&i.to_be_bytes());
            IpAddr::from(o)
        }
    }
}

fn main() {
    let node = seed::node(0);
    let cluster = seed::cluster();
    println!(
        "svcplane quickstart: seed cluster, {} Services, as seen by node {} (zone {})\n",
        cluster.len(),
        node.node_name,
        node.zone.as_deref().unwrap_or("-")
    );
    let (mut packets, mut nanos, mut bad) = (0u64, 0u128, 0u64);
    for s in &cluster {
        let svc = &s.service;
        let ips = svc.cluster_ip_list();
        let kind = if svc.is_headless() {
            "headless".to_string()
        } else {
            format!("{:?}", svc.service_type)
        };
        println!("{} [{}] cluster IPs {:?}", svc.id, kind, ips);
        if !svc.is_proxied() {
            println!("  not proxied (DNS only)\n");
            continue;
        }
        for port in &svc.ports {
            for &vip in ips {
                port_report(&node, s, port, vip, &mut packets, &mut nanos, &mut bad);
            }
        }
        println!();
    }
    println!(
        "NAT: every backend's SYN DNATed in place, {bad} with a wrong checksum after the rewrite; \
         {packets} timed rewrites at {:.1} M packets/s on one core (parse + rewrite only)",
        packets as f64 / nanos.max(1) as f64 * 1e3
    );
    assert_eq!(bad, 0, "a rewrite produced a wrong checksum");
}

fn port_report(
    node: &model::NodeConfig,
    s: &seed::SeedService,
    port: &ServicePort,
    vip: IpAddr,
    packets: &mut u64,
    nanos: &mut u128,
    bad: &mut u64,
) {
    let family = IpFamily::of(vip);
    let backends = model::backends_for(&s.slices, port, family, &node.node_name);
    let selection = select(&backends, &node.node_name, node.zone.as_deref());
    let uses = svcplane::select::PoolUse::of(&s.service, port, family);
    let pool = selection
        .for_traffic(uses, Traffic::Internal)
        .unwrap_or(&[]);
    let name = if port.name.is_empty() {
        "-"
    } else {
        &port.name
    };
    println!(
        "  {:?} {} -> port {} ({}): {} endpoints, {} serve in-cluster traffic{}",
        port.protocol,
        std::net::SocketAddr::new(vip, port.port),
        name,
        match &port.target_port {
            model::TargetPort::Number(n) => n.to_string(),
            model::TargetPort::Name(n) => n.clone(),
        },
        backends.len(),
        pool.len(),
        if selection.cluster_is_terminating() {
            " (none ready: serving+terminating fallback)"
        } else if selection.topology() == svcplane::select::Topology::SameZone {
            " (zone hints: this zone's only)"
        } else {
            ""
        }
    );
    if pool.is_empty() {
        println!("    no usable endpoint: new connections are rejected");
        return;
    }
    let mut mb: Vec<MaglevBackend> = pool
        .iter()
        .map(|&i| MaglevBackend::new(ip_key(backends[i as usize].endpoint.address), 1))
        .collect();
    sort_canonical(&mut mb);
    let table = match Maglev::build(&mb, SEED) {
        Ok(t) => t,
        Err(e) => {
            println!("    Maglev: {e}");
            return;
        }
    };
    let mut hits = vec![0u32; mb.len()];
    for i in 0..FLOWS {
        let c = client(family, i);
        let sport = 32768 + (i % 28000) as u16;
        let h = flow_hash(
            SEED,
            &ip_key(c),
            &ip_key(vip),
            sport,
            port.port,
            port.protocol.number(),
        );
        if let Some(b) = table.lookup(h) {
            hits[usize::from(b)] += 1;
        }
    }
    for (k, b) in mb.iter().enumerate() {
        let be = backends
            .iter()
            .find(|x| ip_key(x.endpoint.address) == b.key)
            .expect("backend from the pool");
        println!(
            "    {:<28} {:>5} flows ({:>4.1}%)  {:?}{}",
            be.socket_addr().to_string(),
            hits[k],
            f64::from(hits[k]) * 100.0 / f64::from(FLOWS),
            be.endpoint.conditions,
            if be.endpoint.is_local(&node.node_name) {
                ", on this node"
            } else {
                ""
            }
        );
    }
    if port.protocol != Protocol::Tcp {
        return;
    }
    // A SYN to each backend, DNATed in place and verified from scratch; then 20,000 rewrites
    // timed (parse + rewrite of one packet that stays in cache: an upper bound on the NAT
    // step alone, not the dataplane's throughput).
    let original = syn(client(family, 7), vip, 40000, port.port);
    let mut buf = original.clone();
    let rewrites: Vec<Rewrite> = pool
        .iter()
        .map(|&i| {
            Rewrite::dnat(
                backends[i as usize].endpoint.address,
                backends[i as usize].port,
            )
        })
        .collect();
    for rw in &rewrites {
        buf.copy_from_slice(&original);
        if nat::rewrite(&mut buf, rw).is_err() || !checksums_ok(&buf) {
            *bad += 1;
        }
    }
    let start = Instant::now();
    for k in 0..20_000 {
        buf.copy_from_slice(&original);
        let _ = std::hint::black_box(nat::rewrite(&mut buf, &rewrites[k % rewrites.len()]));
    }
    *nanos += start.elapsed().as_nanos();
    *packets += 20_000;
}
