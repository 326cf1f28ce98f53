//! The packet path: a per-core [`Worker`] that takes a packet, decides what a Kubernetes Service
//! means for it, and rewrites it in place.
//!
//! # Pipeline ([`Worker::process`])
//! 1. [`nat::parse`]. Malformed packets get [`Verdict::Invalid`] and are left unchanged.
//! 2. Connection tracking: the packet's key (for an ICMP error, the quoted packet's tuple
//!    reversed, so a backend's "port unreachable" finds its flow in the reply direction) is looked
//!    up. On a hit the flow is refreshed and the packet rewritten: DNAT (+ SNAT) in the original
//!    direction, the reverse ([`Rewrite::reply`]) for replies. Established flows keep their
//!    backend whatever the snapshot says (SEMANTICS.md §7).
//! 3. On a miss, only TCP, UDP and SCTP packets can start a flow: the frontend is looked up
//!    ([`Snapshot::lookup`]: cluster IP, externalIP, LB IP, or NodePort on a NodePort address).
//!    Not a Service: [`Verdict::Pass`], untouched. An undefined port on a cluster IP:
//!    [`RejectReason::UndefinedPort`]; an unallocated service-CIDR address:
//!    [`DropReason::UnallocatedServiceIp`] (§4). Those two rules hold for every protocol: an
//!    ICMP / ICMPv6 echo request or other query, or a protocol svcplane does not parse (GRE,
//!    ESP, ...), is rejected at a cluster IP, dropped at an unallocated service address and
//!    passed anywhere else; echo replies and ICMP errors that match no flow pass. A TCP RST,
//!    FIN or SYN-ACK to a frontend that matches no flow opens none: [`DropReason::NotNew`]
//!    (Linux's conntrack finds it invalid); a bare ACK does open one (mid-stream pickup, as
//!    Linux's default `nf_conntrack_tcp_loose`).
//! 4. `loadBalancerSourceRanges` ([`DropReason::SourceRange`], §1); no usable endpoint anywhere
//!    ([`RejectReason::NoEndpoints`], §4); the pool the traffic policy selects for this source
//!    (§3, §5), empty under a Local policy: [`DropReason::TrafficPolicy`].
//! 5. ClientIP affinity (§6, [`crate::affinity`]): a live pin to a backend still in the pool is
//!    used; a pin to a backend that left the pool is deleted; the first choice is Maglev over
//!    the client address alone. Otherwise Maglev over [`flow_hash`] of the packet's 5-tuple under
//!    the cluster-wide seed ([`Snapshot::maglev_seed`]): every worker and node agrees.
//! 6. Masquerade exactly where §5 says: cluster IPs with masquerade-all or from anything but a
//!    local pod; external frontends always under externalTrafficPolicy Cluster, and under Local
//!    only from this node (never for external clients, whose address the backend must see);
//!    always for hairpin (the backend is the client). The SNAT address is the node's primary
//!    address of the packet's family.
//! 7. Conntrack insert, then [`nat::apply`]: the destination becomes the backend's address and
//!    its own port for this Service port (named targetPorts are resolved per endpoint).
//!
//! # SNAT source ports (**svcplane**)
//! kube-proxy lets the kernel pick a random port on a clash (`fully-random`), from one table
//! per node. svcplane's workers each have their own table, so they split the ports: worker `i`
//! of [`WorkerConfig::workers`] uses only ports `1024 + i + k × workers`
//! ([`snat_port_owner`]), and two workers never give two connections the same translated
//! tuple. A worker keeps the client's port if it is one of its own and the resulting reply key
//! is not tracked yet; otherwise it tries, in order, [`SNAT_PORT_ATTEMPTS`] of its ports, the
//! `k`-th with `k = splitmix64(h ^ j * 0x9e37_79b9_7f4a_7c15) mod n` for `j` = 1, 2, ... (`h`
//! the flow hash of the packet under seed 0, `n` the worker's number of ports): independent
//! draws, a deterministic function of the packet and the table. A port at which the
//! masquerade address is a frontend (a NodePort) is skipped, so a reply to a masqueraded flow
//! never looks like a request to a Service. When all are taken the packet is dropped
//! ([`DropReason::FlowClash`]).
//! A flow that is not masqueraded and whose reply key is already tracked (the same client port
//! reaching the same backend through two frontends) is dropped the same way. The worker sees
//! only Service flows: a connection the node itself opened directly to a backend from the same
//! address and port is invisible to it, so keep masquerade addresses' ephemeral port range in
//! mind (Linux's conntrack sees both and avoids that clash).
//!
//! # Snapshot switches
//! Call [`Worker::on_snapshot`] with each new snapshot, before processing packets with it: UDP
//! flows whose backend is no longer a serving endpoint of a Service port that has one are
//! removed (the next packet is balanced again), and so are UDP flows to a frontend that is gone;
//! TCP flows are kept (§7). SCTP flows are kept too unless [`WorkerConfig::clean_sctp`].
//! Flows masqueraded to an address that is no longer the node's primary address of its family
//! are removed, whatever their protocol, as Linux's MASQUERADE does when an address goes away
//! (their replies would be addressed to it); the address's slot is then free for a new one, so
//! a worker outlives any number of address changes.
//! Affinity pins to endpoints that are no longer usable, or of Service ports that lost their
//! affinity or went away, are deleted then too (§6: "deleted at once"), so an endpoint that
//! comes back within the timeout does not get its old clients back. A pin whose endpoint is
//! usable but outside the pool a new connection uses (say, not local under
//! `externalTrafficPolicy: Local`) is replaced when that connection picks anew.
//!
//! # The fast path
//! Most packets are IPv4 without options or IPv6 without extension headers, carrying TCP or
//! UDP, not fragmented. For these ([`WorkerConfig::fast_path`], on by default) the steps above
//! run without the general parse's summary: the headers are read straight into the flow key
//! (checking exactly what [`nat::parse`] checks), the conntrack hash is computed once from the
//! key's fields, and a tracked flow's stored backend (and masquerade address) is written with
//! the same incremental checksum updates [`nat::apply`] makes. Everything else — options,
//! extension headers, fragments, ICMP, SCTP, anything malformed — takes the general path.
//! Verdicts, bytes, counters and table state are the same either way (the tests run both and
//! compare).
//!
//! # Guarantees and limits
//! - `process` allocates nothing, takes no lock and cannot panic; its cost does not depend on
//!   the number of Services or flows. Endpoints count only for an affinity pin's check
//!   (a binary search in the pool).
//! - Each worker has its own flow table: every packet of a connection, both ways, must reach
//!   the same worker. Workers split the SNAT ports ([`WorkerConfig::workers`],
//!   [`snat_port_owner`]); the README's "Workers and steering" gives the steering rule.
//! - [`write_port_unreachable`] writes the ICMP / ICMPv6 answer to a [`Verdict::Reject`] into
//!   a caller buffer; [`write_tcp_reset`] writes a TCP reset instead, the option svcplane
//!   offers for TCP.
//! - IP fragments: a first fragment is decided like a whole packet, and where it went (its new
//!   addresses) is remembered for [`FRAGMENT_TIMEOUT`] seconds in a fixed table
//!   ([`WorkerConfig::fragments`]); later fragments of the same datagram (same addresses,
//!   protocol and identification) get the same address rewrite. A later fragment that arrives
//!   before its first fragment, or after the entry was reused or expired, is dropped when it
//!   is addressed to a cluster IP or another service-CIDR address ([`DropReason::Fragment`])
//!   and passed otherwise (an externalIP, an LB IP or a NodePort address also takes traffic
//!   that is not a Service's: without ports nothing tells them apart).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::affinity::{self, Affinity, AffinityStats};
use crate::conntrack::{self, Conntrack, Direction, Flow, FlowId, FlowKey, Timeouts};
use crate::hash::flow_hash;
use crate::maglev::ip_key;
use crate::model::{IpFamily, ObjectRef, Protocol, TrafficPolicy};
use crate::nat::{self, CommonRewrite, Family, Kind, Parsed, Rewrite, Tuple};
use crate::select::{Pool, Traffic};
use crate::snapshot::{Frontend, FrontendKind, Lookup, PlanBackend, PortPlan, Snapshot, Source};

mod backends;
mod fragments;
pub use backends::BackendCount;
use backends::BackendCounters;
pub use fragments::FRAGMENT_TIMEOUT;
use fragments::{FragKey, Fragments};

/// Most packets [`Worker::process_burst`] handles in one call.
pub const MAX_BURST: usize = 64;

/// Packets [`Worker::process_burst`] takes through its stages together.
const STAGED: usize = 16;

/// SNAT ports tried for a masqueraded flow, beside the client's own (Linux's first round also
/// tries up to 128). With a share `f` of the worker's ports taken towards one backend
/// address and port, a new flow finds none with probability about `f^128`.
pub const SNAT_PORT_ATTEMPTS: u32 = 128;

/// Most workers a node's SNAT port space is split between ([`WorkerConfig::workers`]): each of
/// them keeps at least 63 ports.
pub const MAX_WORKERS: u16 = 1024;

/// The worker, of `workers`, whose masqueraded flows use SNAT source port `port`: worker `i`
/// takes only ports `1024 + i + k × workers`, so that two workers never give two connections
/// the same translated tuple, and so that the replies of a masqueraded flow, addressed to
/// (masquerade address, `port`), can be steered to the worker that holds it. `None` for ports
/// below 1024 (never SNAT ports) and for `workers` 0.
pub const fn snat_port_owner(port: u16, workers: u16) -> Option<u16> {
    if port < 1024 || workers == 0 {
        None
    } else {
        Some((port - 1024) % workers)
    }
}

/// Where a packet entered, as far as SEMANTICS.md §5 cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ingress {
    /// Classify by the source address ([`Snapshot::source_class`]): a node address is this
    /// node, an address in a cluster CIDR a pod, anything else external.
    #[default]
    Auto,
    /// From a pod (the caller knows, e.g. from the interface).
    Pod,
    /// From this node itself.
    Node,
    /// From outside the cluster.
    External,
}

/// What the caller knows about a packet besides its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Meta {
    /// The caller's monotonic clock, in nanoseconds. Flows, affinity pins and fragment entries
    /// keep whole seconds of it: each lives at least its timeout after its last packet, and
    /// less than one second more (never less, whatever the sub-second phase).
    pub now_ns: u64,
    /// Where the packet came from.
    pub ingress: Ingress,
}

impl Meta {
    /// A packet seen at `now_ns`, classified by its source address.
    pub fn new(now_ns: u64) -> Self {
        Meta {
            now_ns,
            ingress: Ingress::Auto,
        }
    }

    /// This meta with `ingress`.
    pub fn with_ingress(mut self, ingress: Ingress) -> Self {
        self.ingress = ingress;
        self
    }

    fn now(&self) -> u32 {
        u32::try_from(self.now_ns / 1_000_000_000).unwrap_or(u32::MAX)
    }
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A new connection to a load-balancer IP from outside its `loadBalancerSourceRanges`.
    SourceRange,
    /// The traffic policy (Local) selects the node-local pool and it is empty.
    TrafficPolicy,
    /// An address inside a service CIDR that no Service holds.
    UnallocatedServiceIp,
    /// A non-first IP fragment addressed to a cluster IP or service-CIDR address whose first
    /// fragment this worker has not seen (or no longer remembers).
    Fragment,
    /// The packet must be masqueraded but the node has no address of its family (or the
    /// worker already knows [`conntrack::MAX_SNAT_ADDRS`] others).
    NoMasqueradeAddress,
    /// The flow's reply key is taken and no free SNAT port was found.
    FlowClash,
    /// A TCP segment to a Service that matches no tracked flow and cannot open one: RST, FIN,
    /// or SYN with ACK. Linux's conntrack finds it invalid and never tracks it (kube-proxy
    /// drops invalid packets); tracking it would let a flood of them fill the flow table and
    /// reach backends.
    NotNew,
}

impl DropReason {
    /// The number of reasons.
    pub const COUNT: usize = 7;
    /// Every reason, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        Self::SourceRange,
        Self::TrafficPolicy,
        Self::UnallocatedServiceIp,
        Self::Fragment,
        Self::NoMasqueradeAddress,
        Self::FlowClash,
        Self::NotNew,
    ];

    /// This reason's index in [`Counters::drop`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Why a new connection was rejected (the caller answers with ICMP port unreachable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The Service port has no usable endpoint anywhere.
    NoEndpoints,
    /// A cluster IP on a port/protocol its Service does not define.
    UndefinedPort,
}

impl RejectReason {
    /// The number of reasons.
    pub const COUNT: usize = 2;
    /// Every reason, in counter order.
    pub const ALL: [RejectReason; Self::COUNT] = [Self::NoEndpoints, Self::UndefinedPort];

    /// This reason's index in [`Counters::reject`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Rewritten for a Service: send it on.
    Forward,
    /// Not Service traffic: untouched, handle it as if svcplane were not there.
    #[default]
    Pass,
    /// Drop it.
    Drop(DropReason),
    /// Reject it (ICMP / ICMPv6 port unreachable).
    Reject(RejectReason),
    /// Malformed (or a rewrite that does not fit it): untouched.
    Invalid,
}

/// The rule that decided a packet's verdict (DESIGN.md invariant 8), as [`Worker::explain`]
/// reports it. (`process` alone can also end in [`DropReason::FlowClash`]: `explain` does not
/// run the SNAT port search.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The packet could not be parsed (or rewritten).
    Malformed,
    /// Not addressed to a Service frontend.
    NotService,
    /// A tracked flow, in this direction.
    ConntrackHit(Direction),
    /// A non-first fragment of a datagram whose first fragment was not seen.
    Fragment,
    /// A non-first fragment of a datagram whose first fragment was forwarded: the same
    /// address rewrite (the backend's port is reported as 0: fragments carry no ports).
    FragmentOfTracked,
    /// An unallocated service-CIDR address.
    UnallocatedServiceIp,
    /// An undefined port on a cluster IP.
    UndefinedPort,
    /// No usable endpoint anywhere.
    NoEndpoints,
    /// Outside `loadBalancerSourceRanges`.
    SourceRange,
    /// The traffic policy's node-local pool is empty.
    TrafficPolicy,
    /// ClientIP affinity: a live pin.
    AffinityPin,
    /// ClientIP affinity: no usable pin, Maglev over the client address.
    AffinityFirstChoice,
    /// Maglev over the flow hash.
    Maglev,
    /// No masquerade address of the packet's family.
    NoMasqueradeAddress,
    /// A TCP RST, FIN or SYN-ACK to a Service that no tracked flow claims
    /// ([`DropReason::NotNew`]).
    NotNew,
}

/// What [`Worker::explain`] says about a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explanation<'s> {
    /// The verdict `process` would return now.
    pub verdict: Verdict,
    /// The rule that decided it.
    pub rule: Rule,
    /// How the packet reached a Service, for a new connection.
    pub frontend: Option<FrontendKind>,
    /// The Service, for a new connection.
    pub service: Option<&'s ObjectRef>,
    /// The Service port's name, for a new connection.
    pub port_name: Option<&'s str>,
    /// The pool balanced over, for a new connection.
    pub pool: Option<Pool>,
    /// The backend address and port (of the new or tracked flow).
    pub backend: Option<(IpAddr, u16)>,
    /// The masquerade address and port, when the flow is (or would be) masqueraded; a new
    /// flow's port is the client's (the clash check is not run).
    pub snat: Option<(IpAddr, u16)>,
}

/// Packets and bytes (whole buffers as handed in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PacketCount {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl PacketCount {
    fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }
}

/// A worker's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// [`Verdict::Forward`].
    pub forward: PacketCount,
    /// [`Verdict::Pass`].
    pub pass: PacketCount,
    /// [`Verdict::Invalid`].
    pub invalid: PacketCount,
    /// [`Verdict::Drop`], by [`DropReason::index`].
    pub drop: [PacketCount; DropReason::COUNT],
    /// [`Verdict::Reject`], by [`RejectReason::index`].
    pub reject: [PacketCount; RejectReason::COUNT],
    /// The flow table's counters (created, evicted, expired, removed).
    pub flows: conntrack::Stats,
    /// Flows removed by [`Worker::on_snapshot`] (also counted in `flows.removed`).
    pub flows_flushed: u64,
    /// The affinity table's counters.
    pub affinity: AffinityStats,
}

impl Counters {
    /// The count of drops for `reason`.
    pub fn dropped(&self, reason: DropReason) -> PacketCount {
        self.drop.get(reason.index()).copied().unwrap_or_default()
    }

    /// The count of rejects for `reason`.
    pub fn rejected(&self, reason: RejectReason) -> PacketCount {
        self.reject.get(reason.index()).copied().unwrap_or_default()
    }
}

/// A worker's sizes and seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkerConfig {
    /// Flow-table capacity of this worker. kube-proxy sizes the node's one kernel table
    /// max(32768 × cores, 131072) (SEMANTICS.md §7); the default, 131,072 per worker, gives a
    /// node with one worker per core at least that.
    pub flows: usize,
    /// Affinity-table capacity.
    pub affinity_entries: usize,
    /// The flow and affinity tables' hash seed: random per process (DESIGN.md invariant 6), so
    /// that nobody can choose flows that collide in one bucket (with a known seed, a few million
    /// offline hash evaluations find source addresses and ports that share one probe run, and
    /// a lookup there costs tens of microseconds). It never influences backend choice. The
    /// default is random, drawn from the standard library's `RandomState` (seeded by the OS),
    /// where `std` is available; without `std` it is 0 and a production worker must set it
    /// from a random source. Tests set it to make a table's layout repeatable.
    pub conntrack_seed: u64,
    /// Flow timeouts.
    pub timeouts: Timeouts,
    /// Clean SCTP flows like UDP ones on snapshot switches (kube-proxy does not).
    pub clean_sctp: bool,
    /// Datagrams whose first fragment's rewrite is remembered for their later fragments
    /// (rounded up to a power of two; 0 turns fragment tracking off, and later fragments to a
    /// Service are then dropped).
    pub fragments: usize,
    /// Backends with their own packet counters ([`Worker::backend_counts`]); packets of
    /// further backends are counted together ([`Worker::backend_overflow`]).
    pub backends: usize,
    /// Take the fast path for the common case (see the module docs: IPv4 without options or
    /// IPv6 without extension headers, TCP or UDP, not a fragment). Verdicts, rewritten bytes,
    /// counters and table state are the same either way; turning it off sends every packet
    /// through the general path, for differential testing and debugging.
    pub fast_path: bool,
    /// How many workers the node runs (each with its own flow table), 1 to [`MAX_WORKERS`].
    /// They split the SNAT source ports between them (see [`snat_port_owner`]): give every
    /// worker of a node the same count and its own [`WorkerConfig::worker_index`].
    pub workers: u16,
    /// This worker's number, below [`WorkerConfig::workers`].
    pub worker_index: u16,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            flows: 131_072,
            affinity_entries: 16_384,
            conntrack_seed: default_seed(),
            timeouts: Timeouts::default(),
            clean_sctp: false,
            fragments: 1_024,
            backends: 4_096,
            fast_path: true,
            workers: 1,
            worker_index: 0,
        }
    }
}

/// A random seed from the standard library's `RandomState` (its keys come from the OS).
#[cfg(feature = "std")]
fn default_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
}

/// Without `std`: 0 (the caller must set [`WorkerConfig::conntrack_seed`]).
#[cfg(not(feature = "std"))]
fn default_seed() -> u64 {
    0
}

/// Why a worker could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The flow table's size.
    Conntrack(conntrack::Error),
    /// The affinity table's size.
    Affinity(affinity::Error),
    /// [`WorkerConfig::workers`] is 0 or above [`MAX_WORKERS`], or
    /// [`WorkerConfig::worker_index`] is not below it.
    Workers {
        /// The configured worker count.
        workers: u16,
        /// The configured worker index.
        worker_index: u16,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Conntrack(e) => write!(f, "flow table: {e}"),
            Error::Affinity(e) => write!(f, "affinity table: {e}"),
            Error::Workers {
                workers,
                worker_index,
            } => write!(
                f,
                "workers: worker_index {worker_index} of {workers} workers (need 1 to \
                 {MAX_WORKERS} workers and an index below the count)"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// A new connection's decision (before any state changes).
#[derive(Clone, Copy, Debug)]
struct Choice<'s> {
    plan: &'s PortPlan,
    kind: FrontendKind,
    pool: Pool,
    backend: &'s PlanBackend,
    snat: Option<IpAddr>,
    rule: Rule,
    /// (port id, timeout, a stale pin to delete) for an affinity port.
    affinity: Option<(u64, u32, bool)>,
}

/// What the fast path did with a packet of the common case.
enum FastOutcome {
    /// Forwarded on an established flow, and counted.
    Counted,
    /// Decided (a new flow, or no flow), not counted yet.
    Decided(Verdict),
    /// Left to the general path, nothing changed.
    General,
}

/// A packet of the common case as the fast path prepares it.
#[derive(Clone, Copy)]
struct Prepared<'s> {
    /// The headers.
    c: nat::Common,
    /// The conntrack hash of its key.
    hash: u64,
    /// For a new flow, when an early stage of a burst found them: the frontend the packet
    /// reaches ([`Snapshot::frontend`]) and its Maglev flow hash ([`flow_hash`] under the
    /// snapshot's seed): the values `decide` would compute.
    hint: Option<(Frontend<'s>, u64)>,
}

/// What `decide` would find for a new flow of the common case before any state matters: the
/// frontend hit and the Maglev flow hash (see [`Prepared::hint`]). Prefetches the plan.
#[inline]
fn new_flow_hint<'s>(snap: &'s Snapshot, c: &nat::Common) -> Option<(Frontend<'s>, u64)> {
    let t = c.tuple();
    let f = snap.frontend(protocol_of(c), t.dst, t.dst_port)?;
    let (src, dst) = (c.src.to_le_bytes(), c.dst.to_le_bytes());
    let h = flow_hash(
        snap.maglev_seed(),
        &src,
        &dst,
        t.src_port,
        t.dst_port,
        t.protocol,
    );
    let plan = f.plan();
    crate::prefetch::prefetch_lines(plan, core::mem::size_of_val(plan).div_ceil(64));
    Some((f, h))
}

/// The verdict, and the rule, for a new packet to `dst` that carries no ports (an ICMP or
/// ICMPv6 echo request or other query, or a protocol other than TCP, UDP and SCTP) and belongs
/// to no tracked flow. Services carry TCP, UDP and SCTP only, but their addresses answer other
/// traffic as kube-proxy's rules do (SEMANTICS.md §4, whatever the protocol): a cluster IP
/// rejects it, another address of a service CIDR drops it, anything else is not service traffic.
fn portless_verdict(snap: &Snapshot, dst: IpAddr) -> (Verdict, Rule) {
    match snap.service_address(dst) {
        Lookup::UndefinedPort(_) => (
            Verdict::Reject(RejectReason::UndefinedPort),
            Rule::UndefinedPort,
        ),
        Lookup::UnallocatedServiceIp => (
            Verdict::Drop(DropReason::UnallocatedServiceIp),
            Rule::UnallocatedServiceIp,
        ),
        Lookup::Frontend(_) | Lookup::NotService => (Verdict::Pass, Rule::NotService),
    }
}

/// Whether a packet of `kind` that no tracked flow claims opens something new that
/// [`portless_verdict`] judges: an echo request or another ICMP query. Echo replies and ICMP
/// errors that match no flow are not new (conntrack finds them invalid) and pass untouched.
fn portless_new(kind: Kind) -> bool {
    matches!(kind, Kind::Echo { request: true } | Kind::IcmpOther)
}

/// The protocol of a packet of the common case (TCP or UDP).
#[inline]
fn protocol_of(c: &nat::Common) -> Protocol {
    match c.protocol {
        crate::wire::ip_protocol::TCP => Protocol::Tcp,
        _ => Protocol::Udp,
    }
}

/// Where a new connection comes from (SEMANTICS.md §5): as the caller says, or by its address.
#[inline]
fn source_of(snap: &Snapshot, ingress: Ingress, src: IpAddr) -> Source {
    match ingress {
        Ingress::Auto => snap.source_class(src),
        Ingress::Pod => Source::Pod,
        Ingress::Node => Source::Node,
        Ingress::External => Source::External,
    }
}

/// How a new flow's packet was parsed: which rewrite it takes.
#[derive(Clone, Copy)]
enum ParsedBy<'p> {
    /// By [`nat::parse`]: [`nat::apply`].
    General(&'p Parsed),
    /// By [`nat::parse_common`]: [`nat::apply_common`].
    Common(&'p nat::Common),
}

/// A per-core worker: the flow table, the affinity table and the counters. See the module docs.
/// [`process`](Self::process) takes `&mut self`: one worker per core, no sharing, no locks.
pub struct Worker {
    conntrack: Conntrack,
    fragments: Fragments,
    backends: BackendCounters,
    /// The backend (key, port, towards it) of the packet being processed, for its counters.
    last_backend: Option<fragments::Backend>,
    affinity: Affinity,
    snat_addrs: [IpAddr; conntrack::MAX_SNAT_ADDRS],
    snat_count: usize,
    counters: Counters,
    clean_sctp: bool,
    fast_path: bool,
    /// [`WorkerConfig::workers`] and [`WorkerConfig::worker_index`].
    workers: u16,
    worker_index: u16,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("conntrack", &self.conntrack)
            .field("affinity", &self.affinity)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker with tables of the configured sizes: everything it will ever use is allocated
    /// here.
    pub fn new(config: WorkerConfig) -> Result<Worker, Error> {
        if config.workers == 0
            || config.workers > MAX_WORKERS
            || config.worker_index >= config.workers
        {
            return Err(Error::Workers {
                workers: config.workers,
                worker_index: config.worker_index,
            });
        }
        let conntrack = Conntrack::new(config.flows, config.conntrack_seed, config.timeouts)
            .map_err(Error::Conntrack)?;
        let affinity = Affinity::new(
            config.affinity_entries,
            config.conntrack_seed.rotate_left(17),
        )
        .map_err(Error::Affinity)?;
        Ok(Worker {
            conntrack,
            fragments: Fragments::new(config.fragments, config.conntrack_seed.rotate_left(41)),
            backends: BackendCounters::new(config.backends, config.conntrack_seed.rotate_left(7)),
            last_backend: None,
            affinity,
            snat_addrs: [IpAddr::V4(Ipv4Addr::UNSPECIFIED); conntrack::MAX_SNAT_ADDRS],
            snat_count: 0,
            counters: Counters::default(),
            clean_sctp: config.clean_sctp,
            fast_path: config.fast_path,
            workers: config.workers,
            worker_index: config.worker_index,
        })
    }

    /// The flow table (read-only: for tests, debugging and statistics).
    pub fn conntrack(&self) -> &Conntrack {
        &self.conntrack
    }

    /// The affinity table (read-only).
    pub fn affinity(&self) -> &Affinity {
        &self.affinity
    }

    /// Packet counters per backend (address, port): packets forwarded to it and from it, since
    /// the worker was created. For debugging and metrics (O(table size)).
    pub fn backend_counts(&self) -> impl Iterator<Item = (IpAddr, u16, BackendCount)> + '_ {
        self.backends.iter()
    }

    /// The counters of backend `address:port`, if it had a packet.
    pub fn backend_count(&self, address: IpAddr, port: u16) -> Option<BackendCount> {
        self.backends.get(&ip_key(address), port)
    }

    /// Packets of backends that found the per-backend table full.
    pub fn backend_overflow(&self) -> BackendCount {
        self.backends.overflow()
    }

    /// The counters, with the flow and affinity tables' own.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.flows = self.conntrack.stats();
        c.affinity = self.affinity.stats();
        c
    }

    /// Removes up to `max` flows expired at `now_ns` (see [`Conntrack::expire`]). Call it
    /// regularly, between bursts.
    pub fn expire(&mut self, now_ns: u64, max: usize) -> usize {
        self.conntrack.expire(Meta::new(now_ns).now(), max)
    }

    /// Applies SEMANTICS.md §7 and §6 for a new snapshot (see the module docs): removes UDP
    /// (and, if configured, SCTP) flows whose backend is no longer a serving endpoint of a
    /// Service port that has one, or whose frontend is gone, flows masqueraded to an address
    /// that is no longer the node's masquerade address of its family, and the affinity pins to
    /// endpoints that are no longer usable. Returns how many flows it removed (the pins are
    /// counted in [`Counters::affinity`]). O(flows + affinity capacity), allocates nothing:
    /// call it between bursts, when switching to `snap`.
    pub fn on_snapshot(&mut self, snap: &Snapshot) -> usize {
        let clean_sctp = self.clean_sctp;
        // Per SNAT index: is the address still the node's masquerade address of its family?
        let mut current = [false; conntrack::MAX_SNAT_ADDRS];
        let addrs = self.snat_addrs.iter().take(self.snat_count);
        for (c, a) in current.iter_mut().zip(addrs) {
            *c = snap.config().primary_ip(IpFamily::of(*a)) == Some(*a);
        }
        let removed = self.conntrack.retain(|f| {
            let masquerade_gone = usize::from(f.snat)
                .checked_sub(1)
                .is_some_and(|i| !current.get(i).copied().unwrap_or(false));
            !masquerade_gone && keep_flow(snap, f, clean_sctp)
        });
        self.counters.flows_flushed += removed as u64;
        // SEMANTICS.md §6: an affinity to an endpoint that is no longer usable is deleted at
        // once (so that, should the endpoint come back within the timeout, the client is
        // balanced afresh rather than sent back to it).
        self.affinity
            .retain(|port, backend| keep_pin(snap, port, backend));
        removed
    }

    /// Processes one packet (an IP header first) against `snap`: decides, rewrites in place,
    /// and counts. See the module docs.
    pub fn process(&mut self, snap: &Snapshot, pkt: &mut [u8], meta: &Meta) -> Verdict {
        let prepared = if self.fast_path {
            self.prepare(pkt)
        } else {
            None
        };
        self.process_prepared(snap, pkt, meta, prepared.as_ref())
    }

    /// The fast path's parse and conntrack hash of a packet of the common case.
    #[inline(always)]
    fn prepare<'s>(&self, pkt: &[u8]) -> Option<Prepared<'s>> {
        let c = nat::parse_common(pkt)?;
        // From the values in registers, not from a key in memory: reading a key's words back
        // right after its fields were stored piecewise stalls store-to-load forwarding.
        let hash = self.conntrack.hash_parts(c.src, c.dst, c.ports, c.protocol);
        Some(Prepared {
            c,
            hash,
            hint: None,
        })
    }

    /// [`Self::process`] of a packet the fast path has prepared, or (`None`) of one for the
    /// general path.
    #[inline(always)]
    fn process_prepared(
        &mut self,
        snap: &Snapshot,
        pkt: &mut [u8],
        meta: &Meta,
        prepared: Option<&Prepared<'_>>,
    ) -> Verdict {
        let len = pkt.len();
        self.last_backend = None;
        let verdict = match prepared {
            Some(p) => match self.process_common(snap, pkt, p, meta) {
                // An established flow, counted already.
                FastOutcome::Counted => return Verdict::Forward,
                FastOutcome::Decided(v) => v,
                FastOutcome::General => self.process_general(snap, pkt, meta),
            },
            None => self.process_general(snap, pkt, meta),
        };
        self.count(verdict, len);
        verdict
    }

    /// Counts a packet's verdict (and, when forwarded, its backend's packets).
    fn count(&mut self, verdict: Verdict, len: usize) {
        if let (Verdict::Forward, Some((key, port, to))) = (verdict, self.last_backend) {
            self.backends.add(&key, port, to, len);
        }
        let c = &mut self.counters;
        match verdict {
            Verdict::Forward => c.forward.add(len),
            Verdict::Pass => c.pass.add(len),
            Verdict::Invalid => c.invalid.add(len),
            Verdict::Drop(r) => {
                if let Some(x) = c.drop.get_mut(r.index()) {
                    x.add(len);
                }
            }
            Verdict::Reject(r) => {
                if let Some(x) = c.reject.get_mut(r.index()) {
                    x.add(len);
                }
            }
        }
    }

    /// Processes up to [`MAX_BURST`] packets, all with `meta`, writing verdict `i` for packet
    /// `i`. Handles `min(packets, verdicts, MAX_BURST)` packets and returns that number.
    ///
    /// The result is exactly that of [`process`](Self::process) on each packet in turn. With
    /// the fast path on, the packets go through early stages first, a few at a time, which
    /// prefetch what each will read (its conntrack slot and entry; for a new flow the frontend
    /// table slot, the plan, the Maglev table slot and the backends), so that their cache
    /// misses overlap.
    pub fn process_burst(
        &mut self,
        snap: &Snapshot,
        packets: &mut [&mut [u8]],
        meta: &Meta,
        verdicts: &mut [Verdict],
    ) -> usize {
        let n = packets.len().min(verdicts.len()).min(MAX_BURST);
        if !self.fast_path {
            for (pkt, v) in packets.iter_mut().zip(verdicts.iter_mut()).take(n) {
                *v = self.process(snap, pkt, meta);
            }
            return n;
        }
        let mut done = 0;
        while done < n {
            let k = (n - done).min(STAGED);
            if let (Some(p), Some(v)) = (
                packets.get_mut(done..done + k),
                verdicts.get_mut(done..done + k),
            ) {
                self.process_staged(snap, p, meta, v);
            }
            done += k;
        }
        n
    }

    /// Up to [`STAGED`] packets of a burst, in stages, each over all the packets, so that the
    /// cache misses of different packets overlap instead of following one another (as DPDK
    /// and VPP graph nodes do): each early stage starts loading (prefetches) what the next one
    /// reads. The early stages only read and compute pure functions of the packet and the
    /// snapshot, which no earlier packet of the burst can change; the last one processes the
    /// packets in order exactly as [`Self::process`] does, reusing the parse, the conntrack
    /// hash, and for a new flow the frontend and the Maglev flow hash.
    fn process_staged(
        &mut self,
        snap: &Snapshot,
        packets: &mut [&mut [u8]],
        meta: &Meta,
        verdicts: &mut [Verdict],
    ) {
        let n = packets.len().min(verdicts.len()).min(STAGED);
        let mut prepared: [Option<Prepared<'_>>; STAGED] = [None; STAGED];
        // 1. Parse and hash the packets of the common case; their conntrack index slots.
        for (p, pkt) in prepared.iter_mut().zip(packets.iter()).take(n) {
            *p = self.prepare(pkt);
            if let Some(p) = p {
                self.conntrack.warm_slot(p.hash);
            }
        }
        // 2. A tracked flow (its home slot taken): its entry. A new flow (the slot empty): the
        //    frontend table's slot.
        let mut new = [false; STAGED];
        let mut any_new = false;
        for (p, new) in prepared.iter().zip(new.iter_mut()).take(n) {
            if let Some(p) = p {
                if !self.conntrack.warm_entry(p.hash) {
                    *new = true;
                    any_new = true;
                    let t = p.c.tuple();
                    snap.prefetch_frontend(protocol_of(&p.c), t.dst, t.dst_port);
                }
            }
        }
        if any_new {
            self.prefetch_new_flows(snap, meta, &mut prepared[..n], &new);
        }
        // 6. In order.
        for ((pkt, v), p) in packets
            .iter_mut()
            .zip(verdicts.iter_mut())
            .zip(&prepared)
            .take(n)
        {
            *v = self.process_prepared(snap, pkt, meta, p.as_ref());
        }
    }

    /// Stages 3 to 5 of [`Self::process_staged`], for the new flows of a group (`new[i]` for
    /// packet `i`).
    #[inline(never)]
    fn prefetch_new_flows<'s>(
        &self,
        snap: &'s Snapshot,
        meta: &Meta,
        prepared: &mut [Option<Prepared<'s>>],
        new: &[bool; STAGED],
    ) {
        let n = prepared.len().min(STAGED);
        // 3. A new flow: its frontend and Maglev flow hash (for the last stage), and its plan.
        for (p, new) in prepared.iter_mut().zip(new).take(n) {
            if let (Some(p), true) = (p, *new) {
                p.hint = new_flow_hint(snap, &p.c);
            }
        }
        // 4. A new flow: the pool's Maglev table header, members and backends.
        let mut pools: [Option<Pool>; STAGED] = [None; STAGED];
        for (p, pool) in prepared.iter().zip(pools.iter_mut()).take(n) {
            let Some((p, (f, _))) = p.as_ref().and_then(|p| Some((p, p.hint?))) else {
                continue;
            };
            let plan = f.plan();
            *pool = plan.pool_for(f.kind(), source_of(snap, meta.ingress, p.c.tuple().src));
            if let Some(pool) = *pool {
                plan.prefetch_pool(pool);
            }
        }
        // 5. A new flow: its Maglev table slot.
        for (p, pool) in prepared.iter().zip(pools).take(n) {
            if let (Some((f, h)), Some(pool)) = (p.as_ref().and_then(|p| p.hint), pool) {
                f.plan().prefetch_slot(pool, h);
            }
        }
    }

    /// What [`process`](Self::process) would do with `pkt` now, and the rule that decides it,
    /// without changing any state or the packet.
    pub fn explain<'s>(&self, snap: &'s Snapshot, pkt: &[u8], meta: &Meta) -> Explanation<'s> {
        let mut e = Explanation {
            verdict: Verdict::Invalid,
            rule: Rule::Malformed,
            frontend: None,
            service: None,
            port_name: None,
            pool: None,
            backend: None,
            snat: None,
        };
        let Ok(p) = nat::parse(pkt) else {
            if let Some(o) = nat::other_protocol(pkt) {
                (e.verdict, e.rule) = portless_verdict(snap, o.dst);
            }
            return e;
        };
        let now = meta.now();
        if p.kind == Kind::Fragment {
            if let Some(fragments::Decision { src, dst, backend }) =
                self.fragments.get(&frag_key(&p), now)
            {
                e.verdict = Verdict::Forward;
                e.rule = Rule::FragmentOfTracked;
                e.backend = Some(match backend {
                    Some((key, port, _)) => (addr_of_key(&key), port),
                    None => (dst, 0),
                });
                e.snat = (src != p.tuple.src).then_some((src, 0));
                return e;
            }
        }
        let key = match flow_key(snap, &p) {
            Ok(k) => k,
            Err(v) => {
                e.verdict = v;
                e.rule = match v {
                    Verdict::Drop(_) => Rule::Fragment,
                    _ => Rule::NotService,
                };
                return e;
            }
        };
        if let Some((id, dir)) = self
            .conntrack
            .peek(&key, now)
            .filter(|&(id, dir)| !self.conntrack.reopens(id, dir, p.tcp_flags))
        {
            if let Some(flow) = self.conntrack.get(id) {
                e.verdict = Verdict::Forward;
                e.rule = Rule::ConntrackHit(dir);
                e.backend = Some((addr_of(&flow.backend, p.family), flow.backend_port));
                e.snat = self.snat_addr_of(flow).map(|a| (a, flow.snat_port));
                return e;
            }
        }
        if p.kind != Kind::Ports {
            (e.verdict, e.rule) = if portless_new(p.kind) {
                portless_verdict(snap, p.tuple.dst)
            } else {
                (Verdict::Pass, Rule::NotService)
            };
            return e;
        }
        match self.decide(snap, &p.tuple, meta.ingress, now, None, p.tcp_flags) {
            Ok(c) => {
                e.verdict = Verdict::Forward;
                e.rule = c.rule;
                e.frontend = Some(c.kind);
                e.service = Some(c.plan.service());
                e.port_name = Some(c.plan.name());
                e.pool = Some(c.pool);
                e.backend = Some((c.backend.address, c.backend.port));
                e.snat = c.snat.map(|a| (a, p.tuple.src_port));
            }
            Err((v, rule)) => {
                e.verdict = v;
                e.rule = rule;
            }
        }
        e
    }

    /// The fast path of a packet [`nat::parse_common`] accepted: the same decisions and bytes as
    /// [`Self::process_general`] (which `parse` would have taken to [`Self::process_whole`] with
    /// a [`Kind::Ports`] packet that is not a fragment), without building a [`Parsed`] or a
    /// [`Rewrite`] for a tracked flow, and with the key hashed once.
    #[inline(always)]
    fn process_common(
        &mut self,
        snap: &Snapshot,
        pkt: &mut [u8],
        p: &Prepared<'_>,
        meta: &Meta,
    ) -> FastOutcome {
        let (c, hash) = (&p.c, p.hash);
        let now = meta.now();
        let key = FlowKey {
            src: c.src.to_le_bytes(),
            dst: c.dst.to_le_bytes(),
            src_port: c.src_port(),
            dst_port: c.dst_port(),
            protocol: c.protocol,
        };
        if let Some((id, dir)) = self.conntrack.lookup_hashed(&key, hash, now) {
            if !self.conntrack.reopens(id, dir, c.tcp_flags) {
                return self.established_common(pkt, c, id, dir, now);
            }
            self.conntrack.remove(id);
        }
        // Copies for the calls below, which take references: were the parse and the key
        // themselves passed by reference, they would have to be stored to memory before the
        // lookup, on every packet, tracked or not.
        let (c, key) = (*c, key);
        let t = c.tuple();
        FastOutcome::Decided(
            match self.decide(snap, &t, meta.ingress, now, p.hint, c.tcp_flags) {
                Ok(choice) => self.create(
                    snap,
                    pkt,
                    (c.family(), ParsedBy::Common(&c)),
                    (&key, hash),
                    &choice,
                    now,
                ),
                Err((v, _)) => v,
            },
        )
    }

    /// [`Self::established`] for a packet of the common case, counted here. A flow that names a
    /// masquerade address the worker does not know, or one of the other family, goes to the
    /// general path with nothing changed (a hit changes nothing in the table).
    #[inline(always)]
    fn established_common(
        &mut self,
        pkt: &mut [u8],
        c: &nat::Common,
        id: FlowId,
        dir: Direction,
        now: u32,
    ) -> FastOutcome {
        let Some(flow) = self.conntrack.get(id) else {
            return FastOutcome::General;
        };
        let (backend, backend_port) = (flow.backend, flow.backend_port);
        let snat = if flow.snat != 0 {
            match self.snat_addr_of(flow) {
                Some(addr) if Family::of(&addr) == c.family() => {
                    Some((ip_key(addr), flow.snat_port))
                }
                _ => return FastOutcome::General,
            }
        } else {
            None
        };
        let rw = match dir {
            Direction::Original => CommonRewrite {
                src: snat,
                dst: Some((backend, backend_port)),
            },
            Direction::Reply => CommonRewrite {
                src: Some((flow.key.dst, flow.key.dst_port)),
                dst: snat.map(|_| (flow.key.src, flow.key.src_port)),
            },
        };
        nat::apply_common_to(pkt, c.v6, c.protocol == crate::wire::ip_protocol::TCP, &rw);
        self.conntrack.touch(id, dir, c.tcp_flags, now);
        let len = pkt.len();
        self.backends
            .add(&backend, backend_port, dir == Direction::Original, len);
        self.counters.forward.add(len);
        FastOutcome::Counted
    }

    /// The general path: every packet [`nat::parse`] reads.
    fn process_general(&mut self, snap: &Snapshot, pkt: &mut [u8], meta: &Meta) -> Verdict {
        let Ok(p) = nat::parse(pkt) else {
            return match nat::other_protocol(pkt) {
                Some(o) => portless_verdict(snap, o.dst).0,
                None => Verdict::Invalid,
            };
        };
        let now = meta.now();
        if p.kind == Kind::Fragment {
            if let Some(d) = self.fragments.get(&frag_key(&p), now) {
                let rw = Rewrite {
                    src_addr: Some(d.src),
                    dst_addr: Some(d.dst),
                    ..Rewrite::default()
                };
                return match nat::apply(pkt, &p, &rw) {
                    Ok(()) => {
                        // Counted for the first fragment's backend, as the first fragment was.
                        self.last_backend = d.backend;
                        Verdict::Forward
                    }
                    Err(_) => Verdict::Invalid,
                };
            }
        }
        let verdict = self.process_whole(snap, pkt, &p, meta, now);
        if verdict == Verdict::Forward && p.fragment.is_some_and(|f| f.offset == 0) {
            // A first fragment: remember where it went, for the datagram's later fragments.
            if let Some((src, dst)) = addresses(pkt, p.family) {
                let decision = fragments::Decision {
                    src,
                    dst,
                    backend: self.last_backend,
                };
                self.fragments.insert(frag_key(&p), decision, now);
            }
        }
        verdict
    }

    fn process_whole(
        &mut self,
        snap: &Snapshot,
        pkt: &mut [u8],
        p: &Parsed,
        meta: &Meta,
        now: u32,
    ) -> Verdict {
        let key = match flow_key(snap, p) {
            Ok(k) => k,
            Err(v) => return v,
        };
        let hash = self.conntrack.hash(&key);
        if let Some((id, dir)) = self.conntrack.lookup_hashed(&key, hash, now) {
            if !self.conntrack.reopens(id, dir, p.tcp_flags) {
                return self.established(pkt, p, id, dir, now);
            }
            self.conntrack.remove(id);
        }
        if p.kind != Kind::Ports {
            // ICMP not belonging to a tracked flow: Services carry TCP, UDP and SCTP only.
            return if portless_new(p.kind) {
                portless_verdict(snap, p.tuple.dst).0
            } else {
                Verdict::Pass
            };
        }
        match self.decide(snap, &p.tuple, meta.ingress, now, None, p.tcp_flags) {
            Ok(choice) => self.create(
                snap,
                pkt,
                (p.family, ParsedBy::General(p)),
                (&key, hash),
                &choice,
                now,
            ),
            Err((v, _)) => v,
        }
    }

    /// A packet of a tracked flow.
    fn established(
        &mut self,
        pkt: &mut [u8],
        p: &Parsed,
        id: FlowId,
        dir: Direction,
        now: u32,
    ) -> Verdict {
        let Some(flow) = self.conntrack.get(id).copied() else {
            return Verdict::Pass;
        };
        let family = p.family;
        let mut fwd = Rewrite::dnat(addr_of(&flow.backend, family), flow.backend_port);
        if flow.snat != 0 {
            let Some(addr) = self.snat_addr_of(&flow) else {
                return Verdict::Invalid;
            };
            fwd = fwd.with_snat(addr, flow.snat_port);
        }
        let rw = match dir {
            Direction::Original => fwd,
            Direction::Reply => fwd.reply(&tuple_of(&flow.key, family)),
        };
        if nat::apply(pkt, p, &rw).is_err() {
            return Verdict::Invalid;
        }
        if p.kind != Kind::IcmpError {
            self.conntrack.touch(id, dir, p.tcp_flags, now);
        }
        self.last_backend = Some((flow.backend, flow.backend_port, dir == Direction::Original));
        Verdict::Forward
    }

    fn snat_addr_of(&self, flow: &Flow) -> Option<IpAddr> {
        let i = usize::from(flow.snat).checked_sub(1)?;
        self.snat_addrs.get(..self.snat_count)?.get(i).copied()
    }

    /// The index of `addr` among the table's SNAT addresses, adding it when new: in a free
    /// slot, or in place of an address no tracked flow is masqueraded to any more (the indices
    /// of tracked flows never change). `None` only when all [`conntrack::MAX_SNAT_ADDRS`] are
    /// in use.
    fn snat_index(&mut self, addr: IpAddr) -> Option<u8> {
        let known = self.snat_addrs.get(..self.snat_count)?;
        if let Some(i) = known.iter().position(|a| *a == addr) {
            return u8::try_from(i).ok();
        }
        let i = (0..self.snat_count)
            .find(|&i| !self.conntrack.snat_in_use(i))
            .unwrap_or(self.snat_count);
        let count = self.snat_count.max(i + 1);
        let mut all = self.snat_addrs;
        *all.get_mut(i)? = addr;
        self.conntrack.set_snat_addrs(all.get(..count)?).ok()?;
        self.snat_addrs = all;
        self.snat_count = count;
        u8::try_from(i).ok()
    }

    /// Decides a new connection without changing anything: the chosen backend, or the verdict
    /// and rule that stop it. Inlined: its callers' tuples then stay in registers (a tuple
    /// stored field by field and read back in wider words stalls store-to-load forwarding).
    #[inline(always)]
    fn decide<'s>(
        &self,
        snap: &'s Snapshot,
        t: &Tuple,
        ingress: Ingress,
        now: u32,
        hint: Option<(Frontend<'s>, u64)>,
        tcp_flags: u8,
    ) -> Result<Choice<'s>, (Verdict, Rule)> {
        let Some(protocol) = Protocol::from_number(t.protocol) else {
            return Err((Verdict::Pass, Rule::NotService));
        };
        let lookup = match hint {
            Some((f, _)) => Lookup::Frontend(f),
            None => snap.lookup(protocol, t.dst, t.dst_port),
        };
        let frontend = match lookup {
            Lookup::Frontend(f) => f,
            Lookup::UndefinedPort(_) => {
                return Err((
                    Verdict::Reject(RejectReason::UndefinedPort),
                    Rule::UndefinedPort,
                ))
            }
            Lookup::UnallocatedServiceIp => {
                return Err((
                    Verdict::Drop(DropReason::UnallocatedServiceIp),
                    Rule::UnallocatedServiceIp,
                ))
            }
            Lookup::NotService => return Err((Verdict::Pass, Rule::NotService)),
        };
        if protocol == Protocol::Tcp && !opens_connection(tcp_flags) {
            return Err((Verdict::Drop(DropReason::NotNew), Rule::NotNew));
        }
        let (plan, kind) = (frontend.plan(), frontend.kind());
        if !plan.source_allowed(kind, t.src) {
            return Err((Verdict::Drop(DropReason::SourceRange), Rule::SourceRange));
        }
        if plan.rejects_new_connections() {
            return Err((
                Verdict::Reject(RejectReason::NoEndpoints),
                Rule::NoEndpoints,
            ));
        }
        let source = source_of(snap, ingress, t.src);
        let no_pool = (
            Verdict::Drop(DropReason::TrafficPolicy),
            Rule::TrafficPolicy,
        );
        let pool = plan.pool_for(kind, source).ok_or(no_pool)?;
        if plan.pool(pool).is_empty() {
            return Err(no_pool);
        }
        let (backend, rule, affinity) = match plan.affinity_timeout_seconds() {
            Some(timeout) => {
                let id = plan.affinity_id();
                let pin = self.affinity.get(id, t.src, now);
                match pin.and_then(|k| pool_member(plan, pool, &k)) {
                    Some(b) => (b, Rule::AffinityPin, Some((id, timeout, false))),
                    None => {
                        let h = affinity::client_hash(snap.maglev_seed(), t.src);
                        let b = plan.pick(pool, h).ok_or(no_pool)?;
                        (
                            b,
                            Rule::AffinityFirstChoice,
                            Some((id, timeout, pin.is_some())),
                        )
                    }
                }
            }
            None => {
                let h = match hint {
                    Some((_, h)) => h,
                    None => flow_hash(
                        snap.maglev_seed(),
                        &ip_key(t.src),
                        &ip_key(t.dst),
                        t.src_port,
                        t.dst_port,
                        t.protocol,
                    ),
                };
                (plan.pick(pool, h).ok_or(no_pool)?, Rule::Maglev, None)
            }
        };
        let masquerade = match kind.traffic() {
            Traffic::Internal => snap.config().masquerade_all || source != Source::Pod,
            Traffic::External => match plan.external_policy {
                TrafficPolicy::Cluster => true,
                TrafficPolicy::Local => source == Source::Node,
            },
        } || backend.address == t.src;
        let snat = if masquerade {
            let family = match t.src {
                IpAddr::V4(_) => IpFamily::V4,
                IpAddr::V6(_) => IpFamily::V6,
            };
            let addr = snap.config().primary_ip(family).ok_or((
                Verdict::Drop(DropReason::NoMasqueradeAddress),
                Rule::NoMasqueradeAddress,
            ))?;
            Some(addr)
        } else {
            None
        };
        Ok(Choice {
            plan,
            kind,
            pool,
            backend,
            snat,
            rule,
            affinity,
        })
    }

    /// Tracks and rewrites the first packet of a new flow of `family`. `key` (the packet's
    /// tuple) and its conntrack `hash` are the ones the missed lookup used. The packet is
    /// rewritten by [`nat::apply`], or, for the fast path's packets, by [`nat::apply_common`]
    /// (the same bytes).
    fn create(
        &mut self,
        snap: &Snapshot,
        pkt: &mut [u8],
        (family, parsed): (Family, ParsedBy<'_>),
        (key, hash): (&FlowKey, u64),
        c: &Choice<'_>,
        now: u32,
    ) -> Verdict {
        let flow = Flow::new(*key, c.backend.address, c.backend.port, now);
        let mut rw = Rewrite::dnat(c.backend.address, c.backend.port);
        let inserted = match c.snat {
            None => self.conntrack.insert_missing(flow, hash),
            Some(addr) => {
                let Some(index) = self.snat_index(addr) else {
                    return Verdict::Drop(DropReason::NoMasqueradeAddress);
                };
                // The flow hash of the packet's tuple (its key holds the same fields).
                let h = flow_hash(
                    0,
                    &key.src,
                    &key.dst,
                    key.src_port,
                    key.dst_port,
                    key.protocol,
                );
                let protocol = c.plan.protocol();
                let mut result = Err(conntrack::Error::Exists);
                for i in 0..=SNAT_PORT_ATTEMPTS {
                    let Some(port) = snat_port(key.src_port, h, i, self.worker_index, self.workers)
                    else {
                        continue;
                    };
                    // Never a port at which the masquerade address is a frontend (a NodePort):
                    // a reply to it would look like a new connection to that Service.
                    if matches!(snap.lookup(protocol, addr, port), Lookup::Frontend(_)) {
                        continue;
                    }
                    result = self
                        .conntrack
                        .insert_missing(flow.with_snat(index, port), hash);
                    if result.is_ok() {
                        rw = rw.with_snat(addr, port);
                    }
                    if !matches!(result, Err(conntrack::Error::Exists)) {
                        break;
                    }
                }
                result
            }
        };
        let id = match inserted {
            Ok(id) => id,
            Err(conntrack::Error::Exists) => return Verdict::Drop(DropReason::FlowClash),
            Err(_) => return Verdict::Drop(DropReason::NoMasqueradeAddress),
        };
        let rewritten = match parsed {
            ParsedBy::Common(common) => apply_common_rewrite(pkt, common, &rw),
            ParsedBy::General(p) => nat::apply(pkt, p, &rw).is_ok(),
        };
        if !rewritten {
            self.conntrack.remove(id);
            return Verdict::Invalid;
        }
        if let Some((port, timeout, stale)) = c.affinity {
            let client = addr_of(&key.src, family);
            if stale {
                self.affinity.remove(port, client);
            }
            self.affinity
                .set(port, client, c.backend.address, timeout, now);
        }
        self.last_backend = Some((ip_key(c.backend.address), c.backend.port, true));
        Verdict::Forward
    }
}

/// The worker, of `workers`, that must process `pkt` under `snap` when every worker has its
/// own flow table and the SNAT ports are split ([`WorkerConfig::workers`]): the rule of the
/// README's "Workers and steering", for a dispatcher that steers in software (or to check a
/// NIC's steering against). Both directions of a connection, and the ICMP errors about it,
/// get the same worker:
/// 1. a packet to a frontend is a request: by its source address;
/// 2. a packet to a masquerade address (the node's primary address of its family) at a port
///    that is not a frontend is a reply to a masqueraded flow: [`snat_port_owner`] of its
///    destination port;
/// 3. anything else (a reply to the client of a flow that is not masqueraded, or no Service
///    traffic at all): by its destination address;
/// 4. an ICMP error: as its quoted packet with source and destination swapped.
///
/// A later IP fragment has no ports: to a cluster IP or service-CIDR address it is a request,
/// steered by its source like its first fragment; to a masquerade address, to a NodePort
/// address while the snapshot has NodePorts, or to an externalIP or LB IP (where the port
/// decides between rules 1 and 3), `steer` returns `None`: the caller reassembles the datagram
/// first. Any other later fragment goes by its destination (rule 3).
///
/// Addresses are hashed with [`steering_hash`]. A packet that does not
/// parse goes to worker 0 (it gets [`Verdict::Invalid`] or [`Verdict::Pass`] anywhere).
/// `workers` 0 counts as 1. Allocates nothing and cannot panic.
pub fn steer(snap: &Snapshot, pkt: &[u8], workers: u16) -> Option<u16> {
    let by_address = |a: IpAddr| (steering_hash(a) % u64::from(workers.max(1))) as u16;
    let Ok(p) = nat::parse(pkt) else {
        return Some(0);
    };
    let (t, nonfirst) = match (&p.inner, p.kind) {
        (Some(inner), Kind::IcmpError) => (inner.tuple.reversed(), inner.kind == Kind::Fragment),
        _ => (p.tuple, p.kind == Kind::Fragment),
    };
    let masquerade = snap.config().primary_ip(IpFamily::of(t.dst)) == Some(t.dst);
    if nonfirst {
        // No ports. To a frontend address: a request, by source like its first fragment. To
        // a masquerade address, or to a NodePort address while there are NodePorts (a request
        // or a reply, which cannot be told apart): reassemble first. Else by destination.
        let node_ports = snap.is_node_port_address(t.dst) && snap.has_node_ports();
        if masquerade || node_ports {
            return None;
        }
        // A cluster IP or service-CIDR address only takes requests: by source. An externalIP
        // or LB IP also takes other traffic on its other ports, which goes by destination:
        // the port decides, so reassemble first.
        if snap.in_service_cidrs(t.dst) {
            return Some(by_address(t.src));
        }
        return (!snap.has_frontends_at(t.dst)).then(|| by_address(t.dst));
    }
    if let Some(protocol) = Protocol::from_number(t.protocol) {
        if matches!(
            snap.lookup(protocol, t.dst, t.dst_port),
            Lookup::Frontend(_)
        ) {
            return Some(by_address(t.src));
        }
        if masquerade {
            if let Some(owner) = snat_port_owner(t.dst_port, workers) {
                return Some(owner);
            }
        }
    }
    Some(by_address(t.dst))
}

/// The address hash of [`steer`]: xxHash64 of the address's 16-byte form (IPv4-mapped for
/// IPv4) under seed `0x57ee_7000`. A NIC or dispatcher that steers by its own hash must use
/// one hash for rules 1 and 3 alike.
pub fn steering_hash(address: IpAddr) -> u64 {
    crate::hash::xxh64_16(0x57ee_7000, &ip_key(address))
}

/// Total length of an ICMPv4 error svcplane writes at most (RFC 1812 §4.3.2.3: 576 bytes).
pub const ICMPV4_ERROR_MAX: usize = 576;

/// Total length of an ICMPv6 error svcplane writes at most (RFC 4443 §2.4: the minimum MTU).
pub const ICMPV6_ERROR_MAX: usize = 1280;

/// Writes into `out` the ICMP (type 3 code 3) or ICMPv6 (type 1 code 4) "port unreachable"
/// answer to `pkt`, a packet that got [`Verdict::Reject`] (TCP, UDP or SCTP; an ICMP or ICMPv6
/// echo request or other query, or another IP protocol sent to a cluster IP: the same code,
/// as kube-proxy's `reject` answers them): from the address
/// `pkt` was sent to, back to its sender, quoting as much of `pkt` as fits in
/// [`ICMPV4_ERROR_MAX`] / [`ICMPV6_ERROR_MAX`] bytes and in `out`, with every checksum filled
/// in. Returns the answer's length, or `None` (nothing written that matters) when `pkt` is not
/// such a packet (never an error about an error, or about a later fragment) or `out` cannot hold
/// the IP header and the first 8 bytes of the transport header. Allocates nothing.
pub fn write_port_unreachable(pkt: &[u8], out: &mut [u8]) -> Option<usize> {
    use crate::wire::checksum::{finish, pseudo_header_v6, sum};
    // What is answered: the packet's addresses, where its transport header starts and where it
    // ends. Never an error about an ICMP error, an echo reply or a later fragment.
    let (src, dst, l4_offset, end) = match nat::parse(pkt) {
        Ok(p) => {
            if !(p.kind == Kind::Ports || portless_new(p.kind))
                || p.fragment.is_some_and(|f| f.offset != 0)
            {
                return None;
            }
            (p.tuple.src, p.tuple.dst, p.l4_offset, p.end)
        }
        Err(_) => {
            let o = nat::other_protocol(pkt)?;
            (o.src, o.dst, o.l4_offset, o.end)
        }
    };
    let original = pkt.get(..end)?;
    let (hdr, max) = match dst {
        IpAddr::V4(_) => (28, ICMPV4_ERROR_MAX),
        IpAddr::V6(_) => (48, ICMPV6_ERROR_MAX),
    };
    let quote = original
        .len()
        .min(max - hdr)
        .min(out.len().checked_sub(hdr)?);
    if quote < original.len().min(l4_offset + 8) {
        return None;
    }
    let total = hdr + quote;
    let out = out.get_mut(..total)?;
    out.fill(0);
    out.get_mut(hdr..)?.copy_from_slice(original.get(..quote)?);
    let len16 = u16::try_from(total).ok()?;
    match (dst, src) {
        (IpAddr::V4(from), IpAddr::V4(to)) => {
            out.get_mut(..20)?.copy_from_slice(&[
                0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]);
            out.get_mut(2..4)?.copy_from_slice(&len16.to_be_bytes());
            out.get_mut(12..16)?.copy_from_slice(&from.octets());
            out.get_mut(16..20)?.copy_from_slice(&to.octets());
            let c = finish(sum(out.get(..20)?));
            out.get_mut(10..12)?.copy_from_slice(&c.to_be_bytes());
            out.get_mut(20..22)?.copy_from_slice(&[3, 3]);
            let c = finish(sum(out.get(20..)?));
            out.get_mut(22..24)?.copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(from), IpAddr::V6(to)) => {
            let payload = len16.checked_sub(40)?;
            out.get_mut(..4)?.copy_from_slice(&[0x60, 0, 0, 0]);
            out.get_mut(4..6)?.copy_from_slice(&payload.to_be_bytes());
            out.get_mut(6..8)?.copy_from_slice(&[58, 64]);
            out.get_mut(8..24)?.copy_from_slice(&from.octets());
            out.get_mut(24..40)?.copy_from_slice(&to.octets());
            out.get_mut(40..42)?.copy_from_slice(&[1, 4]);
            let pseudo = pseudo_header_v6(from.octets(), to.octets(), 58, u32::from(payload));
            let c = finish(pseudo + sum(out.get(40..)?));
            out.get_mut(42..44)?.copy_from_slice(&c.to_be_bytes());
        }
        _ => return None,
    }
    Some(total)
}

/// Length of the TCP reset [`write_tcp_reset`] writes: an IPv4 (20) or IPv6 (40) header and a
/// 20-byte TCP header.
pub const TCP_RESET_LEN_V4: usize = 40;

/// See [`TCP_RESET_LEN_V4`].
pub const TCP_RESET_LEN_V6: usize = 60;

/// Writes into `out` a TCP reset answering `pkt`, a TCP segment that got [`Verdict::Reject`]
/// (the option svcplane offers instead of ICMP port unreachable, SEMANTICS.md §4): from the
/// address and port `pkt` was sent to, back to its sender, built as RFC 9293 §3.10.7.1 says for
/// a segment to a closed port: if `pkt` has ACK, the reset's sequence number is its
/// acknowledgment number (flags RST); otherwise sequence 0 and acknowledgment number `pkt`'s
/// sequence number plus its length (SYN and FIN counting one each), flags RST|ACK. Never
/// answers a reset. Returns the reset's length, or `None` when `pkt` is not such a segment or
/// `out` is too short. Allocates nothing.
pub fn write_tcp_reset(pkt: &[u8], out: &mut [u8]) -> Option<usize> {
    use crate::wire::checksum::{finish, pseudo_header_v4, pseudo_header_v6, sum};
    let p = nat::parse(pkt).ok()?;
    if p.kind != Kind::Ports
        || p.tuple.protocol != crate::wire::ip_protocol::TCP
        || p.fragment.is_some()
    {
        return None;
    }
    let tcp = pkt.get(p.l4_offset..p.end)?;
    let flags = *tcp.get(13)?;
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    if flags & RST != 0 {
        return None;
    }
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(tcp.get(at..at + 4)?.try_into().ok()?))
    };
    let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
    let seg_len = tcp.len().checked_sub(data_offset)? as u32
        + u32::from(flags & SYN != 0)
        + u32::from(flags & FIN != 0);
    let (seq, ack, rflags) = if flags & ACK != 0 {
        (word(8)?, 0, RST)
    } else {
        (0, word(4)?.wrapping_add(seg_len), RST | ACK)
    };
    let hdr = match p.family {
        Family::V4 => 20,
        Family::V6 => 40,
    };
    let total = hdr + 20;
    let out = out.get_mut(..total)?;
    out.fill(0);
    {
        let t = out.get_mut(hdr..)?;
        t.get_mut(0..2)?
            .copy_from_slice(&p.tuple.dst_port.to_be_bytes());
        t.get_mut(2..4)?
            .copy_from_slice(&p.tuple.src_port.to_be_bytes());
        t.get_mut(4..8)?.copy_from_slice(&seq.to_be_bytes());
        t.get_mut(8..12)?.copy_from_slice(&ack.to_be_bytes());
        *t.get_mut(12)? = 5 << 4;
        *t.get_mut(13)? = rflags;
    }
    let pseudo = match (p.tuple.dst, p.tuple.src) {
        (IpAddr::V4(from), IpAddr::V4(to)) => {
            out.get_mut(..20)?.copy_from_slice(&[
                0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]);
            out.get_mut(12..16)?.copy_from_slice(&from.octets());
            out.get_mut(16..20)?.copy_from_slice(&to.octets());
            let c = finish(sum(out.get(..20)?));
            out.get_mut(10..12)?.copy_from_slice(&c.to_be_bytes());
            pseudo_header_v4(from.octets(), to.octets(), 6, 20)
        }
        (IpAddr::V6(from), IpAddr::V6(to)) => {
            out.get_mut(..8)?
                .copy_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
            out.get_mut(8..24)?.copy_from_slice(&from.octets());
            out.get_mut(24..40)?.copy_from_slice(&to.octets());
            pseudo_header_v6(from.octets(), to.octets(), 6, 20)
        }
        _ => return None,
    };
    let c = finish(pseudo + sum(out.get(hdr..)?));
    out.get_mut(hdr + 16..hdr + 18)?
        .copy_from_slice(&c.to_be_bytes());
    Some(total)
}

/// [`nat::apply`] of `rw` (a new flow's DNAT, and SNAT, each with address and port) to a packet
/// of the common case, by [`nat::apply_common`]: false, with nothing written, where `apply`
/// fails (an address of the other family).
fn apply_common_rewrite(pkt: &mut [u8], c: &nat::Common, rw: &Rewrite) -> bool {
    let family = c.family();
    let side = |addr: Option<IpAddr>, port: Option<u16>| match (addr, port) {
        (Some(a), Some(port)) if Family::of(&a) == family => Ok(Some((ip_key(a), port))),
        (None, None) => Ok(None),
        _ => Err(()),
    };
    match (
        side(rw.src_addr, rw.src_port),
        side(rw.dst_addr, rw.dst_port),
    ) {
        (Ok(src), Ok(dst)) => {
            nat::apply_common(pkt, c, &CommonRewrite { src, dst });
            true
        }
        _ => false,
    }
}

/// Whether a TCP segment with `flags` that matches no tracked flow may open one: not a RST, a
/// FIN or a SYN-ACK (Linux's `tcp_conntracks` takes these from no state to invalid). A bare ACK
/// may (Linux picks up connections mid-stream by default, `nf_conntrack_tcp_loose`).
fn opens_connection(flags: u8) -> bool {
    use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};
    flags & (RST | FIN) == 0 && flags & (SYN | ACK) != SYN | ACK
}

/// The SNAT port of attempt `i` for worker `worker_index` of `workers`, if it has one (see
/// the module docs).
fn snat_port(client_port: u16, h: u64, i: u32, worker_index: u16, workers: u16) -> Option<u16> {
    if i == 0 {
        // The client's own port, if it is this worker's.
        return (snat_port_owner(client_port, workers) == Some(worker_index))
            .then_some(client_port);
    }
    // This worker's ports are 1024 + worker_index + k * workers, k < n.
    let (index, workers) = (u32::from(worker_index), u32::from(workers.max(1)));
    let n = (64_511u32.checked_sub(index)? / workers) + 1;
    // Independent draws (a fixed step would walk the ports in one order for every flow, and
    // the taken ports would cluster along it, as in linear probing).
    let k = crate::hash::mix64(h ^ u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)) % u64::from(n);
    // k < n, so the port is at most 65535.
    u16::try_from(1024 + index + k as u32 * workers).ok()
}

/// The datagram identity of a fragment.
fn frag_key(p: &Parsed) -> FragKey {
    let ident = p.fragment.map_or(0, |f| f.ident);
    // IPv4 reassembles by (source, destination, protocol, identification) (RFC 791); IPv6 by
    // (source, destination, identification) (RFC 8200 §4.5): its fragments need not agree on a
    // protocol (the first one's headers after the fragment header are walked, a later one's are
    // not), so the protocol is left out.
    let protocol = match p.family {
        Family::V4 => p.tuple.protocol,
        Family::V6 => 0,
    };
    FragKey::new(p.tuple.src, p.tuple.dst, ident, protocol)
}

/// The source and destination address fields of the IP packet at the start of `pkt`.
fn addresses(pkt: &[u8], family: Family) -> Option<(IpAddr, IpAddr)> {
    match family {
        Family::V4 => {
            let s: [u8; 4] = pkt.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = pkt.get(16..20)?.try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        Family::V6 => {
            let s: [u8; 16] = pkt.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = pkt.get(24..40)?.try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
    }
}

/// The key a packet's flow is tracked under, or the verdict of a packet that has none.
fn flow_key(snap: &Snapshot, p: &Parsed) -> Result<FlowKey, Verdict> {
    match p.kind {
        Kind::IcmpError => match &p.inner {
            Some(inner) => Ok(FlowKey::from_tuple(&inner.tuple.reversed())),
            None => Err(Verdict::Pass),
        },
        Kind::Fragment => {
            // A later fragment has no ports: drop it when it goes to a cluster IP, an
            // externalIP, an LB IP or another service address, whatever its protocol.
            // (An externalIP or LB IP also takes traffic on ports that are not frontends, whose
            // first fragments pass unremembered: its later fragments pass too.)
            if snap.in_service_cidrs(p.tuple.dst) {
                Err(Verdict::Drop(DropReason::Fragment))
            } else {
                Err(Verdict::Pass)
            }
        }
        _ => Ok(FlowKey::from_tuple(&p.tuple)),
    }
}

/// The backend of `pool` at address key `key`, if it is still a member (binary search: members
/// are in ascending key order).
fn pool_member<'s>(plan: &'s PortPlan, pool: Pool, key: &[u8; 16]) -> Option<&'s PlanBackend> {
    let backends = plan.backends();
    let members = plan.pool(pool).members();
    let i = members
        .binary_search_by_key(key, |&m| {
            backends
                .get(m as usize)
                .map_or([0xff; 16], |b| ip_key(b.address))
        })
        .ok()?;
    backends.get(*members.get(i)? as usize)
}

/// Whether a flow survives a switch to `snap` (SEMANTICS.md §7).
fn keep_flow(snap: &Snapshot, f: &Flow, clean_sctp: bool) -> bool {
    let protocol = match f.key.protocol {
        17 => Protocol::Udp,
        132 if clean_sctp => Protocol::Sctp,
        _ => return true,
    };
    let dst = addr_of_key(&f.key.dst);
    let plan = match snap.lookup(protocol, dst, f.key.dst_port) {
        Lookup::Frontend(fr) => fr.plan(),
        _ => return false,
    };
    let serving = |b: &&PlanBackend| b.conditions.is_serving();
    if !plan.backends().iter().any(|b| serving(&b)) {
        return true;
    }
    plan.backends()
        .iter()
        .filter(serving)
        .any(|b| ip_key(b.address) == f.backend && b.port == f.backend_port)
}

/// Whether a ClientIP affinity pin of Service port `port` to `backend` survives a switch to
/// `snap`: the port still has affinity and the backend is one of its usable endpoints.
fn keep_pin(snap: &Snapshot, port: u64, backend: &[u8; 16]) -> bool {
    snap.affinity_port(port).is_some_and(|plan| {
        plan.backends()
            .iter()
            .any(|b| b.conditions.is_usable() && ip_key(b.address) == *backend)
    })
}

/// A 16-byte address key as an address of `family`.
fn addr_of(k: &[u8; 16], family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(k[12], k[13], k[14], k[15])),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(*k)),
    }
}

/// A 16-byte address key as an address: IPv4-mapped keys are IPv4.
fn addr_of_key(k: &[u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(*k);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The tuple of a flow's original key, as addresses of `family`.
fn tuple_of(k: &FlowKey, family: Family) -> Tuple {
    Tuple {
        protocol: k.protocol,
        src: addr_of(&k.src, family),
        dst: addr_of(&k.dst, family),
        src_port: k.src_port,
        dst_port: k.dst_port,
    }
}
