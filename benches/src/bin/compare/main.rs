//! Our figures beside reference ones, measured on the same machine in the
//! same run, as ratios against the project's targets.
//!
//! | measure | ours | anchor | target |
//! |---|---|---|---|
//! | RSA-2048 signatures/s | the card's COMPUTE DIGITAL SIGNATURE, in process | `openssl speed rsa2048` sign/s | ratio ≥ 0.9 |
//! | P-256 signatures/s | the iPhone's, Face ID window open | `openssl speed ecdsap256` sign/s | ratio ≥ 0.8 |
//! | APDU/s through pcscd + vpcd | `kazasu card` in slot 0 | `benches/anchors/echo_card.py` in slot 1, same loop, both at the same time | ratio ≥ 1.0 |
//! | APDU/s through pcscd + vpcd | `kazasu card` in slot 0 | vsmartcard's Python `vicc` in slot 1 | ratio ≥ 500, and ≥ 10,000/s |
//! | fresh card start | a new process issues the default card, empty key cache (shipped keys) | — | < 50 ms |
//! | fresh card start, own seed | keys derived (a figure), then from the key cache | — | cached < 50 ms |
//! | confirmation card sequences/s through pcscd | `kazasu card`, every answer checked | — | (figure only) |
//! | service confirmations/s | `service_load` | a trivial axum handler, same run | ratio ≥ 0.3, ≥ 5,000/s, p99 < 20 ms |
//! | scenario suite wall time | `kazasu run scenarios/`, in process and through pcscd (every vpcd slot) | — | < 15 s each |
//!
//! Signatures run on one thread, like `openssl speed` without `-multi`. The
//! pcscd measures take `/tmp/kazasu-pcscd.lock` (pcscd is shared), and use
//! the sibling binaries of this one (`kazasu`, `pcsc_apdu_loop`,
//! `service_load`); run under cargo, it builds them first.
//!
//! The machine is shared and small, so absolute figures move from run to
//! run: the report gives the load average and how busy the cores were, and
//! the ratios, taken side by side, are what to read.
//!
//! ```text
//! cargo run --release -p kazasu-benches --bin compare -- [--quick] [--seconds 5]
//!     [--json FILE] [--svg FILE] [--no-pcsc] [--markdown]
//! ```
//!
//! Exit status: 1 when a target is missed or a measure failed, except with
//! `--quick` (a CI smoke: short runs, every measure must merely run); the
//! table and verdicts are printed either way, and no backtrace. 2 when
//! `compare` itself cannot run.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Parser;
use kazasu_benches::proc_stat::CpuTicks;
use serde::Serialize;

use fresh_card::fresh_card_rows;
use machine::{Load, Machine, load_average};
use pcsc::pcsc_rows;
use scenarios::scenario_row;
use service::service_rows;
use signatures::signature_rows;
use svg::svg;
use table::{markdown_table, table};

mod fresh_card;
mod machine;
mod pcsc;
mod scenarios;
mod service;
mod signatures;
mod svg;
mod table;

/// The lock every pcscd user of the project takes (CONTRIBUTING.md).
const PCSCD_LOCK: &str = "/tmp/kazasu-pcscd.lock";
/// Debian's vpcd: slot 0 listens on 35963, slot 1 on 35964.
const SLOT0: (&str, &str) = ("127.0.0.1:35963", "Virtual PCD 00 00");
const SLOT1_PORT: &str = "35964";
const SLOT1_READER: &str = "Virtual PCD 00 01";
/// The minimal vpcd card (Python, answers every APDU `9000`): the anchor of
/// the APDU link.
const ECHO_CARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/anchors/echo_card.py");
/// SELECT MF: a command vicc's `iso7816` card answers `9000`.
const SELECT_MF: &str = "00A4000C023F00";

#[derive(Parser, Debug)]
#[command(about = "Our figures beside the reference ones, as ratios against targets")]
struct Args {
    /// CI smoke: one-second runs; every measure must run, no target fails the run.
    #[arg(long)]
    quick: bool,
    /// Seconds of each timed measure (default 5; 1 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Also write the rows, the machine and its load as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also draw each measure against its target as an SVG bar chart here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Skip the measures that need pcscd and vpcd.
    #[arg(long)]
    no_pcsc: bool,
    /// Print the table as Markdown (for the README's performance section).
    #[arg(long)]
    markdown: bool,
    /// The scenario directory for the suite's wall time (run from the
    /// repository root for the default).
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
}

/// What a row's target bounds: the ratio to the anchor, or our own figure.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Bound {
    RatioAtLeast(f64),
    AtLeast(f64),
    AtMost(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Met,
    Missed,
    /// A figure without a target.
    Figure,
    /// The measure did not run; `error` says why.
    Failed,
    /// --quick: measured, not judged.
    Smoke,
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    measure: String,
    unit: &'static str,
    ours: Option<f64>,
    anchor_name: Option<String>,
    anchor: Option<f64>,
    ratio: Option<f64>,
    target: Option<Bound>,
    verdict: Verdict,
    error: Option<String>,
}

impl Row {
    fn new(measure: &str, unit: &'static str) -> Row {
        Row {
            measure: measure.into(),
            unit,
            ours: None,
            anchor_name: None,
            anchor: None,
            ratio: None,
            target: None,
            verdict: Verdict::Figure,
            error: None,
        }
    }

    fn ours(mut self, value: f64) -> Row {
        self.ours = Some(value);
        self
    }

    fn anchor(mut self, name: &str, value: f64) -> Row {
        self.anchor_name = Some(name.into());
        self.anchor = Some(value);
        self.ratio = self.ours.map(|ours| ours / value);
        self
    }

    fn target(mut self, bound: Bound) -> Row {
        self.target = Some(bound);
        self
    }

    fn failed(measure: &str, unit: &'static str, error: &anyhow::Error) -> Row {
        Row {
            verdict: Verdict::Failed,
            error: Some(format!("{error:#}")),
            ..Row::new(measure, unit)
        }
    }

    /// How far the row is toward its target: 1 is exactly on it, more is
    /// better, whichever way the bound points.
    fn score(&self) -> Option<f64> {
        match self.target? {
            Bound::RatioAtLeast(t) => Some(self.ratio? / t),
            Bound::AtLeast(t) => Some(self.ours? / t),
            Bound::AtMost(t) => Some(t / self.ours?),
        }
    }

    fn judge(mut self, quick: bool) -> Row {
        if self.verdict == Verdict::Failed {
            return self;
        }
        self.verdict = match (self.score(), quick) {
            (None, _) => Verdict::Figure,
            (Some(_), true) => Verdict::Smoke,
            (Some(score), false) if score >= 1.0 => Verdict::Met,
            (Some(_), false) => Verdict::Missed,
        };
        self
    }
}

/// A missed target or a failed measure is a verdict in the table, not an
/// error: the table, the verdicts and one line saying what went wrong, exit
/// status 1, and no backtrace. Status 2 is for `compare` itself failing.
fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("compare: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the measures and prints them; whether every target was met (with
/// `--quick`: whether every measure ran).
fn run(args: Args) -> anyhow::Result<bool> {
    let seconds = args.seconds.unwrap_or(if args.quick { 1.0 } else { 5.0 });
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("--seconds must be positive");
    }
    let bin = Binaries::find()?;
    let machine = Machine::describe();
    let cpu_before = CpuTicks::read();
    let load_before = load_average();
    let started = Instant::now();
    eprintln!(
        "compare: {} ({} cores), load average {load_before}; {seconds} s per measure",
        machine.cpu, machine.cores
    );

    let mut rows = Vec::new();
    rows.extend(signature_rows(seconds));
    rows.extend(fresh_card_rows(&bin));
    if args.no_pcsc {
        eprintln!("compare: --no-pcsc: skipping the pcscd measures");
    } else {
        rows.extend(pcsc_rows(&bin, seconds, &args.scenarios));
    }
    rows.extend(service_rows(&bin, seconds, args.quick));
    rows.push(scenario_row(
        &bin,
        &args.scenarios,
        false,
        "scenario suite, in process",
    ));
    let rows: Vec<Row> = rows.into_iter().map(|r| r.judge(args.quick)).collect();

    let load = Load {
        load_average_before: load_before,
        load_average_after: load_average(),
        busy_cores: cpu_before
            .and_then(|before| Some(CpuTicks::read()?.busy_cores_since(&before, machine.cores))),
        seconds: started.elapsed().as_secs_f64(),
    };
    if args.markdown {
        print!("{}", markdown_table(&rows));
    } else {
        print!("{}", table(&rows));
    }
    println!(
        "{}machine: {}, {} cores, {}; load average {} before, {} after; {} cores busy on average over {:.0} s (this run included)",
        if args.markdown { "\n" } else { "" },
        machine.cpu,
        machine.cores,
        machine.os,
        load.load_average_before,
        load.load_average_after,
        load.busy_cores
            .map_or_else(|| "?".into(), |b| format!("{b:.2}")),
        load.seconds
    );
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "quick": args.quick,
            "seconds_per_measure": seconds,
            "machine": machine,
            "load": load,
            "rows": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, svg(&rows, &machine, &load))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let missed = rows.iter().filter(|r| r.verdict == Verdict::Missed).count();
    let failed = rows.iter().filter(|r| r.verdict == Verdict::Failed).count();
    if failed > 0 {
        eprintln!("compare: {failed} measure(s) failed to run");
    }
    if missed > 0 {
        eprintln!("compare: {missed} measure(s) missed their target");
    }
    Ok(failed == 0 && (missed == 0 || args.quick))
}

/// The binaries `compare` runs: its siblings in cargo's target directory.
struct Binaries {
    kazasu: PathBuf,
    pcsc_apdu_loop: PathBuf,
    service_load: PathBuf,
    fresh_card: PathBuf,
}

impl Binaries {
    fn find() -> anyhow::Result<Binaries> {
        let exe = std::env::current_exe().context("where is this binary?")?;
        let dir = exe.parent().context("this binary has no directory")?;
        // Under `cargo run --bin compare`, cargo built this binary alone:
        // build its siblings, so that the figures are of the current code.
        if let Some(cargo) = std::env::var_os("CARGO") {
            let release = dir.ends_with("release");
            let mut build = Command::new(cargo);
            build.args(["build", "-p", "kazasu", "-p", "kazasu-benches", "--bins"]);
            if release {
                build.arg("--release");
            }
            let status = build.status().context("cannot run cargo build")?;
            if !status.success() {
                bail!("cargo build -p kazasu -p kazasu-benches failed");
            }
        }
        let bin = Binaries {
            kazasu: dir.join("kazasu"),
            pcsc_apdu_loop: dir.join("pcsc_apdu_loop"),
            service_load: dir.join("service_load"),
            fresh_card: dir.join("fresh_card"),
        };
        for path in [
            &bin.kazasu,
            &bin.pcsc_apdu_loop,
            &bin.service_load,
            &bin.fresh_card,
        ] {
            if !path.exists() {
                bail!(
                    "{} is missing: cargo build --release -p kazasu -p kazasu-benches",
                    path.display()
                );
            }
        }
        Ok(bin)
    }
}
