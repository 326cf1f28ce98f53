//! The dataplane on real packets, against the seed cluster: `testdata/seed-cluster.json`, loaded
//! by the Kubernetes JSON loader (`svcplane::k8s`, feature `k8s-json`), on the nodes of
//! `svcplane::model::seed::node`.
//!
//! Packets are built, and every rewritten packet is checked, by `tests/common`: an independent
//! builder whose checksums come from the RFC definitions, with none of svcplane's code. A
//! rewritten packet is compared byte for byte with the packet the oracle builds with the
//! expected addresses and ports, which checks that exactly the right fields changed and that
//! every checksum equals a full recomputation.

mod common;

use common::{icmp_error, verify_checksums, Spec};
use std::net::IpAddr;
use std::sync::Arc;
use svcplane::catalog::Catalog;
use svcplane::dataplane::{
    DropReason, Ingress, Meta, RejectReason, Rule, Verdict, Worker, WorkerConfig,
};
use svcplane::k8s::Loader;
use svcplane::model::{seed, NodeConfig, ObjectRef, Service};
use svcplane::nat::{self, Tuple};
use svcplane::snapshot::Snapshot;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const SYN_ACK: u8 = 0x12;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The example cluster, a `v1 List` of Services and EndpointSlices.
const SEED_JSON: &[u8] = include_bytes!("../testdata/seed-cluster.json");

/// A catalog for seed node `node` holding the seed cluster, fed in file order or reversed.
fn catalog(node: usize, reversed: bool) -> Catalog {
    catalog_with(seed::node(node), reversed)
}

/// A catalog with `config` holding the seed cluster, its List items applied in file order or
/// reversed (each EndpointSlice then reaches the catalog before its Service).
fn catalog_with(config: NodeConfig, reversed: bool) -> Catalog {
    let mut c = Catalog::new(config).unwrap();
    let json = if reversed {
        let mut doc: serde_json::Value = serde_json::from_slice(SEED_JSON).unwrap();
        doc["items"].as_array_mut().unwrap().reverse();
        serde_json::to_vec(&doc).unwrap()
    } else {
        SEED_JSON.to_vec()
    };
    let applied = Loader::new().apply_json(&mut c, &json).unwrap();
    assert_eq!((applied.services, applied.endpoint_slices), (12, 10));
    c
}

/// Changes Service `id` in `c` with `edit` and stores it back.
fn edit_service(c: &mut Catalog, id: &ObjectRef, edit: impl FnOnce(&mut Service)) {
    let mut svc = c.service(id).unwrap().clone();
    edit(&mut svc);
    c.upsert_service(svc).unwrap();
}

/// Removes the endpoint at `addr` from Service `ns/name`.
fn remove_endpoint(c: &mut Catalog, ns: &str, name: &str, addr: IpAddr) {
    let id = ObjectRef::new(ns, name);
    let mut slices = c.endpoints(&id).unwrap().to_vec();
    for s in &mut slices {
        s.endpoints.retain(|e| e.address != addr);
    }
    c.replace_endpoints(&id, slices).unwrap();
}

fn worker(seed: u64) -> Worker {
    Worker::new(WorkerConfig {
        flows: 1024,
        affinity_entries: 256,
        conntrack_seed: seed,
        ..WorkerConfig::default()
    })
    .unwrap()
}

fn spec(proto: u8, src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Spec {
    Spec {
        proto,
        src: ip(src),
        dst: ip(dst),
        sport,
        dport,
        icmp_type: 0,
        payload: b"svcplane".to_vec(),
        ip_opts: 0,
        ext: vec![],
        ttl: 64,
        ident: 0x1234,
        udp_no_checksum: false,
        tcp_flags: flags,
    }
}

fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Spec {
    spec(6, src, sport, dst, dport, flags)
}

fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Spec {
    spec(17, src, sport, dst, dport, 0)
}

/// `s` with new addresses and ports.
fn moved(s: &Spec, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Spec {
    Spec {
        src,
        dst,
        sport,
        dport,
        ..s.clone()
    }
}

fn at(secs: u64) -> Meta {
    Meta::new(secs * 1_000_000_000)
}

/// Processes `s`'s packet; returns the verdict and the packet afterwards.
fn run(w: &mut Worker, snap: &Snapshot, s: &Spec, meta: &Meta) -> (Verdict, Vec<u8>) {
    let mut pkt = s.packet();
    let v = w.process(snap, &mut pkt, meta);
    (v, pkt)
}

fn tuple(pkt: &[u8]) -> Tuple {
    nat::parse(pkt).unwrap().tuple
}

/// Forwards `s` and checks the result is `s` with only the destination (and, if `snat`, the
/// source address) changed, with correct checksums. Returns the new tuple.
fn forward(w: &mut Worker, snap: &Snapshot, s: &Spec, meta: &Meta) -> Tuple {
    let (v, pkt) = run(w, snap, s, meta);
    assert_eq!(v, Verdict::Forward, "{s:?}");
    verify_checksums(&pkt).unwrap();
    let t = tuple(&pkt);
    assert_eq!(pkt, moved(s, t.src, t.src_port, t.dst, t.dst_port).packet());
    t
}

/// `workers` workers of 4,096 flows that split the SNAT ports, seeded `seed`, `seed + 1`, ...
fn split_workers(workers: u16, seed: u64) -> Vec<Worker> {
    (0..workers)
        .map(|worker_index| {
            Worker::new(WorkerConfig {
                flows: 4096,
                conntrack_seed: seed + u64::from(worker_index),
                workers,
                worker_index,
                ..WorkerConfig::default()
            })
            .unwrap()
        })
        .collect()
}

fn seed_snap(node: usize) -> Arc<Snapshot> {
    catalog(node, false).compile()
}

#[test]
fn cluster_ip_round_trip_restores_the_clients_view() {
    let snap = seed_snap(0);
    let mut w = worker(1);
    let backends = ["10.244.1.8", "10.244.2.9", "10.244.3.4"].map(ip);

    // pod → ClusterIP: DNAT to a backend's targetPort, no masquerade.
    let syn = tcp("10.244.1.100", 40000, "10.96.47.182", 80, SYN);
    let t = forward(&mut w, &snap, &syn, &at(1));
    assert!(backends.contains(&t.dst), "{t:?}");
    assert_eq!((t.src, t.src_port, t.dst_port), (syn.src, 40000, 8080));

    // The backend's SYN-ACK comes back as from the cluster IP.
    let reply = tcp(&t.dst.to_string(), 8080, "10.244.1.100", 40000, SYN_ACK);
    let (v, pkt) = run(&mut w, &snap, &reply, &at(1));
    assert_eq!(v, Verdict::Forward);
    verify_checksums(&pkt).unwrap();
    assert_eq!(pkt, moved(&reply, syn.dst, 80, syn.src, 40000).packet());

    // node → ClusterIP is masqueraded to the node's address, keeping the client port.
    let from_node = tcp("192.168.0.10", 41000, "10.96.47.182", 80, SYN);
    let t = forward(&mut w, &snap, &from_node, &at(2));
    assert_eq!((t.src, t.src_port), (ip("192.168.0.10"), 41000));
    let reply = tcp(&t.dst.to_string(), 8080, "192.168.0.10", 41000, SYN_ACK);
    let (v, pkt) = run(&mut w, &snap, &reply, &at(2));
    assert_eq!(v, Verdict::Forward);
    assert_eq!(
        pkt,
        moved(&reply, from_node.dst, 80, from_node.src, 41000).packet()
    );

    // An off-cluster client of a cluster IP is masqueraded too.
    let outside = tcp("198.18.0.1", 42000, "10.96.47.182", 80, SYN);
    let t = forward(&mut w, &snap, &outside, &at(2));
    assert_eq!(t.src, ip("192.168.0.10"));

    let c = w.counters();
    assert_eq!(c.forward.packets, 5);
    assert_eq!(c.flows.created, 3);
}

#[test]
fn ipv6_udp_round_trip_and_icmp_error_from_the_backend() {
    let snap = seed_snap(0);
    let mut w = worker(2);
    // kube-dns over IPv6, from a pod on this node.
    let q = udp("fd00:10:244:1::100", 5353, "fd00:10:96::a", 53);
    let t = forward(&mut w, &snap, &q, &at(1));
    assert_eq!((t.src, t.dst_port), (q.src, 53));
    assert!(t.dst.to_string().starts_with("fd00:10:244:"), "{t:?}");

    let answer = udp(&t.dst.to_string(), 53, "fd00:10:244:1::100", 5353);
    let (v, pkt) = run(&mut w, &snap, &answer, &at(1));
    assert_eq!(v, Verdict::Forward);
    assert_eq!(pkt, moved(&answer, q.dst, 53, q.src, 5353).packet());

    // IPv4: the backend answers the forwarded query with "port unreachable"; the client must
    // see it from the cluster IP, quoting its own packet.
    let q4 = udp("10.244.1.100", 5353, "10.96.0.10", 53);
    let mut fwd = q4.packet();
    assert_eq!(w.process(&snap, &mut fwd, &at(1)), Verdict::Forward);
    let backend = tuple(&fwd).dst;
    let err = icmp_error(&backend, &q4.src, 3, 3, 0, &fwd);
    let mut pkt = err.clone();
    assert_eq!(w.process(&snap, &mut pkt, &at(1)), Verdict::Forward);
    verify_checksums(&pkt).unwrap();
    assert_eq!(pkt, icmp_error(&q4.dst, &q4.src, 3, 3, 0, &q4.packet()));
}

#[test]
fn established_tcp_keeps_its_backend_across_a_snapshot_switch() {
    let mut cat = catalog(0, false);
    let snap = cat.compile();
    let mut w = worker(3);
    let syn = tcp("10.244.1.100", 40000, "10.96.47.182", 80, SYN);
    let first = forward(&mut w, &snap, &syn, &at(1)).dst;

    // Another backend leaves (a change that does not touch ours), then ours leaves too.
    let other = ["10.244.1.8", "10.244.2.9", "10.244.3.4"]
        .map(ip)
        .into_iter()
        .find(|b| *b != first)
        .unwrap();
    remove_endpoint(&mut cat, "production", "pricing-engine-svc", other);
    let snap2 = cat.compile();
    assert_eq!(w.on_snapshot(&snap2), 0, "TCP flows are never flushed");
    let ack = tcp("10.244.1.100", 40000, "10.96.47.182", 80, ACK);
    assert_eq!(forward(&mut w, &snap2, &ack, &at(2)).dst, first);

    remove_endpoint(&mut cat, "production", "pricing-engine-svc", first);
    let snap3 = cat.compile();
    assert_eq!(w.on_snapshot(&snap3), 0);
    assert_eq!(forward(&mut w, &snap3, &ack, &at(3)).dst, first);
    assert_eq!(
        w.explain(&snap3, &ack.packet(), &at(3)).rule,
        Rule::ConntrackHit(svcplane::conntrack::Direction::Original)
    );

    // New connections only reach the remaining backend.
    for port in 50000..50020 {
        let s = tcp("10.244.1.100", port, "10.96.47.182", 80, SYN);
        let d = forward(&mut w, &snap3, &s, &at(3)).dst;
        assert!(d != first && d != other, "{d}");
    }
}

#[test]
fn a_new_syn_on_a_closed_flows_tuple_is_balanced_again() {
    // Linux conntrack deletes a TCP entry that was reset or closed both ways when a new SYN
    // arrives on its tuple, and looks the packet up again: the new connection is balanced and
    // checked like any first packet (SEMANTICS.md §7), on the fast and the general path alike.
    for fast_path in [true, false] {
        let mut cat = catalog(0, false);
        let snap = cat.compile();
        let mut w = Worker::new(WorkerConfig {
            fast_path,
            ..WorkerConfig::default()
        })
        .unwrap();
        let client = "10.244.1.100";
        let vip = "10.96.47.182";

        // A retransmitted SYN of a flow that is not closed stays on it.
        let syn = tcp(client, 40000, vip, 80, SYN);
        let first = forward(&mut w, &snap, &syn, &at(1));
        assert_eq!(forward(&mut w, &snap, &syn, &at(1)).dst, first.dst);

        // Reset by the client; its backend leaves; the same tuple connects again.
        forward(&mut w, &snap, &tcp(client, 40000, vip, 80, 0x04), &at(2));
        remove_endpoint(&mut cat, "production", "pricing-engine-svc", first.dst);
        let snap2 = cat.compile();
        assert_eq!(w.on_snapshot(&snap2), 0, "TCP flows are never flushed");
        let e = w.explain(&snap2, &syn.packet(), &at(3));
        assert_eq!(e.rule, Rule::Maglev, "fast path {fast_path}");
        let again = forward(&mut w, &snap2, &syn, &at(3));
        assert_ne!(again.dst, first.dst, "fast path {fast_path}");
        assert_eq!(w.conntrack().len(), 1, "the closed flow was replaced");

        // Closed by FINs both ways, then the Service is deleted: a new SYN on the tuple meets
        // the deleted Service's address (inside the service CIDR), not the old backend.
        let syn2 = tcp(client, 40001, vip, 80, SYN);
        let t = forward(&mut w, &snap2, &syn2, &at(4));
        let from_backend = |flags| tcp(&t.dst.to_string(), t.dst_port, client, 40001, flags);
        forward(&mut w, &snap2, &from_backend(SYN_ACK), &at(4));
        forward(&mut w, &snap2, &tcp(client, 40001, vip, 80, 0x11), &at(5));
        forward(&mut w, &snap2, &from_backend(0x11), &at(5));
        assert!(cat.remove_service(&ObjectRef::new("production", "pricing-engine-svc")));
        let snap3 = cat.compile();
        w.on_snapshot(&snap3);
        let (v, pkt) = run(&mut w, &snap3, &syn2, &at(6));
        assert_eq!(v, Verdict::Drop(DropReason::UnallocatedServiceIp));
        assert_eq!(pkt, syn2.packet());
        // A packet of the old connection that is not a new SYN still finds its flow.
        let ack = tcp(client, 40000, vip, 80, ACK);
        assert_eq!(forward(&mut w, &snap3, &ack, &at(6)).dst, again.dst);
    }
}

#[test]
fn an_expired_flow_does_not_block_a_new_one_before_it_is_swept() {
    // A flow that has expired, not yet swept, holds its reply key in the table. A new flow
    // with the same reply key (the same client port to another Service port that reaches the
    // same backend) must replace it, not be dropped as a clash: lookups ignore expired flows,
    // and so must the insert.
    let snap = seed_snap(0);
    let mut w = worker(7);
    let (client, vip) = ("10.244.1.100", "10.96.122.45");
    for port in 41000..41200u16 {
        let first = forward(&mut w, &snap, &tcp(client, port, vip, 80, SYN), &at(1));
        // A RST: the flow expires 10 s later (kube-proxy's close timeout).
        forward(&mut w, &snap, &tcp(client, port, vip, 80, 0x04), &at(1));
        let second = tcp(client, port, vip, 443, SYN);
        let e = w.explain(&snap, &second.packet(), &at(100));
        if e.backend != Some((first.dst, first.dst_port)) {
            continue;
        }
        let flows = w.conntrack().len();
        let t = forward(&mut w, &snap, &second, &at(100));
        assert_eq!((t.dst, t.dst_port), (first.dst, first.dst_port));
        assert_eq!(w.conntrack().len(), flows, "the expired flow was replaced");
        return;
    }
    panic!("no client port whose two flows reach the same backend");
}

#[test]
fn half_open_tcp_and_single_reply_udp_keep_the_kernels_short_timeouts() {
    // kube-proxy raises only the established (86,400 s) and close-wait timeouts; a SYN-ACK the
    // client never acknowledges (a spoofed SYN) stays in SYN_RECV for the kernel's 60 s, and a
    // UDP exchange of one query and one answer (DNS) keeps the 30 s unreplied timeout.
    use svcplane::conntrack::FlowKey;
    let snap = seed_snap(0);
    let mut w = worker(21);
    let vip = "10.96.47.182";
    let key = |c: &str, port: u16, dst: &str, dport: u16, proto: u8| {
        FlowKey::new(proto, ip(c), port, ip(dst), dport)
    };
    // Spoofed SYN: the backend answers, nobody acknowledges.
    let t = forward(
        &mut w,
        &snap,
        &tcp("10.244.1.77", 1111, vip, 80, SYN),
        &at(10),
    );
    let syn_ack = tcp(&t.dst.to_string(), t.dst_port, "10.244.1.77", 1111, SYN_ACK);
    let (v, _) = run(&mut w, &snap, &syn_ack, &at(10));
    assert_eq!(v, Verdict::Forward);
    let spoofed = key("10.244.1.77", 1111, vip, 80, 6);
    // Times are whole seconds: an entry lives its whole timeout, expiring once more than that
    // has passed.
    assert!(w.conntrack().peek(&spoofed, 70).is_some());
    assert!(w.conntrack().peek(&spoofed, 71).is_none(), "SYN_RECV: 60 s");

    // A real handshake: established for a day.
    let syn = tcp("10.244.1.100", 2222, vip, 80, SYN);
    let t = forward(&mut w, &snap, &syn, &at(10));
    let syn_ack = tcp(
        &t.dst.to_string(),
        t.dst_port,
        "10.244.1.100",
        2222,
        SYN_ACK,
    );
    assert_eq!(run(&mut w, &snap, &syn_ack, &at(10)).0, Verdict::Forward);
    forward(
        &mut w,
        &snap,
        &tcp("10.244.1.100", 2222, vip, 80, ACK),
        &at(11),
    );
    let real = key("10.244.1.100", 2222, vip, 80, 6);
    assert!(w.conntrack().peek(&real, 11 + 86_399).is_some());

    // DNS: one query, one answer: 30 s. With one more packet: the 120 s stream timeout.
    for (port, more, lasts) in [(3333u16, false, 30u64), (4444, true, 120)] {
        let q = udp("10.244.1.100", port, "10.96.0.10", 53);
        let t = forward(&mut w, &snap, &q, &at(20));
        let a = udp(&t.dst.to_string(), t.dst_port, "10.244.1.100", port);
        assert_eq!(run(&mut w, &snap, &a, &at(20)).0, Verdict::Forward);
        if more {
            forward(&mut w, &snap, &q, &at(20));
        }
        let k = key("10.244.1.100", port, "10.96.0.10", 53, 17);
        assert!(w.conntrack().peek(&k, 20 + lasts as u32).is_some());
        assert!(w.conntrack().peek(&k, 20 + lasts as u32 + 1).is_none());
    }
}

#[test]
fn ipv6_packets_with_ipv4_mapped_addresses_never_reach_ipv4_flows() {
    // Flow keys hold IPv4 addresses IPv4-mapped; an IPv6 packet carrying `::ffff:a.b.c.d`
    // addresses (never valid on the wire, RFC 4291 §2.5.5.2) is refused instead of being taken
    // for the IPv4 flow, e.g. to reset it.
    let snap = seed_snap(0);
    for fast_path in [true, false] {
        let mut w = Worker::new(WorkerConfig {
            fast_path,
            ..WorkerConfig::default()
        })
        .unwrap();
        let syn = tcp("10.244.1.100", 40000, "10.96.47.182", 80, SYN);
        let t = forward(&mut w, &snap, &syn, &at(1));
        let rst = tcp(
            "::ffff:10.244.1.100",
            40000,
            "::ffff:10.96.47.182",
            80,
            0x04,
        );
        let (v, pkt) = run(&mut w, &snap, &rst, &at(2));
        assert_eq!(v, Verdict::Invalid, "fast path {fast_path}");
        assert_eq!(pkt, rst.packet());
        assert_eq!(
            w.explain(&snap, &rst.packet(), &at(2)).verdict,
            Verdict::Invalid
        );
        let reply = udp("::ffff:10.96.0.10", 53, "fd00:10:244:1::100", 5353);
        assert_eq!(run(&mut w, &snap, &reply, &at(2)).0, Verdict::Invalid);
        // The IPv4 flow is untouched: still open, same backend, well past the RST timeout.
        let ack = tcp("10.244.1.100", 40000, "10.96.47.182", 80, ACK);
        assert_eq!(forward(&mut w, &snap, &ack, &at(100)).dst, t.dst);
    }
}

#[test]
fn udp_flow_whose_backend_left_is_chosen_again() {
    let mut cat = catalog(0, false);
    let snap = cat.compile();
    let mut w = worker(4);
    let q = udp("10.244.1.100", 5353, "10.96.0.10", 53);
    let first = forward(&mut w, &snap, &q, &at(1)).dst;
    // Same flow, same backend.
    assert_eq!(forward(&mut w, &snap, &q, &at(2)).dst, first);

    remove_endpoint(&mut cat, "kube-system", "kube-dns", first);
    let snap2 = cat.compile();
    assert_eq!(w.on_snapshot(&snap2), 1);
    assert_eq!(w.counters().flows_flushed, 1);
    let again = forward(&mut w, &snap2, &q, &at(3)).dst;
    assert_ne!(again, first);

    // A switch that leaves the backend in place keeps the flow.
    let snap3 = cat.compile();
    assert_eq!(w.on_snapshot(&snap3), 0);
    assert_eq!(forward(&mut w, &snap3, &q, &at(4)).dst, again);
}

#[test]
fn rejects_drops_and_passes() {
    let snap = seed_snap(0);
    let mut w = worker(5);
    let pod = "10.244.1.100";
    let cases = [
        // billing/payments: its only endpoint is neither ready nor serving.
        (
            tcp(pod, 1000, "10.96.100.50", 80, SYN),
            Verdict::Reject(RejectReason::NoEndpoints),
        ),
        // A port pricing-engine does not define.
        (
            tcp(pod, 1000, "10.96.47.182", 81, SYN),
            Verdict::Reject(RejectReason::UndefinedPort),
        ),
        (
            udp(pod, 1000, "10.96.47.182", 80),
            Verdict::Reject(RejectReason::UndefinedPort),
        ),
        // In the service CIDR, held by no Service.
        (
            tcp(pod, 1000, "10.96.200.200", 80, SYN),
            Verdict::Drop(DropReason::UnallocatedServiceIp),
        ),
        // Not a Service at all.
        (tcp(pod, 1000, "8.8.8.8", 443, SYN), Verdict::Pass),
        (udp(pod, 1000, "192.168.0.10", 30080), Verdict::Pass),
    ];
    for (s, want) in &cases {
        let explained = w.explain(&snap, &s.packet(), &at(1)).verdict;
        let (v, pkt) = run(&mut w, &snap, s, &at(1));
        assert_eq!(v, *want, "{s:?}");
        assert_eq!(explained, *want, "explain agrees");
        assert_eq!(pkt, s.packet(), "untouched");
    }
    // Malformed: untouched, Invalid.
    let mut junk = tcp(pod, 1000, "10.96.47.182", 80, SYN).packet();
    junk.truncate(30);
    let before = junk.clone();
    assert_eq!(w.process(&snap, &mut junk, &at(1)), Verdict::Invalid);
    assert_eq!(junk, before);

    let c = w.counters();
    assert_eq!(c.rejected(RejectReason::NoEndpoints).packets, 1);
    assert_eq!(c.rejected(RejectReason::UndefinedPort).packets, 2);
    assert_eq!(c.dropped(DropReason::UnallocatedServiceIp).packets, 1);
    assert_eq!(c.pass.packets, 2);
    assert_eq!(c.invalid.packets, 1);
    assert_eq!(c.invalid.bytes, 30);
    assert_eq!(c.flows.created, 0);
}

#[test]
fn load_balancer_source_ranges_and_external_traffic_policy_local() {
    // order-api-lb: LB IP 198.51.100.7, source range 203.0.113.0/24, externalTrafficPolicy
    // Local; its Ready endpoints are 10.244.1.20 (node 0) and 10.244.2.21 (node 1).
    let snap0 = seed_snap(0);
    let mut w = worker(6);

    // Outside the range: dropped.
    let denied = tcp("192.0.2.1", 40000, "198.51.100.7", 80, SYN);
    assert_eq!(
        run(&mut w, &snap0, &denied, &at(1)).0,
        Verdict::Drop(DropReason::SourceRange)
    );
    assert_eq!(
        w.explain(&snap0, &denied.packet(), &at(1)).rule,
        Rule::SourceRange
    );

    // Inside: the local endpoint, and the client's address is preserved (no SNAT).
    let allowed = tcp("203.0.113.5", 40000, "198.51.100.7", 80, SYN);
    let t = forward(&mut w, &snap0, &allowed, &at(1));
    assert_eq!(t.src, allowed.src);
    assert_eq!((t.dst, t.dst_port), (ip("10.244.1.20"), 3000));

    // Source ranges never apply to the NodePort of the same Service: an external client not in
    // the range reaches it, still without SNAT.
    let np = tcp("192.0.2.1", 40001, "192.168.0.10", 31204, SYN);
    let t = forward(&mut w, &snap0, &np, &at(1));
    assert_eq!((t.src, t.dst), (np.src, ip("10.244.1.20")));

    // From a pod on a Local service: cluster pool (short-circuit), not masqueraded. From this
    // node: masqueraded.
    let pod = tcp("10.244.1.100", 40002, "192.168.0.10", 30080, SYN);
    assert_eq!(forward(&mut w, &snap0, &pod, &at(1)).src, pod.src);
    let node = tcp("192.168.0.10", 40003, "192.168.0.10", 30080, SYN);
    assert_eq!(
        forward(&mut w, &snap0, &node, &at(1)).src,
        ip("192.168.0.10")
    );

    // Node 2 has no local endpoint: external traffic is dropped; a pod there still gets in.
    let snap2 = seed_snap(2);
    let mut w2 = worker(7);
    let ext = tcp("198.18.0.9", 40000, "192.168.0.12", 30080, SYN);
    assert_eq!(
        run(&mut w2, &snap2, &ext, &at(1)).0,
        Verdict::Drop(DropReason::TrafficPolicy)
    );
    let pod2 = tcp("10.244.3.100", 40000, "192.168.0.12", 30080, SYN);
    assert_eq!(run(&mut w2, &snap2, &pod2, &at(1)).0, Verdict::Forward);
    // The caller can say where a packet came from.
    let told = Meta::new(1_000_000_000).with_ingress(Ingress::External);
    let pod3 = tcp("10.244.3.100", 40001, "192.168.0.12", 30080, SYN);
    assert_eq!(
        run(&mut w2, &snap2, &pod3, &told).0,
        Verdict::Drop(DropReason::TrafficPolicy)
    );
    assert_eq!(w2.counters().dropped(DropReason::TrafficPolicy).packets, 2);
}

#[test]
fn workers_with_different_seeds_and_catalogs_in_different_orders_agree() {
    let snap_a = catalog(0, false).compile();
    let snap_b = catalog(0, true).compile();
    let mut a = worker(0x1111);
    let mut b = worker(0xdead_beef_0bad_cafe);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..300u16 {
        for (dst, port) in [
            ("10.96.47.182", 80),
            ("10.96.0.80", 80),
            ("10.96.33.91", 9090),
        ] {
            let s = tcp(
                &format!("10.244.2.{}", i % 250 + 1),
                20000 + i,
                dst,
                port,
                SYN,
            );
            let ta = forward(&mut a, &snap_a, &s, &at(1));
            let tb = forward(&mut b, &snap_b, &s, &at(1));
            assert_eq!(ta, tb);
            seen.insert(ta.dst);
        }
    }
    assert!(seen.len() >= 7, "flows spread over the backends: {seen:?}");
}

#[test]
fn client_ip_affinity_pins_and_moves_when_the_backend_leaves() {
    // default/my-api: ClientIP affinity, backends 10.244.1.5 and 10.244.2.3.
    let mut cat = catalog(0, false);
    let snap = cat.compile();
    let mut w = worker(8);
    let mut other = worker(9);
    let client = "10.244.3.77";
    let first = forward(
        &mut w,
        &snap,
        &tcp(client, 30000, "10.96.45.100", 80, SYN),
        &at(1),
    )
    .dst;
    for port in 30001..30040 {
        let s = tcp(client, port, "10.96.45.100", 80, SYN);
        assert_eq!(forward(&mut w, &snap, &s, &at(2)).dst, first);
        // Another worker without the pin makes the same first choice.
        assert_eq!(forward(&mut other, &snap, &s, &at(2)).dst, first);
    }
    let s = tcp(client, 30100, "10.96.45.100", 80, SYN);
    assert_eq!(
        w.explain(&snap, &s.packet(), &at(3)).rule,
        Rule::AffinityPin
    );

    remove_endpoint(&mut cat, "default", "my-api", first);
    let snap2 = cat.compile();
    w.on_snapshot(&snap2);
    let moved_to = forward(&mut w, &snap2, &s, &at(3)).dst;
    assert_ne!(moved_to, first);
    assert_eq!(
        w.counters().affinity.removed,
        1,
        "the stale pin was deleted"
    );
    let s2 = tcp(client, 30101, "10.96.45.100", 80, SYN);
    assert_eq!(forward(&mut w, &snap2, &s2, &at(4)).dst, moved_to);
}

#[test]
fn explain_changes_nothing_and_bursts_match_single_packets() {
    let snap = seed_snap(0);
    let mut w = worker(10);
    let s = tcp("10.244.1.100", 40000, "10.96.47.182", 80, SYN);
    let e = w.explain(&snap, &s.packet(), &at(1));
    assert_eq!(e.verdict, Verdict::Forward);
    assert_eq!(e.rule, Rule::Maglev);
    assert_eq!(
        e.service,
        Some(&ObjectRef::new("production", "pricing-engine-svc"))
    );
    assert_eq!(w.conntrack().len(), 0);
    assert_eq!(w.counters().forward.packets, 0);
    let t = forward(&mut w, &snap, &s, &at(1));
    assert_eq!(e.backend, Some((t.dst, t.dst_port)));

    let specs: Vec<Spec> = (0..70u16)
        .map(|i| tcp("10.244.1.101", 1000 + i, "10.96.0.80", 80, SYN))
        .collect();
    let mut single = worker(11);
    let mut bufs: Vec<Vec<u8>> = specs.iter().map(|s| s.packet()).collect();
    let mut refs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
    let mut verdicts = [Verdict::Pass; 70];
    assert_eq!(w.process_burst(&snap, &mut refs, &at(1), &mut verdicts), 64);
    for (i, s) in specs.iter().enumerate().take(64) {
        assert_eq!(verdicts[i], Verdict::Forward);
        let (_, one) = run(&mut single, &snap, s, &at(1));
        assert_eq!(bufs[i], one);
    }
    assert_eq!(bufs[64], specs[64].packet(), "beyond the burst: untouched");
}

#[test]
fn a_full_table_evicts_and_counts() {
    let snap = seed_snap(0);
    let mut w = Worker::new(WorkerConfig {
        flows: 8,
        affinity_entries: 4,
        conntrack_seed: 1,
        ..WorkerConfig::default()
    })
    .unwrap();
    for i in 0..20u16 {
        let s = tcp("10.244.1.100", 1000 + i, "10.96.0.80", 80, SYN);
        forward(&mut w, &snap, &s, &at(u64::from(i)));
    }
    let c = w.counters();
    assert_eq!(w.conntrack().len(), 8);
    assert_eq!(c.flows.created, 20);
    assert_eq!(c.flows.evicted, 12);
}

#[test]
fn masquerade_port_clash_picks_another_port_deterministically() {
    // Two outside clients with the same source port reach the same backend: the second gets
    // another SNAT port, and replies to each find their own client.
    let snap = seed_snap(0);
    let mut w = worker(12);
    let mut first = None;
    let mut found = None;
    // Find two clients that land on the same backend with the same port.
    for i in 1..50u8 {
        let s = tcp(&format!("198.18.1.{i}"), 7777, "10.96.0.80", 80, SYN);
        let t = forward(&mut w, &snap, &s, &at(1));
        match first {
            None => first = Some((s.clone(), t)),
            Some((_, ft)) if ft.dst == t.dst => {
                found = Some((s, t));
                break;
            }
            _ => {}
        }
    }
    let (s1, t1) = first.unwrap();
    let (s2, t2) = found.expect("two clients on one backend");
    assert_eq!(t1.src_port, 7777);
    assert_ne!(t2.src_port, 7777);
    assert!(t2.src_port >= 1024);
    for (s, t) in [(s1, t1), (s2, t2)] {
        let reply = tcp(
            &t.dst.to_string(),
            t.dst_port,
            &t.src.to_string(),
            t.src_port,
            SYN_ACK,
        );
        let (v, pkt) = run(&mut w, &snap, &reply, &at(1));
        assert_eq!(v, Verdict::Forward);
        assert_eq!(pkt, moved(&reply, s.dst, 80, s.src, 7777).packet());
    }
}

/// Workers split the SNAT ports (`snat_port_owner`): however the clients are spread over the
/// workers, no two connections get the same translated tuple (each worker's own table cannot
/// see the others' ports), and every SNAT port says which worker to steer its replies to.
#[test]
fn workers_split_the_snat_ports_so_translated_tuples_never_collide() {
    use std::collections::HashMap;
    use svcplane::dataplane::snat_port_owner;
    let snap = seed_snap(0);
    let workers = 3u16;
    let mut ws = split_workers(workers, 40);
    // Every client uses source port 7777 (an outside client: masqueraded); the clients go to
    // the workers in turn.
    let mut seen: HashMap<Tuple, IpAddr> = HashMap::new();
    for i in 0..600u32 {
        let client = format!("198.18.{}.{}", i / 200, 1 + i % 200);
        let index = (i % u32::from(workers)) as u16;
        let s = tcp(&client, 7777, "10.96.0.80", 80, SYN);
        let t = forward(&mut ws[usize::from(index)], &snap, &s, &at(1));
        assert_eq!(t.src, ip("192.168.0.10"), "masqueraded");
        assert_eq!(snat_port_owner(t.src_port, workers), Some(index), "{t:?}");
        if let Some(other) = seen.insert(t, s.src) {
            panic!("{client} and {other} both translated to {t:?}");
        }
    }
    // The client's own port is kept by its owner: 7777 is worker (7777 - 1024) % 3 = 0's.
    assert_eq!(snat_port_owner(7777, workers), Some(0));
    assert!(seen.keys().any(|t| t.src_port == 7777));
    assert_eq!(snat_port_owner(1023, workers), None);
    assert_eq!(snat_port_owner(1024, 1), Some(0));
}

/// With 90% of a worker's SNAT ports towards one backend taken, new masqueraded flows still
/// find a free port: the attempts are independent draws (a fixed step made the taken ports
/// cluster along it, as in linear probing) and there are `SNAT_PORT_ATTEMPTS` of them, so
/// at most 0.95^128 (0.14%) of the flows to that backend are dropped. Before: 8 attempts
/// along a fixed step, and most of them were.
#[test]
fn new_flows_find_a_snat_port_when_most_are_taken() {
    use std::collections::HashMap;
    use svcplane::dataplane::DropReason;
    let snap = seed_snap(0);
    // 64 workers: this one owns 1,008 ports, so 90% of them is about 907 flows.
    let mut w = Worker::new(WorkerConfig {
        flows: 8192,
        conntrack_seed: 45,
        workers: 64,
        worker_index: 5,
        ..WorkerConfig::default()
    })
    .unwrap();
    let mut per_backend: HashMap<IpAddr, u32> = HashMap::new();
    let (mut measured, mut dropped) = (0, 0);
    for i in 0..20_000u32 {
        let client = format!("198.19.{}.{}", i / 250, 1 + i % 250);
        let s = tcp(
            &client,
            1024 + (i * 7919 % 60_000) as u16,
            "10.96.0.80",
            80,
            SYN,
        );
        // Measured while the fullest backend holds 90-95% of the worker's ports.
        let most = per_backend.values().copied().max().unwrap_or(0);
        if most >= 958 {
            break;
        }
        let full = most >= 907;
        let (v, pkt) = run(&mut w, &snap, &s, &at(1));
        match v {
            Verdict::Forward => *per_backend.entry(tuple(&pkt).dst).or_default() += 1,
            Verdict::Drop(DropReason::FlowClash) => dropped += u32::from(full),
            v => panic!("{v:?}"),
        }
        measured += u32::from(full);
    }
    assert!(measured >= 60, "{measured}");
    assert!(dropped <= 1, "{dropped} of {measured} new flows dropped");
}

/// A SNAT port is never one at which the masquerade address is a frontend: a reply to a flow
/// masqueraded to node:30080 would otherwise be a new connection to that NodePort wherever
/// it is steered by its destination.
#[test]
fn snat_ports_avoid_the_node_ports_of_the_masquerade_address() {
    let snap = seed_snap(0);
    let mut w = worker(44);
    // Clients with the NodePort's number as their own port, masqueraded to 192.168.0.10.
    for i in 1..40u8 {
        let s = tcp(&format!("198.18.3.{i}"), 30080, "10.96.0.80", 80, SYN);
        let t = forward(&mut w, &snap, &s, &at(1));
        assert_eq!(t.src, ip("192.168.0.10"));
        assert_ne!(t.src_port, 30080, "{t:?}");
    }
}

#[test]
fn later_fragments_and_missing_masquerade_addresses_are_dropped() {
    let snap = seed_snap(0);
    let mut w = worker(13);
    // A non-first fragment to a cluster IP cannot be matched to a flow (fragments are not
    // tracked): dropped. To anything else: passed.
    let s = udp("10.244.1.100", 5000, "10.96.0.10", 53);
    let l4 = s.l4();
    let mut frag = s.packet_with(&l4[8..], Some((8, false)));
    let before = frag.clone();
    assert_eq!(
        w.process(&snap, &mut frag, &at(1)),
        Verdict::Drop(DropReason::Fragment)
    );
    assert_eq!(frag, before);
    let other = udp("10.244.1.100", 5000, "8.8.8.8", 53);
    let mut frag = other.packet_with(&other.l4()[8..], Some((8, false)));
    assert_eq!(w.process(&snap, &mut frag, &at(1)), Verdict::Pass);

    // The seed nodes have no IPv6 address: an outside IPv6 client of a cluster IP must be
    // masqueraded and cannot be.
    let v6 = udp("2001:db8::1", 5000, "fd00:10:96::a", 53);
    assert_eq!(
        run(&mut w, &snap, &v6, &at(1)).0,
        Verdict::Drop(DropReason::NoMasqueradeAddress)
    );
    assert_eq!(w.conntrack().len(), 0);
}

#[test]
fn rejected_packets_get_a_port_unreachable_answer() {
    use svcplane::dataplane::write_port_unreachable;
    use svcplane::nat::Kind;
    let snap = seed_snap(0);
    let mut w = worker(14);
    let mut big = tcp("10.244.1.100", 1000, "10.96.100.50", 80, SYN);
    big.payload = vec![0xab; 1400];
    let v6 = udp("fd00:10:244:1::100", 1000, "fd00:10:96::a", 54);
    for (s, max) in [
        (tcp("10.244.1.100", 1000, "10.96.100.50", 80, SYN), 576),
        (big, 576),
        (v6, 1280),
    ] {
        let pkt = s.packet();
        let mut copy = pkt.clone();
        assert!(
            matches!(w.process(&snap, &mut copy, &at(1)), Verdict::Reject(_)),
            "{s:?}"
        );
        let mut out = [0u8; 2048];
        let n = write_port_unreachable(&pkt, &mut out).unwrap();
        let answer = &out[..n];
        verify_checksums(answer).unwrap();
        let hdr = if s.v6() { 48 } else { 28 };
        assert_eq!(n, (pkt.len() + hdr).min(max));
        let p = nat::parse(answer).unwrap();
        assert_eq!(p.kind, Kind::IcmpError);
        assert_eq!((p.tuple.src, p.tuple.dst), (s.dst, s.src));
        assert_eq!(p.inner.unwrap().tuple, tuple(&pkt));
        assert_eq!(&answer[hdr..], &pkt[..n - hdr]);
        // Type and code: port unreachable.
        let at = if s.v6() { 40 } else { 20 };
        assert_eq!(
            &answer[at..at + 2],
            if s.v6() { &[1u8, 4] } else { &[3u8, 3] }
        );
    }
    // Too small a buffer, or an ICMP error: nothing.
    let pkt = tcp("10.244.1.100", 1000, "10.96.100.50", 80, SYN).packet();
    assert_eq!(write_port_unreachable(&pkt, &mut [0u8; 40]), None);
    let mut out = [0u8; 600];
    let n = write_port_unreachable(&pkt, &mut out).unwrap();
    let answer = out[..n].to_vec();
    assert_eq!(write_port_unreachable(&answer, &mut out), None);
}

#[test]
fn portless_packets_to_service_addresses_are_rejected_or_dropped() {
    // SEMANTICS.md §4 whatever the protocol: an ICMP echo request (or another protocol than
    // TCP, UDP, SCTP) to a cluster IP is rejected, to an unallocated service-CIDR address
    // dropped, and anywhere else not service traffic. Echo replies and errors that match no
    // flow are not new connections and pass. Fast and general path, and explain, agree.
    use svcplane::dataplane::write_port_unreachable;
    let snap = seed_snap(0);
    let echo = |src: &str, dst: &str, icmp_type: u8| Spec {
        icmp_type,
        ..spec(if dst.contains(':') { 58 } else { 1 }, src, 7, dst, 0, 0)
    };
    // GRE (47): a protocol svcplane does not parse.
    let gre = |src: &str, dst: &str| {
        let s = spec(47, src, 0, dst, 0, 0);
        s.packet_with(&[0, 0, 0x08, 0x00, 0x45, 0, 0, 0, 1, 2, 3, 4], None)
    };
    let reject = Verdict::Reject(RejectReason::UndefinedPort);
    let drop = Verdict::Drop(DropReason::UnallocatedServiceIp);
    let cases: Vec<(Vec<u8>, Verdict)> = vec![
        (echo("10.244.1.100", "10.96.47.182", 8).packet(), reject),
        (echo("203.0.113.9", "10.96.0.10", 8).packet(), reject),
        (echo("10.244.1.100", "10.96.200.200", 8).packet(), drop),
        (
            echo("10.244.1.100", "10.244.2.9", 8).packet(),
            Verdict::Pass,
        ),
        (
            echo("10.244.1.100", "10.96.47.182", 0).packet(),
            Verdict::Pass,
        ),
        (
            echo("fd00:10:244:1::100", "fd00:10:96::a", 128).packet(),
            reject,
        ),
        (
            echo("fd00:10:244:1::100", "fd00:10:96::ff", 128).packet(),
            drop,
        ),
        (
            echo("fd00:10:244:1::100", "fd00:10:96::a", 129).packet(),
            Verdict::Pass,
        ),
        (gre("10.244.1.100", "10.96.47.182"), reject),
        (gre("10.244.1.100", "10.96.200.200"), drop),
        (gre("10.244.1.100", "10.244.2.9"), Verdict::Pass),
        (gre("192.168.0.11", "192.168.0.10"), Verdict::Pass),
        (gre("fd00:10:244:1::100", "fd00:10:96::a"), reject),
        // IPv6 ESP (50): the extension-header walk stops at it.
        (
            spec(50, "fd00:10:244:1::100", 0, "fd00:10:96::a", 0, 0).packet_with(&[7; 16], None),
            reject,
        ),
        (
            spec(50, "fd00:10:244:1::100", 0, "fd00:10:244:2::9", 0, 0).packet_with(&[7; 16], None),
            Verdict::Pass,
        ),
    ];
    for fast_path in [true, false] {
        let mut w = Worker::new(WorkerConfig {
            fast_path,
            ..WorkerConfig::default()
        })
        .unwrap();
        for (i, (pkt, want)) in cases.iter().enumerate() {
            let mut copy = pkt.clone();
            assert_eq!(w.explain(&snap, pkt, &at(1)).verdict, *want, "case {i}");
            assert_eq!(w.process(&snap, &mut copy, &at(1)), *want, "case {i}");
            assert_eq!(&copy, pkt, "case {i}: left as it was");
            let mut out = [0u8; 1500];
            let answer = write_port_unreachable(pkt, &mut out);
            if *want != reject {
                continue;
            }
            // The port-unreachable answer: from the cluster IP to the sender, quoting the
            // packet whole, every checksum right (checked by the independent oracle).
            let n = answer.unwrap_or_else(|| panic!("case {i}: no answer"));
            let answer = &out[..n];
            verify_checksums(answer).unwrap();
            let v6 = pkt[0] >> 4 == 6;
            let hdr = if v6 { 48 } else { 28 };
            assert_eq!(n, pkt.len() + hdr, "case {i}");
            assert_eq!(&answer[hdr..], &pkt[..], "case {i}");
            let (src, dst, icmp) = if v6 {
                (&pkt[8..24], &pkt[24..40], &answer[40..42])
            } else {
                (&pkt[12..16], &pkt[16..20], &answer[20..22])
            };
            let (a_src, a_dst) = if v6 {
                (&answer[8..24], &answer[24..40])
            } else {
                (&answer[12..16], &answer[16..20])
            };
            assert_eq!((a_src, a_dst), (dst, src), "case {i}");
            assert_eq!(icmp, if v6 { &[1u8, 4] } else { &[3u8, 3] }, "case {i}");
        }
    }
    // Never an answer to an echo reply or to an ICMP error.
    let mut out = [0u8; 1500];
    let reply = echo("10.244.1.100", "10.96.47.182", 0).packet();
    assert_eq!(write_port_unreachable(&reply, &mut out), None);
    let request = echo("10.244.1.100", "10.96.47.182", 8).packet();
    let n = write_port_unreachable(&request, &mut out).unwrap();
    let answer = out[..n].to_vec();
    assert_eq!(write_port_unreachable(&answer, &mut out), None);
    // Nor to the other error types: ICMPv4 source quench and redirect (Linux's icmp_is_err),
    // ICMPv6 types below 128 that RFC 4443 does not name (§2.1: all are errors).
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let request6 = echo("fd00:10:244:1::100", "fd00:10:96::a", 128).packet();
    for (from, to, quoted, ty) in [
        ("192.168.0.1", "10.244.1.100", &request, 4),
        ("192.168.0.1", "10.244.1.100", &request, 5),
        ("fd00::1", "fd00:10:244:1::100", &request6, 0),
        ("fd00::1", "fd00:10:244:1::100", &request6, 100),
        ("fd00::1", "fd00:10:244:1::100", &request6, 127),
    ] {
        let err = icmp_error(&ip(from), &ip(to), ty, 0, 0, quoted);
        assert_eq!(
            write_port_unreachable(&err, &mut out),
            None,
            "type {ty} from {from}"
        );
    }
}

#[test]
fn masquerade_follows_semantics_5() {
    use svcplane::model::TrafficPolicy;
    // Hairpin: a pricing-engine pod reaching its own Service and landing on itself is
    // masqueraded; landing on another pod it is not.
    let snap = seed_snap(0);
    let mut w = worker(15);
    let me = ip("10.244.1.8");
    let (mut hairpin, mut direct) = (false, false);
    for port in 1000..1200 {
        let s = tcp("10.244.1.8", port, "10.96.47.182", 80, SYN);
        let t = forward(&mut w, &snap, &s, &at(1));
        if t.dst == me {
            assert_eq!(t.src, ip("192.168.0.10"), "hairpin is masqueraded");
            hairpin = true;
        } else {
            assert_eq!(t.src, me);
            direct = true;
        }
    }
    assert!(hairpin && direct);

    // masquerade-all: pod → ClusterIP is masqueraded too.
    let mut config = seed::node(0);
    config.masquerade_all = true;
    let snap = catalog_with(config, false).compile();
    let s = tcp("10.244.1.100", 2000, "10.96.47.182", 80, SYN);
    assert_eq!(forward(&mut w, &snap, &s, &at(1)).src, ip("192.168.0.10"));

    // externalTrafficPolicy Cluster: external clients of a NodePort are masqueraded, and a node
    // without a local endpoint forwards them.
    let mut cat = catalog(2, false);
    edit_service(
        &mut cat,
        &ObjectRef::new("production", "order-api-svc"),
        |svc| {
            svc.external_traffic_policy = TrafficPolicy::Cluster;
        },
    );
    let snap = cat.compile();
    let s = tcp("198.18.0.9", 3000, "192.168.0.12", 30080, SYN);
    let t = forward(&mut w, &snap, &s, &at(1));
    assert_eq!(t.src, ip("192.168.0.12"));
    assert_eq!(t.dst_port, 3000);
}

#[test]
fn bad_sizes_are_errors() {
    let cfg = |flows, affinity_entries| WorkerConfig {
        flows,
        affinity_entries,
        ..WorkerConfig::default()
    };
    assert!(Worker::new(cfg(0, 16)).is_err());
    assert!(Worker::new(cfg(16, 0)).is_err());
    assert!(Worker::new(cfg(16, 16)).is_ok());
    let split = |workers, worker_index| {
        Worker::new(WorkerConfig {
            workers,
            worker_index,
            ..cfg(16, 16)
        })
        .err()
    };
    let refused = |workers, worker_index| {
        Some(svcplane::dataplane::Error::Workers {
            workers,
            worker_index,
        })
    };
    assert_eq!(split(0, 0), refused(0, 0));
    assert_eq!(split(4, 4), refused(4, 4));
    assert_eq!(split(1025, 0), refused(1025, 0));
    assert_eq!(split(4, 3), None);
    assert_eq!(split(1024, 1023), None);
}

/// IP fragments (issue 4 item 3): the first fragment's decision is remembered, so the later
/// fragments of the same datagram get the same address rewrite; the reassembled datagram is
/// exactly the datagram the oracle builds with the new addresses and ports.
#[test]
fn later_fragments_follow_their_first_fragment() {
    use svcplane::dataplane::{Rule, FRAGMENT_TIMEOUT};
    let snap = seed_snap(0);
    for (client, masquerade) in [("10.244.1.100", false), ("198.18.0.7", true)] {
        let mut w = worker(21);
        let mut s = udp(client, 5353, "10.96.0.10", 53);
        s.payload = (0..40u8).collect();
        s.ident = 0x4242;
        let l4 = s.l4(); // 48 bytes: fragments of 24 + 24
        let mut first = s.packet_with(&l4[..24], Some((0, true)));
        let mut later = s.packet_with(&l4[24..], Some((24, false)));

        // A later fragment seen first cannot be matched: dropped, unchanged.
        let early = later.clone();
        let mut probe = later.clone();
        assert_eq!(
            w.process(&snap, &mut probe, &at(1)),
            Verdict::Drop(DropReason::Fragment)
        );
        assert_eq!(probe, early);

        assert_eq!(w.process(&snap, &mut first, &at(1)), Verdict::Forward);
        let t = tuple(&first);
        assert_eq!(t.dst, ip("10.244.1.2"));
        assert_eq!(t.src == ip("192.168.0.10"), masquerade, "{client}");
        let e = w.explain(&snap, &later, &at(2));
        assert_eq!(
            (e.verdict, e.rule),
            (Verdict::Forward, Rule::FragmentOfTracked)
        );
        assert_eq!(e.backend, Some((t.dst, t.dst_port)));
        assert_eq!(w.process(&snap, &mut later, &at(2)), Verdict::Forward);
        verify_checksums(&first).unwrap();
        verify_checksums(&later).unwrap();
        // Both fragments are counted for the backend, as packets and as bytes.
        let c = w.backend_count(t.dst, t.dst_port).unwrap();
        assert_eq!(c.to_backend.packets, 2, "{client}");
        assert_eq!(c.to_backend.bytes, (first.len() + later.len()) as u64);

        // A fragmented reply: its later fragment follows the first back to the client, and
        // both are counted as the backend's replies.
        let mut r = udp(
            &t.dst.to_string(),
            t.dst_port,
            &t.src.to_string(),
            t.src_port,
        );
        r.payload = (0..40u8).collect();
        r.ident = 0x4343;
        let rl4 = r.l4();
        let mut rfirst = r.packet_with(&rl4[..24], Some((0, true)));
        let mut rlater = r.packet_with(&rl4[24..], Some((24, false)));
        assert_eq!(w.process(&snap, &mut rfirst, &at(3)), Verdict::Forward);
        let e = w.explain(&snap, &rlater, &at(3));
        assert_eq!(e.rule, Rule::FragmentOfTracked);
        assert_eq!(
            e.backend,
            Some((t.dst, t.dst_port)),
            "the backend, not the client"
        );
        assert_eq!(w.process(&snap, &mut rlater, &at(3)), Verdict::Forward);
        assert_eq!(tuple(&rfirst).dst, ip(client));
        let back = moved(&r, ip("10.96.0.10"), 53, ip(client), 5353);
        let bl4 = back.l4();
        assert_eq!(rlater, back.packet_with(&bl4[24..], Some((24, false))));
        let c = w.backend_count(t.dst, t.dst_port).unwrap();
        assert_eq!(c.from_backend.packets, 2, "{client}");
        assert_eq!(c.from_backend.bytes, (rfirst.len() + rlater.len()) as u64);

        // The oracle's fragments of the translated datagram, byte for byte.
        let translated = moved(&s, t.src, t.src_port, t.dst, t.dst_port);
        let tl4 = translated.l4();
        assert_eq!(first, translated.packet_with(&tl4[..24], Some((0, true))));
        assert_eq!(later, translated.packet_with(&tl4[24..], Some((24, false))));

        // After the fragment timeout the decision is forgotten.
        let mut stale = early.clone();
        assert_eq!(
            w.process(&snap, &mut stale, &at(2 + u64::from(FRAGMENT_TIMEOUT))),
            Verdict::Drop(DropReason::Fragment)
        );
    }
}

#[test]
fn ipv6_fragments_with_destination_options_after_the_fragment_header() {
    // The first fragment's headers after the fragment header (destination options, then UDP)
    // are walked; a later fragment's next-header field still says "destination options". IPv6
    // reassembles by addresses and identification only (RFC 8200 §4.5), and so does the
    // fragment table: the later fragment gets the first one's rewrite.
    let snap = seed_snap(0);
    let mut w = worker(22);
    let mut s = udp("fd00:10:244:1::100", 5353, "fd00:10:96::a", 53);
    s.payload = (0..40u8).collect();
    // Built here, not by the oracle (its fragment header comes after the other extension
    // headers): IPv6 | fragment (next: 60) | [destination options (next: UDP) | data].
    let build = |s: &Spec, data: &[u8], first: bool| {
        let mut frag_part = Vec::new();
        if first {
            frag_part.extend([17, 0, 1, 4, 0, 0, 0, 0]);
        }
        frag_part.extend(data);
        let offset: u16 = if first { 0 } else { 8 + 24 };
        let mut p = vec![0x60, 0, 0, 0];
        p.extend(((8 + frag_part.len()) as u16).to_be_bytes());
        p.extend([44, 64]);
        for a in [s.src, s.dst] {
            let IpAddr::V6(a) = a else { unreachable!() };
            p.extend(a.octets());
        }
        p.extend([60, 0]);
        p.extend((offset | u16::from(first)).to_be_bytes());
        p.extend(0x0bad_cafeu32.to_be_bytes());
        p.extend(frag_part);
        p
    };
    let l4 = s.l4(); // 48 bytes of UDP: 24 in each fragment
    let mut first = build(&s, &l4[..24], true);
    let mut later = build(&s, &l4[24..], false);
    assert_eq!(w.process(&snap, &mut first, &at(1)), Verdict::Forward);
    let t = tuple(&first);
    assert_eq!(t.dst, ip("fd00:10:244:1::2"));
    assert_eq!(w.process(&snap, &mut later, &at(1)), Verdict::Forward);
    let translated = moved(&s, t.src, t.src_port, t.dst, t.dst_port);
    let tl4 = translated.l4();
    assert_eq!(first, build(&translated, &tl4[..24], true));
    assert_eq!(later, build(&translated, &tl4[24..], false));
}

/// The TCP reset option for rejects (SEMANTICS.md §4, svcplane's option): RFC 9293 §3.10.7.1
/// fields, checksums checked by the oracle.
#[test]
fn rejected_tcp_gets_a_reset_when_asked() {
    use svcplane::dataplane::{write_tcp_reset, TCP_RESET_LEN_V4, TCP_RESET_LEN_V6};
    let snap = seed_snap(0);
    let mut w = worker(22);
    let field = |p: &[u8], at: usize| u32::from_be_bytes(p[at..at + 4].try_into().unwrap());
    let cases = [
        // (client, frontend, port, flags, verdict, header length)
        (
            "10.244.1.100",
            "10.96.100.50",
            80,
            SYN,
            RejectReason::NoEndpoints,
            20,
        ),
        (
            "10.244.1.100",
            "10.96.47.182",
            81,
            ACK,
            RejectReason::UndefinedPort,
            20,
        ),
        (
            "fd00:10:244:1::100",
            "fd00:10:96::a",
            54,
            SYN,
            RejectReason::UndefinedPort,
            40,
        ),
    ];
    for (client, vip, port, flags, reason, hl) in cases {
        let s = tcp(client, 41000, vip, port, flags);
        let (v, pkt) = run(&mut w, &snap, &s, &at(1));
        assert_eq!(v, Verdict::Reject(reason), "{s:?}");
        assert_eq!(pkt, s.packet(), "a rejected packet is unchanged");
        let mut out = [0u8; 128];
        let n = write_tcp_reset(&pkt, &mut out).unwrap();
        assert_eq!(
            n,
            if hl == 20 {
                TCP_RESET_LEN_V4
            } else {
                TCP_RESET_LEN_V6
            }
        );
        let rst = &out[..n];
        verify_checksums(rst).unwrap();
        let t = tuple(rst);
        assert_eq!((t.src, t.src_port), (ip(vip), port));
        assert_eq!((t.dst, t.dst_port), (ip(client), 41000));
        let l4 = hl;
        // The test builder's segments carry seq 0x01020304, ack 0x05060708, an MSS option
        // and 8 payload bytes.
        if flags & ACK != 0 {
            assert_eq!(field(rst, l4 + 4), 0x0506_0708, "seq = the segment's ack");
            assert_eq!(rst[l4 + 13], 0x04, "RST");
        } else {
            assert_eq!(field(rst, l4 + 4), 0);
            assert_eq!(
                field(rst, l4 + 8),
                0x0102_0304 + 8 + 1,
                "ack = seq + len + SYN"
            );
            assert_eq!(rst[l4 + 13], 0x14, "RST|ACK");
        }
        // Never a reset to a reset, never for UDP, never into a short buffer.
        assert_eq!(write_tcp_reset(rst, &mut [0u8; 128]), None);
        assert_eq!(write_tcp_reset(&pkt, &mut [0u8; 30]), None);
    }
    let u = udp("10.244.1.100", 41000, "10.96.100.50", 80).packet();
    assert_eq!(write_tcp_reset(&u, &mut [0u8; 128]), None);
}

/// Per-backend counters (issue 4 item 4): every forwarded packet is counted on the backend the
/// rewritten packet went to (or came from), and the counts add up to the Forward verdicts.
#[test]
fn per_backend_counters_match_where_packets_went() {
    use std::collections::BTreeMap;
    let snap = seed_snap(0);
    let mut w = worker(23);
    let mut to: BTreeMap<(IpAddr, u16), u64> = BTreeMap::new();
    for i in 0..300u16 {
        let client = format!("10.244.2.{}", 100 + i % 100);
        let s = tcp(&client, 30000 + i, "10.96.47.182", 80, SYN);
        let t = forward(&mut w, &snap, &s, &at(1));
        *to.entry((t.dst, t.dst_port)).or_default() += 1;
        // The backend answers.
        let r = tcp(&t.dst.to_string(), t.dst_port, &client, 30000 + i, SYN_ACK);
        assert_eq!(run(&mut w, &snap, &r, &at(1)).0, Verdict::Forward);
    }
    assert_eq!(to.len(), 3, "three backends: {to:?}");
    let mut total = 0;
    for ((addr, port), n) in &to {
        let c = w.backend_count(*addr, *port).unwrap();
        assert_eq!(c.to_backend.packets, *n);
        assert_eq!(c.from_backend.packets, *n);
        total += c.to_backend.packets + c.from_backend.packets;
    }
    assert_eq!(w.backend_counts().count(), 3);
    assert_eq!(total, w.counters().forward.packets);
    assert_eq!(w.backend_overflow().to_backend.packets, 0);
}

#[test]
fn per_backend_counters_overflow_instead_of_growing() {
    let snap = seed_snap(0);
    let mut w = Worker::new(WorkerConfig {
        backends: 1,
        ..WorkerConfig::default()
    })
    .unwrap();
    let mut forwarded = 0;
    for i in 0..200u16 {
        let s = tcp("10.244.2.150", 30000 + i, "10.96.47.182", 80, SYN);
        forwarded += u64::from(run(&mut w, &snap, &s, &at(1)).0 == Verdict::Forward);
    }
    let counted: u64 = w
        .backend_counts()
        .map(|(_, _, c)| c.to_backend.packets)
        .sum();
    assert!(w.backend_counts().count() <= 2, "a table of two slots");
    assert!(w.backend_overflow().to_backend.packets > 0);
    assert_eq!(counted + w.backend_overflow().to_backend.packets, forwarded);
}

/// The fast path of the common case (IPv4 without options or IPv6 without extension headers,
/// TCP or UDP, not a fragment) and the general path agree on everything: a worker with
/// `fast_path` on and one with it off get the same random stream — new flows, established flows
/// and replies (masqueraded or not, affinity, rejects, drops), ICMP errors, fragments, options
/// and extension headers, damaged packets, raw bytes, snapshot switches, clock jumps and a
/// small flow table that evicts — and must return the same verdicts, leave the same bytes, and
/// end up with the same counters, per-backend counts, flows and explanations. Some steps are
/// bursts: the fast worker's `process_burst` (its staged form) against the general worker's
/// `process` of each packet in turn.
#[test]
fn the_fast_path_and_the_general_path_agree() {
    use common::Rng;
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
        (6, "fd00:10:96::a", 53),
        (6, "10.96.200.1", 80),
        (17, "8.8.8.8", 53),
        (132, "10.96.0.80", 80),
    ];
    const CLIENTS: &[&str] = &[
        "10.244.1.5",
        "10.244.1.6",
        "10.244.3.9",
        "192.168.0.10",
        "10.244.1.77",
        "198.18.0.1",
        "fd00:10:244:1::5",
        "2001:db8::7",
    ];
    let full = seed_snap(0);
    let mut c = catalog(0, false);
    for (ns, name) in [
        ("production", "pricing-engine-svc"),
        ("kube-system", "kube-dns"),
        ("default", "my-api"),
    ] {
        let id = ObjectRef::new(ns, name);
        let mut slices = c.endpoints(&id).unwrap().to_vec();
        for s in &mut slices {
            if s.endpoints.len() > 1 {
                s.endpoints.remove(0);
            }
        }
        c.replace_endpoints(&id, slices).unwrap();
    }
    let churned = c.compile();
    let snaps = [full, churned];
    let config = |fast_path| WorkerConfig {
        flows: 64,
        affinity_entries: 16,
        conntrack_seed: 0x5eed,
        fragments: 8,
        backends: 4,
        fast_path,
        ..WorkerConfig::default()
    };
    let mut fast = Worker::new(config(true)).unwrap();
    let mut general = Worker::new(config(false)).unwrap();
    let mut r = Rng(0xfa57);
    let mut snap = &snaps[0];
    let mut now = 1_000u64;
    // (tuple before, tuple after, packet after) of forwarded packets.
    let mut forwarded: Vec<(Tuple, Tuple, Vec<u8>)> = Vec::new();
    let mapped = |a: IpAddr| match a {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    };
    let mut common_forwards = 0;
    for step in 0..60_000 {
        match r.below(100) {
            0 => {
                snap = &snaps[r.below(2) as usize];
                assert_eq!(fast.on_snapshot(snap), general.on_snapshot(snap));
                continue;
            }
            1..=2 => {
                now += r.below(40);
                let max = r.below(8) as usize;
                let ns = now * 1_000_000_000;
                assert_eq!(fast.expire(ns, max), general.expire(ns, max));
                continue;
            }
            _ => {}
        }
        // One packet, or a burst (the fast worker's `process_burst` against the general one's
        // `process` of each packet in turn).
        let count = if r.chance(15) { 2 + r.below(40) } else { 1 };
        let mut batch: Vec<Vec<u8>> = Vec::new();
        for _ in 0..count {
            let mut pkt = match r.below(20) {
                // Raw bytes.
                0 => {
                    let n = r.below(80) as usize;
                    r.bytes(n)
                }
                // A reply (or an ICMP error) to something forwarded.
                1..=7 if !forwarded.is_empty() => {
                    let (before, t, out) = &forwarded[r.below(forwarded.len() as u64) as usize];
                    let s = spec(
                        before.protocol,
                        "10.0.0.1",
                        0,
                        "10.0.0.2",
                        0,
                        r.next() as u8,
                    );
                    match r.below(10) {
                        0 => icmp_error(&t.dst, &t.src, 3, 3, 0, out),
                        // IPv6 with the IPv4-mapped addresses of an IPv4 flow: refused (Invalid)
                        // by both paths, never taken for the IPv4 flow.
                        1 => {
                            let (src, dst) = (mapped(before.src), mapped(before.dst));
                            moved(&s, src, before.src_port, dst, before.dst_port).packet()
                        }
                        2 => {
                            let (src, dst) = (mapped(t.dst), mapped(t.src));
                            moved(&s, src, t.dst_port, dst, t.src_port).packet()
                        }
                        _ => {
                            let rt = t.reversed();
                            moved(&s, rt.src, rt.src_port, rt.dst, rt.dst_port).packet()
                        }
                    }
                }
                // A packet to a frontend.
                _ => {
                    let (proto, dst, dport) = FRONTENDS[r.below(FRONTENDS.len() as u64) as usize];
                    let v6 = dst.contains(':');
                    let clients: Vec<&&str> =
                        CLIENTS.iter().filter(|c| c.contains(':') == v6).collect();
                    let src = clients[r.below(clients.len() as u64) as usize];
                    let flags = [SYN, ACK, SYN_ACK, 0x11, 0x04, 0x18][r.below(6) as usize];
                    let sport = 40_000 + r.below(24) as u16;
                    let mut s = spec(proto, src, sport, dst, dport, flags);
                    s.payload = {
                        let n = r.below(30) as usize;
                        r.bytes(n)
                    };
                    s.udp_no_checksum = r.chance(5);
                    if r.chance(5) {
                        if v6 {
                            s.ext = vec![60];
                        } else {
                            s.ip_opts = 1;
                        }
                    }
                    if r.chance(5) {
                        let l4 = s.l4();
                        let (off, more) = if r.chance(50) { (0, true) } else { (8, false) };
                        s.packet_with(&l4[..l4.len().min(16)], Some((off, more)))
                    } else {
                        s.packet()
                    }
                }
            };
            // Damage: a byte anywhere, trailing bytes, a cut.
            match r.below(30) {
                0 if !pkt.is_empty() => {
                    let i = r.below(pkt.len() as u64) as usize;
                    pkt[i] = r.next() as u8;
                }
                1 => pkt.extend([0u8; 6]),
                2 => {
                    let n = r.below(pkt.len() as u64 + 1) as usize;
                    pkt.truncate(n);
                }
                _ => {}
            }
            batch.push(pkt);
        }
        let ingress = [
            Ingress::Auto,
            Ingress::Pod,
            Ingress::Node,
            Ingress::External,
        ][r.below(4) as usize];
        let meta = at(now).with_ingress(ingress);
        let befores = batch.clone();
        let mut verdicts = vec![Verdict::Invalid; batch.len()];
        if let [pkt] = &mut batch[..] {
            let explained = fast.explain(snap, &befores[0], &meta);
            assert_eq!(
                explained,
                general.explain(snap, &befores[0], &meta),
                "step {step}"
            );
            verdicts[0] = fast.process(snap, pkt, &meta);
        } else {
            let mut refs: Vec<&mut [u8]> = batch.iter_mut().map(|b| b.as_mut_slice()).collect();
            assert_eq!(
                fast.process_burst(snap, &mut refs, &meta, &mut verdicts),
                batch.len()
            );
        }
        for ((before, pkt), v) in befores.iter().zip(&batch).zip(verdicts) {
            let mut out_general = before.clone();
            let v_general = general.process(snap, &mut out_general, &meta);
            assert_eq!(v, v_general, "step {step}: {before:02x?}");
            assert_eq!(*pkt, out_general, "step {step}: {before:02x?}");
            if v == Verdict::Forward {
                if let (Ok(b), Ok(p)) = (nat::parse(before), nat::parse(pkt)) {
                    if p.inner.is_none() && p.kind == nat::Kind::Ports {
                        forwarded.push((b.tuple, p.tuple, pkt.clone()));
                        if forwarded.len() > 64 {
                            forwarded.remove(0);
                        }
                    }
                    if p.fragment.is_none() && p.l4_offset == if pkt[0] == 0x45 { 20 } else { 40 } {
                        common_forwards += 1;
                    }
                }
            }
        }
        if step % 500 == 0 {
            assert_eq!(fast.counters(), general.counters(), "step {step}");
        }
    }
    assert_eq!(fast.counters(), general.counters());
    let flows = |w: &Worker| {
        w.conntrack()
            .iter()
            .map(|(id, f)| (id, *f))
            .collect::<Vec<_>>()
    };
    assert_eq!(flows(&fast), flows(&general));
    let backends = |w: &Worker| {
        let mut b: Vec<_> = w.backend_counts().collect();
        b.sort_by_key(|(a, p, _)| (*a, *p));
        (b, w.backend_overflow())
    };
    assert_eq!(backends(&fast), backends(&general));
    // Everything was exercised: established and new common flows in both directions, evictions.
    let c = fast.counters();
    assert!(common_forwards > 10_000, "{common_forwards}");
    assert!(c.flows.evicted > 100 && c.flows.expired > 100, "{c:?}");
    assert!(c.invalid.packets > 100 && c.pass.packets > 100, "{c:?}");
    assert!(c.flows_flushed > 10, "{c:?}");
}

/// SEMANTICS.md §6: "An affinity to an endpoint that is no longer usable is deleted at once."
/// A pin to an endpoint that leaves is gone at the snapshot switch, so when the endpoint comes
/// back within the timeout, the client's next connection is balanced afresh, not sent back to
/// it (found by a review: pins used to be deleted only when next used).
#[test]
fn an_affinity_pin_to_an_endpoint_that_left_is_deleted_at_once() {
    // default/my-api: ClientIP affinity, backends 10.244.1.5 and 10.244.2.3.
    let id = ObjectRef::new("default", "my-api");
    let mut cat = catalog(0, false);
    let full = cat.endpoints(&id).unwrap().to_vec();
    let snap = cat.compile();
    let mut w = worker(8);
    let (client, vip) = ("10.244.3.77", "10.96.45.100");
    let first = forward(&mut w, &snap, &tcp(client, 30000, vip, 80, SYN), &at(1)).dst;
    // The first choice leaves: the client is pinned to the other backend.
    remove_endpoint(&mut cat, "default", "my-api", first);
    let snap2 = cat.compile();
    w.on_snapshot(&snap2);
    let second = forward(&mut w, &snap2, &tcp(client, 30001, vip, 80, SYN), &at(2)).dst;
    assert_ne!(second, first);
    // Both back: the pin to a usable backend holds.
    cat.replace_endpoints(&id, full.clone()).unwrap();
    let snap3 = cat.compile();
    w.on_snapshot(&snap3);
    assert_eq!(
        forward(&mut w, &snap3, &tcp(client, 30002, vip, 80, SYN), &at(3)).dst,
        second
    );
    let removed_before = w.counters().affinity.removed;
    // The pinned backend stops being usable, with no packet from the client meanwhile: the
    // pin goes at the switch ...
    remove_endpoint(&mut cat, "default", "my-api", second);
    let snap4 = cat.compile();
    w.on_snapshot(&snap4);
    assert_eq!(w.counters().affinity.removed, removed_before + 1);
    // ... so when it comes back within the timeout, the choice is fresh (Maglev over the
    // client address: the first backend again).
    cat.replace_endpoints(&id, full).unwrap();
    let snap5 = cat.compile();
    w.on_snapshot(&snap5);
    let s = tcp(client, 30003, vip, 80, SYN);
    assert_eq!(
        w.explain(&snap5, &s.packet(), &at(4)).rule,
        Rule::AffinityFirstChoice
    );
    assert_eq!(forward(&mut w, &snap5, &s, &at(4)).dst, first);
    // A Service that loses its affinity (or goes away) takes its pins along.
    edit_service(&mut cat, &id, |svc| {
        svc.session_affinity = svcplane::model::SessionAffinity::None;
    });
    let snap6 = cat.compile();
    let before = w.counters().affinity.removed;
    w.on_snapshot(&snap6);
    assert_eq!(w.counters().affinity.removed, before + 1);
    assert_eq!(w.affinity().live(4), 0);
}

/// An SCTP packet per `s` (addresses, ports) with one chunk of type `chunk` (4 value bytes),
/// its CRC32c filled by the oracle.
fn sctp_chunk(s: &Spec, chunk: u8) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend(s.sport.to_be_bytes());
    l4.extend(s.dport.to_be_bytes());
    l4.extend(0x0102_0304u32.to_be_bytes());
    l4.extend([0, 0, 0, 0]);
    l4.extend([chunk, 0, 0, 8, 0xaa, 0xbb, 0xcc, 0xdd]);
    let c = common::crc32c(&l4);
    l4[8..12].copy_from_slice(&c.to_le_bytes());
    s.packet_with(&l4, None)
}

/// An SCTP Service (Diameter, two endpoints) to add to the seed cluster.
const DIAMETER_JSON: &[u8] = br#"{"apiVersion": "v1", "kind": "List", "items": [
      {"apiVersion": "v1", "kind": "Service",
       "metadata": {"name": "diameter", "namespace": "production"},
       "spec": {"type": "ClusterIP", "clusterIP": "10.96.50.50", "clusterIPs": ["10.96.50.50"],
                "ports": [{"name": "diameter", "protocol": "SCTP", "port": 3868,
                           "targetPort": 3868}]}},
      {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
       "metadata": {"name": "diameter-abcde", "namespace": "production",
                    "labels": {"kubernetes.io/service-name": "diameter"}},
       "addressType": "IPv4",
       "ports": [{"name": "diameter", "protocol": "SCTP", "port": 3868}],
       "endpoints": [{"addresses": ["10.244.1.20"], "conditions": {"ready": true}},
                     {"addresses": ["10.244.2.20"], "conditions": {"ready": true}}]}]}"#;

#[test]
fn an_sctp_association_closed_by_abort_is_balanced_afresh_by_the_next_init() {
    let snap = seed_plus(DIAMETER_JSON).compile();
    let mut w = worker(1);
    let client = spec(132, "10.244.1.100", 5000, "10.96.50.50", 3868, 0);
    let send = |w: &mut Worker, s: &Spec, chunk: u8, t: u64| {
        let mut pkt = sctp_chunk(s, chunk);
        assert_eq!(
            w.process(&snap, &mut pkt, &at(t)),
            Verdict::Forward,
            "{chunk}"
        );
        verify_checksums(&pkt).unwrap();
        tuple(&pkt)
    };
    const INIT: u8 = 1;
    const INIT_ACK: u8 = 2;
    const ABORT: u8 = 6;
    let t = send(&mut w, &client, INIT, 1);
    assert_eq!(t.dst_port, 3868);
    assert!([ip("10.244.1.20"), ip("10.244.2.20")].contains(&t.dst));
    let backend = spec(132, &t.dst.to_string(), 3868, "10.244.1.100", 5000, 0);
    let back = send(&mut w, &backend, INIT_ACK, 1);
    assert_eq!((back.src, back.src_port), (ip("10.96.50.50"), 3868));
    // A retransmitted INIT of the open association: the same flow.
    send(&mut w, &client, INIT, 2);
    assert_eq!(w.counters().flows.created, 1);
    // The client aborts; its next INIT on the same ports is a new association.
    send(&mut w, &client, ABORT, 3);
    assert_eq!(w.counters().flows.created, 1);
    let again = send(&mut w, &client, INIT, 4);
    assert_eq!(
        w.counters().flows.created,
        2,
        "a new association, balanced afresh"
    );
    assert_eq!(w.counters().flows.removed, 1);
    assert_eq!(again.dst_port, 3868);
    // Closed associations free their entry after 10 s.
    send(&mut w, &backend, ABORT, 5);
    assert_eq!(w.expire(16 * 1_000_000_000, usize::MAX), 1);
    assert!(w.conntrack().is_empty());
}

/// SEMANTICS §4: a Service with no usable endpoint anywhere REJECTs new connections on every
/// frontend (cluster IP, NodePort, LB IP, externalIP), whatever its traffic policies: the reject
/// comes before the Local policies' drop of an empty local pool.
#[test]
fn no_usable_endpoint_rejects_on_every_frontend_even_with_local_policies() {
    use svcplane::model::TrafficPolicy;
    let reject = Verdict::Reject(RejectReason::NoEndpoints);
    let lb = ObjectRef::new("production", "order-api-lb");
    for node in [0, 2] {
        // order-api-lb: externalTrafficPolicy Local, NodePorts 31204/31205, LB IP 198.51.100.7
        // (source range 203.0.113.0/24). Give it an externalIP and internalTrafficPolicy Local
        // too, then take every endpoint away.
        let mut cat = catalog(node, false);
        edit_service(&mut cat, &lb, |svc| {
            svc.external_ips = vec![ip("192.0.2.77")];
            svc.internal_traffic_policy = TrafficPolicy::Local;
        });
        let with_endpoints = cat.compile();
        cat.replace_endpoints(&lb, vec![]).unwrap();
        let snap = cat.compile();
        let node_ip = format!("192.168.0.{}", 10 + node);
        let cases = [
            tcp("10.244.1.100", 1000, "10.96.122.45", 80, SYN),
            tcp("198.18.0.9", 1001, &node_ip, 31204, SYN),
            tcp("10.244.1.100", 1002, &node_ip, 31205, SYN),
            tcp("203.0.113.5", 1003, "198.51.100.7", 443, SYN),
            tcp("198.18.0.9", 1004, "192.0.2.77", 80, SYN),
        ];
        for (i, s) in cases.iter().enumerate() {
            let mut w = worker(30 + i as u64);
            assert_eq!(
                run(&mut w, &snap, s, &at(1)).0,
                reject,
                "node {node} case {i}"
            );
            // With its endpoints, the same packet is not rejected: node 0 forwards every
            // case, node 2 (no local endpoint) drops the external ones by policy.
            let before = run(&mut w, &with_endpoints, s, &at(2)).0;
            assert_ne!(before, reject, "node {node} case {i}");
        }
    }
}

/// SEMANTICS §5: with externalTrafficPolicy Cluster, traffic to an external destination
/// (NodePort, LB IP, externalIP) is masqueraded whatever its source, pods included; the
/// cluster IP of the same Service is not masqueraded for a pod.
#[test]
fn external_destinations_with_policy_cluster_are_always_masqueraded() {
    use svcplane::model::TrafficPolicy;
    let mut cat = catalog(0, false);
    let lb = ObjectRef::new("production", "order-api-lb");
    edit_service(&mut cat, &lb, |svc| {
        svc.external_traffic_policy = TrafficPolicy::Cluster;
        svc.health_check_node_port = None;
        svc.external_ips = vec![ip("192.0.2.77")];
        // The pod CIDR in the source ranges, so that a pod may reach the LB IP at all.
        svc.load_balancer_source_ranges.push(seed::node_pod_cidr(0));
    });
    let snap = cat.compile();
    let node = ip("192.168.0.10");
    let pod = "10.244.1.100";
    let mut w = worker(40);
    for (i, (dst, port)) in [
        ("192.168.0.10", 31204),
        ("198.51.100.7", 80),
        ("192.0.2.77", 443),
    ]
    .into_iter()
    .enumerate()
    {
        let s = tcp(pod, 2000 + i as u16, dst, port, SYN);
        assert_eq!(forward(&mut w, &snap, &s, &at(1)).src, node, "pod to {dst}");
        let s = tcp("203.0.113.5", 2100 + i as u16, dst, port, SYN);
        assert_eq!(
            forward(&mut w, &snap, &s, &at(1)).src,
            node,
            "client to {dst}"
        );
    }
    let s = tcp(pod, 2200, "10.96.122.45", 80, SYN);
    assert_eq!(forward(&mut w, &snap, &s, &at(1)).src, ip(pod));
}

/// SEMANTICS §5: internalTrafficPolicy never changes masquerading. pricing-engine with
/// internalTrafficPolicy Local on node 0 (local endpoint 10.244.1.8): pod → ClusterIP keeps its
/// address, node → ClusterIP and off-cluster → ClusterIP are masqueraded, exactly as with
/// policy Cluster; only the pool changes (always the local endpoint).
#[test]
fn internal_traffic_policy_local_does_not_change_masquerading() {
    use svcplane::model::TrafficPolicy;
    let id = ObjectRef::new("production", "pricing-engine-svc");
    let node = ip("192.168.0.10");
    for policy in [TrafficPolicy::Cluster, TrafficPolicy::Local] {
        let mut cat = catalog(0, false);
        edit_service(&mut cat, &id, |svc| {
            svc.internal_traffic_policy = policy;
        });
        let snap = cat.compile();
        let mut w = worker(50);
        for port in 3000..3040 {
            let from_pod = tcp("10.244.1.100", port, "10.96.47.182", 80, SYN);
            let t = forward(&mut w, &snap, &from_pod, &at(1));
            assert_eq!(t.src, from_pod.src, "{policy:?}");
            if policy == TrafficPolicy::Local {
                assert_eq!(t.dst, ip("10.244.1.8"));
            }
            let from_node = tcp("192.168.0.10", port, "10.96.47.182", 80, SYN);
            assert_eq!(
                forward(&mut w, &snap, &from_node, &at(1)).src,
                node,
                "{policy:?}"
            );
            let outside = tcp("198.18.0.9", port, "10.96.47.182", 80, SYN);
            assert_eq!(
                forward(&mut w, &snap, &outside, &at(1)).src,
                node,
                "{policy:?}"
            );
        }
    }
}

/// Adds an endpoint at `addr` to Service `ns/name`: a copy of its first endpoint, moved.
fn add_endpoint(c: &mut Catalog, ns: &str, name: &str, addr: IpAddr) {
    let id = ObjectRef::new(ns, name);
    let mut slices = c.endpoints(&id).unwrap().to_vec();
    let mut e = slices[0].endpoints[0].clone();
    e.address = addr;
    e.hostname = None;
    slices[0].endpoints.push(e);
    c.replace_endpoints(&id, slices).unwrap();
}

/// Sets the conditions of the endpoint at `addr` of Service `ns/name` (every endpoint when
/// `addr` is `None`).
fn set_conditions(
    c: &mut Catalog,
    ns: &str,
    name: &str,
    addr: Option<IpAddr>,
    conditions: svcplane::model::Conditions,
) {
    let id = ObjectRef::new(ns, name);
    let mut slices = c.endpoints(&id).unwrap().to_vec();
    for e in slices.iter_mut().flat_map(|s| s.endpoints.iter_mut()) {
        if addr.map_or(true, |a| a == e.address) {
            e.conditions = conditions;
        }
    }
    c.replace_endpoints(&id, slices).unwrap();
}

/// README "Workers and RSS": affinity pins, like flows, belong to a worker. Every worker makes
/// the same first choice, so they agree while the backend set stays; after a change, a worker
/// holding a pin keeps it while one without makes the new first choice.
#[test]
fn affinity_pins_are_per_worker_and_agree_until_the_backend_set_changes() {
    // default/my-api: ClientIP affinity, backends 10.244.1.5 and 10.244.2.3.
    let mut cat = catalog(0, false);
    let snap = cat.compile();
    add_endpoint(&mut cat, "default", "my-api", ip("10.244.3.9"));
    let snap2 = cat.compile();
    let new_choice = |c: &str, snap: &Snapshot| {
        let s = tcp(c, 40000, "10.96.45.100", 80, SYN);
        forward(&mut worker(60), snap, &s, &at(1)).dst
    };
    // A client whose first choice moves to the new endpoint.
    let client = (1..=250u8)
        .map(|i| format!("10.244.3.{i}"))
        .find(|c| new_choice(c, &snap2) == ip("10.244.3.9"))
        .unwrap();
    let (mut a, mut b) = (worker(61), worker(62));
    let first = forward(
        &mut a,
        &snap,
        &tcp(&client, 1, "10.96.45.100", 80, SYN),
        &at(1),
    )
    .dst;
    assert_ne!(first, ip("10.244.3.9"));
    assert_eq!(
        forward(
            &mut b,
            &snap,
            &tcp(&client, 2, "10.96.45.100", 80, SYN),
            &at(1)
        )
        .dst,
        first,
        "same first choice on both workers"
    );
    assert_eq!((a.on_snapshot(&snap2), b.on_snapshot(&snap2)), (0, 0));
    // b forgets the client (its pin expires), a does not.
    let s = tcp(&client, 3, "10.96.45.100", 80, SYN);
    assert_eq!(forward(&mut a, &snap2, &s, &at(10_000)).dst, first);
    assert_eq!(
        forward(&mut b, &snap2, &s, &at(20_000)).dst,
        ip("10.244.3.9")
    );
    let s = tcp(&client, 4, "10.96.45.100", 80, SYN);
    assert_eq!(
        a.explain(&snap2, &s.packet(), &at(10_001)).rule,
        Rule::AffinityPin
    );
}

/// SEMANTICS §6: affinity belongs to (Service port, client IP) whichever frontend was used;
/// new connections refresh it, and it expires after the Service's timeoutSeconds idle.
#[test]
fn an_affinity_pin_serves_every_frontend_and_lives_timeout_seconds_after_its_last_use() {
    use svcplane::model::{SessionAffinity, TrafficPolicy};
    // order-api-svc (ClusterIP 10.96.88.201, NodePort 30080) with ClientIP affinity, 10 s.
    let mut cat = catalog(0, false);
    let id = ObjectRef::new("production", "order-api-svc");
    edit_service(&mut cat, &id, |svc| {
        svc.external_traffic_policy = TrafficPolicy::Cluster;
        svc.session_affinity = SessionAffinity::ClientIp {
            timeout_seconds: 10,
        };
    });
    let snap = cat.compile();
    let mut w = worker(63);
    let client = "198.18.0.9";
    let cip = |port| tcp(client, port, "10.96.88.201", 80, SYN);
    let np = |port| tcp(client, port, "192.168.0.10", 30080, SYN);
    let rule = |w: &Worker, s: &Spec, t| w.explain(&snap, &s.packet(), &at(t)).rule;
    assert_eq!(rule(&w, &cip(1), 1), Rule::AffinityFirstChoice);
    let pinned = forward(&mut w, &snap, &cip(1), &at(1)).dst;
    // The NodePort connection uses the pin the ClusterIP connection made.
    assert_eq!(rule(&w, &np(2), 2), Rule::AffinityPin);
    assert_eq!(forward(&mut w, &snap, &np(2), &at(2)).dst, pinned);
    // Refreshed at 9 s, so still pinned at 18 s (16 s after 2 s, 17 s after the first use)...
    assert_eq!(forward(&mut w, &snap, &np(3), &at(9)).dst, pinned);
    assert_eq!(rule(&w, &cip(4), 18), Rule::AffinityPin);
    // ... and gone 21 s after its last use, well past 10 s (and well before the default's
    // 10,800 s).
    assert_eq!(rule(&w, &cip(4), 30), Rule::AffinityFirstChoice);
}

/// SEMANTICS §6: the pin is evaluated inside the pool the packet uses. Under
/// externalTrafficPolicy Local, a pin to a remote endpoint made through the cluster IP does
/// not take an external client's NodePort connection there: the local endpoint serves it, and
/// (README) that choice becomes the pin.
#[test]
fn an_affinity_pin_outside_the_packets_pool_is_not_used() {
    use svcplane::model::SessionAffinity;
    // order-api-svc on node 0: local pool 10.244.1.20; cluster pool adds 10.244.2.21.
    let mut cat = catalog(0, false);
    let id = ObjectRef::new("production", "order-api-svc");
    edit_service(&mut cat, &id, |svc| {
        svc.session_affinity = SessionAffinity::ClientIp {
            timeout_seconds: 60,
        };
    });
    let snap = cat.compile();
    let remote = ip("10.244.2.21");
    let client = (1..=250u8)
        .map(|i| format!("198.18.1.{i}"))
        .find(|c| {
            let s = tcp(c, 1, "10.96.88.201", 80, SYN);
            forward(&mut worker(64), &snap, &s, &at(1)).dst == remote
        })
        .unwrap();
    let mut w = worker(65);
    let s = tcp(&client, 1, "10.96.88.201", 80, SYN);
    assert_eq!(forward(&mut w, &snap, &s, &at(1)).dst, remote);
    let s = tcp(&client, 2, "192.168.0.10", 30080, SYN);
    let e = w.explain(&snap, &s.packet(), &at(2));
    assert_eq!(
        (e.rule, e.backend),
        (Rule::AffinityFirstChoice, Some((ip("10.244.1.20"), 3000)))
    );
    assert_eq!(forward(&mut w, &snap, &s, &at(2)).dst, ip("10.244.1.20"));
    let s = tcp(&client, 3, "10.96.88.201", 80, SYN);
    assert_eq!(
        w.explain(&snap, &s.packet(), &at(3)).rule,
        Rule::AffinityPin
    );
    assert_eq!(forward(&mut w, &snap, &s, &at(3)).dst, ip("10.244.1.20"));
}

/// SEMANTICS §7 (kube-proxy's `cleanup_test.go`): on a snapshot switch, a UDP flow is dropped
/// when its backend is no longer a serving endpoint, as long as the port has one; a serving,
/// terminating backend keeps its flows; with no serving endpoint at all nothing is flushed, and
/// no flow is created while the Service rejects (no "black hole" flow).
#[test]
fn udp_flows_follow_serving_endpoints() {
    use svcplane::model::Conditions;
    let mut cat = catalog(0, false);
    let mut w = worker(66);
    let q = udp("10.244.1.100", 5353, "10.96.0.10", 53);
    let x = forward(&mut w, &cat.compile(), &q, &at(1)).dst;

    // Serving and terminating: kept.
    let terminating = Conditions::from_api(Some(false), Some(true), Some(true));
    set_conditions(&mut cat, "kube-system", "kube-dns", Some(x), terminating);
    let snap = cat.compile();
    assert_eq!(w.on_snapshot(&snap), 0);
    assert_eq!(forward(&mut w, &snap, &q, &at(2)).dst, x);

    // Listed but no longer serving: flushed, and the next packet is balanced again.
    let gone = Conditions::from_api(Some(false), Some(false), Some(true));
    set_conditions(&mut cat, "kube-system", "kube-dns", Some(x), gone);
    let snap = cat.compile();
    assert_eq!(w.on_snapshot(&snap), 1);
    let y = forward(&mut w, &snap, &q, &at(3)).dst;
    assert_ne!(y, x);

    // No serving endpoint at all: flows are left alone; new ones are rejected, not tracked.
    set_conditions(&mut cat, "kube-system", "kube-dns", None, gone);
    let snap = cat.compile();
    assert_eq!(w.on_snapshot(&snap), 0);
    assert_eq!(forward(&mut w, &snap, &q, &at(4)).dst, y);
    let created = w.counters().flows.created;
    let other = udp("10.244.1.100", 5354, "10.96.0.10", 53);
    assert_eq!(
        run(&mut w, &snap, &other, &at(4)).0,
        Verdict::Reject(RejectReason::NoEndpoints)
    );
    assert_eq!(w.counters().flows.created, created);

    // Ready again: the rejected client gets a backend at once.
    set_conditions(
        &mut cat,
        "kube-system",
        "kube-dns",
        None,
        Conditions::from_api(None, None, None),
    );
    let snap = cat.compile();
    assert_eq!(w.on_snapshot(&snap), 0);
    forward(&mut w, &snap, &other, &at(5));
    assert_eq!(w.counters().flows.created, created + 1);
}

/// The seed cluster plus `doc` (a JSON List), compiled for node 0.
fn seed_plus(doc: &[u8]) -> Catalog {
    let mut c = catalog(0, false);
    Loader::new().apply_json(&mut c, doc).unwrap();
    c
}

/// SEMANTICS §7: kube-proxy does not clean SCTP flows; svcplane does so only when asked
/// (`WorkerConfig::clean_sctp`).
#[test]
fn sctp_flows_are_cleaned_only_when_asked() {
    for clean_sctp in [false, true] {
        let mut cat = seed_plus(DIAMETER_JSON);
        let snap = cat.compile();
        let mut w = Worker::new(WorkerConfig {
            clean_sctp,
            ..WorkerConfig::default()
        })
        .unwrap();
        let client = spec(132, "10.244.1.100", 5000, "10.96.50.50", 3868, 0);
        let mut pkt = sctp_chunk(&client, 1);
        assert_eq!(w.process(&snap, &mut pkt, &at(1)), Verdict::Forward);
        let backend = tuple(&pkt).dst;
        remove_endpoint(&mut cat, "production", "diameter", backend);
        let snap2 = cat.compile();
        assert_eq!(
            w.on_snapshot(&snap2),
            usize::from(clean_sctp),
            "{clean_sctp}"
        );
        let mut pkt = sctp_chunk(&client, 1);
        assert_eq!(w.process(&snap2, &mut pkt, &at(2)), Verdict::Forward);
        assert_eq!(tuple(&pkt).dst == backend, !clean_sctp, "{clean_sctp}");
    }
}

/// kube-proxy's TestClusterIPGeneral, "multi-protocol port 53": UDP, TCP and SCTP on one port
/// number with different target ports each reach their own backend port.
#[test]
fn one_port_number_over_three_protocols_keeps_each_target_port() {
    let doc = br#"{"apiVersion": "v1", "kind": "List", "items": [
      {"apiVersion": "v1", "kind": "Service",
       "metadata": {"name": "dns-mixed", "namespace": "default"},
       "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.53", "clusterIPs": ["10.96.0.53"],
                "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53},
                          {"name": "dns-tcp", "protocol": "TCP", "port": 53, "targetPort": 5353},
                          {"name": "dns-sctp", "protocol": "SCTP", "port": 53,
                           "targetPort": 5454}]}},
      {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
       "metadata": {"name": "dns-mixed-1", "namespace": "default",
                    "labels": {"kubernetes.io/service-name": "dns-mixed"}},
       "addressType": "IPv4",
       "ports": [{"name": "dns", "protocol": "UDP", "port": 53},
                 {"name": "dns-tcp", "protocol": "TCP", "port": 5353},
                 {"name": "dns-sctp", "protocol": "SCTP", "port": 5454}],
       "endpoints": [{"addresses": ["10.244.2.30"], "conditions": {"ready": true}}]}]}"#;
    let snap = seed_plus(doc).compile();
    let mut w = worker(67);
    let pod = "10.244.1.100";
    let t = forward(&mut w, &snap, &udp(pod, 1000, "10.96.0.53", 53), &at(1));
    assert_eq!((t.dst, t.dst_port), (ip("10.244.2.30"), 53));
    let t = forward(
        &mut w,
        &snap,
        &tcp(pod, 1001, "10.96.0.53", 53, SYN),
        &at(1),
    );
    assert_eq!((t.dst, t.dst_port), (ip("10.244.2.30"), 5353));
    let mut pkt = sctp_chunk(&spec(132, pod, 1002, "10.96.0.53", 53, 0), 1);
    assert_eq!(w.process(&snap, &mut pkt, &at(1)), Verdict::Forward);
    verify_checksums(&pkt).unwrap();
    let t = tuple(&pkt);
    assert_eq!((t.dst, t.dst_port), (ip("10.244.2.30"), 5454));
}

/// kube-proxy's TestLoadBalancer (a pod outside the source ranges is dropped at the LB IP),
/// TestInternalTrafficPolicy (Local with no local endpoint drops ClusterIP traffic) and
/// TestExternalTrafficPolicyLocal for an externalIP (outside clients get the local endpoint
/// only, pods the whole cluster pool).
#[test]
fn source_ranges_internal_local_and_external_ip_local_verdicts() {
    use svcplane::model::TrafficPolicy;
    let snap = seed_snap(0);
    let mut w = worker(68);
    let s = tcp("10.244.1.100", 1000, "198.51.100.7", 80, SYN);
    assert_eq!(
        run(&mut w, &snap, &s, &at(1)).0,
        Verdict::Drop(DropReason::SourceRange)
    );

    // my-api has endpoints on nodes 0 and 1 only; node 2 with internalTrafficPolicy Local.
    let mut cat = catalog(2, false);
    let id = ObjectRef::new("default", "my-api");
    edit_service(&mut cat, &id, |svc| {
        svc.internal_traffic_policy = TrafficPolicy::Local;
    });
    let snap = cat.compile();
    let s = tcp("10.244.3.100", 1001, "10.96.45.100", 80, SYN);
    assert_eq!(
        run(&mut w, &snap, &s, &at(1)).0,
        Verdict::Drop(DropReason::TrafficPolicy)
    );

    // order-api-svc (externalTrafficPolicy Local) with an externalIP, on node 0.
    let mut cat = catalog(0, false);
    let id = ObjectRef::new("production", "order-api-svc");
    edit_service(&mut cat, &id, |svc| {
        svc.external_ips = vec![ip("192.0.2.80")];
    });
    let snap = cat.compile();
    let mut from_pods = std::collections::BTreeSet::new();
    for port in 2000..2060 {
        let outside = tcp("198.18.0.9", port, "192.0.2.80", 80, SYN);
        let t = forward(&mut w, &snap, &outside, &at(1));
        assert_eq!((t.src, t.dst), (outside.src, ip("10.244.1.20")));
        let pod = tcp("10.244.1.100", port, "192.0.2.80", 80, SYN);
        from_pods.insert(forward(&mut w, &snap, &pod, &at(1)).dst);
    }
    assert_eq!(
        from_pods.into_iter().collect::<Vec<_>>(),
        [ip("10.244.1.20"), ip("10.244.2.21")]
    );
}

/// SEMANTICS §7 on external frontends (kube-proxy's cleanup covers NodePorts, LB IPs and
/// externalIPs too), and svcplane's stricter cases (README): UDP flows are also flushed when
/// their backend's port changes, and when their Service port goes away.
#[test]
fn udp_cleanup_on_node_ports_and_external_ips_and_port_changes() {
    use svcplane::model::{Conditions, ServiceType};
    // kube-dns as a NodePort Service (UDP 53 on 30053) with an externalIP.
    let mut cat = catalog(0, false);
    let id = ObjectRef::new("kube-system", "kube-dns");
    edit_service(&mut cat, &id, |svc| {
        svc.service_type = ServiceType::NodePort;
        svc.ports[0].node_port = Some(30053);
        svc.ports[1].node_port = Some(30054);
        svc.external_ips = vec![ip("192.0.2.53")];
    });
    let snap = cat.compile();
    let mut w = worker(69);
    let via_node_port = udp("198.18.0.9", 4000, "192.168.0.10", 30053);
    let via_external_ip = udp("198.18.0.9", 4001, "192.0.2.53", 53);
    let a = forward(&mut w, &snap, &via_node_port, &at(1));
    let b = forward(&mut w, &snap, &via_external_ip, &at(1));
    assert_eq!((a.dst_port, b.dst_port), (53, 53));

    // The NodePort flow's backend stops serving: that flow goes (and the other one too if it
    // had the same backend).
    let gone = Conditions::from_api(Some(false), Some(false), Some(true));
    set_conditions(&mut cat, "kube-system", "kube-dns", Some(a.dst), gone);
    let snap = cat.compile();
    assert_eq!(w.on_snapshot(&snap), 1 + usize::from(b.dst == a.dst));
    assert_ne!(forward(&mut w, &snap, &via_node_port, &at(2)).dst, a.dst);
    let b = forward(&mut w, &snap, &via_external_ip, &at(2));
    assert_ne!(b.dst, a.dst);

    // The endpoints' UDP port changes (53 -> 5353): both flows go, and the next packets reach
    // the new port.
    let mut slices = cat.endpoints(&id).unwrap().to_vec();
    for s in &mut slices {
        for p in s.ports.iter_mut().filter(|p| p.name == "dns") {
            p.port = Some(5353);
        }
    }
    cat.replace_endpoints(&id, slices).unwrap();
    let snap = cat.compile();
    assert_eq!(w.on_snapshot(&snap), 2);
    assert_eq!(
        forward(&mut w, &snap, &via_node_port, &at(3)).dst_port,
        5353
    );
    assert_eq!(
        forward(&mut w, &snap, &via_external_ip, &at(3)).dst_port,
        5353
    );

    // The UDP port is removed from the Service: both flows go. Neither address is a Service
    // frontend for UDP any more, so their packets pass (only a cluster IP rejects undefined
    // ports, SEMANTICS §4), and no flow is made.
    edit_service(&mut cat, &id, |svc| {
        svc.ports.remove(0);
    });
    let snap = cat.compile();
    assert_eq!(w.on_snapshot(&snap), 2);
    let created = w.counters().flows.created;
    assert_eq!(
        run(&mut w, &snap, &via_external_ip, &at(4)).0,
        Verdict::Pass
    );
    assert_eq!(run(&mut w, &snap, &via_node_port, &at(4)).0, Verdict::Pass);
    assert_eq!(w.counters().flows.created, created);
}

/// DESIGN.md invariant 3, "on any node": the seed cluster compiled on each of its three nodes
/// picks the same backend for the same packet to a Cluster-policy Service without zone hints
/// (pricing-engine, three endpoints on three nodes; my-api, ClientIP affinity), whichever node's
/// pod, or an outside client, sends it.
#[test]
fn every_node_picks_the_same_backend_for_the_same_packet() {
    let snaps: Vec<Arc<Snapshot>> = (0..3).map(seed_snap).collect();
    let mut chosen = std::collections::BTreeSet::new();
    for (port, dst) in (1000..1100).flat_map(|p| [(p, "10.96.47.182"), (p, "10.96.45.100")]) {
        for src in ["10.244.1.100", "10.244.3.100", "198.18.0.9"] {
            let s = tcp(src, port, dst, 80, SYN);
            let picks: Vec<(IpAddr, u16)> = snaps
                .iter()
                .map(|snap| {
                    let t = forward(&mut worker(70), snap, &s, &at(1));
                    (t.dst, t.dst_port)
                })
                .collect();
            assert!(
                picks.iter().all(|p| *p == picks[0]),
                "{src}:{port}: {picks:?}"
            );
            chosen.insert(picks[0]);
        }
    }
    // Every backend of both Services was chosen: the agreement is not a constant answer.
    assert_eq!(chosen.len(), 5);
}

/// A TCP RST, FIN or SYN-ACK to a Service that matches no flow opens none: dropped, never
/// tracked, as Linux's conntrack finds it invalid (a flood of them would otherwise fill the flow
/// table and reach backends). A bare ACK is picked up mid-stream (Linux's default
/// `nf_conntrack_tcp_loose`); a stray RST elsewhere is not Service traffic. Fast path, general
/// path and explain agree.
#[test]
fn stray_rst_fin_and_syn_ack_open_no_flow() {
    const FIN: u8 = 0x01;
    const RST: u8 = 0x04;
    let snap = seed_snap(0);
    for fast_path in [true, false] {
        let mut w = Worker::new(WorkerConfig {
            fast_path,
            flows: 64,
            ..WorkerConfig::default()
        })
        .unwrap();
        for (i, flags) in [RST, RST | ACK, FIN, FIN | ACK, SYN_ACK, SYN | FIN]
            .into_iter()
            .enumerate()
        {
            let s = tcp("10.244.1.100", 40_000 + i as u16, "10.96.47.182", 80, flags);
            let want = Verdict::Drop(DropReason::NotNew);
            let e = w.explain(&snap, &s.packet(), &at(1));
            assert_eq!((e.verdict, e.rule), (want, Rule::NotNew), "{flags:#x}");
            let (v, pkt) = run(&mut w, &snap, &s, &at(1));
            assert_eq!(v, want, "{flags:#x} fast path {fast_path}");
            assert_eq!(pkt, s.packet(), "untouched");
        }
        assert_eq!(w.conntrack().len(), 0);
        assert_eq!(w.counters().drop[DropReason::NotNew.index()].packets, 6);
        // A bare ACK opens a flow; a stray RST to a pod is passed.
        let ack = tcp("10.244.1.100", 41_000, "10.96.47.182", 80, ACK);
        assert_eq!(run(&mut w, &snap, &ack, &at(1)).0, Verdict::Forward);
        let rst = tcp("10.244.1.100", 41_001, "10.244.2.9", 80, RST);
        assert_eq!(run(&mut w, &snap, &rst, &at(1)).0, Verdict::Pass);
        assert_eq!(w.conntrack().len(), 1);
    }
}

/// The default flow-table seed is random (DESIGN.md invariant 6): a worker built from
/// `WorkerConfig::default()` does not share a known seed with every other one.
#[test]
fn the_default_conntrack_seed_is_random() {
    let seeds: Vec<u64> = (0..4)
        .map(|_| WorkerConfig::default().conntrack_seed)
        .collect();
    assert!(seeds.iter().all(|&s| s != 0), "{seeds:x?}");
    for (i, a) in seeds.iter().enumerate() {
        assert!(!seeds[i + 1..].contains(a), "{seeds:x?}");
    }
}

/// The node's address changes ten times under one long-lived worker (more than the
/// `MAX_SNAT_ADDRS` slots): each switch removes the flows masqueraded to the old address (their
/// replies would go to an address the node no longer has, and Linux's MASQUERADE removes
/// them too), frees its slot, and new flows are masqueraded to the new address. Flows that
/// are not masqueraded stay.
#[test]
fn masquerade_address_changes_free_their_slots() {
    let mut w = worker(46);
    // A pod's connection to a cluster IP: not masqueraded, kept throughout.
    let base = seed_snap(0);
    let pod = tcp("10.244.1.100", 42_000, "10.96.0.80", 80, SYN);
    forward(&mut w, &base, &pod, &at(1));
    let mut previous: Option<(Spec, Tuple)> = None;
    for round in 0..10u8 {
        let mut config = seed::node(0);
        let addr = ip(&format!("192.168.100.{}", round + 1));
        config.node_ips.insert(0, addr);
        let snap = catalog_with(config, false).compile();
        let flushed = w.on_snapshot(&snap);
        let client = tcp(&format!("198.18.9.{round}"), 7000, "10.96.0.80", 80, SYN);
        let t = forward(&mut w, &snap, &client, &at(2));
        assert_eq!(t.src, addr, "round {round}");
        if let Some((old, old_t)) = previous.take() {
            assert_eq!(flushed, 1, "round {round}");
            // The old flow's reply finds nothing; its client's next packet is a new flow.
            let reply = moved(&old, old_t.dst, old_t.dst_port, old_t.src, old_t.src_port);
            let e = w.explain(&snap, &reply.packet(), &at(2));
            assert_ne!(
                e.rule,
                Rule::ConntrackHit(svcplane::conntrack::Direction::Reply),
                "round {round}"
            );
        }
        previous = Some((client, t));
        let e = w.explain(&snap, &pod.packet(), &at(2));
        assert_eq!(
            e.rule,
            Rule::ConntrackHit(svcplane::conntrack::Direction::Original),
            "round {round}"
        );
    }
}

/// `steer` puts both directions of every connection, and the ICMP errors about it, on the
/// worker that holds its flow, with four workers splitting the SNAT ports: pods to cluster
/// IPs (not masqueraded), outside clients to cluster IPs and NodePorts (masqueraded), the node
/// itself, and a hairpin (a pod reaching itself through its Service).
#[test]
fn steering_keeps_both_directions_and_icmp_errors_on_one_worker() {
    use svcplane::dataplane::steer;
    let snap = seed_snap(0);
    let workers = 4u16;
    let mut ws = split_workers(workers, 50);
    let mut requests = Vec::new();
    for i in 0..40u16 {
        let port = 20_000 + i * 13;
        requests.push(tcp(
            &format!("10.244.1.{}", 100 + i),
            port,
            "10.96.0.80",
            80,
            SYN,
        ));
        requests.push(tcp(&format!("198.18.7.{i}"), port, "10.96.0.80", 80, SYN));
        requests.push(tcp(
            &format!("198.18.8.{i}"),
            port,
            "192.168.0.10",
            30080,
            SYN,
        ));
        requests.push(tcp("192.168.0.10", port, "10.96.0.80", 80, SYN));
        requests.push(udp(&format!("198.18.9.{i}"), port, "10.96.0.10", 53));
    }
    requests.push(tcp("10.244.1.30", 40_000, "10.96.0.80", 80, SYN));
    let (mut masqueraded, mut spread) = (0, [0u32; 4]);
    for s in &requests {
        let pkt = s.packet();
        let Some(i) = steer(&snap, &pkt, workers) else {
            panic!("{s:?}: not steered");
        };
        let w = &mut ws[usize::from(i)];
        let (v, out) = run(w, &snap, s, &at(1));
        if v != Verdict::Forward {
            // (the NodePort of an ETP Local Service without a local endpoint, say)
            continue;
        }
        spread[usize::from(i)] += 1;
        let t = tuple(&out);
        // (the node's own connections are masqueraded to its own address)
        masqueraded += u32::from(t.src == ip("192.168.0.10"));
        // The backend's reply, and its ICMP port unreachable quoting what it received.
        let reply = Spec {
            tcp_flags: SYN_ACK,
            ..moved(s, t.dst, t.dst_port, t.src, t.src_port)
        };
        let error = icmp_error(&t.dst, &t.src, 3, 3, 0, &out);
        for (what, pkt) in [("reply", reply.packet()), ("error", error)] {
            assert_eq!(steer(&snap, &pkt, workers), Some(i), "{what} of {s:?}");
            let e = ws[usize::from(i)].explain(&snap, &pkt, &at(1));
            assert_eq!(
                e.rule,
                Rule::ConntrackHit(svcplane::conntrack::Direction::Reply),
                "{what} of {s:?}"
            );
        }
    }
    assert!(masqueraded >= 120, "{masqueraded}");
    assert!(spread.iter().all(|&n| n >= 20), "{spread:?}");
}

/// With several workers, the later fragments of a request to a frontend are steered like its
/// first fragment (by source), so they meet the fragment entry the first one left.
#[test]
fn later_fragments_of_a_request_reach_the_first_fragments_worker() {
    use svcplane::dataplane::steer;
    let snap = seed_snap(0);
    let workers = 4u16;
    let mut ws = split_workers(workers, 70);
    for i in 1..=40u8 {
        let mut s = udp(&format!("10.244.1.{i}"), 5353, "10.96.0.10", 53);
        s.payload = (0..40u8).collect();
        s.ident = 0x4000 + u16::from(i);
        let l4 = s.l4();
        let mut first = s.packet_with(&l4[..24], Some((0, true)));
        let mut later = s.packet_with(&l4[24..], Some((24, false)));
        let wf = steer(&snap, &first, workers).unwrap();
        let wl = steer(&snap, &later, workers).expect("not to a masquerade address");
        assert_eq!(wf, wl, "client 10.244.1.{i}");
        let w = &mut ws[usize::from(wf)];
        assert_eq!(w.process(&snap, &mut first, &at(1)), Verdict::Forward);
        assert_eq!(w.process(&snap, &mut later, &at(1)), Verdict::Forward);
    }
    // To a NodePort address that is not the masquerade address (NodePorts on every node
    // address): a request or a reply to the node's own connection, which nothing tells apart
    // without ports: reassemble first. To any other address: by destination.
    let mut config = seed::node(0);
    config.node_port_addresses = svcplane::model::NodePortAddresses::All;
    let all = catalog_with(config, false).compile();
    let mut s = udp("203.0.113.9", 5353, "54.123.45.67", 30080);
    s.payload = (0..40u8).collect();
    let later = s.packet_with(&s.l4()[24..], Some((24, false)));
    assert!(all.is_node_port_address(ip("54.123.45.67")));
    assert_eq!(steer(&all, &later, workers), None);
    assert!(
        steer(&snap, &later, workers).is_some(),
        "not a NodePort address by default"
    );
}

/// A later fragment that arrives before its first one is dropped when it goes to a cluster IP
/// or service-CIDR address; to an LB IP or externalIP (which also take traffic on ports that
/// are not frontends, whose first fragments pass) or a NodePort address it passes.
#[test]
fn early_later_fragments_are_dropped_only_to_cluster_ips_and_service_cidrs() {
    let mut c = catalog(0, false);
    let pricing = ObjectRef::new("production", "pricing-engine-svc");
    edit_service(&mut c, &pricing, |svc| {
        svc.external_ips = vec![ip("203.0.113.50")]
    });
    let snap = c.compile();
    let mut w = worker(71);
    for (dst, want) in [
        ("198.51.100.7", Verdict::Pass),
        ("203.0.113.50", Verdict::Pass),
        ("10.96.200.200", Verdict::Drop(DropReason::Fragment)),
        ("192.168.0.10", Verdict::Pass),
        ("8.8.8.8", Verdict::Pass),
    ] {
        let mut s = tcp("203.0.113.9", 40000, dst, 80, SYN);
        s.payload = (0..40u8).collect();
        let mut later = s.packet_with(&s.l4()[24..], Some((24, false)));
        let before = later.clone();
        assert_eq!(w.process(&snap, &mut later, &at(1)), want, "to {dst}");
        assert_eq!(later, before);
    }
}

/// Time is kept in whole seconds, but nothing lives less than its timeout: a ClientIP pin with
/// `timeoutSeconds: 1` made at 10.9 s still holds at 11.1 s (it used to be gone, 0.2 s after
/// its last use), and is gone once more than a second has passed in whole seconds.
#[test]
fn a_one_second_affinity_pin_lives_at_least_one_second() {
    use svcplane::model::SessionAffinity;
    let mut cat = catalog(0, false);
    let id = ObjectRef::new("default", "my-api");
    edit_service(&mut cat, &id, |svc| {
        svc.session_affinity = SessionAffinity::ClientIp { timeout_seconds: 1 };
    });
    let snap = cat.compile();
    let mut w = worker(72);
    let s = tcp("10.244.3.77", 30000, "10.96.45.100", 80, SYN);
    forward(&mut w, &snap, &s, &Meta::new(10_900_000_000));
    let next = tcp("10.244.3.77", 30001, "10.96.45.100", 80, SYN);
    let rule = |ns: u64| w.explain(&snap, &next.packet(), &Meta::new(ns)).rule;
    assert_eq!(rule(11_100_000_000), Rule::AffinityPin, "0.2 s later");
    assert_eq!(rule(11_999_000_000), Rule::AffinityPin, "1.1 s later");
    assert_ne!(
        rule(12_000_000_000),
        Rule::AffinityPin,
        "two whole seconds on: gone"
    );
}

/// The fragment table tells datagrams of one address pair apart by their identification: a
/// later fragment of another datagram never takes the first one's rewrite.
#[test]
fn later_fragments_match_their_own_datagram_by_identification() {
    let snap = seed_snap(0);
    let mut w = worker(80);
    let mut a = udp("10.244.1.100", 5353, "10.96.0.10", 53);
    a.payload = (0..40u8).collect();
    a.ident = 0x1111;
    let la = a.l4();
    let mut first_a = a.packet_with(&la[..24], Some((0, true)));
    assert_eq!(w.process(&snap, &mut first_a, &at(1)), Verdict::Forward);
    let mut b = a.clone();
    b.ident = 0x2222;
    let lb = b.l4();
    let mut later_b = b.packet_with(&lb[24..], Some((24, false)));
    let before = later_b.clone();
    assert_eq!(
        w.process(&snap, &mut later_b, &at(1)),
        Verdict::Drop(DropReason::Fragment)
    );
    assert_eq!(later_b, before);
    let mut later_a = a.packet_with(&la[24..], Some((24, false)));
    assert_eq!(w.process(&snap, &mut later_a, &at(1)), Verdict::Forward);
}

/// A fragment entry lives its whole timeout in whole seconds, never less (as flows and pins).
#[test]
fn a_fragment_entry_lives_its_whole_timeout() {
    use svcplane::dataplane::FRAGMENT_TIMEOUT;
    let snap = seed_snap(0);
    let mut w = worker(81);
    let mut s = udp("10.244.1.100", 5353, "10.96.0.10", 53);
    s.payload = (0..40u8).collect();
    let l4 = s.l4();
    let mut first = s.packet_with(&l4[..24], Some((0, true)));
    assert_eq!(w.process(&snap, &mut first, &at(1)), Verdict::Forward);
    let later = s.packet_with(&l4[24..], Some((24, false)));
    let t = 1 + u64::from(FRAGMENT_TIMEOUT);
    assert_eq!(w.explain(&snap, &later, &at(t)).verdict, Verdict::Forward);
    assert_eq!(
        w.explain(&snap, &later, &at(t + 1)).verdict,
        Verdict::Drop(DropReason::Fragment)
    );
}

/// ICMPv6 errors quoting a packet whose extension headers svcplane does not walk (ESP, AH, a
/// routing header with segments left, no next header) are delivered like the IPv4 errors
/// quoting ESP or GRE: they match no flow and pass, untouched, on both paths and in
/// `explain`. They used to be `Invalid`, which a datapath drops: path-MTU discovery for IPsec,
/// SRv6 and Mobile IPv6 traffic through the node would break (RFC 4443 §2.4, RFC 4890 §4.3.1).
#[test]
fn icmpv6_errors_quoting_unwalked_extension_headers_pass() {
    use svcplane::nat::Kind;
    let snap = seed_snap(0);
    let (router, pod): (IpAddr, IpAddr) = (
        "fd00:10:244:1::1".parse().unwrap(),
        "fd00:10:244:1::100".parse().unwrap(),
    );
    // The quoted packets: from the pod to a Service and to an outside address.
    let quoted = |proto: u8, ext: Vec<u8>, dst: &str| {
        let mut s = spec(proto, "fd00:10:244:1::100", 0, dst, 0, 0);
        s.ext = ext;
        s.packet_with(&[7; 24], None)
    };
    let mut quotes = Vec::new();
    for dst in ["fd00:10:96::a", "2001:db8::9"] {
        quotes.push(quoted(50, vec![], dst)); // ESP
        quotes.push(quoted(51, vec![], dst)); // AH
        quotes.push(quoted(59, vec![], dst)); // no next header
        quotes.push(quoted(50, vec![0, 60], dst)); // hop-by-hop, dest. options, then ESP
                                                   // A routing header with one segment left (type 4, SRv6), then UDP.
        let mut p = quoted(17, vec![43], dst);
        p[40 + 3] = 1;
        quotes.push(p);
    }
    // IPv4: fragmentation needed, quoting ESP (the behaviour IPv6 now matches).
    let v4_quote = spec(50, "10.244.1.100", 0, "203.0.113.9", 0, 0).packet_with(&[7; 24], None);
    let mut cases: Vec<Vec<u8>> = quotes
        .iter()
        .map(|q| icmp_error(&router, &pod, 2, 0, 1280, q))
        .collect();
    cases.push(icmp_error(
        &"10.244.1.1".parse().unwrap(),
        &"10.244.1.100".parse().unwrap(),
        3,
        4,
        1400,
        &v4_quote,
    ));
    for pkt in &cases {
        // (The oracle's own check is skipped: it reads the quoted routing header's final
        // destination, which these segments-left quotes do not carry.)
        let p = nat::parse(pkt).unwrap();
        assert_eq!(p.kind, Kind::IcmpError);
        assert_eq!(p.inner.unwrap().kind, Kind::OtherProtocol);
    }
    for fast_path in [true, false] {
        let mut w = Worker::new(WorkerConfig {
            fast_path,
            ..WorkerConfig::default()
        })
        .unwrap();
        for (i, pkt) in cases.iter().enumerate() {
            let mut copy = pkt.clone();
            assert_eq!(
                w.explain(&snap, pkt, &at(1)).verdict,
                Verdict::Pass,
                "case {i}"
            );
            assert_eq!(
                w.process(&snap, &mut copy, &at(1)),
                Verdict::Pass,
                "case {i}"
            );
            assert_eq!(&copy, pkt, "case {i}: left as it was");
        }
    }
}
