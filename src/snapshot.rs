//! Compiled, immutable snapshots of the service table: what the packet path reads.
//!
//! A [`Snapshot`] is what [`Catalog::compile`](crate::catalog::Catalog::compile) returns. It is
//! immutable, `Send + Sync`, and shared behind an `Arc`; a worker switches to a newer one between
//! bursts. It answers, in O(1) whatever the number of Services:
//!
//! - [`Snapshot::frontend`]: (protocol, destination address, destination port) for cluster IPs,
//!   externalIPs and load-balancer ingress IPs (SEMANTICS.md §1);
//! - [`Snapshot::node_port`]: (protocol, family, port) for NodePorts, which answer on this node's
//!   NodePort addresses ([`Snapshot::is_node_port_address`]);
//! - [`Snapshot::lookup`]: both, plus kube-proxy's two catch-alls (§4): a cluster IP on a port the
//!   Service does not define ([`Lookup::UndefinedPort`], rejected) and an unallocated address in a
//!   service CIDR ([`Lookup::UnallocatedServiceIp`], dropped).
//!
//! A hit is a [`Frontend`]: its kind and the compiled [`PortPlan`] of one Service port in one
//! address family. The plan holds everything the packet path decides with: the backends with the
//! port each serves this Service port on (named targetPorts resolved per endpoint), the cluster
//! and node-local pools each with its Maglev table, which pool each kind of traffic uses
//! ([`PortPlan::pool_for`]), the load-balancer source ranges ([`PortPlan::source_allowed`]), the
//! ClientIP affinity timeout and the "reject: no usable endpoints" flag
//! ([`PortPlan::rejects_new_connections`]).
//!
//! Plans are shared: a Service that did not change between two compiles has the very same
//! `Arc<ServicePlan>` (and Maglev tables) in both snapshots, and ports of one Service whose pools
//! hold the same endpoint addresses share one Maglev table (DESIGN.md invariant 7).
//!
//! For debugging, [`Snapshot::services`], [`Snapshot::frontends`] and the `Display`
//! implementation list what a snapshot holds, like `kubectl get endpoints`.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, SocketAddr};

use crate::hash::TableHasher;
use crate::maglev::{ip_key, Maglev};
use crate::model::{
    Cidr, Conditions, IpFamily, NodeConfig, ObjectRef, Protocol, ServiceType, SessionAffinity,
    TargetPort, TrafficPolicy,
};
use crate::select::{Pool, PoolUse, Topology, Traffic};

pub(crate) mod index;

use index::{ChunkMap, IndexKey};

/// Seed of the snapshot's own (node-local) index hashes. Fixed, so lookups cost the same on
/// every run; the keys are control-plane data, so there is nothing to flood.
const INDEX_SEED: u64 = 0x5356_4350_4c41_4e45; // "SVCPLANE"

/// The index hash of address keys (frontends, cluster IPs): the folded-multiply table hash
/// under fixed keys (a short chain of two multiplications; nothing outside the process depends
/// on it).
const INDEX_HASHER: TableHasher = TableHasher::new(INDEX_SEED);

/// How a packet reached a Service port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrontendKind {
    /// A cluster IP (internal traffic).
    ClusterIp,
    /// A load-balancer ingress IP in VIP mode (external traffic, source ranges apply).
    LoadBalancer,
    /// An externalIP (external traffic, no source ranges).
    ExternalIp,
    /// A nodePort on one of this node's NodePort addresses (external traffic).
    NodePort,
}

impl FrontendKind {
    /// Internal for cluster IPs, external for everything else (SEMANTICS.md §3).
    pub fn traffic(self) -> Traffic {
        match self {
            Self::ClusterIp => Traffic::Internal,
            Self::LoadBalancer | Self::ExternalIp | Self::NodePort => Traffic::External,
        }
    }
}

impl fmt::Display for FrontendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClusterIp => "ClusterIP",
            Self::LoadBalancer => "LoadBalancer",
            Self::ExternalIp => "ExternalIP",
            Self::NodePort => "NodePort",
        })
    }
}

/// Where a new connection comes from, as SEMANTICS.md §5 distinguishes sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A pod: the source is inside one of the cluster (pod) CIDRs.
    Pod,
    /// This node: the source is one of this node's addresses.
    Node,
    /// Anything else: an outside client.
    External,
}

/// One backend of a Service port: an endpoint address with the port it serves this Service port
/// on, and its state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PlanBackend {
    /// The endpoint's address (`addresses[0]`).
    pub address: IpAddr,
    /// The endpoint's port for this Service port (from its EndpointSlice).
    pub port: u16,
    /// Its conditions.
    pub conditions: Conditions,
    /// True when the endpoint runs on this node.
    pub local: bool,
    /// Its `nodeName`.
    pub node_name: Option<String>,
    /// Its `zone`.
    pub zone: Option<String>,
}

impl PlanBackend {
    /// The backend's address and port: where new connections are sent.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}

/// One of the two endpoint pools of a [`PortPlan`], with its Maglev table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendPool {
    pub(crate) members: Vec<u32>,
    pub(crate) maglev: Option<Arc<Maglev>>,
    pub(crate) terminating: bool,
}

impl BackendPool {
    /// The pool's backends, as indices into [`PortPlan::backends`], in canonical Maglev order
    /// (ascending address): the Maglev table's entry `i` means `members()[i]`.
    pub fn members(&self) -> &[u32] {
        &self.members
    }

    /// True when the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The pool's Maglev table; `None` when the pool is empty or no traffic uses it.
    pub fn maglev(&self) -> Option<&Arc<Maglev>> {
        self.maglev.as_ref()
    }

    /// True when the pool holds serving-and-terminating endpoints because none was Ready (the
    /// fallback of SEMANTICS.md §3).
    pub fn is_terminating(&self) -> bool {
        self.terminating
    }
}

/// The compiled plan of one Service port in one address family: what the packet path needs to
/// decide a new connection to any of its frontends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortPlan {
    pub(crate) service: ObjectRef,
    pub(crate) name: String,
    pub(crate) protocol: Protocol,
    pub(crate) port: u16,
    pub(crate) target_port: TargetPort,
    pub(crate) node_port: Option<u16>,
    pub(crate) family: IpFamily,
    pub(crate) affinity_timeout: Option<u32>,
    /// [`crate::affinity::port_id`] of this plan, computed when the snapshot is compiled.
    pub(crate) affinity_id: u64,
    pub(crate) uses: PoolUse,
    pub(crate) external_policy: TrafficPolicy,
    pub(crate) source_ranges: Vec<Cidr>,
    pub(crate) lb_ips: Vec<IpAddr>,
    pub(crate) hairpin_lb_sources: bool,
    pub(crate) backends: Vec<PlanBackend>,
    pub(crate) cluster: BackendPool,
    pub(crate) local: BackendPool,
    pub(crate) has_usable: bool,
    pub(crate) topology: Topology,
    pub(crate) local_ready: u32,
}

impl PortPlan {
    /// The port's identity in affinity tables ([`crate::affinity::port_id`]), computed once
    /// when the snapshot is compiled so the packet path does not hash names.
    pub fn affinity_id(&self) -> u64 {
        self.affinity_id
    }

    /// The Service this port belongs to.
    pub fn service(&self) -> &ObjectRef {
        &self.service
    }

    /// The port's name (empty for the single unnamed port).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port's protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The Service port number (`port`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Service's `targetPort` (informational: each backend's own port is in
    /// [`PlanBackend::port`]).
    pub fn target_port(&self) -> &TargetPort {
        &self.target_port
    }

    /// The port's nodePort, if any.
    pub fn node_port(&self) -> Option<u16> {
        self.node_port
    }

    /// The address family this plan serves.
    pub fn family(&self) -> IpFamily {
        self.family
    }

    /// The ClientIP affinity timeout in seconds; `None` without affinity.
    pub fn affinity_timeout_seconds(&self) -> Option<u32> {
        self.affinity_timeout
    }

    /// Which pool internal and external traffic use (from the traffic policies).
    pub fn pool_use(&self) -> PoolUse {
        self.uses
    }

    /// Every backend of the port in this family (usable or not), ascending by address, one per
    /// address.
    pub fn backends(&self) -> &[PlanBackend] {
        &self.backends
    }

    /// The pool `pool`.
    pub fn pool(&self, pool: Pool) -> &BackendPool {
        match pool {
            Pool::Cluster => &self.cluster,
            Pool::Local => &self.local,
        }
    }

    /// True when no endpoint is usable anywhere: new connections to every frontend of this port
    /// are rejected (ICMP port unreachable, SEMANTICS.md §4).
    pub fn rejects_new_connections(&self) -> bool {
        !self.has_usable
    }

    /// The topology mode the cluster pool was chosen under.
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// This port's local Ready endpoints, terminating or not (the health-check count).
    pub fn local_ready(&self) -> u32 {
        self.local_ready
    }

    /// `loadBalancerSourceRanges` of this family (they restrict load-balancer IPs only).
    pub fn source_ranges(&self) -> &[Cidr] {
        &self.source_ranges
    }

    /// The pool a new connection arriving through a frontend of `kind` from `source` is
    /// balanced over (SEMANTICS.md §3, §5): internal traffic follows internalTrafficPolicy;
    /// external traffic follows externalTrafficPolicy, except that under Local, pods and this
    /// node are short-circuited to the cluster pool. `None` for external traffic to a port that
    /// takes none.
    pub fn pool_for(&self, kind: FrontendKind, source: Source) -> Option<Pool> {
        match kind.traffic() {
            Traffic::Internal => Some(self.uses.internal),
            Traffic::External => {
                let pool = self.uses.external?;
                match (self.external_policy, source) {
                    (TrafficPolicy::Local, Source::Pod | Source::Node) => Some(Pool::Cluster),
                    _ => Some(pool),
                }
            }
        }
    }

    /// The backend Maglev picks in `pool` for `hash` (a flow hash, or for ClientIP affinity a
    /// hash of the client address); `None` when the pool is empty.
    #[inline]
    pub fn pick(&self, pool: Pool, hash: u64) -> Option<&PlanBackend> {
        let pool = self.pool(pool);
        let slot = pool.maglev.as_ref()?.lookup(hash)?;
        let index = *pool.members.get(usize::from(slot))?;
        self.backends.get(index as usize)
    }

    /// Starts loading what [`PortPlan::pick`] in `pool` reads first: the Maglev table's
    /// header, the pool's members and the backends (a burst's early stage).
    #[inline]
    pub(crate) fn prefetch_pool(&self, pool: Pool) {
        let pool = self.pool(pool);
        if let Some(m) = pool.maglev.as_deref() {
            crate::prefetch::prefetch(m);
        }
        if let Some(first) = pool.members.first() {
            crate::prefetch::prefetch(first);
        }
        if let Some(first) = self.backends.first() {
            crate::prefetch::prefetch(first);
        }
    }

    /// After [`PortPlan::prefetch_pool`]: starts loading the Maglev table slot of `hash`.
    #[inline]
    pub(crate) fn prefetch_slot(&self, pool: Pool, hash: u64) {
        if let Some(m) = self.pool(pool).maglev.as_deref() {
            m.prefetch(hash);
        }
    }

    /// Whether a new connection from `source` may use a frontend of `kind`: only load-balancer
    /// IPs are restricted, and only when the Service has source ranges of this family; a source
    /// inside a range passes, and so does one of the Service's own load-balancer IPs when a node
    /// address lies inside a range (hairpin through a locally bound VIP, SEMANTICS.md §1).
    pub fn source_allowed(&self, kind: FrontendKind, source: IpAddr) -> bool {
        kind != FrontendKind::LoadBalancer
            || self.source_ranges.is_empty()
            || self.source_ranges.iter().any(|c| c.contains(source))
            || (self.hairpin_lb_sources && self.lb_ips.contains(&source))
    }
}

/// What a Service compiled to: its ports' plans (one per Service port and family) and its
/// frontends. Headless and ExternalName Services compile to a plan without ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePlan {
    pub(crate) id: ObjectRef,
    pub(crate) service_type: ServiceType,
    pub(crate) proxied: bool,
    pub(crate) cluster_ips: Vec<IpAddr>,
    /// Proxied, but by another proxy (its `service-proxy-name` label is not this node's).
    pub(crate) foreign: bool,
    pub(crate) session_affinity: SessionAffinity,
    pub(crate) internal_policy: TrafficPolicy,
    pub(crate) external_policy: TrafficPolicy,
    pub(crate) health_check_node_port: Option<u16>,
    pub(crate) local_ready: u32,
    /// The IPv6 ones among `local_ready`.
    pub(crate) local_ready_v6: u32,
    pub(crate) ports: Vec<Arc<PortPlan>>,
    pub(crate) frontends: Vec<FrontendRecord>,
}

/// One frontend of a Service, as listed by [`ServicePlan::frontends`] and
/// [`Snapshot::frontends`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrontendRecord {
    /// The protocol.
    pub protocol: Protocol,
    /// The address family.
    pub family: IpFamily,
    /// The destination address; `None` for a NodePort, which answers on every NodePort address
    /// of the family.
    pub address: Option<IpAddr>,
    /// The destination port (the nodePort for a NodePort).
    pub port: u16,
    /// The kind of frontend.
    pub kind: FrontendKind,
    /// Index of its plan in [`ServicePlan::ports`].
    pub plan: usize,
}

impl fmt::Display for FrontendRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(addr) => write!(
                f,
                "{} {}/{} {}",
                SocketAddr::new(addr, self.port),
                self.protocol,
                self.family,
                self.kind
            ),
            None => write!(
                f,
                "*:{} {}/{} {}",
                self.port, self.protocol, self.family, self.kind
            ),
        }
    }
}

impl ServicePlan {
    /// The Service.
    pub fn id(&self) -> &ObjectRef {
        &self.id
    }

    /// Its type.
    pub fn service_type(&self) -> ServiceType {
        self.service_type
    }

    /// False for headless and ExternalName Services, which have no packet rules, and for the
    /// Services of another proxy ([`ServicePlan::is_foreign`]).
    pub fn is_proxied(&self) -> bool {
        self.proxied
    }

    /// True for a Service with packet rules (not headless, not ExternalName) that another proxy
    /// programs (its `service-proxy-name` label is not this node's,
    /// [`crate::model::NodeConfig::service_proxy_name`]), or that carries the
    /// `service.kubernetes.io/headless` label, which kube-proxy's informers exclude
    /// ([`crate::model::Service::headless_label`]): no rules here, and packets to its cluster
    /// IPs pass untouched.
    pub fn is_foreign(&self) -> bool {
        self.foreign
    }

    /// Its cluster IPs, primary first (empty for headless and ExternalName Services).
    pub fn cluster_ips(&self) -> &[IpAddr] {
        &self.cluster_ips
    }

    /// Its session affinity.
    pub fn session_affinity(&self) -> SessionAffinity {
        self.session_affinity
    }

    /// Its internalTrafficPolicy.
    pub fn internal_traffic_policy(&self) -> TrafficPolicy {
        self.internal_policy
    }

    /// Its externalTrafficPolicy.
    pub fn external_traffic_policy(&self) -> TrafficPolicy {
        self.external_policy
    }

    /// Its healthCheckNodePort (LoadBalancer with externalTrafficPolicy Local).
    pub fn health_check_node_port(&self) -> Option<u16> {
        self.health_check_node_port
    }

    /// The health-check count: distinct local endpoints that are Ready (terminating or not, as
    /// kube-proxy counts them), over all ports and families. The health check answers 200 when
    /// it is above 0, else 503. Per family: [`local_ready_in`](Self::local_ready_in).
    pub fn local_ready(&self) -> u32 {
        self.local_ready
    }

    /// [`local_ready`](Self::local_ready) of one address family: what kube-proxy's health
    /// check answers on that family's node addresses (it runs one health server per family,
    /// each counting its family's endpoints). A dual-stack caller serving the check on both
    /// families' addresses answers each from its own count.
    pub fn local_ready_in(&self, family: IpFamily) -> u32 {
        match family {
            IpFamily::V4 => self.local_ready.saturating_sub(self.local_ready_v6),
            IpFamily::V6 => self.local_ready_v6,
        }
    }

    /// The compiled ports: for each family of the Service (primary first), each Service port in
    /// `spec.ports` order.
    pub fn ports(&self) -> &[Arc<PortPlan>] {
        &self.ports
    }

    /// Every frontend of the Service, sorted.
    pub fn frontends(&self) -> &[FrontendRecord] {
        &self.frontends
    }
}

/// A frontend hit: how the packet arrived and the plan of the Service port it reached. A small
/// copyable view into the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frontend<'a> {
    kind: FrontendKind,
    plan: &'a Arc<PortPlan>,
}

impl<'a> Frontend<'a> {
    /// How the packet arrived.
    pub fn kind(&self) -> FrontendKind {
        self.kind
    }

    /// The plan of the Service port it reached.
    pub fn plan(&self) -> &'a PortPlan {
        self.plan
    }

    /// The plan, shared.
    pub fn plan_arc(&self) -> &'a Arc<PortPlan> {
        self.plan
    }
}

/// The most queries [`Snapshot::frontend_burst`] answers per call.
pub const FRONTEND_BURST: usize = index::BURST;

/// A destination to look up with [`Snapshot::frontend_burst`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrontendQuery {
    /// The protocol.
    pub protocol: Protocol,
    /// The destination address.
    pub address: IpAddr,
    /// The destination port.
    pub port: u16,
}

/// What [`Snapshot::lookup`] found for a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// A Service frontend.
    Frontend(Frontend<'a>),
    /// A cluster IP, on a (protocol, port) its Service does not define: new connections are
    /// rejected (SEMANTICS.md §4).
    UndefinedPort(&'a ServicePlan),
    /// An address inside a service CIDR that no Service holds: dropped (SEMANTICS.md §4).
    UnallocatedServiceIp,
    /// Not addressed to a Service: passed on untouched.
    NotService,
}

// ---------------------------------------------------------------------------------------------
// Index keys.

/// (protocol, family, address, port) of a cluster IP, externalIP or LB IP frontend, plus the
/// frontend's kind, which is stored in the key's spare byte so that a table slot takes 32 bytes.
/// The kind takes no part in equality or hashing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VipKey {
    addr: [u8; 16],
    port: u16,
    proto: u8,
    /// Bit 0: IPv6. Bits 1..: the [`FrontendKind`] (ignored by `==`).
    flags: u8,
}

const V6_FLAG: u8 = 1;

fn kind_code(kind: FrontendKind) -> u8 {
    match kind {
        FrontendKind::ClusterIp => 0,
        FrontendKind::LoadBalancer => 1,
        FrontendKind::ExternalIp => 2,
        FrontendKind::NodePort => 3,
    }
}

fn kind_of(code: u8) -> FrontendKind {
    match code {
        0 => FrontendKind::ClusterIp,
        1 => FrontendKind::LoadBalancer,
        2 => FrontendKind::ExternalIp,
        _ => FrontendKind::NodePort,
    }
}

impl VipKey {
    #[inline]
    pub(crate) fn new(protocol: Protocol, addr: IpAddr, port: u16) -> Self {
        Self {
            addr: ip_key(addr),
            port,
            proto: protocol.number(),
            flags: u8::from(addr.is_ipv6()),
        }
    }

    fn with_kind(mut self, kind: FrontendKind) -> Self {
        self.flags = (self.flags & V6_FLAG) | kind_code(kind) << 1;
        self
    }

    fn kind(&self) -> FrontendKind {
        kind_of(self.flags >> 1)
    }
}

impl PartialEq for VipKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        // The addresses as 128-bit words: `==` on the arrays may compile to a `memcmp` call.
        u128::from_ne_bytes(self.addr) == u128::from_ne_bytes(other.addr)
            && self.port == other.port
            && self.proto == other.proto
            && (self.flags ^ other.flags) & V6_FLAG == 0
    }
}

impl Eq for VipKey {}

impl IndexKey for VipKey {
    #[inline]
    fn index_hash(&self) -> u64 {
        let v6 = self.flags & V6_FLAG;
        let tweak = u64::from(self.port) | u64::from(self.proto) << 16 | u64::from(v6) << 24;
        INDEX_HASHER.hash(u128::from_le_bytes(self.addr), 0, tweak)
    }
}

/// (protocol, family, nodePort).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NodePortKey(u32);

impl NodePortKey {
    #[inline]
    pub(crate) fn new(protocol: Protocol, family: IpFamily, port: u16) -> Self {
        let v6 = u32::from(family == IpFamily::V6);
        Self(u32::from(protocol.number()) << 24 | v6 << 16 | u32::from(port))
    }
}

impl IndexKey for NodePortKey {
    #[inline]
    fn index_hash(&self) -> u64 {
        crate::hash::mix64(u64::from(self.0) ^ INDEX_SEED)
    }
}

/// An address (cluster IPs, for the undefined-port check).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AddrKey {
    addr: [u8; 16],
    v6: bool,
}

impl AddrKey {
    #[inline]
    pub(crate) fn new(addr: IpAddr) -> Self {
        Self {
            addr: ip_key(addr),
            v6: addr.is_ipv6(),
        }
    }
}

impl IndexKey for AddrKey {
    #[inline]
    fn index_hash(&self) -> u64 {
        INDEX_HASHER.hash(u128::from_le_bytes(self.addr), 0, u64::from(self.v6))
    }
}

/// A Service port's affinity identity ([`PortPlan::affinity_id`]), for the affinity index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AffinityKey(u64);

impl IndexKey for AffinityKey {
    #[inline]
    fn index_hash(&self) -> u64 {
        crate::hash::mix64(self.0)
    }
}

impl IndexKey for ObjectRef {
    fn index_hash(&self) -> u64 {
        let ns = crate::hash::xxh64(INDEX_SEED, self.namespace.as_bytes());
        crate::hash::xxh64(ns, self.name.as_bytes())
    }
}

/// The lookup tables, kept by the catalog and cloned (cheaply: chunks are shared) into each
/// snapshot.
#[derive(Clone, Default)]
pub(crate) struct Tables {
    pub(crate) vips: ChunkMap<VipKey, Arc<PortPlan>>,
    pub(crate) node_ports: ChunkMap<NodePortKey, Arc<PortPlan>>,
    pub(crate) cluster_ips: ChunkMap<AddrKey, Arc<ServicePlan>>,
    /// How many frontends each cluster IP, externalIP and LB IP has (for packets without
    /// ports: later IP fragments).
    pub(crate) vip_addrs: ChunkMap<AddrKey, u32>,
    pub(crate) services: ChunkMap<ObjectRef, Arc<ServicePlan>>,
    /// The Service ports with ClientIP affinity, by affinity identity: a worker drops the pins
    /// of a new snapshot's departed endpoints at once (`Worker::on_snapshot`).
    pub(crate) affinity: ChunkMap<AffinityKey, Arc<PortPlan>>,
}

impl Tables {
    /// Replaces the compiled plans: removes every entry of `old` plans, then inserts every entry
    /// of `new` plans. Only the chunks these entries live in are copied.
    pub(crate) fn replace(&mut self, old: &[Arc<ServicePlan>], new: &[Arc<ServicePlan>]) {
        let mut vip_rm = Vec::new();
        let mut np_rm = Vec::new();
        let mut ip_rm = Vec::new();
        let mut svc_rm = Vec::new();
        let mut aff_rm = Vec::new();
        for plan in old {
            svc_rm.push(plan.id.clone());
            aff_rm.extend(
                plan.ports
                    .iter()
                    .filter(|p| p.affinity_timeout.is_some())
                    .map(|p| AffinityKey(p.affinity_id)),
            );
            ip_rm.extend(plan.cluster_ips.iter().map(|ip| AddrKey::new(*ip)));
            for f in &plan.frontends {
                match f.address {
                    Some(addr) => vip_rm.push(VipKey::new(f.protocol, addr, f.port)),
                    None => np_rm.push(NodePortKey::new(f.protocol, f.family, f.port)),
                }
            }
        }
        let mut vip_in = Vec::new();
        let mut np_in = Vec::new();
        let mut ip_in = Vec::new();
        let mut svc_in = Vec::new();
        let mut aff_in = Vec::new();
        for plan in new {
            svc_in.push((plan.id.clone(), plan.clone()));
            aff_in.extend(
                plan.ports
                    .iter()
                    .filter(|p| p.affinity_timeout.is_some())
                    .map(|p| (AffinityKey(p.affinity_id), p.clone())),
            );
            ip_in.extend(
                plan.cluster_ips
                    .iter()
                    .map(|ip| (AddrKey::new(*ip), plan.clone())),
            );
            for f in &plan.frontends {
                let Some(port_plan) = plan.ports.get(f.plan) else {
                    continue;
                };
                let value = port_plan.clone();
                match f.address {
                    Some(addr) => vip_in.push((
                        VipKey::new(f.protocol, addr, f.port).with_kind(f.kind),
                        value,
                    )),
                    None => np_in.push((NodePortKey::new(f.protocol, f.family, f.port), value)),
                }
            }
        }
        self.count_vip_addresses(old, new);
        self.vips.apply(vip_rm, vip_in);
        self.node_ports.apply(np_rm, np_in);
        self.cluster_ips.apply(ip_rm, ip_in);
        self.services.apply(svc_rm, svc_in);
        self.affinity.apply(aff_rm, aff_in);
    }

    /// Updates `vip_addrs` for the frontends of `old` plans leaving and `new` ones arriving;
    /// only the addresses they name are touched.
    fn count_vip_addresses(&mut self, old: &[Arc<ServicePlan>], new: &[Arc<ServicePlan>]) {
        let addrs = |plans: &[Arc<ServicePlan>]| -> Vec<AddrKey> {
            plans
                .iter()
                .flat_map(|p| p.frontends.iter().filter_map(|f| f.address))
                .map(AddrKey::new)
                .collect()
        };
        let mut delta: BTreeMap<AddrKey, i64> = BTreeMap::new();
        for key in addrs(old) {
            *delta.entry(key).or_default() -= 1;
        }
        for key in addrs(new) {
            *delta.entry(key).or_default() += 1;
        }
        let mut removes = Vec::new();
        let mut inserts = Vec::new();
        for (key, d) in delta.into_iter().filter(|&(_, d)| d != 0) {
            let count = i64::from(self.vip_addrs.get(&key).copied().unwrap_or(0)) + d;
            removes.push(key);
            if let Ok(count @ 1..) = u32::try_from(count) {
                inserts.push((key, count));
            }
        }
        self.vip_addrs.apply(removes, inserts);
    }
}

/// An immutable, shareable compiled service table. See the [module documentation](self).
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) config: Arc<NodeConfig>,
    pub(crate) node_port_ips: Vec<IpAddr>,
    pub(crate) tables: Tables,
    pub(crate) generation: u64,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("node", &self.config.node_name)
            .field("generation", &self.generation)
            .field("services", &self.tables.services.len())
            .field("frontends", &self.frontend_count())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// The frontend at (`protocol`, `address`, `port`): a cluster IP, externalIP or
    /// load-balancer IP. NodePorts are found by [`node_port`](Self::node_port) or
    /// [`lookup`](Self::lookup).
    #[inline]
    pub fn frontend(&self, protocol: Protocol, address: IpAddr, port: u16) -> Option<Frontend<'_>> {
        self.tables
            .vips
            .get_key_value(&VipKey::new(protocol, address, port))
            .map(|(key, plan)| Frontend {
                kind: key.kind(),
                plan,
            })
    }

    /// [`frontend`](Self::frontend) for several destinations at once: `out[i]` is
    /// `self.frontend(q.protocol, q.address, q.port)` for `q = queries[i]`, for the first
    /// `min(queries.len(), out.len(), FRONTEND_BURST)` queries; returns that count.
    ///
    /// The same answers as one call per query, faster when the table is much larger than the
    /// CPU cache: every query is hashed and its table slot prefetched before any is probed, so
    /// the cache misses of the burst overlap (DPDK's bulk lookups work the same way). Allocates
    /// nothing; meant for burst-oriented packet paths.
    pub fn frontend_burst<'a>(
        &'a self,
        queries: &[FrontendQuery],
        out: &mut [Option<Frontend<'a>>],
    ) -> usize {
        let n = queries.len().min(out.len()).min(FRONTEND_BURST);
        let mut keys = [VipKey::new(Protocol::Tcp, IpAddr::V4([0; 4].into()), 0); FRONTEND_BURST];
        for (k, q) in keys.iter_mut().zip(queries).take(n) {
            *k = VipKey::new(q.protocol, q.address, q.port);
        }
        let mut found: [Option<(&VipKey, &Arc<PortPlan>)>; FRONTEND_BURST] = [None; FRONTEND_BURST];
        let n = self
            .tables
            .vips
            .get_key_value_burst(keys.get(..n).unwrap_or(&[]), &mut found);
        for (o, f) in out.iter_mut().zip(found.iter()).take(n) {
            *o = f.map(|(key, plan)| Frontend {
                kind: key.kind(),
                plan,
            });
        }
        n
    }

    /// Starts loading the table slot [`Snapshot::frontend`] of (`protocol`, `address`,
    /// `port`) probes first (a burst's early stage).
    #[inline]
    pub(crate) fn prefetch_frontend(&self, protocol: Protocol, address: IpAddr, port: u16) {
        self.tables
            .vips
            .prefetch(&VipKey::new(protocol, address, port));
    }

    /// The NodePort frontend for (`protocol`, `family`, `port`). It answers only on this node's
    /// NodePort addresses of that family ([`is_node_port_address`](Self::is_node_port_address)).
    #[inline]
    pub fn node_port(
        &self,
        protocol: Protocol,
        family: IpFamily,
        port: u16,
    ) -> Option<Frontend<'_>> {
        self.tables
            .node_ports
            .get(&NodePortKey::new(protocol, family, port))
            .map(|plan| Frontend {
                kind: FrontendKind::NodePort,
                plan,
            })
    }

    /// True when NodePorts answer on `address` on this node.
    #[inline]
    pub fn is_node_port_address(&self, address: IpAddr) -> bool {
        self.node_port_ips.contains(&address)
    }

    /// True when some Service has a NodePort (on this node's NodePort addresses).
    pub fn has_node_ports(&self) -> bool {
        self.tables.node_ports.len() > 0
    }

    /// True when some frontend is at `address`: a cluster IP, externalIP or load-balancer IP
    /// with at least one port (not a NodePort address). O(1).
    pub fn has_frontends_at(&self, address: IpAddr) -> bool {
        self.tables.vip_addrs.get(&AddrKey::new(address)).is_some()
    }

    /// True when `address` has frontends ([`has_frontends_at`](Self::has_frontends_at)) or is
    /// a cluster IP or another address of a service CIDR
    /// ([`in_service_cidrs`](Self::in_service_cidrs)). NodePorts are not counted.
    pub fn is_service_destination(&self, address: IpAddr) -> bool {
        self.has_frontends_at(address) || self.in_service_cidrs(address)
    }

    /// True when `address` is a cluster IP of ours or another address of a service CIDR: only
    /// Service traffic goes there, on any port (another proxy's cluster IPs are not counted).
    pub fn in_service_cidrs(&self, address: IpAddr) -> bool {
        !matches!(self.service_address(address), Lookup::NotService)
    }

    /// Everything the table says about a packet to (`protocol`, `address`, `port`): a frontend
    /// (cluster IP, externalIP, LB IP, or NodePort on a NodePort address), an undefined port on a
    /// cluster IP (reject), an unallocated service-CIDR address (drop), or not a Service (pass).
    #[inline(always)]
    pub fn lookup(&self, protocol: Protocol, address: IpAddr, port: u16) -> Lookup<'_> {
        // The frontend hit inline (the address stays in registers); the rest out of line.
        if let Some(f) = self.frontend(protocol, address, port) {
            return Lookup::Frontend(f);
        }
        self.lookup_other(protocol, address, port)
    }

    /// [`Snapshot::lookup`] of an address and port that are not a cluster IP, externalIP or
    /// LB IP frontend.
    #[inline(never)]
    fn lookup_other(&self, protocol: Protocol, address: IpAddr, port: u16) -> Lookup<'_> {
        if self.is_node_port_address(address) {
            if let Some(f) = self.node_port(protocol, IpFamily::of(address), port) {
                return Lookup::Frontend(f);
            }
        }
        self.service_address(address)
    }

    /// The Service port with ClientIP affinity whose [`PortPlan::affinity_id`] is `id`.
    pub(crate) fn affinity_port(&self, id: u64) -> Option<&PortPlan> {
        self.tables.affinity.get(&AffinityKey(id)).map(|p| &**p)
    }

    /// What a new packet to `address` that no frontend takes meets, whatever its protocol and
    /// port (SEMANTICS.md §4): a cluster IP ([`Lookup::UndefinedPort`], rejected), another
    /// address inside a service CIDR ([`Lookup::UnallocatedServiceIp`], dropped), or nothing of
    /// the Services' ([`Lookup::NotService`]).
    pub(crate) fn service_address(&self, address: IpAddr) -> Lookup<'_> {
        if let Some(plan) = self.tables.cluster_ips.get(&AddrKey::new(address)) {
            if plan.foreign {
                // Another proxy's Service: allocated, and not ours to reject or drop.
                return Lookup::NotService;
            }
            return Lookup::UndefinedPort(plan);
        }
        if self
            .config
            .service_cidrs
            .iter()
            .any(|c| c.contains(address))
        {
            return Lookup::UnallocatedServiceIp;
        }
        Lookup::NotService
    }

    /// Where a connection from `source` comes from: this node, a pod, or outside
    /// (SEMANTICS.md §5).
    #[inline]
    pub fn source_class(&self, source: IpAddr) -> Source {
        if self.config.is_node_ip(source) {
            Source::Node
        } else if self.config.cluster_cidrs.iter().any(|c| c.contains(source)) {
            Source::Pod
        } else {
            Source::External
        }
    }

    /// The compiled plan of Service `id` (including headless and ExternalName Services, whose
    /// plans have no ports).
    pub fn service(&self, id: &ObjectRef) -> Option<&Arc<ServicePlan>> {
        self.tables.services.get(id)
    }

    /// Every Service plan, sorted by namespace and name.
    pub fn services(&self) -> Vec<&Arc<ServicePlan>> {
        let mut all: Vec<_> = self.tables.services.iter().map(|(_, v)| v).collect();
        all.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Every frontend with its Service, sorted by (protocol, family, address, port).
    pub fn frontends(&self) -> Vec<(FrontendRecord, &ObjectRef)> {
        let mut all: Vec<_> = self
            .tables
            .services
            .iter()
            .flat_map(|(_, plan)| plan.frontends.iter().map(move |f| (*f, &plan.id)))
            .collect();
        all.sort_unstable();
        all
    }

    /// The number of Services (proxied or not).
    pub fn service_count(&self) -> usize {
        self.tables.services.len()
    }

    /// The number of frontends (cluster IPs, externalIPs and LB IPs per port, plus NodePorts).
    pub fn frontend_count(&self) -> usize {
        self.tables.vips.len() + self.tables.node_ports.len()
    }

    /// The node configuration the snapshot was compiled for.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The cluster-wide Maglev / flow-hash seed.
    pub fn maglev_seed(&self) -> u64 {
        self.config.maglev_seed
    }

    /// The node's NodePort addresses (SEMANTICS.md: by default the primary address per family).
    pub fn node_port_addresses(&self) -> &[IpAddr] {
        &self.node_port_ips
    }

    /// The compile that produced this snapshot: 1 for the first, one more for each compile that
    /// changed something.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

fn write_backend(f: &mut fmt::Formatter<'_>, b: &PlanBackend) -> fmt::Result {
    write!(f, " {}", b.socket_addr())?;
    let c = b.conditions;
    let mut flags = Vec::new();
    if c.is_ready() {
        flags.push("ready");
    }
    if c.is_serving() {
        flags.push("serving");
    }
    if c.is_terminating() {
        flags.push("terminating");
    }
    if flags.is_empty() {
        flags.push("not-ready");
    }
    if b.local {
        flags.push("local");
    }
    f.write_str("(")?;
    for (i, flag) in flags.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        f.write_str(flag)?;
    }
    f.write_str(")")
}

fn write_pool(f: &mut fmt::Formatter<'_>, name: &str, plan: &PortPlan, pool: Pool) -> fmt::Result {
    let p = plan.pool(pool);
    write!(f, "    {name} pool:")?;
    if p.is_empty() {
        f.write_str(" <none>")?;
    }
    for b in p
        .members
        .iter()
        .filter_map(|&i| plan.backends.get(i as usize))
    {
        write!(f, " {}", b.socket_addr())?;
    }
    if p.terminating {
        f.write_str(" (terminating fallback)")?;
    }
    if let Some(m) = &p.maglev {
        write!(f, " [maglev M={}]", m.size())?;
    }
    writeln!(f)
}

impl fmt::Display for ServicePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.service_type)?;
        if self.foreign {
            return writeln!(
                f,
                " (no packet rules: another proxy's Service, or labelled headless)"
            );
        }
        if !self.proxied {
            return writeln!(f, " (no packet rules: headless or ExternalName)");
        }
        if let SessionAffinity::ClientIp { timeout_seconds } = self.session_affinity {
            write!(f, " affinity=ClientIP/{timeout_seconds}s")?;
        }
        if self.internal_policy == TrafficPolicy::Local {
            f.write_str(" internalTrafficPolicy=Local")?;
        }
        if self.external_policy == TrafficPolicy::Local {
            f.write_str(" externalTrafficPolicy=Local")?;
        }
        if let Some(hc) = self.health_check_node_port {
            write!(
                f,
                " healthCheckNodePort={hc} localReady={}",
                self.local_ready
            )?;
        }
        writeln!(f)?;
        for (i, plan) in self.ports.iter().enumerate() {
            let name = if plan.name.is_empty() {
                "<unnamed>"
            } else {
                plan.name.as_str()
            };
            write!(
                f,
                "  port {name} {}/{} {}",
                plan.port, plan.protocol, plan.family
            )?;
            if plan.rejects_new_connections() {
                f.write_str(" REJECT (no usable endpoints)")?;
            }
            writeln!(f)?;
            f.write_str("    frontends:")?;
            for fe in self.frontends.iter().filter(|fe| fe.plan == i) {
                write!(f, " [{fe}]")?;
            }
            if !plan.source_ranges.is_empty() {
                f.write_str(" sourceRanges:")?;
                for c in &plan.source_ranges {
                    write!(f, " {c}")?;
                }
            }
            writeln!(f)?;
            f.write_str("    endpoints:")?;
            if plan.backends.is_empty() {
                f.write_str(" <none>")?;
            }
            for b in &plan.backends {
                write_backend(f, b)?;
            }
            writeln!(f)?;
            write_pool(f, "cluster", plan, Pool::Cluster)?;
            write_pool(f, "local", plan, Pool::Local)?;
        }
        Ok(())
    }
}

/// The `kubectl get endpoints` of svcplane: every Service with its ports, frontends, endpoints
/// and pools, sorted.
impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "snapshot {} of node {}: {} services, {} frontends",
            self.generation,
            self.config.node_name,
            self.service_count(),
            self.frontend_count()
        )?;
        for plan in self.services() {
            write!(f, "{plan}")?;
        }
        Ok(())
    }
}
