//! The process's resident memory from `/proc/self/status`: now (`VmRSS`) and at its
//! peak (`VmHWM`), in MiB. Both are per process, which is why each row of the load
//! tool runs in a process of its own.

/// Reads one `kB` field of `/proc/self/status` as MiB (0 where unavailable).
fn status_field_mib(field: &str) -> f64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0.0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

/// Resident memory now, in MiB.
pub fn current_mib() -> f64 {
    status_field_mib("VmRSS:")
}

/// The peak resident memory of the process so far, in MiB.
pub fn peak_mib() -> f64 {
    status_field_mib("VmHWM:")
}

/// CPU seconds (user + system) used so far by this process's threads whose name
/// starts with `prefix` (`/proc/self/task/*/stat`; names are cut to 15 bytes).
pub fn thread_cpu_secs(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (name) state ..." : the name may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the name: state is field 3 of stat(5); utime and stime are 14 and 15.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        total += (ticks(11) + ticks(12)) / ticks_per_sec;
    }
    total
}
