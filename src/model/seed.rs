//! The seed cluster of `testdata/seed-cluster.json` and `seed-nodes.json`, built by hand.
//!
//! Twelve Services with their EndpointSlices, covering every shape the model must hold:
//! ClusterIP, headless, NodePort and LoadBalancer with externalTrafficPolicy Local,
//! loadBalancerSourceRanges, two ports sharing one targetPort, named targetPorts, ClientIP
//! affinity, ExternalName, a Service whose only endpoint is not ready, a terminating-but-serving
//! endpoint, and a dual-stack UDP+TCP Service with zone hints; and the three nodes it runs on.
//!
//! Available with the `std` feature (and in the crate's own tests). Consumers of the example
//! cluster (the quickstart, the integration tests in `tests/`, the fuzz targets) load
//! `testdata/seed-cluster.json` through the JSON loader (`crate::k8s`, feature `k8s-json`)
//! instead of [`cluster`]. This module stays, for two reasons:
//!
//! - it is the oracle the loader is checked against: a test of `k8s` proves the JSON loads to
//!   exactly these Services and slices, and to the same snapshot on every node;
//! - the crate's unit tests (`catalog`, `select`) use [`cluster`] and must run without
//!   `k8s-json`, down to `cargo test --no-default-features --features std --lib`.
//!
//! The loader reads no Node objects, so [`node`] (the nodes of `seed-nodes.json`, which is not
//! in this repository) is what every consumer uses for a node's configuration.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    Cidr, ClusterIps, Conditions, Endpoint, EndpointPort, EndpointSlice, IpFamily, IpFamilyPolicy,
    LoadBalancerIngress, NodeConfig, PortRange, Protocol, Service, ServicePort, ServiceType,
    SessionAffinity, TrafficPolicy,
};

/// The cluster's DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// The names of the cluster's three nodes, one per zone.
pub const NODE_NAMES: [&str; 3] = ["node-eu-west-1a", "node-eu-west-1b", "node-eu-west-1c"];

/// A Service of the seed cluster with its EndpointSlices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedService {
    /// The Service.
    pub service: Service,
    /// Its EndpointSlices (none for ExternalName Services).
    pub slices: Vec<EndpointSlice>,
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// `fd00:10:<g2>:<g3>::<last>`
fn v6(g2: u16, g3: u16, last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x10, g2, g3, 0, 0, 0, last))
}

/// Prefixes known to be well formed; none is ever dropped.
fn cidrs(list: &[(IpAddr, u8)]) -> Vec<Cidr> {
    list.iter()
        .filter_map(|(addr, len)| Cidr::new(*addr, *len).ok())
        .collect()
}

/// A ready, serving, non-terminating endpoint on node `node` (zone = the node's zone).
fn ready(addr: IpAddr, node: usize) -> Endpoint {
    let node = NODE_NAMES[node % NODE_NAMES.len()];
    let zone = node.trim_start_matches("node-");
    Endpoint::new(addr)
        .with_conditions(Conditions::from_api(Some(true), Some(true), Some(false)))
        .on_node(node)
        .in_zone(zone)
}

fn slice(
    name: &str,
    family: IpFamily,
    ports: Vec<EndpointPort>,
    endpoints: Vec<Endpoint>,
) -> EndpointSlice {
    EndpointSlice {
        name: name.into(),
        family,
        ports,
        endpoints,
    }
}

fn cluster_ip(namespace: &str, name: &str, ip: IpAddr) -> Service {
    Service {
        cluster_ips: ClusterIps::Assigned(vec![ip]),
        ip_families: vec![IpFamily::V4],
        ip_family_policy: Some(IpFamilyPolicy::SingleStack),
        ..Service::new(namespace, name)
    }
}

fn external_name(namespace: &str, name: &str, target: &str) -> SeedService {
    SeedService {
        service: Service {
            service_type: ServiceType::ExternalName,
            external_name: Some(target.into()),
            ..Service::new(namespace, name)
        },
        slices: Vec::new(),
    }
}

/// The order-api pods, behind both order-api Services: two ready, one terminating but serving.
fn order_api_endpoints() -> Vec<Endpoint> {
    vec![
        ready(v4(10, 244, 1, 20), 0),
        ready(v4(10, 244, 2, 21), 1),
        ready(v4(10, 244, 2, 22), 1).with_conditions(Conditions::from_api(
            Some(false),
            Some(true),
            Some(true),
        )),
    ]
}

/// Every Service of the seed cluster, in the file's order, with its slices.
pub fn cluster() -> Vec<SeedService> {
    let tcp = |name: &str, port| EndpointPort::new(name, Protocol::Tcp, port);
    vec![
        SeedService {
            service: Service {
                ports: vec![ServicePort::tcp(80).named("http").target(8080)],
                ..cluster_ip("production", "pricing-engine-svc", v4(10, 96, 47, 182))
            },
            slices: vec![slice(
                "pricing-engine-svc-7xk2p",
                IpFamily::V4,
                vec![tcp("http", 8080)],
                vec![
                    ready(v4(10, 244, 1, 8), 0),
                    ready(v4(10, 244, 2, 9), 1),
                    ready(v4(10, 244, 3, 4), 2),
                ],
            )],
        },
        SeedService {
            service: Service {
                service_type: ServiceType::NodePort,
                ports: vec![ServicePort::tcp(80)
                    .named("http")
                    .target(3000)
                    .node_port(30080)],
                external_traffic_policy: TrafficPolicy::Local,
                ..cluster_ip("production", "order-api-svc", v4(10, 96, 88, 201))
            },
            slices: vec![slice(
                "order-api-svc-q8w4d",
                IpFamily::V4,
                vec![tcp("http", 3000)],
                order_api_endpoints(),
            )],
        },
        SeedService {
            service: Service {
                service_type: ServiceType::LoadBalancer,
                ports: vec![
                    ServicePort::tcp(80)
                        .named("http")
                        .target(3000)
                        .node_port(31204),
                    ServicePort::tcp(443)
                        .named("https")
                        .target(3000)
                        .node_port(31205),
                ],
                external_traffic_policy: TrafficPolicy::Local,
                health_check_node_port: Some(32123),
                load_balancer_source_ranges: cidrs(&[(v4(203, 0, 113, 0), 24)]),
                // The ingress also names a hostname, which the packet path ignores.
                load_balancer_ingress: vec![LoadBalancerIngress::vip(v4(198, 51, 100, 7))],
                ..cluster_ip("production", "order-api-lb", v4(10, 96, 122, 45))
            },
            slices: vec![slice(
                "order-api-lb-m2n5v",
                IpFamily::V4,
                vec![tcp("http", 3000), tcp("https", 3000)],
                order_api_endpoints(),
            )],
        },
        external_name("production", "external-payments-gateway", "api.stripe.com"),
        SeedService {
            service: Service {
                ports: vec![
                    ServicePort::tcp(8080).named("http").target("http"),
                    ServicePort::tcp(9090).named("metrics").target("metrics"),
                ],
                ..cluster_ip("production", "monitoring-api-svc", v4(10, 96, 33, 91))
            },
            slices: vec![slice(
                "monitoring-api-svc-h4c9z",
                IpFamily::V4,
                vec![tcp("http", 8080), tcp("metrics", 9090)],
                vec![ready(v4(10, 244, 1, 12), 0), ready(v4(10, 244, 2, 5), 1)],
            )],
        },
        SeedService {
            service: Service {
                ports: vec![ServicePort::tcp(80).target(8080)],
                session_affinity: SessionAffinity::ClientIp {
                    timeout_seconds: 10_800,
                },
                ..cluster_ip("default", "my-api", v4(10, 96, 45, 100))
            },
            slices: vec![slice(
                "my-api-r5t7y",
                IpFamily::V4,
                vec![tcp("", 8080)],
                vec![ready(v4(10, 244, 1, 5), 0), ready(v4(10, 244, 2, 3), 1)],
            )],
        },
        SeedService {
            service: Service {
                ports: vec![ServicePort::tcp(80).target(8000)],
                ..cluster_ip("default", "api-service", v4(10, 96, 0, 80))
            },
            slices: vec![slice(
                "api-service-b3k8s",
                IpFamily::V4,
                vec![tcp("", 8000)],
                vec![ready(v4(10, 244, 1, 30), 0), ready(v4(10, 244, 3, 31), 2)],
            )],
        },
        external_name("default", "external-db", "db.example.com"),
        SeedService {
            service: Service {
                ports: vec![ServicePort::tcp(80).named("http").target(8080)],
                ..cluster_ip("billing", "payments", v4(10, 96, 100, 50))
            },
            slices: vec![slice(
                "payments-z9x8c",
                IpFamily::V4,
                vec![tcp("http", 8080)],
                vec![
                    ready(v4(10, 244, 3, 40), 2).with_conditions(Conditions::from_api(
                        Some(false),
                        Some(false),
                        Some(false),
                    )),
                ],
            )],
        },
        SeedService {
            service: Service {
                cluster_ips: ClusterIps::Headless,
                ip_families: vec![IpFamily::V4],
                ip_family_policy: Some(IpFamilyPolicy::SingleStack),
                ports: vec![ServicePort::tcp(6379).named("redis")],
                ..Service::new("production", "redis")
            },
            slices: vec![slice(
                "redis-p0p1q",
                IpFamily::V4,
                vec![tcp("redis", 6379)],
                vec![
                    ready(v4(10, 244, 1, 50), 0).with_hostname("redis-0"),
                    ready(v4(10, 244, 2, 51), 1).with_hostname("redis-1"),
                ],
            )],
        },
        external_name("default", "my-database", "mydb.rds.amazonaws.com"),
        kube_dns(),
    ]
}

/// kube-dns: dual-stack, UDP and TCP on port 53, every endpoint hinted for its own zone.
fn kube_dns() -> SeedService {
    let dns_ports = || {
        vec![
            EndpointPort::new("dns", Protocol::Udp, 53),
            EndpointPort::new("dns-tcp", Protocol::Tcp, 53),
        ]
    };
    let hinted = |addr, node: usize| {
        let endpoint = ready(addr, node);
        let zone = endpoint.zone.clone().unwrap_or_default();
        endpoint.hinted_for([zone])
    };
    SeedService {
        service: Service {
            cluster_ips: ClusterIps::Assigned(vec![v4(10, 96, 0, 10), v6(0x96, 0, 0xa)]),
            ip_families: vec![IpFamily::V4, IpFamily::V6],
            ip_family_policy: Some(IpFamilyPolicy::PreferDualStack),
            ports: vec![
                ServicePort::udp(53).named("dns"),
                ServicePort::tcp(53).named("dns-tcp"),
            ],
            ..Service::new("kube-system", "kube-dns")
        },
        slices: vec![
            slice(
                "kube-dns-v4abc",
                IpFamily::V4,
                dns_ports(),
                vec![
                    hinted(v4(10, 244, 1, 2), 0),
                    hinted(v4(10, 244, 2, 2), 1),
                    hinted(v4(10, 244, 3, 2), 2),
                ],
            ),
            slice(
                "kube-dns-v6abc",
                IpFamily::V6,
                dns_ports(),
                vec![
                    hinted(v6(0x244, 1, 2), 0),
                    hinted(v6(0x244, 2, 2), 1),
                    hinted(v6(0x244, 3, 2), 2),
                ],
            ),
        ],
    }
}

/// The node configuration of the seed cluster's node `index` (0, 1 or 2; others wrap around):
/// its name, zone and addresses, and the cluster's pod and service CIDRs and NodePort range.
pub fn node(index: usize) -> NodeConfig {
    let i = index % NODE_NAMES.len();
    // i < 3, so the octets below stay small.
    let offset = i as u8;
    let name = NODE_NAMES[i];
    NodeConfig {
        node_name: name.into(),
        zone: Some(name.trim_start_matches("node-").into()),
        node_ips: vec![v4(192, 168, 0, 10 + offset), v4(54, 123, 45, 67 + offset)],
        cluster_cidrs: cidrs(&[(v4(10, 244, 0, 0), 16), (v6(0x244, 0, 0), 56)]),
        service_cidrs: cidrs(&[(v4(10, 96, 0, 0), 12), (v6(0x96, 0, 0), 112)]),
        node_port_range: PortRange::new(30_000, 32_767),
        ..NodeConfig::default()
    }
}

/// The seed cluster's pod CIDR of node `index` (`10.244.<index + 1>.0/24`; others wrap around).
pub fn node_pod_cidr(index: usize) -> Cidr {
    // index % 3 < 3, so the octet stays small.
    let addr = v4(10, 244, (index % NODE_NAMES.len()) as u8 + 1, 0);
    Cidr::new(addr, 24).unwrap_or(Cidr::host(addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{backends_for, validate_slices, ClusterIps};

    #[test]
    fn every_seed_service_and_slice_validates_on_every_node() {
        let services = cluster();
        assert_eq!(services.len(), 12);
        for i in 0..NODE_NAMES.len() {
            let config = node(i);
            assert_eq!(config.validate(), Ok(()));
            assert!(config.cluster_cidrs.len() == 2 && config.service_cidrs.len() == 2);
            for seed in &services {
                let s = &seed.service;
                if let Err(e) = s.validate(&config) {
                    panic!("{e}");
                }
                if let Err(e) = validate_slices(&s.id.namespace, &seed.slices) {
                    panic!("{e}");
                }
            }
        }
    }

    #[test]
    fn seed_holds_every_shape() {
        let services = cluster();
        let count =
            |f: &dyn Fn(&Service) -> bool| services.iter().filter(|s| f(&s.service)).count();
        assert_eq!(count(&|s| s.service_type == ServiceType::ExternalName), 3);
        assert_eq!(count(&|s| s.cluster_ips == ClusterIps::Headless), 1);
        assert_eq!(count(&|s| s.service_type == ServiceType::NodePort), 1);
        assert_eq!(count(&|s| s.needs_health_check()), 1);
        assert_eq!(count(&|s| s.families().count() == 2), 1);
        assert_eq!(count(&|s| s.session_affinity != SessionAffinity::None), 1);
        assert_eq!(count(&|s| !s.load_balancer_source_ranges.is_empty()), 1);
        assert_eq!(node_pod_cidr(1).to_string(), "10.244.2.0/24");
        assert_eq!(node(2).node_ips[0].to_string(), "192.168.0.12");
        assert_eq!(node(2).zone.as_deref(), Some("eu-west-1c"));
    }

    #[test]
    fn seed_backends_resolve_named_and_shared_target_ports() {
        let services = cluster();
        let find = |name: &str| services.iter().find(|s| s.service.id.name == name).unwrap();
        let lb = find("order-api-lb");
        for port in &lb.service.ports {
            let backends = backends_for(&lb.slices, port, IpFamily::V4, NODE_NAMES[0]);
            assert_eq!(backends.len(), 3);
            assert!(backends.iter().all(|b| b.port == 3000));
        }
        let monitoring = find("monitoring-api-svc");
        let metrics = monitoring.service.port("metrics", Protocol::Tcp).unwrap();
        let backends = backends_for(&monitoring.slices, metrics, IpFamily::V4, "x");
        assert!(backends.iter().all(|b| b.port == 9090) && backends.len() == 2);
        let dns = find("kube-dns");
        let udp = dns.service.port("dns", Protocol::Udp).unwrap();
        assert_eq!(backends_for(&dns.slices, udp, IpFamily::V6, "x").len(), 3);
        let my_api = find("my-api");
        let backends = backends_for(&my_api.slices, &my_api.service.ports[0], IpFamily::V4, "x");
        assert_eq!(
            backends.len(),
            2,
            "unnamed port joins the slice's \"\" port"
        );
    }
}
