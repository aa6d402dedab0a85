//! The process's resident memory from `/proc/self/status`: now (`VmRSS`) and at its
//! peak (`VmHWM`), in MiB. Both are per process, which is why each row of the load
//! tool runs in a process of its own.

/// Reads one `kB` field of a `/proc/*/status` file as MiB (0 where unavailable).
fn status_field_mib(status_path: &str, field: &str) -> f64 {
    let Ok(status) = std::fs::read_to_string(status_path) else {
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
    status_field_mib("/proc/self/status", "VmRSS:")
}

/// The peak resident memory of the process so far, in MiB.
pub fn peak_mib() -> f64 {
    status_field_mib("/proc/self/status", "VmHWM:")
}

/// The peak resident memory of process `pid` so far, in MiB.
pub fn peak_mib_of(pid: u32) -> f64 {
    status_field_mib(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// CPU seconds (user + system) used so far by process `pid`, all its threads.
pub fn process_cpu_secs(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(0.0, |stat| stat_cpu_secs(&stat))
}

/// CPU seconds (user + system) used so far by process `root` and its children, the
/// live ones and those it has reaped (a PostgreSQL server: the postmaster and its
/// backends). A child that exits between two readings moves from one sum to the
/// other, so differences stay right.
pub fn process_tree_cpu_secs(root: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{root}/stat")) else {
        return 0.0;
    };
    let mut total = stat_cpu_secs(&stat) + stat_children_cpu_secs(&stat);
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return total;
    };
    for process in processes.flatten() {
        let Ok(stat) = std::fs::read_to_string(process.path().join("stat")) else {
            continue;
        };
        if stat_field(&stat, 1) == Some(f64::from(root)) {
            total += stat_cpu_secs(&stat);
        }
    }
    total
}

/// Field `i` of a `stat` line, counted from the state (field 3 of stat(5)) as 0.
fn stat_field(stat: &str, i: usize) -> Option<f64> {
    let close = stat.rfind(')')?;
    stat[close + 1..].split_whitespace().nth(i)?.parse().ok()
}

/// cutime + cstime of one `stat` line: the reaped children's CPU, in seconds.
fn stat_children_cpu_secs(stat: &str) -> f64 {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    (stat_field(stat, 13).unwrap_or(0.0) + stat_field(stat, 14).unwrap_or(0.0)) / ticks_per_sec
}

/// CPU seconds (user + system) used so far by this process's threads whose name
/// starts with `prefix` (`/proc/self/task/*/stat`; names are cut to 15 bytes).
pub fn thread_cpu_secs(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut total = 0.0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (name) state ..." : the name may hold spaces, so it ends at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if stat[open + 1..close].starts_with(prefix) {
            total += stat_cpu_secs(&stat);
        }
    }
    total
}

/// utime + stime of one `stat` line (stat(5)), in seconds.
fn stat_cpu_secs(stat: &str) -> f64 {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state is field 3 of stat(5); utime and stime are 14 and 15.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / ticks_per_sec
}
