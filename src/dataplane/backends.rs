//! Per-backend packet counters of a worker: a fixed-capacity open-addressing table keyed by
//! backend address and port, allocated once. When it is full, packets of further backends are
//! counted in one overflow entry, never lost and never allocated for.

use alloc::vec::Vec;
use core::net::IpAddr;

use super::PacketCount;

/// Probes before a packet is counted in the overflow entry.
const MAX_PROBES: usize = 16;

/// One backend's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BackendCount {
    /// Packets forwarded to the backend (client to service direction).
    pub to_backend: PacketCount,
    /// Packets from the backend forwarded back to clients (replies, ICMP errors).
    pub from_backend: PacketCount,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: [u8; 16],
    port: u16,
    live: bool,
    count: BackendCount,
}

pub(crate) struct BackendCounters {
    slots: Vec<Slot>,
    overflow: BackendCount,
    /// An odd multiplier derived from the seed: the slot of (key, port) is a multiplicative
    /// hash. Backend addresses come from the control plane, not from packets, so nothing
    /// stronger is needed; the seed only varies the layout between workers.
    multiplier: u64,
}

impl BackendCounters {
    pub fn new(capacity: usize, seed: u64) -> Self {
        let n = if capacity == 0 {
            0
        } else {
            capacity.clamp(1, 1 << 20).next_power_of_two() * 2
        };
        BackendCounters {
            slots: alloc::vec![Slot::default(); n],
            overflow: BackendCount::default(),
            multiplier: (seed ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1,
        }
    }

    #[inline]
    pub fn add(&mut self, key: &[u8; 16], port: u16, to_backend: bool, bytes: usize) {
        let entry = self.entry(key, port);
        let c = if to_backend {
            &mut entry.to_backend
        } else {
            &mut entry.from_backend
        };
        c.packets += 1;
        c.bytes += bytes as u64;
    }

    #[inline]
    fn entry(&mut self, key: &[u8; 16], port: u16) -> &mut BackendCount {
        let n = self.slots.len();
        if n == 0 {
            return &mut self.overflow;
        }
        let wanted = u128::from_ne_bytes(*key);
        let folded = (wanted as u64) ^ ((wanted >> 64) as u64).rotate_left(17) ^ u64::from(port);
        // The top bits of the product are the best mixed (n is a power of two, at most 2^21).
        let mut pos = (folded.wrapping_mul(self.multiplier) >> 40) as usize & (n - 1);
        let mut found = None;
        for _ in 0..MAX_PROBES.min(n) {
            let s = &self.slots[pos];
            if !s.live || (u128::from_ne_bytes(s.key) == wanted && s.port == port) {
                found = Some(pos);
                break;
            }
            pos = (pos + 1) & (n - 1);
        }
        match found.and_then(|i| self.slots.get_mut(i)) {
            Some(s) => {
                if !s.live {
                    *s = Slot {
                        key: *key,
                        port,
                        live: true,
                        count: BackendCount::default(),
                    };
                }
                &mut s.count
            }
            None => &mut self.overflow,
        }
    }

    pub fn get(&self, key: &[u8; 16], port: u16) -> Option<BackendCount> {
        self.slots
            .iter()
            .find(|s| s.live && s.key == *key && s.port == port)
            .map(|s| s.count)
    }

    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, u16, BackendCount)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.live)
            .map(|s| (key_to_ip(&s.key), s.port, s.count))
    }

    pub fn overflow(&self) -> BackendCount {
        self.overflow
    }
}

/// The address a 16-byte backend key stands for (IPv4-mapped keys are IPv4).
fn key_to_ip(key: &[u8; 16]) -> IpAddr {
    let v6 = core::net::Ipv6Addr::from(*key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}
