//! Weighted Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software
//! Network Load Balancer", NSDI 2016, §3.4).
//!
//! A [`Maglev`] table maps a flow hash to a backend in O(1) (`(hash * M) >> 64`), spreads slots over
//! backends in proportion to their weights, and when one backend leaves, moves few slots that did
//! not belong to it. Every node of a cluster builds the identical table from the same backend
//! set and seed (DESIGN.md, invariants 3 and 6), so the construction below is specified exactly
//! enough to be reimplemented from this comment alone.
//!
//! # The construction
//!
//! **Input.** A seed `seed: u64` (cluster-wide configuration, the same on every node) and a
//! non-empty list of at most [`MAX_BACKENDS`] [`Backend`]s `B[0..n]`, each a 16-byte key (the
//! endpoint address as IPv6, IPv4 as IPv4-mapped `::ffff:a.b.c.d`, see [`ip_key`]) and a `u32`
//! weight, in *canonical order*: keys strictly ascending as byte strings ([`sort_canonical`]).
//! Table entries are indices into this list, so the table depends only on the set of backends,
//! never on the order a caller learned about them. Backends with weight 0 keep their index but
//! take no slot. Let `A` be the *active* backends (weight > 0), in canonical order.
//!
//! **Table size `M`.** A prime. By default the smallest entry of [`TABLE_SIZES`] that is
//! `>= 100 * |A|`, or the largest entry ([`MAX_TABLE_SIZE`] = 131071) if none is
//! ([`default_table_size`]). A caller may choose `M` per call ([`Maglev::build_with_size`]): any
//! prime `p` with `|A| <= p <= MAX_TABLE_SIZE` (every entry of `TABLE_SIZES` qualifies when it is
//! at least `|A|`).
//!
//! **Permutation.** For backend `b` with key `k` (all arithmetic on unsigned integers):
//!
//! ```text
//! h1     = xxh64(seed, k)                       // XXH64 of the 16 key bytes, crate::hash::xxh64
//! h2     = xxh64(seed ^ 0x9E37_79B9_7F4A_7C15, k)   // SKIP_SEED_XOR
//! offset = h1 % M
//! skip   = h2 % (M - 1) + 1                     // 1 ..= M-1, so coprime with the prime M
//! permutation[j] = (offset + j * skip) % M      // j = 0, 1, ..., M-1: every slot exactly once
//! ```
//!
//! **Population (weighted, stride scheduling).** All `M` slots start empty. Active backend `a`
//! with weight `w` takes its turns `t = 0, 1, 2, ...` at virtual times `t / w`. Turns are taken
//! in ascending order of virtual time; equal times are broken by ascending canonical index
//! (compare `t1 * w2` with `t2 * w1` exactly; no floating point). At each turn the backend
//! walks its own permutation from where its previous turn stopped (from `j = 0` on its first
//! turn) to the first slot that is still empty, and takes it. Population stops as soon as all
//! `M` slots are taken.
//!
//! With equal weights this is exactly the paper's Pseudocode 1: round-robin turns over the
//! active backends in canonical order, so every active backend gets `⌊M/|A|⌋` or `⌈M/|A|⌉`
//! slots. With unequal weights a backend's share of turns, hence of slots, is proportional to
//! its weight (the paper's "adjust the relative frequency of the backends' turns", §3.4): with
//! `W` the total weight, backend `a` gets `M * w_a / W` slots, plus at most 1, minus at most
//! `|A| * w_a / W` (a shortfall of at most `|A| / M` of its share: 1% at the default size while
//! it is at least 100 x |A|, that is up to 1,310 active backends; beyond, M stays 131,071), and
//! never fewer than one (every active backend has a turn at time 0 and `M >= |A|`).
//!
//! **Lookup.** `table[(hash * M) >> 64]` (the 128-bit product of the 64-bit hash and `M`, its
//! high half: the hash scaled into `0..M`), the canonical index of the chosen backend. The caller
//! computes `hash` (for flows, [`crate::hash::flow_hash`] with the same cluster-wide seed). The
//! paper takes `hash % M`; the two are equally uniform over a well-mixed 64-bit hash (every slot
//! gets `⌊2^64 / M⌋` or `⌈2^64 / M⌉` of the hash values), and the scaling is one multiplication
//! where the remainder is a 64-bit division, ~15 cycles on the new-flow path's dependent chain
//! (flow hash, slot, backend). Implementations that must agree with svcplane on a flow's backend
//! use this scaling.
//!
//! The tests `golden_table_*` pin tables down (their first entries, slot counts and an XXH64 of
//! the whole table), with values produced by `tools/maglev_reference.py`, an independent Python
//! implementation of the rules above; `matches_reference_implementation` and
//! `speculative_cycles_match_reference` check the optimised builder against a direct
//! transcription of them.
//!
//! # Cost
//!
//! Building walks each backend's permutation to its next empty slot: O(M log M) probes in
//! expectation, cut to O(M log √M) by an endgame that, once only about √(M/2) slots are empty,
//! finds each turn's slot by arithmetic over the empty slots (same result; exact floating-point
//! arithmetic, four lanes, vectorised). While more than M/16 slots are empty and the turn cycle
//! has runs of distinct backends (4 or more turns on average: at least 4 equal-weight
//! backends), each turn makes the first steps of its backend's next walk right away,
//! branch-free, and the walks that need more are advanced together, also branch-free, so that
//! turns rarely end on a mispredicted branch (same result again; see
//! `Filler::speculative_cycle`); while a quarter of the slots or more is empty, those cycles
//! read occupancy from the table itself, so that a turn's check and its write touch one cache
//! line (see `Slots`). Unequal weights add a sort of at most M turns (or O(M log |A|)
//! heap steps for large, coprime weights). The populate loop allocates nothing and divides
//! nothing per probe; memory during the build is the table itself (M entries of 2 bytes,
//! written once per slot), an occupancy byte per slot (what the probes read: half the
//! footprint of the table; a [`MaglevBuilder`] keeps it from one build to the next), a few
//! words per backend and up to 8 bytes per turn of the replayed cycle. A single active backend
//! takes every slot, so its table is filled directly, without population. At `M = 65537` with
//! 1,000 equal-weight backends a build takes 0.40–0.75 ms on the 2-core development machine,
//! depending on how busy its host is (criterion means of 0.535–0.615 ms in three runs of the
//! latest session, 0.458 ms median over six runs on a fast day; 3.0–3.5 times faster than
//! Katran's build transcribed, and 1.0–1.4 times the build's loads and stores alone, measured
//! in the same runs); with 10 backends 0.43–0.74 ms. That is several hundred times faster
//! than the `maglev` crate at 1,000 backends (figures in `BENCHMARKS.md`).
//! Nothing here panics: every bad input is a [`MaglevError`].

use alloc::boxed::Box;
use alloc::collections::BinaryHeap;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;
use core::net::IpAddr;

use crate::hash::xxh64_16;

/// The table sizes chosen by default: the smallest entry `>= 100 ×` (active backends), capped at
/// the last one. All are prime. 65537 is also Katran's default size.
pub const TABLE_SIZES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65537, 131_071,
];

/// The largest table size accepted (the last entry of [`TABLE_SIZES`]): 256 KiB of `u16`s.
pub const MAX_TABLE_SIZE: u32 = 131_071;

/// The most backends a table can index: entries are `u16` and `u16::MAX` is reserved.
pub const MAX_BACKENDS: usize = 65_535;

/// XOR-ed into the seed to derive the second (skip) hash of a backend key.
pub const SKIP_SEED_XOR: u64 = 0x9E37_79B9_7F4A_7C15;

/// Marks an empty slot during population; never a valid backend index.
const EMPTY: u16 = u16::MAX;

/// A backend: a 16-byte key and a weight.
///
/// The key is the endpoint address as an IPv6 address, IPv4 as IPv4-mapped (`::ffff:a.b.c.d`);
/// [`Backend::from_ip`] builds it. Weight 0 means the backend is never chosen. The derived order
/// (key, then weight) is the canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// The 16-byte key: the address as IPv6, IPv4 as IPv4-mapped.
    pub key: [u8; 16],
    /// Relative weight; 0 = never chosen.
    pub weight: u32,
}

impl Backend {
    /// A backend with a raw 16-byte key.
    pub const fn new(key: [u8; 16], weight: u32) -> Self {
        Backend { key, weight }
    }

    /// A backend for an IP address (IPv4 is stored IPv4-mapped, see [`ip_key`]).
    pub const fn from_ip(ip: IpAddr, weight: u32) -> Self {
        Backend {
            key: ip_key(ip),
            weight,
        }
    }
}

/// The 16-byte backend key of an address: IPv6 as is, IPv4 as IPv4-mapped `::ffff:a.b.c.d`.
#[inline]
pub const fn ip_key(ip: IpAddr) -> [u8; 16] {
    match ip {
        // `::ffff:a.b.c.d` as one 128-bit value (the same bytes as
        // `v4.to_ipv6_mapped().octets()`, which the compiler builds byte by byte).
        IpAddr::V4(v4) => (0xffff_u128 << 32 | v4.to_bits() as u128).to_be_bytes(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Sorts backends into canonical order (ascending key, then weight), as [`Maglev::build`]
/// requires. Duplicate keys stay; the build reports them as [`MaglevError::DuplicateKey`].
pub fn sort_canonical(backends: &mut [Backend]) {
    backends.sort_unstable();
}

/// Why a table could not be built. Nothing is built when any of these is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaglevError {
    /// The backend list is empty.
    NoBackends,
    /// More than [`MAX_BACKENDS`] backends.
    TooManyBackends {
        /// How many were given.
        count: usize,
    },
    /// `backends[index]` sorts before `backends[index - 1]`: the list is not in canonical order
    /// (see [`sort_canonical`]).
    NotCanonical {
        /// Position of the first out-of-order backend.
        index: usize,
    },
    /// `backends[index]` has the same key as `backends[index - 1]`.
    DuplicateKey {
        /// Position of the second of the two.
        index: usize,
    },
    /// The requested table size is not a prime in `2..=MAX_TABLE_SIZE`.
    InvalidSize {
        /// The size requested.
        size: u32,
    },
    /// The requested table size is smaller than the number of backends with weight > 0, so some
    /// of them would get no slot.
    SizeTooSmall {
        /// The size requested.
        size: u32,
        /// Backends with weight > 0.
        active: usize,
    },
    /// An internal consistency check failed (a bug in svcplane, never expected).
    Internal,
}

impl fmt::Display for MaglevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MaglevError::NoBackends => f.write_str("maglev: no backends"),
            MaglevError::TooManyBackends { count } => write!(
                f,
                "maglev: {count} backends, at most {MAX_BACKENDS} are supported"
            ),
            MaglevError::NotCanonical { index } => write!(
                f,
                "maglev: backends not in canonical order (ascending key) at index {index}"
            ),
            MaglevError::DuplicateKey { index } => {
                write!(f, "maglev: duplicate backend key at index {index}")
            }
            MaglevError::InvalidSize { size } => write!(
                f,
                "maglev: table size {size} is not a prime in 2..={MAX_TABLE_SIZE}"
            ),
            MaglevError::SizeTooSmall { size, active } => write!(
                f,
                "maglev: table size {size} is smaller than the {active} backends with weight > 0"
            ),
            MaglevError::Internal => f.write_str("maglev: internal error"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for MaglevError {}

/// The default table size for `active` backends with weight > 0: the smallest entry of
/// [`TABLE_SIZES`] that is `>= 100 * active`, or [`MAX_TABLE_SIZE`] if there is none.
pub fn default_table_size(active: usize) -> u32 {
    let want = active.saturating_mul(100);
    TABLE_SIZES
        .iter()
        .copied()
        .find(|&m| m as usize >= want)
        .unwrap_or(MAX_TABLE_SIZE)
}

/// Whether `n` is prime (trial division; `n` is small here).
fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n % 2 == 0 || n % 3 == 0 {
        return false;
    }
    let n = u64::from(n);
    let mut d: u64 = 5;
    while d * d <= n {
        if n % d == 0 || n % (d + 2) == 0 {
            return false;
        }
        d += 6;
    }
    true
}

/// Checks a requested table size for `active` backends with weight > 0: a prime in
/// `2..=MAX_TABLE_SIZE` and at least `active`.
pub fn validate_table_size(size: u32, active: usize) -> Result<(), MaglevError> {
    if size > MAX_TABLE_SIZE || !is_prime(size) {
        return Err(MaglevError::InvalidSize { size });
    }
    if (size as usize) < active {
        return Err(MaglevError::SizeTooSmall { size, active });
    }
    Ok(())
}

/// The permutation of backend `key` in a table of prime size `m`: `(offset, skip)`, with
/// `offset = xxh64(seed, key) % m` and `skip = xxh64(seed ^ SKIP_SEED_XOR, key) % (m - 1) + 1`.
/// The backend's preference list is `(offset + j * skip) % m` for `j = 0, 1, ..., m - 1`.
///
/// Returns `None` if `m < 2`.
pub fn permutation(seed: u64, key: &[u8; 16], m: u32) -> Option<(u32, u32)> {
    let m = u64::from(m);
    let offset = xxh64_16(seed, key).checked_rem(m)?;
    let skip = xxh64_16(seed ^ SKIP_SEED_XOR, key).checked_rem(m.checked_sub(1)?)? + 1;
    Some((offset as u32, skip as u32))
}

/// Checks canonical order and the backend count; returns the number of active backends.
fn validate_backends(backends: &[Backend]) -> Result<usize, MaglevError> {
    if backends.is_empty() {
        return Err(MaglevError::NoBackends);
    }
    if backends.len() > MAX_BACKENDS {
        return Err(MaglevError::TooManyBackends {
            count: backends.len(),
        });
    }
    for (i, pair) in backends.windows(2).enumerate() {
        if let [a, b] = pair {
            match a.key.cmp(&b.key) {
                Ordering::Less => {}
                Ordering::Equal => return Err(MaglevError::DuplicateKey { index: i + 1 }),
                Ordering::Greater => return Err(MaglevError::NotCanonical { index: i + 1 }),
            }
        }
    }
    Ok(backends.iter().filter(|b| b.weight > 0).count())
}

/// The slot of `hash` in a table of `m` slots: `(hash * m) >> 64`, in `0..m` for any `m > 0`
/// (and 0 for `m == 0`, which no lookup indexes with).
#[inline(always)]
fn scale(hash: u64, m: usize) -> usize {
    ((u128::from(hash) * m as u128) >> 64) as usize
}

/// A weighted Maglev lookup table: `M` slots (a prime), each the canonical index of a backend.
///
/// Built on the control path by [`Maglev::build`]; [`Maglev::lookup`] is O(1), allocation-free
/// and panic-free, for the packet path. See the [module documentation](self) for the exact
/// construction.
#[derive(Clone, PartialEq, Eq)]
pub struct Maglev {
    table: Box<[u16]>,
    seed: u64,
    backends: usize,
}

impl fmt::Debug for Maglev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Maglev")
            .field("size", &self.table.len())
            .field("seed", &self.seed)
            .field("backends", &self.backends)
            .finish_non_exhaustive()
    }
}

impl Maglev {
    /// Builds the table for `backends` (canonical order, see [`sort_canonical`]) with the
    /// cluster-wide `seed`, at the default size ([`default_table_size`] of the number of
    /// backends with weight > 0).
    ///
    /// If no backend has weight > 0 the table is empty and [`lookup`](Self::lookup) returns
    /// `None`.
    pub fn build(backends: &[Backend], seed: u64) -> Result<Self, MaglevError> {
        MaglevBuilder::new().build(backends, seed)
    }

    /// Builds the table with an explicit prime size `size`: any prime from [`TABLE_SIZES`] or
    /// otherwise, at least the number of backends with weight > 0 and at most
    /// [`MAX_TABLE_SIZE`] (checked by [`validate_table_size`]).
    pub fn build_with_size(
        backends: &[Backend],
        seed: u64,
        size: u32,
    ) -> Result<Self, MaglevError> {
        MaglevBuilder::new().build_with_size(backends, seed, size)
    }

    /// The backend (canonical index into the list the table was built from) for a flow hash:
    /// `table[(hash * M) >> 64]` (see the module docs). `None` when no backend has weight > 0.
    #[inline]
    pub fn lookup(&self, hash: u64) -> Option<u16> {
        self.table.get(scale(hash, self.table.len())).copied()
    }

    /// Starts loading the table slot of `hash` (a burst's early stage).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.table.get(scale(hash, self.table.len())) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// The slot a flow hash falls in (`(hash * M) >> 64`), for explaining a choice; `None` when
    /// the table is empty.
    #[inline]
    pub fn slot(&self, hash: u64) -> Option<u32> {
        let m = self.table.len();
        (m > 0).then(|| scale(hash, m) as u32)
    }

    /// The table size `M` (a prime), or 0 when no backend has weight > 0 (nothing is allocated).
    pub fn size(&self) -> u32 {
        self.table.len() as u32
    }

    /// The whole table: `table()[s]` is the canonical index of the backend owning slot `s`.
    pub fn table(&self) -> &[u16] {
        &self.table
    }

    /// The seed the table was built with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The number of backends (including those with weight 0) the table indexes into.
    pub fn backend_count(&self) -> usize {
        self.backends
    }

    /// How many slots each backend owns, by canonical index.
    pub fn slot_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.backends];
        for &b in self.table.iter() {
            if let Some(c) = counts.get_mut(usize::from(b)) {
                *c += 1;
            }
        }
        counts
    }
}

/// Builds [`Maglev`] tables, keeping its working memory from one build to the next.
///
/// A build needs, besides the table it returns, an occupancy map of one byte per slot (64 KiB
/// at `M = 65537`, up to 128 KiB at [`MAX_TABLE_SIZE`]). [`Maglev::build`] allocates it and
/// frees it each time; a builder keeps it, so that a build allocates only its table. That can
/// matter more than the allocation itself: depending on the state of the heap, when a program
/// builds and drops tables in a loop, the C library's allocator (glibc) returns the freed top
/// of the heap to the kernel after each build and the next build page-faults on it again.
/// Measured at `M = 65537` with 1,000 backends, when that happens: about 33 page faults per
/// build and 12–16% of its time, gone with a reused builder (`BENCHMARKS.md`). The catalog
/// builds every table of a compile with one builder.
///
/// The tables are exactly those of [`Maglev::build`] and [`Maglev::build_with_size`]. A builder
/// holds at most [`MAX_TABLE_SIZE`] bytes between builds; it is `Send` and `Sync`, and one build
/// runs at a time (`&mut self`). Its working memory is not state: a clone starts without it (so
/// cloning a [`Catalog`](crate::catalog::Catalog) copies no scratch buffer).
#[derive(Debug, Default)]
pub struct MaglevBuilder {
    /// The occupancy map of the last build, reused (cleared) by the next.
    bytes: Vec<u8>,
}

impl Clone for MaglevBuilder {
    fn clone(&self) -> Self {
        MaglevBuilder::new()
    }
}

impl MaglevBuilder {
    /// A builder with no working memory yet (the first build allocates it).
    pub const fn new() -> Self {
        MaglevBuilder { bytes: Vec::new() }
    }

    /// [`Maglev::build`], reusing this builder's working memory.
    pub fn build(&mut self, backends: &[Backend], seed: u64) -> Result<Maglev, MaglevError> {
        let active = validate_backends(backends)?;
        self.populate(backends, seed, default_table_size(active), active)
    }

    /// [`Maglev::build_with_size`], reusing this builder's working memory.
    pub fn build_with_size(
        &mut self,
        backends: &[Backend],
        seed: u64,
        size: u32,
    ) -> Result<Maglev, MaglevError> {
        let active = validate_backends(backends)?;
        validate_table_size(size, active)?;
        self.populate(backends, seed, size, active)
    }

    fn populate(
        &mut self,
        backends: &[Backend],
        seed: u64,
        m: u32,
        active: usize,
    ) -> Result<Maglev, MaglevError> {
        let table = if active == 0 {
            Box::default()
        } else {
            let bytes = core::mem::take(&mut self.bytes);
            let (table, bytes) = populate(backends, seed, m, active, bytes)?;
            self.bytes = bytes;
            table
        };
        Ok(Maglev {
            table,
            seed,
            backends: backends.len(),
        })
    }
}

/// One turn of the weighted schedule in the heap: active backend `a` (weight `w`) takes its
/// `t`-th turn at virtual time `t / w`. Ordered so that the max-heap pops the earliest time,
/// then the lowest index.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Turn {
    t: u64,
    w: u64,
    a: u32,
}

impl Ord for Turn {
    fn cmp(&self, other: &Self) -> Ordering {
        // self is "greater" (popped first) when t_s / w_s < t_o / w_o, i.e. t_s * w_o < t_o * w_s.
        // t <= 131071 and w < 2^32, so the products fit in u64.
        (other.t * self.w)
            .cmp(&(self.t * other.w))
            .then_with(|| other.a.cmp(&self.a))
    }
}

impl PartialOrd for Turn {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where an active backend is in its permutation.
#[derive(Clone, Copy)]
struct Perm {
    /// The next slot of its permutation to examine.
    cursor: u32,
    /// Its skip.
    skip: u32,
    /// Its canonical index (the value written into the table).
    id: u16,
}

#[inline(always)]
fn add_mod(a: u32, b: u32, m: u32) -> u32 {
    // a, b < m <= 2^17: no overflow. Branch-free: the sign of s - m (as i32) picks the result.
    let s = a + b;
    let t = s.wrapping_sub(m) as i32;
    if t < 0 {
        s
    } else {
        t as u32
    }
}

/// The table being filled, `m` slots, and beside it one byte per slot, nonzero once the slot is
/// taken: probes read the bytes (64 KiB at `M = 65537`, against 128 KiB for the table: more of
/// it stays in L1; measured -4%), the table is only written.
///
/// Except early on: while at least a quarter of the slots is empty, the speculative cycles read
/// occupancy from the table itself (an entry is [`EMPTY`] until taken) and write only the table,
/// so that the slot a turn checks and the entry it writes share one cache line: one line fewer
/// per turn where most turns take their cursor's slot at once (measured 5–8% off the whole
/// build at N = 100 and 1,000; `BENCHMARKS.md`). The occupancy bytes are then derived from the
/// table in one sequential pass ([`Slots::sync_bytes`]). The const parameter `TABLE` of the
/// functions below says which of the two a loop reads: `true`, the table; `false`, the bytes.
///
/// Accesses are unchecked (`is_taken`, `take`, `taken` and `put`, the only ones in the probe
/// loops): removing the bounds check, or the mask of a power-of-two working array that
/// replaced it before, cut the instructions of a build by 15% and its time by about 10%
/// (`BENCHMARKS.md`). Every slot index is below `m`, the length of the table and of the
/// bytes, by construction: a cursor starts at an offset `h1 % m`, every step is [`add_mod`] of
/// two values below `m` (skips are in `1..m`), and the endgame's empty slots come from a scan
/// of the occupancy bytes.
struct Slots {
    table: Box<[u16]>,
    bytes: Vec<u8>,
}

impl Slots {
    /// `m` empty slots; the occupancy map reuses `bytes`' allocation.
    fn new(m: u32, mut bytes: Vec<u8>) -> Self {
        bytes.clear();
        // Exactly `m` (no amortised doubling): a builder keeps at most MAX_TABLE_SIZE bytes.
        bytes.reserve_exact(m as usize);
        bytes.resize(m as usize, 0);
        Slots {
            table: vec![EMPTY; m as usize].into_boxed_slice(),
            bytes,
        }
    }

    /// Whether slot `s` is taken.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn is_taken(&self, s: u32) -> bool {
        debug_assert!((s as usize) < self.bytes.len());
        // SAFETY: `s < m`, the length of `bytes` (see the type's comment).
        unsafe { *self.bytes.get_unchecked(s as usize) != 0 }
    }

    /// Gives empty slot `s` to backend `id`.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn take(&mut self, s: u32, id: u16) {
        debug_assert!((s as usize) < self.table.len() && (s as usize) < self.bytes.len());
        // SAFETY: `s < m`, the length of `table` and `bytes` (see the type's comment).
        unsafe {
            *self.table.get_unchecked_mut(s as usize) = id;
            *self.bytes.get_unchecked_mut(s as usize) = 1;
        }
    }

    /// Whether slot `s` is taken, read from the table if `TABLE`, else from the bytes.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn taken<const TABLE: bool>(&self, s: u32) -> bool {
        if TABLE {
            debug_assert!((s as usize) < self.table.len());
            // SAFETY: `s < m`, the length of `table` (see the type's comment).
            unsafe { *self.table.get_unchecked(s as usize) != EMPTY }
        } else {
            self.is_taken(s)
        }
    }

    /// Gives empty slot `s` to backend `id`; if `TABLE`, in the table only (the bytes are then
    /// stale until [`Slots::sync_bytes`]).
    #[inline(always)]
    #[allow(unsafe_code)]
    fn put<const TABLE: bool>(&mut self, s: u32, id: u16) {
        if TABLE {
            debug_assert!((s as usize) < self.table.len());
            // SAFETY: `s < m`, the length of `table` (see the type's comment).
            unsafe { *self.table.get_unchecked_mut(s as usize) = id }
        } else {
            self.take(s, id);
        }
    }

    /// Sets every occupancy byte from the table (after turns that wrote only the table).
    fn sync_bytes(&mut self) {
        for (b, &t) in self.bytes.iter_mut().zip(self.table.iter()) {
            *b = u8::from(t != EMPTY);
        }
    }
}

/// Population state. Active backends are numbered `0..active` in canonical order.
struct Filler {
    slots: Slots,
    m: u32,
    /// Empty slots left.
    remaining: u32,
    /// Per active backend, in canonical order.
    perm: Vec<Perm>,
    /// Endgame: once `endgame_at` slots are left, the empty slots are listed here and each turn
    /// finds its slot by arithmetic instead of by probing (same result, see `turn_endgame`).
    empties: Vec<f64>,
    /// The empty slots are `empties[..live]`; the rest, up to a multiple of 4, is NaN padding
    /// (never chosen by the argmin).
    live: usize,
    in_endgame: bool,
    /// Per active backend: `skip^-1 mod m`, computed on first use in the endgame (0 = not yet).
    inverse: Vec<u32>,
    endgame_at: u32,
    /// Turns since the last [`Slots::sync_bytes`] wrote only the table (see [`Slots`]).
    bytes_stale: bool,
}

/// While more than `m / TABLE_DIV` slots are empty, speculative cycles read and write the table
/// only (see [`Slots`]). Only speed depends on this, never the table: 4 measured 8% faster than
/// not at all at N = 1,000, and 2, 3, 6, 8 and 16 no better than 4.
const TABLE_DIV: u32 = 4;

/// Speculative cycles (see `Filler::speculative_cycle`) run while more than `m / this` slots
/// are empty. Only speed depends on this, never the table. 16 since the seventh session of
/// 2026-12-03: 3–8% faster than 8 at N = 10, 100 and 1,000 in an A/B driver on the host of
/// that day (earlier sessions found 8 and 16 within noise; `BENCHMARKS.md`).
const SPECULATE_UNTIL_DIV: u32 = 16;

/// Walk steps made right after each turn in `speculative_segment`.
const TURN_WIDTH: usize = 3;

/// While more than `m / EARLY_DIV` slots are empty, a speculative turn makes only
/// EARLY_WIDTH steps (the first usually finds an empty slot). Only speed depends on these.
const EARLY_WIDTH: usize = 1;
const EARLY_DIV: u32 = 2;

/// Walk steps per pending backend and pass in `speculative_segment`.
const PASS_WIDTH: usize = 4;

/// Speculative cycles are used only when the cycle's segments are this long on average: the
/// pending passes of a shorter segment cost more than the branch misses they save. Measured
/// (M = 65537, builds alternated in one process): with 1, 2 or 3 equal-weight backends
/// speculation is 24–46% slower (the plain walks' branches are predictable with so few
/// backends), with 4, 5, 10 and 30 it is 11%, 15%, 30% and 38% faster.
const SPECULATE_MIN_SEGMENT: usize = 4;

/// Splits a cycle of turns into segments in which no backend has two turns, greedily from the
/// start: returns each segment's end index. `active` bounds the backend indices.
fn segment_ends(cycle: &[u32], active: usize) -> Result<Vec<u32>, MaglevError> {
    // seen[a] = 1 + the index of the segment in which `a` last had a turn (0 = none yet).
    let mut seen = vec![0u32; active];
    let mut ends = Vec::new();
    let mut current = 1u32;
    for (i, &a) in cycle.iter().enumerate() {
        let s = seen.get_mut(a as usize).ok_or(MaglevError::Internal)?;
        if *s == current {
            ends.push(u32::try_from(i).map_err(|_| MaglevError::Internal)?);
            current += 1;
        }
        *s = current;
    }
    ends.push(u32::try_from(cycle.len()).map_err(|_| MaglevError::Internal)?);
    Ok(ends)
}

/// `k as f64` for the positions `k` of the endgame's list of empty slots (at most 256: see
/// `endgame_threshold`).
const POSITIONS: [f64; 256] = {
    let mut p = [0.0; 256];
    let mut k = 0;
    while k < 256 {
        p[k] = k as f64;
        k += 1;
    }
    p
};

/// Removes `empties[k]` (`k < live`) from the endgame's list, keeping the NaN padding to a
/// multiple of 4; returns it.
fn remove_empty(empties: &mut Vec<f64>, live: &mut usize, k: usize) -> Result<f64, MaglevError> {
    if k >= *live {
        return Err(MaglevError::Internal);
    }
    let last = *live - 1;
    let (Some(&e), Some(&moved)) = (empties.get(k), empties.get(last)) else {
        return Err(MaglevError::Internal);
    };
    if let Some(x) = empties.get_mut(k) {
        *x = moved;
    }
    if let Some(x) = empties.get_mut(last) {
        *x = f64::NAN;
    }
    *live = last;
    empties.truncate(last.div_ceil(4) * 4);
    Ok(e)
}

/// Number of empty slots at which population switches from probing to the endgame. Probing for
/// one of `k` empty slots costs about `m / k` probes; the endgame costs `k` multiply-mods per
/// turn. Only speed depends on this, never the table.
fn endgame_threshold(m: u32) -> u32 {
    // About sqrt(m / 2), at least 1.
    let target = u64::from(m) / 2;
    let mut r: u64 = 1;
    while (r + 1) * (r + 1) <= target {
        r += 1;
    }
    r as u32
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Modular inverse of `a` modulo the prime `m` (extended Euclid); `a` in `1..m`.
fn mod_inverse(a: u32, m: u32) -> u32 {
    let (mut old_r, mut r) = (i64::from(a), i64::from(m));
    let (mut old_s, mut s) = (1i64, 0i64);
    while r != 0 {
        let q = old_r / r;
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
    }
    old_s.rem_euclid(i64::from(m)) as u32
}

/// Backend `p` takes the first empty slot of its permutation from its cursor on.
#[inline(always)]
fn probe(p: &mut Perm, slots: &mut Slots, m: u32) -> Result<(), MaglevError> {
    let s = if slots.is_taken(p.cursor) {
        walk_inline::<false>(p, slots, m)?
    } else {
        p.cursor
    };
    slots.take(s, p.id);
    p.cursor = add_mod(s, p.skip, m);
    Ok(())
}

/// [`walk_inline`], out of line.
#[inline(never)]
fn walk<const TABLE: bool>(p: &Perm, slots: &Slots, m: u32) -> Result<u32, MaglevError> {
    walk_inline::<TABLE>(p, slots, m)
}

/// The first empty slot of `p`'s permutation after its cursor (whose slot is taken).
#[inline(always)]
fn walk_inline<const TABLE: bool>(p: &Perm, slots: &Slots, m: u32) -> Result<u32, MaglevError> {
    // Walk the permutation four entries at a time: the four positions come from the same base,
    // so the add-mod chain is one step per four probes. There is an empty slot and the
    // permutation visits every slot, so this ends within m / 4 + 1 rounds; the budget only
    // guards against a broken invariant.
    let free = |s: u32| !slots.taken::<TABLE>(s);
    let k1 = p.skip;
    let k2 = add_mod(k1, k1, m);
    let k3 = add_mod(k2, k1, m);
    let k4 = add_mod(k3, k1, m);
    let mut b = p.cursor;
    let mut budget = m / 4 + 2;
    loop {
        let s1 = add_mod(b, k1, m);
        let s2 = add_mod(b, k2, m);
        let s3 = add_mod(b, k3, m);
        let s4 = add_mod(b, k4, m);
        let (f1, f2, f3, f4) = (free(s1), free(s2), free(s3), free(s4));
        if f1 | f2 | f3 | f4 {
            return Ok(if f1 {
                s1
            } else if f2 {
                s2
            } else if f3 {
                s3
            } else {
                s4
            });
        }
        b = s4;
        budget -= 1;
        if budget == 0 {
            return Err(MaglevError::Internal);
        }
    }
}

/// The first empty slot among `W` consecutive steps of a permutation, `x`, `x + skip`, ...,
/// `x + (W - 1) * skip` (mod `m`), found branch-free; if all are taken, the last of them.
/// Returns the slot and whether it is taken.
#[inline(always)]
fn advance<const W: usize, const TABLE: bool>(
    slots: &Slots,
    x: u32,
    skip: u32,
    m: u32,
) -> (u32, bool) {
    let mut c = [x; W];
    for k in 1..W {
        c[k] = add_mod(c[k - 1], skip, m);
    }
    let mut x = c[W - 1];
    for &c in c.iter().rev().skip(1) {
        x = if slots.taken::<TABLE>(c) { x } else { c };
    }
    (x, slots.taken::<TABLE>(x))
}

/// The turns of one segment (distinct backends) of [`Filler::speculative_cycle`]: each takes its
/// slot, then the first steps of its next walk are made at once; the backends whose cursor is
/// still on a taken slot are then walked on together until each cursor is at an empty slot.
/// `identity`: the segment is every backend once, in canonical order (`segment[i] == i`).
#[inline(never)]
fn speculative_segment<const W: usize, const TABLE: bool>(
    perm: &mut [Perm],
    slots: &mut Slots,
    m: u32,
    segment: &[u32],
    identity: bool,
    pending: &mut [u32],
) -> Result<(), MaglevError> {
    let mut np = 0usize;
    if identity {
        // All backends in canonical order (equal weights): no indirection.
        for (p, a) in perm.iter_mut().zip(0u32..) {
            speculative_turn::<W, TABLE>(p, a, slots, m, pending, &mut np)?;
        }
    } else {
        for &a in segment {
            let p = perm.get_mut(a as usize).ok_or(MaglevError::Internal)?;
            speculative_turn::<W, TABLE>(p, a, slots, m, pending, &mut np)?;
        }
    }
    // Each pass moves every pending walk at least one step; a walk ends within m steps as some
    // slot is still empty (the caller keeps more slots empty than a cycle has turns).
    let mut passes = m;
    while np > 0 {
        passes = passes.checked_sub(1).ok_or(MaglevError::Internal)?;
        np = pending_pass::<TABLE>(
            perm,
            slots,
            m,
            pending.get_mut(..np).ok_or(MaglevError::Internal)?,
        )?;
    }
    Ok(())
}

/// [`speculative_segment`] at one width.
type SegmentFn =
    fn(&mut [Perm], &mut Slots, u32, &[u32], bool, &mut [u32]) -> Result<(), MaglevError>;

/// One turn of [`speculative_segment`]: backend `a` (`p`) takes its slot, then the next walk's
/// first `W` steps are made, branch-free; if they end on a taken slot, `a` is appended
/// to `pending[..np]`.
#[inline(always)]
fn speculative_turn<const W: usize, const TABLE: bool>(
    p: &mut Perm,
    a: u32,
    slots: &mut Slots,
    m: u32,
    pending: &mut [u32],
    np: &mut usize,
) -> Result<(), MaglevError> {
    let s = if slots.taken::<TABLE>(p.cursor) {
        // Taken since it was found empty: rare, so out of line.
        walk::<TABLE>(p, slots, m)?
    } else {
        p.cursor
    };
    slots.put::<TABLE>(s, p.id);
    let (x, taken) = advance::<W, TABLE>(slots, add_mod(s, p.skip, m), p.skip, m);
    p.cursor = x;
    *pending.get_mut(*np).ok_or(MaglevError::Internal)? = a;
    *np += usize::from(taken);
    Ok(())
}

/// One pass over the pending walks of [`speculative_segment`]: each cursor (on a taken slot)
/// moves up to PASS_WIDTH steps, branch-free, to the first empty slot among them or to the last.
/// Those still on a taken slot are kept at the front of `pending`; returns how many.
#[inline(never)]
fn pending_pass<const TABLE: bool>(
    perm: &mut [Perm],
    slots: &Slots,
    m: u32,
    pending: &mut [u32],
) -> Result<usize, MaglevError> {
    let mut nq = 0usize;
    for i in 0..pending.len() {
        let a = *pending.get(i).ok_or(MaglevError::Internal)?;
        let p = perm.get_mut(a as usize).ok_or(MaglevError::Internal)?;
        let (x, taken) =
            advance::<PASS_WIDTH, TABLE>(slots, add_mod(p.cursor, p.skip, m), p.skip, m);
        p.cursor = x;
        *pending.get_mut(nq).ok_or(MaglevError::Internal)? = a;
        nq += usize::from(taken);
    }
    Ok(nq)
}

impl Filler {
    /// Replays `cycle` (active backend indices, one per turn) until the table is full.
    fn replay(&mut self, cycle: &[u32]) -> Result<(), MaglevError> {
        let len = u32::try_from(cycle.len()).map_err(|_| MaglevError::Internal)?;
        if len == 0 {
            return Err(MaglevError::Internal);
        }
        let m = self.m;
        let clear = self.endgame_at.saturating_add(len);
        // While the table is mostly empty: whole cycles with each turn's first probe done ahead
        // of time (see `speculative_cycle`), if the cycle's segments are long enough to pay.
        let ends = segment_ends(cycle, self.perm.len())?;
        if cycle.len() >= SPECULATE_MIN_SEGMENT * ends.len() {
            let mut pending = vec![0u32; cycle.len()];
            // `cycle` is every backend once, in canonical order (equal weights)? Then it is a
            // single segment.
            let identity =
                cycle.len() == self.perm.len() && cycle.iter().zip(0u32..).all(|(&a, i)| a == i);
            while self.remaining >= clear.max(m / SPECULATE_UNTIL_DIV) {
                self.speculative_cycle(cycle, &ends, identity, &mut pending)?;
            }
        }
        // From here on the occupancy bytes are read.
        self.sync_bytes();
        // Whole cycles, without per-turn bookkeeping, while they stay clear of the endgame.
        while self.remaining >= clear {
            for &a in cycle {
                let p = self.perm.get_mut(a as usize).ok_or(MaglevError::Internal)?;
                probe(p, &mut self.slots, m)?;
            }
            self.remaining -= len;
        }
        // Then turn by turn, continuing the cycle from its start.
        loop {
            for &a in cycle {
                if self.turn(a as usize)? {
                    return Ok(());
                }
            }
        }
    }

    /// One whole cycle of turns, taking the data-dependent branch out of most of them.
    ///
    /// When most slots are empty, a turn's first probe usually succeeds, but whether it does is
    /// a coin toss for the branch predictor, and each miss costs about as much as the turn.
    /// So right after a backend takes its slot, the first steps of its *next* walk are made at
    /// once, branch-free (one step while more than half the slots are empty, three after: see
    /// [`advance`]): its cursor moves to the first empty slot among them. Backends whose steps
    /// all met taken slots go on a pending list, and at the end of each segment (a run of turns
    /// by distinct backends) the pending walks are advanced together, four permutation steps
    /// per pass over the list, branch-free, until each has reached a slot that is empty. A
    /// backend's cursor then points at a slot that was the first empty one of its walk at some
    /// earlier moment; slots only ever fill, so at its next turn that slot is still its answer
    /// if it is still empty (almost always), and otherwise [`walk`] goes on from it. The table
    /// is exactly the one of plain turns.
    fn speculative_cycle(
        &mut self,
        cycle: &[u32],
        ends: &[u32],
        identity: bool,
        pending: &mut [u32],
    ) -> Result<(), MaglevError> {
        let mut start = 0usize;
        for &end in ends {
            let segment = cycle
                .get(start..end as usize)
                .ok_or(MaglevError::Internal)?;
            start = end as usize;
            let table = self.remaining > self.m / TABLE_DIV;
            if table {
                self.bytes_stale = true;
            } else {
                self.sync_bytes();
            }
            let run: SegmentFn = match (self.remaining > self.m / EARLY_DIV, table) {
                (true, true) => speculative_segment::<EARLY_WIDTH, true>,
                (true, false) => speculative_segment::<EARLY_WIDTH, false>,
                (false, true) => speculative_segment::<TURN_WIDTH, true>,
                (false, false) => speculative_segment::<TURN_WIDTH, false>,
            };
            run(
                &mut self.perm,
                &mut self.slots,
                self.m,
                segment,
                identity,
                pending,
            )?;
            let filled = u32::try_from(segment.len()).map_err(|_| MaglevError::Internal)?;
            self.remaining = self
                .remaining
                .checked_sub(filled)
                .ok_or(MaglevError::Internal)?;
        }
        Ok(())
    }

    /// Brings the occupancy bytes up to date if turns wrote only the table.
    fn sync_bytes(&mut self) {
        if self.bytes_stale {
            self.slots.sync_bytes();
            self.bytes_stale = false;
        }
    }

    /// Active backend `a` takes its next slot. Returns `Ok(true)` when the table is full.
    #[inline(always)]
    fn turn(&mut self, a: usize) -> Result<bool, MaglevError> {
        self.sync_bytes();
        if self.remaining > self.endgame_at {
            let p = self.perm.get_mut(a).ok_or(MaglevError::Internal)?;
            probe(p, &mut self.slots, self.m)?;
        } else {
            if !self.in_endgame {
                self.in_endgame = true;
                self.empties.clear();
                // Few slots are empty: skip blocks without one using a branch-free test.
                let bytes = &self.slots.bytes;
                for (c, chunk) in bytes.chunks(64).enumerate() {
                    if chunk.iter().fold(false, |any, &b| any | (b == 0)) {
                        let base = (c * 64) as u32;
                        self.empties.extend(
                            (base..)
                                .zip(chunk)
                                .filter(|&(_, &b)| b == 0)
                                .map(|(i, _)| f64::from(i)),
                        );
                    }
                }
                self.live = self.empties.len();
                while self.empties.len() % 4 != 0 {
                    self.empties.push(f64::NAN);
                }
            }
            self.turn_endgame(a)?;
        }
        self.remaining -= 1;
        Ok(self.remaining == 0)
    }

    /// The same choice as [`probe`], by arithmetic: slot `e` is `d(e) = (e - cursor) *
    /// skip^-1 mod m` steps ahead of the cursor in the backend's permutation, and every slot
    /// before the cursor is taken, so the backend takes the empty slot with the smallest `d`.
    #[cold]
    fn turn_endgame(&mut self, a: usize) -> Result<(), MaglevError> {
        let m = self.m;
        let (Some(p), Some(inv)) = (self.perm.get_mut(a), self.inverse.get_mut(a)) else {
            return Err(MaglevError::Internal);
        };
        let skip = p.skip;
        if *inv == 0 {
            *inv = mod_inverse(skip, m);
        }
        let inv = f64::from(*inv);
        // The cursor's own slot, if empty, is the answer (0 steps ahead); the arithmetic below
        // is for the others.
        let e = if !self.slots.is_taken(p.cursor) {
            let c = f64::from(p.cursor);
            let k = self
                .empties
                .iter()
                .take(self.live)
                .position(|&e| e == c)
                .ok_or(MaglevError::Internal)?;
            remove_empty(&mut self.empties, &mut self.live, k)?;
            p.cursor
        } else {
            // In floating point, exactly (round to nearest, as Rust assumes): for an empty slot
            // e != cursor, x = e + (m - cursor) is in 1..2m and not m, so y = x * inv < 2^35 is
            // an integer that is not a multiple of m, and y / m is at least 1/m >= 2^-17 from
            // every integer. y * (1/m) errs by under 2^-33, so y * (1/m) - 0.5 rounds (by the
            // 1.5 * 2^52 trick) to floor(y / m) = q, and d = y - q * m = (e - cursor) * inv
            // mod m, the number of steps from the cursor to e, in 1..m. The argmin packs d and
            // the position k < 256 into one exact value d * 256 + k.
            const ROUND: f64 = 6_755_399_441_055_744.0;
            let (mf, rm) = (f64::from(m), 1.0 / f64::from(m));
            let back = f64::from(m - p.cursor);
            if self.empties.len() > POSITIONS.len() {
                return Err(MaglevError::Internal);
            }
            // Four independent minima (the padding's NaN never compares less).
            let mut best = [f64::INFINITY; 4];
            for (e, k) in self.empties.chunks_exact(4).zip(POSITIONS.chunks_exact(4)) {
                for j in 0..4 {
                    let y = (e[j] + back) * inv;
                    let q = ((y * rm - 0.5) + ROUND) - ROUND;
                    let v = (y - q * mf) * 256.0 + k[j];
                    best[j] = if v < best[j] { v } else { best[j] };
                }
            }
            let best = best
                .iter()
                .fold(f64::INFINITY, |b, &v| if v < b { v } else { b });
            if best >= 33_554_432.0 {
                return Err(MaglevError::Internal);
            }
            remove_empty(
                &mut self.empties,
                &mut self.live,
                (best as u32 % 256) as usize,
            )? as u32
        };
        if self.slots.is_taken(e) {
            return Err(MaglevError::Internal);
        }
        self.slots.take(e, p.id);
        p.cursor = add_mod(e, skip, m);
        Ok(())
    }
}

/// Fills a table of prime size `m >= active >= 1` (validated by the caller), with `bytes` as
/// the occupancy map's allocation; returns the table and that allocation.
fn populate(
    backends: &[Backend],
    seed: u64,
    m: u32,
    active: usize,
    bytes: Vec<u8>,
) -> Result<(Box<[u16]>, Vec<u8>), MaglevError> {
    if !(2..=MAX_TABLE_SIZE).contains(&m) {
        return Err(MaglevError::Internal);
    }
    let mut perm = Vec::with_capacity(active);
    let mut weight = Vec::with_capacity(active);
    for (i, b) in backends.iter().enumerate() {
        if b.weight == 0 {
            continue;
        }
        let (o, s) = permutation(seed, &b.key, m).ok_or(MaglevError::Internal)?;
        perm.push(Perm {
            cursor: o,
            skip: s,
            id: u16::try_from(i).map_err(|_| MaglevError::Internal)?,
        });
        weight.push(b.weight);
    }
    // One active backend: its permutation visits every slot, so it takes them all. (Populating
    // would take m turns whose cursor chain runs through memory: about 200 µs at m = 65537.)
    if let [only] = perm.as_slice() {
        return Ok((vec![only.id; m as usize].into_boxed_slice(), bytes));
    }
    let endgame_at = endgame_threshold(m);
    let mut f = Filler {
        slots: Slots::new(m, bytes),
        m,
        remaining: m,
        perm,
        empties: Vec::with_capacity(endgame_at as usize + 4),
        live: 0,
        in_endgame: false,
        inverse: vec![0; active],
        endgame_at,
        bytes_stale: false,
    };

    // Dividing every weight by their gcd changes no comparison t1 * w2 <> t2 * w1.
    let g = weight.iter().copied().fold(0, gcd);
    if g > 1 {
        for w in weight.iter_mut() {
            *w /= g;
        }
    }
    let total: u64 = weight.iter().map(|&w| u64::from(w)).sum();
    if total == active as u64 {
        // Equal weights: round-robin in canonical order (the paper's Pseudocode 1).
        let cycle: Vec<u32> = (0..active as u32).collect();
        f.replay(&cycle)?;
    } else if total <= u64::from(m) {
        // The order of turns within [r, r + 1) of virtual time is the same for every r: turns
        // at r + u / w_a for u in 0..w_a, ordered by u / w_a, then index. Sort that pattern once
        // (at most m entries) and replay it.
        let mut pattern: Vec<(u32, u32, u32)> = Vec::with_capacity(total as usize);
        for (a, &w) in weight.iter().enumerate() {
            pattern.extend((0..w).map(|u| (u, w, a as u32)));
        }
        pattern.sort_unstable_by(|&(u1, w1, a1), &(u2, w2, a2)| {
            (u64::from(u1) * u64::from(w2))
                .cmp(&(u64::from(u2) * u64::from(w1)))
                .then(a1.cmp(&a2))
        });
        let cycle: Vec<u32> = pattern.iter().map(|&(_, _, a)| a).collect();
        f.replay(&cycle)?;
    } else {
        // Large, mostly coprime weights: merge the turn sequences with a heap.
        let mut heap: BinaryHeap<Turn> = weight
            .iter()
            .enumerate()
            .map(|(a, &w)| Turn {
                t: 0,
                w: u64::from(w),
                a: a as u32,
            })
            .collect();
        loop {
            let Some(mut top) = heap.peek_mut() else {
                return Err(MaglevError::Internal);
            };
            if f.turn(top.a as usize)? {
                break;
            }
            top.t += 1;
        }
    }
    Ok((f.slots.table, f.slots.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::xxh64;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// SplitMix64: a tiny deterministic generator for test inputs.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn shuffle<T>(&mut self, v: &mut [T]) {
            for i in (1..v.len()).rev() {
                let j = self.below(i as u64 + 1) as usize;
                v.swap(i, j);
            }
        }
    }

    fn v4(s: &str, weight: u32) -> Backend {
        Backend::from_ip(IpAddr::V4(s.parse::<Ipv4Addr>().unwrap()), weight)
    }

    fn v6(s: &str, weight: u32) -> Backend {
        Backend::from_ip(IpAddr::V6(s.parse::<Ipv6Addr>().unwrap()), weight)
    }

    /// `n` distinct pod-like IPv4 backends (10.x.y.z) in canonical order, all weight 1.
    fn pods(n: usize, salt: u64) -> Vec<Backend> {
        let mut rng = Rng(salt);
        let mut v: Vec<Backend> = Vec::with_capacity(n);
        while v.len() < n {
            let ip = Ipv4Addr::from(0x0A00_0000 | (rng.next() as u32 & 0x00FF_FFFF));
            v.push(Backend::from_ip(IpAddr::V4(ip), 1));
            sort_canonical(&mut v);
            v.dedup_by_key(|b| b.key);
        }
        v
    }

    /// A direct transcription of the module documentation: full permutation lists, and the
    /// next turn found by a linear search for the smallest `t / w`, then index.
    fn reference(backends: &[Backend], seed: u64, m: u32) -> Vec<u16> {
        let m64 = u64::from(m);
        let active: Vec<(usize, u64)> = backends
            .iter()
            .enumerate()
            .filter(|(_, b)| b.weight > 0)
            .map(|(i, b)| (i, u64::from(b.weight)))
            .collect();
        let perms: Vec<Vec<u32>> = active
            .iter()
            .map(|&(i, _)| {
                let k = &backends[i].key;
                let offset = xxh64(seed, k) % m64;
                let skip = xxh64(seed ^ SKIP_SEED_XOR, k) % (m64 - 1) + 1;
                (0..m64)
                    .map(|j| ((offset + j * skip) % m64) as u32)
                    .collect()
            })
            .collect();
        let mut next = vec![0usize; active.len()];
        let mut turns = vec![0u64; active.len()];
        let mut entry = vec![None::<u16>; m as usize];
        for _ in 0..m {
            let mut a = 0;
            for b in 1..active.len() {
                if turns[b] * active[a].1 < turns[a] * active[b].1 {
                    a = b;
                }
            }
            turns[a] += 1;
            while entry[perms[a][next[a]] as usize].is_some() {
                next[a] += 1;
            }
            entry[perms[a][next[a]] as usize] = Some(active[a].0 as u16);
            next[a] += 1;
        }
        entry.into_iter().map(Option::unwrap).collect()
    }

    /// `pods(n, salt)` with weights 1, 2, ..., `k`, 1, 2, ... in canonical order.
    fn pods_cycling_weights(n: usize, salt: u64, k: u32) -> Vec<Backend> {
        let mut b = pods(n, salt);
        for (i, x) in b.iter_mut().enumerate() {
            x.weight = 1 + i as u32 % k;
        }
        b
    }

    /// The builder's table for `b` is the plain reference's.
    fn check_against_reference(b: &[Backend], seed: u64, m: u32) {
        let t = Maglev::build_with_size(b, seed, m).unwrap();
        assert_same_table(t.table(), &reference(b, seed, m), b.len(), seed);
    }

    /// Equal tables, or a failure naming the first slot that differs (not two whole tables).
    fn assert_same_table(got: &[u16], want: &[u16], n: usize, seed: u64) {
        assert_eq!(got.len(), want.len(), "size, n {n} seed {seed}");
        if let Some(s) = got.iter().zip(want).position(|(a, b)| a != b) {
            panic!(
                "n {n} m {} seed {seed}: slot {s} is {} instead of {} ({} slots differ)",
                got.len(),
                got[s],
                want[s],
                got.iter().zip(want).filter(|(a, b)| a != b).count()
            );
        }
    }

    /// One builder reused across builds of different sizes, weights and backend counts (up,
    /// down and up again, with an error and an all-zero-weight set in between) gives exactly
    /// the tables of fresh builds: nothing of one build's occupancy map leaks into the next.
    #[test]
    fn reused_builder_matches_fresh_builds() {
        let mut builder = MaglevBuilder::new();
        let cases: [(usize, u32, u32, u64); 7] = [
            (1000, 65537, 1, 1),
            (10, 251, 1, 2),
            (300, 32749, 3, 3),
            (7, 7, 2, 4),
            (1000, 65537, 1, 5),
            (64, 131_071, 5, 6),
            (120, 12_007, 1, 7),
        ];
        for (n, m, k, seed) in cases {
            let b = pods_cycling_weights(n, seed, k);
            let reused = builder.build_with_size(&b, seed, m).unwrap();
            let fresh = Maglev::build_with_size(&b, seed, m).unwrap();
            assert_same_table(reused.table(), fresh.table(), n, seed);
            if m <= 12_007 {
                assert_same_table(reused.table(), &reference(&b, seed, m), n, seed);
            }
            // Errors and empty tables in between leave the builder usable.
            assert_eq!(builder.build(&[], seed), Err(MaglevError::NoBackends));
            let mut idle = b.clone();
            for x in idle.iter_mut() {
                x.weight = 0;
            }
            assert_eq!(builder.build(&idle, seed).unwrap().size(), 0);
        }
        assert_eq!(
            builder.build(&pods(100, 8), 8).unwrap(),
            Maglev::build(&pods(100, 8), 8).unwrap()
        );
    }

    fn table_digest(t: &Maglev) -> u64 {
        let bytes: Vec<u8> = t.table().iter().flat_map(|e| e.to_le_bytes()).collect();
        xxh64(0, &bytes)
    }

    #[test]
    fn table_sizes_are_ascending_primes() {
        assert!(TABLE_SIZES.windows(2).all(|w| w[0] < w[1]));
        assert!(TABLE_SIZES.iter().all(|&m| is_prime(m)));
        assert!(TABLE_SIZES.contains(&65537));
        assert_eq!(TABLE_SIZES.last(), Some(&MAX_TABLE_SIZE));
        // Cross-check the primality test against a sieve.
        let mut composite = vec![false; 2000];
        for i in 2..2000 {
            if !composite[i] {
                for j in (i * i..2000).step_by(i) {
                    composite[j] = true;
                }
            }
            assert_eq!(is_prime(i as u32), !composite[i], "{i}");
        }
        assert!(!is_prime(0) && !is_prime(1) && !is_prime(65535) && is_prime(131_071));
    }

    #[test]
    fn default_size() {
        assert_eq!(default_table_size(0), 251);
        assert_eq!(default_table_size(1), 251);
        assert_eq!(default_table_size(2), 251);
        assert_eq!(default_table_size(3), 509);
        assert_eq!(default_table_size(10), 1021);
        assert_eq!(default_table_size(100), 16381);
        assert_eq!(default_table_size(655), 65537);
        assert_eq!(default_table_size(656), 131_071);
        assert_eq!(default_table_size(1000), 131_071);
        assert_eq!(default_table_size(MAX_BACKENDS), MAX_TABLE_SIZE);
        // Only active backends count.
        let mut b = pods(20, 1);
        for x in b.iter_mut().skip(3) {
            x.weight = 0;
        }
        assert_eq!(Maglev::build(&b, 0).unwrap().size(), 509);
    }

    #[test]
    fn ip_keys() {
        let k = ip_key(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(k, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
        assert_eq!(v4("10.1.2.3", 1).key, v6("::ffff:10.1.2.3", 1).key);
        assert_eq!(v6("2001:db8::1", 7).key[..4], [0x20, 0x01, 0x0d, 0xb8]);
    }

    #[test]
    fn permutation_is_documented_formula() {
        let k = v4("10.0.0.1", 1).key;
        for m in [2u32, 251, 65537] {
            let (o, s) = permutation(99, &k, m).unwrap();
            assert_eq!(u64::from(o), xxh64(99, &k) % u64::from(m));
            assert_eq!(
                u64::from(s),
                xxh64(99 ^ SKIP_SEED_XOR, &k) % u64::from(m - 1) + 1
            );
        }
        assert_eq!(permutation(0, &k, 1), None);
        assert_eq!(permutation(0, &k, 0), None);
    }

    #[test]
    fn mod_inverse_is_inverse() {
        for m in [2u32, 3, 251, 65537, 131_071] {
            for a in [1, 2, m / 2, m - 1]
                .into_iter()
                .filter(|&a| a >= 1 && a < m)
            {
                let inv = mod_inverse(a, m);
                assert_eq!(
                    u64::from(a) * u64::from(inv) % u64::from(m),
                    1,
                    "{a} mod {m}"
                );
            }
        }
    }

    #[test]
    fn one_active_backend_takes_every_slot() {
        // Alone, or beside backends of weight 0 (before and after it in canonical order), at
        // small and large sizes: the shortcut must give the table the population would.
        for (n, active) in [(1usize, 0usize), (3, 0), (3, 1), (3, 2), (40, 17)] {
            let mut b = pods(n, 77 + n as u64);
            for (i, x) in b.iter_mut().enumerate() {
                x.weight = if i == active { 5 } else { 0 };
            }
            for m in [251u32, 8191, 65537] {
                let t = Maglev::build_with_size(&b, 3, m).unwrap();
                assert_same_table(t.table(), &reference(&b, 3, m), n, 3);
                assert!(t.table().iter().all(|&x| usize::from(x) == active));
            }
        }
        // Through a reused builder: the shortcut hands the occupancy map back untouched, so the
        // next full build neither reallocates it nor finds it dirty.
        let mut builder = MaglevBuilder::new();
        let many = pods(30, 5);
        let mut one = pods(3, 6);
        one[0].weight = 0;
        one[2].weight = 0;
        for (b, m) in [
            (&many, 65537u32),
            (&one, 65537),
            (&many, 65537),
            (&one, 251),
        ] {
            let before = builder.bytes.capacity();
            let t = builder.build_with_size(b, 9, m).unwrap();
            assert_same_table(t.table(), &reference(b, 9, m), b.len(), 9);
            if b.len() == 3 {
                assert_eq!(
                    builder.bytes.capacity(),
                    before,
                    "map kept across the shortcut"
                );
            }
        }
        assert!(builder.bytes.capacity() >= 65537);
    }

    /// The optimised builder (round-robin, replayed pattern, heap, endgame) gives exactly the
    /// table of the straightforward transcription of the documented rules.
    #[test]
    fn matches_reference_implementation() {
        let mut rng = Rng(7);
        for case in 0..40 {
            let n = 1 + rng.below(12) as usize;
            let mut b = pods(n, 1000 + case);
            match case % 4 {
                0 => {} // equal weights
                1 => b
                    .iter_mut()
                    .for_each(|x| x.weight = 1 + rng.below(4) as u32),
                2 => b.iter_mut().for_each(|x| x.weight = rng.below(4) as u32),
                _ => b
                    .iter_mut()
                    .for_each(|x| x.weight = 1 + (rng.next() as u32 >> 8)), // heap path
            }
            if b.iter().all(|x| x.weight == 0) {
                b[0].weight = 3;
            }
            let m = [251u32, 509, 1021, 2039][(case % 4) as usize];
            let seed = rng.next();
            let t = Maglev::build_with_size(&b, seed, m).unwrap();
            assert_eq!(t.table(), &reference(&b, seed, m)[..], "case {case}");
        }
        // Also a set larger than the endgame threshold, at a mid-size table.
        let b = pods(30, 5);
        let t = Maglev::build_with_size(&b, 11, 4093).unwrap();
        assert_eq!(t.table(), &reference(&b, 11, 4093)[..]);
        // And a prime that is not in the list.
        let t = Maglev::build_with_size(&b, 11, 1009).unwrap();
        assert_eq!(t.table(), &reference(&b, 11, 1009)[..]);
    }

    /// Few backends (4 to 30: speculative segments of 4 to 30 turns, pending passes over a
    /// handful of walks), equal and weighted, at the benchmark's size and a small one, give
    /// exactly the reference table.
    #[test]
    fn few_backends_match_reference() {
        for (i, n) in [4usize, 5, 7, 10, 30].into_iter().enumerate() {
            for k in [1, 3] {
                let b = pods_cycling_weights(n, 40 + i as u64, k);
                for m in [8191, 65537] {
                    check_against_reference(&b, 0x5EED ^ n as u64, m);
                }
            }
        }
    }

    /// Sets with long speculative segments (turns by distinct backends), equal and weighted,
    /// give exactly the reference table.
    #[test]
    fn speculative_cycles_match_reference() {
        let weighted = pods_cycling_weights(150, 21, 3);
        let mut zeros = pods(130, 22);
        for (i, x) in zeros.iter_mut().enumerate() {
            x.weight = u32::from(i % 7 != 0);
        }
        for (b, m, seed) in [
            (pods(64, 20), 4093u32, 1u64),
            (pods(200, 23), 8191, 2),
            (weighted, 8191, 3),
            (zeros, 2039, 4),
        ] {
            check_against_reference(&b, seed, m);
        }
    }

    /// The speculative cycles at small sizes (a few cycles of 64-150 turns), small enough to
    /// run under Miri, which checks the unchecked slot accesses:
    /// `cargo +nightly miri test --lib -- --exact maglev::tests::speculative_cycles_small`.
    #[test]
    fn speculative_cycles_small() {
        let weighted = pods_cycling_weights(100, 51, 2);
        for (b, m, seed) in [
            (pods(64, 50), 257u32, 1u64),
            (pods(70, 52), 521, 2),
            (weighted, 1021, 3),
        ] {
            check_against_reference(&b, seed, m);
        }
    }

    /// The benchmark's shapes (1,000 backends at M = 65537, equal and 1:2:3 weights) and random
    /// sets from 64 to 400 backends with random weights (zeros included) at mid sizes: every
    /// phase of the builder (one-step and three-step speculative turns, pending passes, out of
    /// line walks, plain cycles, the floating-point endgame) against the plain reference.
    #[test]
    fn large_sets_match_reference() {
        let weighted = pods_cycling_weights(1000, 31, 3);
        for (b, m, seed) in [(pods(1000, 30), 65537u32, 9u64), (weighted, 65537, 10)] {
            check_against_reference(&b, seed, m);
        }
        let mut rng = Rng(33);
        for case in 0..8u64 {
            let n = 64 + rng.below(337) as usize;
            let mut b = pods(n, 40 + case);
            match case % 3 {
                0 => {}
                1 => b
                    .iter_mut()
                    .for_each(|x| x.weight = 1 + rng.below(5) as u32),
                _ => b.iter_mut().for_each(|x| x.weight = rng.below(3) as u32),
            }
            if b.iter().all(|x| x.weight == 0) {
                b[0].weight = 1;
            }
            let m = [4093u32, 8191, 16381, 32749][(case % 4) as usize];
            let seed = rng.next();
            check_against_reference(&b, seed, m);
        }
    }

    // Golden tables. Produced by tools/maglev_reference.py, an independent Python
    // implementation written from the module documentation on top of PyPI `xxhash` 4.1.0
    // (libxxhash 0.8.4). The digest is XXH64 (seed 0) of the table as little-endian u16s.
    #[test]
    fn golden_table_v4_equal() {
        let mut b: Vec<Backend> = (1..=5).map(|i| v4(&format!("10.0.0.{i}"), 1)).collect();
        sort_canonical(&mut b);
        let t = Maglev::build_with_size(&b, 0x5EED, 251).unwrap();
        assert_eq!(
            t.table()[..16],
            [3, 4, 3, 1, 0, 3, 1, 2, 4, 2, 2, 1, 4, 1, 2, 4]
        );
        assert_eq!(table_digest(&t), 0x812a_9bec_b57a_fe6f);
        assert_eq!(t.slot_counts(), [51, 50, 50, 50, 50]);
        // 5 backends: the default size is 509, not 251.
        assert_eq!(Maglev::build(&b, 0x5EED).unwrap().size(), 509);
    }

    #[test]
    fn golden_table_v6_weighted() {
        let b = [
            v6("2001:db8::1", 1),
            v6("2001:db8::2", 2),
            v6("2001:db8::3", 3),
            v6("2001:db8::4", 4),
        ];
        let t = Maglev::build_with_size(&b, 0x0123_4567_89AB_CDEF, 509).unwrap();
        assert_eq!(
            t.table()[..16],
            [3, 3, 2, 2, 2, 2, 2, 1, 2, 3, 1, 2, 3, 2, 3, 3]
        );
        assert_eq!(table_digest(&t), 0xf3b3_d1f0_c48c_fe64);
        assert_eq!(t.slot_counts(), [51, 102, 153, 203]);
    }

    #[test]
    fn golden_table_mixed() {
        let mut b = [
            v4("10.1.2.3", 5),
            v4("192.168.0.9", 0),
            v6("fd00::7", 2),
            v4("172.16.5.4", 5),
            v6("2001:db8::42", 1),
        ];
        sort_canonical(&mut b);
        let t = Maglev::build_with_size(&b, 42, 1021).unwrap();
        assert_eq!(
            t.table()[..16],
            [3, 0, 1, 0, 1, 4, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(table_digest(&t), 0x84ba_5d2a_c7fd_3cbb);
        assert_eq!(t.slot_counts(), [393, 392, 0, 79, 157]);
        assert_eq!(b[2], v4("192.168.0.9", 0));
    }

    #[test]
    fn balance_equal_weights() {
        for (n, m) in [
            (1usize, 251u32),
            (3, 509),
            (7, 1021),
            (10, 65537),
            (100, 65537),
        ] {
            let b = pods(n, n as u64);
            let t = Maglev::build_with_size(&b, 3, m).unwrap();
            let (lo, hi) = (m / n as u32, m.div_ceil(n as u32));
            for (i, &c) in t.slot_counts().iter().enumerate() {
                assert!(lo <= c && c <= hi, "n {n} m {m} backend {i}: {c} slots");
            }
        }
        // At the default size, and with 1,000 backends at 65537.
        for n in [2usize, 50, 1000] {
            let b = pods(n, 77);
            let t = if n == 1000 {
                Maglev::build_with_size(&b, 3, 65537).unwrap()
            } else {
                Maglev::build(&b, 3).unwrap()
            };
            let m = t.size();
            let (lo, hi) = (m / n as u32, m.div_ceil(n as u32));
            assert!(t.slot_counts().iter().all(|&c| lo <= c && c <= hi), "n {n}");
        }
    }

    /// Tolerance, as the module documentation derives it: a backend with weight `w` gets
    /// `M * w / W` slots, minus at most `N * w / W`, plus at most 1 (`N` active backends, total
    /// weight `W`). For 1:2:3 that is within 2.5 slots.
    #[test]
    fn balance_weighted() {
        let check = |b: &[Backend], m: u32| {
            let t = Maglev::build_with_size(b, 9, m).unwrap();
            let total: u64 = b.iter().map(|x| u64::from(x.weight)).sum();
            for (x, &c) in b.iter().zip(t.slot_counts().iter()) {
                let share = x.weight as f64 / total as f64;
                let ideal = f64::from(m) * share;
                let dev = f64::from(c) - ideal;
                assert!(
                    dev <= 1.0 + 1e-9 && -dev <= b.len() as f64 * share + 1e-9,
                    "{c} slots vs ideal {ideal}"
                );
                if x.weight > 0 {
                    assert!(c >= 1);
                }
            }
        };
        let mut b = pods(3, 4);
        for (x, w) in b.iter_mut().zip([1, 2, 3]) {
            x.weight = w;
        }
        check(&b, 509);
        check(&b, 65537);
        // Scaled weights (same shares), a mix with a dominant backend, and huge weights.
        for (x, w) in b.iter_mut().zip([100, 200, 300]) {
            x.weight = w;
        }
        check(&b, 16381);
        let mut b = pods(20, 8);
        for (i, x) in b.iter_mut().enumerate() {
            x.weight = if i == 0 { 1000 } else { 1 + i as u32 % 5 };
        }
        check(&b, 8191);
        for (i, x) in b.iter_mut().enumerate() {
            x.weight = u32::MAX - i as u32 * 7919;
        }
        check(&b, 8191);
    }

    /// Removing one of N backends moves at most `M * (1/N + 1%)` slots that did not belong to
    /// the removed backend (slots compared by backend key: indices shift on removal).
    #[test]
    fn minimal_disruption() {
        // Slots that change backend, beyond the removed backend's own, as a share of M, when
        // one of n backends leaves and the size is kept.
        let extra = |n: usize, size: Option<u32>, salt: u64, r: usize| -> f64 {
            let b = pods(n, salt);
            let before = match size {
                Some(m) => Maglev::build_with_size(&b, 0xC0FFEE, m).unwrap(),
                None => Maglev::build(&b, 0xC0FFEE).unwrap(),
            };
            let m = before.size();
            let mut smaller = b.clone();
            smaller.remove(r);
            let after = Maglev::build_with_size(&smaller, 0xC0FFEE, m).unwrap();
            // The removed backend's own slots all went to someone else, of course.
            assert!(after.table().iter().all(|&i| smaller[i as usize] != b[r]));
            let moved = before
                .table()
                .iter()
                .zip(after.table())
                .filter(|&(&old, &new)| {
                    old as usize != r && b[old as usize].key != smaller[new as usize].key
                })
                .count();
            moved as f64 / f64::from(m)
        };
        let mut rng = Rng(7);
        // At the default size (M about 100 to 200 x n), the issue's bound 1/n + 1% holds where
        // n is small (the 1/n term) or large; near n = 150..330 with M just over 100 x n
        // (16381 for 163, 32749 for 327), Maglev itself moves 1.2-1.9% in all, up to 0.4 points over (measured over
        // 40 removals each: mean 1.63% at 163 against 1.61%), so there the test holds it to 2%.
        // README, "Maglev table size".
        for n in [10usize, 81, 163, 327, 650] {
            let limit = (1.0 / n as f64 + 0.01).max(0.02);
            for t in 0..4u64 {
                let r = rng.below(n as u64) as usize;
                let e = extra(n, None, 31 + 1000 * t + n as u64, r);
                assert!(
                    e <= limit,
                    "n {n} removed {r}: {e:.4} of M moved beyond its own"
                );
                if n == 10 || n == 650 {
                    assert!(e <= 1.0 / n as f64 + 0.01, "n {n}: {e:.4}");
                }
            }
        }
        // With the size pinned at about 200 x n, the bound holds in that range too.
        for (n, m) in [(163usize, 32749u32), (327, 65537)] {
            for t in 0..4u64 {
                let r = rng.below(n as u64) as usize;
                let e = extra(n, Some(m), 77 + 1000 * t + n as u64, r);
                assert!(e <= 1.0 / n as f64 + 0.01, "n {n}, M {m}: {e:.4}");
            }
        }
    }

    #[test]
    fn deterministic_in_any_order() {
        let canonical = pods(40, 12);
        let mut weighted = canonical.clone();
        for (i, x) in weighted.iter_mut().enumerate() {
            x.weight = 1 + i as u32 % 3;
        }
        for set in [canonical, weighted] {
            let t = Maglev::build(&set, 5).unwrap();
            let mut rng = Rng(99);
            for _ in 0..5 {
                let mut shuffled = set.clone();
                rng.shuffle(&mut shuffled);
                sort_canonical(&mut shuffled);
                assert_eq!(shuffled, set);
                assert_eq!(Maglev::build(&shuffled, 5).unwrap(), t);
            }
            // The seed matters.
            assert_ne!(Maglev::build(&set, 6).unwrap().table(), t.table());
        }
    }

    #[test]
    fn weight_zero_never_chosen() {
        let mut b = pods(12, 3);
        for i in [0usize, 5, 11] {
            b[i].weight = 0;
        }
        let t = Maglev::build(&b, 1).unwrap();
        assert_eq!(t.backend_count(), 12);
        let counts = t.slot_counts();
        for (i, &c) in counts.iter().enumerate() {
            assert_eq!(c == 0, [0, 5, 11].contains(&i), "backend {i}: {c}");
        }
        assert!((0..10_000u64).all(|h| ![0, 5, 11].contains(&t.lookup(h * 7919).unwrap())));
        // All weights zero: builds, chooses nothing, allocates nothing.
        b.iter_mut().for_each(|x| x.weight = 0);
        let t = Maglev::build(&b, 1).unwrap();
        assert_eq!(t.size(), 0);
        assert!(t.table().is_empty());
        assert_eq!(t.lookup(12345), None);
        assert_eq!(t.slot(12345), None);
        assert_eq!(t.slot_counts(), vec![0; 12]);
        assert_eq!(Maglev::build_with_size(&b, 1, 2).unwrap().lookup(0), None);
    }

    #[test]
    fn lookup_is_the_table_at_the_hash_scaled_to_m() {
        let b = pods(7, 2);
        let t = Maglev::build(&b, 8).unwrap();
        let m = u128::from(t.size());
        // The slot s of hash h is the one with s * 2^64 <= h * M < (s + 1) * 2^64.
        let check = |h: u64| {
            let s = u128::from(t.slot(h).unwrap());
            assert!(s < m, "{h:#x}");
            assert!(s << 64 <= u128::from(h) * m, "{h:#x}");
            assert!(u128::from(h) * m < (s + 1) << 64, "{h:#x}");
            assert_eq!(t.lookup(h), Some(t.table()[s as usize]), "{h:#x}");
        };
        let mut rng = Rng(4);
        for _ in 0..1000 {
            check(rng.next());
        }
        for h in [0, 1, u64::MAX, u64::MAX / 2, (1 << 63) + 1] {
            check(h);
        }
        assert_eq!(t.slot(0), Some(0));
        assert_eq!(u128::from(t.slot(u64::MAX).unwrap()), m - 1);
        // Every slot is reached by a run of ⌊2^64 / M⌋ or ⌈2^64 / M⌉ consecutive hashes: the
        // first hash of slot s is ⌈s * 2^64 / M⌉, and the one before it lands in slot s - 1.
        let mut first = 0u128;
        for s in 1..m {
            let next = (s << 64).div_ceil(m);
            assert_eq!(u128::from(t.slot(next as u64).unwrap()), s);
            assert_eq!(u128::from(t.slot(next as u64 - 1).unwrap()), s - 1);
            let width = next - first;
            assert!(width == (1u128 << 64) / m || width == (1u128 << 64) / m + 1);
            first = next;
        }
        assert_eq!(t.seed(), 8);
    }

    #[test]
    fn errors() {
        assert_eq!(Maglev::build(&[], 0), Err(MaglevError::NoBackends));
        let b = pods(3, 1);
        let mut unsorted = b.clone();
        unsorted.swap(1, 2);
        assert_eq!(
            Maglev::build(&unsorted, 0),
            Err(MaglevError::NotCanonical { index: 2 })
        );
        let dup = [b[0], b[1], Backend::new(b[1].key, 9), b[2]];
        assert_eq!(
            Maglev::build(&dup, 0),
            Err(MaglevError::DuplicateKey { index: 2 })
        );
        let mut sorted_dup = dup;
        sort_canonical(&mut sorted_dup);
        assert_eq!(
            Maglev::build(&sorted_dup, 0),
            Err(MaglevError::DuplicateKey { index: 2 })
        );
        let too_many: Vec<Backend> = (0..=MAX_BACKENDS as u32)
            .map(|i| v4(&Ipv4Addr::from(i).to_string(), 1))
            .collect();
        assert_eq!(
            Maglev::build(&too_many, 0),
            Err(MaglevError::TooManyBackends { count: 65536 })
        );
        for size in [
            0u32,
            1,
            4,
            65535,
            65536,
            131_070,
            131_072,
            262_139,
            u32::MAX,
        ] {
            assert_eq!(
                Maglev::build_with_size(&b, 0, size),
                Err(MaglevError::InvalidSize { size }),
                "{size}"
            );
        }
        let many = pods(300, 2);
        assert_eq!(
            Maglev::build_with_size(&many, 0, 251),
            Err(MaglevError::SizeTooSmall {
                size: 251,
                active: 300
            })
        );
        // Any prime from the active count up to the cap is fine, in the list or not.
        for size in [3u32, 5, 1009, 65521, 131_071] {
            let t = Maglev::build_with_size(&b, 0, size).unwrap();
            assert_eq!(t.size(), size);
            assert!(t.slot_counts().iter().all(|&c| c >= 1));
        }
        assert!(validate_table_size(307, 300).is_ok());
        assert_eq!(
            validate_table_size(293, 300),
            Err(MaglevError::SizeTooSmall {
                size: 293,
                active: 300
            })
        );
        // Errors display something useful.
        let msg = alloc::format!("{}", MaglevError::InvalidSize { size: 4 });
        assert!(msg.contains("4") && msg.contains("prime"));
    }

    #[test]
    fn max_backends_at_max_size() {
        // 65,535 backends index 0..=65534 in a table of 131,071 slots.
        let b: Vec<Backend> = (0..MAX_BACKENDS as u32)
            .map(|i| Backend::new(u128::from(i).to_be_bytes(), 1))
            .collect();
        let t = Maglev::build(&b, 1).unwrap();
        assert_eq!(t.size(), MAX_TABLE_SIZE);
        assert!(t.slot_counts().iter().all(|&c| c == 2 || c == 3));
        assert!(t.table().iter().all(|&i| usize::from(i) < MAX_BACKENDS));
    }
}
