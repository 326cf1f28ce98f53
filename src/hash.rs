//! XXH64: the fixed, documented hash for everything that must agree across nodes.
//!
//! Maglev permutations (and, later, flow hashing) must come out identical on every node, core,
//! architecture and build of svcplane (DESIGN.md, invariant 6). This module implements XXH64
//! exactly as the xxHash specification defines it
//! (`doc/xxhash_spec.md` in the xxHash repository, "XXH64 algorithm description"): a 64-bit
//! seed, little-endian reads of the input regardless of the host, and the same 64-bit output as
//! the reference C implementation, `XXH64(data, len, seed)`, and as Python's
//! `xxhash.xxh64(data, seed=seed).intdigest()`.
//!
//! The golden vectors in the tests were produced with the independent Python binding
//! (`pip install xxhash`, which wraps the reference C code); see the comment above them.
//!
//! Everything here is `no_std`, allocation-free and panic-free.

/// Prime 1 of the XXH64 specification.
const P1: u64 = 0x9E37_79B1_85EB_CA87;
/// Prime 2 of the XXH64 specification.
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
/// Prime 3 of the XXH64 specification.
const P3: u64 = 0x1656_67B1_9E37_79F9;
/// Prime 4 of the XXH64 specification.
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
/// Prime 5 of the XXH64 specification.
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[inline(always)]
fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline(always)]
fn merge_accumulator(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

#[inline(always)]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^= h >> 32;
    h
}

/// Little-endian `u64` at `at`; 0 if out of range (callers only ask for in-range lanes, and the
/// optimiser removes the check for fixed-size inputs).
#[inline(always)]
fn read_u64(b: &[u8], at: usize) -> u64 {
    match b.get(at..).and_then(|s| s.first_chunk::<8>()) {
        Some(a) => u64::from_le_bytes(*a),
        None => 0,
    }
}

/// Consumes the tail (fewer than 32 bytes) and finishes the hash.
#[inline(always)]
fn finalize(mut h: u64, mut tail: &[u8]) -> u64 {
    while let Some((lane, rest)) = tail.split_first_chunk::<8>() {
        h ^= round(0, u64::from_le_bytes(*lane));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        tail = rest;
    }
    if let Some((word, rest)) = tail.split_first_chunk::<4>() {
        h ^= u64::from(u32::from_le_bytes(*word)).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        tail = rest;
    }
    for &byte in tail {
        h ^= u64::from(byte).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    avalanche(h)
}

/// XXH64 of `data` with `seed`, exactly as the xxHash specification defines it.
///
/// Equal to the reference `XXH64(data, len, seed)` on every platform (input is read
/// little-endian whatever the host byte order), and to Python's
/// `xxhash.xxh64(data, seed=seed).intdigest()`.
pub fn xxh64(seed: u64, data: &[u8]) -> u64 {
    let len = data.len() as u64;
    let mut input = data;
    let mut h = if input.len() >= 32 {
        let mut v1 = seed.wrapping_add(P1).wrapping_add(P2);
        let mut v2 = seed.wrapping_add(P2);
        let mut v3 = seed;
        let mut v4 = seed.wrapping_sub(P1);
        while let Some((stripe, rest)) = input.split_first_chunk::<32>() {
            v1 = round(v1, read_u64(stripe, 0));
            v2 = round(v2, read_u64(stripe, 8));
            v3 = round(v3, read_u64(stripe, 16));
            v4 = round(v4, read_u64(stripe, 24));
            input = rest;
        }
        let mut acc = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        acc = merge_accumulator(acc, v1);
        acc = merge_accumulator(acc, v2);
        acc = merge_accumulator(acc, v3);
        merge_accumulator(acc, v4)
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(len);
    finalize(h, input)
}

/// XXH64 of exactly 16 bytes (an IPv6 or IPv4-mapped address): the same value as
/// [`xxh64`]`(seed, key)`, with the length fixed at compile time so that it compiles to a short
/// straight-line sequence.
#[inline]
pub fn xxh64_16(seed: u64, key: &[u8; 16]) -> u64 {
    let mut h = seed.wrapping_add(P5).wrapping_add(16);
    h ^= round(0, read_u64(key, 0));
    h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
    h ^= round(0, read_u64(key, 8));
    h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
    avalanche(h)
}

/// Flow hash over a fixed 37-byte layout, for per-packet backend selection.
///
/// The value is exactly [`xxh64`]`(seed, bytes)` where `bytes` is the concatenation
///
/// ```text
/// src_addr (16) | dst_addr (16) | src_port (2, big-endian) | dst_port (2, big-endian) | proto (1)
/// ```
///
/// with addresses as 16-byte IPv6 addresses (IPv4 as IPv4-mapped `::ffff:a.b.c.d`), ports in
/// network byte order and `proto` the IP protocol number. Any implementation can reproduce it;
/// in Python:
///
/// ```text
/// xxhash.xxh64(src + dst + sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes([proto]),
///              seed=seed).intdigest()
/// ```
///
/// Use the cluster-wide Maglev/flow-hash seed (DESIGN.md, invariant 6) so every node picks the
/// same backend for the same flow. Computed straight from the fields, with no buffer.
#[inline]
pub fn flow_hash(
    seed: u64,
    src_addr: &[u8; 16],
    dst_addr: &[u8; 16],
    src_port: u16,
    dst_port: u16,
    proto: u8,
) -> u64 {
    // XXH64 of the 37 bytes, unrolled: one 32-byte stripe (the two addresses), then the 4-byte
    // tail word (the ports) and the 1-byte tail (the protocol).
    let v1 = round(
        seed.wrapping_add(P1).wrapping_add(P2),
        read_u64(src_addr, 0),
    );
    let v2 = round(seed.wrapping_add(P2), read_u64(src_addr, 8));
    let v3 = round(seed, read_u64(dst_addr, 0));
    let v4 = round(seed.wrapping_sub(P1), read_u64(dst_addr, 8));
    let mut h = v1
        .rotate_left(1)
        .wrapping_add(v2.rotate_left(7))
        .wrapping_add(v3.rotate_left(12))
        .wrapping_add(v4.rotate_left(18));
    h = merge_accumulator(h, v1);
    h = merge_accumulator(h, v2);
    h = merge_accumulator(h, v3);
    h = merge_accumulator(h, v4);
    h = h.wrapping_add(37);
    let [s0, s1] = src_port.to_be_bytes();
    let [d0, d1] = dst_port.to_be_bytes();
    h ^= u64::from(u32::from_le_bytes([s0, s1, d0, d1])).wrapping_mul(P1);
    h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
    h ^= u64::from(proto).wrapping_mul(P5);
    h = h.rotate_left(11).wrapping_mul(P1);
    avalanche(h)
}

/// The keyed hash of in-memory tables that nothing outside the process depends on: the
/// conntrack index, under keys derived from the caller's random per-process seed (DESIGN.md
/// invariant 6: outsiders cannot aim packets at one chain without the seed), and the
/// snapshot's frontend index, under fixed keys (its keys are control-plane data). Never used
/// for anything nodes or cores must agree on, so it is not XXH64 but a shorter folded-multiply
/// hash (the construction of foldhash and wyhash) under six 64-bit keys derived from a seed:
/// three multiplications, two of them independent, instead of XXH64's dependent chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TableHasher {
    k: [u64; 6],
}

/// 64 × 64 → 128-bit multiplication folded to 64 bits (low half XOR high half).
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The splitmix64 finaliser: a fixed bijection of `u64` that spreads every input bit over the
/// output (for small integer keys, and for independent draws from one hash).
#[inline]
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl TableHasher {
    /// Keys derived from `seed` by splitmix64 (distinct, well mixed, for any seed, 0 included).
    pub(crate) const fn new(seed: u64) -> Self {
        let mut k = [0u64; 6];
        let mut state = seed;
        let mut i = 0;
        while i < 6 {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            // An odd key: a multiplier of 0 would erase its operand.
            k[i] = mix64(state) | 1;
            i += 1;
        }
        TableHasher { k }
    }

    /// The hash of two 16-byte addresses, each given as `u128::from_le_bytes` of its bytes
    /// (so that a caller holding the value in registers need not store and reload it), and up
    /// to 64 further bits (ports, protocol, ...).
    #[inline(always)]
    pub(crate) fn hash(&self, a: u128, b: u128, tail: u64) -> u64 {
        let k = &self.k;
        let h1 = folded_multiply(a as u64 ^ k[0], (a >> 64) as u64 ^ k[1]);
        let h2 = folded_multiply(b as u64 ^ k[2], (b >> 64) as u64 ^ k[3]);
        folded_multiply(h1 ^ tail ^ k[4], h2 ^ k[5])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Test input: byte `i` is `(i * 7 + 3) mod 256`.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    // Golden vectors, produced with an independent implementation: the `xxhash` package from
    // PyPI (version 4.1.0, wrapping the reference xxHash C library 0.8.4), by
    //
    //   import xxhash
    //   pattern = lambda n: bytes((i * 7 + 3) % 256 for i in range(n))
    //   for seed in (0, 1, 0x9E3779B97F4A7C15):
    //       for n in LENGTHS:
    //           print(hex(xxhash.xxh64(pattern(n), seed=seed).intdigest()))
    //   # STRING_VECTORS: xxhash.xxh64(s, seed=seed).intdigest()
    //   # FLOW_VECTOR: xxhash.xxh64(pattern(16) + pattern(32)[16:] + (443).to_bytes(2, "big")
    //   #                + (50000).to_bytes(2, "big") + bytes([6]), seed=7).intdigest()
    //
    // LENGTHS covers every code path: empty, the 1-byte, 4-byte and 8-byte tails, exactly one
    // 32-byte stripe, stripes plus every kind of tail, and several stripes.
    const LENGTHS: [usize; 16] = [0, 1, 3, 4, 7, 8, 12, 15, 16, 31, 32, 33, 37, 63, 64, 100];
    const GOLDEN: [(u64, [u64; 16]); 3] = [
        (
            0,
            [
                0xef46_db37_51d8_e999, // len 0
                0x1f25_c8d0_bc1f_4bb6, // len 1
                0x31d2_363f_52e5_64c9, // len 3
                0x9bb6_4b7d_66ee_9fda, // len 4
                0x9a7b_1499_59ce_60d8, // len 7
                0xdab9_9d95_c6f9_0092, // len 8
                0xd52e_4078_33af_5133, // len 12
                0x1b47_cb82_43cc_8e32, // len 15
                0x4348_5023_2b78_7be2, // len 16
                0xa2aa_5f33_cc4a_6119, // len 31
                0x23c3_c17e_f790_fd97, // len 32
                0x50a7_cfc7_ba58_8784, // len 33
                0xe32e_f638_02f5_a3fd, // len 37
                0x5e3e_54b4_31c7_493c, // len 63
                0x0eb6_4b3e_f6ee_b01f, // len 64
                0xa61f_8d4c_170f_e531, // len 100
            ],
        ),
        (
            1,
            [
                0xd5af_ba13_36a3_be4b, // len 0
                0x610f_93f8_c898_89fe, // len 1
                0x2d80_e074_130d_0176, // len 3
                0x5ec9_fdd1_0fcb_cb0e, // len 4
                0xd8b4_a941_715f_ee31, // len 7
                0xf119_f5b2_6c00_20ab, // len 8
                0x3785_1f0d_89d2_3966, // len 12
                0x7a94_ee01_6f09_b732, // len 15
                0xc968_1422_ce33_496d, // len 16
                0xaaca_4e41_ffca_e21c, // len 31
                0x7421_b79a_02b4_2132, // len 32
                0x17b3_df31_3de9_a40e, // len 33
                0x7ce0_c310_363f_3b05, // len 37
                0xb1ab_b4a5_ad0e_2943, // len 63
                0x2d04_5794_0c5a_93f4, // len 64
                0x8d89_57e6_8f02_c7ce, // len 100
            ],
        ),
        (
            0x9e37_79b9_7f4a_7c15,
            [
                0xc434_9fc9_3c01_0000, // len 0
                0x7982_6bcd_749d_267a, // len 1
                0x78ef_d775_75e2_6575, // len 3
                0x6f0a_6c97_d68b_f353, // len 4
                0xd97e_de93_c9d6_6a0d, // len 7
                0xa2f1_e284_37a7_8a1b, // len 8
                0xbcc9_f0d6_16ff_9a7b, // len 12
                0xe2ec_50a5_44fa_ec61, // len 15
                0x9335_1859_a728_6376, // len 16
                0x7554_3727_1d1d_0a84, // len 31
                0xbf62_4b93_2c09_0428, // len 32
                0x7ace_af1e_9d34_ea35, // len 33
                0x75d0_895f_8692_539f, // len 37
                0x2c8d_dce5_c85d_0d9d, // len 63
                0x4af3_41f1_4e3a_6fc9, // len 64
                0xf6d8_f65c_625a_bb4f, // len 100
            ],
        ),
    ];
    const STRING_VECTORS: &[(u64, &[u8], u64)] = &[
        (0, b"a", 0xd24e_c4f1_a98c_6e5b),
        (0, b"abc", 0x44bc_2cf5_ad77_0999),
        (0, b"message digest", 0x066e_d728_fcee_b3be),
        (0, b"abcdefghijklmnopqrstuvwxyz", 0xcfe1_f278_fa89_835c),
        (
            0,
            b"The quick brown fox jumps over the lazy dog",
            0x0b24_2d36_1fda_71bc,
        ),
        (0x2545_f491_4f6c_dd1d, b"svcplane", 0xf1e7_9097_51bf_eac6),
        (
            0xffff_ffff_ffff_ffff,
            b"The quick brown fox jumps over the lazy dog",
            0x9f3d_039c_d26e_eafc,
        ),
    ];
    const FLOW_VECTOR: u64 = 0x78ab_39b3_714e_57ae;

    #[test]
    fn golden_vectors_pattern() {
        for (seed, expected) in GOLDEN {
            for (n, want) in LENGTHS.iter().zip(expected) {
                let got = xxh64(seed, &pattern(*n));
                assert_eq!(got, want, "seed {seed:#x} len {n}");
            }
        }
    }

    /// Published values for the empty input and ASCII strings (same Python check).
    #[test]
    fn golden_vectors_strings() {
        assert_eq!(xxh64(0, b""), 0xef46_db37_51d8_e999);
        for &(seed, input, want) in STRING_VECTORS {
            assert_eq!(xxh64(seed, input), want, "seed {seed:#x} {input:?}");
        }
    }

    #[test]
    fn fixed_16_matches_generic() {
        for seed in [0u64, 1, 0x9E37_79B9_7F4A_7C15, u64::MAX] {
            for k in 0u8..=255 {
                let mut key = [0u8; 16];
                for (i, b) in key.iter_mut().enumerate() {
                    *b = k.wrapping_mul(31).wrapping_add(i as u8);
                }
                assert_eq!(xxh64_16(seed, &key), xxh64(seed, &key));
            }
        }
    }

    #[test]
    fn flow_hash_matches_generic() {
        let mut x: u64 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..1000 {
            let src = (u128::from(next()) << 64 | u128::from(next())).to_be_bytes();
            let dst = (u128::from(next()) << 64 | u128::from(next())).to_be_bytes();
            let (sp, dp, proto, seed) = (next() as u16, next() as u16, next() as u8, next());
            let mut bytes = Vec::new();
            bytes.extend_from_slice(&src);
            bytes.extend_from_slice(&dst);
            bytes.extend_from_slice(&sp.to_be_bytes());
            bytes.extend_from_slice(&dp.to_be_bytes());
            bytes.push(proto);
            assert_eq!(
                flow_hash(seed, &src, &dst, sp, dp, proto),
                xxh64(seed, &bytes)
            );
        }
    }

    #[test]
    fn flow_hash_layout() {
        let src = pattern(16);
        let dst = pattern(32);
        let src: [u8; 16] = src.as_slice().try_into().unwrap();
        let dst: [u8; 16] = dst[16..].try_into().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src);
        bytes.extend_from_slice(&dst);
        bytes.extend_from_slice(&443u16.to_be_bytes());
        bytes.extend_from_slice(&50000u16.to_be_bytes());
        bytes.push(6);
        assert_eq!(bytes.len(), 37);
        let h = flow_hash(7, &src, &dst, 443, 50000, 6);
        assert_eq!(h, xxh64(7, &bytes));
        assert_eq!(h, FLOW_VECTOR);
    }
}
