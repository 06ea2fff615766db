//! The machine's CPU counters, read from the first line of `/proc/stat`,
//! and the calling thread's own CPU time.
//!
//! Both bench binaries report how busy the whole machine was while they
//! measured (a figure taken on a busy machine says so beside it), and both
//! read the counters here, so they count busy time the same way.

/// Ticks per second of `/proc/stat`'s counters (Linux's `USER_HZ`, 100 on
/// every architecture it exposes to user space).
const TICKS_PER_SECOND: f64 = 100.0;

/// The aggregate `cpu` line of `/proc/stat`, in ticks since boot, summed
/// over every core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    /// Everything but idle and iowait.
    pub busy: u64,
    /// user, nice, system, idle, iowait, irq, softirq and steal (guest time
    /// is already counted in user and nice, so it is left out).
    pub total: u64,
}

impl CpuTicks {
    /// The counters now; `None` where there is no `/proc/stat` (not Linux)
    /// or it cannot be read.
    pub fn read() -> Option<CpuTicks> {
        CpuTicks::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The counters of a `/proc/stat` text: its first line, `cpu` and at
    /// least the five fields up to iowait.
    pub fn parse(stat: &str) -> Option<CpuTicks> {
        let mut fields = stat.lines().next()?.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let ticks: Vec<u64> = fields
            .take(8)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        if ticks.len() < 5 {
            return None;
        }
        let total: u64 = ticks.iter().sum();
        Some(CpuTicks {
            busy: total - ticks[3] - ticks[4],
            total,
        })
    }

    /// Busy CPU seconds since boot, all cores together.
    pub fn busy_seconds(&self) -> f64 {
        self.busy as f64 / TICKS_PER_SECOND
    }

    /// How many of `cores` were busy on average between `before` and now.
    pub fn busy_cores_since(&self, before: &CpuTicks, cores: usize) -> f64 {
        let total = self.total.saturating_sub(before.total).max(1) as f64;
        self.busy.saturating_sub(before.busy) as f64 / total * cores as f64
    }
}

/// CPU time the calling thread has run, from `/proc/thread-self/schedstat`
/// (nanoseconds; `/proc/self/stat` counts 10-ms ticks): what a measure done
/// on one thread cost, whatever else had the cores meanwhile.
pub fn thread_cpu_time() -> anyhow::Result<std::time::Duration> {
    use anyhow::Context as _;
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("cannot read /proc/thread-self/schedstat")?;
    let nanos: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("unexpected /proc/thread-self/schedstat")?;
    Ok(std::time::Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 20 30 800 50 5 5 10 7 0\ncpu0 50 10 15 400 25 2 2 5 3 0\n";

    #[test]
    fn busy_time_is_everything_but_idle_and_iowait() {
        let ticks = CpuTicks::parse(STAT).unwrap();
        assert_eq!(ticks.total, 1020);
        assert_eq!(ticks.busy, 170);
        assert_eq!(ticks.busy_seconds(), 1.7);
    }

    #[test]
    fn busy_cores_are_the_busy_share_of_the_elapsed_ticks() {
        let before = CpuTicks::parse(STAT).unwrap();
        let after = CpuTicks {
            busy: before.busy + 150,
            total: before.total + 200,
        };
        assert_eq!(after.busy_cores_since(&before, 2), 1.5);
        // No time elapsed is no busy core, not a division by zero.
        assert_eq!(before.busy_cores_since(&before, 2), 0.0);
    }

    #[test]
    fn a_text_that_is_not_proc_stat_is_no_reading() {
        assert_eq!(CpuTicks::parse(""), None);
        assert_eq!(CpuTicks::parse("intr 1 2 3 4 5"), None);
        assert_eq!(CpuTicks::parse("cpu 1 2 3 4"), None);
        assert_eq!(CpuTicks::parse("cpu 1 2 x 4 5"), None);
    }
}
