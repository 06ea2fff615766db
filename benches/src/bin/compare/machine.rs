//! The machine and its load, reported beside the figures.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub(super) struct Machine {
    pub(super) cpu: String,
    pub(super) cores: usize,
    pub(super) os: String,
}

impl Machine {
    pub(super) fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or("unknown CPU".into(), |(_, v)| v.trim().to_string());
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or("unknown OS".into(), |v| v.trim_matches('"').to_string());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os,
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Load {
    pub(super) load_average_before: String,
    pub(super) load_average_after: String,
    /// Cores busy on average during the run (everyone's work, ours included).
    pub(super) busy_cores: Option<f64>,
    pub(super) seconds: f64,
}

/// The 1-, 5- and 15-minute load averages.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
