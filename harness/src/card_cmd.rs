//! `kazasu card`: one virtual card in the real pcscd, through vpcd.
//!
//! `--variant` puts the profile's card on a phone (or a contactless reader);
//! `--face-id` stands for the iPhone holder's Face ID: the phone signs for the
//! profile's `phone.authentication_window_seconds` from the card's start;
//! restart the card to authenticate again. (An interactive Face ID belongs in
//! `kazasu up`'s control API, which does not take an iPhone card yet.)

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use sim_card::SmartCard;
use sim_card::personalize;
use sim_card::profile::{self, CardProfile};
use sim_card::trace::{JsonLines, Traced};
use sim_card::transport::vpcd::{self, VpcdControl, VpcdEvent, VpcdOptions};
use sim_card::variant::Variant;

#[derive(Args)]
pub struct CardArgs {
    /// A built-in profile name (one of `--list-profiles`, the card matrix's
    /// cards included) or a profile TOML file.
    #[arg(long, default_value = "default")]
    profile: String,
    /// The vpcd slot to connect to, as host:port (Debian's slot 0 is 35963, slot 1 35964).
    #[arg(long, default_value = vpcd::DEFAULT_VPCD_ADDR)]
    vpcd: String,
    /// Write every APDU exchange as a JSON line to this file (PINs masked).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// What carries the card, overriding the profile's `variant`:
    /// physical-contact, physical-contactless, android or iphone.
    #[arg(long)]
    variant: Option<Variant>,
    /// iPhone only: the holder authenticated with Face ID as the card starts,
    /// so the phone signs for the profile's authentication window from then.
    #[arg(long)]
    face_id: bool,
    /// List the built-in profiles and exit.
    #[arg(long)]
    list_profiles: bool,
}

pub fn run(args: CardArgs) -> anyhow::Result<()> {
    if args.list_profiles {
        for profile::BuiltIn { name, summary } in profile::built_ins() {
            let variant = CardProfile::built_in(name)?.variant;
            println!("{name:21} {:21} {summary}", variant.name());
        }
        return Ok(());
    }
    let mut profile = CardProfile::load(&args.profile)?;
    if let Some(variant) = args.variant {
        profile = profile.with_variant(variant);
    }
    if args.face_id && profile.variant != Variant::Iphone {
        anyhow::bail!(
            "--face-id is for an iPhone; this card is {} (add --variant iphone)",
            profile.variant
        );
    }
    let pki = personalize::simulated_jpki()?;
    let mut issued = personalize::issue(&profile, &pki)?;
    if args.face_id {
        issued.card.authenticate_holder(Instant::now());
    }
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
                        println!(
                            "card {:?} ({}) inserted into vpcd at {vpcd}",
                            args.profile, profile.variant
                        );
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
