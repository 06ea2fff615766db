//! Puts the trivial card behind vpcd, to measure the link before the real
//! card exists: every command answers `90 00`, READ BINARY answers `Le` bytes.
//!
//! ```text
//! cargo run --release -p sim-card --example echo_card_vpcd -- [--slot N | --addr HOST:PORT] [--no-quickack]
//! ```
//!
//! Runs until Ctrl-C, then prints how many commands the card answered.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use sim_card::transport::trivial::TrivialCard;
use sim_card::transport::vpcd::{VpcdControl, VpcdOptions, run_vpcd};
use tokio::sync::broadcast::error::RecvError;

const USAGE: &str = "usage: echo_card_vpcd [--slot N | --addr HOST:PORT] [--no-quickack]";

fn parse_args() -> Result<VpcdOptions, String> {
    let mut options = VpcdOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => options.addr = args.next().ok_or("--addr needs HOST:PORT")?,
            "--slot" => {
                let slot = args.next().ok_or("--slot needs a number")?;
                let slot: u8 = slot.parse().map_err(|_| format!("bad slot {slot:?}"))?;
                options.addr = VpcdOptions::for_slot(slot).addr;
            }
            "--no-quickack" => options.quickack = false,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    println!(
        "trivial card for vpcd at {} (quickack {})",
        options.addr,
        if options.quickack { "on" } else { "off" }
    );
    let card = Arc::new(Mutex::new(TrivialCard::new()));
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let printer = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => println!("{event}"),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    });
    let link = tokio::spawn(run_vpcd(card.clone(), options, control.clone()));
    // Ctrl-C stops the link; failing to install the handler leaves only kill.
    let _ = tokio::signal::ctrl_c().await;
    control.stop();
    let code = match link.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("link task failed: {error}");
            ExitCode::FAILURE
        }
    };
    // The printer ends when the last sender is gone; let it finish its lines.
    drop(control);
    let _ = printer.await;
    let card = card.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "answered {} commands; {} power-ons, {} power-offs",
        card.commands, card.power_ons, card.power_offs
    );
    code
}
