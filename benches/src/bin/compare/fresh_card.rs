//! The fresh card measure: new processes that each issue the default card.

use std::process::Command;
use std::process::Stdio;

use anyhow::Context as _;
use anyhow::bail;

use super::pcsc::last_json_line;
use super::{Binaries, Bound, Row};

/// New processes that each issue the default card (`fresh_card`): the keys
/// memo is empty in each, and so is the key cache (a directory of its own
/// per run, as on a CI machine): the built-in profile's keys and the CAs'
/// come from the shipped table. That start has the target, < 50 ms, the
/// median of five. Then a card with a seed of its own (keys no table ships):
/// derived once with an empty cache (the figure of a user's own profile on
/// its first run), then loaded from the cache that run filled (the median of
/// five, also < 50 ms).
pub(super) fn fresh_card_rows(bin: &Binaries) -> Vec<Row> {
    let shipped = "fresh card start, built-in profile (new process, empty key cache)";
    let derived = "fresh card start, own seed, keys derived (empty key cache)";
    let cached = "fresh card start, own seed (new process, key cache filled)";
    let base = std::env::temp_dir().join(format!("kazasu-compare-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let once = |dir: &std::path::Path, seed: Option<&str>| -> anyhow::Result<f64> {
        let mut command = Command::new(&bin.fresh_card);
        if let Some(seed) = seed {
            command.args(["--seed", seed]);
        }
        let output = command
            .env("RUST_BACKTRACE", "0")
            .env("KAZASU_CACHE_DIR", dir)
            .stderr(Stdio::piped())
            .output()
            .context("cannot run fresh_card")?;
        if !output.status.success() {
            bail!(
                "fresh_card failed: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
        }
        last_json_line(&output.stdout)?["ms"]
            .as_f64()
            .context("fresh_card gave no ms")
    };
    let median = |runs: anyhow::Result<Vec<f64>>, name: &str| match runs {
        Ok(mut runs) => {
            runs.sort_by(f64::total_cmp);
            Row::new(name, "ms")
                .ours(runs[runs.len() / 2])
                .target(Bound::AtMost(50.0))
        }
        Err(e) => Row::failed(name, "ms", &e),
    };
    let mut rows = vec![median(
        (0..5)
            .map(|i| once(&base.join(format!("empty-{i}")), None))
            .collect(),
        shipped,
    )];
    // A seed of this run's own: no earlier run's cache can hold it.
    let seed = format!("kazasu-compare-{}", std::process::id());
    let own = base.join("own");
    rows.push(match once(&own, Some(&seed)) {
        Ok(ms) => Row::new(derived, "ms").ours(ms),
        Err(e) => Row::failed(derived, "ms", &e),
    });
    rows.push(median(
        (0..5).map(|_| once(&own, Some(&seed))).collect(),
        cached,
    ));
    let _ = std::fs::remove_dir_all(&base);
    rows
}
