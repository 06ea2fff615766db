//! Measures APDU throughput through PC/SC: connects to a reader, sends a list
//! of command APDUs round and round for a time or a number of rounds, and
//! prints APDU/s, latency percentiles, and the same figures as one JSON line.
//!
//! It is an ordinary PC/SC client, so it measures the whole path a real client
//! sees: libpcsclite, pcscd, the reader driver (vpcd) and the card behind it.
//!
//! ```text
//! pcsc_apdu_loop [--reader "Virtual PCD 00 00"] [--seconds 5 | --iterations N]
//!                [--apdu HEX]... | [--sequence confirmation]
//! ```
//!
//! `--sequence confirmation` sends what a client sends the built-in default
//! card for one PIN confirmation (see `kazasu_benches::confirmation_commands`):
//! run `kazasu card` (default profile) in the reader. Each round is one
//! confirmation, so `rounds_per_s` is confirmations' card work per second; its
//! empty VERIFY answers `63C3`, one `not_9000` per round. Every answer is
//! checked against the same card issued in this process (the card is
//! deterministic, its signature included): a card in the reader that is not
//! the default card, or that skipped the signature, stops the loop with an
//! error instead of giving a figure of another card.
//!
//! The JSON line also has `per_apdu_p50_us`, the median latency of each APDU
//! of the list: where a round's time goes.

use std::ffi::CString;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;
use pcsc::{Card, Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use sim_card::iso7816::{StatusWord, read_binary, select_aid, select_ef};
use sim_card::mynumber::{EF_AUTH_CERTIFICATE, JPKI_AID};

/// The default loop: what a JPKI client does before reading a certificate:
/// SELECT the JPKI application, SELECT the auth certificate EF, READ BINARY
/// its first 4 bytes.
fn default_apdus() -> Vec<Vec<u8>> {
    vec![
        select_aid(JPKI_AID),
        select_ef(EF_AUTH_CERTIFICATE),
        read_binary(0, kazasu_benches::OPENSC_HEADER_LEN),
    ]
}

#[derive(Parser, Debug)]
#[command(about = "Measure APDU/s through PC/SC against one reader")]
struct Args {
    /// Reader name, exactly as PC/SC lists it.
    #[arg(long, default_value = "Virtual PCD 00 00")]
    reader: String,
    /// Run for this many seconds (ignored when --iterations is given).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Run this many rounds of the APDU list instead of a fixed time.
    #[arg(long)]
    iterations: Option<u64>,
    /// A command APDU in hex; repeat for a list. Default: SELECT AP, SELECT EF, READ BINARY.
    #[arg(long = "apdu")]
    apdus: Vec<String>,
    /// A named list instead of --apdu: `confirmation`, the card side of one
    /// PIN confirmation on the default card.
    #[arg(long, value_parser = ["confirmation"], conflicts_with = "apdus")]
    sequence: Option<String>,
    /// Seconds of untimed exchanges before measuring.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// How long to wait for a card to be in the reader.
    #[arg(long, default_value_t = 10.0)]
    wait: f64,
    /// A free-form label copied into the JSON line (e.g. "quickack on").
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut expected: Option<Vec<[Vec<u8>; 2]>> = None;
    let apdus: Vec<Vec<u8>> = if args.sequence.is_some() {
        let mut card = kazasu_benches::issue("default", None)?;
        let pin = card.auth_pin.context("the default card has an auth PIN")?;
        let commands = kazasu_benches::confirmation_commands(&pin, card.certificate_len);
        // A fresh card's answers, and those of a card that has already run
        // one confirmation since it was powered (its auth PIN still verified):
        // the loop meets both.
        let now = Instant::now();
        let mut round = || -> Vec<Vec<u8>> {
            commands
                .iter()
                .map(|c| card.card.process_at(c, now).to_bytes())
                .collect()
        };
        let first = round();
        let again = round();
        expected = Some(first.into_iter().zip(again).map(|(a, b)| [a, b]).collect());
        commands
    } else if args.apdus.is_empty() {
        default_apdus()
    } else {
        args.apdus
            .iter()
            .map(|a| {
                hex::decode(a.replace([' ', ':'], ""))
                    .with_context(|| format!("bad APDU hex {a:?}"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if apdus.iter().any(|a| a.len() < 4) {
        bail!("a command APDU has at least 4 bytes");
    }
    if !(args.seconds.is_finite()
        && args.seconds > 0.0
        && args.wait.is_finite()
        && args.wait >= 0.0
        && args.warmup.is_finite()
        && args.warmup >= 0.0)
    {
        bail!("--seconds must be positive, --wait and --warmup not negative");
    }
    let reader = CString::new(args.reader.clone()).context("reader name contains NUL")?;

    let ctx = Context::establish(Scope::User).context("cannot reach pcscd")?;
    wait_for_card(&ctx, &reader, Duration::from_secs_f64(args.wait))?;
    let mut card = ctx
        .connect(&reader, ShareMode::Shared, Protocols::ANY)
        .with_context(|| format!("cannot connect to the card in {:?}", args.reader))?;

    let mut response = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    // Untimed warm-up: pcscd resets a freshly inserted card once, shortly
    // after insertion, and the first exchanges pay for cold caches.
    let warm_until = Instant::now() + Duration::from_secs_f64(args.warmup);
    let mut warm_resets = 0;
    while Instant::now() < warm_until {
        for apdu in &apdus {
            match card.transmit(apdu, &mut response) {
                Ok(_) => {}
                Err(pcsc::Error::ResetCard) if warm_resets < 10 => {
                    warm_resets += 1;
                    reconnect(&mut card)?;
                }
                // The card that sat in this slot before (a previous
                // measure's) left by a reset of its link, and pcscd may
                // still report that departure to a handle opened just as
                // the new card arrived: connect again to the new card.
                Err(pcsc::Error::RemovedCard | pcsc::Error::NotTransacted) if warm_resets < 10 => {
                    warm_resets += 1;
                    std::thread::sleep(Duration::from_millis(200));
                    wait_for_card(&ctx, &reader, Duration::from_secs_f64(args.wait))?;
                    card = ctx
                        .connect(&reader, ShareMode::Shared, Protocols::ANY)
                        .with_context(|| {
                            format!("cannot connect to the card in {:?}", args.reader)
                        })?;
                }
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("transmit {} failed", hex::encode_upper(apdu)));
                }
            }
        }
    }
    let mut latencies_ns: Vec<u64> = Vec::with_capacity(1 << 16);
    let mut per_apdu_ns: Vec<Vec<u64>> = vec![Vec::with_capacity(1 << 12); apdus.len()];
    let mut not_9000 = 0u64;
    let mut resets = 0u64;
    let deadline = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut rounds = 0u64;
    'run: loop {
        match args.iterations {
            Some(n) if rounds >= n => break,
            None if start.elapsed() >= deadline => break,
            _ => {}
        }
        for (i, apdu) in apdus.iter().enumerate() {
            let sent = Instant::now();
            let answer = match card.transmit(apdu, &mut response) {
                Ok(answer) => answer,
                Err(pcsc::Error::ResetCard) => {
                    // pcscd powers a freshly inserted card off and on again
                    // shortly after insertion; a client that connected in
                    // between is told so once. Not the link's fault: retry.
                    resets += 1;
                    if resets > 10 {
                        bail!("the card keeps being reset");
                    }
                    reconnect(&mut card)?;
                    continue;
                }
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("transmit {} failed", hex::encode_upper(apdu)));
                }
            };
            let took = sent.elapsed().as_nanos().try_into().unwrap_or(u64::MAX);
            latencies_ns.push(took);
            per_apdu_ns[i].push(took);
            if StatusWord::of_response(answer) != Some(StatusWord::Ok) {
                not_9000 += 1;
            }
            if let Some(expected) = &expected
                && !expected[i].iter().any(|e| e == answer)
            {
                bail!(
                    "the card in {:?} is not the default card, or not in the state a \
                     confirmation expects: {} answered {} instead of {}",
                    args.reader,
                    hex::encode_upper(apdu),
                    hex::encode_upper(answer),
                    hex::encode_upper(&expected[i][0])
                );
            }
            if args.iterations.is_none() && start.elapsed() >= deadline {
                break 'run;
            }
        }
        rounds += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let count = latencies_ns.len() as u64;
    if count == 0 {
        return Err(anyhow!("no APDU was sent"));
    }
    latencies_ns.sort_unstable();
    let percentile = |p: f64| {
        let i = ((latencies_ns.len() - 1) as f64 * p).round() as usize;
        latencies_ns[i] as f64 / 1000.0
    };
    let per_second = count as f64 / elapsed;
    let rounds_per_second = rounds as f64 / elapsed;
    let (p50, p99, max) = (percentile(0.5), percentile(0.99), percentile(1.0));
    let per_apdu_p50_us: Vec<f64> = per_apdu_ns
        .iter_mut()
        .map(|l| {
            l.sort_unstable();
            l.get(l.len() / 2)
                .map_or(f64::NAN, |&ns| ns as f64 / 1000.0)
        })
        .collect();
    println!(
        "{count} APDUs in {elapsed:.2} s = {per_second:.0} APDU/s on {:?} \
         (latency p50 {p50:.0} us, p99 {p99:.0} us, max {max:.0} us; {not_9000} not 9000, \
         {resets} resets)",
        args.reader
    );
    let json = serde_json::json!({
        "bench": "pcsc_apdu_loop",
        "label": args.label,
        "reader": args.reader,
        "apdus": count,
        "seconds": elapsed,
        "apdu_per_s": per_second,
        "rounds": rounds,
        "rounds_per_s": rounds_per_second,
        "apdus_per_round": apdus.len(),
        "p50_us": p50,
        "p99_us": p99,
        "max_us": max,
        "not_9000": not_9000,
        "resets": resets,
        "per_apdu_p50_us": per_apdu_p50_us,
    });
    println!("{json}");
    Ok(())
}

fn reconnect(card: &mut Card) -> anyhow::Result<()> {
    card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::LeaveCard)
        .context("reconnecting after a card reset")?;
    Ok(())
}

/// Waits until pcscd reports a card in `reader`, so that a bench started
/// together with the card does not fail on the first connect.
fn wait_for_card(ctx: &Context, reader: &CString, patience: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut states = [ReaderState::new(reader.clone(), State::UNAWARE)];
    loop {
        let left = patience.saturating_sub(start.elapsed());
        match ctx.get_status_change(left, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => bail!("no card in {reader:?} after {patience:?}"),
            Err(pcsc::Error::UnknownReader) => bail!("pcscd has no reader named {reader:?}"),
            Err(error) => return Err(error).context("waiting for a card"),
        }
        let state = states[0].event_state();
        if state.contains(State::PRESENT) && !state.contains(State::MUTE) {
            return Ok(());
        }
        if start.elapsed() >= patience {
            bail!("no card in {reader:?} after {patience:?}");
        }
        states[0].sync_current_state();
    }
}
