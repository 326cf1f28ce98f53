//! The catalog: the desired state of Services and their endpoints, compiled incrementally into
//! [`Snapshot`]s.
//!
//! A [`Catalog`] is created with the node's [`NodeConfig`] (node name and zone, node addresses,
//! NodePort addresses, cluster and service CIDRs, masquerade-all, NodePort range and the
//! cluster-wide Maglev seed). The control plane then
//!
//! - upserts and removes Services ([`Catalog::upsert_service`], [`Catalog::remove_service`]),
//! - replaces the EndpointSlices of a Service ([`Catalog::replace_endpoints`]),
//! - and compiles ([`Catalog::compile`]) whenever it wants the packet path to see the changes.
//!
//! Every change is validated first, and a rejected call changes nothing. Besides the API rules of
//! [`Service::validate`] and [`validate_slices`], the catalog enforces what the API server's
//! allocators guarantee cluster-wide, so that two Services can never claim the same packets:
//!
//! - a cluster IP belongs to one Service;
//! - a nodePort number (and a healthCheckNodePort) belongs to one Service, whatever the protocol;
//! - a frontend (protocol, address, port) — over cluster IPs, externalIPs and load-balancer IPs —
//!   belongs to one Service. Two Services may share an externalIP or LB IP on different ports.
//!
//! A conflict is an [`Error::Conflict`] naming the field and the Service that holds the value
//! ([`ErrorKind::AlreadyAllocated`]).
//!
//! Services and EndpointSlices are independent objects, as in Kubernetes: endpoints may arrive
//! before their Service and are kept when it is removed; `replace_endpoints(id, vec![])` drops
//! them.
//!
//! # Incremental compile
//!
//! A change marks its Service dirty (an upsert or replace that changes nothing marks nothing).
//! [`Catalog::compile`] rebuilds the plans of dirty Services only and updates the lookup tables
//! in place: they are persistent two-level hash tables whose chunks are copied on write, so a
//! compile copies the few chunks holding the changed Services' entries plus one pointer per chunk,
//! never the whole table. Unchanged Services keep their `Arc<ServicePlan>` (and Maglev tables)
//! from the previous snapshot; within a rebuilt Service, a Maglev table whose pool addresses did
//! not change is reused, and ports whose pools hold the same addresses share one table
//! (DESIGN.md invariant 7). Compiling with nothing dirty returns the previous snapshot itself.
//!
//! # Determinism
//!
//! A snapshot depends only on the set of objects, never on the order of calls: backends are
//! ordered canonically, Maglev tables depend only on the pool's addresses and the seed, and
//! conflicts are decided against the state, so two catalogs that accepted the same objects
//! compile to the same lookups and tables (DESIGN.md invariant 3).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;
use core::net::IpAddr;

use crate::maglev::{self, ip_key, Maglev, MaglevBuilder};
use crate::model::{
    backends_for, validate_slices, Backend, EndpointSlice, ErrorKind, IpFamily, IpMode, NodeConfig,
    ObjectKind, ObjectRef, Protocol, Service, ServiceType, ValidationError,
};
use crate::select::{select, Pool, PoolUse};
use crate::snapshot::{
    BackendPool, FrontendKind, FrontendRecord, PlanBackend, PortPlan, ServicePlan, Snapshot, Tables,
};

/// Why a catalog call was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The node configuration given to [`Catalog::new`] is invalid.
    InvalidConfig(ValidationError),
    /// The object breaks a Kubernetes API rule (or a svcplane limit); the error names the object
    /// and the field.
    Invalid(ValidationError),
    /// The object is valid on its own, but claims a cluster IP, nodePort or frontend another
    /// Service holds; the error names the field and ([`ErrorKind::AlreadyAllocated`]) the owner.
    Conflict(ValidationError),
}

impl Error {
    /// The underlying error: which object, which field, what is wrong.
    pub fn validation(&self) -> &ValidationError {
        match self {
            Self::InvalidConfig(e) | Self::Invalid(e) | Self::Conflict(e) => e,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(e) => write!(f, "invalid node configuration: {e}"),
            Self::Invalid(e) => write!(f, "invalid: {e}"),
            Self::Conflict(e) => write!(f, "conflict: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// The field of a Service a claim comes from (formatted only when reporting a conflict).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldRef {
    ClusterIp(usize),
    ExternalIp(usize),
    LbIngress(usize),
    NodePort(usize),
    HealthCheckNodePort,
}

impl FieldRef {
    fn path(self) -> String {
        match self {
            Self::ClusterIp(i) => format!("spec.clusterIPs[{i}]"),
            Self::ExternalIp(i) => format!("spec.externalIPs[{i}]"),
            Self::LbIngress(i) => format!("status.loadBalancer.ingress[{i}].ip"),
            Self::NodePort(i) => format!("spec.ports[{i}].nodePort"),
            Self::HealthCheckNodePort => String::from("spec.healthCheckNodePort"),
        }
    }
}

/// A frontend of a Service before compiling: what it matches and which field it comes from.
#[derive(Clone, Copy, Debug)]
struct FrontendSpec {
    record: FrontendRecord,
    field: FieldRef,
}

/// The frontends of a proxied Service, per family (primary first) and port, without duplicates:
/// when an address is listed twice for one port (say as both externalIP and LB IP), the first
/// kind in the order ClusterIP, LoadBalancer, ExternalIP wins. The plan index is
/// `family_index * ports + port_index`.
fn frontend_specs(config: &NodeConfig, service: &Service) -> Vec<FrontendSpec> {
    let mut out: Vec<FrontendSpec> = Vec::new();
    if !service.is_proxied_by(config) {
        return out;
    }
    let n_ports = service.ports.len();
    for (fi, family) in service.families().enumerate() {
        for (pi, port) in service.ports.iter().enumerate() {
            let plan = fi * n_ports + pi;
            let mut vips: Vec<(IpAddr, FrontendKind, FieldRef)> = Vec::new();
            for (k, ip) in service.cluster_ip_list().iter().enumerate() {
                if IpFamily::of(*ip) == family {
                    vips.push((*ip, FrontendKind::ClusterIp, FieldRef::ClusterIp(k)));
                }
            }
            for (k, ing) in service.load_balancer_ingress.iter().enumerate() {
                // `ipMode: Proxy` entries get no packet rules (SEMANTICS.md §1).
                if ing.ip_mode == IpMode::Vip && IpFamily::of(ing.ip) == family {
                    vips.push((ing.ip, FrontendKind::LoadBalancer, FieldRef::LbIngress(k)));
                }
            }
            for (k, ip) in service.external_ips.iter().enumerate() {
                if IpFamily::of(*ip) == family {
                    vips.push((*ip, FrontendKind::ExternalIp, FieldRef::ExternalIp(k)));
                }
            }
            let mut seen: Vec<IpAddr> = Vec::new();
            for (ip, kind, field) in vips {
                if seen.contains(&ip) {
                    continue;
                }
                seen.push(ip);
                out.push(FrontendSpec {
                    record: FrontendRecord {
                        protocol: port.protocol,
                        family,
                        address: Some(ip),
                        port: port.port,
                        kind,
                        plan,
                    },
                    field,
                });
            }
            if let Some(node_port) = port.node_port.filter(|_| service.uses_node_ports()) {
                out.push(FrontendSpec {
                    record: FrontendRecord {
                        protocol: port.protocol,
                        family,
                        address: None,
                        port: node_port,
                        kind: FrontendKind::NodePort,
                        plan,
                    },
                    field: FieldRef::NodePort(pi),
                });
            }
        }
    }
    out
}

/// What a Service claims cluster-wide.
struct Claims {
    cluster_ips: Vec<(IpAddr, FieldRef)>,
    node_ports: Vec<(u16, FieldRef)>,
    vips: Vec<((Protocol, IpAddr, u16), FieldRef)>,
}

fn claims(config: &NodeConfig, service: &Service) -> Claims {
    let cluster_ips = service
        .cluster_ip_list()
        .iter()
        .enumerate()
        .map(|(i, ip)| (*ip, FieldRef::ClusterIp(i)))
        .collect();
    // An ExternalName Service's nodePort (stored as given by the API server) claims nothing.
    let uses_node_ports = service.uses_node_ports();
    let mut node_ports: Vec<(u16, FieldRef)> = service
        .ports
        .iter()
        .enumerate()
        .filter(|_| uses_node_ports)
        .filter_map(|(i, p)| p.node_port.map(|n| (n, FieldRef::NodePort(i))))
        .collect();
    if let Some(hc) = service.health_check_node_port {
        node_ports.push((hc, FieldRef::HealthCheckNodePort));
    }
    let vips = frontend_specs(config, service)
        .into_iter()
        .filter_map(|s| {
            s.record
                .address
                .map(|a| ((s.record.protocol, a, s.record.port), s.field))
        })
        .collect();
    Claims {
        cluster_ips,
        node_ports,
        vips,
    }
}

/// The desired state of one node's service table. See the [module documentation](self).
///
/// Cloning is cheap for the lookup tables (their chunks are shared) and copies the object maps;
/// a caller can apply a batch of changes to a clone and keep it only when all were accepted.
#[derive(Clone)]
pub struct Catalog {
    config: Arc<NodeConfig>,
    node_port_ips: Vec<IpAddr>,
    services: BTreeMap<ObjectRef, Service>,
    endpoints: BTreeMap<ObjectRef, Vec<EndpointSlice>>,
    cluster_ip_owners: BTreeMap<IpAddr, ObjectRef>,
    node_port_owners: BTreeMap<u16, ObjectRef>,
    vip_owners: BTreeMap<(Protocol, IpAddr, u16), ObjectRef>,
    dirty: BTreeSet<ObjectRef>,
    tables: Tables,
    generation: u64,
    last: Option<Arc<Snapshot>>,
    /// Builds every new Maglev table, keeping its working memory between builds.
    builder: MaglevBuilder,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("node", &self.config.node_name)
            .field("services", &self.services.len())
            .field("endpoints", &self.endpoints.len())
            .field("dirty", &self.dirty.len())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// An empty catalog for the node `config` describes (checked by [`NodeConfig::validate`]).
    pub fn new(config: NodeConfig) -> Result<Self, Error> {
        config.validate().map_err(Error::InvalidConfig)?;
        let mut node_port_ips = config.node_port_ips(IpFamily::V4);
        node_port_ips.extend(config.node_port_ips(IpFamily::V6));
        Ok(Self {
            config: Arc::new(config),
            node_port_ips,
            services: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            cluster_ip_owners: BTreeMap::new(),
            node_port_owners: BTreeMap::new(),
            vip_owners: BTreeMap::new(),
            dirty: BTreeSet::new(),
            tables: Tables::default(),
            generation: 0,
            last: None,
            builder: MaglevBuilder::new(),
        })
    }

    /// The node configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The Service `id`, as last upserted.
    pub fn service(&self, id: &ObjectRef) -> Option<&Service> {
        self.services.get(id)
    }

    /// The EndpointSlices of Service `id`, as last replaced.
    pub fn endpoints(&self, id: &ObjectRef) -> Option<&[EndpointSlice]> {
        self.endpoints.get(id).map(Vec::as_slice)
    }

    /// Every Service, as last upserted, ordered by namespace and name.
    pub fn services(&self) -> impl Iterator<Item = &Service> + '_ {
        self.services.values()
    }

    /// The number of Services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// True when the catalog holds no Service.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// True when a change has not been compiled yet.
    pub fn has_changes(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Adds or replaces a Service.
    ///
    /// Refused, with nothing changed, when the Service breaks an API rule ([`Error::Invalid`],
    /// see [`Service::validate`], which also bounds `maglevTableSize` by the largest table
    /// [`maglev`] builds) or claims a cluster IP, nodePort or frontend another Service holds
    /// ([`Error::Conflict`]). Upserting a Service equal to the stored one changes nothing.
    pub fn upsert_service(&mut self, service: Service) -> Result<(), Error> {
        service.validate(&self.config).map_err(Error::Invalid)?;
        if self.services.get(&service.id) == Some(&service) {
            return Ok(());
        }
        let id = &service.id;
        let new = claims(&self.config, &service);
        let conflict = |field: FieldRef, owner: &ObjectRef| {
            Error::Conflict(ValidationError {
                object_kind: ObjectKind::Service,
                object: id.clone(),
                field: field.path(),
                kind: ErrorKind::AlreadyAllocated {
                    owner: Box::new(owner.clone()),
                },
            })
        };
        for (ip, field) in &new.cluster_ips {
            if let Some(owner) = self.cluster_ip_owners.get(ip).filter(|o| *o != id) {
                return Err(conflict(*field, owner));
            }
        }
        for (port, field) in &new.node_ports {
            if let Some(owner) = self.node_port_owners.get(port).filter(|o| *o != id) {
                return Err(conflict(*field, owner));
            }
        }
        for (key, field) in &new.vips {
            if let Some(owner) = self.vip_owners.get(key).filter(|o| *o != id) {
                return Err(conflict(*field, owner));
            }
        }
        // Accepted: release the old claims, take the new ones.
        if let Some(old) = self.services.get(id) {
            let old = claims(&self.config, old);
            self.release(id, &old);
        }
        for (ip, _) in new.cluster_ips {
            self.cluster_ip_owners.insert(ip, id.clone());
        }
        for (port, _) in new.node_ports {
            self.node_port_owners.insert(port, id.clone());
        }
        for (key, _) in new.vips {
            self.vip_owners.insert(key, id.clone());
        }
        self.dirty.insert(id.clone());
        self.services.insert(id.clone(), service);
        Ok(())
    }

    fn release(&mut self, id: &ObjectRef, claims: &Claims) {
        for (ip, _) in &claims.cluster_ips {
            if self.cluster_ip_owners.get(ip) == Some(id) {
                self.cluster_ip_owners.remove(ip);
            }
        }
        for (port, _) in &claims.node_ports {
            if self.node_port_owners.get(port) == Some(id) {
                self.node_port_owners.remove(port);
            }
        }
        for (key, _) in &claims.vips {
            if self.vip_owners.get(key) == Some(id) {
                self.vip_owners.remove(key);
            }
        }
    }

    /// Removes Service `id` and frees what it claimed; its endpoints are kept (see the
    /// [module documentation](self)). Returns whether it was there.
    pub fn remove_service(&mut self, id: &ObjectRef) -> bool {
        let Some(old) = self.services.remove(id) else {
            return false;
        };
        let old = claims(&self.config, &old);
        self.release(id, &old);
        self.dirty.insert(id.clone());
        true
    }

    /// Replaces the EndpointSlices of Service `id` (which need not exist yet); an empty list
    /// removes them.
    ///
    /// Refused, with nothing changed, when a slice breaks an API rule ([`validate_slices`] in
    /// the Service's namespace) or when one family holds more distinct endpoint addresses than a
    /// Maglev table can index ([`maglev::MAX_BACKENDS`]).
    pub fn replace_endpoints(
        &mut self,
        id: &ObjectRef,
        slices: Vec<EndpointSlice>,
    ) -> Result<(), Error> {
        validate_slices(&id.namespace, &slices).map_err(Error::Invalid)?;
        let mut addresses = BTreeSet::new();
        let (mut v4, mut v6) = (0usize, 0usize);
        for slice in &slices {
            for e in &slice.endpoints {
                if addresses.insert(e.address) {
                    if e.address.is_ipv4() {
                        v4 += 1;
                    } else {
                        v6 += 1;
                    }
                }
            }
            if v4.max(v6) > maglev::MAX_BACKENDS {
                // The limit is the Service's, over all its slices: no one slice is to blame.
                return Err(Error::Invalid(ValidationError {
                    object_kind: ObjectKind::Service,
                    object: id.clone(),
                    field: "endpoints (distinct addresses of one family, over all its \
                            EndpointSlices)"
                        .into(),
                    kind: ErrorKind::TooMany {
                        max: maglev::MAX_BACKENDS,
                    },
                }));
            }
        }
        let current = self.endpoints.get(id).map_or(&[][..], Vec::as_slice);
        if current == slices.as_slice() {
            return Ok(());
        }
        if slices.is_empty() {
            self.endpoints.remove(id);
        } else {
            self.endpoints.insert(id.clone(), slices);
        }
        if self.services.contains_key(id) || self.tables.services.get(id).is_some() {
            self.dirty.insert(id.clone());
        }
        Ok(())
    }

    /// Compiles the current state into a snapshot, rebuilding only the Services changed since
    /// the last compile (see the [module documentation](self)). With no change since the last
    /// compile, returns that snapshot itself.
    pub fn compile(&mut self) -> Arc<Snapshot> {
        if let (true, Some(last)) = (self.dirty.is_empty(), &self.last) {
            return last.clone();
        }
        let dirty = core::mem::take(&mut self.dirty);
        let mut old_plans = Vec::new();
        let mut new_plans = Vec::new();
        for id in &dirty {
            let old = self.tables.services.get(id).cloned();
            if let Some(service) = self.services.get(id) {
                let slices = self.endpoints.get(id).map_or(&[][..], Vec::as_slice);
                let plan = build_plan(
                    &self.config,
                    service,
                    slices,
                    old.as_deref(),
                    &mut self.builder,
                );
                // An undone change, or endpoint churn no plan sees (a headless Service's
                // endpoints, a hostname): the old plan stays, shared, with its index entries.
                // Reused Maglev tables compare by pointer, so this costs little.
                if old.as_deref() == Some(&plan) {
                    continue;
                }
                new_plans.push(Arc::new(plan));
            }
            if let Some(old) = old {
                old_plans.push(old);
            }
        }
        if let (true, true, Some(last)) = (old_plans.is_empty(), new_plans.is_empty(), &self.last) {
            return last.clone();
        }
        self.tables.replace(&old_plans, &new_plans);
        self.generation += 1;
        let snapshot = Arc::new(Snapshot {
            config: self.config.clone(),
            node_port_ips: self.node_port_ips.clone(),
            tables: self.tables.clone(),
            generation: self.generation,
        });
        self.last = Some(snapshot.clone());
        snapshot
    }
}

/// Key of a Maglev table: its size and the pool's addresses in canonical order.
type TableKey = (u32, Vec<[u8; 16]>);

/// The size of the Maglev table for `active` equal-weight backends when the Service asks for
/// `size`: that size when it is valid for them, the default size otherwise.
fn table_size_for(size: Option<u32>, active: usize) -> u32 {
    match size {
        Some(m) if maglev::validate_table_size(m, active).is_ok() => m,
        _ => maglev::default_table_size(active),
    }
}

/// The Maglev tables of one Service's compile: those built or reused so far, by key, and the
/// builder for new ones.
struct TableCache<'b> {
    tables: BTreeMap<TableKey, Arc<Maglev>>,
    builder: &'b mut MaglevBuilder,
}

/// Builds (or reuses) the Maglev table for `addresses` (canonical order, distinct, non-empty).
fn maglev_table(
    cache: &mut TableCache<'_>,
    size: Option<u32>,
    keys: Vec<[u8; 16]>,
    seed: u64,
) -> Option<Arc<Maglev>> {
    let key = (table_size_for(size, keys.len()), keys);
    if let Some(table) = cache.tables.get(&key) {
        return Some(table.clone());
    }
    let backends: Vec<maglev::Backend> =
        key.1.iter().map(|k| maglev::Backend::new(*k, 1)).collect();
    let table = Arc::new(cache.builder.build_with_size(&backends, seed, key.0).ok()?);
    cache.tables.insert(key, table.clone());
    Some(table)
}

/// One backend per address: when an address serves a Service port on several ports (slices
/// that disagree), keep a copy that is not terminating, then a Ready one, then a usable one,
/// then the local one, then the lowest port (the preference of `backends_for`).
fn one_per_address<'a>(backends: Vec<Backend<'a>>, node_name: &str) -> Vec<Backend<'a>> {
    let mut out: Vec<Backend<'a>> = Vec::with_capacity(backends.len());
    let rank = |b: &Backend<'_>| {
        let c = b.endpoint.conditions;
        (
            !c.is_terminating(),
            c.is_ready(),
            c.is_usable(),
            b.endpoint.is_local(node_name),
            Reverse(b.port),
        )
    };
    for b in backends {
        match out.last_mut() {
            Some(last) if last.endpoint.address == b.endpoint.address => {
                if rank(&b) > rank(last) {
                    *last = b;
                }
            }
            _ => out.push(b),
        }
    }
    out
}

fn pool_of(
    cache: &mut TableCache<'_>,
    service: &Service,
    seed: u64,
    backends: &[PlanBackend],
    members: &[u32],
    used: bool,
    terminating: bool,
) -> BackendPool {
    let mut members = members.to_vec();
    members.sort_by_key(|&i| backends.get(i as usize).map(|b| ip_key(b.address)));
    let maglev = if used && !members.is_empty() {
        let keys = members
            .iter()
            .filter_map(|&i| backends.get(i as usize))
            .map(|b| ip_key(b.address))
            .collect();
        maglev_table(cache, service.maglev_table_size, keys, seed)
    } else {
        None
    };
    BackendPool {
        members,
        maglev,
        terminating,
    }
}

/// Compiles one Service with its slices. `old` is its previous plan, whose Maglev tables are
/// reused when a pool's addresses did not change; new tables are built with `builder`.
fn build_plan(
    config: &NodeConfig,
    service: &Service,
    slices: &[EndpointSlice],
    old: Option<&ServicePlan>,
    builder: &mut MaglevBuilder,
) -> ServicePlan {
    let mut plan = ServicePlan {
        id: service.id.clone(),
        service_type: service.service_type,
        proxied: service.is_proxied_by(config),
        cluster_ips: service.cluster_ip_list().to_vec(),
        foreign: service.is_proxied() && !service.is_proxied_by(config),
        session_affinity: service.session_affinity,
        internal_policy: service.internal_traffic_policy,
        external_policy: service.external_traffic_policy,
        health_check_node_port: service.health_check_node_port,
        local_ready: 0,
        local_ready_v6: 0,
        ports: Vec::new(),
        frontends: Vec::new(),
    };
    if !plan.proxied {
        // Another proxy's Service keeps its cluster IPs (packets to them pass untouched); its
        // health check is that proxy's to answer, as kube-proxy never sees the Service.
        if !plan.foreign {
            plan.cluster_ips.clear();
        }
        plan.health_check_node_port = None;
        return plan;
    }
    let seed = config.maglev_seed;
    let mut cache = TableCache {
        tables: BTreeMap::new(),
        builder,
    };
    if let Some(old) = old {
        for port in &old.ports {
            for pool in [&port.cluster, &port.local] {
                if let Some(table) = &pool.maglev {
                    let keys = pool
                        .members
                        .iter()
                        .filter_map(|&i| port.backends.get(i as usize))
                        .map(|b| ip_key(b.address))
                        .collect();
                    // Keyed by the size it was built with: reused only where that is still
                    // the size asked for.
                    cache.tables.insert((table.size(), keys), table.clone());
                }
            }
        }
    }
    let node = config.node_name.as_str();
    let mut local_ready: BTreeSet<IpAddr> = BTreeSet::new();
    for family in service.families() {
        let ranges: Vec<_> = if service.service_type == ServiceType::LoadBalancer {
            service.source_ranges(family).cloned().collect()
        } else {
            Vec::new()
        };
        let lb_ips: Vec<IpAddr> = service.load_balancer_ips(family).collect();
        let hairpin = config
            .node_ips
            .iter()
            .any(|ip| ranges.iter().any(|c| c.contains(*ip)));
        for port in &service.ports {
            let found = one_per_address(backends_for(slices, port, family, node), node);
            let selection = select(&found, node, config.zone.as_deref());
            let uses = PoolUse::of(service, port, family);
            let backends: Vec<PlanBackend> = found
                .iter()
                .map(|b| PlanBackend {
                    address: b.endpoint.address,
                    port: b.port,
                    conditions: b.endpoint.conditions,
                    local: b.endpoint.is_local(node),
                    node_name: b.endpoint.node_name.clone(),
                    zone: b.endpoint.zone.clone(),
                })
                .collect();
            local_ready.extend(
                backends
                    .iter()
                    .filter(|b| b.local && b.conditions.is_ready())
                    .map(|b| b.address),
            );
            let cluster = pool_of(
                &mut cache,
                service,
                seed,
                &backends,
                selection.cluster(),
                uses.uses(Pool::Cluster),
                selection.cluster_is_terminating(),
            );
            let local = pool_of(
                &mut cache,
                service,
                seed,
                &backends,
                selection.local(),
                uses.uses(Pool::Local),
                selection.local_is_terminating(),
            );
            let mut port_plan = PortPlan {
                service: service.id.clone(),
                name: port.name.clone(),
                protocol: port.protocol,
                port: port.port,
                target_port: port.target_port.clone(),
                node_port: port.node_port,
                family,
                affinity_timeout: service.session_affinity.timeout_seconds(),
                affinity_id: 0,
                uses,
                external_policy: service.external_traffic_policy,
                source_ranges: ranges.clone(),
                lb_ips: lb_ips.clone(),
                hairpin_lb_sources: hairpin,
                backends,
                cluster,
                local,
                has_usable: selection.has_usable(),
                topology: selection.topology(),
                local_ready: selection.local_ready(),
            };
            port_plan.affinity_id = crate::affinity::port_id(&port_plan);
            plan.ports.push(Arc::new(port_plan));
        }
    }
    plan.local_ready = u32::try_from(local_ready.len()).unwrap_or(u32::MAX);
    let v6 = local_ready.iter().filter(|a| a.is_ipv6()).count();
    plan.local_ready_v6 = u32::try_from(v6).unwrap_or(u32::MAX);
    plan.frontends = frontend_specs(config, service)
        .into_iter()
        .map(|s| s.record)
        .collect();
    plan.frontends.sort_unstable();
    plan
}

#[cfg(test)]
mod tests;
