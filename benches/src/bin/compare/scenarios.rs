//! The scenario suite's wall time, in process and through pcscd.

use std::path::Path;
use std::process::Command;
use std::process::Stdio;
use std::time::Instant;

use anyhow::anyhow;

use super::{Binaries, Bound, Row};

/// Wall time of `kazasu run <scenarios>`; through pcscd with `pcsc` (the
/// caller holds the lock; `kazasu run` puts a card into every vpcd slot it
/// finds at once). Both have the target of issue 16, < 15 s.
pub(super) fn scenario_row(bin: &Binaries, scenarios: &Path, pcsc: bool, name: &str) -> Row {
    let mut command = Command::new(&bin.kazasu);
    command.env("RUST_BACKTRACE", "0").arg("run").arg(scenarios);
    if pcsc {
        command.args(["--transport", "pcsc"]);
    }
    let start = Instant::now();
    let result = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let elapsed = start.elapsed().as_secs_f64();
    let row = match result {
        Ok(output) if output.status.success() => Row::new(name, "s").ours(elapsed),
        Ok(output) => {
            let e = anyhow!(
                "kazasu run {}failed: {}",
                if pcsc { "--transport pcsc " } else { "" },
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return Row::failed(name, "s", &e);
        }
        Err(e) => return Row::failed(name, "s", &anyhow!(e).context("cannot run kazasu")),
    };
    row.target(Bound::AtMost(15.0))
}
