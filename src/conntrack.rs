//! Connection tracking: a fixed-capacity flow table in which the original and the reply
//! direction of a flow find the same entry.
//!
//! The table is allocated once, at [`Conntrack::new`], and never grows: lookups, inserts,
//! updates and removals allocate nothing, take no locks and cost O(1). When it is full, an
//! insert evicts — an expired flow if the clock hand finds one within [`EVICTION_WINDOW`]
//! entries, else the least recently seen of those that are not settled ([`State::is_settled`]:
//! half-open, unreplied or closed, as Linux's `early_drop` picks only unassured flows), else
//! the least recently seen of them all (svcplane never refuses a new flow) — and counts it
//! ([`Stats::evicted`]); it never fails silently and never grows. Time is passed in by the
//! caller (whole seconds of any monotonic clock); a flow expires once more than its timeout
//! has passed in those seconds, so it lives at least its timeout, never less.
//!
//! # Layout
//!
//! Flows live in an array of [`Flow`]s of 64 bytes each, aligned to cache lines. An open-addressing index
//! (linear probing, backward-shift deletion, no tombstones; at most half full) maps both keys of
//! every flow to it: the original key (client → frontend, as the client sent it) and the reply
//! key (backend → client, or → the masquerade address and port when the flow was SNATed). The
//! index costs 8 bytes a slot, 4 slots a flow: 32 bytes a flow on top of the entry.
//!
//! The index hashes keys with a keyed folded-multiply hash (three 64 × 64 → 128-bit
//! multiplications; not the cluster-wide [`crate::hash::flow_hash`], since nothing outside the
//! table depends on this hash) under keys derived from a seed the caller supplies: it should be
//! random per process, so that nobody outside can aim packets at one chain (DESIGN.md,
//! invariant 6). [`Conntrack::hash`] exposes the hash so a caller that has it already (say, to
//! pick a worker) can pass it to the `_hashed` lookups.
//!
//! # Timeouts
//!
//! Defaults ([`Timeouts::default`]) are the kernel's, with kube-proxy's settings where kube-proxy
//! changes them (SEMANTICS.md §7): TCP established 86,400 s and close-wait 3,600 s (kube-proxy),
//! SYN sent 120 s, SYN-ACK seen (SYN_RECV) 60 s, a FIN not answered yet (FIN_WAIT) 120 s, both
//! FINs seen (time-wait) 120 s, after a RST 10 s; UDP 30 s until a reply is seen and after a
//! single reply, then 120 s; SCTP 30 s unreplied, 210 s established, 3 s shutting down (from a
//! SHUTDOWN), 10 s closed (after an ABORT or a SHUTDOWN COMPLETE); ICMP echo 30 s.
//!
//! TCP closes as the kernel's tracker sees them, without its sequence-number checks: a FIN
//! moves an open connection to FIN_WAIT; a packet with ACK from the other side then makes it
//! half-closed (close-wait, the hour kube-proxy sets so that half-closed connections survive),
//! the other side's FIN closes it both ways (time-wait). The kernel takes an ACK from either
//! side as the answer; here only the other side's counts (the side that sent the FIN keeps
//! acknowledging data it receives, which says nothing about its peer). The kernel's LAST_ACK
//! (30 s between the second FIN and the last ACK) is folded into time-wait's 120 s.

use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

use crate::hash::TableHasher;
use crate::maglev::ip_key;
use crate::nat::Tuple;
use crate::wire::{ip_protocol, sctp};

/// How many entries an insert into a full table examines for a victim.
pub const EVICTION_WINDOW: usize = 32;

/// The most flows a table can hold.
pub const MAX_CAPACITY: usize = 1 << 28;

/// Most SNAT (masquerade) addresses a table can refer to.
pub const MAX_SNAT_ADDRS: usize = 8;

/// A flow's key in one direction: protocol, addresses (IPv4 as IPv4-mapped IPv6) and ports
/// (ICMP echo: the identifier as the client's port, 0 as the other).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address, 16 bytes (see [`crate::maglev::ip_key`]).
    pub src: [u8; 16],
    /// Destination address, 16 bytes.
    pub dst: [u8; 16],
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number.
    pub protocol: u8,
}

impl FlowKey {
    /// The key of a packet with tuple `t`.
    pub fn from_tuple(t: &Tuple) -> Self {
        FlowKey {
            src: ip_key(t.src),
            dst: ip_key(t.dst),
            src_port: t.src_port,
            dst_port: t.dst_port,
            protocol: t.protocol,
        }
    }

    /// A key from addresses and ports.
    pub fn new(protocol: u8, src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> Self {
        FlowKey {
            src: ip_key(src),
            dst: ip_key(dst),
            src_port,
            dst_port,
            protocol,
        }
    }
}

/// Key equality as two 128-bit and one 40-bit comparison (the derived `==` compares the
/// address arrays through a `memcmp` call on the lookup path).
#[inline(always)]
fn same_key(a: &FlowKey, b: &FlowKey) -> bool {
    u128::from_ne_bytes(a.src) == u128::from_ne_bytes(b.src)
        && u128::from_ne_bytes(a.dst) == u128::from_ne_bytes(b.dst)
        && a.src_port == b.src_port
        && a.dst_port == b.dst_port
        && a.protocol == b.protocol
}

/// Which way a packet goes relative to the flow's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to service (the key the flow was created with).
    Original,
    /// Backend to client.
    Reply,
}

/// The protocol state of a flow, which picks its timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// TCP: SYN seen, no reply yet. UDP, SCTP, ICMP: no reply yet.
    #[default]
    New = 0,
    /// TCP: the connection is open: the client acknowledged the backend's SYN-ACK (or the
    /// backend answered without a SYN). UDP: packets after the first reply (the kernel's
    /// "stream"). SCTP, ICMP: a reply was seen.
    Established = 1,
    /// TCP: a FIN from the client only, answered by the backend (half-closed: the kernel's
    /// CLOSE_WAIT, kube-proxy's close-wait timeout).
    FinFromClient = 2,
    /// TCP: a FIN from the backend only, answered by the client (CLOSE_WAIT).
    FinFromBackend = 3,
    /// TCP: FINs in both directions. SCTP: a SHUTDOWN answered by a SHUTDOWN ACK.
    FinBoth = 4,
    /// TCP: a RST. SCTP: an ABORT or a SHUTDOWN COMPLETE.
    Closed = 5,
    /// TCP: the backend's SYN-ACK seen, the client's ACK not yet (the kernel's SYN_RECV, 60 s:
    /// a flood of spoofed SYNs does not hold entries for the established timeout). UDP: one
    /// reply seen and nothing since (still the unreplied timeout, as in the kernel).
    Replied = 6,
    /// TCP: a FIN from the client that the backend has not answered yet (the kernel's
    /// FIN_WAIT, 120 s: a peer that is gone does not hold the entry for the close-wait hour).
    /// SCTP: a SHUTDOWN from the client.
    FinWaitClient = 7,
    /// TCP: a FIN from the backend that the client has not answered yet (FIN_WAIT). SCTP: a
    /// SHUTDOWN from the backend.
    FinWaitBackend = 8,
}

impl Timeouts {
    /// Every timeout must be at least 1 second; the error names the first that is 0.
    pub fn validate(&self) -> Result<(), Error> {
        let t = self;
        for (value, field) in [
            (t.tcp_syn, "tcp_syn"),
            (t.tcp_syn_recv, "tcp_syn_recv"),
            (t.tcp_established, "tcp_established"),
            (t.tcp_fin_wait, "tcp_fin_wait"),
            (t.tcp_close_wait, "tcp_close_wait"),
            (t.tcp_time_wait, "tcp_time_wait"),
            (t.tcp_closed, "tcp_closed"),
            (t.udp_unreplied, "udp_unreplied"),
            (t.udp_stream, "udp_stream"),
            (t.sctp_unreplied, "sctp_unreplied"),
            (t.sctp_established, "sctp_established"),
            (t.sctp_shutdown, "sctp_shutdown"),
            (t.sctp_closed, "sctp_closed"),
            (t.other, "other"),
        ] {
            if value == 0 {
                return Err(Error::ZeroTimeout(field));
            }
        }
        Ok(())
    }
}

impl State {
    /// Whether a flow in this state has been answered and confirmed: established, or closing
    /// after that (Linux's "assured" connections). A full table evicts other flows first
    /// (half-open, unreplied, closed), so a flood of spoofed SYNs or one-packet UDP flows does
    /// not push out live connections.
    pub const fn is_settled(self) -> bool {
        matches!(
            self,
            State::Established
                | State::FinFromClient
                | State::FinFromBackend
                | State::FinWaitClient
                | State::FinWaitBackend
        )
    }
}

/// Timeouts in seconds, per protocol and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// TCP, SYN sent and not answered.
    pub tcp_syn: u32,
    /// TCP, SYN-ACK answered and not acknowledged by the client.
    pub tcp_syn_recv: u32,
    /// TCP established.
    pub tcp_established: u32,
    /// TCP after a FIN in one direction, before the other side answers.
    pub tcp_fin_wait: u32,
    /// TCP after a FIN in one direction that the other side answered.
    pub tcp_close_wait: u32,
    /// TCP after FINs in both directions.
    pub tcp_time_wait: u32,
    /// TCP after a RST.
    pub tcp_closed: u32,
    /// UDP before a reply, and after a single reply.
    pub udp_unreplied: u32,
    /// UDP once a packet follows the first reply.
    pub udp_stream: u32,
    /// SCTP before a reply.
    pub sctp_unreplied: u32,
    /// SCTP once replied.
    pub sctp_established: u32,
    /// SCTP after a SHUTDOWN, until the SHUTDOWN COMPLETE.
    pub sctp_shutdown: u32,
    /// SCTP after an ABORT or a SHUTDOWN COMPLETE.
    pub sctp_closed: u32,
    /// ICMP echo (and anything else).
    pub other: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn: 120,
            tcp_syn_recv: 60,
            tcp_established: 86_400,
            tcp_fin_wait: 120,
            tcp_close_wait: 3_600,
            tcp_time_wait: 120,
            tcp_closed: 10,
            udp_unreplied: 30,
            udp_stream: 120,
            sctp_unreplied: 30,
            sctp_established: 210,
            sctp_shutdown: 3,
            sctp_closed: 10,
            other: 30,
        }
    }
}

impl Timeouts {
    /// The timeout of a flow of `protocol` in `state`.
    #[inline(always)]
    pub fn of(&self, protocol: u8, state: State) -> u32 {
        match (protocol, state) {
            (ip_protocol::TCP, State::New) => self.tcp_syn,
            (ip_protocol::TCP, State::Replied) => self.tcp_syn_recv,
            (ip_protocol::TCP, State::Established) => self.tcp_established,
            (ip_protocol::TCP, State::FinWaitClient | State::FinWaitBackend) => self.tcp_fin_wait,
            (ip_protocol::TCP, State::FinFromClient | State::FinFromBackend) => self.tcp_close_wait,
            (ip_protocol::TCP, State::FinBoth) => self.tcp_time_wait,
            (ip_protocol::TCP, State::Closed) => self.tcp_closed,
            (ip_protocol::UDP, State::New | State::Replied) => self.udp_unreplied,
            (ip_protocol::UDP, _) => self.udp_stream,
            (ip_protocol::SCTP, State::New) => self.sctp_unreplied,
            (
                ip_protocol::SCTP,
                State::FinWaitClient
                | State::FinWaitBackend
                | State::FinFromClient
                | State::FinFromBackend
                | State::FinBoth,
            ) => self.sctp_shutdown,
            (ip_protocol::SCTP, State::Closed) => self.sctp_closed,
            (ip_protocol::SCTP, _) => self.sctp_established,
            _ => self.other,
        }
    }
}

/// The SCTP state after a packet with chunk bits `chunks` ([`sctp::chunk_bits`]) going
/// `reply`-wards, from `state`: the kernel's tracker reduced to what picks a timeout. An ABORT
/// or a SHUTDOWN COMPLETE closes the association (the short closed timeout, and a new INIT from
/// the client then opens a new one: [`Conntrack::reopens`]); a SHUTDOWN starts the graceful
/// close (the kernel's SHUTDOWN_SENT), the other side's SHUTDOWN ACK answers it
/// (SHUTDOWN_ACK_SENT); any reply opens a new association (the kernel's COOKIE states are
/// folded into "no reply yet" and "established").
fn sctp_next(state: State, reply: bool, chunks: u8) -> State {
    use sctp::chunks::{ABORT, INIT, SHUTDOWN, SHUTDOWN_ACK, SHUTDOWN_COMPLETE};
    if chunks & (ABORT | SHUTDOWN_COMPLETE) != 0 {
        return State::Closed;
    }
    match state {
        State::Closed | State::FinBoth if !reply && chunks & INIT != 0 => State::New,
        State::New if reply => State::Established,
        State::New | State::Replied | State::Established if chunks & SHUTDOWN != 0 => {
            if reply {
                State::FinWaitBackend
            } else {
                State::FinWaitClient
            }
        }
        State::FinWaitClient if reply && chunks & SHUTDOWN_ACK != 0 => State::FinBoth,
        State::FinWaitBackend if !reply && chunks & SHUTDOWN_ACK != 0 => State::FinBoth,
        s => s,
    }
}

/// A tracked flow: 64 bytes (checked at compile time), aligned to 64 so that every entry of
/// the table is one cache line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Flow {
    /// The original key: client → frontend, as the client sent it.
    pub key: FlowKey,
    /// The backend address (16 bytes, IPv4-mapped for IPv4).
    pub backend: [u8; 16],
    /// The backend port.
    pub backend_port: u16,
    /// The masquerade source port; meaningful when `snat` is not 0.
    pub snat_port: u16,
    /// 0: no source NAT; `i` ≥ 1: masqueraded to the table's SNAT address `i - 1`
    /// ([`Conntrack::set_snat_addrs`]).
    pub snat: u8,
    /// The protocol state.
    pub state: State,
    /// When a packet of the flow was last seen (caller's seconds).
    pub last_seen: u32,
}

const _: () = assert!(core::mem::size_of::<Flow>() == 64);

impl Flow {
    /// A new flow from `key` to `backend:backend_port`, seen at `now`.
    pub fn new(key: FlowKey, backend: IpAddr, backend_port: u16, now: u32) -> Self {
        Flow {
            key,
            backend: ip_key(backend),
            backend_port,
            snat_port: 0,
            snat: 0,
            state: State::New,
            last_seen: now,
        }
    }

    /// This flow, masqueraded to SNAT address `index` of the table and `port`.
    pub fn with_snat(mut self, index: u8, port: u16) -> Self {
        self.snat = index.saturating_add(1);
        self.snat_port = port;
        self
    }
}

/// Counters of a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Flows inserted.
    pub created: u64,
    /// Flows removed to make room in a full table.
    pub evicted: u64,
    /// Flows removed because they timed out (found by a lookup or a sweep).
    pub expired: u64,
    /// Flows removed by [`Conntrack::remove`].
    pub removed: u64,
}

/// Why a table could not be created or a flow not inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Capacity 0 or above [`MAX_CAPACITY`].
    Capacity,
    /// More than [`MAX_SNAT_ADDRS`] SNAT addresses.
    TooManySnatAddrs,
    /// The flow refers to an SNAT address the table does not have.
    UnknownSnatAddr,
    /// The flow's original or reply key is already tracked.
    Exists,
    /// [`Conntrack::set_snat_addrs`] would change or remove an address that tracked flows
    /// are masqueraded to.
    SnatAddrsInUse,
    /// A timeout of 0 seconds (the named [`Timeouts`] field): flows in that state would expire
    /// as they are created, and their replies would find nothing.
    ZeroTimeout(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Capacity => "conntrack capacity must be between 1 and 2^28 flows",
            Error::TooManySnatAddrs => "at most 8 SNAT addresses",
            Error::UnknownSnatAddr => "flow refers to an SNAT address the table does not have",
            Error::Exists => "a flow with this original or reply key is already tracked",
            Error::SnatAddrsInUse => {
                "an SNAT address that tracked flows are masqueraded to cannot be changed or removed"
            }
            Error::ZeroTimeout(field) => {
                return write!(f, "timeouts.{field} is 0: it must be at least 1 second");
            }
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// A handle to a tracked flow, valid until the flow is removed, expires or is evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowId(u32);

/// One index slot: the key's hash (low 32 bits) and `entry * 2 + direction + 1` (0 = empty).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    hash: u32,
    tag: u32,
}

/// The flow table. See the module docs.
pub struct Conntrack {
    flows: Vec<Flow>,
    live: Vec<bool>,
    free: Vec<u32>,
    index: Vec<Slot>,
    mask: usize,
    hasher: TableHasher,
    len: usize,
    hand: usize,
    snat_addrs: [[u8; 16]; MAX_SNAT_ADDRS],
    snat_count: usize,
    /// Tracked flows masqueraded to each SNAT address.
    snat_refs: [u32; MAX_SNAT_ADDRS],
    timeouts: Timeouts,
    stats: Stats,
}

impl fmt::Debug for Conntrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conntrack")
            .field("capacity", &self.flows.len())
            .field("len", &self.len)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Conntrack {
    /// A table for `capacity` flows, hashing under `seed` (random per process), with
    /// `timeouts`. Allocates everything it will ever use: 64 bytes a flow for entries and 32
    /// for the index, rounded up to a power of two.
    pub fn new(capacity: usize, seed: u64, timeouts: Timeouts) -> Result<Self, Error> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(Error::Capacity);
        }
        timeouts.validate()?;
        let slots = (capacity * 4).next_power_of_two();
        let mut free = Vec::with_capacity(capacity);
        // Popped from the end: entry 0 first.
        free.extend((0..capacity as u32).rev());
        Ok(Conntrack {
            flows: alloc::vec![Flow::default(); capacity],
            live: alloc::vec![false; capacity],
            free,
            index: alloc::vec![Slot::default(); slots],
            mask: slots - 1,
            hasher: TableHasher::new(seed),
            len: 0,
            hand: 0,
            snat_addrs: [[0; 16]; MAX_SNAT_ADDRS],
            snat_count: 0,
            snat_refs: [0; MAX_SNAT_ADDRS],
            timeouts,
            stats: Stats::default(),
        })
    }

    /// Sets the masquerade addresses flows refer to by index (the node's addresses, typically
    /// one per family). Call it before inserting SNATed flows. The new list must keep at its
    /// index every address that a tracked flow is masqueraded to ([`Conntrack::snat_in_use`]),
    /// because that flow's reply key is found through it ([`Error::SnatAddrsInUse`] otherwise,
    /// with nothing changed); the other indices can be changed, added or removed.
    pub fn set_snat_addrs(&mut self, addrs: &[IpAddr]) -> Result<(), Error> {
        if addrs.len() > MAX_SNAT_ADDRS {
            return Err(Error::TooManySnatAddrs);
        }
        let current = self.snat_addrs.get(..self.snat_count).unwrap_or(&[]);
        let keeps = current
            .iter()
            .zip(&self.snat_refs)
            .enumerate()
            .all(|(i, (c, &refs))| refs == 0 || addrs.get(i).is_some_and(|a| *c == ip_key(*a)));
        if !keeps {
            return Err(Error::SnatAddrsInUse);
        }
        for (slot, a) in self.snat_addrs.iter_mut().zip(addrs) {
            *slot = ip_key(*a);
        }
        self.snat_count = addrs.len();
        Ok(())
    }

    /// The count of flows masqueraded to the SNAT address a flow's `snat` field names (none
    /// for 0, no SNAT).
    fn snat_refs_of(&mut self, snat: u8) -> Option<&mut u32> {
        let i = usize::from(snat).checked_sub(1)?;
        self.snat_refs.get_mut(i)
    }

    /// Whether a tracked flow is masqueraded to SNAT address `index` (then
    /// [`Conntrack::set_snat_addrs`] must keep that address at that index).
    pub fn snat_in_use(&self, index: usize) -> bool {
        self.snat_refs.get(index).is_some_and(|&n| n > 0)
    }

    /// The number of flows tracked.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of flows the table holds at most.
    pub fn capacity(&self) -> usize {
        self.flows.len()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The timeouts.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The index hash of `key` (keyed by the table's seed; see the module docs).
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.hash_parts(
            u128::from_le_bytes(key.src),
            u128::from_le_bytes(key.dst),
            u32::from(key.src_port) << 16 | u32::from(key.dst_port),
            key.protocol,
        )
    }

    /// [`Conntrack::hash`] of the key with these fields: addresses as `u128::from_le_bytes` of
    /// the key's bytes, ports as `src_port << 16 | dst_port` (for a caller that has them in
    /// registers).
    #[inline]
    pub(crate) fn hash_parts(&self, src: u128, dst: u128, ports: u32, protocol: u8) -> u64 {
        let tail = u64::from(ports) | u64::from(protocol) << 32;
        self.hasher.hash(src, dst, tail)
    }

    /// The key replies of `flow` carry: from the backend to the client, or to the masquerade
    /// address and port. `None` when the flow names an SNAT address the table does not have.
    #[inline(always)]
    pub fn reply_key(&self, flow: &Flow) -> Option<FlowKey> {
        let (dst, dst_port) = match flow.snat {
            0 => (flow.key.src, flow.key.src_port),
            i => (
                *self.snat_addrs[..self.snat_count].get(usize::from(i) - 1)?,
                flow.snat_port,
            ),
        };
        Some(FlowKey {
            src: flow.backend,
            dst,
            src_port: flow.backend_port,
            dst_port,
            protocol: flow.key.protocol,
        })
    }

    /// The flow `id` names, if it is still tracked.
    #[inline(always)]
    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        let i = id.0 as usize;
        if *self.live.get(i)? {
            self.flows.get(i)
        } else {
            None
        }
    }

    /// Looks up a packet's key: its flow and direction, or `None`. A flow found expired at
    /// `now` is removed (and counted) and reported as `None`.
    #[inline]
    pub fn lookup(&mut self, key: &FlowKey, now: u32) -> Option<(FlowId, Direction)> {
        let h = self.hash(key);
        self.lookup_hashed(key, h, now)
    }

    /// [`Conntrack::lookup`] with the key's hash ([`Conntrack::hash`]) already computed.
    #[inline(always)]
    pub fn lookup_hashed(
        &mut self,
        key: &FlowKey,
        hash: u64,
        now: u32,
    ) -> Option<(FlowId, Direction)> {
        let (entry, dir) = self.find(key, hash as u32)?;
        let flow = &self.flows[entry];
        if self.expired(flow, now) {
            self.unlink(entry);
            self.stats.expired += 1;
            return None;
        }
        Some((FlowId(entry as u32), dir))
    }

    /// Whether a packet with `tcp_flags` that found flow `id` in direction `dir` opens a new
    /// connection on the tuple of a closed one instead of continuing it: a SYN without ACK from
    /// the client of a TCP flow that was reset or closed by FINs both ways. Linux conntrack
    /// then deletes the old entry and looks the packet up again, so the new connection is
    /// load-balanced and checked against policy like any other first packet (SEMANTICS.md §7);
    /// the caller removes the flow ([`Conntrack::remove`]) and treats the packet as new.
    #[inline(always)]
    pub fn reopens(&self, id: FlowId, dir: Direction, tcp_flags: u8) -> bool {
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        // Most packets carry neither a SYN nor (SCTP) an INIT: one test for them.
        if tcp_flags & (SYN | sctp::chunks::INIT) == 0 {
            return false;
        }
        let closed = |protocol: u8| {
            dir == Direction::Original
                && self.get(id).is_some_and(|f| {
                    f.key.protocol == protocol && matches!(f.state, State::Closed | State::FinBoth)
                })
        };
        (tcp_flags & (SYN | ACK) == SYN && closed(ip_protocol::TCP))
            || (tcp_flags & sctp::chunks::INIT != 0 && closed(ip_protocol::SCTP))
    }

    /// Loads the index slot a key with hash `hash` starts probing at (a burst's first stage:
    /// the lookup that follows finds it in cache). Changes nothing.
    #[inline]
    pub(crate) fn warm_slot(&self, hash: u64) {
        if let Some(slot) = self.index.get(hash as u32 as usize & self.mask) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// After [`Conntrack::warm_slot`]: false when the home slot of `hash` is empty (a key with
    /// this hash is not tracked); otherwise true, and when the slot holds this hash, the flow
    /// entry it names is loaded. Changes nothing.
    #[inline]
    pub(crate) fn warm_entry(&self, hash: u64) -> bool {
        let h = hash as u32;
        let Some(slot) = self.index.get(h as usize & self.mask) else {
            return false;
        };
        if slot.tag == 0 {
            return false;
        }
        if slot.hash == h {
            let entry = (slot.tag as usize - 1) / 2;
            if let Some(flow) = self.flows.get(entry) {
                crate::prefetch::prefetch(flow);
            }
        }
        true
    }

    /// Looks up `key` like [`Conntrack::lookup`] without changing anything: a flow found
    /// expired at `now` is reported as `None` but left in place (for tracing).
    pub fn peek(&self, key: &FlowKey, now: u32) -> Option<(FlowId, Direction)> {
        let (entry, dir) = self.find(key, self.hash(key) as u32)?;
        let flow = self.flows.get(entry)?;
        if self.expired(flow, now) {
            return None;
        }
        Some((FlowId(entry as u32), dir))
    }

    /// Records a packet of flow `id` going `dir` at `now`, with its TCP flags (for SCTP, its
    /// [`chunk_bits`](crate::wire::sctp::chunk_bits); 0 for other protocols): refreshes the
    /// flow and advances its state. Returns the new state, or `None` when `id` is no longer
    /// tracked.
    #[inline(always)]
    pub fn touch(&mut self, id: FlowId, dir: Direction, tcp_flags: u8, now: u32) -> Option<State> {
        const FIN: u8 = 0x01;
        const SYN: u8 = 0x02;
        const RST: u8 = 0x04;
        const ACK: u8 = 0x10;
        let i = id.0 as usize;
        if !*self.live.get(i)? {
            return None;
        }
        let flow = self.flows.get_mut(i)?;
        flow.last_seen = flow.last_seen.max(now);
        let reply = dir == Direction::Reply;
        let state = if flow.key.protocol == ip_protocol::TCP {
            if flow.state == State::Established && tcp_flags & (FIN | SYN | RST) == 0 {
                // The common case: a segment of an open connection.
                return Some(State::Established);
            }
            match flow.state {
                _ if tcp_flags & RST != 0 => State::Closed,
                // A SYN from the client after a close: the flow starts over (port reuse). The
                // dataplane removes such a flow first (`reopens`), so that the new connection is
                // balanced afresh; this is for callers that drive the table themselves.
                State::Closed | State::FinBoth if !reply && tcp_flags & SYN != 0 => State::New,
                State::New if reply && tcp_flags & SYN != 0 => State::Replied,
                State::New if reply => State::Established,
                // A FIN before the handshake (SYN+FIN, or a bare FIN from the client) changes
                // nothing: it must not buy the hour-long close-wait timeout.
                State::Replied | State::Established if tcp_flags & FIN != 0 => {
                    if reply {
                        State::FinWaitBackend
                    } else {
                        State::FinWaitClient
                    }
                }
                // The other side's FIN closes both ways; its ACK (without a FIN) answers the
                // FIN: the half-closed connection gets the close-wait timeout. Packets from the
                // side that sent the FIN (a retransmitted FIN, ACKs of data it still receives)
                // change nothing.
                State::FinWaitClient | State::FinFromClient if reply && tcp_flags & FIN != 0 => {
                    State::FinBoth
                }
                State::FinWaitBackend | State::FinFromBackend if !reply && tcp_flags & FIN != 0 => {
                    State::FinBoth
                }
                State::FinWaitClient if reply && tcp_flags & ACK != 0 => State::FinFromClient,
                State::FinWaitBackend if !reply && tcp_flags & ACK != 0 => State::FinFromBackend,
                // The client's ACK of the SYN-ACK (not a retransmitted SYN).
                State::Replied if !reply && tcp_flags & (SYN | ACK) == ACK => State::Established,
                s => s,
            }
        } else if flow.key.protocol == ip_protocol::UDP {
            // The kernel keeps the unreplied timeout for the first reply and moves to the
            // stream timeout with the packet after it.
            match flow.state {
                State::New if reply => State::Replied,
                State::New => State::New,
                _ => State::Established,
            }
        } else if flow.key.protocol == ip_protocol::SCTP {
            sctp_next(flow.state, reply, tcp_flags)
        } else if reply {
            State::Established
        } else {
            flow.state
        };
        flow.state = state;
        Some(state)
    }

    /// Inserts `flow` (its `last_seen` is its creation time). When the table is full, evicts a
    /// flow first: an expired one if the clock hand finds one within [`EVICTION_WINDOW`]
    /// entries, else the least recently seen of those that are not settled
    /// ([`State::is_settled`]), else the least recently seen of those.
    pub fn insert(&mut self, flow: Flow) -> Result<FlowId, Error> {
        let hash = self.hash(&flow.key);
        self.insert_hashed(flow, hash)
    }

    /// [`Conntrack::insert`] with the hash of `flow.key` ([`Conntrack::hash`]) already
    /// computed, e.g. by the lookup that missed.
    pub fn insert_hashed(&mut self, flow: Flow, hash: u64) -> Result<FlowId, Error> {
        if self.tracked_at(&flow.key, hash as u32, flow.last_seen) {
            // Checked before the SNAT address, as the reply key's check below is.
            if self.reply_key(&flow).is_some() {
                return Err(Error::Exists);
            }
        }
        self.insert_missing(flow, hash)
    }

    /// [`Conntrack::insert_hashed`] for a flow whose original key the caller has just looked up
    /// and not found (the packet path's new flows): only the reply key is checked.
    #[inline]
    pub(crate) fn insert_missing(&mut self, flow: Flow, hash: u64) -> Result<FlowId, Error> {
        let reply = self.reply_key(&flow).ok_or(Error::UnknownSnatAddr)?;
        let (h_orig, h_reply) = (hash as u32, self.hash(&reply) as u32);
        if self.tracked_at(&reply, h_reply, flow.last_seen) {
            return Err(Error::Exists);
        }
        if self.free.is_empty() {
            self.evict(flow.last_seen);
        }
        let Some(entry) = self.free.pop() else {
            // Unreachable: evict() frees one entry of a full table. Reported, not panicked.
            return Err(Error::Capacity);
        };
        let e = entry as usize;
        self.flows[e] = flow;
        self.live[e] = true;
        self.link(h_orig, entry * 2 + 1);
        self.link(h_reply, entry * 2 + 2);
        if let Some(n) = self.snat_refs_of(flow.snat) {
            *n += 1;
        }
        self.len += 1;
        self.stats.created += 1;
        Ok(FlowId(entry))
    }

    /// Whether `key` (hash `h`) belongs to a flow that has not expired at `now`. A flow that
    /// has expired but was not swept yet is removed here (and counted as expired), so that an
    /// expired flow never blocks a new one, as it does not match a lookup either.
    fn tracked_at(&mut self, key: &FlowKey, h: u32, now: u32) -> bool {
        let Some((entry, _)) = self.find(key, h) else {
            return false;
        };
        match self.flows.get(entry) {
            Some(f) if self.expired(f, now) => {
                self.unlink(entry);
                self.stats.expired += 1;
                false
            }
            _ => true,
        }
    }

    /// Removes flow `id`; returns it, or `None` when it was not tracked.
    pub fn remove(&mut self, id: FlowId) -> Option<Flow> {
        let i = id.0 as usize;
        if !*self.live.get(i)? {
            return None;
        }
        let flow = self.flows[i];
        self.unlink(i);
        self.stats.removed += 1;
        Some(flow)
    }

    /// Removes up to `max` flows that have expired at `now`, examining at most `4 * max`
    /// entries from where the last sweep stopped. Returns how many were removed. Call it
    /// regularly (say every second with `max` = capacity / 100) to keep the table clean.
    pub fn expire(&mut self, now: u32, max: usize) -> usize {
        let cap = self.flows.len();
        let mut removed = 0;
        for _ in 0..max.saturating_mul(4).min(cap) {
            let i = self.hand;
            self.hand = if i + 1 == cap { 0 } else { i + 1 };
            if self.live[i] && self.expired(&self.flows[i], now) {
                self.unlink(i);
                self.stats.expired += 1;
                removed += 1;
                if removed == max {
                    break;
                }
            }
        }
        removed
    }

    /// Removes every flow `keep` returns false for (e.g. UDP flows whose backend left the
    /// Service, SEMANTICS.md §7); returns how many. O(capacity): a control-path operation.
    pub fn retain(&mut self, mut keep: impl FnMut(&Flow) -> bool) -> usize {
        let mut removed = 0;
        for i in 0..self.flows.len() {
            if self.live[i] && !keep(&self.flows[i]) {
                self.unlink(i);
                self.stats.removed += 1;
                removed += 1;
            }
        }
        removed
    }

    /// Iterates over the tracked flows (for debugging and tests).
    pub fn iter(&self) -> impl Iterator<Item = (FlowId, &Flow)> + '_ {
        self.flows
            .iter()
            .zip(&self.live)
            .enumerate()
            .filter(|(_, (_, live))| **live)
            .map(|(i, (f, _))| (FlowId(i as u32), f))
    }

    #[inline(always)]
    fn expired(&self, flow: &Flow, now: u32) -> bool {
        let timeout = self.timeouts.of(flow.key.protocol, flow.state);
        // Both instants are rounded down to whole seconds: expiring only once more than the
        // timeout has passed in whole seconds keeps a flow at least its timeout (and less than
        // one second more), never less.
        now.saturating_sub(flow.last_seen) > timeout
    }

    fn evict(&mut self, now: u32) {
        let cap = self.flows.len();
        // The least recently seen flow of the window, and of its flows that are not settled.
        let (mut victim, mut unsettled): (Option<usize>, Option<usize>) = (None, None);
        for _ in 0..EVICTION_WINDOW.min(cap) {
            let i = self.hand;
            self.hand = if i + 1 == cap { 0 } else { i + 1 };
            if !self.live[i] {
                continue;
            }
            if self.expired(&self.flows[i], now) {
                self.unlink(i);
                self.stats.expired += 1;
                return;
            }
            let older = |v: Option<usize>, flows: &[Flow]| {
                v.map_or(true, |v| flows[i].last_seen < flows[v].last_seen)
            };
            if !self.flows[i].state.is_settled() && older(unsettled, &self.flows) {
                unsettled = Some(i);
            }
            if older(victim, &self.flows) {
                victim = Some(i);
            }
        }
        if let Some(v) = unsettled.or(victim) {
            self.unlink(v);
            self.stats.evicted += 1;
        }
    }

    /// The entry and direction `key` (with index hash `h`) is linked under.
    #[inline(always)]
    fn find(&self, key: &FlowKey, h: u32) -> Option<(usize, Direction)> {
        let mut pos = h as usize & self.mask;
        // Bounded by the index size, so even a corrupted index cannot hang the packet path.
        for _ in 0..=self.mask {
            let slot = self.index[pos];
            if slot.tag == 0 {
                return None;
            }
            if slot.hash == h {
                let t = slot.tag as usize - 1;
                let (entry, reply) = (t / 2, t % 2 == 1);
                if let Some(k) = self.key_of(entry, reply) {
                    if same_key(&k, key) {
                        let dir = if reply {
                            Direction::Reply
                        } else {
                            Direction::Original
                        };
                        return Some((entry, dir));
                    }
                }
            }
            pos = (pos + 1) & self.mask;
        }
        None
    }

    #[inline(always)]
    fn key_of(&self, entry: usize, reply: bool) -> Option<FlowKey> {
        let flow = self.flows.get(entry)?;
        if reply {
            self.reply_key(flow)
        } else {
            Some(flow.key)
        }
    }

    fn link(&mut self, h: u32, tag: u32) {
        let mut pos = h as usize & self.mask;
        // The index is at most half full, so an empty slot exists within one lap.
        for _ in 0..=self.mask {
            if self.index[pos].tag == 0 {
                self.index[pos] = Slot { hash: h, tag };
                return;
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// Removes entry `e` from the index (both keys) and frees it. An entry that is not live
    /// is left alone: freeing it twice would corrupt the free list.
    fn unlink(&mut self, e: usize) {
        if !self.live.get(e).copied().unwrap_or(false) {
            return;
        }
        for reply in [false, true] {
            let tag = (e * 2 + 1 + usize::from(reply)) as u32;
            let Some(key) = self.key_of(e, reply) else {
                continue;
            };
            let h = self.hash(&key) as u32;
            let mut pos = h as usize & self.mask;
            for _ in 0..=self.mask {
                let t = self.index[pos].tag;
                if t == tag {
                    self.delete_slot(pos);
                    break;
                }
                if t == 0 {
                    break;
                }
                pos = (pos + 1) & self.mask;
            }
        }
        self.live[e] = false;
        if let Some(n) = self.snat_refs_of(self.flows[e].snat) {
            *n = n.saturating_sub(1);
        }
        self.free.push(e as u32);
        self.len -= 1;
    }

    /// Backward-shift deletion for linear probing: no tombstones.
    fn delete_slot(&mut self, mut hole: usize) {
        let mask = self.mask;
        let mut pos = (hole + 1) & mask;
        for _ in 0..mask {
            if self.index[pos].tag == 0 {
                break;
            }
            let home = self.index[pos].hash as usize & mask;
            // Move the slot back into the hole unless its home lies cyclically in (hole, pos].
            let dist_pos = pos.wrapping_sub(home) & mask;
            let dist_hole = hole.wrapping_sub(home) & mask;
            if dist_hole < dist_pos {
                self.index[hole] = self.index[pos];
                hole = pos;
            }
            pos = (pos + 1) & mask;
        }
        self.index[hole] = Slot::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn v4(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, d))
    }

    fn key(i: u32) -> FlowKey {
        FlowKey::new(
            if i % 3 == 0 { 17 } else { 6 },
            IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i)),
            1024 + (i % 50_000) as u16,
            IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10)),
            80,
        )
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn an_entry_is_at_most_64_bytes() {
        assert!(core::mem::size_of::<Flow>() <= 64);
    }

    #[test]
    fn both_directions_find_the_same_flow_with_and_without_snat() {
        let mut ct = Conntrack::new(16, 7, Timeouts::default()).unwrap();
        let node = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
        ct.set_snat_addrs(&[v4(1), node]).unwrap();
        let k = FlowKey::new(6, v4(2), 40000, v4(100), 80);
        let id = ct.insert(Flow::new(k, v4(20), 8080, 5)).unwrap();
        assert_eq!(ct.lookup(&k, 6), Some((id, Direction::Original)));
        let reply = FlowKey::new(6, v4(20), 8080, v4(2), 40000);
        assert_eq!(ct.lookup(&reply, 6), Some((id, Direction::Reply)));
        // Masqueraded: replies come back to the node address and the SNAT port.
        let k2 = FlowKey::new(6, v4(3), 40000, v4(100), 80);
        let id2 = ct
            .insert(Flow::new(k2, v4(20), 8080, 5).with_snat(0, 61000))
            .unwrap();
        let reply2 = FlowKey::new(6, v4(20), 8080, v4(1), 61000);
        assert_eq!(ct.lookup(&reply2, 6), Some((id2, Direction::Reply)));
        assert_eq!(ct.reply_key(ct.get(id2).unwrap()), Some(reply2));
        // Not the unmasqueraded reply.
        assert_eq!(
            ct.lookup(&FlowKey::new(6, v4(20), 8080, v4(3), 40000), 6),
            None
        );
        // SNAT index out of range, duplicates.
        let k3 = FlowKey::new(6, v4(4), 1, v4(100), 80);
        assert_eq!(
            ct.insert(Flow::new(k3, v4(20), 8080, 5).with_snat(2, 1)),
            Err(Error::UnknownSnatAddr)
        );
        assert_eq!(ct.insert(Flow::new(k, v4(21), 8080, 5)), Err(Error::Exists));
        assert_eq!(ct.len(), 2);
        assert_eq!(ct.remove(id).map(|f| f.key), Some(k));
        assert_eq!(ct.lookup(&k, 6), None);
        assert_eq!(ct.lookup(&reply, 6), None);
        assert_eq!(ct.lookup(&reply2, 6), Some((id2, Direction::Reply)));
    }

    /// Random inserts, lookups, touches, removals and sweeps with the clock moving, against a
    /// BTreeMap model; a small table so that probe chains collide and deletions shift.
    #[test]
    fn agrees_with_a_reference_model() {
        let mut rng = Rng(11);
        let t = Timeouts::default();
        for round in 0..20 {
            let cap = 32;
            let mut ct = Conntrack::new(cap, rng.next(), t).unwrap();
            // original key -> (flow, reply key)
            let mut model: BTreeMap<FlowKey, Flow> = BTreeMap::new();
            let mut now = 1000u32;
            for step in 0..5_000 {
                let i = rng.below(64) as u32;
                let k = key(i);
                let expired = |f: &Flow, now: u32| {
                    now.saturating_sub(f.last_seen) > t.of(f.key.protocol, f.state)
                };
                match rng.below(10) {
                    0..=2 if model.len() < cap => {
                        if model.get(&k).is_some_and(|f| expired(f, now)) {
                            // As the worker does: the lookup finds it expired and removes it.
                            assert_eq!(ct.lookup(&k, now), None, "round {round} step {step}");
                            model.remove(&k);
                        }
                        let f = Flow::new(k, v4((i % 7) as u8 + 20), 8080, now);
                        let r = ct.insert(f);
                        if let alloc::collections::btree_map::Entry::Vacant(e) = model.entry(k) {
                            assert!(r.is_ok(), "round {round} step {step}");
                            e.insert(f);
                        } else {
                            assert_eq!(r, Err(Error::Exists), "round {round} step {step}");
                        }
                    }
                    3..=5 => {
                        let got = ct.lookup(&k, now).map(|(id, _)| *ct.get(id).unwrap());
                        let want = model.get(&k).copied().filter(|f| !expired(f, now));
                        assert_eq!(got, want, "round {round} step {step}");
                        if want.is_none() {
                            model.remove(&k);
                        }
                    }
                    6 => {
                        let live = model.get(&k).is_some_and(|f| !expired(f, now));
                        let found = ct.lookup(&k, now);
                        assert_eq!(found.is_some(), live, "round {round} step {step}");
                        if let Some((id, dir)) = found {
                            let s = ct.touch(id, dir, 0x10, now).unwrap();
                            let f = model.get_mut(&k).unwrap();
                            f.last_seen = now;
                            f.state = s;
                        } else {
                            model.remove(&k);
                        }
                    }
                    7 => {
                        let live = model.get(&k).is_some_and(|f| !expired(f, now));
                        let found = ct.lookup(&k, now);
                        assert_eq!(found.is_some(), live, "round {round} step {step}");
                        if let Some((id, _)) = found {
                            assert!(ct.remove(id).is_some());
                        }
                        model.remove(&k);
                    }
                    8 => now += rng.below(40) as u32,
                    _ => {
                        ct.expire(now, cap);
                        model.retain(|_, f| !expired(f, now));
                        assert_eq!(ct.len(), model.len(), "round {round} step {step}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_seen_and_counts_it() {
        let mut ct = Conntrack::new(64, 3, Timeouts::default()).unwrap();
        for i in 0..1_000u32 {
            let k = key(i);
            // TCP flows seen at increasing times never expire within this test.
            ct.insert(Flow::new(k, v4(20), 8080, 100 + i)).unwrap();
            assert!(ct.len() <= 64);
            // The flow just inserted is there.
            assert!(ct.lookup(&k, 100 + i).is_some());
        }
        let s = ct.stats();
        assert_eq!(ct.len(), 64);
        assert_eq!(s.created, 1_000);
        assert_eq!(s.evicted + s.expired, 1_000 - 64);
        // Which flow each eviction takes: the next test.
    }

    /// A full table (all flows settled, none expired) evicts the least recently seen flow of
    /// the clock hand's window, whichever slot it is in.
    #[test]
    fn eviction_takes_the_least_recently_seen_flow_of_the_window() {
        const { assert!(8 <= EVICTION_WINDOW) };
        for oldest in 0..8u32 {
            let mut ct = Conntrack::new(8, 5, Timeouts::default()).unwrap();
            let ids: Vec<FlowId> = (0..8u32)
                .map(|i| {
                    ct.insert(Flow::new(key(i * 3 + 1), v4(20), 80, 10))
                        .unwrap()
                })
                .collect();
            for (i, id) in (0..8u32).zip(&ids) {
                if i != oldest {
                    ct.touch(*id, Direction::Original, 0x10, 20 + (i * 5) % 8);
                }
            }
            ct.insert(Flow::new(key(100), v4(20), 80, 30)).unwrap();
            assert_eq!((ct.stats().evicted, ct.stats().expired), (1, 0));
            for i in 0..8u32 {
                let gone = ct.lookup(&key(i * 3 + 1), 30).is_none();
                assert_eq!(gone, i == oldest, "oldest {oldest}, flow {i}");
            }
        }
    }

    /// A flood of half-open flows (spoofed SYNs) does not push out established connections:
    /// a full table evicts unsettled flows first (Linux's `early_drop` takes only unassured
    /// ones). A table of nothing but established flows still admits a new one.
    #[test]
    fn a_full_table_evicts_half_open_flows_before_established_ones() {
        const SYN: u8 = 0x02;
        const SYN_ACK: u8 = 0x12;
        const ACK: u8 = 0x10;
        let mut ct = Conntrack::new(64, 42, Timeouts::default()).unwrap();
        // Eight established connections, idle for the whole flood.
        let established: Vec<FlowKey> = (0..8u32).map(|i| key(i * 3 + 1)).collect();
        for k in &established {
            let id = ct.insert(Flow::new(*k, v4(20), 8080, 0)).unwrap();
            ct.touch(id, Direction::Original, SYN, 0);
            ct.touch(id, Direction::Reply, SYN_ACK, 0);
            ct.touch(id, Direction::Original, ACK, 0);
            assert_eq!(ct.get(id).unwrap().state, State::Established);
        }
        // 50 spoofed SYNs a second for 100 s (SYN_SENT lasts 120 s: none expires).
        for t in 1..=100u32 {
            for j in 0..50 {
                let id = ct
                    .insert(Flow::new(key(1_000 + t * 100 + j), v4(20), 8080, t))
                    .unwrap();
                ct.touch(id, Direction::Original, SYN, t);
            }
        }
        assert_eq!(ct.len(), 64);
        for k in &established {
            assert!(ct.lookup(k, 100).is_some(), "{k:?} evicted");
        }
        // All settled: the least recently seen is evicted, the new flow admitted.
        let mut full = Conntrack::new(8, 1, Timeouts::default()).unwrap();
        for i in 0..9u32 {
            let id = full
                .insert(Flow::new(key(i * 3 + 1), v4(20), 80, i))
                .unwrap();
            full.touch(id, Direction::Reply, SYN_ACK, i);
            full.touch(id, Direction::Original, ACK, i);
        }
        assert_eq!(full.stats().evicted, 1);
        assert!(full.lookup(&key(1), 9).is_none());
        assert!(full.lookup(&key(25), 9).is_some());
    }

    #[test]
    fn a_full_table_prefers_expired_flows() {
        let mut ct = Conntrack::new(8, 3, Timeouts::default()).unwrap();
        for i in 0..8u32 {
            // UDP (i % 3 == 0) and TCP; UDP expires after 30 s unreplied.
            ct.insert(Flow::new(key(i), v4(20), 53, 0)).unwrap();
        }
        let udp = (0..8u32).filter(|i| i % 3 == 0).count() as u64;
        for j in 0..udp as u32 {
            ct.insert(Flow::new(key(100 + j * 3 + 1), v4(20), 53, 31))
                .unwrap();
        }
        assert_eq!(ct.stats().expired, udp);
        assert_eq!(ct.stats().evicted, 0);
        // All TCP flows survived.
        for i in (0..8u32).filter(|i| i % 3 != 0) {
            assert!(ct.lookup(&key(i), 31).is_some());
        }
    }

    #[test]
    fn tcp_states_pick_kube_proxys_timeouts() {
        let t = Timeouts::default();
        let mut ct = Conntrack::new(4, 1, t).unwrap();
        let k = FlowKey::new(6, v4(2), 40000, v4(100), 80);
        let id = ct.insert(Flow::new(k, v4(20), 8080, 0)).unwrap();
        let (o, r) = (Direction::Original, Direction::Reply);
        assert_eq!(ct.get(id).unwrap().state, State::New);
        assert!(ct.lookup(&k, 119).is_some());
        // The SYN-ACK: SYN_RECV, 60 s, until the client's ACK (a retransmitted SYN is not it).
        assert_eq!(ct.touch(id, r, 0x12, 119), Some(State::Replied));
        assert_eq!(ct.touch(id, o, 0x02, 119), Some(State::Replied));
        assert!(ct.lookup(&k, 119 + 59).is_some());
        assert_eq!(ct.touch(id, o, 0x10, 119), Some(State::Established));
        assert!(ct.lookup(&k, 119 + 86_399).is_some());
        // The client's FIN: FIN_WAIT (120 s) until the backend answers.
        assert_eq!(ct.touch(id, o, 0x11, 200_000), Some(State::FinWaitClient));
        // A FIN or an ACK from the same side again changes nothing.
        assert_eq!(ct.touch(id, o, 0x11, 200_000), Some(State::FinWaitClient));
        assert_eq!(ct.touch(id, o, 0x10, 200_000), Some(State::FinWaitClient));
        assert!(ct.lookup(&k, 200_000 + 119).is_some());
        // The backend's ACK: half-closed, kube-proxy's close-wait hour.
        assert_eq!(ct.touch(id, r, 0x10, 200_100), Some(State::FinFromClient));
        assert_eq!(ct.touch(id, o, 0x10, 200_100), Some(State::FinFromClient));
        assert!(ct.lookup(&k, 200_100 + 3_599).is_some());
        assert_eq!(ct.touch(id, r, 0x11, 203_000), Some(State::FinBoth));
        assert!(ct.lookup(&k, 203_119 + 1).is_some());
        assert!(ct.lookup(&k, 203_120 + 1).is_none(), "time-wait is 120 s");
        assert_eq!(ct.stats().expired, 1);

        let id = ct.insert(Flow::new(k, v4(20), 8080, 0)).unwrap();
        assert!(
            ct.lookup(&k, 120 + 1).is_none(),
            "an unanswered SYN lasts 120 s"
        );
        assert!(
            ct.get(id).is_none(),
            "the expired SYN-only flow was removed"
        );
        assert_eq!(ct.stats().expired, 2);
        let id2 = ct.insert(Flow::new(k, v4(20), 8080, 0)).unwrap();
        assert_eq!(ct.touch(id2, r, 0x04, 5), Some(State::Closed));
        assert!(ct.lookup(&k, 14 + 1).is_some());
        assert!(ct.lookup(&k, 15 + 1).is_none(), "10 s after a RST");

        // A FIN nobody answers (the peer is gone): the entry lasts 120 s, not the hour.
        let g = FlowKey::new(6, v4(5), 40000, v4(100), 80);
        let id = ct.insert(Flow::new(g, v4(20), 8080, 0)).unwrap();
        assert_eq!(ct.touch(id, r, 0x12, 0), Some(State::Replied));
        assert_eq!(ct.touch(id, o, 0x10, 0), Some(State::Established));
        assert_eq!(ct.touch(id, r, 0x11, 10), Some(State::FinWaitBackend));
        assert!(ct.lookup(&g, 10 + 119 + 1).is_some());
        assert!(ct.lookup(&g, 10 + 120 + 1).is_none(), "FIN_WAIT is 120 s");
        // A FIN answered by the other side's FIN at once (FIN|ACK both ways): time-wait.
        let id = ct.insert(Flow::new(g, v4(20), 8080, 0)).unwrap();
        assert_eq!(ct.touch(id, r, 0x12, 0), Some(State::Replied));
        assert_eq!(ct.touch(id, o, 0x10, 0), Some(State::Established));
        assert_eq!(ct.touch(id, r, 0x11, 1), Some(State::FinWaitBackend));
        assert_eq!(ct.touch(id, o, 0x11, 1), Some(State::FinBoth));
        assert!(ct.lookup(&g, 1 + 119 + 1).is_some());
        assert!(ct.lookup(&g, 1 + 120 + 1).is_none(), "time-wait is 120 s");

        // SYN+FIN, or a FIN before the handshake, keeps the SYN timeout (120 s).
        let f = FlowKey::new(6, v4(4), 40000, v4(100), 80);
        let id = ct.insert(Flow::new(f, v4(20), 8080, 0)).unwrap();
        assert_eq!(ct.touch(id, o, 0x03, 0), Some(State::New));
        assert_eq!(ct.touch(id, o, 0x01, 0), Some(State::New));
        assert!(ct.lookup(&f, 120 + 1).is_none(), "not close-wait");

        // A SYN-ACK that the client never acknowledges (a spoofed SYN): gone after 60 s.
        let s = FlowKey::new(6, v4(3), 40000, v4(100), 80);
        let id = ct.insert(Flow::new(s, v4(20), 8080, 0)).unwrap();
        assert_eq!(ct.touch(id, r, 0x12, 1), Some(State::Replied));
        assert!(ct.lookup(&s, 60 + 1).is_some());
        assert!(ct.lookup(&s, 61 + 1).is_none(), "SYN_RECV is 60 s");

        // UDP: 30 s unreplied and after a single reply (a DNS query and its answer), 120 s
        // once a packet follows the reply.
        let u = FlowKey::new(17, v4(2), 5000, v4(100), 53);
        let id = ct.insert(Flow::new(u, v4(20), 53, 0)).unwrap();
        assert_eq!(ct.touch(id, o, 0, 10), Some(State::New));
        assert_eq!(ct.touch(id, r, 0, 29), Some(State::Replied));
        assert!(ct.lookup(&u, 29 + 29 + 1).is_some());
        assert!(ct.lookup(&u, 29 + 30 + 1).is_none(), "one reply: 30 s");
        let id = ct.insert(Flow::new(u, v4(20), 53, 0)).unwrap();
        assert_eq!(ct.touch(id, r, 0, 1), Some(State::Replied));
        assert_eq!(ct.touch(id, o, 0, 2), Some(State::Established));
        assert!(ct.lookup(&u, 2 + 119 + 1).is_some());
        assert!(ct.lookup(&u, 2 + 120 + 1).is_none(), "stream: 120 s");
    }

    /// SCTP: an association closed by ABORT or by the SHUTDOWN exchange frees its entry after
    /// 10 s (or 3 s while shutting down) instead of 210 s, and the client's next INIT on the
    /// same ports is a new association (`reopens`), as the kernel's tracker does.
    #[test]
    fn sctp_closes_pick_the_kernels_timeouts() {
        use crate::wire::sctp::chunks::{ABORT, INIT, INIT_ACK, SHUTDOWN};
        use crate::wire::sctp::chunks::{SHUTDOWN_ACK, SHUTDOWN_COMPLETE};
        let mut ct = Conntrack::new(8, 1, Timeouts::default()).unwrap();
        let (o, r) = (Direction::Original, Direction::Reply);
        let k = FlowKey::new(132, v4(2), 5000, v4(100), 3868);
        let id = ct.insert(Flow::new(k, v4(20), 3868, 0)).unwrap();
        assert_eq!(ct.touch(id, o, INIT, 0), Some(State::New));
        assert!(
            !ct.reopens(id, o, INIT),
            "an open association's INIT is not a new one"
        );
        assert_eq!(ct.touch(id, r, INIT_ACK, 0), Some(State::Established));
        assert_eq!(ct.touch(id, o, 0, 1), Some(State::Established));
        assert!(ct.lookup(&k, 1 + 209).is_some(), "established: 210 s");
        // Graceful close: SHUTDOWN (3 s), SHUTDOWN ACK (3 s), SHUTDOWN COMPLETE (10 s).
        assert_eq!(ct.touch(id, o, SHUTDOWN, 100), Some(State::FinWaitClient));
        assert_eq!(ct.touch(id, o, 0, 100), Some(State::FinWaitClient));
        assert!(ct.lookup(&k, 100 + 2).is_some());
        assert_eq!(ct.touch(id, r, SHUTDOWN_ACK, 101), Some(State::FinBoth));
        assert!(
            ct.reopens(id, o, INIT),
            "after the SHUTDOWN ACK, an INIT is a new association"
        );
        assert!(!ct.reopens(id, r, INIT), "only from the client");
        assert!(ct.lookup(&k, 101 + 2 + 1).is_some());
        assert!(ct.lookup(&k, 101 + 3 + 1).is_none(), "shutting down: 3 s");
        let id = ct.insert(Flow::new(k, v4(20), 3868, 200)).unwrap();
        assert_eq!(ct.touch(id, r, INIT_ACK, 200), Some(State::Established));
        assert_eq!(ct.touch(id, r, SHUTDOWN, 201), Some(State::FinWaitBackend));
        assert_eq!(ct.touch(id, o, SHUTDOWN_ACK, 201), Some(State::FinBoth));
        assert_eq!(ct.touch(id, r, SHUTDOWN_COMPLETE, 202), Some(State::Closed));
        assert!(ct.lookup(&k, 202 + 9 + 1).is_some());
        assert!(ct.lookup(&k, 202 + 10 + 1).is_none(), "closed: 10 s");
        // ABORT from either side, whatever the state (bundled after DATA: bits combine).
        let id = ct.insert(Flow::new(k, v4(20), 3868, 300)).unwrap();
        assert_eq!(ct.touch(id, r, 0, 300), Some(State::Established));
        assert_eq!(ct.touch(id, r, ABORT, 301), Some(State::Closed));
        assert!(ct.reopens(id, o, INIT));
        assert!(
            !ct.reopens(id, o, 0),
            "only an INIT opens a new association"
        );
        // A closed flow that sees the client's INIT (a caller driving the table itself) starts
        // over.
        assert_eq!(ct.touch(id, o, INIT, 302), Some(State::New));
        assert!(ct.lookup(&k, 302 + 29 + 1).is_some());
        assert!(ct.lookup(&k, 302 + 30 + 1).is_none(), "unreplied: 30 s");
        // TCP's flags never reopen an SCTP flow, nor SCTP's a TCP one.
        let id = ct.insert(Flow::new(k, v4(20), 3868, 400)).unwrap();
        assert_eq!(ct.touch(id, o, ABORT | INIT, 400), Some(State::Closed));
        assert!(!ct.reopens(id, o, 0x02), "a TCP SYN's bits on an SCTP flow");
    }

    #[test]
    fn sweeps_and_retain_remove_what_they_should() {
        let mut ct = Conntrack::new(100, 9, Timeouts::default()).unwrap();
        for i in 0..90u32 {
            ct.insert(Flow::new(key(i), v4((i % 5) as u8 + 20), 53, 0))
                .unwrap();
        }
        let udp = (0..90u32).filter(|i| i % 3 == 0).count();
        // At 31 s the unreplied UDP flows are expired; a bounded sweep removes at most `max`.
        assert_eq!(ct.expire(31, 5), 5);
        let mut total = 5;
        while total < udp {
            let n = ct.expire(31, 7);
            assert!(n > 0);
            total += n;
        }
        assert_eq!(ct.len(), 90 - udp);
        assert_eq!(ct.stats().expired as usize, udp);
        // Flows to backend 10.0.0.20 leave (UDP cleanup, SEMANTICS §7, done with retain).
        let gone = ip_key(v4(20));
        let n = ct.retain(|f| f.backend != gone);
        assert!(n > 0);
        assert!(ct.iter().all(|(_, f)| f.backend != gone));
        assert_eq!(ct.len(), 90 - udp - n);
    }

    /// Changing a masquerade address under a tracked SNATed flow would orphan its reply key in
    /// the index (its removal could not find it): refused while a flow uses it, adding is
    /// fine, an address no flow uses can be replaced, and an empty table takes any list.
    #[test]
    fn snat_addresses_in_use_cannot_change() {
        let mut ct = Conntrack::new(16, 7, Timeouts::default()).unwrap();
        ct.set_snat_addrs(&[v4(1)]).unwrap();
        let k = FlowKey::new(6, v4(3), 40000, v4(100), 80);
        let id = ct
            .insert(Flow::new(k, v4(20), 8080, 5).with_snat(0, 1234))
            .unwrap();
        assert_eq!(ct.set_snat_addrs(&[v4(9)]), Err(Error::SnatAddrsInUse));
        assert_eq!(ct.set_snat_addrs(&[]), Err(Error::SnatAddrsInUse));
        let reply = FlowKey::new(6, v4(20), 8080, v4(1), 1234);
        assert_eq!(ct.lookup(&reply, 6), Some((id, Direction::Reply)));
        ct.set_snat_addrs(&[v4(1), v4(2)]).unwrap();
        assert_eq!(ct.lookup(&reply, 6), Some((id, Direction::Reply)));
        // Index 1 has no flow: replaceable, and removable; index 0 stays.
        assert!(ct.snat_in_use(0) && !ct.snat_in_use(1));
        ct.set_snat_addrs(&[v4(1), v4(5)]).unwrap();
        ct.set_snat_addrs(&[v4(1)]).unwrap();
        assert_eq!(
            ct.set_snat_addrs(&[v4(2), v4(1)]),
            Err(Error::SnatAddrsInUse)
        );
        assert_eq!(ct.lookup(&reply, 6), Some((id, Direction::Reply)));
        ct.remove(id);
        assert!(!ct.snat_in_use(0));
        assert_eq!(ct.lookup(&reply, 6), None);
        ct.set_snat_addrs(&[v4(9)]).unwrap();
    }

    #[test]
    fn bad_configuration_is_an_error() {
        assert_eq!(
            Conntrack::new(0, 0, Timeouts::default()).err(),
            Some(Error::Capacity)
        );
        let zero_udp = Timeouts {
            udp_unreplied: 0,
            ..Timeouts::default()
        };
        let e = Conntrack::new(4, 0, zero_udp).err();
        assert_eq!(e, Some(Error::ZeroTimeout("udp_unreplied")));
        assert_eq!(
            e.unwrap().to_string(),
            "timeouts.udp_unreplied is 0: it must be at least 1 second"
        );
        let zero_other = Timeouts {
            other: 0,
            ..Timeouts::default()
        };
        assert_eq!(zero_other.validate(), Err(Error::ZeroTimeout("other")));
        let mut ct = Conntrack::new(1, 0, Timeouts::default()).unwrap();
        assert_eq!(ct.set_snat_addrs(&[v4(1); 9]), Err(Error::TooManySnatAddrs));
        assert_eq!(ct.remove(FlowId(5)), None);
        assert_eq!(ct.touch(FlowId(0), Direction::Original, 0, 0), None);
    }
}
