//! How the process takes memory from the C allocator, set once before any thread starts.
//!
//! glibc's malloc gives threads that contend for it arenas of their own, up to eight per core. The
//! daemon's blocking pool starts and retires threads as batches come and go, and each new thread may
//! land in another arena; memory freed there stays with that arena. Two arenas, one per core of the
//! machines this is sized for, are enough: the hot paths reuse their buffers and hardly call malloc
//! (an import of the replay tweets ran at 43.3k posts/s with them, within the range measured before).
//!
//! A `MALLOC_ARENA_MAX` set in the environment is the operator's choice and is left alone.
//!
//! Work that allocates large transient buffers now and then (the chart task draws 1280×800 bitmaps,
//! 3 MB each, every few minutes) calls [`release_free_memory`] when done: glibc keeps freed memory
//! for reuse, and after such bursts resident memory otherwise stepped up at each redraw.
//!
//! Measured with `scripts/soak.sh` (README, Benchmarks): with glibc's defaults the daemon's resident
//! memory was still stepping up at minute 10 (77 → 83 → 86 MB); with two arenas alone it stepped at
//! each redraw (75 → 80 → 81 MB); with both settings it stays at 75.8 MB from minute 8 to 15.

/// Arenas the process uses unless `MALLOC_ARENA_MAX` says otherwise.
const ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`ARENAS`]. Call first thing in `main`, before any thread exists.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator settings; it is called before other threads exist,
        // and M_ARENA_MAX with a positive value is a documented, always-valid request.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

/// Returns memory the allocator holds but no longer uses to the operating system. Cheap next to the
/// work it follows; a no-op where the allocator is not glibc's.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only gives free pages back to the kernel; allocated memory is untouched and
    // it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
