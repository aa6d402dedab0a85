//! The open-files limit: `raise()` lifts the soft `RLIMIT_NOFILE` to the hard one, as
//! Go's runtime does at start, and `check` warns when `[api] max_connections` does not
//! fit under it.
//!
//! Every API connection, delivery connection and storage file is a descriptor. With
//! the common soft limit of 1024, a flood would exhaust descriptors before reaching
//! `max_connections`: accepts would fail, nobody would be evicted, and a client
//! waiting in the kernel's queue would not be served. The hard limit is the
//! administrator's choice; the soft one is only a default.

use std::io;

/// Descriptors kept for everything but API connections: storage files, delivery
/// connections (a pool per destination host), the listener, stdio.
const RESERVE: u64 = 256;

/// Raises this process's soft open-files limit to its hard limit; returns the soft
/// limit now in force.
///
/// # Errors
/// When the limit cannot be read or set.
pub fn raise() -> io::Result<u64> {
    let mut limit = read()?;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid, initialised `rlimit`; setrlimit only reads it.
        #[allow(unsafe_code)]
        let done = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

fn read() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the valid, writable `limit`.
    #[allow(unsafe_code)]
    let done = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

/// Warns when `max_connections` and the reserve exceed the soft limit: the cap
/// would not be reached before accepts fail.
pub(crate) fn check(max_connections: usize) {
    let Ok(limit) = read() else {
        return;
    };
    let wanted = (max_connections as u64).saturating_add(RESERVE);
    if wanted > limit.rlim_cur {
        tracing::warn!(
            max_connections,
            open_files_limit = limit.rlim_cur,
            "api.max_connections and {RESERVE} other descriptors exceed the open-files \
             limit; raise the limit (ulimit -n) or lower api.max_connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_reaches_the_hard_limit() {
        let soft = raise().expect("the limit can be raised to the hard limit");
        let limit = read().expect("readable");
        assert_eq!(soft, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }
}
