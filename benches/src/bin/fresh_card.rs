//! How long a fresh process waits before its card can answer: the simulated
//! JPKI (its two CA keys and certificates) and a card issued from a built-in
//! profile (its two keys, its certificates and every EF), as `kazasu card`
//! does before it connects to vpcd. Keys are memoised per process, so only a
//! new process shows this cost: `compare` runs this binary once per figure.
//!
//! ```text
//! fresh_card [--profile default] [--variant android] [--seed SEED]
//! ```
//!
//! The built-in profiles' keys are shipped (`sim_card::keys::shipped`);
//! `--seed` gives the card keys of its own, derived (or taken from the key
//! cache), as a profile a user writes would have.
//!
//! Prints one JSON line: `{"profile", "variant", "ms", "cpu_ms"}` (wall time
//! and this process's CPU time, from the first key to the issued card).

use std::time::Instant;

use anyhow::bail;
use clap::Parser;
use kazasu_benches::proc_stat::thread_cpu_time;
use sim_card::personalize;
use sim_card::profile::CardProfile;
use sim_card::variant::Variant;

#[derive(Parser, Debug)]
#[command(about = "Milliseconds a fresh process takes to issue a card from a profile")]
struct Args {
    /// A built-in profile name or a profile file.
    #[arg(long, default_value = "default")]
    profile: String,
    /// What carries the card (`physical-contact`, `physical-contactless`,
    /// `android`, `iphone`); default the profile's.
    #[arg(long)]
    variant: Option<Variant>,
    /// The card's keys from this seed instead of the profile's: keys no
    /// table ships.
    #[arg(long)]
    seed: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut profile = CardProfile::load(&args.profile)?;
    if let Some(variant) = args.variant {
        profile = profile.with_variant(variant);
    }
    if let Some(seed) = &args.seed {
        profile.seed.clone_from(seed);
    }
    let cpu_start = thread_cpu_time()?;
    let start = Instant::now();
    let pki = personalize::simulated_jpki()?;
    let issued = personalize::issue(&profile, &pki)?;
    let elapsed = start.elapsed();
    let cpu = thread_cpu_time()?.saturating_sub(cpu_start);
    if issued.auth_certificate.is_empty() {
        bail!("the issued card has no auth certificate");
    }
    println!(
        "{}",
        serde_json::json!({
            "profile": args.profile,
            "variant": profile.variant.to_string(),
            "ms": elapsed.as_secs_f64() * 1e3,
            "cpu_ms": cpu.as_secs_f64() * 1e3,
        })
    );
    Ok(())
}
