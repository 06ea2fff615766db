//! `kazasu run`: runs a scenario suite against a client and reports.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::certificate_cmd::CertificateRequest;
use anyhow::Context;
use clap::{Args, ValueEnum};
use kazasu::scenario::attended::{self, AttendedClient, ServiceRelay, Tester};
use kazasu::scenario::contract::{ClientUnderTest, Transport};
use kazasu::scenario::external::ExternalCommand;
use kazasu::scenario::load::{self, LoadedScenario, Shard};
use kazasu::scenario::pcsc_slot::VpcdReaders;
use kazasu::scenario::report::{Certification, RunReport, ScenarioReport, shell_quote};
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
    /// The client under test, run per scenario with `sh -c`: the adapter
    /// contract of harness/ADAPTER.md (KAZASU_* variables in, one
    /// ClientOutcome JSON out, `kazasu schema outcome`). Implies --transport
    /// pcsc. Default: the reference client, in this process.
    #[arg(long, value_name = "CMD")]
    client: Option<String>,
    /// With --client: how long one run of the adapter may take before it is
    /// stopped and the scenario fails, in seconds (the adapter sees it as
    /// KAZASU_TIME_LIMIT_MS). Default: each scenario's service time-out
    /// (KAZASU_TIMEOUT_MS) plus 30 s.
    #[arg(long, value_name = "SECONDS", requires = "client")]
    client_timeout: Option<f64>,
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
    /// Print the JSON Schema of scenario files and exit (as `kazasu schema scenario`).
    #[arg(long)]
    schema: bool,
    /// Run the suite once per card of the card matrix (`default`,
    /// `reselect-clears`, `zero-filler`, …: each differs from the default in
    /// one behaviour real cards differ in), with a summary and reports per
    /// card (`report.json` → `report.zero-filler.json`). Scenarios that set
    /// their own `[card.behaviour]` keep it.
    #[arg(long)]
    card_matrix: bool,
    /// With `--profile conformance`: write a signed certificate of
    /// conformance here (the whole suite of one folder; docs/certificate.md).
    #[arg(long, value_name = "PATH", requires_all = ["profile", "signing_key"])]
    certificate: Option<PathBuf>,
    /// The Ed25519 private key (PEM) that signs `--certificate`: make one
    /// with `kazasu keygen`.
    #[arg(long, value_name = "PEM", requires = "certificate")]
    signing_key: Option<PathBuf>,
    /// The client's product name, as its vendor declares it in the
    /// certificate (needed with `--client`).
    #[arg(long, value_name = "NAME", requires = "client_version")]
    client_name: Option<String>,
    /// The client's version, as its vendor declares it in the certificate.
    #[arg(long, value_name = "VERSION", requires = "client_name")]
    client_version: Option<String>,
    /// An application with a screen, judged by a tester: each scenario's
    /// card goes into `Virtual PCD 00 00`, the terminal says what the staff
    /// and patient do, and asks yes/no about what only the screen shows
    /// (docs/gui-automation.md). Stories are left out.
    #[arg(long, conflicts_with_all = ["client", "certificate"])]
    attended: bool,
    /// `--attended`: the address the application is pointed at, relayed to
    /// each scenario's service (port 0: any free one, printed at start).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8787",
        requires = "attended"
    )]
    attended_service: String,
    /// Over PC/SC: put each scenario's card into vpcd on this host instead
    /// of the local pcscd (a Windows or macOS client's reader, port 35963;
    /// docs/remote-readers.md). One scenario at a time.
    #[arg(long, value_name = "HOST")]
    vpcd_host: Option<String>,
    /// With `--vpcd-host`: the reader's name on that computer, as its
    /// PC/SC lists it (given to the client as KAZASU_READER).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "Virtual PCD 00 00",
        requires = "vpcd_host"
    )]
    vpcd_reader: String,
    /// `--attended`: read the tester's Enter and y/n answers from this file
    /// instead of standard input, one per line.
    #[arg(long, value_name = "PATH", requires = "attended")]
    answers: Option<PathBuf>,
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
        (None, None) if args.attended => Transport::Pcsc,
        (Some(TransportArg::InProcess), _) | (None, None) => Transport::InProcess,
    };
    let client_time_limit = args
        .client_timeout
        .map(|seconds| {
            Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    anyhow::anyhow!("--client-timeout {seconds}: a positive number of seconds")
                })
        })
        .transpose()?;

    let certificate = match (&args.certificate, &args.signing_key) {
        (Some(path), Some(key)) => {
            if args.filter.is_some() || args.shard.is_some() || args.card_matrix {
                anyhow::bail!(
                    "--certificate covers the whole suite: leave out --filter, --shard and --card-matrix"
                );
            }
            let declared = args.client_name.clone().zip(args.client_version.clone());
            if args.client.is_some() && declared.is_none() {
                anyhow::bail!(
                    "--certificate with --client: name the client with --client-name and --client-version"
                );
            }
            Some(CertificateRequest::prepare(
                path.clone(),
                key,
                &args.paths,
                declared,
            )?)
        }
        _ => None,
    };

    let all = load::load(&args.paths)?;
    let found = all.len();
    let mut selected = load::select(all, args.filter.as_deref(), args.shard);
    let readers = match &args.vpcd_host {
        Some(host) => {
            if transport != Transport::Pcsc {
                anyhow::bail!(
                    "--vpcd-host puts the cards into a PC/SC reader: use --transport pcsc"
                );
            }
            VpcdReaders::Remote {
                host: host.clone(),
                reader: args.vpcd_reader.clone(),
            }
        }
        None => VpcdReaders::Local,
    };
    if args.attended {
        // A story moves the clock and swaps cards between holds: a tester
        // plays one check per scenario.
        let (single, stories) = attended::attendable(selected);
        if stories > 0 {
            eprintln!("attended: {stories} stories left out (one check per scenario)");
        }
        selected = single;
    }
    let mut attended = None;
    if args.attended {
        attended = Some(Arc::new(attended_client(&args, &selected)?));
    }
    if selected.is_empty() {
        eprintln!("no scenario to run: {found} found, none selected by --filter/--shard");
    }
    let client: Arc<dyn ClientUnderTest> = match (&attended, &args.client) {
        (Some(attended), _) => attended.clone(),
        (None, Some(command)) => {
            Arc::new(ExternalCommand::new(command.clone()).with_time_limit(client_time_limit))
        }
        (None, None) => reference_client()?,
    };
    // Over PC/SC a scenario mostly waits for pcscd's presence polls, not for
    // a core: one per slot, whatever the cores.
    let pcsc_slots = args.pcsc_slots.unwrap_or_else(|| match transport {
        Transport::Pcsc => {
            u8::try_from(kazasu::scenario::pcsc_slot::slots().len()).unwrap_or(u8::MAX)
        }
        Transport::InProcess => RunOptions::default().pcsc_slots,
    });
    let jobs = match transport {
        // One tester, one reader.
        _ if args.attended => 1,
        Transport::Pcsc => args.jobs.unwrap_or(usize::from(pcsc_slots)),
        Transport::InProcess => args.jobs.unwrap_or(RunOptions::default().jobs),
    };
    let options = RunOptions {
        jobs,
        transport,
        pcsc_slots,
        conformance_profile: args.profile == Some(Profile::Conformance),
        readers: readers.clone(),
    };
    let runner = Runner::new(client, options).map_err(anyhow::Error::msg)?;
    if !args.card_matrix {
        if let Some(attended) = &attended {
            attended.greet(match &readers {
                VpcdReaders::Local => "Virtual PCD 00 00 (pcscd, through vpcd)",
                VpcdReaders::Remote { reader, .. } => reader.as_str(),
            });
        }
        let (passed, report) = run_once(
            &runner,
            &args,
            transport,
            &selected,
            None,
            attended.as_deref(),
        )?;
        if let Some(certificate) = certificate {
            certificate.write(&report, &readers)?;
        }
        return Ok(passed);
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
        all_passed &= run_once(
            &runner,
            &args,
            transport,
            &on_card,
            Some(&card),
            attended.as_deref(),
        )?
        .0;
    }
    Ok(all_passed)
}

/// Runs `selected` once and writes the reports; with a matrix card, the
/// report paths and the summary line name it. Whether every scenario
/// passed, and the run's report.
fn run_once(
    runner: &Runner,
    args: &RunArgs,
    transport: Transport,
    selected: &[LoadedScenario],
    card: Option<&MatrixCard>,
    attended: Option<&AttendedClient>,
) -> anyhow::Result<(bool, RunReport)> {
    let path_for = |path: &PathBuf| match card {
        Some(card) => with_card(path, card.name),
        None => path.clone(),
    };

    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let progress = Progress::new(selected.len());
    // An attended run's screen checks are the tester's answers.
    let mut reports = runner.run_all(selected, |report| match attended {
        Some(attended) => progress.done(&attended.judged(report)),
        None => progress.done(report),
    });
    if let Some(attended) = attended {
        reports = reports.iter().map(|r| attended.judged(r)).collect();
    }
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
    )
    .with_rerun_options(rerun_options(args, transport));
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
    Ok((report.failed == 0, report))
}

/// The options that rerun one scenario as this run ran it: the client, its
/// time limit, the transport and the profile (not the reports, filter or
/// shard, which a rerun of one file does not need).
fn rerun_options(args: &RunArgs, transport: Transport) -> String {
    let mut options = Vec::new();
    if transport == Transport::Pcsc {
        options.push("--transport pcsc".to_string());
    }
    if let Some(client) = &args.client {
        options.push(format!("--client {}", shell_quote(client)));
    }
    if let Some(seconds) = args.client_timeout {
        options.push(format!("--client-timeout {seconds}"));
    }
    if args.profile == Some(Profile::Conformance) {
        options.push("--profile conformance".to_string());
    }
    options.join(" ")
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

/// The tester and the relay of an attended run.
fn attended_client(args: &RunArgs, scenarios: &[LoadedScenario]) -> anyhow::Result<AttendedClient> {
    let input: Box<dyn std::io::BufRead + Send> = match &args.answers {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let relay = ServiceRelay::start(&args.attended_service).map_err(anyhow::Error::msg)?;
    Ok(AttendedClient::new(
        scenarios,
        Tester::new(input, Box::new(std::io::stdout())),
        relay,
    ))
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
