//! How the stream daemon asks the C allocator to hand memory back.
//!
//! glibc's malloc serves a request of 128 KiB or more with its own mapping, returned to the
//! system when freed — but it raises that threshold to the size of each such buffer freed
//! (up to 32 MiB). A stream frees a block's encoded rows every minute (tens of MB at a
//! large plant), so after the first minute every block came from the heap arenas, whose
//! freed pages the process kept: at ×20 in real time, 559 MB of RSS against 398 MB with
//! the threshold fixed at 4 MiB (256 KiB: 359 MB, but a quarter slower at `--speed max` on
//! the default plant, whose tick buffers of a few hundred KB would then be mapped and
//! unmapped every minute; at 4 MiB its speed is unchanged). BENCHMARKS.md has the runs.

/// Requests at or above this size get a mapping of their own.
const MMAP_THRESHOLD: i32 = 4 << 20;

/// Fixes glibc's mmap threshold (a no-op with other C libraries).
pub fn keep_large_buffers_apart() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; any value is valid (glibc clamps it).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Hands the free pages inside malloc's arenas back to the system: after a block that set
/// machines' days up (the stream's first, each midnight), whose scratch memory — the
/// timeline's lookback, the previous day's random words — is freed between the days'
/// live allocations and would stay with the process otherwise. A walk over the heap: a few
/// milliseconds, once a day.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}
