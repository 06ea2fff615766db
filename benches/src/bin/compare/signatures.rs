//! The signature measures: the card's and the phone's keys in process, beside `openssl speed`.

use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context as _;
use anyhow::bail;
use kazasu_benches::issue;
use kazasu_benches::proc_stat::thread_cpu_time;
use kazasu_benches::signature_command;
use sim_card::iso7816::StatusWord;
use sim_card::iso7816::select_aid;
use sim_card::iso7816::select_ef;
use sim_card::iso7816::verify;
use sim_card::mynumber::EF_AUTH_KEY;
use sim_card::mynumber::EF_AUTH_PIN;
use sim_card::mynumber::JPKI_AID;
use sim_card::variant::Variant;

use super::{Bound, Row};

pub(super) fn signature_rows(seconds: f64) -> Vec<Row> {
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
/// count signatures per second of CPU ([`thread_cpu_time`]): `openssl
/// speed` divides by its user CPU time unless given `-elapsed`, so on a busy
/// machine dividing ours by wall time would charge the card for the time
/// other processes had the core.
pub(super) fn signature_row(
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
pub(super) fn card_signatures(variant: Option<Variant>, seconds: f64) -> anyhow::Result<f64> {
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

/// Sign/s from `openssl speed -mr`: its line `+F2:k:bits:sign/s:verify/s`
/// (RSA) or `+F4:…` (ECDSA).
pub(super) fn openssl_speed(algorithm: &str, prefix: &str, seconds: f64) -> anyhow::Result<f64> {
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
