//! The runtime a bare-metal *static library* needs: a panic handler and a global allocator.
//!
//! Built only for targets without an operating system (`target_os = "none"`, e.g.
//! `thumbv7em-none-eabihf`) and without `std`, so that `libsvcplane.a` links into C firmware
//! as it is: allocations go to the C library's `malloc`/`aligned_alloc`/`free` (newlib, picolibc),
//! and a panic — which svcplane's code never causes on any input; this is the last line of
//! defence — calls the C library's `abort()`.
//!
//! A Rust firmware that uses the `rlib` and has its own `#[panic_handler]` and
//! `#[global_allocator]` turns this module off with the `no-runtime` feature.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};

extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn aligned_alloc(align: usize, size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
    fn abort() -> !;
}

/// What `malloc` guarantees on the 32-bit targets this module is for (`max_align_t`).
const MALLOC_ALIGN: usize = 8;

struct CAllocator;

// SAFETY: every method forwards to the C library's allocator, which returns memory that is
// either null or valid for `size` bytes at (at least) the requested alignment and stays valid
// until `free`; `aligned_alloc` is used whenever `malloc`'s guarantee is not enough.
unsafe impl GlobalAlloc for CAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            // SAFETY: plain C call; a null result is passed on as the allocation failure.
            unsafe { malloc(layout.size()) }
        } else {
            // C11 wants the size to be a multiple of the alignment (a power of two).
            let size = (layout.size() + layout.align() - 1) & !(layout.align() - 1);
            // SAFETY: `align` is a power of two and `size` a multiple of it, as C11 requires.
            unsafe { aligned_alloc(layout.align(), size) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above (GlobalAlloc's contract), so from the C
        // allocator that `free` belongs to.
        unsafe { free(ptr) }
    }
}

#[global_allocator]
static ALLOCATOR: CAllocator = CAllocator;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: `abort` takes no arguments and never returns.
    unsafe { abort() }
}
