//! Cache prefetch hints for the staged burst path ([`crate::dataplane::Worker::process_burst`]).

/// Starts loading the cache line holding `*r` into the L1 cache, without waiting for it.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    line((r as *const T).cast());
}

/// Starts loading the first `lines` cache lines (at most 8) from `*r` on.
#[inline(always)]
pub(crate) fn prefetch_lines<T>(r: &T, lines: usize) {
    let p: *const u8 = (r as *const T).cast();
    for i in 0..lines.min(8) {
        line(p.wrapping_add(i * 64));
    }
}

/// Starts loading the cache line holding the byte at `p`: a hint, which reads nothing, cannot
/// fail, and changes nothing the program can observe. A no-op where Rust has no stable
/// prefetch intrinsic.
#[inline(always)]
fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `_mm_prefetch` (PREFETCHT0) is a hint to the cache: it dereferences nothing,
    // cannot fault even on an invalid address, and has no architectural effect. Its target
    // feature, SSE, is part of the x86_64 baseline, so it is always available.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
