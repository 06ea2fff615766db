//! The fresh card measure: new processes that each issue the default card.

use std::process::Command;
use std::process::Stdio;

use anyhow::Context as _;
use anyhow::bail;

use super::pcsc::last_json_line;
use super::{Binaries, Bound, Row};

/// New processes that each issue the default card (`fresh_card`): the keys
/// memo is empty in each. With an empty key cache the first one derives its
/// four keys (two CAs', the card's two) and stores them: the figure of a
/// machine's first run. The next ones load them from that cache, as every
/// later run does: that start has the target, < 50 ms, the median of five.
pub(super) fn fresh_card_rows(bin: &Binaries) -> Vec<Row> {
    let derived = "fresh card start, keys derived (empty key cache)";
    let cached = "fresh card start (new process, key cache filled)";
    let dir = std::env::temp_dir().join(format!("kazasu-compare-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let once = || -> anyhow::Result<f64> {
        let output = Command::new(&bin.fresh_card)
            .env("RUST_BACKTRACE", "0")
            .env("KAZASU_CACHE_DIR", &dir)
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
    let first = once();
    let mut rows = vec![match &first {
        Ok(ms) => Row::new(derived, "ms").ours(*ms),
        Err(e) => Row::failed(derived, "ms", e),
    }];
    let warm: anyhow::Result<Vec<f64>> = (0..5).map(|_| once()).collect();
    rows.push(match warm {
        Ok(mut runs) => {
            runs.sort_by(f64::total_cmp);
            Row::new(cached, "ms")
                .ours(runs[runs.len() / 2])
                .target(Bound::AtMost(50.0))
        }
        Err(e) => Row::failed(cached, "ms", &e),
    });
    let _ = std::fs::remove_dir_all(&dir);
    rows
}
