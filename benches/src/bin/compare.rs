//! Our figures beside reference ones, measured on the same machine in the
//! same run, as ratios against the project's targets.
//!
//! | measure | ours | anchor | target |
//! |---|---|---|---|
//! | RSA-2048 signatures/s | the card's COMPUTE DIGITAL SIGNATURE, in process | `openssl speed rsa2048` sign/s | ratio ≥ 0.9 |
//! | P-256 signatures/s | the iPhone's, Face ID window open | `openssl speed ecdsap256` sign/s | ratio ≥ 0.8 |
//! | APDU/s through pcscd + vpcd | `kazasu card` in slot 0 | `benches/anchors/echo_card.py` in slot 1, same loop | ratio ≥ 1.0 |
//! | APDU/s through pcscd + vpcd | `kazasu card` in slot 0 | vsmartcard's Python `vicc` in slot 1 | ratio ≥ 500, and ≥ 10,000/s |
//! | fresh card start | a new process issues the default card, key cache filled | — | < 50 ms (empty cache: a figure) |
//! | confirmation card sequences/s through pcscd | `kazasu card` | — | (figure only) |
//! | service confirmations/s | `service_load` | a trivial axum handler, same run | ratio ≥ 0.3, ≥ 5,000/s, p99 < 20 ms |
//! | scenario suite wall time | `kazasu run scenarios/` | — | < 15 s in process; through pcscd a figure only |
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

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;
use kazasu_benches::proc_stat::CpuTicks;
use kazasu_benches::{issue, signature_command};
use serde::Serialize;
use serde_json::Value;
use sim_card::iso7816::{StatusWord, select_aid, select_ef, verify};
use sim_card::mynumber::{EF_AUTH_KEY, EF_AUTH_PIN, JPKI_AID};
use sim_card::variant::Variant;

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

// ---------------------------------------------------------------- signatures

fn signature_rows(seconds: f64) -> Vec<Row> {
    vec![
        signature_row(
            "card RSA-2048 signatures/s (physical card)",
            None,
            ("openssl speed rsa2048", "rsa2048", "+F2:"),
            0.9,
            seconds,
        ),
        signature_row(
            "card P-256 signatures/s (iPhone, Face ID)",
            Some(Variant::Iphone),
            ("openssl speed ecdsap256", "ecdsap256", "+F4:"),
            0.8,
            seconds,
        ),
    ]
}

/// Ours and OpenSSL's in alternating one-second rounds, the best round of
/// each: other work on a shared machine comes and goes within seconds, and
/// alternating gives both sides the same chances of a quiet round. Both
/// count signatures per second of CPU (see [`thread_cpu_time`]).
fn signature_row(
    name: &str,
    variant: Option<Variant>,
    (anchor_name, algorithm, prefix): (&str, &str, &str),
    target: f64,
    seconds: f64,
) -> Row {
    let rounds = (seconds.round() as usize).max(1);
    let mut best = (0.0_f64, 0.0_f64);
    for _ in 0..rounds {
        match (
            card_signatures(variant, 1.0),
            openssl_speed(algorithm, prefix, 1.0),
        ) {
            (Ok(ours), Ok(anchor)) => best = (best.0.max(ours), best.1.max(anchor)),
            (Err(e), _) | (_, Err(e)) => return Row::failed(name, "sign/s", &e),
        }
    }
    Row::new(name, "sign/s")
        .ours(best.0)
        .anchor(&format!("{anchor_name}, best of {rounds} s"), best.1)
        .target(Bound::RatioAtLeast(target))
}

/// COMPUTE DIGITAL SIGNATURE per CPU second on one thread, in process, on the
/// default card on `variant` (the key selected, the PIN verified or the
/// iPhone's Face ID window open).
fn card_signatures(variant: Option<Variant>, seconds: f64) -> anyhow::Result<f64> {
    let mut bench = issue("default", variant)?;
    let now = Instant::now();
    let card = &mut bench.card;
    let mut setup = vec![select_aid(JPKI_AID)];
    match &bench.auth_pin {
        Some(pin) => setup.extend([select_ef(EF_AUTH_PIN), verify(pin)]),
        None => {
            card.authenticate_holder(now);
        }
    }
    setup.push(select_ef(EF_AUTH_KEY));
    for command in &setup {
        let sw = card.process_at(command, now).sw;
        if sw != StatusWord::Ok {
            bail!("{} answered {sw:?}", hex::encode_upper(command));
        }
    }
    let sign = signature_command();
    let deadline = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let cpu_start = thread_cpu_time()?;
    let mut count = 0u64;
    while start.elapsed() < deadline {
        let response = card.process_at(&sign, now);
        if response.sw != StatusWord::Ok {
            bail!("the card stopped signing: {:?}", response.sw);
        }
        count += 1;
    }
    let cpu = thread_cpu_time()?.saturating_sub(cpu_start);
    Ok(count as f64 / cpu.as_secs_f64().max(1e-9))
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat`.
///
/// Signatures per second are counted per second of CPU on both sides:
/// `openssl speed` divides by its user CPU time unless given `-elapsed`, so
/// on a busy machine dividing ours by wall time would charge the card for
/// the time other processes had the core.
fn thread_cpu_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("cannot read /proc/thread-self/schedstat")?;
    let nanos: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("unexpected /proc/thread-self/schedstat")?;
    Ok(Duration::from_nanos(nanos))
}

/// Sign/s from `openssl speed -mr`: its line `+F2:k:bits:sign/s:verify/s`
/// (RSA) or `+F4:…` (ECDSA).
fn openssl_speed(algorithm: &str, prefix: &str, seconds: f64) -> anyhow::Result<f64> {
    let seconds = (seconds.round() as u64).max(1).to_string();
    let output = Command::new("openssl")
        .args(["speed", "-mr", "-seconds", &seconds, algorithm])
        .stderr(Stdio::null())
        .output()
        .context("cannot run openssl speed")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|rest| rest.split(':').nth(2)?.parse().ok())
        .with_context(|| format!("no {prefix} line in openssl speed's output:\n{text}"))
}

// ---------------------------------------------------------------- fresh card

/// New processes that each issue the default card (`fresh_card`): the keys
/// memo is empty in each. With an empty key cache the first one derives its
/// four keys (two CAs', the card's two) and stores them: the figure of a
/// machine's first run. The next ones load them from that cache, as every
/// later run does: that start has the target, < 50 ms, the median of five.
fn fresh_card_rows(bin: &Binaries) -> Vec<Row> {
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

// --------------------------------------------------------------- pcscd, vpcd

/// The project-wide pcscd lock, held by a `flock` child for as long as this
/// value lives. The child holds it in `cat`, reading a pipe from us: however
/// this process ends (even killed, when no destructor runs), the pipe closes,
/// `cat` ends and the lock is free. A child that outlived us would block
/// every pcscd user on the machine.
struct PcscdLock(Child);

impl PcscdLock {
    fn take() -> anyhow::Result<PcscdLock> {
        eprintln!("compare: waiting for {PCSCD_LOCK}");
        let mut child = Command::new("flock")
            .args([
                "-w",
                "1800",
                PCSCD_LOCK,
                "-c",
                "echo locked; exec cat >/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot run flock")?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("flock's stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "locked" {
            let _ = child.kill();
            bail!("could not take {PCSCD_LOCK}");
        }
        Ok(PcscdLock(child))
    }
}

impl Drop for PcscdLock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A card in a vpcd slot (`kazasu card`, `vicc`), run by a shell that stops
/// it when its standard input closes: when this value is dropped, or when
/// this process ends in any way. An orphaned card would hold the slot.
struct Running(Child);

impl Running {
    fn start(program: &Path, args: &[&str], python_path: Option<&str>) -> anyhow::Result<Running> {
        let mut shell = Command::new("sh");
        if let Some(path) = python_path {
            shell.env("PYTHONPATH", path);
        }
        shell
            .args([
                "-c",
                r#""$@" >/dev/null 2>&1 </dev/null & card=$!; cat >/dev/null; kill $card; wait $card"#,
                "sh",
            ])
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Running)
            .with_context(|| format!("cannot start {}", program.display()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn pcsc_rows(bin: &Binaries, seconds: f64, scenarios: &Path) -> Vec<Row> {
    let apdu = "APDU/s through pcscd + vpcd";
    let sequence = "confirmation card sequences/s through pcscd";
    let lock = match PcscdLock::take() {
        Ok(lock) => lock,
        Err(e) => {
            return vec![
                Row::failed(apdu, "APDU/s", &e),
                Row::failed(sequence, "seq/s", &e),
            ];
        }
    };
    let ours = pcsc_loop_with_card(
        bin,
        seconds,
        &["--reader", SLOT0.1],
        (&bin.kazasu, &["card", "--vpcd", SLOT0.0]),
        None,
    );
    let sequences = pcsc_loop_with_card(
        bin,
        seconds,
        &["--reader", SLOT0.1, "--sequence", "confirmation"],
        (&bin.kazasu, &["card", "--vpcd", SLOT0.0]),
        None,
    );
    let vicc = pcsc_loop_with_card(
        bin,
        seconds,
        &["--reader", SLOT1_READER, "--apdu", SELECT_MF],
        (
            Path::new("vicc"),
            &["--type", "iso7816", "--port", SLOT1_PORT],
        ),
        vicc_python_path().as_deref(),
    );
    // The same loop as `ours` (the echo card answers anything `9000`).
    let echo = pcsc_loop_with_card(
        bin,
        seconds,
        &["--reader", SLOT1_READER],
        (Path::new("python3"), &[ECHO_CARD, "--port", SLOT1_PORT]),
        None,
    );
    let mut rows = Vec::new();
    let echo_row = "APDU/s through pcscd vs a minimal echo card";
    rows.push(match (&ours, &echo) {
        (Ok(ours), Ok(echo)) => Row::new(echo_row, "APDU/s")
            .ours(ours["apdu_per_s"].as_f64().unwrap_or(f64::NAN))
            .anchor(
                "benches/anchors/echo_card.py",
                echo["apdu_per_s"].as_f64().unwrap_or(f64::NAN),
            )
            .target(Bound::RatioAtLeast(1.0)),
        (Err(e), _) | (_, Err(e)) => Row::failed(echo_row, "APDU/s", e),
    });
    rows.push(match (&ours, &vicc) {
        (Ok(ours), Ok(vicc)) => Row::new(apdu, "APDU/s")
            .ours(ours["apdu_per_s"].as_f64().unwrap_or(f64::NAN))
            .anchor(
                "vsmartcard vicc (Python)",
                vicc["apdu_per_s"].as_f64().unwrap_or(f64::NAN),
            )
            .target(Bound::RatioAtLeast(500.0)),
        (Err(e), _) | (_, Err(e)) => Row::failed(apdu, "APDU/s", e),
    });
    let absolute = format!("{apdu}, absolute");
    rows.push(match &ours {
        Ok(ours) => Row::new(&absolute, "APDU/s")
            .ours(ours["apdu_per_s"].as_f64().unwrap_or(f64::NAN))
            .target(Bound::AtLeast(10_000.0)),
        Err(e) => Row::failed(&absolute, "APDU/s", e),
    });
    rows.push(match sequences {
        Ok(run) => Row::new(sequence, "seq/s").ours(run["rounds_per_s"].as_f64().unwrap_or(0.0)),
        Err(e) => Row::failed(sequence, "seq/s", &e),
    });
    rows.push(scenario_row(
        bin,
        scenarios,
        true,
        "scenario suite, through pcscd",
    ));
    drop(lock);
    rows
}

/// Starts `card` (it connects to a vpcd slot), runs `pcsc_apdu_loop` against
/// it, and returns the loop's JSON line.
fn pcsc_loop_with_card(
    bin: &Binaries,
    seconds: f64,
    loop_args: &[&str],
    (program, args): (&Path, &[&str]),
    python_path: Option<&str>,
) -> anyhow::Result<Value> {
    let _card = Running::start(program, args, python_path)?;
    let output = Command::new(&bin.pcsc_apdu_loop)
        .env("RUST_BACKTRACE", "0")
        .args(loop_args)
        .args(["--seconds", &seconds.to_string(), "--wait", "20"])
        .stderr(Stdio::piped())
        .output()
        .context("cannot run pcsc_apdu_loop")?;
    if !output.status.success() {
        bail!(
            "pcsc_apdu_loop {}: {}",
            loop_args.join(" "),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .next()
                .unwrap_or("")
        );
    }
    last_json_line(&output.stdout)
}

/// Debian 12's `python3-virtualsmartcard` installs its package one directory
/// too deep (`site-packages/virtualsmartcard/virtualsmartcard`, outside
/// Python's path) and imports PyCryptodome as `Crypto`, which Debian's
/// `python3-pycryptodome` ships as `Cryptodome`: `vicc` does not start as
/// installed. The path that makes it start: a directory holding a `Crypto`
/// link to `Cryptodome`, then the package's real parent.
fn vicc_python_path() -> Option<String> {
    let package_parent = Path::new("/usr/lib/python3/site-packages/virtualsmartcard");
    let cryptodome = Path::new("/usr/lib/python3/dist-packages/Cryptodome");
    let mut path = Vec::new();
    if cryptodome.is_dir() {
        let shim = std::env::temp_dir().join("kazasu-vicc-python");
        let link = shim.join("Crypto");
        let linked = std::fs::create_dir_all(&shim).is_ok()
            && (link.exists() || std::os::unix::fs::symlink(cryptodome, &link).is_ok());
        if linked {
            path.push(shim.display().to_string());
        }
    }
    if package_parent.is_dir() {
        path.push(package_parent.display().to_string());
    }
    let inherited = std::env::var("PYTHONPATH").unwrap_or_default();
    if !inherited.is_empty() {
        path.push(inherited);
    }
    (!path.is_empty()).then(|| path.join(":"))
}

fn last_json_line(stdout: &[u8]) -> anyhow::Result<Value> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow!("no output"))?;
    serde_json::from_str(line).with_context(|| format!("last line is not JSON: {line}"))
}

// ------------------------------------------------------------------- service

fn service_rows(bin: &Binaries, seconds: f64, quick: bool) -> Vec<Row> {
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

// ----------------------------------------------------------------- scenarios

/// Wall time of `kazasu run <scenarios>`; through pcscd with `pcsc` (the
/// caller holds the lock). The in-process suite has a target, < 15 s.
fn scenario_row(bin: &Binaries, scenarios: &Path, pcsc: bool, name: &str) -> Row {
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
    if pcsc {
        row
    } else {
        row.target(Bound::AtMost(15.0))
    }
}

// ------------------------------------------------------------ machine, load

#[derive(Debug, Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    os: String,
}

impl Machine {
    fn describe() -> Machine {
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
struct Load {
    load_average_before: String,
    load_average_after: String,
    /// Cores busy on average during the run (everyone's work, ours included).
    busy_cores: Option<f64>,
    seconds: f64,
}

/// The 1-, 5- and 15-minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ------------------------------------------------------------------ output

fn number(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(v) if !v.is_finite() => "?".into(),
        Some(v) if v.abs() >= 100.0 => {
            let n = v.round() as i64;
            let digits = n.abs().to_string();
            let mut grouped = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            if n < 0 {
                format!("-{grouped}")
            } else {
                grouped
            }
        }
        Some(v) => {
            let places = if v.abs() >= 1.0 { 2 } else { 3 };
            let text = format!("{v:.places$}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

fn target_text(row: &Row) -> String {
    match row.target {
        None => "—".into(),
        Some(Bound::RatioAtLeast(t)) => format!("ratio ≥ {}", number(Some(t))),
        Some(Bound::AtLeast(t)) => format!("≥ {} {}", number(Some(t)), row.unit),
        Some(Bound::AtMost(t)) => format!("< {} {}", number(Some(t)), row.unit),
    }
}

fn verdict_text(row: &Row) -> String {
    match row.verdict {
        Verdict::Met => "met".into(),
        Verdict::Missed => "MISSED".into(),
        Verdict::Figure => "figure".into(),
        Verdict::Smoke => "ran (quick)".into(),
        Verdict::Failed => format!(
            "FAILED: {}",
            row.error.as_deref().unwrap_or("").replace('\n', " ")
        ),
    }
}

const HEADER: [&str; 6] = ["measure", "ours", "anchor", "ratio", "target", "verdict"];

/// Each row's cells: measure, ours, anchor, ratio, target, verdict.
fn cells(rows: &[Row]) -> Vec<[String; 6]> {
    rows.iter()
        .map(|r| {
            [
                r.measure.clone(),
                r.ours
                    .map_or("—".into(), |_| format!("{} {}", number(r.ours), r.unit)),
                match (&r.anchor_name, r.anchor) {
                    (Some(name), Some(v)) => format!("{} ({name})", number(Some(v))),
                    _ => "—".into(),
                },
                number(r.ratio),
                target_text(r),
                verdict_text(r),
            ]
        })
        .collect()
}

/// The table, aligned for a terminal.
fn table(rows: &[Row]) -> String {
    let cells = cells(rows);
    let header = HEADER;
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            if i + 1 < row.len() {
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&mut out, &header.map(String::from));
    line(&mut out, &widths.map(|w| "-".repeat(w)));
    for row in &cells {
        line(&mut out, row);
    }
    out
}

/// The same table in Markdown, for the README.
fn markdown_table(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n|---|---:|---|---:|---|---|\n", HEADER.join(" | "));
    for row in cells(rows) {
        let row = row.map(|cell| cell.replace('|', "\\|"));
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One horizontal bar per measure with a target: how far it got toward the
/// target (1× is the target line; further right is better), with the figures
/// written beside it. Drawn by hand: a few rectangles and texts.
fn svg(rows: &[Row], machine: &Machine, load: &Load) -> String {
    let judged: Vec<&Row> = rows.iter().filter(|r| r.target.is_some()).collect();
    let (label_w, bar_w, row_h, top) = (430.0, 420.0, 34.0, 70.0);
    let max_score = 3.0_f64;
    let width = label_w + bar_w + 330.0;
    let height = top + row_h * judged.len() as f64 + 60.0;
    let x_of = |score: f64| label_w + bar_w * (score.clamp(0.0, max_score) / max_score);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="#fff"/><text x="12" y="24" font-size="16" font-weight="bold">kazasu: each measure against its target (1× = target, right is better)</text>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="12" y="44" fill="#555">{}, {} cores, {}; load average {} → {}; {} cores busy on average</text>"##,
        escape(&machine.cpu),
        machine.cores,
        escape(&machine.os),
        load.load_average_before,
        load.load_average_after,
        load.busy_cores.map_or("?".into(), |b| format!("{b:.2}"))
    );
    for tick in [0.0, 0.5, 1.0, 2.0, 3.0] {
        let x = x_of(tick);
        let (stroke, dash) = if tick == 1.0 {
            ("#000", "")
        } else {
            ("#ccc", r#" stroke-dasharray="3,3""#)
        };
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{stroke}"{dash}/><text x="{x}" y="{}" text-anchor="middle" fill="#555">{tick}×</text>"##,
            top - 8.0,
            top + row_h * judged.len() as f64,
            top + row_h * judged.len() as f64 + 16.0
        );
    }
    for (i, row) in judged.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_w - 10.0,
            y + 21.0,
            escape(&row.measure)
        );
        let detail = match row.score() {
            Some(score) => {
                let colour = if score >= 1.0 { "#2e7d32" } else { "#c62828" };
                let _ = writeln!(
                    s,
                    r#"<rect x="{label_w}" y="{}" width="{}" height="{}" fill="{colour}"/>"#,
                    y + 6.0,
                    x_of(score) - label_w,
                    row_h - 12.0
                );
                let shown = match row.target {
                    Some(Bound::RatioAtLeast(_)) => format!("ratio {}", number(row.ratio)),
                    _ => format!("{} {}", number(row.ours), row.unit),
                };
                format!("{shown} (target {})", target_text(row))
            }
            None => verdict_text(row),
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            label_w + bar_w + 10.0,
            y + 21.0,
            escape(&detail)
        );
    }
    // The target line again, over the bars.
    let _ = writeln!(
        s,
        r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#000" stroke-width="2"/>"##,
        top - 8.0,
        top + row_h * judged.len() as f64,
        x = x_of(1.0)
    );
    s.push_str("</svg>\n");
    s
}
