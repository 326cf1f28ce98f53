//! Catalog and snapshot tests.
//!
//! The seed-cluster tests check the frontends and pools SEMANTICS.md predicts for the seed
//! cluster, one test per rule (named by its section), against expectations written out by hand
//! from `testdata/seed-cluster.json` and the rules, never computed by the code under test.

use alloc::string::{String, ToString};
use alloc::vec;
use core::net::IpAddr;
use std::collections::HashMap;

use super::*;
use crate::model::{
    seed, ClusterIps, Conditions, Endpoint, EndpointPort, IpFamily, IpFamilyPolicy, IpMode,
    LoadBalancerIngress, NodePortAddresses, ServicePort, SessionAffinity, TrafficPolicy,
};
use crate::snapshot::{Frontend, Lookup, Source};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn id(ns: &str, name: &str) -> ObjectRef {
    ObjectRef::new(ns, name)
}

/// A catalog for seed node `node` holding the whole seed cluster.
fn seed_catalog(node: usize) -> Catalog {
    seed_catalog_with(seed::node(node))
}

fn seed_catalog_with(config: NodeConfig) -> Catalog {
    let mut c = Catalog::new(config).unwrap();
    for s in seed::cluster() {
        let sid = s.service.id.clone();
        c.upsert_service(s.service).unwrap();
        c.replace_endpoints(&sid, s.slices).unwrap();
    }
    c
}

fn tcp() -> Protocol {
    Protocol::Tcp
}

/// The frontend at (proto, addr, port) through the full lookup, or a panic naming what was found.
fn hit<'a>(snap: &'a Snapshot, proto: Protocol, addr: &str, port: u16) -> Frontend<'a> {
    match snap.lookup(proto, ip(addr), port) {
        Lookup::Frontend(f) => f,
        other => panic!("{proto} {addr}:{port}: expected a frontend, got {other:?}"),
    }
}

fn addrs(plan: &PortPlan, pool: Pool) -> Vec<String> {
    plan.pool(pool)
        .members()
        .iter()
        .map(|&i| plan.backends()[i as usize].socket_addr().to_string())
        .collect()
}

fn all_backends(plan: &PortPlan) -> Vec<String> {
    plan.backends()
        .iter()
        .map(|b| b.socket_addr().to_string())
        .collect()
}

// ------------------------------------------------------------------------------------------
// The seed cluster: SEMANTICS.md rule by rule.

/// Every frontend of the seed cluster on node-eu-west-1a, written out by hand from the JSON:
/// cluster IPs per port, the LB ingress IP per port, NodePorts; nothing for headless redis and
/// the three ExternalName Services.
#[test]
fn seed_cluster_has_exactly_the_predicted_frontends() {
    let snap = seed_catalog(0).compile();
    let expected: Vec<(&str, &str, &str, u16, FrontendKind)> = vec![
        // (service, proto, address or "*" for NodePort, port, kind)
        (
            "production/pricing-engine-svc",
            "TCP",
            "10.96.47.182",
            80,
            FrontendKind::ClusterIp,
        ),
        (
            "production/order-api-svc",
            "TCP",
            "10.96.88.201",
            80,
            FrontendKind::ClusterIp,
        ),
        (
            "production/order-api-svc",
            "TCP",
            "*",
            30080,
            FrontendKind::NodePort,
        ),
        (
            "production/order-api-lb",
            "TCP",
            "10.96.122.45",
            80,
            FrontendKind::ClusterIp,
        ),
        (
            "production/order-api-lb",
            "TCP",
            "10.96.122.45",
            443,
            FrontendKind::ClusterIp,
        ),
        (
            "production/order-api-lb",
            "TCP",
            "198.51.100.7",
            80,
            FrontendKind::LoadBalancer,
        ),
        (
            "production/order-api-lb",
            "TCP",
            "198.51.100.7",
            443,
            FrontendKind::LoadBalancer,
        ),
        (
            "production/order-api-lb",
            "TCP",
            "*",
            31204,
            FrontendKind::NodePort,
        ),
        (
            "production/order-api-lb",
            "TCP",
            "*",
            31205,
            FrontendKind::NodePort,
        ),
        (
            "production/monitoring-api-svc",
            "TCP",
            "10.96.33.91",
            8080,
            FrontendKind::ClusterIp,
        ),
        (
            "production/monitoring-api-svc",
            "TCP",
            "10.96.33.91",
            9090,
            FrontendKind::ClusterIp,
        ),
        (
            "default/my-api",
            "TCP",
            "10.96.45.100",
            80,
            FrontendKind::ClusterIp,
        ),
        (
            "default/api-service",
            "TCP",
            "10.96.0.80",
            80,
            FrontendKind::ClusterIp,
        ),
        (
            "billing/payments",
            "TCP",
            "10.96.100.50",
            80,
            FrontendKind::ClusterIp,
        ),
        (
            "kube-system/kube-dns",
            "UDP",
            "10.96.0.10",
            53,
            FrontendKind::ClusterIp,
        ),
        (
            "kube-system/kube-dns",
            "TCP",
            "10.96.0.10",
            53,
            FrontendKind::ClusterIp,
        ),
        (
            "kube-system/kube-dns",
            "UDP",
            "fd00:10:96::a",
            53,
            FrontendKind::ClusterIp,
        ),
        (
            "kube-system/kube-dns",
            "TCP",
            "fd00:10:96::a",
            53,
            FrontendKind::ClusterIp,
        ),
    ];
    let mut want: Vec<String> = expected
        .iter()
        .map(|(svc, proto, addr, port, kind)| format!("{svc} {proto} {addr} {port} {kind}"))
        .collect();
    want.sort();
    let mut got: Vec<String> = snap
        .frontends()
        .iter()
        .map(|(f, svc)| {
            let addr = f.address.map_or("*".to_string(), |a| a.to_string());
            format!("{svc} {} {addr} {} {}", f.protocol, f.port, f.kind)
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(snap.frontend_count(), 18);
    assert_eq!(snap.service_count(), 12);
    // Each listed frontend is found by lookup, and leads to its own Service.
    for (f, svc) in snap.frontends() {
        let found = match f.address {
            Some(a) => snap.frontend(f.protocol, a, f.port),
            None => snap.node_port(f.protocol, f.family, f.port),
        }
        .unwrap();
        assert_eq!(found.plan().service(), svc);
        assert_eq!(found.kind(), f.kind);
    }
}

/// §1: headless (clusterIP None) and ExternalName Services get DNS only, no packet rules.
#[test]
fn s1_headless_and_external_name_have_no_frontends() {
    let snap = seed_catalog(0).compile();
    for (ns, name) in [
        ("production", "redis"),
        ("production", "external-payments-gateway"),
        ("default", "external-db"),
        ("default", "my-database"),
    ] {
        let plan = snap.service(&id(ns, name)).unwrap();
        assert!(!plan.is_proxied(), "{ns}/{name}");
        assert!(plan.ports().is_empty() && plan.frontends().is_empty());
    }
    assert!(snap
        .frontends()
        .iter()
        .all(|(_, svc)| svc.name != "redis" && !svc.name.starts_with("external")));
    // redis's endpoints are no frontend either.
    assert_eq!(
        snap.lookup(tcp(), ip("10.244.1.50"), 6379),
        Lookup::NotService
    );
}

/// §1 ClusterIP: match (cluster IP, protocol, port); nothing else on that address matches.
#[test]
fn s1_cluster_ip_matches_ip_protocol_and_port() {
    let snap = seed_catalog(0).compile();
    let f = hit(&snap, tcp(), "10.96.47.182", 80);
    assert_eq!(f.kind(), FrontendKind::ClusterIp);
    assert_eq!(f.plan().service(), &id("production", "pricing-engine-svc"));
    assert_eq!(f.plan().port(), 80);
    assert!(snap
        .frontend(Protocol::Udp, ip("10.96.47.182"), 80)
        .is_none());
    assert!(snap.frontend(tcp(), ip("10.96.47.182"), 81).is_none());
    assert!(snap.frontend(tcp(), ip("10.96.47.183"), 80).is_none());
}

/// §1 NodePort: (protocol, nodePort) on the NodePort addresses — by default the node's primary
/// address per family — and nowhere else.
#[test]
fn s1_node_ports_answer_on_node_port_addresses_only() {
    let snap = seed_catalog(0).compile();
    assert_eq!(snap.node_port_addresses(), [ip("192.168.0.10")]);
    let f = hit(&snap, tcp(), "192.168.0.10", 30080);
    assert_eq!(f.kind(), FrontendKind::NodePort);
    assert_eq!(f.plan().service(), &id("production", "order-api-svc"));
    assert_eq!(hit(&snap, tcp(), "192.168.0.10", 31205).plan().port(), 443);
    // Not on the node's secondary address, not on a cluster IP, not for UDP.
    assert_eq!(
        snap.lookup(tcp(), ip("54.123.45.67"), 30080),
        Lookup::NotService
    );
    assert!(matches!(
        snap.lookup(tcp(), ip("10.96.88.201"), 30080),
        Lookup::UndefinedPort(_)
    ));
    assert_eq!(
        snap.lookup(Protocol::Udp, ip("192.168.0.10"), 30080),
        Lookup::NotService
    );
    // Node 1 answers on its own primary address.
    let snap1 = seed_catalog(1).compile();
    assert_eq!(
        hit(&snap1, tcp(), "192.168.0.11", 30080).kind(),
        FrontendKind::NodePort
    );
    assert_eq!(
        snap1.lookup(tcp(), ip("192.168.0.10"), 30080),
        Lookup::NotService
    );
    // With "all addresses", the secondary address answers too.
    let mut config = seed::node(0);
    config.node_port_addresses = NodePortAddresses::All;
    let snap = seed_catalog_with(config).compile();
    assert_eq!(
        hit(&snap, tcp(), "54.123.45.67", 30080).kind(),
        FrontendKind::NodePort
    );
    // With CIDRs, the node addresses inside them and no others (kube-proxy's TestNodePorts):
    // here the secondary address only.
    let mut config = seed::node(0);
    config.node_port_addresses = NodePortAddresses::Cidrs(vec!["54.123.45.0/24".parse().unwrap()]);
    let snap = seed_catalog_with(config).compile();
    assert_eq!(
        hit(&snap, tcp(), "54.123.45.67", 30080).kind(),
        FrontendKind::NodePort
    );
    assert_eq!(
        snap.lookup(tcp(), ip("192.168.0.10"), 30080),
        Lookup::NotService
    );
    // IPv6: a dual-stack node's IPv6 primary address answers a dual-stack Service's NodePort;
    // "all addresses" never includes IPv6 loopback.
    let mut config = seed::node(0);
    config.node_ips.push(ip("fd00:192:168::10"));
    config.node_ips.push(ip("::1"));
    config.node_port_addresses = NodePortAddresses::All;
    let mut c = seed_catalog_with(config);
    let order = id("production", "order-api-svc");
    let mut svc = c.service(&order).unwrap().clone();
    svc.ip_families = vec![IpFamily::V4, IpFamily::V6];
    svc.ip_family_policy = Some(IpFamilyPolicy::RequireDualStack);
    svc.cluster_ips = ClusterIps::Assigned(vec![ip("10.96.88.201"), ip("fd00:10:96::88")]);
    c.upsert_service(svc).unwrap();
    let snap = c.compile();
    assert_eq!(
        hit(&snap, tcp(), "fd00:192:168::10", 30080).kind(),
        FrontendKind::NodePort
    );
    assert_eq!(snap.lookup(tcp(), ip("::1"), 30080), Lookup::NotService);
}

/// §1 LoadBalancer: the ingress IPs of the family; `ipMode: Proxy` entries are skipped.
#[test]
fn s1_load_balancer_ingress_ips_skip_proxy_mode() {
    let mut c = seed_catalog(0);
    let snap = c.compile();
    for port in [80, 443] {
        let f = hit(&snap, tcp(), "198.51.100.7", port);
        assert_eq!(f.kind(), FrontendKind::LoadBalancer);
        assert_eq!(f.plan().service(), &id("production", "order-api-lb"));
    }
    let lb = id("production", "order-api-lb");
    let mut svc = c.service(&lb).unwrap().clone();
    svc.load_balancer_ingress.push(LoadBalancerIngress {
        ip: ip("198.51.100.8"),
        ip_mode: IpMode::Proxy,
    });
    c.upsert_service(svc).unwrap();
    let snap = c.compile();
    assert!(snap.frontend(tcp(), ip("198.51.100.8"), 80).is_none());
    assert!(snap.frontend(tcp(), ip("198.51.100.7"), 80).is_some());
}

/// §1 externalIPs: frontends like LB IPs, external traffic, without source ranges.
#[test]
fn s1_external_ips_are_external_frontends_without_source_ranges() {
    let mut c = seed_catalog(0);
    let pricing = id("production", "pricing-engine-svc");
    let mut svc = c.service(&pricing).unwrap().clone();
    svc.external_ips = vec![ip("203.0.113.50")];
    c.upsert_service(svc).unwrap();
    let snap = c.compile();
    let f = hit(&snap, tcp(), "203.0.113.50", 80);
    assert_eq!(f.kind(), FrontendKind::ExternalIp);
    assert_eq!(f.kind().traffic(), crate::select::Traffic::External);
    assert!(f.plan().source_allowed(f.kind(), ip("8.8.8.8")));
}

/// Addresses with frontends are counted per frontend, so two Services sharing an externalIP on
/// different ports keep it a Service destination (for later IP fragments) until both leave it.
#[test]
fn frontend_addresses_are_counted_across_services() {
    let mut c = seed_catalog(0);
    let shared = ip("203.0.113.50");
    let snap = c.compile();
    assert!(!snap.has_frontends_at(shared));
    assert!(snap.has_frontends_at(ip("198.51.100.7")), "an LB IP");
    assert!(snap.has_frontends_at(ip("10.96.33.91")), "a cluster IP");
    assert!(
        !snap.has_frontends_at(ip("192.168.0.10")),
        "a NodePort address"
    );
    assert!(
        snap.is_service_destination(ip("10.96.200.200")),
        "in the service CIDR"
    );
    assert!(!snap.is_service_destination(ip("192.168.0.10")));
    let pricing = id("production", "pricing-engine-svc");
    let monitoring = id("production", "monitoring-api-svc");
    for svc in [&pricing, &monitoring] {
        let mut s = c.service(svc).unwrap().clone();
        s.external_ips = vec![shared];
        c.upsert_service(s).unwrap();
    }
    let snap = c.compile();
    assert!(snap.has_frontends_at(shared) && snap.is_service_destination(shared));
    let mut s = c.service(&pricing).unwrap().clone();
    s.external_ips.clear();
    c.upsert_service(s).unwrap();
    let snap = c.compile();
    assert!(snap.has_frontends_at(shared), "monitoring still holds it");
    c.remove_service(&monitoring);
    let snap = c.compile();
    assert!(!snap.has_frontends_at(shared));
    assert!(!snap.is_service_destination(shared));
}

/// §1 loadBalancerSourceRanges apply to LB IPs only — never to NodePort or ClusterIP — and drop
/// pods outside the ranges too.
#[test]
fn s1_source_ranges_restrict_load_balancer_ips_only() {
    let snap = seed_catalog(0).compile();
    let lb = hit(&snap, tcp(), "198.51.100.7", 80);
    let plan = lb.plan();
    assert_eq!(plan.source_ranges().len(), 1);
    assert!(plan.source_allowed(FrontendKind::LoadBalancer, ip("203.0.113.9")));
    assert!(!plan.source_allowed(FrontendKind::LoadBalancer, ip("8.8.8.8")));
    assert!(
        !plan.source_allowed(FrontendKind::LoadBalancer, ip("10.244.2.7")),
        "a pod outside the ranges"
    );
    let np = hit(&snap, tcp(), "192.168.0.10", 31204);
    assert!(np.plan().source_allowed(np.kind(), ip("8.8.8.8")));
    let cip = hit(&snap, tcp(), "10.96.122.45", 80);
    assert!(cip.plan().source_allowed(cip.kind(), ip("8.8.8.8")));
}

/// §1 hairpin: when a node address is inside a source range, the Service's LB IPs are allowed
/// as sources too; otherwise they are not.
#[test]
fn s1_source_ranges_allow_lb_ips_when_a_node_address_is_inside() {
    let snap = seed_catalog(0).compile();
    let plan = hit(&snap, tcp(), "198.51.100.7", 80).plan();
    assert!(!plan.source_allowed(FrontendKind::LoadBalancer, ip("198.51.100.7")));
    let mut config = seed::node(0);
    config.node_ips.push(ip("203.0.113.200"));
    let snap = seed_catalog_with(config).compile();
    let plan = hit(&snap, tcp(), "198.51.100.7", 80).plan();
    assert!(plan.source_allowed(FrontendKind::LoadBalancer, ip("198.51.100.7")));
    assert!(!plan.source_allowed(FrontendKind::LoadBalancer, ip("198.51.100.9")));
}

/// §2: EndpointSlice ports are joined to Service ports by (name, protocol); named targetPorts
/// resolve per endpoint; two Service ports with the same targetPort reach the same pods; the
/// single unnamed port joins the slice's unnamed port.
#[test]
fn s2_backend_ports_come_from_the_slices() {
    let snap = seed_catalog(0).compile();
    let pricing = hit(&snap, tcp(), "10.96.47.182", 80).plan();
    assert_eq!(
        all_backends(pricing),
        ["10.244.1.8:8080", "10.244.2.9:8080", "10.244.3.4:8080"]
    );
    let http = hit(&snap, tcp(), "10.96.33.91", 8080).plan();
    let metrics = hit(&snap, tcp(), "10.96.33.91", 9090).plan();
    assert_eq!(all_backends(http), ["10.244.1.12:8080", "10.244.2.5:8080"]);
    assert_eq!(
        all_backends(metrics),
        ["10.244.1.12:9090", "10.244.2.5:9090"]
    );
    assert_eq!(
        http.target_port(),
        &crate::model::TargetPort::Name("http".into())
    );
    for port in [80, 443] {
        let plan = hit(&snap, tcp(), "10.96.122.45", port).plan();
        assert!(plan.backends().iter().all(|b| b.port == 3000));
        assert_eq!(plan.backends().len(), 3);
    }
    let my_api = hit(&snap, tcp(), "10.96.45.100", 80).plan();
    assert_eq!(my_api.name(), "");
    assert_eq!(all_backends(my_api), ["10.244.1.5:8080", "10.244.2.3:8080"]);
}

/// §2: an endpoint whose pod lacks a named targetPort has no backend for that Service port (its
/// slice has no such port); slice ports without a number are ignored.
#[test]
fn s2_endpoint_without_the_named_port_has_no_backend_for_it() {
    let mut c = Catalog::new(NodeConfig::new("n")).unwrap();
    let svc = Service {
        cluster_ips: ClusterIps::Assigned(vec![ip("10.96.0.5")]),
        ports: vec![
            ServicePort::tcp(80).named("http").target("http"),
            ServicePort::tcp(9090).named("metrics").target("metrics"),
        ],
        ..Service::new("default", "app")
    };
    let sid = svc.id.clone();
    c.upsert_service(svc).unwrap();
    let new = EndpointSlice {
        ports: vec![
            EndpointPort::new("http", tcp(), 8080),
            EndpointPort::new("metrics", tcp(), 9100),
        ],
        endpoints: vec![Endpoint::new(ip("10.0.0.2"))],
        ..EndpointSlice::new("new", IpFamily::V4)
    };
    let old = EndpointSlice {
        ports: vec![
            EndpointPort::new("http", tcp(), 8000),
            EndpointPort {
                name: "metrics".into(),
                protocol: tcp(),
                port: None,
            },
        ],
        endpoints: vec![Endpoint::new(ip("10.0.0.1"))],
        ..EndpointSlice::new("old", IpFamily::V4)
    };
    c.replace_endpoints(&sid, vec![new, old]).unwrap();
    let snap = c.compile();
    let http = hit(&snap, tcp(), "10.96.0.5", 80).plan();
    assert_eq!(all_backends(http), ["10.0.0.1:8000", "10.0.0.2:8080"]);
    let metrics = hit(&snap, tcp(), "10.96.0.5", 9090).plan();
    assert_eq!(all_backends(metrics), ["10.0.0.2:9100"]);
}

/// §2: a nodePort belongs to one Service cluster-wide (whatever the protocol), as does the
/// healthCheckNodePort; ports with the same number and different protocols in one Service share
/// a nodePort.
#[test]
fn s2_node_port_belongs_to_one_service() {
    let mut c = seed_catalog(0);
    let mut other = Service {
        service_type: ServiceType::NodePort,
        cluster_ips: ClusterIps::Assigned(vec![ip("10.96.200.1")]),
        ports: vec![ServicePort::udp(53).named("dns").node_port(30080)],
        ..Service::new("default", "other")
    };
    let err = c.upsert_service(other.clone()).unwrap_err();
    let Error::Conflict(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.object, id("default", "other"));
    assert_eq!(e.field, "spec.ports[0].nodePort");
    assert_eq!(
        e.kind,
        ErrorKind::AlreadyAllocated {
            owner: Box::new(id("production", "order-api-svc"))
        }
    );
    other.ports[0].node_port = Some(32123); // order-api-lb's healthCheckNodePort
    assert_eq!(
        c.upsert_service(other.clone())
            .unwrap_err()
            .validation()
            .field,
        "spec.ports[0].nodePort"
    );
    // One Service, TCP and UDP on the same number, one nodePort: fine.
    other.ports = vec![
        ServicePort::udp(53).named("dns").node_port(30053),
        ServicePort::tcp(53).named("dns-tcp").node_port(30053),
    ];
    c.upsert_service(other).unwrap();
    let snap = c.compile();
    assert_eq!(
        hit(&snap, Protocol::Udp, "192.168.0.10", 30053)
            .plan()
            .name(),
        "dns"
    );
    assert_eq!(
        hit(&snap, tcp(), "192.168.0.10", 30053).plan().name(),
        "dns-tcp"
    );
}

/// §3: the cluster pool is the Ready endpoints (a serving-terminating one is left out while
/// Ready ones exist); the local pool is this node's Ready endpoints.
#[test]
fn s3_pools_of_order_api_on_each_node() {
    let expect_local = [vec!["10.244.1.20:3000"], vec!["10.244.2.21:3000"], vec![]];
    for (node, local) in expect_local.iter().enumerate() {
        let snap = seed_catalog(node).compile();
        let plan = hit(&snap, tcp(), "10.96.88.201", 80).plan();
        assert_eq!(
            all_backends(plan),
            ["10.244.1.20:3000", "10.244.2.21:3000", "10.244.2.22:3000"]
        );
        assert_eq!(
            addrs(plan, Pool::Cluster),
            ["10.244.1.20:3000", "10.244.2.21:3000"],
            "node {node}"
        );
        assert_eq!(&addrs(plan, Pool::Local), local, "node {node}");
        assert!(!plan.pool(Pool::Cluster).is_terminating());
    }
}

/// §3: when no endpoint is Ready, serving+terminating ones serve, cluster-wide and locally.
#[test]
fn s3_terminating_fallback_when_none_is_ready() {
    let mut c = seed_catalog(1);
    let svc_id = id("production", "order-api-svc");
    let mut slices = c.endpoints(&svc_id).unwrap().to_vec();
    // Only the terminating one remains.
    slices[0]
        .endpoints
        .retain(|e| e.conditions.is_terminating());
    c.replace_endpoints(&svc_id, slices).unwrap();
    let snap = c.compile();
    let plan = hit(&snap, tcp(), "10.96.88.201", 80).plan();
    assert_eq!(addrs(plan, Pool::Cluster), ["10.244.2.22:3000"]);
    assert!(plan.pool(Pool::Cluster).is_terminating());
    assert_eq!(
        addrs(plan, Pool::Local),
        ["10.244.2.22:3000"],
        "node 1 runs it"
    );
    assert!(plan.pool(Pool::Local).is_terminating());
    assert!(!plan.rejects_new_connections());
    assert_eq!(
        plan.local_ready(),
        0,
        "terminating endpoints are not counted"
    );
}

/// §3 topology: kube-dns's endpoints are all hinted for their own zones, so each node's cluster
/// pool holds only its zone's endpoint, per family.
#[test]
fn s3_zone_hints_filter_the_cluster_pool() {
    let zones = [
        ("10.244.1.2:53", "[fd00:10:244:1::2]:53"),
        ("10.244.2.2:53", "[fd00:10:244:2::2]:53"),
        ("10.244.3.2:53", "[fd00:10:244:3::2]:53"),
    ];
    for (node, (v4, v6)) in zones.iter().enumerate() {
        let snap = seed_catalog(node).compile();
        let p4 = hit(&snap, Protocol::Udp, "10.96.0.10", 53).plan();
        assert_eq!(addrs(p4, Pool::Cluster), [*v4]);
        assert_eq!(p4.topology(), crate::select::Topology::SameZone);
        assert_eq!(p4.backends().len(), 3);
        let p6 = hit(&snap, tcp(), "fd00:10:96::a", 53).plan();
        assert_eq!(addrs(p6, Pool::Cluster), [*v6]);
    }
    // A node without a zone does not filter.
    let mut config = seed::node(0);
    config.zone = None;
    let snap = seed_catalog_with(config).compile();
    let p4 = hit(&snap, Protocol::Udp, "10.96.0.10", 53).plan();
    assert_eq!(p4.pool(Pool::Cluster).members().len(), 3);
}

/// §3 traffic policies: ClusterIP traffic follows internalTrafficPolicy, external traffic
/// externalTrafficPolicy; neither affects the other kind. Under external Local, pods and this
/// node are short-circuited to the cluster pool (§5).
#[test]
fn s3_traffic_policies_pick_the_pool() {
    let mut c = seed_catalog(0);
    let snap = c.compile();
    let np = hit(&snap, tcp(), "192.168.0.10", 30080);
    let plan = np.plan();
    assert_eq!(
        plan.pool_for(np.kind(), Source::External),
        Some(Pool::Local)
    );
    assert_eq!(plan.pool_for(np.kind(), Source::Pod), Some(Pool::Cluster));
    assert_eq!(plan.pool_for(np.kind(), Source::Node), Some(Pool::Cluster));
    assert_eq!(
        plan.pool_for(FrontendKind::ClusterIp, Source::External),
        Some(Pool::Cluster),
        "externalTrafficPolicy does not affect ClusterIP traffic"
    );
    // internalTrafficPolicy Local on pricing-engine: ClusterIP traffic uses the local pool.
    let pricing = id("production", "pricing-engine-svc");
    let mut svc = c.service(&pricing).unwrap().clone();
    svc.internal_traffic_policy = TrafficPolicy::Local;
    svc.external_ips = vec![ip("203.0.113.60")];
    c.upsert_service(svc).unwrap();
    let snap = c.compile();
    let cip = hit(&snap, tcp(), "10.96.47.182", 80);
    assert_eq!(
        cip.plan().pool_for(cip.kind(), Source::Pod),
        Some(Pool::Local)
    );
    assert_eq!(addrs(cip.plan(), Pool::Local), ["10.244.1.8:8080"]);
    let ext = hit(&snap, tcp(), "203.0.113.60", 80);
    assert_eq!(
        ext.plan().pool_for(ext.kind(), Source::External),
        Some(Pool::Cluster),
        "internalTrafficPolicy does not affect external traffic"
    );
    assert_eq!(snap.source_class(ip("192.168.0.10")), Source::Node);
    assert_eq!(snap.source_class(ip("10.244.2.7")), Source::Pod);
    assert_eq!(snap.source_class(ip("8.8.8.8")), Source::External);
}

/// §3 health check: the count of local Ready endpoints, per Service.
#[test]
fn s3_health_check_counts_local_ready_endpoints() {
    for (node, count) in [(0, 1), (1, 1), (2, 0)] {
        let snap = seed_catalog(node).compile();
        let plan = snap.service(&id("production", "order-api-lb")).unwrap();
        assert_eq!(plan.health_check_node_port(), Some(32123));
        assert_eq!(plan.local_ready(), count, "node {node}");
    }
}

/// §3: the health-check count a caller serves for externalTrafficPolicy Local
/// (`ServicePlan::local_ready`) counts local Ready endpoints, as kube-proxy's
/// `getLocalReadyEndpointIPs` does: "terminating ones don't count" means the serving-terminating
/// ones that are not Ready (what the EndpointSlice controller writes for a terminating Pod); one
/// flagged both Ready and terminating (publishNotReadyAddresses) counts, as in kube-proxy. A
/// Ready one on another node never counts.
#[test]
fn s3_health_check_count_is_local_ready_even_when_terminating() {
    let lb = id("production", "order-api-lb");
    let mut c = seed_catalog(0);
    let mut slices = c.endpoints(&lb).unwrap().to_vec();
    let local = slices[0]
        .endpoints
        .iter()
        .position(|e| e.address == ip("10.244.1.20"))
        .unwrap();
    let mut extra = slices[0].endpoints[local].clone();
    extra.address = ip("10.244.1.21");
    extra.conditions = Conditions::from_api(Some(false), Some(true), Some(true));
    slices[0].endpoints.push(extra);
    c.replace_endpoints(&lb, slices.clone()).unwrap();
    assert_eq!(c.compile().service(&lb).unwrap().local_ready(), 1);
    // The Ready local endpoint also flagged terminating: still counted.
    slices[0].endpoints[local].conditions =
        Conditions::from_api(Some(true), Some(true), Some(true));
    c.replace_endpoints(&lb, slices.clone()).unwrap();
    assert_eq!(c.compile().service(&lb).unwrap().local_ready(), 1);
    // Not Ready any more (serving, terminating): nothing left to count.
    slices[0].endpoints[local].conditions =
        Conditions::from_api(Some(false), Some(true), Some(true));
    c.replace_endpoints(&lb, slices.clone()).unwrap();
    assert_eq!(c.compile().service(&lb).unwrap().local_ready(), 0);
    // Plain Ready again: 1.
    slices[0].endpoints[local].conditions = Conditions::from_api(Some(true), None, None);
    c.replace_endpoints(&lb, slices).unwrap();
    assert_eq!(c.compile().service(&lb).unwrap().local_ready(), 1);
}

/// §3: kube-proxy runs one health server per family, each counting its family's local Ready
/// endpoints; `local_ready_in` gives that count, `local_ready` the total.
#[test]
fn s3_health_check_count_per_family() {
    let lb = id("production", "order-api-lb");
    let mut c = seed_catalog(0);
    let mut svc = c.service(&lb).unwrap().clone();
    svc.ip_families = vec![IpFamily::V4, IpFamily::V6];
    svc.ip_family_policy = Some(IpFamilyPolicy::RequireDualStack);
    let v4_ip = svc.cluster_ip_list()[0];
    svc.cluster_ips = ClusterIps::Assigned(vec![v4_ip, ip("fd00:10:96::77")]);
    c.upsert_service(svc).unwrap();
    let mut slices = c.endpoints(&lb).unwrap().to_vec();
    let node = seed::node(0).node_name;
    let ports = slices[0].ports.clone();
    let v6 = |local: bool| EndpointSlice {
        ports: ports.clone(),
        endpoints: vec![
            Endpoint::new(ip("fd00:244:1::20")).on_node(if local { &*node } else { "elsewhere" }),
            Endpoint::new(ip("fd00:244:2::20")).on_node("elsewhere"),
        ],
        ..EndpointSlice::new("order-api-lb-v6", IpFamily::V6)
    };
    slices.push(v6(true));
    c.replace_endpoints(&lb, slices.clone()).unwrap();
    let snap = c.compile();
    let plan = snap.service(&lb).unwrap();
    assert_eq!(plan.local_ready(), 2);
    assert_eq!(plan.local_ready_in(IpFamily::V4), 1);
    assert_eq!(plan.local_ready_in(IpFamily::V6), 1);
    *slices.last_mut().unwrap() = v6(false);
    c.replace_endpoints(&lb, slices).unwrap();
    let snap = c.compile();
    let plan = snap.service(&lb).unwrap();
    assert_eq!(plan.local_ready(), 1);
    assert_eq!(plan.local_ready_in(IpFamily::V4), 1);
    assert_eq!(
        plan.local_ready_in(IpFamily::V6),
        0,
        "503 on the IPv6 addresses"
    );
}

/// §4: no usable endpoint anywhere — payments' only endpoint is neither ready nor serving —
/// rejects new connections; a Service with usable endpoints does not.
#[test]
fn s4_no_usable_endpoints_rejects() {
    let snap = seed_catalog(0).compile();
    let payments = hit(&snap, tcp(), "10.96.100.50", 80).plan();
    assert!(payments.rejects_new_connections());
    assert_eq!(
        all_backends(payments),
        ["10.244.3.40:8080"],
        "listed, never used"
    );
    assert!(payments.pool(Pool::Cluster).is_empty());
    assert!(payments.pick(Pool::Cluster, 12345).is_none());
    let pricing = hit(&snap, tcp(), "10.96.47.182", 80).plan();
    assert!(!pricing.rejects_new_connections());
    // A Service with no EndpointSlice at all also rejects.
    let mut c = seed_catalog(0);
    c.replace_endpoints(&id("production", "pricing-engine-svc"), Vec::new())
        .unwrap();
    let snap = c.compile();
    assert!(hit(&snap, tcp(), "10.96.47.182", 80)
        .plan()
        .rejects_new_connections());
}

/// §4: externalTrafficPolicy Local with no local endpoint: external traffic has an empty pool
/// (dropped), while the Service still has usable endpoints (not rejected).
#[test]
fn s4_external_local_without_local_endpoints_drops() {
    let snap = seed_catalog(2).compile();
    let f = hit(&snap, tcp(), "192.168.0.12", 30080);
    let plan = f.plan();
    assert!(!plan.rejects_new_connections());
    let pool = plan.pool_for(f.kind(), Source::External).unwrap();
    assert_eq!(pool, Pool::Local);
    assert!(plan.pool(pool).is_empty());
    assert!(plan.pick(pool, 99).is_none());
    // Pods still reach the cluster pool.
    let pool = plan.pool_for(f.kind(), Source::Pod).unwrap();
    assert!(plan.pick(pool, 99).is_some());
}

/// §4: a cluster IP on an undefined (protocol, port) is rejected; an address in a service CIDR
/// that no Service holds is dropped; anything else passes.
#[test]
fn s4_undefined_port_and_unallocated_service_ip() {
    let snap = seed_catalog(0).compile();
    match snap.lookup(Protocol::Udp, ip("10.96.47.182"), 80) {
        Lookup::UndefinedPort(plan) => {
            assert_eq!(plan.id(), &id("production", "pricing-engine-svc"))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        snap.lookup(tcp(), ip("fd00:10:96::a"), 80),
        Lookup::UndefinedPort(_)
    ));
    assert_eq!(
        snap.lookup(tcp(), ip("10.96.47.183"), 80),
        Lookup::UnallocatedServiceIp
    );
    assert_eq!(
        snap.lookup(tcp(), ip("fd00:10:96::b"), 53),
        Lookup::UnallocatedServiceIp
    );
    assert_eq!(snap.lookup(tcp(), ip("8.8.8.8"), 80), Lookup::NotService);
    // An LB IP on an undefined port is not a cluster IP: it passes.
    assert_eq!(
        snap.lookup(tcp(), ip("198.51.100.7"), 8080),
        Lookup::NotService
    );
}

/// §6: ClientIP affinity carries its timeout into every port plan; other Services have none.
#[test]
fn s6_affinity_timeout_in_the_plan() {
    let snap = seed_catalog(0).compile();
    let my_api = hit(&snap, tcp(), "10.96.45.100", 80).plan();
    assert_eq!(my_api.affinity_timeout_seconds(), Some(10_800));
    assert_eq!(
        snap.service(&id("default", "my-api"))
            .unwrap()
            .session_affinity(),
        SessionAffinity::client_ip()
    );
    let pricing = hit(&snap, tcp(), "10.96.47.182", 80).plan();
    assert_eq!(pricing.affinity_timeout_seconds(), None);
}

/// §8: a dual-stack Service is programmed per family: each family's frontends reach that
/// family's endpoints only.
#[test]
fn s8_dual_stack_is_programmed_per_family() {
    let snap = seed_catalog(0).compile();
    let v4 = hit(&snap, Protocol::Udp, "10.96.0.10", 53).plan();
    let v6 = hit(&snap, Protocol::Udp, "fd00:10:96::a", 53).plan();
    assert_eq!(v4.family(), IpFamily::V4);
    assert_eq!(v6.family(), IpFamily::V6);
    assert!(v4.backends().iter().all(|b| b.address.is_ipv4()));
    assert!(v6.backends().iter().all(|b| b.address.is_ipv6()));
    assert_eq!(v6.backends().len(), 3);
    let picked = v6.pick(Pool::Cluster, 7).unwrap();
    assert!(picked.address.is_ipv6());
    // A single-stack Service has no frontend in the other family even with an externalIP of it.
    let mut c = seed_catalog(0);
    let pricing = id("production", "pricing-engine-svc");
    let mut svc = c.service(&pricing).unwrap().clone();
    svc.external_ips = vec![ip("2001:db8::50")];
    c.upsert_service(svc).unwrap();
    assert!(c
        .compile()
        .frontend(tcp(), ip("2001:db8::50"), 80)
        .is_none());
}

// ------------------------------------------------------------------------------------------
// Maglev picks and table sharing.

/// Picks follow the pool's Maglev table: every pick is a pool member, and every member is picked
/// for some hash.
#[test]
fn picks_come_from_the_pool() {
    let snap = seed_catalog(0).compile();
    let plan = hit(&snap, tcp(), "10.96.47.182", 80).plan();
    let pool: Vec<String> = addrs(plan, Pool::Cluster);
    let mut seen = BTreeSet::new();
    for h in 0..2000u64 {
        let b = plan
            .pick(Pool::Cluster, h.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .unwrap();
        let s = b.socket_addr().to_string();
        assert!(pool.contains(&s));
        seen.insert(s);
    }
    assert_eq!(seen.len(), pool.len());
}

/// Invariant 7: ports of one Service whose pools hold the same addresses share one Maglev table
/// — order-api-lb's http and https; monitoring-api's http and metrics (different backend ports,
/// same pods).
#[test]
fn ports_reaching_the_same_pods_share_one_table() {
    let snap = seed_catalog(0).compile();
    let http = hit(&snap, tcp(), "10.96.122.45", 80).plan();
    let https = hit(&snap, tcp(), "10.96.122.45", 443).plan();
    let (a, b) = (
        http.pool(Pool::Cluster).maglev().unwrap(),
        https.pool(Pool::Cluster).maglev().unwrap(),
    );
    assert!(Arc::ptr_eq(a, b));
    let m1 = hit(&snap, tcp(), "10.96.33.91", 8080).plan();
    let m2 = hit(&snap, tcp(), "10.96.33.91", 9090).plan();
    assert!(Arc::ptr_eq(
        m1.pool(Pool::Cluster).maglev().unwrap(),
        m2.pool(Pool::Cluster).maglev().unwrap()
    ));
    // Same hash, same pod, each on its own port.
    for h in [1u64, 2, 3, 1 << 40] {
        let (x, y) = (
            m1.pick(Pool::Cluster, h).unwrap(),
            m2.pick(Pool::Cluster, h).unwrap(),
        );
        assert_eq!(x.address, y.address);
        assert_eq!((x.port, y.port), (8080, 9090));
    }
    // 400 ports to the same pods: one table.
    let mut c = Catalog::new(NodeConfig::new("n")).unwrap();
    let svc = Service {
        cluster_ips: ClusterIps::Assigned(vec![ip("10.96.0.7")]),
        ports: (0..400u16)
            .map(|i| ServicePort::tcp(1000 + i).named(format!("p{i}")))
            .collect(),
        ..Service::new("default", "wide")
    };
    let sid = svc.id.clone();
    let slice = EndpointSlice {
        ports: (0..400u16)
            .map(|i| EndpointPort::new(format!("p{i}"), tcp(), 2000 + i))
            .collect(),
        endpoints: (1..=5u8)
            .map(|i| Endpoint::new(IpAddr::from([10, 1, 0, i])))
            .collect(),
        ..EndpointSlice::new("wide-1", IpFamily::V4)
    };
    c.upsert_service(svc).unwrap();
    c.replace_endpoints(&sid, vec![slice]).unwrap();
    let snap = c.compile();
    let plan = snap.service(&sid).unwrap();
    let first = plan.ports()[0].pool(Pool::Cluster).maglev().unwrap();
    assert!(plan
        .ports()
        .iter()
        .all(|p| Arc::ptr_eq(p.pool(Pool::Cluster).maglev().unwrap(), first)));
}

/// Incremental compile: unchanged Services keep their plans (and tables) by pointer; the changed
/// one is rebuilt; nothing changed returns the same snapshot.
#[test]
fn unchanged_services_are_shared_between_snapshots() {
    let mut c = seed_catalog(0);
    let s1 = c.compile();
    assert!(Arc::ptr_eq(&s1, &c.compile()), "no change, same snapshot");
    let pricing = id("production", "pricing-engine-svc");
    let mut slices = c.endpoints(&pricing).unwrap().to_vec();
    slices[0].endpoints.pop();
    c.replace_endpoints(&pricing, slices).unwrap();
    let s2 = c.compile();
    assert_eq!(s2.generation(), s1.generation() + 1);
    for plan in s1.services() {
        let next = s2.service(plan.id()).unwrap();
        if plan.id() == &pricing {
            assert!(!Arc::ptr_eq(plan, next));
        } else {
            assert!(Arc::ptr_eq(plan, next), "{}", plan.id());
        }
    }
    // The frontends of an unchanged Service lead to the very same port plan.
    let a = hit(&s1, tcp(), "10.96.122.45", 80);
    let b = hit(&s2, tcp(), "10.96.122.45", 80);
    assert!(Arc::ptr_eq(a.plan_arc(), b.plan_arc()));
    // The old snapshot is untouched.
    assert_eq!(
        all_backends(hit(&s1, tcp(), "10.96.47.182", 80).plan()).len(),
        3
    );
    assert_eq!(
        all_backends(hit(&s2, tcp(), "10.96.47.182", 80).plan()).len(),
        2
    );
}

/// An undone change, or endpoint churn no plan sees (a headless Service's endpoints), leaves
/// the plans shared and makes no new snapshot (found by review: both made a new generation).
#[test]
fn changes_that_leave_every_plan_as_it_was_make_no_new_snapshot() {
    let mut c = seed_catalog(0);
    let s1 = c.compile();
    let pricing = id("production", "pricing-engine-svc");
    let original = c.service(&pricing).unwrap().clone();
    let mut changed = original.clone();
    changed.ports[0].port = 8081;
    c.upsert_service(changed).unwrap();
    c.upsert_service(original).unwrap();
    let s2 = c.compile();
    assert!(Arc::ptr_eq(
        s1.service(&pricing).unwrap(),
        s2.service(&pricing).unwrap()
    ));
    assert!(Arc::ptr_eq(&s1, &s2));
    let redis = id("production", "redis");
    let mut slices = c.endpoints(&redis).unwrap().to_vec();
    slices[0].endpoints.pop();
    c.replace_endpoints(&redis, slices).unwrap();
    let s3 = c.compile();
    assert!(Arc::ptr_eq(&s1, &s3), "generation {}", s3.generation());
    // A real change still makes one.
    let mut svc = c.service(&pricing).unwrap().clone();
    svc.ports[0].port = 8081;
    c.upsert_service(svc).unwrap();
    assert_eq!(c.compile().generation(), s1.generation() + 1);
}

/// A rebuild that leaves a pool's addresses as they were reuses its Maglev table; a rebuild
/// that leaves the whole plan as it was keeps the plan and the snapshot; an upsert or replace
/// equal to the stored object marks nothing.
#[test]
fn tables_survive_changes_that_keep_the_pool() {
    let mut c = seed_catalog(0);
    let s1 = c.compile();
    let pricing = id("production", "pricing-engine-svc");
    // Same endpoints, one gets a hostname (DNS only): the rebuilt plan equals the old one,
    // which stays shared, and so does the snapshot.
    let mut slices = c.endpoints(&pricing).unwrap().to_vec();
    slices[0].endpoints[0].hostname = Some("p0".into());
    c.replace_endpoints(&pricing, slices).unwrap();
    assert!(c.has_changes());
    assert!(Arc::ptr_eq(&s1, &c.compile()), "no plan changed");
    // One gets another zone: the plan is rebuilt, the table is kept.
    let mut slices = c.endpoints(&pricing).unwrap().to_vec();
    slices[0].endpoints[0].zone = Some("elsewhere".into());
    c.replace_endpoints(&pricing, slices).unwrap();
    let s2 = c.compile();
    let (p1, p2) = (
        hit(&s1, tcp(), "10.96.47.182", 80),
        hit(&s2, tcp(), "10.96.47.182", 80),
    );
    assert!(!Arc::ptr_eq(p1.plan_arc(), p2.plan_arc()));
    assert!(Arc::ptr_eq(
        p1.plan().pool(Pool::Cluster).maglev().unwrap(),
        p2.plan().pool(Pool::Cluster).maglev().unwrap()
    ));
    // Re-sending identical objects changes nothing.
    let svc = c.service(&pricing).unwrap().clone();
    let slices = c.endpoints(&pricing).unwrap().to_vec();
    c.upsert_service(svc).unwrap();
    c.replace_endpoints(&pricing, slices).unwrap();
    assert!(!c.has_changes());
    assert!(Arc::ptr_eq(&s2, &c.compile()));
}

// ------------------------------------------------------------------------------------------
// Rejections change nothing.

fn listing(snap: &Snapshot) -> String {
    snap.to_string()
}

/// Applies `op` to a compiled seed catalog, expects it refused, and checks the next compile
/// lists exactly what the previous one did.
fn refused(op: impl FnOnce(&mut Catalog) -> Result<(), Error>) -> Error {
    let mut c = seed_catalog(0);
    let before = c.compile();
    let err = op(&mut c).unwrap_err();
    assert!(!c.has_changes(), "{err}");
    let after = c.compile();
    assert!(Arc::ptr_eq(&before, &after));
    // And against a fresh catalog that never saw the call.
    assert_eq!(listing(&after), listing(&seed_catalog(0).compile()));
    err
}

#[test]
fn rejected_invalid_service_changes_nothing() {
    let err = refused(|c| {
        let mut svc = c
            .service(&id("production", "order-api-lb"))
            .unwrap()
            .clone();
        svc.ports[1].port = 0;
        c.upsert_service(svc)
    });
    let Error::Invalid(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.object, id("production", "order-api-lb"));
    assert_eq!(e.field, "spec.ports[1].port");
    assert!(err.to_string().contains("order-api-lb"));
}

#[test]
fn rejected_maglev_size_changes_nothing() {
    let err = refused(|c| {
        let mut svc = c.service(&id("default", "my-api")).unwrap().clone();
        svc.maglev_table_size = Some(262_139); // prime, but above maglev::MAX_TABLE_SIZE
        c.upsert_service(svc)
    });
    assert_eq!(err.validation().field, "spec.maglevTableSize");
}

#[test]
fn rejected_cluster_ip_conflict_changes_nothing() {
    let err = refused(|c| {
        let svc = Service {
            cluster_ips: ClusterIps::Assigned(vec![ip("10.96.47.182")]),
            ports: vec![ServicePort::tcp(81)],
            ..Service::new("default", "thief")
        };
        c.upsert_service(svc)
    });
    let Error::Conflict(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.field, "spec.clusterIPs[0]");
    assert_eq!(
        e.kind,
        ErrorKind::AlreadyAllocated {
            owner: Box::new(id("production", "pricing-engine-svc"))
        }
    );
}

#[test]
fn rejected_frontend_conflict_changes_nothing() {
    // An externalIP on the same (protocol, address, port) as another Service's LB frontend.
    let err = refused(|c| {
        let svc = Service {
            cluster_ips: ClusterIps::Assigned(vec![ip("10.96.200.2")]),
            ports: vec![ServicePort::tcp(443)],
            external_ips: vec![ip("198.51.100.7")],
            ..Service::new("default", "thief")
        };
        c.upsert_service(svc)
    });
    assert_eq!(err.validation().field, "spec.externalIPs[0]");
    assert!(matches!(err, Error::Conflict(_)));
    // An update of an existing Service that would collide keeps the old version.
    let err = refused(|c| {
        let mut svc = c.service(&id("default", "api-service")).unwrap().clone();
        svc.external_ips = vec![ip("198.51.100.7")];
        c.upsert_service(svc)
    });
    assert!(matches!(err, Error::Conflict(_)));
    // The same externalIP on another port is fine.
    let mut c = seed_catalog(0);
    let svc = Service {
        cluster_ips: ClusterIps::Assigned(vec![ip("10.96.200.2")]),
        ports: vec![ServicePort::tcp(8443)],
        external_ips: vec![ip("198.51.100.7")],
        ..Service::new("default", "neighbour")
    };
    c.upsert_service(svc).unwrap();
    let snap = c.compile();
    assert_eq!(
        hit(&snap, tcp(), "198.51.100.7", 8443).plan().service(),
        &id("default", "neighbour")
    );
    assert_eq!(
        hit(&snap, tcp(), "198.51.100.7", 443).plan().service(),
        &id("production", "order-api-lb")
    );
}

#[test]
fn rejected_health_check_node_port_conflict_changes_nothing() {
    let err = refused(|c| {
        let svc = Service {
            service_type: ServiceType::LoadBalancer,
            cluster_ips: ClusterIps::Assigned(vec![ip("10.96.200.3")]),
            ports: vec![ServicePort::tcp(80).node_port(30999)],
            external_traffic_policy: TrafficPolicy::Local,
            health_check_node_port: Some(30080),
            ..Service::new("default", "thief")
        };
        c.upsert_service(svc)
    });
    assert_eq!(err.validation().field, "spec.healthCheckNodePort");
}

#[test]
fn rejected_endpoints_change_nothing() {
    let err = refused(|c| {
        let bad = EndpointSlice {
            ports: vec![EndpointPort::new("http", tcp(), 8080)],
            endpoints: vec![Endpoint::new(ip("127.0.0.1"))],
            ..EndpointSlice::new("pricing-bad", IpFamily::V4)
        };
        c.replace_endpoints(&id("production", "pricing-engine-svc"), vec![bad])
    });
    let Error::Invalid(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.object_kind, ObjectKind::EndpointSlice);
    assert_eq!(e.object, id("production", "pricing-bad"));
    assert_eq!(e.field, "endpoints[0].addresses[0]");
}

/// More distinct addresses in one family than a Maglev table can index is refused.
#[test]
fn too_many_backends_are_refused() {
    let mut c = Catalog::new(NodeConfig::new("n")).unwrap();
    let sid = id("default", "huge");
    let slices: Vec<EndpointSlice> = (0..66u32)
        .map(|s| EndpointSlice {
            ports: vec![EndpointPort::new("", tcp(), 80)],
            endpoints: (0..1000u32)
                .map(|e| Endpoint::new(IpAddr::from((0x0A00_0000 + s * 1000 + e).to_be_bytes())))
                .collect(),
            ..EndpointSlice::new(format!("huge-{s}"), IpFamily::V4)
        })
        .collect();
    let err = c.replace_endpoints(&sid, slices).unwrap_err();
    let Error::Invalid(e) = &err else {
        panic!("{err}")
    };
    // The Service is named, not the slice that happened to cross the limit (the loader adds
    // one slice to those already stored: naming the last in name order blamed an old one).
    assert_eq!((e.object_kind, &e.object), (ObjectKind::Service, &sid));
    assert!(e.to_string().contains("over all its EndpointSlices"), "{e}");
    assert_eq!(
        e.kind,
        ErrorKind::TooMany {
            max: maglev::MAX_BACKENDS
        }
    );
    assert!(c.endpoints(&sid).is_none());
}

#[test]
fn invalid_node_config_is_refused() {
    let err = Catalog::new(NodeConfig::new("")).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)));
}

/// Removing a Service frees its claims: another Service may then take its cluster IP and
/// nodePort; its endpoints stay for when it comes back.
#[test]
fn removal_frees_claims() {
    let mut c = seed_catalog(0);
    let order = id("production", "order-api-svc");
    assert!(c.remove_service(&order));
    assert!(!c.remove_service(&order));
    let snap = c.compile();
    assert!(snap.service(&order).is_none());
    assert_eq!(
        snap.lookup(tcp(), ip("192.168.0.10"), 30080),
        Lookup::NotService
    );
    assert_eq!(
        snap.lookup(tcp(), ip("10.96.88.201"), 80),
        Lookup::UnallocatedServiceIp
    );
    let taker = Service {
        service_type: ServiceType::NodePort,
        cluster_ips: ClusterIps::Assigned(vec![ip("10.96.88.201")]),
        ports: vec![ServicePort::tcp(80).node_port(30080)],
        ..Service::new("default", "taker")
    };
    c.upsert_service(taker).unwrap();
    assert!(c.endpoints(&order).is_some());
    let snap = c.compile();
    assert_eq!(
        hit(&snap, tcp(), "192.168.0.10", 30080).plan().service(),
        &id("default", "taker")
    );
}

// ------------------------------------------------------------------------------------------
// Determinism and incremental = from scratch.

/// Every lookup-relevant fact of a snapshot, for comparisons: the listing plus each port's
/// Maglev tables.
fn fingerprint(snap: &Snapshot) -> (String, Vec<Vec<u16>>) {
    let mut tables = Vec::new();
    for plan in snap.services() {
        for port in plan.ports() {
            for pool in [Pool::Cluster, Pool::Local] {
                tables.push(
                    port.pool(pool)
                        .maglev()
                        .map_or(Vec::new(), |m| m.table().to_vec()),
                );
            }
        }
    }
    // The first line names the generation, which counts compiles.
    let text = snap.to_string();
    let body = text
        .split_once('\n')
        .map_or("", |(_, rest)| rest)
        .to_string();
    (body, tables)
}

/// Invariant 3: two catalogs fed the same objects in different orders (endpoints before
/// Services, reversed) compile to identical lookups and Maglev tables.
#[test]
fn catalogs_fed_in_different_orders_agree() {
    let a = seed_catalog(0).compile();
    let mut c = Catalog::new(seed::node(0)).unwrap();
    let mut cluster = seed::cluster();
    cluster.reverse();
    for s in &cluster {
        let mut slices = s.slices.clone();
        slices.reverse();
        for slice in &mut slices {
            slice.endpoints.reverse();
        }
        c.replace_endpoints(&s.service.id, slices).unwrap();
    }
    for s in cluster {
        c.upsert_service(s.service).unwrap();
    }
    let b = c.compile();
    assert_eq!(fingerprint(&a), fingerprint(&b));
    for (f, _) in a.frontends() {
        let (x, y) = match f.address {
            Some(addr) => (
                a.frontend(f.protocol, addr, f.port).unwrap(),
                b.frontend(f.protocol, addr, f.port).unwrap(),
            ),
            None => (
                a.node_port(f.protocol, f.family, f.port).unwrap(),
                b.node_port(f.protocol, f.family, f.port).unwrap(),
            ),
        };
        for h in 0..200u64 {
            let h = h.wrapping_mul(0x2545_F491_4F6C_DD1D);
            for pool in [Pool::Cluster, Pool::Local] {
                assert_eq!(x.plan().pick(pool, h), y.plan().pick(pool, h));
            }
        }
    }
}

/// A tiny deterministic generator for the property tests.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_service(r: &mut Lcg, i: u64) -> Service {
    let kind = r.below(3);
    let n_ports = 1 + r.below(2) as u16;
    let ports = (0..n_ports)
        .map(|p| {
            let port = ServicePort::tcp(80 + p * (1 + r.below(2) as u16)).named(format!("p{p}"));
            if kind > 0 {
                port.node_port(30000 + r.below(40) as u16)
            } else {
                port
            }
        })
        .collect();
    Service {
        service_type: [
            ServiceType::ClusterIp,
            ServiceType::NodePort,
            ServiceType::NodePort,
        ][kind as usize],
        cluster_ips: ClusterIps::Assigned(vec![IpAddr::from([10, 96, 0, r.below(30) as u8 + 1])]),
        ports,
        external_ips: if r.below(3) == 0 {
            vec![IpAddr::from([203, 0, 113, r.below(4) as u8 + 1])]
        } else {
            Vec::new()
        },
        ..Service::new("default", format!("s{i}"))
    }
}

fn random_slices(r: &mut Lcg) -> Vec<EndpointSlice> {
    let n = r.below(4);
    let endpoints = (0..n)
        .map(|_| {
            let cond = match r.below(4) {
                0 => Conditions::from_api(Some(false), Some(true), Some(true)),
                1 => Conditions::from_api(Some(false), Some(false), Some(false)),
                _ => Conditions::default(),
            };
            let node = if r.below(2) == 0 { "n" } else { "m" };
            Endpoint::new(IpAddr::from([10, 244, 0, r.below(8) as u8 + 1]))
                .on_node(node)
                .with_conditions(cond)
        })
        .collect();
    vec![EndpointSlice {
        ports: vec![
            EndpointPort::new("p0", tcp(), 8000 + r.below(3) as u16),
            EndpointPort::new("p1", tcp(), 9000),
        ],
        endpoints,
        ..EndpointSlice::new("s", IpFamily::V4)
    }]
}

/// Compiling after every random change gives the same snapshot as building the final state from
/// scratch in one compile.
#[test]
fn incremental_compiles_equal_a_fresh_build() {
    let mut r = Lcg(0xC0FFEE);
    let mut config = NodeConfig::new("n");
    config.node_ips = vec![ip("192.168.0.10")];
    for round in 0..20 {
        let mut c = Catalog::new(config.clone()).unwrap();
        for _ in 0..60 {
            let i = r.below(12);
            let sid = id("default", &format!("s{i}"));
            match r.below(4) {
                0 | 1 => {
                    let _ = c.upsert_service(random_service(&mut r, i));
                }
                2 => {
                    c.remove_service(&sid);
                }
                _ => {
                    c.replace_endpoints(&sid, random_slices(&mut r)).unwrap();
                }
            }
            if r.below(3) == 0 {
                c.compile();
            }
        }
        let incremental = c.compile();
        let mut fresh = Catalog::new(config.clone()).unwrap();
        for i in 0..12 {
            let sid = id("default", &format!("s{i}"));
            if let Some(svc) = c.service(&sid) {
                fresh.upsert_service(svc.clone()).unwrap();
            }
            if let Some(slices) = c.endpoints(&sid) {
                fresh.replace_endpoints(&sid, slices.to_vec()).unwrap();
            }
        }
        let fresh = fresh.compile();
        assert_eq!(
            fingerprint(&incremental),
            fingerprint(&fresh),
            "round {round}"
        );
        // And every lookup agrees, found through the index.
        for (f, _) in fresh.frontends() {
            let Some(addr) = f.address else { continue };
            assert_eq!(
                incremental
                    .frontend(f.protocol, addr, f.port)
                    .map(|x| x.plan().service()),
                fresh
                    .frontend(f.protocol, addr, f.port)
                    .map(|x| x.plan().service())
            );
        }
        assert_eq!(incremental.frontend_count(), fresh.frontend_count());
    }
}

/// Lookups at scale: 20,000 Services all found, through many compiles of single changes.
#[test]
fn many_services_are_all_found() {
    let mut c = Catalog::new(NodeConfig::new("n")).unwrap();
    let mut expect: HashMap<(IpAddr, u16), String> = HashMap::new();
    for i in 0..20_000u32 {
        let addr = IpAddr::from([10, 96 + (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let svc = Service {
            cluster_ips: ClusterIps::Assigned(vec![addr]),
            ports: vec![ServicePort::tcp(80)],
            ..Service::new("bulk", format!("s{i}"))
        };
        c.upsert_service(svc).unwrap();
        expect.insert((addr, 80), format!("s{i}"));
    }
    let snap = c.compile();
    for ((addr, port), name) in &expect {
        assert_eq!(
            &snap
                .frontend(tcp(), *addr, *port)
                .unwrap()
                .plan()
                .service()
                .name,
            name
        );
    }
    assert_eq!(snap.frontend_count(), 20_000);
    for i in 0..50u32 {
        c.remove_service(&id("bulk", &format!("s{i}")));
        let snap = c.compile();
        assert!(snap
            .frontend(tcp(), IpAddr::from([10, 96, 0, i as u8]), 80)
            .is_none());
        assert_eq!(snap.frontend_count(), 20_000 - 1 - i as usize);
    }
}

#[test]
fn snapshots_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Snapshot>();
    check::<Arc<Snapshot>>();
    check::<Catalog>();
}

/// The listing shows services, frontends, endpoints with their state and pools.
#[test]
fn listing_reads_like_kubectl_get_endpoints() {
    let snap = seed_catalog(0).compile();
    let text = snap.to_string();
    assert!(text.starts_with("snapshot 1 of node node-eu-west-1a: 12 services, 18 frontends\n"));
    assert!(text.contains("production/redis ClusterIP (no packet rules"));
    assert!(text.contains(
        "production/order-api-lb LoadBalancer externalTrafficPolicy=Local healthCheckNodePort=32123 localReady=1"
    ));
    assert!(text.contains("[198.51.100.7:80 TCP/IPv4 LoadBalancer]"));
    assert!(text.contains("[*:31204 TCP/IPv4 NodePort]"));
    assert!(text.contains("10.244.2.22:3000(serving,terminating)"));
    assert!(text.contains("10.244.1.20:3000(ready,serving,local)"));
    assert!(text.contains(
        "billing/payments ClusterIP\n  port http 80/TCP IPv4 REJECT (no usable endpoints)"
    ));
    assert!(text.contains("10.244.3.40:8080(not-ready)"));
}

/// `frontend_burst` answers exactly as `frontend` does, query by query: hits of every kind,
/// misses (wrong port, protocol, address, family), bursts longer than the limit and output
/// buffers shorter than the queries.
#[test]
fn frontend_burst_answers_as_frontend_does() {
    use crate::snapshot::{FrontendQuery, FRONTEND_BURST};
    let mut c = seed_catalog(0);
    for i in 0..3_000u32 {
        let addr = IpAddr::from([10, 97, (i >> 8) as u8, i as u8]);
        let svc = Service {
            cluster_ips: ClusterIps::Assigned(vec![addr]),
            ports: vec![ServicePort::tcp(80 + (i % 3) as u16)],
            ..Service::new("burst", format!("s{i}"))
        };
        c.upsert_service(svc).unwrap();
    }
    let snap = c.compile();
    // Every frontend the snapshot lists, plus near misses of each.
    let mut queries = Vec::new();
    for (f, _) in snap.frontends() {
        let Some(a) = f.address else { continue };
        queries.push(FrontendQuery {
            protocol: f.protocol,
            address: a,
            port: f.port,
        });
        queries.push(FrontendQuery {
            protocol: f.protocol,
            address: a,
            port: f.port ^ 1,
        });
        let other = if f.protocol == Protocol::Tcp {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        queries.push(FrontendQuery {
            protocol: other,
            address: a,
            port: f.port,
        });
        let shifted = match a {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) ^ 0x100).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) ^ 0x100).into()),
        };
        queries.push(FrontendQuery {
            protocol: f.protocol,
            address: shifted,
            port: f.port,
        });
        let mapped = match a {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            IpAddr::V6(_) => a,
        };
        queries.push(FrontendQuery {
            protocol: f.protocol,
            address: mapped,
            port: f.port,
        });
    }
    assert!(queries.len() > 15_000);
    let hits = queries
        .iter()
        .filter(|q| snap.frontend(q.protocol, q.address, q.port).is_some())
        .count();
    assert!(hits > 3_000, "{hits}");
    let mut out = [None; FRONTEND_BURST];
    let mut checked = 0;
    for (round, chunk) in queries.chunks(FRONTEND_BURST + 5).enumerate() {
        // Vary the output length: shorter than, equal to and longer than the burst limit.
        let want = chunk.len().min(FRONTEND_BURST).min(64 - round % 7);
        let n = snap.frontend_burst(chunk, &mut out[..want]);
        assert_eq!(n, want);
        for (q, got) in chunk.iter().zip(&out[..n]) {
            assert_eq!(*got, snap.frontend(q.protocol, q.address, q.port), "{q:?}");
            checked += 1;
        }
    }
    assert!(checked > 10_000);
    assert_eq!(snap.frontend_burst(&[], &mut out), 0);
    assert_eq!(snap.frontend_burst(&queries, &mut []), 0);
}

/// The size of the Maglev table of Service `id`'s first port's cluster pool in `s`.
fn first_port_table_size(s: &Snapshot, id: &ObjectRef) -> u32 {
    s.service(id).unwrap().ports[0]
        .cluster
        .maglev
        .as_ref()
        .unwrap()
        .size()
}

/// A pinned Maglev size smaller than the backend set cannot hold it: the catalog uses the
/// default size for that set instead (documented on `Service::maglev_table_size`), and the
/// pinned size again once the set fits.
#[test]
fn a_pinned_maglev_size_too_small_for_the_backends_falls_back_to_the_default() {
    let svc = Service {
        cluster_ips: ClusterIps::Assigned(vec![ip("10.96.0.1")]),
        ports: vec![ServicePort::tcp(80)],
        maglev_table_size: Some(7),
        ..Service::new("default", "web")
    };
    let slice = |n: u8| EndpointSlice {
        ports: vec![EndpointPort::new("", Protocol::Tcp, 8080)],
        endpoints: (1..=n)
            .map(|i| Endpoint::new(ip(&format!("10.244.0.{i}"))))
            .collect(),
        ..EndpointSlice::new("s", IpFamily::V4)
    };
    let mut c = Catalog::new(NodeConfig::new("n")).unwrap();
    c.upsert_service(svc.clone()).unwrap();
    for (n, want) in [(5, 7), (7, 7), (8, 1_021), (12, 2_039), (3, 7)] {
        c.replace_endpoints(&svc.id, vec![slice(n)]).unwrap();
        assert_eq!(
            first_port_table_size(&c.compile(), &svc.id),
            want,
            "{n} backends"
        );
    }
}

#[test]
fn a_changed_maglev_table_size_rebuilds_the_table() {
    // The old plan's tables are reused only at the size the Service asks for now: changing
    // maglev_table_size (and back) gives the table a fresh catalog builds for the same objects.
    let mut svc = Service {
        cluster_ips: ClusterIps::Assigned(vec![ip("10.96.0.1")]),
        ports: vec![ServicePort::tcp(80)],
        ..Service::new("default", "web")
    };
    let slice = EndpointSlice {
        ports: vec![EndpointPort::new("", Protocol::Tcp, 8080)],
        endpoints: vec![
            Endpoint::new(ip("10.244.0.1")),
            Endpoint::new(ip("10.244.0.2")),
        ],
        ..EndpointSlice::new("s", IpFamily::V4)
    };
    let mut c = Catalog::new(NodeConfig::new("n")).unwrap();
    c.upsert_service(svc.clone()).unwrap();
    c.replace_endpoints(&svc.id, vec![slice.clone()]).unwrap();
    assert_eq!(first_port_table_size(&c.compile(), &svc.id), 251);
    for (pinned, want) in [(Some(65_537), 65_537), (None, 251), (Some(1_009), 1_009)] {
        svc.maglev_table_size = pinned;
        c.upsert_service(svc.clone()).unwrap();
        let snap = c.compile();
        assert_eq!(first_port_table_size(&snap, &svc.id), want, "{pinned:?}");
        // What a fresh catalog builds from the same objects.
        let mut fresh = Catalog::new(NodeConfig::new("n")).unwrap();
        fresh.upsert_service(svc.clone()).unwrap();
        fresh
            .replace_endpoints(&svc.id, vec![slice.clone()])
            .unwrap();
        let fresh = fresh.compile();
        let table = |s: &Snapshot| {
            s.service(&svc.id).unwrap().ports[0]
                .cluster
                .maglev
                .as_ref()
                .unwrap()
                .table()
                .to_vec()
        };
        assert_eq!(table(&snap), table(&fresh), "{pinned:?}");
    }
}

/// Another proxy's Service: its health check is that proxy's, so the plan advertises none
/// (kube-proxy never sees the Service; found by a review).
#[test]
fn a_foreign_plan_has_no_health_check_node_port() {
    let mut c = seed_catalog(0);
    let mut s = c
        .service(&id("production", "order-api-lb"))
        .unwrap()
        .clone();
    assert!(s.health_check_node_port.is_some());
    s.service_proxy_name = Some("other".into());
    c.upsert_service(s).unwrap();
    let snap = c.compile();
    let plan = snap.service(&id("production", "order-api-lb")).unwrap();
    assert!(plan.is_foreign() && !plan.is_proxied());
    assert_eq!(plan.health_check_node_port(), None);
}
