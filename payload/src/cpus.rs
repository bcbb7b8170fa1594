//! How many CPUs this process may use, to size the unpacker's threads.
//!
//! # Implementation
//! On Linux: the CPUs the process may run on (`sched_getaffinity`, which `taskset` and a
//! container's `--cpuset-cpus` set), capped by the CPU quota of its cgroup v2 and of every
//! ancestor (`cpu.max`, which a container's `--cpus` sets), at least 1. That is what std's
//! `available_parallelism` computes, minus its cgroup v1 support and mount-point discovery:
//! those were 11 KB of the launcher stub, which is size-bound (README, "Warm start against
//! wrappe"). Elsewhere std's function is used.
//!
//! # Alternatives
//! `available_parallelism` itself (the bytes above), or the affinity alone: a container limited
//! to one CPU by quota on a large host would then start the most decoders, each with its own
//! 8 MiB window, in a container that is often memory-limited too.
//!
//! # Limitations
//! A cgroup v1 CPU quota is not seen (the affinity still is); cgroup v2 is the default of every
//! current distribution and container runtime. Only called on a cold start, never on a warm one.

/// CPUs available to this process, at least 1.
pub(crate) fn available() -> usize {
    #[cfg(target_os = "linux")]
    {
        let affinity = affinity().unwrap_or(1);
        let quota = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|text| cgroup_v2_path(&text).map(str::to_owned))
            .and_then(|path| {
                quota_along(&path, |dir| std::fs::read_to_string(format!("/sys/fs/cgroup{dir}/cpu.max")).ok())
            });
        quota.map_or(affinity, |q| affinity.min(q)).max(1)
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }
}

/// The CPUs of this process's affinity mask.
#[cfg(target_os = "linux")]
fn affinity() -> Option<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            let n = libc::sysconf(libc::_SC_NPROCESSORS_ONLN);
            return usize::try_from(n).ok().filter(|&n| n > 0);
        }
        usize::try_from(libc::CPU_COUNT(&set)).ok().filter(|&n| n > 0)
    }
}

/// The cgroup v2 path in `/proc/self/cgroup` (the `0::<path>` line).
fn cgroup_v2_path(text: &str) -> Option<&str> {
    text.lines().find_map(|line| line.strip_prefix("0::")).filter(|p| p.starts_with('/'))
}

/// The smallest CPU quota of the cgroup at `path` and its ancestors (`read` gives a cgroup's
/// `cpu.max`), in whole CPUs (at least 1); `None` when none has a quota.
fn quota_along(path: &str, read: impl Fn(&str) -> Option<String>) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut dir = path.trim_end_matches('/');
    loop {
        if let Some(cpus) = read(dir).as_deref().and_then(quota_cpus) {
            best = Some(best.map_or(cpus, |b| b.min(cpus)));
        }
        if dir.is_empty() {
            return best;
        }
        dir = dir.rsplit_once('/').map_or("", |(parent, _)| parent);
    }
}

/// `cpu.max`'s `<quota> <period>` in whole CPUs (at least 1); `None` for `max` (no quota) or
/// anything unparsable.
fn quota_cpus(text: &str) -> Option<usize> {
    let mut fields = text.split_whitespace();
    let quota: u64 = fields.next()?.parse().ok()?;
    let period: u64 = fields.next().unwrap_or("100000").parse().ok()?;
    if period == 0 {
        return None;
    }
    usize::try_from((quota / period).max(1)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_in_whole_cpus() {
        assert_eq!(quota_cpus("max 100000\n"), None);
        assert_eq!(quota_cpus("200000 100000\n"), Some(2));
        assert_eq!(quota_cpus("50000 100000\n"), Some(1), "half a CPU still runs one thread");
        assert_eq!(quota_cpus("150000 100000"), Some(1));
        assert_eq!(quota_cpus("100000 0"), None);
        assert_eq!(quota_cpus("garbage"), None);
        assert_eq!(quota_cpus(""), None);
    }

    #[test]
    fn the_v2_line_names_the_cgroup() {
        assert_eq!(cgroup_v2_path("0::/user.slice/session-1.scope\n"), Some("/user.slice/session-1.scope"));
        assert_eq!(cgroup_v2_path("12:cpu,cpuacct:/x\n0::/\n"), Some("/"));
        assert_eq!(cgroup_v2_path("12:cpu,cpuacct:/x\n"), None, "cgroup v1 only");
    }

    #[test]
    fn the_smallest_quota_along_the_hierarchy_wins() {
        let files = |dir: &str| -> Option<String> {
            match dir {
                "/a/b/c" => Some("max 100000".into()),
                "/a/b" => Some("300000 100000".into()),
                "/a" => Some("200000 100000".into()),
                "" => None,
                _ => None,
            }
        };
        assert_eq!(quota_along("/a/b/c", files), Some(2));
        assert_eq!(quota_along("/a/b/c/", files), Some(2));
        assert_eq!(quota_along("/x", files), None);
        assert_eq!(quota_along("/", |_| None), None);
    }

    #[test]
    fn this_process_may_use_at_least_one_cpu_and_no_more_than_std_says() {
        let n = available();
        assert!(n >= 1);
        #[cfg(target_os = "linux")]
        assert!(n <= affinity().unwrap_or(usize::MAX), "{n}");
        // std applies the same rules (and cgroup v1's): where only v2 or nothing limits this
        // process, the two agree.
        let std_n = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert!(n >= std_n, "{n} < std's {std_n}: a quota seen by std only (cgroup v1?)");
    }
}
