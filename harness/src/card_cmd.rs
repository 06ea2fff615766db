//! `kazasu card`: one virtual card in the real pcscd, through vpcd.

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use sim_card::personalize;
use sim_card::profile::{self, CardProfile};
use sim_card::trace::{JsonLines, Traced};
use sim_card::transport::SmartCard;
use sim_card::transport::vpcd::{self, VpcdControl, VpcdEvent, VpcdOptions};

#[derive(Args)]
pub struct CardArgs {
    /// A built-in profile name or a profile TOML file.
    #[arg(long, default_value = "default")]
    profile: String,
    /// The vpcd slot to connect to, as host:port (Debian's slot 0 is 35963, slot 1 35964).
    #[arg(long, default_value = vpcd::DEFAULT_VPCD_ADDR)]
    vpcd: String,
    /// Write every APDU exchange as a JSON line to this file (PINs masked).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// List the built-in profiles and exit.
    #[arg(long)]
    list_profiles: bool,
}

pub fn run(args: CardArgs) -> anyhow::Result<()> {
    if args.list_profiles {
        for (name, text) in profile::BUILT_IN {
            let summary = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# "))
                .unwrap_or("");
            println!("{name:12} {summary}");
        }
        return Ok(());
    }
    let profile = CardProfile::load(&args.profile)?;
    let pki = personalize::simulated_jpki()?;
    let issued = personalize::issue(&profile, &pki)?;
    let card: Arc<Mutex<dyn SmartCard + Send>> = match &args.trace {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create the trace {}", path.display()))?;
            Arc::new(Mutex::new(Traced::new(
                issued.card,
                JsonLines(BufWriter::new(file)),
            )))
        }
        None => Arc::new(Mutex::new(issued.card)),
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let control = VpcdControl::new();
        let mut events = control.subscribe();
        let options = VpcdOptions {
            addr: args.vpcd.clone(),
            ..VpcdOptions::default()
        };
        let link = tokio::spawn(vpcd::run_vpcd(card, options, control.clone()));
        let interactive = std::io::stdout().is_terminal();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {
                    control.stop();
                    break;
                }
                event = events.recv() => match event {
                    Ok(VpcdEvent::Inserted { vpcd }) => {
                        println!("card {:?} inserted into vpcd at {vpcd}", args.profile);
                        if interactive {
                            println!("(Ctrl-C removes it)");
                        }
                    }
                    Ok(VpcdEvent::Stopped) => break,
                    Ok(other) => eprintln!("{other}"),
                    Err(_) => {}
                },
            }
        }
        link.await??;
        anyhow::Ok(())
    })
}
