//! Which endpoints serve a Service port on this node (SEMANTICS.md §3, kube-proxy's
//! `CategorizeEndpoints`).
//!
//! [`select`] takes the endpoints of one Service port in one address family (for instance the
//! [`Backend`](crate::model::Backend)s of [`backends_for`](crate::model::backends_for)) and
//! computes two pools, as indices into that list in ascending order:
//!
//! - the **cluster pool**: a topology mode is decided from the Ready endpoints only
//!   (kube-proxy's `topologyModeFromHints`): same-node when every Ready endpoint has a node hint
//!   and one names this node (trafficDistribution PreferSameNode), else same-zone when every
//!   Ready endpoint has a zone hint and one names this node's zone (PreferSameZone, PreferClose,
//!   topology-aware routing), otherwise none; the pool is the Ready endpoints that mode admits;
//!   when that is empty, the serving and terminating endpoints anywhere, ignoring topology;
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Topology {
    /// No filtering: every Ready endpoint is in the cluster pool.
    #[default]
    Any,
    /// Only Ready endpoints hinted for this node's zone are in the cluster pool.
    SameZone,
    /// Only Ready endpoints hinted for this node are in the cluster pool.
    SameNode,
}

impl Topology {
    /// The mode kube-proxy's `topologyModeFromHints` picks for `endpoints` on node `node_name`
    /// in zone `zone`, from the Ready endpoints' hints only: [`Topology::SameNode`] when every
    /// one has a node hint and one is hinted for this node, else [`Topology::SameZone`] when
    /// every one has a zone hint and one is hinted for this zone, else [`Topology::Any`].
    pub fn from_hints<E: AsRef<Endpoint>>(endpoints: &[E], node_name: &str, zone: &str) -> Self {
        let (mut all_nodes, mut for_node) = (true, false);
        let (mut all_zones, mut for_zone) = (true, false);
        let ready = endpoints.iter().map(AsRef::as_ref);
        for e in ready.filter(|e| e.conditions.is_ready()) {
            all_nodes &= !e.node_hints.is_empty();
            for_node |= e.node_hints.iter().any(|h| h == node_name);
            all_zones &= !e.zone_hints.is_empty();
            for_zone |= e.zone_hints.iter().any(|h| h == zone);
        }
        // `for_node` and `for_zone` imply a Ready endpoint.
        if all_nodes && for_node {
            Self::SameNode
        } else if all_zones && for_zone {
            Self::SameZone
        } else {
            Self::Any
        }
    }

    /// Whether this mode admits `e` to the cluster pool of node `node_name` in zone `zone`.
    pub fn admits(self, e: &Endpoint, node_name: &str, zone: &str) -> bool {
        match self {
            Self::Any => true,
            Self::SameZone => e.zone_hints.iter().any(|h| h == zone),
            Self::SameNode => e.node_hints.iter().any(|h| h == node_name),
        }
    }
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
    topology: Topology,
    cluster_terminating: bool,
    local_terminating: bool,
    any_usable: bool,
    local_ready: u32,
}

/// Computes the cluster and local pools of `endpoints` (one Service port, one address family)
/// on node `node_name` in zone `zone`. Indices refer to `endpoints`.
///
/// An absent zone is the empty string, as kube-proxy reads a node without a zone label: only
/// a zone hint `""` (which the API accepts) names it.
pub fn select<E: AsRef<Endpoint>>(
    endpoints: &[E],
    node_name: &str,
    zone: Option<&str>,
) -> Selection {
    let zone = zone.unwrap_or("");
    let topology = Topology::from_hints(endpoints, node_name, zone);
    let mut selection = Selection {
        topology,
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
            if topology.admits(e, node_name, zone) {
                selection.cluster.push(i);
            }
            if local {
                selection.local.push(i);
                selection.local_ready += 1;
            }
        } else if c.is_serving() && c.is_terminating() {
            selection.any_usable = true;
            cluster_terminating.push(i);
            if local {
                local_terminating.push(i);
            }
        }
    }
    // Under a topology mode some Ready endpoint is admitted, so an empty cluster pool means no
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
        self.topology
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

    /// The health-check count for externalTrafficPolicy Local: local Ready endpoints, as
    /// kube-proxy's `LocalReadyEndpoints` counts them (a Ready endpoint that is also
    /// terminating counts: with publishNotReadyAddresses it stays Ready; serving-terminating
    /// ones that are not Ready do not). The health check answers 200 when it is above 0, else
    /// 503.
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

#[cfg(test)]
mod tests {
    use alloc::string::{String, ToString};
    use alloc::vec;

    use super::*;
    use crate::model::{backends_for, seed, Conditions, Protocol};

    const NODE: &str = "this-node";

    fn ip(s: &str) -> core::net::IpAddr {
        s.parse().unwrap()
    }

    /// Ready (conditions absent), on another node.
    fn ready(addr: &str) -> Endpoint {
        Endpoint::new(ip(addr)).on_node("other-node")
    }

    fn with(addr: &str, ready: bool, serving: bool, terminating: bool) -> Endpoint {
        Endpoint::new(ip(addr))
            .on_node("other-node")
            .with_conditions(Conditions::from_api(
                Some(ready),
                Some(serving),
                Some(terminating),
            ))
    }

    /// Not ready; serving absent, so not serving either.
    fn unready(addr: &str) -> Endpoint {
        Endpoint::new(ip(addr))
            .on_node("other-node")
            .with_conditions(Conditions::from_api(Some(false), None, None))
    }

    /// Not ready, serving, terminating.
    fn terminating(addr: &str) -> Endpoint {
        with(addr, false, true, true)
    }

    fn local(e: Endpoint) -> Endpoint {
        e.on_node(NODE)
    }

    fn addresses(endpoints: &[Endpoint], indices: &[u32]) -> Vec<String> {
        indices
            .iter()
            .map(|&i| endpoints[i as usize].address.to_string())
            .collect()
    }

    /// internalTrafficPolicy Local?, externalTrafficPolicy Local?, externally accessible?
    fn uses(internal_local: bool, external_local: bool, external: bool) -> PoolUse {
        let policy = |local| {
            if local {
                TrafficPolicy::Local
            } else {
                TrafficPolicy::Cluster
            }
        };
        PoolUse::new(policy(internal_local), policy(external_local), external)
    }

    /// One case of kube-proxy's `TestCategorizeEndpoints`, restated. `None` for a pool means
    /// the port never uses it; `all` is every endpoint reachable from this node.
    struct Case {
        name: &'static str,
        zone: Option<&'static str>,
        uses: PoolUse,
        endpoints: Vec<Endpoint>,
        cluster: Option<&'static [&'static str]>,
        local: Option<&'static [&'static str]>,
        all: &'static [&'static str],
        any_usable: bool,
    }

    fn check(case: &Case) {
        let sel = select(&case.endpoints, NODE, case.zone);
        let name = case.name;
        for (pool, expected) in [(Pool::Cluster, case.cluster), (Pool::Local, case.local)] {
            match expected {
                Some(want) => {
                    assert!(case.uses.uses(pool), "{name}: {pool:?} should be used");
                    assert_eq!(
                        addresses(&case.endpoints, sel.pool(pool)),
                        want,
                        "{name}: {pool:?}"
                    );
                }
                None => assert!(!case.uses.uses(pool), "{name}: {pool:?} unused"),
            }
        }
        assert_eq!(
            addresses(&case.endpoints, &sel.reachable(case.uses)),
            case.all,
            "{name}: reachable"
        );
        assert_eq!(sel.has_usable(), case.any_usable, "{name}: has_usable");
    }

    /// Four ready endpoints hinted for zones a, b, c, a.
    fn abca() -> Vec<Endpoint> {
        vec![
            ready("10.1.2.3").hinted_for(["zone-a"]),
            ready("10.1.2.4").hinted_for(["zone-b"]),
            ready("10.1.2.5").hinted_for(["zone-c"]),
            ready("10.1.2.6").hinted_for(["zone-a"]),
        ]
    }

    /// `abca` with the first two on this node.
    fn abca_first_two_local() -> Vec<Endpoint> {
        let mut e = abca();
        e[0] = local(e[0].clone());
        e[1] = local(e[1].clone());
        e
    }

    #[test]
    fn categorize_endpoints_topology() {
        let plain = uses(false, false, false);
        let cases = [
            Case {
                name: "all hinted, node zone labelled, endpoints for the zone: topology used",
                zone: Some("zone-a"),
                uses: plain,
                endpoints: abca(),
                cluster: Some(&["10.1.2.3", "10.1.2.6"]),
                local: None,
                all: &["10.1.2.3", "10.1.2.6"],
                any_usable: true,
            },
            Case {
                name: "externalTrafficPolicy Local: topology ignored for the local pool",
                zone: Some("zone-a"),
                uses: uses(false, true, true),
                endpoints: abca_first_two_local(),
                cluster: Some(&["10.1.2.3", "10.1.2.6"]),
                local: Some(&["10.1.2.3", "10.1.2.4"]),
                all: &["10.1.2.3", "10.1.2.4", "10.1.2.6"],
                any_usable: true,
            },
            Case {
                name: "internalTrafficPolicy Local: topology ignored for the local pool",
                zone: Some("zone-a"),
                uses: uses(true, false, true),
                endpoints: abca_first_two_local(),
                cluster: Some(&["10.1.2.3", "10.1.2.6"]),
                local: Some(&["10.1.2.3", "10.1.2.4"]),
                all: &["10.1.2.3", "10.1.2.4", "10.1.2.6"],
                any_usable: true,
            },
            Case {
                name: "node without a zone label",
                zone: None,
                uses: plain,
                endpoints: vec![ready("10.1.2.3").hinted_for(["zone-a"])],
                cluster: Some(&["10.1.2.3"]),
                local: None,
                all: &["10.1.2.3"],
                any_usable: true,
            },
            Case {
                name: "empty zone label",
                zone: Some(""),
                uses: plain,
                endpoints: vec![ready("10.1.2.3").hinted_for(["zone-a"])],
                cluster: Some(&["10.1.2.3"]),
                local: None,
                all: &["10.1.2.3"],
                any_usable: true,
            },
            Case {
                name: "node in a zone no endpoint is hinted for: no filtering",
                zone: Some("zone-b"),
                uses: plain,
                endpoints: vec![ready("10.1.2.3").hinted_for(["zone-a"])],
                cluster: Some(&["10.1.2.3"]),
                local: None,
                all: &["10.1.2.3"],
                any_usable: true,
            },
            Case {
                name: "an unready endpoint in the zone is left out",
                zone: Some("zone-a"),
                uses: plain,
                endpoints: {
                    let mut e = abca();
                    e[3] = unready("10.1.2.6").hinted_for(["zone-a"]);
                    e
                },
                cluster: Some(&["10.1.2.3"]),
                local: None,
                all: &["10.1.2.3"],
                any_usable: true,
            },
            Case {
                name: "only unready endpoints in the zone: no filtering",
                zone: Some("zone-a"),
                uses: plain,
                endpoints: {
                    let mut e = abca();
                    e[0] = unready("10.1.2.3").hinted_for(["zone-a"]);
                    e[3] = unready("10.1.2.6").hinted_for(["zone-a"]);
                    e
                },
                cluster: Some(&["10.1.2.4", "10.1.2.5"]),
                local: None,
                all: &["10.1.2.4", "10.1.2.5"],
                any_usable: true,
            },
            Case {
                name: "a ready endpoint without hints: no filtering",
                zone: Some("zone-a"),
                uses: plain,
                endpoints: {
                    let mut e = abca();
                    e[2] = ready("10.1.2.5");
                    e
                },
                cluster: Some(&["10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"]),
                local: None,
                all: &["10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"],
                any_usable: true,
            },
            Case {
                name: "several hints per endpoint: any hint for the zone admits it",
                zone: Some("zone-c"),
                uses: plain,
                endpoints: vec![
                    ready("10.1.2.3").hinted_for(["zone-a", "zone-b", "zone-c"]),
                    ready("10.1.2.4").hinted_for(["zone-b", "zone-c"]),
                    ready("10.1.2.5").hinted_for(["zone-b", "zone-d"]),
                    ready("10.1.2.6").hinted_for(["zone-c"]),
                ],
                cluster: Some(&["10.1.2.3", "10.1.2.4", "10.1.2.6"]),
                local: None,
                all: &["10.1.2.3", "10.1.2.4", "10.1.2.6"],
                any_usable: true,
            },
            Case {
                name: "topology and locality disagree: reachable is the union",
                zone: Some("zone-a"),
                uses: uses(false, true, true),
                endpoints: vec![
                    local(ready("10.0.0.0").hinted_for(["zone-a"])),
                    local(ready("10.0.0.1").hinted_for(["zone-b"])),
                    ready("10.0.0.2").hinted_for(["zone-a"]),
                    ready("10.0.0.3").hinted_for(["zone-b"]),
                ],
                cluster: Some(&["10.0.0.0", "10.0.0.2"]),
                local: Some(&["10.0.0.0", "10.0.0.1"]),
                all: &["10.0.0.0", "10.0.0.1", "10.0.0.2"],
                any_usable: true,
            },
        ];
        for case in &cases {
            check(case);
        }
    }

    #[test]
    fn categorize_endpoints_policies_and_terminating() {
        let cases = [
            Case {
                name: "internalTrafficPolicy Local, no endpoints",
                zone: None,
                uses: uses(true, false, false),
                endpoints: vec![],
                cluster: None,
                local: Some(&[]),
                all: &[],
                any_usable: false,
            },
            Case {
                name: "internalTrafficPolicy Local, all endpoints remote",
                zone: None,
                uses: uses(true, false, false),
                endpoints: vec![ready("10.0.0.0"), ready("10.0.0.1")],
                cluster: None,
                local: Some(&[]),
                all: &[],
                any_usable: true,
            },
            Case {
                name: "internalTrafficPolicy Local, all endpoints local",
                zone: None,
                uses: uses(true, false, false),
                endpoints: vec![local(ready("10.0.0.0")), local(ready("10.0.0.1"))],
                cluster: None,
                local: Some(&["10.0.0.0", "10.0.0.1"]),
                all: &["10.0.0.0", "10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "internalTrafficPolicy Local, some endpoints local",
                zone: None,
                uses: uses(true, false, false),
                endpoints: vec![local(ready("10.0.0.0")), ready("10.0.0.1")],
                cluster: None,
                local: Some(&["10.0.0.0"]),
                all: &["10.0.0.0"],
                any_usable: true,
            },
            Case {
                name: "Cluster policy, no endpoint ready",
                zone: None,
                uses: uses(false, false, false),
                endpoints: vec![unready("10.0.0.0"), unready("10.0.0.1")],
                cluster: Some(&[]),
                local: None,
                all: &[],
                any_usable: false,
            },
            Case {
                name: "Cluster policy, some endpoints ready",
                zone: None,
                uses: uses(false, false, false),
                endpoints: vec![unready("10.0.0.0"), ready("10.0.0.1")],
                cluster: Some(&["10.0.0.1"]),
                local: None,
                all: &["10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "Cluster policy, all endpoints terminating",
                zone: None,
                uses: uses(false, false, false),
                endpoints: vec![local(terminating("10.0.0.0")), terminating("10.0.0.1")],
                cluster: Some(&["10.0.0.0", "10.0.0.1"]),
                local: None,
                all: &["10.0.0.0", "10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "internal Local, external Cluster, some endpoints local",
                zone: None,
                uses: uses(true, false, true),
                endpoints: vec![local(ready("10.0.0.0")), ready("10.0.0.1")],
                cluster: Some(&["10.0.0.0", "10.0.0.1"]),
                local: Some(&["10.0.0.0"]),
                all: &["10.0.0.0", "10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "internal Cluster, external Local, some endpoints local",
                zone: None,
                uses: uses(false, true, true),
                endpoints: vec![local(ready("10.0.0.0")), ready("10.0.0.1")],
                cluster: Some(&["10.0.0.0", "10.0.0.1"]),
                local: Some(&["10.0.0.0"]),
                all: &["10.0.0.0", "10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "internal Local, external Local, some endpoints local",
                zone: None,
                uses: uses(true, true, true),
                endpoints: vec![local(ready("10.0.0.0")), ready("10.0.0.1")],
                cluster: Some(&["10.0.0.0", "10.0.0.1"]),
                local: Some(&["10.0.0.0"]),
                all: &["10.0.0.0", "10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "internal Local, external Local, all endpoints remote",
                zone: None,
                uses: uses(true, true, true),
                endpoints: vec![ready("10.0.0.0"), ready("10.0.0.1")],
                cluster: Some(&["10.0.0.0", "10.0.0.1"]),
                local: Some(&[]),
                all: &["10.0.0.0", "10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "internal Local, external Local, all endpoints remote and terminating",
                zone: None,
                uses: uses(true, true, true),
                endpoints: vec![terminating("10.0.0.0"), terminating("10.0.0.1")],
                cluster: Some(&["10.0.0.0", "10.0.0.1"]),
                local: Some(&[]),
                all: &["10.0.0.0", "10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "internal Cluster, external Local, with terminating endpoints",
                zone: None,
                uses: uses(false, true, true),
                endpoints: vec![
                    ready("10.0.0.0"),
                    local(with("10.0.0.1", false, false, false)),
                    local(terminating("10.0.0.2")),
                    terminating("10.0.0.3"),
                ],
                cluster: Some(&["10.0.0.0"]),
                local: Some(&["10.0.0.2"]),
                all: &["10.0.0.0", "10.0.0.2"],
                any_usable: true,
            },
            Case {
                name: "externalTrafficPolicy ignored when not externally accessible",
                zone: None,
                uses: uses(false, true, false),
                endpoints: vec![ready("10.0.0.0"), local(ready("10.0.0.1"))],
                cluster: Some(&["10.0.0.0", "10.0.0.1"]),
                local: None,
                all: &["10.0.0.0", "10.0.0.1"],
                any_usable: true,
            },
            Case {
                name: "internal-only Service with internalTrafficPolicy Local has no cluster pool",
                zone: None,
                uses: uses(true, false, false),
                endpoints: vec![ready("10.0.0.0"), local(ready("10.0.0.1"))],
                cluster: None,
                local: Some(&["10.0.0.1"]),
                all: &["10.0.0.1"],
                any_usable: true,
            },
        ];
        for case in &cases {
            check(case);
        }
    }

    #[test]
    fn fallback_and_topology_are_reported() {
        let e = vec![local(terminating("10.0.0.0")), terminating("10.0.0.1")];
        let sel = select(&e, NODE, None);
        assert!(sel.cluster_is_terminating() && sel.local_is_terminating());
        assert_eq!(sel.topology(), Topology::Any);
        let sel = select(&abca(), NODE, Some("zone-a"));
        assert_eq!(sel.topology(), Topology::SameZone);
        assert!(!sel.cluster_is_terminating() && !sel.local_is_terminating());
        // No Ready endpoint: topology is never applied, even to the fallback.
        let e = vec![
            terminating("10.0.0.0").hinted_for(["zone-a"]),
            terminating("10.0.0.1").hinted_for(["zone-b"]),
        ];
        let sel = select(&e, NODE, Some("zone-a"));
        assert_eq!(sel.topology(), Topology::Any);
        assert_eq!(sel.cluster(), [0, 1]);
    }

    /// The Service of kube-proxy's terminating-endpoint tests: a LoadBalancer, so external
    /// traffic goes by `external` and ClusterIP traffic by internalTrafficPolicy Cluster.
    fn lb_uses(external: TrafficPolicy) -> PoolUse {
        PoolUse::new(TrafficPolicy::Cluster, external, true)
    }

    /// (ClusterIP pool, external pool, has_usable).
    fn traffic(endpoints: &[Endpoint], uses: PoolUse) -> (Vec<String>, Vec<String>, bool) {
        let sel = select(endpoints, NODE, None);
        let internal = sel.for_traffic(uses, Traffic::Internal).unwrap();
        let external = sel.for_traffic(uses, Traffic::External).unwrap();
        (
            addresses(endpoints, internal),
            addresses(endpoints, external),
            sel.has_usable(),
        )
    }

    #[test]
    fn terminating_endpoints_traffic_policy_local() {
        let uses = lb_uses(TrafficPolicy::Local);
        // Ready endpoints exist: terminating ones are left out of both pools.
        let e = [
            local(with("10.0.1.1", true, true, false)),
            local(with("10.0.1.2", true, true, false)),
            local(terminating("10.0.1.3")),
            local(with("10.0.1.4", false, false, true)),
            with("10.0.1.5", true, true, false),
        ];
        let (internal, external, any) = traffic(&e, uses);
        assert_eq!(internal, ["10.0.1.1", "10.0.1.2", "10.0.1.5"]);
        assert_eq!(external, ["10.0.1.1", "10.0.1.2"]);
        assert!(any);
        // Only terminating endpoints locally: the local pool falls back to serving ones.
        let e = [
            local(terminating("10.0.1.2")),
            local(terminating("10.0.1.3")),
            local(with("10.0.1.4", false, false, true)),
            with("10.0.1.5", true, true, false),
        ];
        let (internal, external, _) = traffic(&e, uses);
        assert_eq!(internal, ["10.0.1.5"]);
        assert_eq!(external, ["10.0.1.2", "10.0.1.3"]);
        // A terminating endpoint on another node: ClusterIP uses it, external traffic is
        // dropped (not rejected: has_usable holds).
        let e = [terminating("10.0.1.5")];
        let (internal, external, any) = traffic(&e, uses);
        assert_eq!(internal, ["10.0.1.5"]);
        assert!(external.is_empty());
        assert!(any);
        // Nothing usable on any node: both kinds are rejected.
        let e = [
            local(with("10.0.1.5", false, false, true)),
            with("10.0.1.5", false, false, true),
        ];
        let (internal, external, any) = traffic(&e, uses);
        assert!(internal.is_empty() && external.is_empty());
        assert!(!any);
    }

    #[test]
    fn terminating_endpoints_traffic_policy_cluster() {
        let uses = lb_uses(TrafficPolicy::Cluster);
        let e = [
            local(with("10.0.1.1", true, true, false)),
            local(with("10.0.1.2", true, true, false)),
            terminating("10.0.1.3"),
            with("10.0.1.4", false, false, true),
            with("10.0.1.5", true, true, false),
        ];
        let (internal, external, _) = traffic(&e, uses);
        assert_eq!(internal, ["10.0.1.1", "10.0.1.2", "10.0.1.5"]);
        assert_eq!(external, internal);
        let e = [
            local(terminating("10.0.1.2")),
            local(terminating("10.0.1.3")),
            with("10.0.1.4", false, false, true),
            terminating("10.0.1.5"),
        ];
        let (internal, external, _) = traffic(&e, uses);
        assert_eq!(internal, ["10.0.1.2", "10.0.1.3", "10.0.1.5"]);
        assert_eq!(external, internal);
        let e = [terminating("10.0.1.5")];
        let (internal, external, _) = traffic(&e, uses);
        assert_eq!(internal, ["10.0.1.5"]);
        assert_eq!(external, ["10.0.1.5"]);
        let e = [
            local(with("10.0.1.5", false, false, true)),
            with("10.0.1.5", false, false, true),
        ];
        let (internal, external, any) = traffic(&e, uses);
        assert!(internal.is_empty() && external.is_empty() && !any);
    }

    #[test]
    fn health_check_counts_local_ready_like_kube_proxy() {
        let e = [
            local(ready("10.0.1.1")),
            local(ready("10.0.1.2")),
            local(ready("10.0.1.3")),
            local(unready("10.0.1.4")),
            ready("10.0.1.5"),
        ];
        assert_eq!(select(&e, NODE, None).local_ready(), 3);
        // Every local endpoint terminating: no ready ones, health check fails.
        let e = [
            local(with("10.0.1.1", false, true, false)),
            local(terminating("10.0.1.2")),
            local(terminating("10.0.1.3")),
            local(with("10.0.1.4", false, false, true)),
        ];
        let sel = select(&e, NODE, None);
        assert_eq!(sel.local_ready(), 0);
        assert_eq!(
            sel.local(),
            [1, 2],
            "traffic still reaches the serving ones"
        );
        // Ready and terminating at once (publishNotReadyAddresses) counts: kube-proxy's
        // `getLocalReadyEndpointIPs` looks at Ready only.
        let e = [
            local(with("10.0.1.1", true, true, true)),
            local(terminating("10.0.1.2")),
        ];
        let sel = select(&e, NODE, None);
        assert_eq!(sel.local_ready(), 1);
        assert_eq!(sel.local(), [0]);
    }

    /// Ready, on `node`, hinted for `nodes` and for zone-a (the EndpointSlice controller writes
    /// both for PreferSameNode).
    fn on_node_hinted(addr: &str, node: &str, nodes: &[&str]) -> Endpoint {
        Endpoint::new(ip(addr))
            .on_node(node)
            .hinted_for(["zone-a"])
            .hinted_for_nodes(nodes.iter().copied())
    }

    #[test]
    fn prefer_same_node_hints() {
        let zone = Some("zone-a");
        // Every Ready endpoint has a node hint and one names this node: only it.
        let e = [
            on_node_hinted("10.1.0.1", NODE, &[NODE]),
            on_node_hinted("10.1.0.2", "node-b", &["node-b"]),
            on_node_hinted("10.1.0.3", "node-c", &["node-c"]),
        ];
        let sel = select(&e, NODE, zone);
        assert_eq!(sel.topology(), Topology::SameNode);
        assert_eq!(sel.cluster(), [0]);
        assert_eq!(sel.local(), [0], "the local pool is never filtered");
        // The hint decides, not where the endpoint runs.
        let e = [
            on_node_hinted("10.1.0.1", "node-b", &[NODE, "node-b"]),
            on_node_hinted("10.1.0.2", "node-b", &["node-b"]),
        ];
        let sel = select(&e, NODE, zone);
        assert_eq!(sel.topology(), Topology::SameNode);
        assert_eq!(sel.cluster(), [0]);
        assert!(sel.local().is_empty());
        // No endpoint hinted for this node: same-zone mode from the zone hints.
        let e = [
            on_node_hinted("10.1.0.2", "node-b", &["node-b"]),
            on_node_hinted("10.1.0.3", "node-c", &["node-c"]).hinted_for(["zone-b"]),
        ];
        let sel = select(&e, NODE, zone);
        assert_eq!(sel.topology(), Topology::SameZone);
        assert_eq!(sel.cluster(), [0]);
        // A Ready endpoint without a node hint: no node mode; the zone hints still apply.
        let e = [
            on_node_hinted("10.1.0.1", NODE, &[NODE]),
            ready("10.1.0.2").hinted_for(["zone-a"]),
            ready("10.1.0.3").hinted_for(["zone-b"]),
        ];
        let sel = select(&e, NODE, zone);
        assert_eq!(sel.topology(), Topology::SameZone);
        assert_eq!(sel.cluster(), [0, 1]);
        // Endpoints that are not Ready do not take part in the decision, nor in the pool.
        let e = [
            on_node_hinted("10.1.0.1", NODE, &[NODE]),
            unready("10.1.0.2"),
            terminating("10.1.0.3"),
            on_node_hinted("10.1.0.4", "node-b", &["node-b"]),
        ];
        let sel = select(&e, NODE, zone);
        assert_eq!(sel.topology(), Topology::SameNode);
        assert_eq!(sel.cluster(), [0]);
        // This node's only endpoint is not Ready, and the Ready one is hinted for another node
        // and zone: no mode.
        let e = [
            on_node_hinted("10.1.0.1", NODE, &[NODE]).with_conditions(Conditions::from_api(
                Some(false),
                Some(true),
                Some(true),
            )),
            on_node_hinted("10.1.0.2", "node-b", &["node-b"]).hinted_for(["zone-b"]),
        ];
        let sel = select(&e, NODE, zone);
        assert_eq!(sel.topology(), Topology::Any);
        assert_eq!(sel.cluster(), [1]);
        assert_eq!(
            sel.local(),
            [0],
            "the local pool falls back to serving-terminating"
        );
        assert!(sel.local_is_terminating());
        // No Ready endpoint at all: no mode, the serving-terminating fallback ignores hints.
        let e = [on_node_hinted("10.1.0.2", "node-b", &["node-b"])
            .with_conditions(Conditions::from_api(Some(false), Some(true), Some(true)))];
        let sel = select(&e, NODE, zone);
        assert_eq!(sel.topology(), Topology::Any);
        assert_eq!(sel.cluster(), [0]);
        assert!(sel.cluster_is_terminating());
    }

    #[test]
    fn unlabelled_node_is_zone_empty_string() {
        // kube-proxy reads a missing zone label as "", which a hint may name (the API accepts an
        // empty label value).
        let e = [
            ready("10.1.2.3").hinted_for([""]),
            ready("10.1.2.4").hinted_for(["zone-a"]),
        ];
        for zone in [None, Some("")] {
            let sel = select(&e, NODE, zone);
            assert_eq!(sel.topology(), Topology::SameZone);
            assert_eq!(sel.cluster(), [0]);
        }
        assert_eq!(select(&e, NODE, Some("zone-a")).cluster(), [1]);
    }

    fn seed_service(name: &str) -> seed::SeedService {
        seed::cluster()
            .into_iter()
            .find(|s| s.service.id.name == name)
            .unwrap()
    }

    #[test]
    fn seed_kube_dns_stays_in_zone() {
        let dns = seed_service("kube-dns");
        let port = dns.service.port("dns", Protocol::Udp).unwrap();
        for (i, (v4, v6)) in [
            ("10.244.1.2", "fd00:10:244:1::2"),
            ("10.244.2.2", "fd00:10:244:2::2"),
            ("10.244.3.2", "fd00:10:244:3::2"),
        ]
        .into_iter()
        .enumerate()
        {
            let node = seed::node(i);
            for (family, want) in [(IpFamily::V4, v4), (IpFamily::V6, v6)] {
                let backends = backends_for(&dns.slices, port, family, &node.node_name);
                let sel = Selection::for_node(&backends, &node);
                assert_eq!(sel.topology(), Topology::SameZone);
                let chosen: Vec<_> = sel
                    .cluster()
                    .iter()
                    .map(|&j| backends[j as usize].endpoint.address)
                    .collect();
                assert_eq!(chosen, [ip(want)]);
            }
        }
    }

    #[test]
    fn seed_order_api_external_traffic_local() {
        let svc = seed_service("order-api-svc");
        let port = &svc.service.ports[0];
        let uses = PoolUse::of(&svc.service, port, IpFamily::V4);
        assert_eq!(uses.pool(Traffic::Internal), Some(Pool::Cluster));
        assert_eq!(uses.pool(Traffic::External), Some(Pool::Local));
        let external = |node: usize| {
            let config = seed::node(node);
            let backends = backends_for(&svc.slices, port, IpFamily::V4, &config.node_name);
            let sel = Selection::for_node(&backends, &config);
            let pool = sel.for_traffic(uses, Traffic::External).unwrap();
            let addrs: Vec<_> = pool
                .iter()
                .map(|&j| backends[j as usize].socket_addr().to_string())
                .collect();
            (
                addrs,
                sel.local_ready(),
                sel.cluster().len(),
                sel.has_usable(),
            )
        };
        assert_eq!(
            external(0),
            (vec!["10.244.1.20:3000".to_string()], 1, 2, true)
        );
        // node b: the terminating pod is not used while a ready one is local.
        assert_eq!(
            external(1),
            (vec!["10.244.2.21:3000".to_string()], 1, 2, true)
        );
        // node c has no local endpoint: external traffic is dropped, health check fails.
        assert_eq!(external(2), (vec![], 0, 2, true));
    }

    #[test]
    fn seed_payments_has_no_usable_endpoint() {
        let svc = seed_service("payments");
        let backends = backends_for(&svc.slices, &svc.service.ports[0], IpFamily::V4, "x");
        assert_eq!(backends.len(), 1);
        let sel = Selection::for_node(&backends, &seed::node(2));
        assert!(!sel.has_usable());
        assert!(sel.cluster().is_empty() && sel.local().is_empty());
    }
}
