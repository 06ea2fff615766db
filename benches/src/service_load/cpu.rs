//! CPU accounting of a load phase: what each side of this process (the
//! server's runtime, the client's) and the whole machine used, so that a
//! figure taken on a busy machine, or one where the client's signing took
//! the server's cores, says so.

use std::collections::HashMap;
use std::time::Duration;

use crate::proc_stat::CpuTicks;

/// The server runtime's thread name, so its CPU time can be told apart.
pub(super) const SERVER_THREADS: &str = "svc-server";
/// The client runtime's thread name.
pub(super) const CLIENT_THREADS: &str = "load-client";

/// CPU seconds used during a measured window: by each side of this process,
/// and by the whole machine (other processes included, which is how a run
/// on a busy machine shows itself).
#[derive(Default, Clone, Copy)]
pub(super) struct Cpu {
    pub(super) server: f64,
    pub(super) client: f64,
    pub(super) other: f64,
    pub(super) machine: f64,
}

impl Cpu {
    /// Cores that processes other than this one kept busy, on average over
    /// `seconds`.
    pub(super) fn others_cores(&self, seconds: f64) -> f64 {
        (self.machine - self.server - self.client - self.other) / seconds
    }
}

/// A reading to take a window's CPU from: per thread name, and the machine.
pub(super) struct CpuMark {
    threads: HashMap<String, Duration>,
    machine: f64,
}

impl CpuMark {
    pub(super) fn now() -> CpuMark {
        CpuMark {
            threads: cpu_by_thread_name(),
            machine: machine_busy(),
        }
    }

    /// What was used since this mark.
    pub(super) fn used(&self) -> Cpu {
        let after = cpu_by_thread_name();
        let mut cpu = Cpu {
            machine: machine_busy() - self.machine,
            ..Cpu::default()
        };
        for (name, total) in &after {
            let used = total
                .saturating_sub(self.threads.get(name).copied().unwrap_or_default())
                .as_secs_f64();
            // comm is cut at 15 bytes; both names are shorter.
            if name.starts_with(SERVER_THREADS) {
                cpu.server += used;
            } else if name.starts_with(CLIENT_THREADS) {
                cpu.client += used;
            } else {
                cpu.other += used;
            }
        }
        cpu
    }
}

/// Busy CPU seconds of the whole machine since boot (NaN where /proc/stat
/// cannot be read, so the figure shows as unknown rather than as zero).
fn machine_busy() -> f64 {
    CpuTicks::read().map_or(f64::NAN, |ticks| ticks.busy_seconds())
}

/// CPU time per thread name (summed), from /proc: `schedstat`'s first field
/// is the nanoseconds a thread ran. Threads that end between two readings
/// take their time with them, which is why both runtimes keep their threads.
fn cpu_by_thread_name() -> HashMap<String, Duration> {
    let mut by_name: HashMap<String, Duration> = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ran_ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or_default();
        *by_name.entry(name.trim().to_string()).or_default() += Duration::from_nanos(ran_ns);
    }
    by_name
}

/// A multi-thread runtime whose threads carry `name` (one of
/// [`SERVER_THREADS`], [`CLIENT_THREADS`]), so their CPU time is counted on
/// their side.
pub(super) fn named_runtime(name: &'static str) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        // Blocking-pool threads of the server (SQLite, certificate checks)
        // outlive a phase, so their CPU time is still there to read.
        .thread_keep_alive(Duration::from_secs(3600))
        .build()?)
}
