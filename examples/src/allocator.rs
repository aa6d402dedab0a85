//! How heraldd's allocator (mimalloc) is tuned.
//!
//! mimalloc returns freed memory to the OS 1 s after it was freed (its
//! `purge_delay`). Under load, sled allocates and frees a fresh 512 KiB log buffer on
//! every flush, and other buffers come and go as fast: each was returned, then faulted
//! in again, with transparent huge pages zeroing 2 MiB at a time. That was a fifth of
//! the sled commit thread's time. Kept for 10 s, freed memory is reused first; an idle
//! daemon still gives it back.

/// mimalloc's `mi_option_purge_delay`: its index in `mi_option_e` (mimalloc.h).
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the process before it goes back to the OS, in ms.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// Sets mimalloc's purge delay to `PURGE_DELAY_MS`, unless `MIMALLOC_PURGE_DELAY` is
/// set in the environment (mimalloc reads it at start, and an operator's choice wins).
/// Only meaningful in a process whose global allocator is mimalloc.
pub fn keep_freed_memory_a_while() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` takes any option index and value; it stores the value
    // in mimalloc's option table, which the allocator reads when it schedules a purge.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, PURGE_DELAY_MS);
    }
}

/// mimalloc's purge delay now in force, in ms.
pub fn purge_delay_ms() -> i64 {
    // SAFETY: `mi_option_get` reads mimalloc's option table for any option index.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_get(PURGE_DELAY_OPTION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index names the purge delay: its default, 1,000 ms, reads back before the
    /// change (unless this test's environment set it), and the new value after.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), 1_000);
        }
        keep_freed_memory_a_while();
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
        }
    }
}
