//! The fragment table: the addresses the first fragment of a datagram was rewritten to, so its
//! later fragments (which carry no ports) get the same L3 rewrite.
//!
//! Fixed capacity, set-associative (4 ways), allocated once. An entry lives
//! [`FRAGMENT_TIMEOUT`] seconds (the kernel's `ipfrag_time`); a full set reuses an expired way,
//! else the one closest to expiry. Later fragments that arrive before their first fragment are
//! not matched (the worker drops them when they go to a Service address).

use alloc::vec::Vec;
use core::net::IpAddr;

use crate::hash::flow_hash;
use crate::maglev::ip_key;

/// How long the first fragment's decision is kept, in seconds.
pub const FRAGMENT_TIMEOUT: u32 = 30;

const WAYS: usize = 4;

/// A datagram's identity: addresses, protocol and IP identification.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FragKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub ident: u32,
    pub protocol: u8,
}

impl FragKey {
    pub fn new(src: IpAddr, dst: IpAddr, ident: u32, protocol: u8) -> Self {
        FragKey {
            src: ip_key(src),
            dst: ip_key(dst),
            ident,
            protocol,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: FragKey,
    decision: Decision,
    expires: u32,
    live: bool,
}

/// The backend a datagram's packets are counted for: its key, its port and whether they go
/// towards it (the worker's per-backend counters).
pub(crate) type Backend = ([u8; 16], u16, bool);

/// What the first fragment of a datagram was rewritten to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The new source address.
    pub src: IpAddr,
    /// The new destination address.
    pub dst: IpAddr,
    /// The backend its packets are counted for.
    pub backend: Option<Backend>,
}

impl Default for Slot {
    fn default() -> Self {
        let none = IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED);
        Slot {
            key: FragKey::default(),
            decision: Decision {
                src: none,
                dst: none,
                backend: None,
            },
            expires: 0,
            live: false,
        }
    }
}

/// The table. Capacity 0 disables it.
pub(crate) struct Fragments {
    slots: Vec<Slot>,
    seed: u64,
}

impl Fragments {
    /// A table for about `capacity` datagrams (rounded up to a power of two, at least 4 when
    /// not 0).
    pub fn new(capacity: usize, seed: u64) -> Self {
        let n = if capacity == 0 {
            0
        } else {
            capacity.clamp(WAYS, 1 << 24).next_power_of_two()
        };
        Fragments {
            slots: alloc::vec![Slot::default(); n],
            seed,
        }
    }

    fn set(&self, key: &FragKey) -> core::ops::Range<usize> {
        let h = flow_hash(
            self.seed,
            &key.src,
            &key.dst,
            (key.ident >> 16) as u16,
            key.ident as u16,
            key.protocol,
        );
        let start = (h as usize & (self.slots.len().wrapping_sub(1))) & !(WAYS - 1);
        start..(start + WAYS).min(self.slots.len())
    }

    /// What the datagram's first fragment was rewritten to, if known and fresh.
    pub fn get(&self, key: &FragKey, now: u32) -> Option<Decision> {
        if self.slots.is_empty() {
            return None;
        }
        self.slots
            .get(self.set(key))?
            .iter()
            .find(|s| s.live && s.key == *key && now <= s.expires)
            .map(|s| s.decision)
    }

    /// Remembers the first fragment's rewrite.
    pub fn insert(&mut self, key: FragKey, decision: Decision, now: u32) {
        if self.slots.is_empty() {
            return;
        }
        let range = self.set(&key);
        let Some(set) = self.slots.get_mut(range) else {
            return;
        };
        let pick = set
            .iter()
            .position(|s| s.live && s.key == key)
            .or_else(|| set.iter().position(|s| !s.live || now > s.expires))
            .or_else(|| {
                set.iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(i, _)| i)
            });
        if let Some(slot) = pick.and_then(|i| set.get_mut(i)) {
            *slot = Slot {
                key,
                decision,
                expires: now.saturating_add(FRAGMENT_TIMEOUT),
                live: true,
            };
        }
    }
}
