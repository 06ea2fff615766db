//! The service measures: `service_load` beside a trivial axum handler.

use std::process::Command;
use std::process::Stdio;

use anyhow::Context as _;
use anyhow::bail;
use serde_json::Value;

use super::pcsc::last_json_line;
use super::{Binaries, Bound, Row};

pub(super) fn service_rows(bin: &Binaries, seconds: f64, quick: bool) -> Vec<Row> {
    let names = [
        "service confirmations/s vs trivial axum handler (64 conns)",
        "service confirmations/s (64 conns)",
        "service confirmation p99 (64 conns)",
    ];
    let warmup = if quick { 0.5 } else { 2.0 };
    let run = |extra: &[String]| -> anyhow::Result<Value> {
        let output = Command::new(&bin.service_load)
            .env("RUST_BACKTRACE", "0")
            .args(extra)
            .args([
                "--concurrency",
                "64",
                "--seconds",
                &seconds.to_string(),
                "--warmup",
                &warmup.to_string(),
            ])
            .stderr(Stdio::null())
            .output()
            .context("cannot run service_load")?;
        if !output.status.success() {
            bail!("service_load failed ({})", output.status);
        }
        last_json_line(&output.stdout)
    };
    let mut rows = match run(&[]) {
        Ok(v) => {
            let get = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            vec![
                Row::new(names[0], "conf/s")
                    .ours(get("confirmations_per_s"))
                    .anchor("trivial axum handler", get("trivial_per_s"))
                    .target(Bound::RatioAtLeast(0.3)),
                Row::new(names[1], "conf/s")
                    .ours(get("confirmations_per_s"))
                    .target(Bound::AtLeast(5_000.0)),
                Row::new(names[2], "ms")
                    .ours(get("p99_ms"))
                    .target(Bound::AtMost(20.0)),
            ]
        }
        Err(e) => names.iter().map(|n| Row::failed(n, "", &e)).collect(),
    };
    // The same load with every challenge signed before the timed phase: the
    // service's own capacity, as when the clients sign on their own machines
    // (the honest run above shares these cores with 64 signing clients).
    // A figure beside the targets, not a verdict.
    let presigned = [
        "service confirmations/s, presigned (64 conns)",
        "service confirmation p99, presigned (64 conns)",
    ];
    let pool = ((seconds + warmup) * 9_000.0).ceil() as u64;
    match run(&["--presigned".into(), pool.to_string()]) {
        Ok(v) => {
            let get = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            rows.push(Row::new(presigned[0], "conf/s").ours(get("confirmations_per_s")));
            rows.push(Row::new(presigned[1], "ms").ours(get("p99_ms")));
        }
        Err(e) => rows.extend(presigned.iter().map(|n| Row::failed(n, "", &e))),
    }
    rows
}
