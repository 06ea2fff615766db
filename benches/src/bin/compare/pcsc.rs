//! The measures through pcscd and vpcd, and the lock that guards the shared pcscd.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;

use anyhow::Context as _;
use anyhow::anyhow;
use anyhow::bail;
use serde_json::Value;

use super::scenarios::scenario_row;
use super::{
    Binaries, Bound, ECHO_CARD, PCSCD_LOCK, Row, SELECT_MF, SLOT0, SLOT1_PORT, SLOT1_READER,
};

/// The project-wide pcscd lock, held by a `flock` child for as long as this
/// value lives. The child holds it in `cat`, reading a pipe from us: however
/// this process ends (even killed, when no destructor runs), the pipe closes,
/// `cat` ends and the lock is free. A child that outlived us would block
/// every pcscd user on the machine.
pub(super) struct PcscdLock(Child);

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
pub(super) struct Running(Child);

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

pub(super) fn pcsc_rows(bin: &Binaries, seconds: f64, scenarios: &Path) -> Vec<Row> {
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
    let (ours_beside, echo) = beside_the_echo_card(bin, seconds);
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
    let mut rows = Vec::new();
    let echo_row = "APDU/s through pcscd vs a minimal echo card";
    rows.push(match (&ours_beside, &echo) {
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

/// `kazasu card` in slot 0 and the echo card in slot 1 at the same time,
/// each under its own `pcsc_apdu_loop`: a load that comes and goes (other
/// builds on a shared machine) weighs on both at the same instants, and the
/// two share the cores, so the card that costs less per APDU answers more.
/// Measured one after the other, a few seconds apart, the ratio swung from
/// 0.6× to 1.5× with the load alone.
fn beside_the_echo_card(
    bin: &Binaries,
    seconds: f64,
) -> (anyhow::Result<Value>, anyhow::Result<Value>) {
    let cards = Running::start(&bin.kazasu, &["card", "--vpcd", SLOT0.0], None).and_then(|ours| {
        Running::start(
            Path::new("python3"),
            &[ECHO_CARD, "--port", SLOT1_PORT],
            None,
        )
        .map(|echo| (ours, echo))
    });
    let _cards = match cards {
        Ok(cards) => cards,
        Err(e) => return (Err(anyhow!("{e:#}")), Err(e)),
    };
    let start = |reader: &str| {
        Command::new(&bin.pcsc_apdu_loop)
            .env("RUST_BACKTRACE", "0")
            .args(["--reader", reader])
            .args(["--seconds", &seconds.to_string(), "--wait", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run pcsc_apdu_loop")
    };
    let ours = start(SLOT0.1);
    let echo = start(SLOT1_READER);
    let finish = |child: anyhow::Result<Child>, reader: &str| -> anyhow::Result<Value> {
        let output = child?.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "pcsc_apdu_loop --reader {reader}: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
        last_json_line(&output.stdout)
    };
    (finish(ours, SLOT0.1), finish(echo, SLOT1_READER))
}

/// Starts `card` (it connects to a vpcd slot), runs `pcsc_apdu_loop` against
/// it, and returns the loop's JSON line.
pub(super) fn pcsc_loop_with_card(
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
pub(super) fn vicc_python_path() -> Option<String> {
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

pub(super) fn last_json_line(stdout: &[u8]) -> anyhow::Result<Value> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow!("no output"))?;
    serde_json::from_str(line).with_context(|| format!("last line is not JSON: {line}"))
}
