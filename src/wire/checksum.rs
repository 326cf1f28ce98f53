//! Internet checksums (RFC 1071), their incremental update (RFC 1624), the IPv4 and IPv6
//! pseudo-headers, and CRC32c for SCTP (RFC 9260 appendix A) with an O(log n) update.
//!
//! Conventions: a *sum* is a ones'-complement sum of 16-bit big-endian words, kept unfolded in a
//! `u32` (or `u64` while accumulating); a *checksum* is the folded, complemented 16-bit value
//! stored in a header. A byte slice of odd length is padded with a zero byte.

/// Adds `data` as big-endian 16-bit words to an unfolded ones'-complement sum.
///
/// The result is the end-around-carry-folded sum as a `u32` that fits in 17 bits, so it can be
/// combined with further sums by plain addition and folded with [`fold`].
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // Each 8-byte chunk adds four 16-bit words; summing them as two 32-bit halves is the
        // same ones'-complement sum (RFC 1071 §2(B): byte order and word size independence).
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = rest.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold64(acc)
}

/// Folds an unfolded 64-bit sum of (at most 2^31) terms below 2^33 to 17 bits with end-around
/// carry, keeping its ones'-complement value; [`fold`] finishes it.
#[inline]
fn fold64(mut acc: u64) -> u32 {
    // Fold 64 → 32 → 17 bits; every step keeps the ones'-complement value.
    acc = (acc >> 32) + (acc & 0xffff_ffff);
    acc = (acc >> 32) + (acc & 0xffff_ffff);
    let acc = acc as u32; // fits: at most 0x1_0000_0000 - 1 after two folds
    (acc >> 16) + (acc & 0xffff)
}

/// Folds an unfolded sum to 16 bits with end-around carry.
///
/// One rotate-and-add: with `sum = H·2^16 + L`, the high half of `sum + rotl(sum, 16)` (mod
/// 2^32) is `H + L` plus the carry out of the low half, which is exactly the end-around-carry
/// sum `H +' L` (the carry is 1 precisely when `H + L` overflows 16 bits). It is 0 only for
/// `sum = 0`, like the repeated fold it replaces (three operations instead of six).
#[inline]
pub fn fold(sum: u32) -> u16 {
    (sum.wrapping_add(sum.rotate_left(16)) >> 16) as u16
}

/// Folds an unfolded 64-bit sum of any size to 16 bits with end-around carry: [`fold`]'s
/// rotate-and-add on the 32-bit halves, then on the 16-bit ones. The same value as
/// `fold(fold64(acc))` for every `acc` fold64 takes.
#[inline]
pub(crate) fn fold_wide(acc: u64) -> u16 {
    fold((acc.wrapping_add(acc.rotate_left(32)) >> 32) as u32)
}

/// The checksum to store for data whose unfolded sum is `sum`: `!fold(sum)`.
#[inline]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// The sum of the IPv4 pseudo-header (RFC 793 / RFC 768): source, destination, zero,
/// protocol, upper-layer length.
#[inline]
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, length: u16) -> u32 {
    let mut acc = u32::from(u16::from_be_bytes([src[0], src[1]]));
    acc += u32::from(u16::from_be_bytes([src[2], src[3]]));
    acc += u32::from(u16::from_be_bytes([dst[0], dst[1]]));
    acc += u32::from(u16::from_be_bytes([dst[2], dst[3]]));
    acc += u32::from(protocol);
    acc += u32::from(length);
    acc
}

/// The sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit
/// upper-layer length, three zero bytes, next header.
#[inline]
pub fn pseudo_header_v6(src: [u8; 16], dst: [u8; 16], next_header: u8, length: u32) -> u32 {
    let mut acc = sum(&src) + sum(&dst);
    acc += length >> 16;
    acc += length & 0xffff;
    acc += u32::from(next_header);
    acc
}

/// An accumulated change to the data under a checksum, for the incremental update of RFC 1624.
///
/// Record each 16-bit word that changes with [`Delta::replace`] (or whole byte strings of even
/// length with [`Delta::replace_bytes`]), then apply the change to any number of checksums that
/// cover those words with [`Delta::apply`]. All words must sit at even offsets of the data the
/// checksum covers (true for every header field svcplane rewrites).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    // The unfolded ones'-complement sum of `~old + new` over every replaced word, folded once
    // when applied. Each replacement adds less than 2^33, so a u64 cannot overflow before
    // 2^31 replacements.
    acc: u64,
}

impl Delta {
    /// No change.
    pub const fn new() -> Self {
        Delta { acc: 0 }
    }

    /// Records that the 16-bit word `old` became `new`.
    #[inline]
    pub fn replace(&mut self, old: u16, new: u16) {
        // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Accumulate ~m + m'.
        self.acc += u64::from(!old) + u64::from(new);
    }

    /// Records that the 32-bit word `old` (two adjacent 16-bit words, big-endian) became
    /// `new`. Summing 32-bit words and folding gives the same ones'-complement sum as summing
    /// their 16-bit halves (RFC 1071 §2(B)), with half the additions.
    #[inline]
    pub fn replace32(&mut self, old: u32, new: u32) {
        self.acc += u64::from(!old) + u64::from(new);
    }

    /// Records that the bytes `old` became `new` (same even length; extra bytes are ignored).
    #[inline]
    pub fn replace_bytes(&mut self, old: &[u8], new: &[u8]) {
        let mut o4 = old.chunks_exact(4);
        let mut n4 = new.chunks_exact(4);
        for (o, n) in (&mut o4).zip(&mut n4) {
            self.replace32(
                u32::from_be_bytes([o[0], o[1], o[2], o[3]]),
                u32::from_be_bytes([n[0], n[1], n[2], n[3]]),
            );
        }
        for (o, n) in o4
            .remainder()
            .chunks_exact(2)
            .zip(n4.remainder().chunks_exact(2))
        {
            self.replace(
                u16::from_be_bytes([o[0], o[1]]),
                u16::from_be_bytes([n[0], n[1]]),
            );
        }
    }

    /// The delta whose unfolded sum of `~old + new` terms is `acc`, accumulated by the caller
    /// (the common path's rewrite sums native-order words this way).
    #[inline]
    pub(crate) const fn from_sum(acc: u64) -> Self {
        Delta { acc }
    }

    /// Adds another delta to this one.
    #[inline]
    pub fn merge(&mut self, other: Delta) {
        self.acc += other.acc;
    }

    /// True when nothing was recorded or the recorded changes cancel out.
    #[inline]
    pub fn is_empty(&self) -> bool {
        matches!(fold(fold64(self.acc)), 0 | 0xffff)
    }

    /// The checksum `checksum` updated by this delta (RFC 1624 eqn. 3).
    ///
    /// Eqn. 3 is the form that never produces −0 (`0xffff`) from a checksum a full computation
    /// could have produced (which is never `0xffff`: that needs all-zero data), so the update
    /// equals a full recomputation exactly, as long as `checksum` did. The one header whose
    /// data can be all zero, an ICMPv4 echo reply with identifier and sequence 0 and no or a
    /// zero payload, is fixed up by its caller (`nat`). RFC 1624 §3 shows how the
    /// older eqn. 2 gets this case wrong; `incremental_equals_full_including_negative_zero`
    /// tests it.
    #[inline]
    pub fn apply(&self, checksum: u16) -> u16 {
        !fold_wide(u64::from(!checksum) + self.acc)
    }

    /// Like [`Delta::apply`], for a UDP checksum: `0` (no checksum, IPv4 only) stays `0`, and a
    /// computed `0` is sent as `0xffff` (RFC 768).
    #[inline]
    pub fn apply_udp(&self, checksum: u16) -> u16 {
        if checksum == 0 {
            return 0;
        }
        let r = self.apply(checksum);
        if r == 0 {
            0xffff
        } else {
            r
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CRC32c (Castagnoli), as SCTP uses it.

/// The reflected CRC32c polynomial.
const CRC32C_POLY: u32 = 0x82f6_3b78;

const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ CRC32C_POLY
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static CRC32C: [[u32; 256]; 8] = crc32c_tables();

/// Runs the raw CRC32c register `crc` over `data` (no initial value, no final xor).
#[inline]
fn crc32c_raw(mut crc: u32, data: &[u8]) -> u32 {
    let t = &CRC32C;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u32::from(b)) & 0xff) as usize];
    }
    crc
}

/// CRC32c of `data` as SCTP defines it (initial value and final xor `0xffffffff`).
///
/// SCTP stores the result in its header in little-endian byte order (the CRC's reflected bit
/// order); see [`crate::wire::sctp`].
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_append(0, data)
}

/// Continues a CRC32c: `crc32c_append(crc32c(a), b) == crc32c(a ‖ b)`.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    !crc32c_raw(!crc, data)
}

/// Multiplies `a` and `b` modulo the CRC32c polynomial, in the reflected representation in
/// which bit 31 is x⁰.
const fn gf2_mul(a: u32, mut b: u32) -> u32 {
    let mut product = 0u32;
    let mut m = 1u32 << 31;
    while m != 0 {
        if a & m != 0 {
            product ^= b;
        }
        b = if b & 1 != 0 {
            (b >> 1) ^ CRC32C_POLY
        } else {
            b >> 1
        };
        m >>= 1;
    }
    product
}

/// x^(2^k) mod P for k = 0..64, in the reflected representation.
const fn x_pow2_table() -> [u32; 64] {
    let mut t = [0u32; 64];
    let mut p: u32 = 1 << 30; // x^1
    let mut k = 0;
    while k < 64 {
        t[k] = p;
        p = gf2_mul(p, p); // p * p mod P
        k += 1;
    }
    t
}

static X_POW2: [u32; 64] = x_pow2_table();

/// The raw CRC register after feeding `n` zero bytes into register value `crc`, in
/// O(log n) multiplications (the method zlib's `crc32_combine` uses).
fn crc32c_shift_zeros(crc: u32, n: usize) -> u32 {
    // x^(8n) mod P, then multiply.
    let mut op: u32 = 1 << 31; // x^0
    let mut n = n as u64;
    let mut k = 3; // 8 = 2^3 bits per byte
    while n != 0 && k < 64 {
        if n & 1 != 0 {
            op = gf2_mul(X_POW2[k], op);
        }
        n >>= 1;
        k += 1;
    }
    gf2_mul(op, crc)
}

/// Updates a CRC32c for a change of bytes at the start of the covered data.
///
/// `old_crc` is the CRC32c (as [`crc32c`] returns it) of a message of `total_len` bytes whose
/// first `old.len()` bytes were `old` and are now `new`. The result is the CRC32c of the new
/// message, computed in O(log total_len) without reading the rest of it. Because CRCs are
/// linear, a message whose stored CRC was wrong keeps a wrong CRC: corruption is never hidden.
///
/// Returns `old_crc` unchanged when the lengths disagree or `total_len < old.len()`.
pub fn crc32c_update_prefix(old_crc: u32, old: &[u8], new: &[u8], total_len: usize) -> u32 {
    if old.len() != new.len() || total_len < old.len() || old.len() > 16 {
        return old_crc;
    }
    // crc(M1) ^ crc(M2) = raw(M1 ^ M2) for messages of equal length: the init and final xor
    // cancel. M1 ^ M2 is the xor of the prefixes followed by zeros.
    let mut diff = [0u8; 16];
    for (d, (o, n)) in diff.iter_mut().zip(old.iter().zip(new)) {
        *d = o ^ n;
    }
    let raw = crc32c_raw(0, &diff[..old.len()]);
    old_crc ^ crc32c_shift_zeros(raw, total_len - old.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3's worked example: the words 0x0001 0xf203 0xf4f5 0xf6f7 sum to 0xddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(finish(sum(&data)), !0xddf2);
    }

    /// The end-around-carry fold by its definition: add the high part to the low 16 bits until
    /// the value fits.
    fn naive_fold(mut x: u64) -> u16 {
        while x > 0xffff {
            x = (x >> 16) + (x & 0xffff);
        }
        x as u16
    }

    /// `fold` and `fold_wide` against the definition, on the edges (0, ±0, carries out of every
    /// half) and on a million pseudo-random values of every magnitude.
    #[test]
    fn folds_equal_the_definition() {
        let mut edges = vec![
            0u64,
            1,
            0xffff,
            0x1_0000,
            0x1_ffff,
            0xffff_ffff,
            0x1_0000_0000,
        ];
        edges.extend([
            0xffff_0001,
            0x8000_8000,
            0xfffe_0002,
            u64::MAX,
            u64::MAX - 1,
        ]);
        edges.extend([
            0xffff_ffff_0000_0001,
            0x0000_0001_ffff_ffff,
            0x8000_0000_8000_0000,
        ]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..1_000_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            edges.push(x >> (i % 64));
        }
        for &v in &edges {
            assert_eq!(fold_wide(v), naive_fold(v), "fold_wide({v:#x})");
            let w = v as u32;
            assert_eq!(fold(w), naive_fold(u64::from(w)), "fold({w:#x})");
            if v < 1 << 40 {
                assert_eq!(fold(fold64(v)), naive_fold(v), "fold64({v:#x})");
            }
        }
    }

    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for (i, b) in data.iter().enumerate() {
            acc += if i % 2 == 0 {
                u32::from(*b) << 8
            } else {
                u32::from(*b)
            };
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn sum_matches_naive_on_all_lengths() {
        let mut data = [0u8; 67];
        let mut x: u32 = 12345;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        for len in 0..data.len() {
            assert_eq!(
                fold(sum(&data[..len])),
                naive_sum(&data[..len]),
                "len {len}"
            );
        }
        let ones = [0xffu8; 64];
        assert_eq!(fold(sum(&ones)), 0xffff);
    }

    #[test]
    fn incremental_equals_full_including_negative_zero() {
        // Words chosen so that the full sum after the change is 0xffff, i.e. the stored
        // checksum must be 0x0000 (the −0 case of RFC 1624 §3).
        let before = [0x12u8, 0x34, 0x00, 0x00, 0xed, 0xcb];
        let after = [0x12u8, 0x34, 0xed, 0xcb, 0x00, 0x00];
        let c0 = finish(sum(&before));
        assert_eq!(c0, 0x0000);
        let mut d = Delta::new();
        d.replace_bytes(&before, &after);
        assert_eq!(d.apply(c0), finish(sum(&after)));
        // A change to a single word, checked exhaustively against full recomputation.
        let base = [0xabu8, 0xcd, 0x00, 0x00, 0x01, 0x02];
        for new in 0..=0xffffu16 {
            let mut changed = base;
            changed[2..4].copy_from_slice(&new.to_be_bytes());
            let mut d = Delta::new();
            d.replace(0, new);
            assert_eq!(
                d.apply(finish(sum(&base))),
                finish(sum(&changed)),
                "{new:#x}"
            );
        }
    }

    #[test]
    fn udp_rules() {
        let mut d = Delta::new();
        d.replace(0x1111, 0x2222);
        assert_eq!(d.apply_udp(0), 0, "no checksum stays no checksum");
        // A change that makes the computed checksum 0 must give 0xffff.
        let data = [0x00u8, 0x01];
        let c = finish(sum(&data)); // 0xfffe
        let mut d = Delta::new();
        d.replace(0x0001, 0xffff); // sum becomes 0xffff → checksum 0 → sent as 0xffff
        assert_eq!(d.apply_udp(c), 0xffff);
    }

    #[test]
    fn crc32c_check_value() {
        // The CRC-32C check value from the CRC catalogue (and RFC 3720 B.4's test patterns).
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(crc32c(&inc), 0x46dd_794e);
    }

    #[test]
    fn crc32c_prefix_update_equals_full() {
        for len in [4usize, 5, 12, 13, 64, 100, 1500, 9000] {
            let mut msg: alloc::vec::Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let old_crc = crc32c(&msg);
            let old: [u8; 4] = [msg[0], msg[1], msg[2], msg[3]];
            let new = [0xde, 0xad, 0xbe, 0xef];
            msg[..4].copy_from_slice(&new);
            assert_eq!(
                crc32c_update_prefix(old_crc, &old, &new, len),
                crc32c(&msg),
                "len {len}"
            );
        }
    }
}
