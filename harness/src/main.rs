//! `kazasu`: virtual My Number cards, the mock eligibility service and the
//! scenario runner, behind one command.

use clap::{Parser, Subcommand};

/// Prints a status line of a long-running command (`kazasu service`, `kazasu
/// up`) on stdout and goes on when stdout is closed: `println!` panics on a
/// broken pipe, and a reader that went away (a pipe to `head`, a supervisor
/// or test that stopped reading) must not take the service down with it.
macro_rules! status {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod card_cmd;
mod certificate_cmd;
mod check_cmd;
mod doctor;
mod pki_cmd;
mod run_cmd;
mod schema_cmd;
mod service_cmd;
mod up_cmd;

#[derive(Parser)]
#[command(
    name = "kazasu",
    version,
    about = "A test bench for My Number card eligibility confirmation (マイナ保険証)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a virtual My Number card attached to vpcd (the reader pcscd sees) until Ctrl-C.
    Card(card_cmd::CardArgs),
    /// Export the simulated JPKI: CA certificates and keys, and a profile's certificates.
    Pki(pki_cmd::PkiArgs),
    /// Check that pcscd, vpcd and OpenSC see a virtual card, step by step.
    Doctor(doctor::DoctorArgs),
    /// Run the mock eligibility confirmation service until Ctrl-C.
    Service(service_cmd::ServiceArgs),
    /// Check one patient's eligibility as the app does: read the card, ask the service, show the result.
    Check(check_cmd::CheckArgs),
    /// Run scenarios against a client and report (JUnit, JSON, HTML).
    Run(run_cmd::RunArgs),
    /// Print a JSON Schema: of scenario files, or of the outcome a client's adapter prints.
    Schema(schema_cmd::SchemaArgs),
    /// The interactive lab: the mock service, a virtual card in pcscd and a control API, until Ctrl-C.
    Up(up_cmd::UpArgs),
    /// Make an Ed25519 key pair to sign certificates of conformance with (`run --certificate`).
    Keygen(certificate_cmd::KeygenArgs),
    /// Check a certificate of conformance: its signature, its verdicts and its suite against this repository's.
    VerifyReport(certificate_cmd::VerifyReportArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAZASU_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Card(args) => card_cmd::run(args),
        Command::Pki(args) => pki_cmd::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Service(args) => service_cmd::run(args),
        Command::Check(args) => check_cmd::run(args),
        Command::Up(args) => up_cmd::run(args),
        Command::Schema(args) => schema_cmd::run(args),
        Command::Keygen(args) => certificate_cmd::keygen(args),
        Command::VerifyReport(args) => certificate_cmd::verify_report(args),
        Command::Run(args) => {
            if !run_cmd::run(args)? {
                // The summary line is printed; the exit code tells CI.
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
