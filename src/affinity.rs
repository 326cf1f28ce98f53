//! ClientIP session affinity (SEMANTICS.md §6): a fixed-capacity table from (Service port,
//! client address) to the backend address that client was sent to, with the Service's timeout.
//!
//! The table is allocated once, at [`Affinity::new`], and never grows: lookups, updates and
//! removals allocate nothing, take no locks and cost O(1). It is set-associative: a key hashes
//! to one bucket of [`WAYS`] entries; a new key takes a free or expired entry of its bucket, else
//! the least recently used one (counted in [`AffinityStats::evicted`]). Losing an entry only
//! loses the pin: the first choice is reproducible (below), so most clients land on the same
//! backend anyway.
//!
//! # Keys and first choices
//! - The Service port is identified by [`port_id`]: a 64-bit XXH64 of its namespace, name, port
//!   name, protocol and family. It does not change when the Service's endpoints change (unlike
//!   the compiled plan), so a pin survives snapshot switches, and it is the same for every
//!   frontend (cluster IP, NodePort, LB IP) of that port, as §6 requires.
//! - **svcplane:** the first choice for a client is Maglev over a hash of the client address
//!   alone ([`client_hash`], under the cluster-wide Maglev seed), so every node and core agrees
//!   without shared state; the table only pins a choice across backend changes within the
//!   timeout.
//! - Time is the caller's, in whole seconds of a monotonic clock. An entry is live while
//!   `now - last_used <= timeout`: with both instants rounded down to whole seconds, a pin
//!   lives at least its timeout after its last use and less than one second more, never less
//!   (`timeoutSeconds: 1` must not expire a pin within milliseconds). It is refreshed by new
//!   connections ([`Affinity::set`]).
//! - An entry whose backend is no longer in the pool the packet uses is deleted by the caller
//!   ([`Affinity::remove`]) as soon as it is found (the dataplane does this on lookup).
//!
//! The bucket index is hashed under a seed the caller supplies (random per process, like the
//! conntrack seed), so nobody outside can aim clients at one bucket.

use core::fmt;
use core::net::IpAddr;

use alloc::vec::Vec;

use crate::hash::{xxh64, xxh64_16};
use crate::maglev::ip_key;
use crate::model::IpFamily;
use crate::snapshot::PortPlan;

/// Entries per bucket.
pub const WAYS: usize = 4;

/// Most entries a table may hold.
pub const MAX_CAPACITY: usize = 1 << 26;

/// One pinned choice: 48 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    port: u64,
    client: [u8; 16],
    backend: [u8; 16],
    last_used: u32,
    /// The Service's timeout in seconds; 0 marks a free entry.
    timeout: u32,
}

impl Entry {
    fn live(&self, now: u32) -> bool {
        self.timeout != 0 && now.saturating_sub(self.last_used) <= self.timeout
    }
}

/// Counters of an affinity table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AffinityStats {
    /// Pins created.
    pub created: u64,
    /// Live pins overwritten to make room in a full bucket.
    pub evicted: u64,
    /// Pins removed because their backend left the pool or stopped being usable
    /// ([`Affinity::remove`], [`Affinity::retain`]).
    pub removed: u64,
}

/// Why a table could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Capacity 0 or above [`MAX_CAPACITY`].
    Capacity,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("affinity capacity must be between 1 and 2^26 entries")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// The identity of a Service port for affinity: chained XXH64 — the hash of the namespace
/// (seed 0) seeds the hash of the name, which seeds that of the port name, which seeds that of
/// the two bytes `protocol-number, family` (4 or 6). Stable across snapshots, nodes and builds.
pub fn port_id(plan: &PortPlan) -> u64 {
    let svc = plan.service();
    let mut h = xxh64(0, svc.namespace.as_bytes());
    h = xxh64(h, svc.name.as_bytes());
    h = xxh64(h, plan.name().as_bytes());
    let family = match plan.family() {
        IpFamily::V4 => 4,
        IpFamily::V6 => 6,
    };
    xxh64(h, &[plan.protocol().number(), family])
}

/// The hash the first choice of an affinity Service is made with: XXH64 of the client address
/// as 16 bytes (IPv4-mapped for IPv4) under the cluster-wide Maglev seed.
#[inline]
pub fn client_hash(maglev_seed: u64, client: IpAddr) -> u64 {
    xxh64_16(maglev_seed, &ip_key(client))
}

/// The affinity table of one worker. See the module docs.
pub struct Affinity {
    entries: Vec<Entry>,
    /// Number of buckets - 1 (a power of two).
    mask: usize,
    seed: u64,
    stats: AffinityStats,
}

impl fmt::Debug for Affinity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Affinity")
            .field("capacity", &self.entries.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Affinity {
    /// A table for at least `capacity` pins (rounded up to a power of two, at least [`WAYS`]),
    /// hashing under `seed` (random per process). Allocates everything it will ever use, 48
    /// bytes an entry.
    pub fn new(capacity: usize, seed: u64) -> Result<Self, Error> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(Error::Capacity);
        }
        let buckets = capacity.div_ceil(WAYS).next_power_of_two();
        Ok(Affinity {
            entries: alloc::vec![Entry::default(); buckets * WAYS],
            mask: buckets - 1,
            seed,
            stats: AffinityStats::default(),
        })
    }

    /// The number of entries the table holds at most.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// The number of pins live at `now`. O(capacity): for tests and debugging.
    pub fn live(&self, now: u32) -> usize {
        self.entries.iter().filter(|e| e.live(now)).count()
    }

    /// The counters.
    pub fn stats(&self) -> AffinityStats {
        self.stats
    }

    fn bucket(&self, port: u64, client: &[u8; 16]) -> usize {
        let h = xxh64_16(self.seed ^ port, client);
        // The mask is below the table length, which fits in usize.
        (h as usize & self.mask) * WAYS
    }

    fn find(&self, port: u64, client: &[u8; 16]) -> Option<usize> {
        let b = self.bucket(port, client);
        (b..b + WAYS).find(|&i| {
            self.entries
                .get(i)
                .is_some_and(|e| e.timeout != 0 && e.port == port && e.client == *client)
        })
    }

    /// The backend (as a 16-byte key, see [`crate::maglev::ip_key`]) pinned for `client` on
    /// Service port `port` and live at `now`; `None` when there is none. Changes nothing.
    #[inline]
    pub fn get(&self, port: u64, client: IpAddr, now: u32) -> Option<[u8; 16]> {
        let i = self.find(port, &ip_key(client))?;
        let e = self.entries.get(i)?;
        e.live(now).then_some(e.backend)
    }

    /// Pins `client` on `port` to `backend` at `now` with `timeout_seconds` (the Service's),
    /// creating or refreshing the pin. A timeout of 0 is taken as 1 second.
    pub fn set(
        &mut self,
        port: u64,
        client: IpAddr,
        backend: IpAddr,
        timeout_seconds: u32,
        now: u32,
    ) {
        let client = ip_key(client);
        let entry = Entry {
            port,
            client,
            backend: ip_key(backend),
            last_used: now,
            timeout: timeout_seconds.max(1),
        };
        if let Some(i) = self.find(port, &client) {
            if let Some(e) = self.entries.get_mut(i) {
                *e = entry;
            }
            return;
        }
        let b = self.bucket(port, &client);
        // A free or expired entry, else the least recently used one.
        let mut victim = b;
        let mut victim_live = true;
        let mut oldest = u32::MAX;
        for i in b..b + WAYS {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            if !e.live(now) {
                victim = i;
                victim_live = false;
                break;
            }
            if e.last_used < oldest {
                oldest = e.last_used;
                victim = i;
            }
        }
        if victim_live {
            self.stats.evicted += 1;
        }
        self.stats.created += 1;
        if let Some(e) = self.entries.get_mut(victim) {
            *e = entry;
        }
    }

    /// Deletes the pin of `client` on `port` (its backend left the pool). Returns whether there
    /// was one.
    pub fn remove(&mut self, port: u64, client: IpAddr) -> bool {
        let Some(i) = self.find(port, &ip_key(client)) else {
            return false;
        };
        if let Some(e) = self.entries.get_mut(i) {
            *e = Entry::default();
        }
        self.stats.removed += 1;
        true
    }

    /// Deletes every pin for which `keep(port, backend)` is false (`backend` as a 16-byte key);
    /// returns how many, also counted as removed. O(capacity), allocates nothing.
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &[u8; 16]) -> bool) -> usize {
        let mut removed = 0;
        for e in &mut self.entries {
            if e.timeout != 0 && !keep(e.port, &e.backend) {
                *e = Entry::default();
                removed += 1;
            }
        }
        self.stats.removed += removed as u64;
        removed
    }

    /// Deletes every pin.
    pub fn clear(&mut self) {
        self.entries.iter_mut().for_each(|e| *e = Entry::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pins_expire_refresh_and_are_removed() {
        let mut a = Affinity::new(16, 7).unwrap();
        let c = ip("10.0.0.1");
        assert_eq!(a.get(1, c, 0), None);
        a.set(1, c, ip("10.244.1.5"), 100, 10);
        assert_eq!(a.get(1, c, 50), Some(ip_key(ip("10.244.1.5"))));
        assert_eq!(a.get(2, c, 50), None, "another port has its own pin");
        assert_eq!(
            a.get(1, c, 110),
            Some(ip_key(ip("10.244.1.5"))),
            "its whole timeout: rounded to seconds, never shorter"
        );
        assert_eq!(a.get(1, c, 111), None, "timed out");
        a.set(1, c, ip("10.244.1.5"), 100, 100);
        assert_eq!(
            a.get(1, c, 150),
            Some(ip_key(ip("10.244.1.5"))),
            "refreshed"
        );
        assert!(a.remove(1, c));
        assert_eq!(a.get(1, c, 150), None);
        assert_eq!(a.stats().removed, 1);
    }

    #[test]
    fn capacity_is_fixed_and_full_buckets_evict_the_oldest() {
        let mut a = Affinity::new(4, 1).unwrap();
        assert_eq!(a.capacity(), 4);
        for i in 0..10u8 {
            a.set(
                9,
                IpAddr::from([10, 0, 0, i]),
                ip("10.1.1.1"),
                1000,
                u32::from(i),
            );
        }
        assert_eq!(a.capacity(), 4);
        assert_eq!(a.live(10), 4);
        assert_eq!(a.stats().evicted, 6);
        // The four most recent survive.
        for i in 6..10u8 {
            assert!(a.get(9, IpAddr::from([10, 0, 0, i]), 10).is_some());
        }
        assert!(Affinity::new(0, 0).is_err());
    }
}
