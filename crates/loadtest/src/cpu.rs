//! The CPU time a process has used, from `/proc/<pid>/stat`, so a report can
//! say what each side of the rush cost: the server (a child process of its
//! own) and the harness.

use std::time::Duration;

use anyhow::Context as _;

/// Clock ticks per second in `/proc/*/stat`. The kernel reports these in
/// USER_HZ, which is 100 on every Linux architecture we run on; reading
/// sysconf(_SC_CLK_TCK) would need unsafe FFI for the same number.
const TICKS_PER_SEC: u64 = 100;

/// User plus system CPU time of a process (all its threads): `None` is this
/// process.
pub fn cpu_time(pid: Option<u32>) -> anyhow::Result<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_ticks(&stat).with_context(|| format!("parsing {path}"))?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
}

/// The first process whose command name is one of `names`, such as the
/// database server a baseline run leans on, whose CPU is part of its cost.
pub fn find_process(names: &[&str]) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        names.contains(&comm.trim()).then_some(pid)
    })
}

/// utime + stime, fields 14 and 15 of the stat line. The command name
/// (field 2) is in parentheses and may itself hold spaces or parentheses,
/// so the fields are counted from the last `)`.
fn parse_ticks(stat: &str) -> anyhow::Result<u64> {
    let (_, rest) = stat.rsplit_once(')').context("no ')' after the command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (the state), so field n is at index n - 3.
    let field = |n: usize| -> anyhow::Result<u64> {
        let text = fields.get(n - 3).with_context(|| format!("no field {n}"))?;
        text.parse().with_context(|| format!("field {n} is {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// CPU time used between two readings, and as a share of one core over
/// `wall`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct CpuUse {
    pub cpu_s: f64,
    /// 100 is one core busy the whole time.
    pub core_pct: f64,
}

impl CpuUse {
    pub fn between(before: Duration, after: Duration, wall: Duration) -> CpuUse {
        let cpu_s = after.saturating_sub(before).as_secs_f64();
        let core_pct = if wall.is_zero() { 0.0 } else { 100.0 * cpu_s / wall.as_secs_f64() };
        CpuUse { cpu_s, core_pct }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_tricky_command_name() {
        let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1";
        assert_eq!(parse_ticks(stat).unwrap(), 325);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        let spin: u64 = (0..2_000_000u64).map(|n| n ^ (n >> 3)).sum();
        assert!(spin > 0);
        cpu_time(None).unwrap();
    }
}
