//! The Kubernetes Service and endpoint model, and its validation.
//!
//! These types carry what a Service and its EndpointSlices say, in the shape the Kubernetes API
//! gives them, with Kubernetes' defaults; [`Service::validate`] and [`EndpointSlice::validate`]
//! apply the API server's own rules (SEMANTICS.md §2, §6, §8). Validation is pure: it reads, and
//! a rejected object has changed nothing anywhere.
//!
//! Endpoints arrive as [`EndpointSlice`]s. The backend port of an endpoint for a Service port
//! comes from the slice, never from `targetPort`: slice ports are joined to Service ports by
//! (name, protocol), see [`EndpointSlice::port_for`] and [`backends_for`].
//!
//! Everything here is control path: it allocates freely and never runs per packet.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;
use core::net::{IpAddr, SocketAddr};

mod cidr;
mod names;
mod validate;

#[cfg(any(test, feature = "std"))]
pub mod seed;

pub use cidr::{Cidr, CidrError};
pub use names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_iana_service_name, is_label_value,
};
pub use validate::{validate_slices, ErrorKind, NameFormat, SpecialAddress, ValidationError};

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when it is not given: 3 hours.
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: u32 = 10_800;
/// The longest ClientIP affinity timeout the API accepts: 1 day.
pub const MAX_AFFINITY_TIMEOUT_SECONDS: u32 = 86_400;
/// The most endpoints one EndpointSlice may hold.
pub const MAX_SLICE_ENDPOINTS: usize = 1_000;
/// The most ports one EndpointSlice may hold.
pub const MAX_SLICE_PORTS: usize = 20_000;
/// The most zones one endpoint may be hinted for.
pub const MAX_ZONE_HINTS: usize = 8;
/// The most nodes one endpoint may be hinted for.
pub const MAX_NODE_HINTS: usize = 8;
/// The largest per-Service Maglev table size accepted: the largest table
/// [`crate::maglev`] builds ([`crate::maglev::MAX_TABLE_SIZE`], 131,071 slots, 256 KiB).
pub const MAX_MAGLEV_TABLE_SIZE: u32 = crate::maglev::MAX_TABLE_SIZE;

/// Names a namespaced object: a Service or an EndpointSlice. Nodes use an empty namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The namespace (`metadata.namespace`).
    pub namespace: String,
    /// The name (`metadata.name`).
    pub name: String,
}

impl ObjectRef {
    /// The reference to `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// What kind of object a [`ValidationError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A [`Service`].
    Service,
    /// An [`EndpointSlice`].
    EndpointSlice,
    /// The node configuration, [`NodeConfig`].
    Node,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Service => "Service",
            Self::EndpointSlice => "EndpointSlice",
            Self::Node => "Node",
        })
    }
}

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of `addr`. An IPv4-mapped IPv6 address is IPv6 here; the model's validation
    /// rejects such addresses wherever Kubernetes takes an IP. (The JSON loader, `k8s`, reads
    /// them as the IPv4 address before building the model, as kube-proxy does.)
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// The address width in bits: 32 or 128.
    pub fn bits(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        })
    }
}

/// A transport protocol a Service port may use. The default is TCP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (IP protocol 6).
    #[default]
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// SCTP (IP protocol 132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number (the IPv4 `protocol` / IPv6 `next header` value).
    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Sctp => 132,
        }
    }

    /// The protocol of IP protocol number `n`, if it is TCP, UDP or SCTP.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            6 => Some(Self::Tcp),
            17 => Some(Self::Udp),
            132 => Some(Self::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        })
    }
}

/// `spec.type`. The default is ClusterIP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ServiceType {
    /// Reachable on its cluster IP(s) only (plus any externalIPs).
    #[default]
    ClusterIp,
    /// ClusterIP plus a nodePort per port on every node.
    NodePort,
    /// NodePort plus the load balancer's ingress IPs.
    LoadBalancer,
    /// A DNS CNAME to `externalName`; no packet rules.
    ExternalName,
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClusterIp => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
            Self::ExternalName => "ExternalName",
        })
    }
}

/// `spec.internalTrafficPolicy` / `spec.externalTrafficPolicy`. The default is Cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrafficPolicy {
    /// Any usable endpoint in the cluster (subject to topology hints).
    #[default]
    Cluster,
    /// Only endpoints on this node.
    Local,
}

/// `spec.ipFamilyPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpFamilyPolicy {
    /// One family only.
    SingleStack,
    /// Both families when the cluster has both, else one.
    PreferDualStack,
    /// Both families.
    RequireDualStack,
}

impl fmt::Display for IpFamilyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SingleStack => "SingleStack",
            Self::PreferDualStack => "PreferDualStack",
            Self::RequireDualStack => "RequireDualStack",
        })
    }
}

/// `status.loadBalancer.ingress[].ipMode`. The default is VIP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IpMode {
    /// Packets arrive addressed to the LB IP; the node must answer on it.
    #[default]
    Vip,
    /// The load balancer proxies to the node; svcplane programs nothing for this IP.
    Proxy,
}

/// One `status.loadBalancer.ingress[]` entry that has an IP. Hostname-only entries carry nothing
/// for the packet path and are left out by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoadBalancerIngress {
    /// `ip`.
    pub ip: IpAddr,
    /// `ipMode`.
    pub ip_mode: IpMode,
}

impl LoadBalancerIngress {
    /// An ingress IP in VIP mode (the default, and what an absent `ipMode` means).
    pub fn vip(ip: IpAddr) -> Self {
        Self {
            ip,
            ip_mode: IpMode::Vip,
        }
    }
}

/// `spec.sessionAffinity` with its `sessionAffinityConfig`. The default is None.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SessionAffinity {
    /// Every new connection is balanced on its own.
    #[default]
    None,
    /// New connections from one client IP go to the same endpoint within the timeout.
    ClientIp {
        /// `sessionAffinityConfig.clientIP.timeoutSeconds`: 1–86400.
        timeout_seconds: u32,
    },
}

impl SessionAffinity {
    /// ClientIP affinity with the default timeout, 10800 s.
    pub fn client_ip() -> Self {
        Self::ClientIp {
            timeout_seconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS,
        }
    }

    /// The timeout for ClientIP affinity, `None` without affinity.
    pub fn timeout_seconds(self) -> Option<u32> {
        match self {
            Self::None => None,
            Self::ClientIp { timeout_seconds } => Some(timeout_seconds),
        }
    }
}

/// `spec.ports[].targetPort`. svcplane does not use it on the packet path (the EndpointSlice
/// ports say where traffic goes); it is kept for validation and for callers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TargetPort {
    /// A port number.
    Number(u16),
    /// The name of a container port (an IANA service name).
    Name(String),
}

impl From<u16> for TargetPort {
    fn from(port: u16) -> Self {
        Self::Number(port)
    }
}

impl From<&str> for TargetPort {
    fn from(name: &str) -> Self {
        Self::Name(name.into())
    }
}

/// One entry of `spec.ports`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServicePort {
    /// `name`: empty for an unnamed port (allowed only when the Service has one port).
    pub name: String,
    /// `protocol`.
    pub protocol: Protocol,
    /// `port`: 1–65535.
    pub port: u16,
    /// `targetPort`.
    pub target_port: TargetPort,
    /// `nodePort`, for NodePort and LoadBalancer Services. An ExternalName Service may carry
    /// one too (the API server stores it as given); it means nothing there: it is no NodePort,
    /// claims no number and is not checked against the NodePort range
    /// ([`Service::uses_node_ports`]).
    pub node_port: Option<u16>,
}

impl ServicePort {
    /// An unnamed port with Kubernetes' defaults: `targetPort` = `port`, no nodePort.
    pub fn new(protocol: Protocol, port: u16) -> Self {
        Self {
            name: String::new(),
            protocol,
            port,
            target_port: TargetPort::Number(port),
            node_port: None,
        }
    }

    /// `ServicePort::new(Protocol::Tcp, port)`.
    pub fn tcp(port: u16) -> Self {
        Self::new(Protocol::Tcp, port)
    }

    /// `ServicePort::new(Protocol::Udp, port)`.
    pub fn udp(port: u16) -> Self {
        Self::new(Protocol::Udp, port)
    }

    /// `ServicePort::new(Protocol::Sctp, port)`.
    pub fn sctp(port: u16) -> Self {
        Self::new(Protocol::Sctp, port)
    }

    /// Sets `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets `targetPort` (a number or a port name).
    pub fn target(mut self, target: impl Into<TargetPort>) -> Self {
        self.target_port = target.into();
        self
    }

    /// Sets `nodePort`.
    pub fn node_port(mut self, node_port: u16) -> Self {
        self.node_port = Some(node_port);
        self
    }
}

/// `spec.clusterIPs`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClusterIps {
    /// No cluster IP: ExternalName Services. On a ClusterIP Service this means headless, as
    /// an empty `clusterIP` does for kube-proxy.
    #[default]
    Unset,
    /// `"None"`: a headless Service, DNS only.
    Headless,
    /// The allocated cluster IPs, primary first, at most one per family.
    Assigned(Vec<IpAddr>),
}

/// A Kubernetes Service: `metadata`, `spec` and the `status.loadBalancer` it needs.
///
/// `Service::new` gives Kubernetes' defaults: type ClusterIP, no affinity, both traffic
/// policies Cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Service {
    /// `metadata.namespace` and `metadata.name`.
    pub id: ObjectRef,
    /// `spec.type`.
    pub service_type: ServiceType,
    /// `spec.clusterIPs` (`spec.clusterIP` is its first entry).
    pub cluster_ips: ClusterIps,
    /// `spec.ipFamilies`; may be left empty, the families then follow the cluster IPs.
    pub ip_families: Vec<IpFamily>,
    /// `spec.ipFamilyPolicy`; `None` for ExternalName Services (and allowed for others).
    pub ip_family_policy: Option<IpFamilyPolicy>,
    /// `spec.ports`.
    pub ports: Vec<ServicePort>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[]` entries with an IP.
    pub load_balancer_ingress: Vec<LoadBalancerIngress>,
    /// `spec.loadBalancerSourceRanges` (parse each with `str::parse::<Cidr>`, which trims).
    pub load_balancer_source_ranges: Vec<Cidr>,
    /// `spec.sessionAffinity` and `spec.sessionAffinityConfig`.
    pub session_affinity: SessionAffinity,
    /// `spec.externalTrafficPolicy`.
    pub external_traffic_policy: TrafficPolicy,
    /// `spec.internalTrafficPolicy`.
    pub internal_traffic_policy: TrafficPolicy,
    /// `spec.healthCheckNodePort`: LoadBalancer with externalTrafficPolicy Local only.
    pub health_check_node_port: Option<u16>,
    /// `spec.externalName`: ExternalName Services only.
    pub external_name: Option<String>,
    /// `spec.publishNotReadyAddresses` (DNS only: the EndpointSlice controller already marks
    /// such endpoints ready).
    pub publish_not_ready_addresses: bool,
    /// **svcplane:** the Maglev table size for this Service (a prime, at most
    /// [`MAX_MAGLEV_TABLE_SIZE`]); `None` lets the catalog choose from the number of backends.
    /// A table needs at least as many slots as it has backends: for a backend set larger than
    /// this size the catalog uses the default size for that set instead.
    pub maglev_table_size: Option<u32>,
    /// The `service.kubernetes.io/service-proxy-name` label: the proxy that owns this Service's
    /// packet rules. `None` (no label) for the default proxy. A node programs the Service only
    /// when this equals its [`NodeConfig::service_proxy_name`] (kube-proxy skips every labelled
    /// Service); DNS answers for it either way.
    pub service_proxy_name: Option<String>,
    /// The `service.kubernetes.io/headless` label is present (any value): kube-proxy's
    /// informers select Services without it, so it never programs such a Service, even one with
    /// a cluster IP. svcplane treats it like another proxy's Service: no packet rules; DNS
    /// answers for it.
    pub headless_label: bool,
}

impl Service {
    /// A ClusterIP Service `namespace/name` with Kubernetes' defaults and nothing else set.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: ObjectRef::new(namespace, name),
            ..Self::default()
        }
    }

    /// The assigned cluster IPs, primary first; empty when headless or unset.
    pub fn cluster_ip_list(&self) -> &[IpAddr] {
        match &self.cluster_ips {
            ClusterIps::Assigned(ips) => ips,
            ClusterIps::Unset | ClusterIps::Headless => &[],
        }
    }

    /// The cluster IP of `family`, if the Service has one.
    pub fn cluster_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.cluster_ip_list()
            .iter()
            .copied()
            .find(|ip| IpFamily::of(*ip) == family)
    }

    /// True for a headless Service (clusterIP `"None"` or empty): DNS only, no packet rules.
    pub fn is_headless(&self) -> bool {
        self.service_type != ServiceType::ExternalName && self.cluster_ip_list().is_empty()
    }

    /// True when the Service has packet rules somewhere: it is neither headless nor
    /// ExternalName. A node programs them when the Service is also its own
    /// ([`Service::is_proxied_by`]).
    pub fn is_proxied(&self) -> bool {
        self.service_type != ServiceType::ExternalName && !self.cluster_ip_list().is_empty()
    }

    /// True when a node with `config` programs packet rules for this Service: it is proxied
    /// ([`Service::is_proxied`]) and its `service-proxy-name` label names this node's proxy
    /// (both absent for kube-proxy's default).
    pub fn is_proxied_by(&self, config: &NodeConfig) -> bool {
        self.is_proxied()
            && !self.headless_label
            && self.service_proxy_name == config.service_proxy_name
    }

    /// The families the Service is programmed for: those of its cluster IPs, primary first.
    pub fn families(&self) -> impl Iterator<Item = IpFamily> + '_ {
        self.cluster_ip_list().iter().map(|ip| IpFamily::of(*ip))
    }

    /// `spec.externalIPs` of `family`.
    pub fn external_ips_of(&self, family: IpFamily) -> impl Iterator<Item = IpAddr> + '_ {
        self.external_ips
            .iter()
            .copied()
            .filter(move |ip| IpFamily::of(*ip) == family)
    }

    /// The load-balancer IPs of `family` the node must answer on: ingress entries in VIP mode
    /// (`ipMode: Proxy` entries are skipped).
    pub fn load_balancer_ips(&self, family: IpFamily) -> impl Iterator<Item = IpAddr> + '_ {
        self.load_balancer_ingress
            .iter()
            .filter(|ing| ing.ip_mode == IpMode::Vip)
            .map(|ing| ing.ip)
            .filter(move |ip| IpFamily::of(*ip) == family)
    }

    /// `spec.loadBalancerSourceRanges` of `family`. Like kube-proxy, ranges are filtered by
    /// family: when none is of `family`, that family's LB IPs are not restricted.
    pub fn source_ranges(&self, family: IpFamily) -> impl Iterator<Item = &Cidr> + '_ {
        self.load_balancer_source_ranges
            .iter()
            .filter(move |c| c.family() == family)
    }

    /// Whether `port` is reachable from outside in `family`: it has a nodePort, or the
    /// Service has an externalIP or a (VIP-mode) LB IP of that family. Only then does
    /// externalTrafficPolicy matter.
    pub fn externally_accessible(&self, port: &ServicePort, family: IpFamily) -> bool {
        (self.uses_node_ports() && port.node_port.is_some())
            || self.external_ips_of(family).next().is_some()
            || self.load_balancer_ips(family).next().is_some()
    }

    /// True for NodePort and LoadBalancer Services, whose ports' nodePorts are NodePorts. Other
    /// types have none, except that the API server stores an ExternalName Service's nodePort
    /// as given (validation forbids one only for ClusterIP): such a number is ignored.
    pub fn uses_node_ports(&self) -> bool {
        matches!(
            self.service_type,
            ServiceType::NodePort | ServiceType::LoadBalancer
        )
    }

    /// True when the Service has a health-check nodePort: LoadBalancer with
    /// externalTrafficPolicy Local.
    pub fn needs_health_check(&self) -> bool {
        self.service_type == ServiceType::LoadBalancer
            && self.external_traffic_policy == TrafficPolicy::Local
    }

    /// The Service port with this name and protocol.
    pub fn port(&self, name: &str, protocol: Protocol) -> Option<&ServicePort> {
        self.ports
            .iter()
            .find(|p| p.name == name && p.protocol == protocol)
    }

    /// The port numbers this Service holds in the NodePort range: every nodePort and the
    /// health-check nodePort. Kubernetes allocates these numbers (whatever the protocol) to
    /// one Service cluster-wide; a catalog uses this to refuse a second holder. An ExternalName
    /// Service's nodePorts are not allocated ([`uses_node_ports`](Self::uses_node_ports)).
    pub fn allocated_node_ports(&self) -> impl Iterator<Item = u16> + '_ {
        let uses = self.uses_node_ports();
        self.ports
            .iter()
            .filter_map(move |p| p.node_port.filter(|_| uses))
            .chain(self.health_check_node_port)
    }
}

/// An inclusive range of port numbers, such as the NodePort range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// The lowest port in the range.
    pub first: u16,
    /// The highest port in the range.
    pub last: u16,
}

impl PortRange {
    /// Kubernetes' default NodePort range, 30000–32767.
    pub const NODE_PORT_DEFAULT: Self = Self::new(30_000, 32_767);

    /// The range `first..=last`.
    pub const fn new(first: u16, last: u16) -> Self {
        Self { first, last }
    }

    /// True when `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl Default for PortRange {
    fn default() -> Self {
        Self::NODE_PORT_DEFAULT
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Which node addresses NodePorts answer on (kube-proxy's `--nodeport-addresses`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum NodePortAddresses {
    /// The node's primary address of each family (kube-proxy's default).
    #[default]
    Primary,
    /// The node addresses inside any of these prefixes.
    Cidrs(Vec<Cidr>),
    /// Every node address, except IPv6 loopback.
    All,
}

/// What a catalog is created with: where this node is and how the cluster is laid out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeConfig {
    /// This node's name, compared with endpoints' `nodeName` to find local endpoints.
    pub node_name: String,
    /// This node's zone (`topology.kubernetes.io/zone`), for topology hints.
    pub zone: Option<String>,
    /// This node's addresses; the first of each family is that family's primary address.
    pub node_ips: Vec<IpAddr>,
    /// Which of `node_ips` NodePorts answer on.
    pub node_port_addresses: NodePortAddresses,
    /// The cluster's pod CIDRs: a source inside is a pod, not an outside client. Leave it
    /// empty and every source that is not a node address counts as external: masqueraded on
    /// its way to a cluster IP (kube-proxy without a local-traffic detector masquerades none).
    pub cluster_cidrs: Vec<Cidr>,
    /// The service CIDRs: an address inside that no Service holds is dropped.
    pub service_cidrs: Vec<Cidr>,
    /// Masquerade all traffic to cluster IPs (kube-proxy's `--masquerade-all`).
    pub masquerade_all: bool,
    /// The NodePort range; nodePorts and health-check nodePorts must lie inside.
    pub node_port_range: PortRange,
    /// The Maglev hash seed. It must be the same on every node so that all nodes pick the same
    /// backend for a flow.
    pub maglev_seed: u64,
    /// The name this dataplane answers to in the `service.kubernetes.io/service-proxy-name`
    /// label. `None` (the default) programs the Services without the label, as kube-proxy
    /// does; `Some(name)` programs only the Services labelled `name`, as an alternative proxy
    /// does. Packets to the cluster IPs of another proxy's Services pass untouched.
    pub service_proxy_name: Option<String>,
}

impl NodeConfig {
    /// The configuration of node `node_name` with every other field at its default.
    pub fn new(node_name: impl Into<String>) -> Self {
        Self {
            node_name: node_name.into(),
            ..Self::default()
        }
    }

    /// The node's primary address of `family`: the first of that family in `node_ips`.
    pub fn primary_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.node_ips
            .iter()
            .copied()
            .find(|ip| IpFamily::of(*ip) == family)
    }

    /// True when `ip` is one of this node's addresses.
    #[inline]
    pub fn is_node_ip(&self, ip: IpAddr) -> bool {
        self.node_ips.contains(&ip)
    }

    /// The node addresses of `family` that NodePorts answer on, in `node_ips` order. Never the
    /// IPv6 loopback address, whichever option selects it (kube-proxy: "localhost NodePorts are
    /// not supported on IPv6").
    pub fn node_port_ips(&self, family: IpFamily) -> Vec<IpAddr> {
        let usable =
            |ip: &IpAddr| IpFamily::of(*ip) == family && !(ip.is_ipv6() && ip.is_loopback());
        let of_family = self.node_ips.iter().copied().filter(usable);
        match &self.node_port_addresses {
            NodePortAddresses::Primary => {
                self.primary_ip(family).into_iter().filter(usable).collect()
            }
            NodePortAddresses::Cidrs(cidrs) => of_family
                .filter(|ip| cidrs.iter().any(|c| c.contains(*ip)))
                .collect(),
            NodePortAddresses::All => of_family.collect(),
        }
    }
}

bitflags::bitflags! {
    /// An endpoint's `conditions`.
    ///
    /// Absent values follow the API: ready absent = true, serving absent = ready, terminating
    /// absent = false; see [`Conditions::from_api`]. The default is `READY | SERVING`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct Conditions: u8 {
        /// `ready`: the endpoint accepts new traffic.
        const READY = 1 << 0;
        /// `serving`: like ready, but also set while the endpoint is terminating.
        const SERVING = 1 << 1;
        /// `terminating`: the endpoint is going away.
        const TERMINATING = 1 << 2;
    }
}

impl Default for Conditions {
    fn default() -> Self {
        Self::from_api(None, None, None)
    }
}

impl Conditions {
    /// The conditions as an EndpointSlice gives them, with the API's meaning for absent values.
    pub const fn from_api(
        ready: Option<bool>,
        serving: Option<bool>,
        terminating: Option<bool>,
    ) -> Self {
        let ready = match ready {
            Some(r) => r,
            None => true,
        };
        let serving = match serving {
            Some(s) => s,
            None => ready,
        };
        let terminating = match terminating {
            Some(t) => t,
            None => false,
        };
        let mut bits = 0;
        if ready {
            bits |= Self::READY.bits();
        }
        if serving {
            bits |= Self::SERVING.bits();
        }
        if terminating {
            bits |= Self::TERMINATING.bits();
        }
        Self::from_bits_retain(bits)
    }

    /// `ready`.
    pub const fn is_ready(self) -> bool {
        self.contains(Self::READY)
    }

    /// `serving`.
    pub const fn is_serving(self) -> bool {
        self.contains(Self::SERVING)
    }

    /// `terminating`.
    pub const fn is_terminating(self) -> bool {
        self.contains(Self::TERMINATING)
    }

    /// Ready, or serving and terminating: the only endpoints svcplane ever sends traffic to.
    pub const fn is_usable(self) -> bool {
        self.is_ready() || (self.is_serving() && self.is_terminating())
    }
}

/// One endpoint of an EndpointSlice.
///
/// Only an endpoint's first address is used (`addresses[0]`); its other addresses are ignored,
/// as kube-proxy ignores them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// `addresses[0]`.
    pub address: IpAddr,
    /// `conditions`.
    pub conditions: Conditions,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `zone`.
    pub zone: Option<String>,
    /// `hints.forZones[].name`.
    pub zone_hints: Vec<String>,
    /// `hints.forNodes[].name` (trafficDistribution PreferSameNode).
    pub node_hints: Vec<String>,
    /// `hostname` (DNS only).
    pub hostname: Option<String>,
}

impl Endpoint {
    /// A ready and serving endpoint at `address`, with nothing else set.
    pub fn new(address: IpAddr) -> Self {
        Self {
            address,
            conditions: Conditions::default(),
            node_name: None,
            zone: None,
            zone_hints: Vec::new(),
            node_hints: Vec::new(),
            hostname: None,
        }
    }

    /// Sets `conditions`.
    pub fn with_conditions(mut self, conditions: Conditions) -> Self {
        self.conditions = conditions;
        self
    }

    /// Sets `nodeName`.
    pub fn on_node(mut self, node_name: impl Into<String>) -> Self {
        self.node_name = Some(node_name.into());
        self
    }

    /// Sets `zone`.
    pub fn in_zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// Sets `hints.forZones`.
    pub fn hinted_for<S: Into<String>>(mut self, zones: impl IntoIterator<Item = S>) -> Self {
        self.zone_hints = zones.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `hints.forNodes`.
    pub fn hinted_for_nodes<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.node_hints = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `hostname`.
    pub fn with_hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// True when the endpoint runs on node `node_name`.
    pub fn is_local(&self, node_name: &str) -> bool {
        self.node_name.as_deref() == Some(node_name)
    }

    /// The family of the endpoint's address.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.address)
    }
}

impl AsRef<Endpoint> for Endpoint {
    fn as_ref(&self) -> &Endpoint {
        self
    }
}

/// One entry of an EndpointSlice's `ports`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointPort {
    /// `name`: the name of the Service port it serves, empty for an unnamed one.
    pub name: String,
    /// `protocol`.
    pub protocol: Protocol,
    /// `port`: the port on the endpoints. `None` (and 0) is ignored, as kube-proxy does.
    pub port: Option<u16>,
}

impl EndpointPort {
    /// The port `name`/`protocol` at `port`.
    pub fn new(name: impl Into<String>, protocol: Protocol, port: u16) -> Self {
        Self {
            name: name.into(),
            protocol,
            port: Some(port),
        }
    }
}

/// An EndpointSlice of a Service: endpoints of one address family that share one set of ports.
///
/// FQDN slices have no place here; they carry nothing for the packet path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointSlice {
    /// `metadata.name`. May be empty for a slice the caller builds itself.
    pub name: String,
    /// `addressType`.
    pub family: IpFamily,
    /// `ports`.
    pub ports: Vec<EndpointPort>,
    /// `endpoints`.
    pub endpoints: Vec<Endpoint>,
}

impl EndpointSlice {
    /// An empty slice of `family`.
    pub fn new(name: impl Into<String>, family: IpFamily) -> Self {
        Self {
            name: name.into(),
            family,
            ports: Vec::new(),
            endpoints: Vec::new(),
        }
    }

    /// The port this slice's endpoints serve Service port `port` on: the slice port with the
    /// same name and protocol that has a port number. `None` means these endpoints have no
    /// backend for that Service port (for example, their pods lack a named targetPort).
    pub fn port_for(&self, port: &ServicePort) -> Option<u16> {
        self.ports
            .iter()
            .filter(|p| p.name == port.name && p.protocol == port.protocol)
            .find_map(|p| p.port.filter(|n| *n != 0))
    }
}

/// An endpoint with the port it serves one Service port on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend<'a> {
    /// The endpoint.
    pub endpoint: &'a Endpoint,
    /// Its port for the Service port.
    pub port: u16,
}

impl Backend<'_> {
    /// The backend's address and port.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.endpoint.address, self.port)
    }
}

impl AsRef<Endpoint> for Backend<'_> {
    fn as_ref(&self) -> &Endpoint {
        self.endpoint
    }
}

/// The backends of Service port `port` in `family`, from the Service's slices, sorted by
/// (address, port).
///
/// Each endpoint takes its port from its own slice ([`EndpointSlice::port_for`]); endpoints of
/// slices without that port, and endpoints whose address is of the other family, are left out.
/// An (address, port) listed by several slices appears once. Like kube-proxy (since it stopped
/// favouring the local copy, kubernetes#135266: a Pod IP reused while the old Pod still
/// terminates), a copy that is not terminating wins: the address now belongs to the running
/// Pod. After that a Ready copy wins, then a usable one, then the copy on `node_name`, and any
/// remaining tie is settled by the endpoints' own ordering, so the result never depends on the
/// order of `slices` (kube-proxy keeps whichever came last).
pub fn backends_for<'a>(
    slices: &'a [EndpointSlice],
    port: &ServicePort,
    family: IpFamily,
    node_name: &str,
) -> Vec<Backend<'a>> {
    // Greater is preferred. The endpoint itself comes last, reversed: the smaller one wins.
    fn preference<'e>(e: &'e Endpoint, node_name: &str) -> impl Ord + 'e {
        let c = e.conditions;
        (
            !c.is_terminating(),
            c.is_ready(),
            c.is_usable(),
            e.is_local(node_name),
            Reverse(e),
        )
    }
    let mut best: BTreeMap<SocketAddr, &'a Endpoint> = BTreeMap::new();
    for slice in slices.iter().filter(|s| s.family == family) {
        let Some(backend_port) = slice.port_for(port) else {
            continue;
        };
        for endpoint in slice.endpoints.iter().filter(|e| e.family() == family) {
            let key = SocketAddr::new(endpoint.address, backend_port);
            match best.get_mut(&key) {
                Some(kept) if preference(endpoint, node_name) > preference(kept, node_name) => {
                    *kept = endpoint
                }
                Some(_) => {}
                None => {
                    best.insert(key, endpoint);
                }
            }
        }
    }
    best.into_iter()
        .map(|(addr, endpoint)| Backend {
            endpoint,
            port: addr.port(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn conditions_from_api_fill_absent_values() {
        let c = |r, s, t| Conditions::from_api(r, s, t);
        // Absent ready = true, absent serving = ready, absent terminating = false.
        assert_eq!(c(None, None, None), Conditions::READY | Conditions::SERVING);
        assert_eq!(Conditions::default(), c(None, None, None));
        assert_eq!(c(Some(false), None, None), Conditions::empty());
        assert_eq!(
            c(Some(false), None, Some(true)),
            Conditions::TERMINATING,
            "serving follows ready, not terminating"
        );
        assert_eq!(
            c(Some(false), Some(true), Some(true)),
            Conditions::SERVING | Conditions::TERMINATING
        );
        assert_eq!(c(Some(true), Some(false), None), Conditions::READY);
    }

    #[test]
    fn usable_is_ready_or_serving_and_terminating() {
        let c = |r, s, t| Conditions::from_api(Some(r), Some(s), Some(t)).is_usable();
        assert!(c(true, true, false));
        assert!(c(true, false, false));
        assert!(c(true, true, true));
        assert!(c(false, true, true));
        assert!(
            !c(false, true, false),
            "serving but neither ready nor terminating"
        );
        assert!(!c(false, false, true));
        assert!(!c(false, false, false));
    }

    #[test]
    fn defaults_match_kubernetes() {
        let p = ServicePort::tcp(80);
        assert_eq!(p.protocol, Protocol::Tcp);
        assert_eq!(p.target_port, TargetPort::Number(80));
        assert_eq!(p.name, "");
        assert_eq!(p.node_port, None);
        assert_eq!(Protocol::default(), Protocol::Tcp);
        let s = Service::new("default", "web");
        assert_eq!(s.service_type, ServiceType::ClusterIp);
        assert_eq!(s.session_affinity, SessionAffinity::None);
        assert_eq!(s.internal_traffic_policy, TrafficPolicy::Cluster);
        assert_eq!(s.external_traffic_policy, TrafficPolicy::Cluster);
        assert_eq!(
            SessionAffinity::client_ip(),
            SessionAffinity::ClientIp {
                timeout_seconds: 10_800
            }
        );
        assert_eq!(PortRange::default(), PortRange::new(30_000, 32_767));
        assert_eq!(
            NodeConfig::new("n").node_port_addresses,
            NodePortAddresses::Primary
        );
        let e = Endpoint::new(ip("10.0.0.1"));
        assert!(e.conditions.is_ready() && e.conditions.is_serving());
        assert!(!e.conditions.is_terminating());
    }

    #[test]
    fn endpoint_is_local_by_node_name() {
        let e = Endpoint::new(ip("10.0.0.1")).on_node("node-a");
        assert!(e.is_local("node-a"));
        assert!(!e.is_local("node-b"));
        assert!(!Endpoint::new(ip("10.0.0.1")).is_local(""));
    }

    #[test]
    fn slice_port_joined_by_name_and_protocol() {
        let slice = EndpointSlice {
            ports: vec![
                EndpointPort::new("http", Protocol::Tcp, 8080),
                EndpointPort::new("dns", Protocol::Udp, 5353),
                EndpointPort {
                    name: "metrics".into(),
                    protocol: Protocol::Tcp,
                    port: None,
                },
                EndpointPort::new("admin", Protocol::Tcp, 0),
            ],
            ..EndpointSlice::new("s", IpFamily::V4)
        };
        assert_eq!(
            slice.port_for(&ServicePort::tcp(80).named("http")),
            Some(8080)
        );
        assert_eq!(
            slice.port_for(&ServicePort::udp(53).named("dns")),
            Some(5353)
        );
        assert_eq!(slice.port_for(&ServicePort::tcp(53).named("dns")), None);
        assert_eq!(slice.port_for(&ServicePort::tcp(80)), None);
        assert_eq!(
            slice.port_for(&ServicePort::tcp(9090).named("metrics")),
            None
        );
        assert_eq!(slice.port_for(&ServicePort::tcp(81).named("admin")), None);
    }

    fn addrs(backends: &[Backend<'_>]) -> Vec<String> {
        backends
            .iter()
            .map(|b| b.socket_addr().to_string())
            .collect()
    }

    #[test]
    fn backends_take_their_port_from_their_own_slice() {
        // Pods of two versions: the newer ones name a "metrics" port, the older ones do not.
        let new = EndpointSlice {
            ports: vec![
                EndpointPort::new("http", Protocol::Tcp, 8080),
                EndpointPort::new("metrics", Protocol::Tcp, 9090),
            ],
            endpoints: vec![Endpoint::new(ip("10.0.0.2"))],
            ..EndpointSlice::new("new", IpFamily::V4)
        };
        let old = EndpointSlice {
            ports: vec![EndpointPort::new("http", Protocol::Tcp, 8000)],
            endpoints: vec![Endpoint::new(ip("10.0.0.1"))],
            ..EndpointSlice::new("old", IpFamily::V4)
        };
        let slices = [new, old];
        let http = ServicePort::tcp(80).named("http").target("http");
        let metrics = ServicePort::tcp(9090).named("metrics").target("metrics");
        let v4 = IpFamily::V4;
        assert_eq!(
            addrs(&backends_for(&slices, &http, v4, "n")),
            ["10.0.0.1:8000", "10.0.0.2:8080"]
        );
        assert_eq!(
            addrs(&backends_for(&slices, &metrics, v4, "n")),
            ["10.0.0.2:9090"]
        );
        assert!(backends_for(&slices, &http, IpFamily::V6, "n").is_empty());
    }

    #[test]
    fn backends_filter_by_family() {
        let slices = [
            EndpointSlice {
                ports: vec![EndpointPort::new("", Protocol::Tcp, 80)],
                endpoints: vec![Endpoint::new(ip("10.0.0.1"))],
                ..EndpointSlice::new("v4", IpFamily::V4)
            },
            EndpointSlice {
                ports: vec![EndpointPort::new("", Protocol::Tcp, 80)],
                endpoints: vec![Endpoint::new(ip("fd00::1"))],
                ..EndpointSlice::new("v6", IpFamily::V6)
            },
        ];
        let port = ServicePort::tcp(80);
        assert_eq!(
            addrs(&backends_for(&slices, &port, IpFamily::V4, "n")),
            ["10.0.0.1:80"]
        );
        assert_eq!(
            addrs(&backends_for(&slices, &port, IpFamily::V6, "n")),
            ["[fd00::1]:80"]
        );
    }

    #[test]
    fn duplicate_backends_prefer_running_then_usable_then_local_in_any_slice_order() {
        let ports = vec![EndpointPort::new("", Protocol::Tcp, 80)];
        let dead = Conditions::from_api(Some(false), Some(false), Some(true));
        let remote = EndpointSlice {
            ports: ports.clone(),
            endpoints: vec![
                Endpoint::new(ip("10.0.1.5")).on_node("node-1"),
                Endpoint::new(ip("10.0.1.6")).on_node("node-1"),
                Endpoint::new(ip("10.0.1.7")).on_node("node-1"),
                Endpoint::new(ip("10.0.1.8")).on_node("node-1"),
                Endpoint::new(ip("10.0.1.9"))
                    .on_node("node-1")
                    .with_conditions(Conditions::from_api(Some(false), None, None)),
            ],
            ..EndpointSlice::new("a", IpFamily::V4)
        };
        let local = EndpointSlice {
            ports,
            endpoints: vec![
                Endpoint::new(ip("10.0.1.5"))
                    .on_node("me")
                    .with_conditions(dead),
                Endpoint::new(ip("10.0.1.6"))
                    .on_node("node-2")
                    .with_conditions(dead),
                Endpoint::new(ip("10.0.1.7")).on_node("node-0"),
                Endpoint::new(ip("10.0.1.8")).on_node("me"),
                Endpoint::new(ip("10.0.1.9"))
                    .on_node("me")
                    .with_conditions(Conditions::from_api(Some(true), Some(true), Some(true))),
            ],
            ..EndpointSlice::new("b", IpFamily::V4)
        };
        let port = ServicePort::tcp(80);
        let one = [remote.clone(), local.clone()];
        let other = [local, remote];
        let a = backends_for(&one, &port, IpFamily::V4, "me");
        let b = backends_for(&other, &port, IpFamily::V4, "me");
        assert_eq!(a, b);
        let nodes: Vec<_> = a.iter().map(|b| b.endpoint.node_name.as_deref()).collect();
        // A running copy wins over a terminating one, even a local one (an IP reused by a new
        // Pod, the old one still terminating: 10.0.1.5, 10.0.1.9); between two running ones
        // Ready wins, then usable, then local (10.0.1.8); then the smaller endpoint.
        assert_eq!(
            nodes,
            [
                Some("node-1"),
                Some("node-1"),
                Some("node-0"),
                Some("me"),
                Some("node-1")
            ]
        );
    }

    fn dual_stack_lb() -> Service {
        Service {
            service_type: ServiceType::LoadBalancer,
            cluster_ips: ClusterIps::Assigned(vec![ip("10.96.0.1"), ip("fd00:10:96::1")]),
            ports: vec![
                ServicePort::tcp(80).named("http").node_port(30080),
                ServicePort::tcp(81).named("alt"),
            ],
            external_ips: vec![ip("203.0.113.9")],
            load_balancer_ingress: vec![
                LoadBalancerIngress::vip(ip("198.51.100.7")),
                LoadBalancerIngress {
                    ip: ip("198.51.100.8"),
                    ip_mode: IpMode::Proxy,
                },
                LoadBalancerIngress::vip(ip("2001:db8::7")),
            ],
            load_balancer_source_ranges: vec![
                "203.0.113.0/24".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
            external_traffic_policy: TrafficPolicy::Local,
            health_check_node_port: Some(32000),
            ..Service::new("default", "web")
        }
    }

    #[test]
    fn frontend_helpers_filter_by_family_and_skip_proxy_mode() {
        let s = dual_stack_lb();
        assert_eq!(s.cluster_ip(IpFamily::V4), Some(ip("10.96.0.1")));
        assert_eq!(s.cluster_ip(IpFamily::V6), Some(ip("fd00:10:96::1")));
        assert_eq!(
            s.families().collect::<Vec<_>>(),
            [IpFamily::V4, IpFamily::V6]
        );
        let lb4: Vec<_> = s.load_balancer_ips(IpFamily::V4).collect();
        assert_eq!(lb4, [ip("198.51.100.7")]);
        let lb6: Vec<_> = s.load_balancer_ips(IpFamily::V6).collect();
        assert_eq!(lb6, [ip("2001:db8::7")]);
        assert_eq!(s.external_ips_of(IpFamily::V4).count(), 1);
        assert_eq!(s.external_ips_of(IpFamily::V6).count(), 0);
        let r6: Vec<_> = s
            .source_ranges(IpFamily::V6)
            .map(|c| c.to_string())
            .collect();
        assert_eq!(r6, ["2001:db8::/32"]);
        assert!(s.needs_health_check());
        assert_eq!(s.allocated_node_ports().collect::<Vec<_>>(), [30080, 32000]);
        assert_eq!(s.port("alt", Protocol::Tcp).map(|p| p.port), Some(81));
        assert_eq!(s.port("alt", Protocol::Udp), None);
    }

    #[test]
    fn externally_accessible_per_port_and_family() {
        let mut s = dual_stack_lb();
        let (http, alt) = (s.ports[0].clone(), s.ports[1].clone());
        assert!(s.externally_accessible(&http, IpFamily::V6));
        assert!(s.externally_accessible(&alt, IpFamily::V4));
        s.load_balancer_ingress.clear();
        assert!(s.externally_accessible(&alt, IpFamily::V4), "externalIP");
        assert!(!s.externally_accessible(&alt, IpFamily::V6));
        assert!(s.externally_accessible(&http, IpFamily::V6), "nodePort");
        s.external_ips.clear();
        assert!(!s.externally_accessible(&alt, IpFamily::V4));
        s.load_balancer_ingress = vec![LoadBalancerIngress {
            ip: ip("198.51.100.8"),
            ip_mode: IpMode::Proxy,
        }];
        assert!(!s.externally_accessible(&alt, IpFamily::V4), "Proxy mode");
    }

    #[test]
    fn node_port_cidrs_never_select_ipv6_loopback() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let c = NodeConfig {
            node_ips: vec![ip("192.168.0.10"), ip("fd00::10"), ip("::1")],
            node_port_addresses: NodePortAddresses::Cidrs(vec!["::/0".parse().unwrap()]),
            ..NodeConfig::new("n")
        };
        assert_eq!(c.node_port_ips(IpFamily::V6), [ip("fd00::10")], "never ::1");
        let c = NodeConfig {
            node_port_addresses: NodePortAddresses::Cidrs(vec!["::1/128".parse().unwrap()]),
            ..c
        };
        assert!(c.node_port_ips(IpFamily::V6).is_empty(), "never ::1");
        let c = NodeConfig {
            node_ips: vec![ip("::1"), ip("fd00::10")],
            node_port_addresses: NodePortAddresses::Primary,
            ..c
        };
        assert!(
            c.node_port_ips(IpFamily::V6).is_empty(),
            "not as the primary either"
        );
    }

    #[test]
    fn headless_and_proxied() {
        let mut s = Service::new("default", "web");
        assert!(s.is_headless() && !s.is_proxied(), "empty clusterIP");
        s.cluster_ips = ClusterIps::Headless;
        assert!(s.is_headless() && !s.is_proxied());
        s.cluster_ips = ClusterIps::Assigned(vec![ip("10.96.0.1")]);
        assert!(!s.is_headless() && s.is_proxied());
        s.service_type = ServiceType::ExternalName;
        s.cluster_ips = ClusterIps::Unset;
        assert!(!s.is_headless() && !s.is_proxied());
    }

    #[test]
    fn node_port_addresses() {
        let mut c = NodeConfig {
            node_ips: vec![
                ip("192.168.0.10"),
                ip("54.123.45.67"),
                ip("fd00::10"),
                ip("::1"),
            ],
            ..NodeConfig::new("n")
        };
        assert_eq!(c.primary_ip(IpFamily::V4), Some(ip("192.168.0.10")));
        assert_eq!(c.node_port_ips(IpFamily::V4), [ip("192.168.0.10")]);
        assert_eq!(c.node_port_ips(IpFamily::V6), [ip("fd00::10")]);
        c.node_port_addresses = NodePortAddresses::All;
        assert_eq!(
            c.node_port_ips(IpFamily::V4),
            [ip("192.168.0.10"), ip("54.123.45.67")]
        );
        assert_eq!(c.node_port_ips(IpFamily::V6), [ip("fd00::10")], "never ::1");
        c.node_port_addresses = NodePortAddresses::Cidrs(vec!["54.0.0.0/8".parse().unwrap()]);
        assert_eq!(c.node_port_ips(IpFamily::V4), [ip("54.123.45.67")]);
        assert!(c.node_port_ips(IpFamily::V6).is_empty());
        assert!(c.is_node_ip(ip("54.123.45.67")));
        assert!(!c.is_node_ip(ip("54.123.45.68")));
    }
}
