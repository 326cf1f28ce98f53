//! A persistent (structurally shared) hash map: the snapshot's lookup tables.
//!
//! The map is a two-level table. The top level is a power-of-two array of chunks; a key goes to
//! the chunk named by the top bits of its hash. Each chunk is a small open-addressing table
//! (linear probing, at most two-thirds full) behind an `Arc`, so cloning the map copies only the
//! top-level array of pointers, and an update copies only the chunks it touches. With about
//! [`TARGET_PER_CHUNK`] entries per chunk, one change in a map of 100,000 entries copies one or
//! two chunks of a few kilobytes, and a clone of the whole map costs one reference-count
//! increment per chunk.
//!
//! A lookup hashes the key, indexes the top level, and probes a few slots of one chunk: the same
//! work at any size. Hashes come from the fixed functions of [`crate::hash`] (no per-process
//! randomness: the keys are control-plane data, never chosen by packets).
//!
//! Nothing here panics: every index is checked.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Average entries per chunk the top level is sized for; it doubles when the map outgrows it.
pub(crate) const TARGET_PER_CHUNK: usize = 32;

/// The most keys [`ChunkMap::get_key_value_burst`] looks up per call.
pub(crate) const BURST: usize = 64;

/// The most top-level bits: 2^20 chunks, enough for tens of millions of entries.
const MAX_BITS: u32 = 20;

/// A key of a [`ChunkMap`]: equality plus a fixed 64-bit hash.
pub(crate) trait IndexKey: Clone + Eq {
    /// The key's hash; equal keys have equal hashes.
    fn index_hash(&self) -> u64;
}

/// One slot, aligned to 32 bytes: a 32-byte entry (the frontend table's) never straddles a
/// cache line, so a probe touches one line.
#[derive(Clone)]
#[repr(align(32))]
struct Slot<K, V>(Option<(K, V)>);

type Chunk<K, V> = Arc<[Slot<K, V>]>;

/// A key's chunk (if the map has one for it) and home slot, between the stages of a burst lookup.
type Home<'a, K, V> = (Option<&'a [Slot<K, V>]>, usize);

/// A persistent hash map with copy-on-write chunks.
#[derive(Clone)]
pub(crate) struct ChunkMap<K, V> {
    /// `1 << bits` chunks; `None` for an empty chunk.
    chunks: Vec<Option<Chunk<K, V>>>,
    bits: u32,
    len: usize,
}

impl<K: IndexKey, V: Clone> Default for ChunkMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: IndexKey, V: Clone> ChunkMap<K, V> {
    /// An empty map with one (empty) chunk.
    pub(crate) fn new() -> Self {
        Self {
            chunks: alloc::vec![None],
            bits: 0,
            len: 0,
        }
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The number of top-level chunks (a power of two).
    #[cfg(test)]
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    fn chunk_of(bits: u32, hash: u64) -> usize {
        // bits <= MAX_BITS < 64; with bits == 0 the shift would be 64, so special-case it.
        if bits == 0 {
            0
        } else {
            (hash >> (64 - bits)) as usize
        }
    }

    /// The value stored for `key`.
    #[inline]
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// The key (as stored) and value for `key`.
    #[inline]
    pub(crate) fn get_key_value(&self, key: &K) -> Option<(&K, &V)> {
        let hash = key.index_hash();
        let chunk = self
            .chunks
            .get(Self::chunk_of(self.bits, hash))?
            .as_deref()?;
        let mask = chunk.len().wrapping_sub(1);
        let mut i = hash as usize & mask;
        for _ in 0..chunk.len() {
            match &chunk.get(i)?.0 {
                Some((k, v)) if k == key => return Some((k, v)),
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
        None
    }

    /// Looks up several keys at once: `out[i]` is what [`get_key_value`](Self::get_key_value)
    /// returns for `keys[i]`, for the first `min(keys.len(), out.len(), BURST)` keys; returns
    /// that count.
    ///
    /// First every key is hashed and the cache line of its home slot is prefetched, then the
    /// slots are probed. With a table far larger than the cache, the misses of a burst then
    /// overlap instead of being taken one after the other, as DPDK's `rte_hash_lookup_bulk`
    /// does.
    #[inline]
    pub(crate) fn get_key_value_burst<'a>(
        &'a self,
        keys: &[K],
        out: &mut [Option<(&'a K, &'a V)>],
    ) -> usize {
        let n = keys.len().min(out.len()).min(BURST);
        // Stage 1: hash, find the chunk and the home slot, prefetch it.
        let mut home: [Home<'a, K, V>; BURST] = [(None, 0); BURST];
        for (key, h) in keys.iter().zip(home.iter_mut()).take(n) {
            let hash = key.index_hash();
            if let Some(chunk) = self
                .chunks
                .get(Self::chunk_of(self.bits, hash))
                .and_then(|c| c.as_deref())
            {
                let i = hash as usize & chunk.len().wrapping_sub(1);
                if let Some(slot) = chunk.get(i) {
                    crate::prefetch::prefetch(slot);
                }
                *h = (Some(chunk), i);
            }
        }
        // Stage 2: probe, as `get_key_value` does.
        for ((key, &(chunk, mut i)), o) in keys.iter().zip(home.iter()).zip(out.iter_mut()).take(n)
        {
            *o = None;
            let Some(chunk) = chunk else { continue };
            let mask = chunk.len().wrapping_sub(1);
            for _ in 0..chunk.len() {
                match chunk.get(i).map(|s| &s.0) {
                    Some(Some((k, v))) if k == key => {
                        *o = Some((k, v));
                        break;
                    }
                    Some(Some(_)) => i = (i + 1) & mask,
                    _ => break,
                }
            }
        }
        n
    }

    /// Starts loading the slot a lookup of `key` probes first (for a burst's early stage: the
    /// lookup that follows finds it in cache). Reads only the top-level array.
    #[inline]
    pub(crate) fn prefetch(&self, key: &K) {
        let hash = key.index_hash();
        let Some(Some(chunk)) = self.chunks.get(Self::chunk_of(self.bits, hash)) else {
            return;
        };
        let mask = chunk.len().wrapping_sub(1);
        if let Some(slot) = chunk.get(hash as usize & mask) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.chunks
            .iter()
            .flatten()
            .flat_map(|chunk| chunk.iter().filter_map(|slot| slot.0.as_ref()))
            .map(|(k, v)| (k, v))
    }

    /// Applies a batch: first removes every key of `removes` (absent keys are ignored), then
    /// inserts every entry of `inserts` (replacing the value of a key already present; for a key
    /// given twice, the later entry wins). Only the chunks the batch touches are copied.
    pub(crate) fn apply(&mut self, removes: Vec<K>, inserts: Vec<(K, V)>) {
        let upper = self.len.saturating_add(inserts.len());
        let mut bits = self.bits;
        while bits < MAX_BITS && upper > (TARGET_PER_CHUNK << bits) {
            bits += 1;
        }
        if bits != self.bits {
            self.rehash(bits);
        }
        struct Batch<K, V> {
            removes: Vec<K>,
            inserts: Vec<(K, V)>,
        }
        let mut touched: BTreeMap<usize, Batch<K, V>> = BTreeMap::new();
        for key in removes {
            let c = Self::chunk_of(self.bits, key.index_hash());
            touched
                .entry(c)
                .or_insert_with(|| Batch {
                    removes: Vec::new(),
                    inserts: Vec::new(),
                })
                .removes
                .push(key);
        }
        for (key, value) in inserts {
            let c = Self::chunk_of(self.bits, key.index_hash());
            touched
                .entry(c)
                .or_insert_with(|| Batch {
                    removes: Vec::new(),
                    inserts: Vec::new(),
                })
                .inserts
                .push((key, value));
        }
        for (c, batch) in touched {
            let Some(slot) = self.chunks.get_mut(c) else {
                continue;
            };
            let mut entries: Vec<(K, V)> = Vec::new();
            if let Some(old) = slot.as_deref() {
                entries.extend(
                    old.iter()
                        .filter_map(|slot| slot.0.as_ref())
                        .filter(|(k, _)| !batch.removes.contains(k))
                        .cloned(),
                );
            }
            let before = slot
                .as_deref()
                .map_or(0, |old| old.iter().filter(|slot| slot.0.is_some()).count());
            for (key, value) in batch.inserts {
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = value,
                    None => entries.push((key, value)),
                }
            }
            self.len = self
                .len
                .saturating_sub(before)
                .saturating_add(entries.len());
            *slot = build_chunk(entries);
        }
    }

    /// Rebuilds the whole map with `1 << bits` chunks.
    fn rehash(&mut self, bits: u32) {
        let mut groups: Vec<Vec<(K, V)>> = Vec::new();
        groups.resize_with(1 << bits, Vec::new);
        for (k, v) in self.iter() {
            if let Some(group) = groups.get_mut(Self::chunk_of(bits, k.index_hash())) {
                group.push((k.clone(), v.clone()));
            }
        }
        self.chunks = groups.into_iter().map(build_chunk).collect();
        self.bits = bits;
    }
}

/// A chunk holding `entries` (distinct keys), at most two-thirds full; `None` when empty.
fn build_chunk<K: IndexKey, V>(entries: Vec<(K, V)>) -> Option<Chunk<K, V>> {
    if entries.is_empty() {
        return None;
    }
    // Load at most 2/3: short probes for hits and misses alike, in little memory.
    let cap = (entries.len().saturating_mul(3) / 2)
        .saturating_add(1)
        .next_power_of_two()
        .max(4);
    let mask = cap - 1;
    let mut slots: Vec<Slot<K, V>> = Vec::new();
    slots.resize_with(cap, || Slot(None));
    for (k, v) in entries {
        let mut i = k.index_hash() as usize & mask;
        // Never full, so an empty slot is always found within `cap` steps.
        for _ in 0..cap {
            match slots.get_mut(i) {
                Some(Slot(slot @ None)) => {
                    *slot = Some((k, v));
                    break;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }
    Some(slots.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
    struct K(u32);

    impl IndexKey for K {
        fn index_hash(&self) -> u64 {
            crate::hash::xxh64(7, &self.0.to_le_bytes())
        }
    }

    /// A key whose hash collides with every other: probing and chunk growth still work.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    struct Bad(u32);

    impl IndexKey for Bad {
        fn index_hash(&self) -> u64 {
            42
        }
    }

    #[test]
    fn matches_a_hash_map_through_inserts_removes_and_growth() {
        let mut map: ChunkMap<K, u32> = ChunkMap::new();
        let mut oracle: HashMap<u32, u32> = HashMap::new();
        let mut x: u32 = 1;
        for round in 0..60u32 {
            let mut removes = Vec::new();
            let mut inserts = Vec::new();
            for _ in 0..200 {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let key = (x >> 8) % 5000;
                if x % 3 == 0 {
                    removes.push(K(key));
                    oracle.remove(&key);
                }
            }
            for i in 0..150 {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let key = (x >> 8) % 5000;
                inserts.push((K(key), round * 1000 + i));
                oracle.insert(key, round * 1000 + i);
            }
            map.apply(removes, inserts);
            assert_eq!(map.len(), oracle.len());
            for key in 0..5000 {
                assert_eq!(map.get(&K(key)), oracle.get(&key), "key {key}");
            }
        }
        assert!(map.chunk_count() > 1, "the top level grew");
        assert_eq!(map.iter().count(), oracle.len());
    }

    #[test]
    fn clones_share_untouched_chunks_and_keep_their_contents() {
        let mut map: ChunkMap<K, u32> = ChunkMap::new();
        map.apply(Vec::new(), (0..10_000).map(|i| (K(i), i)).collect());
        let before = map.clone();
        map.apply(alloc::vec![K(5)], alloc::vec![(K(6), 66)]);
        assert_eq!(before.get(&K(5)), Some(&5));
        assert_eq!(before.get(&K(6)), Some(&6));
        assert_eq!(map.get(&K(5)), None);
        assert_eq!(map.get(&K(6)), Some(&66));
        let shared = before
            .chunks
            .iter()
            .zip(&map.chunks)
            .filter(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            })
            .count();
        assert!(
            shared >= map.chunk_count() - 2,
            "only the touched chunks are copied: {shared} of {}",
            map.chunk_count()
        );
    }

    #[test]
    fn frontend_slots_take_32_bytes() {
        use crate::snapshot::{PortPlan, VipKey};
        assert_eq!(core::mem::size_of::<Slot<VipKey, Arc<PortPlan>>>(), 32);
    }

    #[test]
    fn colliding_hashes() {
        let mut map: ChunkMap<Bad, u32> = ChunkMap::new();
        map.apply(Vec::new(), (0..100).map(|i| (Bad(i), i)).collect());
        for i in 0..100 {
            assert_eq!(map.get(&Bad(i)), Some(&i));
        }
        assert_eq!(map.get(&Bad(100)), None);
        map.apply((0..50).map(Bad).collect(), Vec::new());
        assert_eq!(map.len(), 50);
        assert_eq!(map.get(&Bad(10)), None);
        assert_eq!(map.get(&Bad(60)), Some(&60));
    }

    #[test]
    fn duplicate_inserts_in_one_batch_keep_the_last() {
        let mut map: ChunkMap<K, u32> = ChunkMap::new();
        map.apply(Vec::new(), alloc::vec![(K(1), 1), (K(1), 2)]);
        assert_eq!(map.len(), 1);
        assert_eq!(map.get(&K(1)), Some(&2));
    }
}
