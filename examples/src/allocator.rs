//! How heraldd's allocator (mimalloc) is tuned, and why.
//!
//! Both settings are about memory the process takes from the OS and touches for the
//! first time, which on this kind of virtual machine costs far more than the
//! allocation itself:
//! - mimalloc returns freed memory to the OS 1 s after it was freed (its
//!   `purge_delay`). Under load, sled allocates and frees a fresh 512 KiB log buffer
//!   on every flush, and other buffers come and go as fast: each was returned, then
//!   faulted in again. Kept for 10 s, freed memory is reused first; an idle daemon
//!   still gives it back.
//! - With transparent huge pages, each first touch of a 2 MiB region zeroes all of
//!   it at once. A growing heap (the memory storage, the queues) spent a tenth of the
//!   workers' time there. Without them, pages are zeroed 4 KiB at a time as they are
//!   used, as databases such as Redis and MongoDB also recommend.
//!
//! An operator's `MIMALLOC_PURGE_DELAY` or `MIMALLOC_ALLOW_THP` in the environment
//! (read by mimalloc at start) wins over these.

/// mimalloc's `mi_option_purge_delay`: its index in `mi_option_e` (mimalloc.h).
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the process before it goes back to the OS, in ms.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// Applies both settings. Only meaningful in a process whose global allocator is
/// mimalloc; call it first thing in `main`.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` takes any option index and value; it stores the
        // value in mimalloc's option table, read when a purge is scheduled.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, PURGE_DELAY_MS);
        }
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        disable_transparent_huge_pages();
    }
}

/// Turns transparent huge pages off for this process (what `MIMALLOC_ALLOW_THP=0`
/// does at mimalloc's start): faults from now on map 4 KiB pages.
#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this
    // process; an error (an old kernel) leaves huge pages as they were.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc's purge delay now in force, in ms.
    fn purge_delay_ms() -> i64 {
        // SAFETY: `mi_option_get` reads mimalloc's option table for any option index.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_get(PURGE_DELAY_OPTION)
        }
    }

    /// Whether transparent huge pages are off for this process.
    #[cfg(target_os = "linux")]
    fn transparent_huge_pages_disabled() -> bool {
        // SAFETY: PR_GET_THP_DISABLE takes plain integers and reads a flag of this process.
        #[allow(unsafe_code)]
        let flag = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        flag == 1
    }

    /// The index names the purge delay (its default, 1,000 ms, reads back before),
    /// and both settings are in force after `tune` (unless this test's environment
    /// chose them).
    #[test]
    fn tune_sets_the_purge_delay_and_turns_huge_pages_off() {
        let purge_from_env = std::env::var_os("MIMALLOC_PURGE_DELAY").is_some();
        if !purge_from_env {
            assert_eq!(purge_delay_ms(), 1_000);
        }
        tune();
        if !purge_from_env {
            assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
        }
        #[cfg(target_os = "linux")]
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
            assert!(transparent_huge_pages_disabled());
        }
    }
}
