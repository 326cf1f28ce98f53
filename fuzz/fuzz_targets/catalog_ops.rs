//! Arbitrary sequences of catalog operations, checked against a simple reference model.
//!
//! Services are generated from small pools of names, cluster IPs, external/LB IPs, ports and
//! nodePorts, so that collisions happen often. Each operation is applied to the catalog and to
//! the model (a `BTreeMap` per object kind); the model decides independently what should be
//! reachable after each compile:
//!
//! - an upsert the catalog accepts must be valid (`Service::validate`) and free of conflicts by
//!   the model's own account (cluster IPs, nodePort numbers and (protocol, address, port)
//!   frontends held by another Service); one it refuses must be invalid or conflicting, with the
//!   matching error kind, and must change nothing;
//! - after every compile, the snapshot's frontends are exactly the model's: every expected
//!   (protocol, address, port) and NodePort is found, of the expected kind, for the expected
//!   Service port and family; no other frontend exists; each port's cluster and local pools hold
//!   exactly the endpoints SEMANTICS.md §3 selects (Ready, else serving+terminating; local ones
//!   for the local pool), the reject flag is set exactly when no endpoint is usable, and Maglev
//!   picks land in the pool;
//! - broken EndpointSlices (an address of the other family, a repeated port name, a bad name)
//!   are refused and change nothing; headless and ExternalName Services get no frontend;
//! - every address of the pools has frontends (`has_frontends_at`) exactly when the model puts
//!   one there;
//! - the incremental snapshot equals one compiled from scratch, in a new catalog, from the
//!   model's objects: the same listing, the same Maglev table for every pool, the same answers
//!   for every pool address; and a compile with no change returns the previous snapshot;
//! - nothing panics.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use svcplane::catalog::{Catalog, Error};
use svcplane::model::{
    ClusterIps, Conditions, Endpoint, EndpointPort, EndpointSlice, IpFamily, IpMode,
    LoadBalancerIngress, NodeConfig, ObjectRef, Protocol, Service, ServicePort, ServiceType,
    TrafficPolicy,
};
use svcplane::select::Pool;
use svcplane::snapshot::{FrontendKind, Lookup, Snapshot};

const NAMES: u8 = 5;
const NODE: &str = "node-a";

#[derive(Arbitrary, Debug)]
enum Op {
    Upsert(SvcSpec),
    Remove(u8),
    Endpoints(u8, Vec<SliceSpec>),
    /// Endpoints broken in one of a few ways: refused, with nothing changed.
    BadEndpoints(u8, u8, Vec<SliceSpec>),
    Compile,
}

#[derive(Arbitrary, Debug)]
struct SvcSpec {
    name: u8,
    kind: u8,
    cluster_ip: u8,
    dual_stack: bool,
    ports: Vec<PortSpec>,
    external_ips: Vec<u8>,
    lb_ips: Vec<(u8, bool)>,
    external_local: bool,
    internal_local: bool,
    /// Labelled for another proxy (`service-proxy-name`): no packet rules on this node.
    foreign: bool,
    /// healthCheckNodePort, from a pool that overlaps the nodePorts' (conflicts happen).
    hc_port: u8,
}

#[derive(Arbitrary, Debug)]
struct PortSpec {
    port: u8,
    protocol: u8,
    node_port: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct SliceSpec {
    v6: bool,
    ports: Vec<(u8, u8, u8)>,
    endpoints: Vec<EndpointSpec>,
}

#[derive(Arbitrary, Debug)]
struct EndpointSpec {
    addr: u8,
    ready: bool,
    serving: bool,
    terminating: bool,
    local: bool,
}

fn protocol(x: u8) -> Protocol {
    [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][usize::from(x % 3)]
}

fn name(x: u8) -> String {
    format!("svc-{}", x % NAMES)
}

fn id(x: u8) -> ObjectRef {
    ObjectRef::new("fuzz", name(x))
}

/// The shared pool externalIPs and LB IPs come from (one of them is also a cluster IP).
fn shared_ip(x: u8) -> IpAddr {
    match x % 5 {
        0 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
        1 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
        2 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        3 => IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1)),
        _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    }
}

fn build_service(s: &SvcSpec) -> Service {
    // Kinds 3 and 4: headless and ExternalName, which get no packet rules (SEMANTICS §1).
    let service_type = [
        ServiceType::ClusterIp,
        ServiceType::NodePort,
        ServiceType::LoadBalancer,
        ServiceType::ClusterIp,
        ServiceType::ExternalName,
    ][usize::from(s.kind % 5)];
    let (headless, external_name) = (s.kind % 5 == 3, s.kind % 5 == 4);
    let mut cluster_ips = vec![IpAddr::V4(Ipv4Addr::new(10, 96, 0, 1 + s.cluster_ip % 6))];
    if s.dual_stack {
        cluster_ips.push(IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0x96,
            0,
            0,
            0,
            0,
            0,
            1 + u16::from(s.cluster_ip % 4),
        )));
    }
    let ports = s
        .ports
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, p)| ServicePort {
            node_port: p.node_port.map(|n| 30000 + u16::from(n % 6)),
            ..ServicePort::new(protocol(p.protocol), 80 + u16::from(p.port % 3))
                .named(format!("p{i}"))
        })
        .collect();
    let lb = service_type == ServiceType::LoadBalancer;
    let external_local = s.external_local && service_type != ServiceType::ClusterIp;
    Service {
        service_type,
        cluster_ips: if headless {
            ClusterIps::Headless
        } else if external_name {
            ClusterIps::Unset
        } else {
            ClusterIps::Assigned(cluster_ips)
        },
        external_name: external_name.then(|| "db.example.com".to_string()),
        ports,
        external_ips: s
            .external_ips
            .iter()
            .take(2)
            .map(|x| shared_ip(*x))
            .collect(),
        load_balancer_ingress: if lb {
            s.lb_ips
                .iter()
                .take(2)
                .map(|(x, proxy)| LoadBalancerIngress {
                    ip: shared_ip(*x),
                    ip_mode: if *proxy { IpMode::Proxy } else { IpMode::Vip },
                })
                .collect()
        } else {
            Vec::new()
        },
        external_traffic_policy: if external_local {
            TrafficPolicy::Local
        } else {
            TrafficPolicy::Cluster
        },
        internal_traffic_policy: if s.internal_local {
            TrafficPolicy::Local
        } else {
            TrafficPolicy::Cluster
        },
        health_check_node_port: (lb && external_local).then(|| 30000 + u16::from(s.hc_port % 8)),
        service_proxy_name: s.foreign.then(|| "other".to_string()),
        ..Service::new("fuzz", name(s.name))
    }
}

/// One slice per family at most; endpoint addresses are distinct within a slice; slice port
/// names are distinct.
fn build_slices(specs: &[SliceSpec]) -> Vec<EndpointSlice> {
    let mut out: Vec<EndpointSlice> = Vec::new();
    for s in specs.iter().take(2) {
        let family = if s.v6 { IpFamily::V6 } else { IpFamily::V4 };
        if out.iter().any(|o| o.family == family) {
            continue;
        }
        let mut ports: Vec<EndpointPort> = Vec::new();
        for (n, p, port) in s.ports.iter().take(3) {
            let port_name = format!("p{}", n % 3);
            if ports.iter().any(|x| x.name == port_name) {
                continue;
            }
            ports.push(EndpointPort {
                name: port_name,
                protocol: protocol(*p),
                port: Some(8000 + u16::from(port % 3)),
            });
        }
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for e in s.endpoints.iter().take(6) {
            let addr = if s.v6 {
                IpAddr::V6(Ipv6Addr::new(
                    0xfd00,
                    0x244,
                    0,
                    0,
                    0,
                    0,
                    0,
                    1 + u16::from(e.addr % 6),
                ))
            } else {
                IpAddr::V4(Ipv4Addr::new(10, 244, 0, 1 + e.addr % 6))
            };
            if endpoints.iter().any(|x| x.address == addr) {
                continue;
            }
            endpoints.push(
                Endpoint::new(addr)
                    .on_node(if e.local { NODE } else { "node-b" })
                    .with_conditions(Conditions::from_api(
                        Some(e.ready),
                        Some(e.serving),
                        Some(e.terminating),
                    )),
            );
        }
        out.push(EndpointSlice {
            name: format!("slice-{}", if s.v6 { "v6" } else { "v4" }),
            family,
            ports,
            endpoints,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The reference model.

type VipKey = (Protocol, IpAddr, u16);

/// What a Service claims, by the model's own reading of the rules.
struct ModelClaims {
    cluster_ips: BTreeSet<IpAddr>,
    node_ports: BTreeSet<u16>,
    /// (protocol, address, port) → (kind, port index, family).
    vips: BTreeMap<VipKey, (FrontendKind, usize, IpFamily)>,
    /// (protocol, family, nodePort) → port index.
    node_port_frontends: BTreeMap<(Protocol, IpFamily, u16), usize>,
}

fn model_claims(s: &Service) -> ModelClaims {
    let ips = match &s.cluster_ips {
        ClusterIps::Assigned(ips) => ips.clone(),
        _ => Vec::new(),
    };
    let fam = |ip: &IpAddr| {
        if ip.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    };
    let mut c = ModelClaims {
        cluster_ips: ips.iter().copied().collect(),
        // Only NodePort and LoadBalancer Services allocate their nodePorts: an ExternalName
        // Service may carry one (the API server stores it as given), which claims nothing.
        node_ports: s
            .ports
            .iter()
            .filter(|_| {
                matches!(
                    s.service_type,
                    ServiceType::NodePort | ServiceType::LoadBalancer
                )
            })
            .filter_map(|p| p.node_port)
            .chain(s.health_check_node_port)
            .collect(),
        vips: BTreeMap::new(),
        node_port_frontends: BTreeMap::new(),
    };
    if s.service_proxy_name.is_some() {
        // Another proxy's Service: its cluster IPs and nodePorts are allocated cluster-wide,
        // but this node programs (and claims) no frontend of it.
        return c;
    }
    for family in ips.iter().map(fam) {
        for (i, p) in s.ports.iter().enumerate() {
            // Precedence within one Service: cluster IP, then LB IP, then externalIP.
            let mut candidates: Vec<(IpAddr, FrontendKind)> = Vec::new();
            candidates.extend(ips.iter().map(|ip| (*ip, FrontendKind::ClusterIp)));
            candidates.extend(
                s.load_balancer_ingress
                    .iter()
                    .filter(|i| i.ip_mode == IpMode::Vip)
                    .map(|i| (i.ip, FrontendKind::LoadBalancer)),
            );
            candidates.extend(
                s.external_ips
                    .iter()
                    .map(|ip| (*ip, FrontendKind::ExternalIp)),
            );
            for (ip, kind) in candidates {
                if fam(&ip) == family {
                    c.vips
                        .entry((p.protocol, ip, p.port))
                        .or_insert((kind, i, family));
                }
            }
            if let Some(np) = p.node_port {
                c.node_port_frontends.insert((p.protocol, family, np), i);
            }
        }
    }
    c
}

#[derive(Default)]
struct Model {
    services: BTreeMap<String, Service>,
    endpoints: BTreeMap<String, Vec<EndpointSlice>>,
}

impl Model {
    /// The Service (other than `me`) holding something `claims` wants.
    fn conflict(&self, me: &str, claims: &ModelClaims) -> bool {
        self.services
            .iter()
            .filter(|(n, _)| n.as_str() != me)
            .any(|(_, other)| {
                let o = model_claims(other);
                !o.cluster_ips.is_disjoint(&claims.cluster_ips)
                    || !o.node_ports.is_disjoint(&claims.node_ports)
                    || o.vips.keys().any(|k| claims.vips.contains_key(k))
            })
    }
}

/// Expected pools of one Service port in one family: (cluster, local, any usable).
fn expected_pools(
    slices: &[EndpointSlice],
    port: &ServicePort,
    family: IpFamily,
) -> (BTreeSet<SocketAddr>, BTreeSet<SocketAddr>, bool) {
    let mut all: Vec<(SocketAddr, Conditions, bool)> = Vec::new();
    for s in slices.iter().filter(|s| s.family == family) {
        let Some(p) = s
            .ports
            .iter()
            .find(|p| p.name == port.name && p.protocol == port.protocol)
            .and_then(|p| p.port)
        else {
            continue;
        };
        for e in &s.endpoints {
            all.push((
                SocketAddr::new(e.address, p),
                e.conditions,
                e.node_name.as_deref() == Some(NODE),
            ));
        }
    }
    let ready = |c: &Conditions| c.contains(Conditions::READY);
    let term = |c: &Conditions| {
        !c.contains(Conditions::READY)
            && c.contains(Conditions::SERVING)
            && c.contains(Conditions::TERMINATING)
    };
    let pick = |local_only: bool| -> BTreeSet<SocketAddr> {
        let r: BTreeSet<_> = all
            .iter()
            .filter(|(_, c, l)| ready(c) && (!local_only || *l))
            .map(|(a, _, _)| *a)
            .collect();
        if !r.is_empty() {
            return r;
        }
        all.iter()
            .filter(|(_, c, l)| term(c) && (!local_only || *l))
            .map(|(a, _, _)| *a)
            .collect()
    };
    let usable = all.iter().any(|(_, c, _)| ready(c) || term(c));
    (pick(false), pick(true), usable)
}

/// Every address the generator uses for cluster IPs, externalIPs and LB IPs, and the node's.
fn pool_addresses() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = (0..5).map(shared_ip).collect();
    v.extend((1..=7).map(|i| IpAddr::V4(Ipv4Addr::new(10, 96, 0, i))));
    v.extend((1..=5).map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 0x96, 0, 0, 0, 0, 0, i))));
    v.push(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 10)));
    v
}

/// The snapshot compiled from scratch, in a new catalog, from the model's objects.
fn from_scratch(config: &NodeConfig, model: &Model) -> std::sync::Arc<Snapshot> {
    let mut fresh = Catalog::new(config.clone()).expect("valid config");
    for svc in model.services.values() {
        fresh
            .upsert_service(svc.clone())
            .expect("accepted once, accepted again");
    }
    for (n, slices) in &model.endpoints {
        fresh
            .replace_endpoints(&ObjectRef::new("fuzz", n.clone()), slices.clone())
            .expect("valid slices");
    }
    fresh.compile()
}

/// What must agree between two snapshots of the same objects: the listing, every pool's Maglev
/// table, and the answers for every pool address.
fn fingerprint(
    snap: &Snapshot,
    model: &Model,
) -> (String, Vec<Option<Vec<u16>>>, Vec<(bool, bool)>) {
    let mut tables = Vec::new();
    for svc in model.services.values() {
        if let Some(plan) = snap.service(&svc.id) {
            for port in plan.ports() {
                for pool in [Pool::Cluster, Pool::Local] {
                    tables.push(port.pool(pool).maglev().map(|m| m.table().to_vec()));
                }
            }
        }
    }
    let answers = pool_addresses()
        .into_iter()
        .map(|a| (snap.has_frontends_at(a), snap.is_service_destination(a)))
        .collect();
    // The listing without its first line, which names the snapshot's generation.
    let listing = snap.to_string();
    let body = listing
        .split_once('\n')
        .map_or("", |(_, rest)| rest)
        .to_string();
    (body, tables, answers)
}

fn check(snap: &Snapshot, model: &Model) {
    let mut expect_vips = 0usize;
    let mut expect_node_ports = 0usize;
    let mut services_seen = 0usize;
    for (n, svc) in &model.services {
        services_seen += 1;
        let claims = model_claims(svc);
        let slices = model.endpoints.get(n).map_or(&[][..], |v| v.as_slice());
        let plan_of = |found: Option<svcplane::snapshot::Frontend<'_>>,
                       kind: FrontendKind,
                       port_index: usize,
                       family: IpFamily,
                       what: &str| {
            let f = found.unwrap_or_else(|| panic!("{n}: missing {what}"));
            assert_eq!(f.kind(), kind, "{n}: {what}");
            let plan = f.plan();
            assert_eq!(&plan.service().name, n, "{what}");
            let port = &svc.ports[port_index];
            assert_eq!(plan.name(), port.name, "{what}");
            assert_eq!(plan.protocol(), port.protocol);
            assert_eq!(plan.family(), family);
            let (cluster, local, usable) = expected_pools(slices, port, family);
            let members = |pool: Pool| -> BTreeSet<SocketAddr> {
                plan.pool(pool)
                    .members()
                    .iter()
                    .map(|&i| plan.backends()[i as usize].socket_addr())
                    .collect()
            };
            assert_eq!(members(Pool::Cluster), cluster, "{n}: {what}: cluster pool");
            assert_eq!(members(Pool::Local), local, "{n}: {what}: local pool");
            assert_eq!(plan.rejects_new_connections(), !usable, "{n}: {what}");
            let internal = if svc.internal_traffic_policy == TrafficPolicy::Local {
                Pool::Local
            } else {
                Pool::Cluster
            };
            assert_eq!(plan.pool_use().internal, internal);
            if plan.pool_use().internal == Pool::Cluster && !cluster.is_empty() {
                for h in [0u64, 1, 0xdead_beef, u64::MAX] {
                    let b = plan.pick(Pool::Cluster, h).expect("a non-empty pool picks");
                    assert!(cluster.contains(&b.socket_addr()));
                }
            }
        };
        for ((proto, ip, port), (kind, i, family)) in &claims.vips {
            expect_vips += 1;
            plan_of(snap.frontend(*proto, *ip, *port), *kind, *i, *family, "vip");
            assert!(matches!(
                snap.lookup(*proto, *ip, *port),
                Lookup::Frontend(_)
            ));
        }
        for ((proto, family, np), i) in &claims.node_port_frontends {
            expect_node_ports += 1;
            plan_of(
                snap.node_port(*proto, *family, *np),
                FrontendKind::NodePort,
                *i,
                *family,
                "nodePort",
            );
        }
        // Headless and ExternalName Services have no packet rules, so no proxy, this node's or
        // another, programs them.
        let no_rules = !matches!(svc.cluster_ips, ClusterIps::Assigned(_));
        let foreign = svc.service_proxy_name.is_some() && !no_rules;
        let plan = snap.service(&svc.id).expect("every Service has a plan");
        assert_eq!(plan.is_foreign(), foreign, "{n}");
        assert_eq!(plan.is_proxied(), !foreign && !no_rules, "{n}");
        // A cluster IP on a port no Service defines is rejected; another proxy's passes.
        for ip in &claims.cluster_ips {
            if foreign {
                // Unless one of ours uses the address as an externalIP or LB IP on that port.
                if !model
                    .services
                    .values()
                    .any(|s| model_claims(s).vips.contains_key(&(Protocol::Tcp, *ip, 80)))
                {
                    assert!(matches!(
                        snap.lookup(Protocol::Tcp, *ip, 80),
                        Lookup::NotService
                    ));
                }
            } else if !model
                .services
                .values()
                .any(|s| model_claims(s).vips.contains_key(&(Protocol::Tcp, *ip, 1)))
            {
                assert!(matches!(
                    snap.lookup(Protocol::Tcp, *ip, 1),
                    Lookup::UndefinedPort(_)
                ));
            }
        }
    }
    // Frontend addresses, by the model.
    for addr in pool_addresses() {
        let expected = model
            .services
            .values()
            .any(|s| model_claims(s).vips.keys().any(|&(_, ip, _)| ip == addr));
        assert_eq!(snap.has_frontends_at(addr), expected, "{addr}");
    }
    assert_eq!(snap.service_count(), services_seen);
    assert_eq!(snap.frontend_count(), expect_vips + expect_node_ports);
    assert_eq!(snap.frontends().len(), expect_vips + expect_node_ports);
}

fuzz_target!(|ops: Vec<Op>| {
    let mut config = NodeConfig::new(NODE);
    config.node_ips = vec![IpAddr::V4(Ipv4Addr::new(192, 168, 0, 10))];
    config.maglev_seed = 42;
    let Ok(mut catalog) = Catalog::new(config.clone()) else {
        panic!("valid config refused");
    };
    let mut model = Model::default();
    let mut last = catalog.compile();
    let mut last_text = last.to_string();
    for op in ops.iter().take(64) {
        match op {
            Op::Upsert(spec) => {
                let svc = build_service(spec);
                let n = svc.id.name.clone();
                let valid = svc.validate(&config).is_ok();
                let conflict = model.conflict(&n, &model_claims(&svc));
                let had_changes = catalog.has_changes();
                match catalog.upsert_service(svc.clone()) {
                    Ok(()) => {
                        assert!(
                            valid && !conflict,
                            "accepted: valid {valid}, conflict {conflict}"
                        );
                        model.services.insert(n, svc);
                    }
                    Err(e) => {
                        assert_eq!(
                            catalog.has_changes(),
                            had_changes,
                            "a refusal changed nothing"
                        );
                        match e {
                            Error::Invalid(_) => assert!(!valid, "{e}"),
                            Error::Conflict(_) => assert!(valid && conflict, "{e}"),
                            other => panic!("{other}"),
                        }
                    }
                }
            }
            Op::Remove(x) => {
                let existed = catalog.remove_service(&id(*x));
                assert_eq!(existed, model.services.remove(&name(*x)).is_some());
            }
            Op::Endpoints(x, specs) => {
                let slices = build_slices(specs);
                match catalog.replace_endpoints(&id(*x), slices.clone()) {
                    Ok(()) => {
                        if slices.is_empty() {
                            model.endpoints.remove(&name(*x));
                        } else {
                            model.endpoints.insert(name(*x), slices);
                        }
                    }
                    Err(e) => panic!("generated slices are valid: {e}"),
                }
            }
            Op::BadEndpoints(x, how, specs) => {
                let mut slices = build_slices(specs);
                if slices.is_empty() {
                    slices.push(EndpointSlice::new("slice-v4", IpFamily::V4));
                }
                let s0 = &mut slices[0];
                match how % 3 {
                    // An address of the other family.
                    0 => s0
                        .endpoints
                        .push(Endpoint::new(if s0.family == IpFamily::V4 {
                            IpAddr::V6(Ipv6Addr::new(0xfd00, 0x244, 0, 0, 0, 0, 0, 9))
                        } else {
                            IpAddr::V4(Ipv4Addr::new(10, 244, 0, 9))
                        })),
                    // Two ports of one name.
                    1 => s0.ports.extend([
                        EndpointPort::new("dup", Protocol::Tcp, 9000),
                        EndpointPort::new("dup", Protocol::Tcp, 9001),
                    ]),
                    // An invalid slice name.
                    _ => s0.name = "Not_A_Name".to_string(),
                }
                let before = catalog.endpoints(&id(*x)).map(<[EndpointSlice]>::to_vec);
                let had_changes = catalog.has_changes();
                match catalog.replace_endpoints(&id(*x), slices) {
                    Err(Error::Invalid(_)) => {}
                    other => panic!("broken slices ({}): {other:?}", how % 3),
                }
                let after = catalog.endpoints(&id(*x)).map(<[EndpointSlice]>::to_vec);
                assert_eq!(after, before, "a refusal changed nothing");
                assert_eq!(catalog.has_changes(), had_changes);
            }
            Op::Compile => {
                let had_changes = catalog.has_changes();
                let snap = catalog.compile();
                check(&snap, &model);
                assert_eq!(
                    fingerprint(&snap, &model),
                    fingerprint(&from_scratch(&config, &model), &model),
                    "incremental and from-scratch snapshots differ"
                );
                if !had_changes {
                    assert!(
                        std::sync::Arc::ptr_eq(&snap, &last),
                        "no change, same snapshot"
                    );
                }
                // The previous snapshot is never changed by later operations.
                assert_eq!(last.to_string(), last_text);
                last_text = snap.to_string();
                last = snap;
            }
        }
    }
    let snap = catalog.compile();
    check(&snap, &model);
});
