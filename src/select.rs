//! Which endpoints serve a Service port on this node (SEMANTICS.md §3, kube-proxy's
//! `CategorizeEndpoints`).
//!
//! [`select`] takes the endpoints of one Service port in one address family (for instance the
//! [`Backend`](crate::model::Backend)s of [`backends_for`](crate::model::backends_for)) and
//! computes two pools, as indices into that list in ascending order:
//!
//! - the **cluster pool**: a topology mode is decided from the Ready endpoints only (same-zone
//!   when every Ready endpoint has a zone hint and one names this node's zone, otherwise none);
//!   the pool is the Ready endpoints that mode admits; when that is empty, the serving and
//!   terminating endpoints anywhere, ignoring topology;
//! - the **local pool**: this node's Ready endpoints; else its serving and terminating ones;
//!   else nothing. Never filtered by topology.
//!
//! Usable endpoints are Ready, or serving AND terminating; nothing else is ever chosen.
//! ClusterIP traffic uses the pool internalTrafficPolicy names, external traffic (NodePort, LB
//! IPs, externalIPs) the one externalTrafficPolicy names ([`PoolUse`]).

use alloc::vec::Vec;

use crate::model::{Endpoint, IpFamily, NodeConfig, Service, ServicePort, TrafficPolicy};

/// One of the two endpoint pools of a Service port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pool {
    /// Endpoints anywhere in the cluster (topology-aware).
    Cluster,
    /// Endpoints on this node.
    Local,
}

impl From<TrafficPolicy> for Pool {
    fn from(policy: TrafficPolicy) -> Self {
        match policy {
            TrafficPolicy::Cluster => Self::Cluster,
            TrafficPolicy::Local => Self::Local,
        }
    }
}

/// Which way traffic reached the Service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Traffic {
    /// To a cluster IP: governed by internalTrafficPolicy.
    Internal,
    /// To a nodePort, an LB IP or an externalIP: governed by externalTrafficPolicy.
    External,
}

/// The topology mode the cluster pool was chosen under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topology {
    /// No filtering: every Ready endpoint is in the cluster pool.
    Any,
    /// Only Ready endpoints hinted for this node's zone are in the cluster pool.
    SameZone,
}

/// Which pool each kind of traffic to a Service port uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolUse {
    /// The pool for traffic to the cluster IP.
    pub internal: Pool,
    /// The pool for external traffic; `None` when the port is not externally accessible.
    pub external: Option<Pool>,
}

impl PoolUse {
    /// The pools for the given policies. externalTrafficPolicy only matters when the port is
    /// externally accessible.
    pub fn new(
        internal: TrafficPolicy,
        external: TrafficPolicy,
        externally_accessible: bool,
    ) -> Self {
        Self {
            internal: internal.into(),
            external: externally_accessible.then(|| external.into()),
        }
    }

    /// The pools of `port` of `service` in `family`.
    pub fn of(service: &Service, port: &ServicePort, family: IpFamily) -> Self {
        Self::new(
            service.internal_traffic_policy,
            service.external_traffic_policy,
            service.externally_accessible(port, family),
        )
    }

    /// The pool `traffic` uses; `None` for external traffic to a port that has none.
    pub fn pool(&self, traffic: Traffic) -> Option<Pool> {
        match traffic {
            Traffic::Internal => Some(self.internal),
            Traffic::External => self.external,
        }
    }

    /// True when some traffic can reach `pool`. An externally accessible port always uses the
    /// cluster pool: with externalTrafficPolicy Local, external traffic from pods and from this
    /// node is short-circuited to it (SEMANTICS §5).
    pub fn uses(&self, pool: Pool) -> bool {
        match pool {
            Pool::Cluster => self.internal == Pool::Cluster || self.external.is_some(),
            Pool::Local => self.internal == Pool::Local || self.external == Some(Pool::Local),
        }
    }
}

/// The endpoints that serve one Service port on this node: the result of [`select`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selection {
    cluster: Vec<u32>,
    local: Vec<u32>,
    topology_zone: bool,
    cluster_terminating: bool,
    local_terminating: bool,
    any_usable: bool,
    local_ready: u32,
}

/// Computes the cluster and local pools of `endpoints` (one Service port, one address family)
/// on node `node_name` in zone `zone`. Indices refer to `endpoints`.
///
/// An empty or absent zone never enables topology filtering.
pub fn select<E: AsRef<Endpoint>>(
    endpoints: &[E],
    node_name: &str,
    zone: Option<&str>,
) -> Selection {
    let zone = zone.filter(|z| !z.is_empty());
    let topology_zone = same_zone_mode(endpoints, zone);
    let mut selection = Selection {
        topology_zone,
        ..Selection::default()
    };
    let mut local_terminating = Vec::new();
    let mut cluster_terminating = Vec::new();
    // `0..=u32::MAX` ends the walk rather than overflow; no real list comes near it.
    for (i, endpoint) in (0..=u32::MAX).zip(endpoints) {
        let e = endpoint.as_ref();
        let c = e.conditions;
        let local = e.is_local(node_name);
        if c.is_ready() {
            selection.any_usable = true;
            if !topology_zone || hinted_for(e, zone) {
                selection.cluster.push(i);
            }
            if local {
                selection.local.push(i);
                if !c.is_terminating() {
                    selection.local_ready += 1;
                }
            }
        } else if c.is_serving() && c.is_terminating() {
            selection.any_usable = true;
            cluster_terminating.push(i);
            if local {
                local_terminating.push(i);
            }
        }
    }
    // Under zone mode some Ready endpoint is in the zone, so an empty cluster pool means no
    // endpoint is Ready anywhere: fall back to serving-terminating ones, cluster-wide.
    if selection.cluster.is_empty() {
        selection.cluster = cluster_terminating;
        selection.cluster_terminating = !selection.cluster.is_empty();
    }
    if selection.local.is_empty() {
        selection.local = local_terminating;
        selection.local_terminating = !selection.local.is_empty();
    }
    selection
}

/// Same-zone mode: there is a Ready endpoint, every Ready endpoint has a zone hint, and at least
/// one hint names `zone`.
fn same_zone_mode<E: AsRef<Endpoint>>(endpoints: &[E], zone: Option<&str>) -> bool {
    let mut ready = endpoints
        .iter()
        .map(AsRef::as_ref)
        .filter(|e| e.conditions.is_ready())
        .peekable();
    let mut for_zone = false;
    if ready.peek().is_none() {
        return false;
    }
    for e in ready {
        if e.zone_hints.is_empty() {
            return false;
        }
        for_zone |= hinted_for(e, zone);
    }
    for_zone
}

fn hinted_for(e: &Endpoint, zone: Option<&str>) -> bool {
    zone.is_some_and(|z| e.zone_hints.iter().any(|h| h == z))
}

impl Selection {
    /// [`select`] for the node `config` describes.
    pub fn for_node<E: AsRef<Endpoint>>(endpoints: &[E], config: &NodeConfig) -> Self {
        select(endpoints, &config.node_name, config.zone.as_deref())
    }

    /// The cluster pool.
    pub fn cluster(&self) -> &[u32] {
        &self.cluster
    }

    /// The local pool.
    pub fn local(&self) -> &[u32] {
        &self.local
    }

    /// The pool `pool`.
    pub fn pool(&self, pool: Pool) -> &[u32] {
        match pool {
            Pool::Cluster => &self.cluster,
            Pool::Local => &self.local,
        }
    }

    /// The endpoints `traffic` to this port is balanced over, given the port's [`PoolUse`];
    /// `None` when the port takes no such traffic.
    pub fn for_traffic(&self, uses: PoolUse, traffic: Traffic) -> Option<&[u32]> {
        uses.pool(traffic).map(|pool| self.pool(pool))
    }

    /// The topology mode the cluster pool was chosen under.
    pub fn topology(&self) -> Topology {
        if self.topology_zone {
            Topology::SameZone
        } else {
            Topology::Any
        }
    }

    /// True when the cluster pool holds serving-terminating endpoints because none is Ready.
    pub fn cluster_is_terminating(&self) -> bool {
        self.cluster_terminating
    }

    /// True when the local pool holds serving-terminating endpoints because none is Ready.
    pub fn local_is_terminating(&self) -> bool {
        self.local_terminating
    }

    /// True when some endpoint is usable anywhere in the cluster. When false, new connections
    /// are rejected on every frontend; when true but a pool is empty, traffic using that pool is
    /// dropped (SEMANTICS §4).
    pub fn has_usable(&self) -> bool {
        self.any_usable
    }

    /// The health-check count for externalTrafficPolicy Local: local Ready endpoints, not
    /// counting terminating ones. The health check answers 200 when it is above 0, else 503.
    pub fn local_ready(&self) -> u32 {
        self.local_ready
    }

    /// Every endpoint some traffic can reach on this node: the union of the pools `uses` uses,
    /// in ascending order.
    pub fn reachable(&self, uses: PoolUse) -> Vec<u32> {
        let mut all = Vec::with_capacity(self.cluster.len() + self.local.len());
        if uses.uses(Pool::Cluster) {
            all.extend_from_slice(&self.cluster);
        }
        if uses.uses(Pool::Local) {
            all.extend_from_slice(&self.local);
        }
        all.sort_unstable();
        all.dedup();
        all
    }
}
