//! `kazasu run`: runs a scenario suite against a client and reports.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use kazasu::scenario::contract::{ClientUnderTest, Transport};
use kazasu::scenario::external::ExternalCommand;
use kazasu::scenario::load::{self, LoadedScenario, Shard};
use kazasu::scenario::report::{Certification, RunReport, ScenarioReport};
use kazasu::scenario::runner::{RunOptions, Runner};
use sim_card::card_matrix::{MatrixCard, card_matrix};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario folders (searched recursively for *.toml) or files.
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// Only scenarios whose id, name or a tag contains this (case-insensitive).
    #[arg(long)]
    filter: Option<String>,
    /// Run only shard I of N (1-based), by sorted id: `--shard 2/4`.
    #[arg(long)]
    shard: Option<Shard>,
    /// Scenarios run at once (default: the machine's parallelism; over
    /// PC/SC one per vpcd slot, and at most that).
    #[arg(long)]
    jobs: Option<usize>,
    /// How the client reaches the card (default: in-process, or pcsc with --client).
    #[arg(long, value_enum)]
    transport: Option<TransportArg>,
    /// The client under test, run per scenario with `sh -c` (adapter
    /// contract: KAZASU_* variables in, one outcome JSON out). Needs
    /// --transport pcsc. Default: the reference client.
    #[arg(long, value_name = "CMD")]
    client: Option<String>,
    /// `conformance`: check every conformance rule in every scenario and
    /// print a certification summary.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report here.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// vpcd slots --transport pcsc uses, the first N pcscd lists (default:
    /// all of them; Debian's vpcd has 2, `.ci/setup` configures 12).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
    pcsc_slots: Option<u8>,
    /// Print the JSON Schema of scenario files and exit.
    #[arg(long)]
    schema: bool,
    /// Run the suite once per card of the card matrix (`default`,
    /// `reselect-clears`, `zero-filler`, …: each differs from the default in
    /// one behaviour real cards differ in), with a summary and reports per
    /// card (`report.json` → `report.zero-filler.json`). Scenarios that set
    /// their own `[card.behaviour]` keep it.
    #[arg(long)]
    card_matrix: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportArg {
    InProcess,
    Pcsc,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Profile {
    Conformance,
}

/// Runs the suite; `Ok(false)` when any scenario failed.
pub fn run(args: RunArgs) -> anyhow::Result<bool> {
    if args.schema {
        print!("{}", load::schema());
        return Ok(true);
    }
    let transport = match (args.transport, &args.client) {
        (Some(TransportArg::Pcsc), _) | (None, Some(_)) => Transport::Pcsc,
        (Some(TransportArg::InProcess), _) | (None, None) => Transport::InProcess,
    };
    let client: Arc<dyn ClientUnderTest> = match &args.client {
        Some(command) => Arc::new(ExternalCommand::new(command.clone())),
        None => reference_client()?,
    };

    let all = load::load(&args.paths)?;
    let found = all.len();
    let selected = load::select(all, args.filter.as_deref(), args.shard);
    if selected.is_empty() {
        eprintln!("no scenario to run: {found} found, none selected by --filter/--shard");
    }
    // Over PC/SC a scenario mostly waits for pcscd's presence polls, not for
    // a core: one per slot, whatever the cores.
    let pcsc_slots = args.pcsc_slots.unwrap_or_else(|| match transport {
        Transport::Pcsc => {
            u8::try_from(kazasu::scenario::pcsc_slot::slots().len()).unwrap_or(u8::MAX)
        }
        Transport::InProcess => RunOptions::default().pcsc_slots,
    });
    let jobs = match transport {
        Transport::Pcsc => args.jobs.unwrap_or(usize::from(pcsc_slots)),
        Transport::InProcess => args.jobs.unwrap_or(RunOptions::default().jobs),
    };
    let options = RunOptions {
        jobs,
        transport,
        pcsc_slots,
        conformance_profile: args.profile == Some(Profile::Conformance),
    };
    let runner = Runner::new(client, options).map_err(anyhow::Error::msg)?;
    if !args.card_matrix {
        return run_once(&runner, &args, transport, &selected, None);
    }
    let mut all_passed = true;
    for card in card_matrix() {
        println!("card {}: {}", card.name, card.differs);
        let on_card: Vec<LoadedScenario> = selected
            .iter()
            .cloned()
            .map(|mut loaded| {
                let setup = &mut loaded.scenario.card;
                setup.behaviour = Some(setup.behaviour.unwrap_or(card.behaviour));
                loaded
            })
            .collect();
        all_passed &= run_once(&runner, &args, transport, &on_card, Some(&card))?;
    }
    Ok(all_passed)
}

/// Runs `selected` once and writes the reports; with a matrix card, the
/// report paths and the summary line name it.
fn run_once(
    runner: &Runner,
    args: &RunArgs,
    transport: Transport,
    selected: &[LoadedScenario],
    card: Option<&MatrixCard>,
) -> anyhow::Result<bool> {
    let path_for = |path: &PathBuf| match card {
        Some(card) => with_card(path, card.name),
        None => path.clone(),
    };

    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let progress = Progress::new(selected.len());
    let reports = runner.run_all(selected, |report| progress.done(report));
    progress.finish();

    let certification = (args.profile == Some(Profile::Conformance)).then(|| {
        Certification::of(
            &runner.client_identity(),
            &started_at.date().to_string(),
            &reports,
        )
    });
    let report = RunReport::new(
        runner.client_identity(),
        transport.name(),
        args.profile.map(|_| "conformance".to_string()),
        started_at.format(&Rfc3339).unwrap_or_default(),
        started.elapsed(),
        reports,
        certification,
    );
    if let Some(path) = &args.junit {
        let xml = report.junit().map_err(anyhow::Error::msg)?;
        write(&path_for(path), &xml)?;
    }
    if let Some(path) = &args.json {
        write(&path_for(path), &report.json())?;
    }
    if let Some(path) = &args.html {
        let html = report.html().map_err(anyhow::Error::msg)?;
        write(&path_for(path), &html)?;
    }
    if let Some(certification) = &report.certification {
        print!("{}", certification.text());
    }
    match card {
        Some(card) => println!("card {}: {}", card.name, report.summary_line()),
        None => println!("{}", report.summary_line()),
    }
    Ok(report.failed == 0)
}

/// `report.json` → `report.NAME.json` (`report` → `report.NAME`).
fn with_card(path: &Path, name: &str) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let file = match path.extension() {
        Some(ext) => format!("{stem}.{name}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{name}"),
    };
    path.with_file_name(file)
}

/// The reference client, when this build has it.
fn reference_client() -> anyhow::Result<Arc<dyn ClientUnderTest>> {
    Ok(Arc::new(kazasu::scenario::reference::ReferenceClient))
}

fn write(path: &PathBuf, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A bar on a terminal; a line per scenario otherwise (CI logs). Failures
/// print with their diffs either way, as they happen.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    fn done(&self, report: &ScenarioReport) {
        let line = if let Some(reason) = &report.skipped {
            format!("skip {} ({reason})", report.id)
        } else if report.passed {
            format!(
                "ok   {} ({:.0} ms)",
                report.id,
                report.duration.as_secs_f64() * 1e3
            )
        } else {
            report.failure_text().trim_end().to_string()
        };
        match &self.bar {
            Some(bar) => {
                if !report.passed {
                    bar.println(line);
                }
                bar.set_message(report.id.clone());
                bar.inc(1);
            }
            None => println!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_reports_are_named_after_their_card() {
        assert_eq!(
            with_card(Path::new("out/report.json"), "zero-filler"),
            PathBuf::from("out/report.zero-filler.json")
        );
        assert_eq!(
            with_card(Path::new("junit"), "always-82"),
            PathBuf::from("junit.always-82")
        );
    }
}
