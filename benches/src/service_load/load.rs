//! The load: C connections, each looping over one request (the trivial
//! handler's) or one confirmation (challenge, the card's signature,
//! confirmation), for a warm-up and a measured window; what each phase
//! measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::cpu::{Cpu, CpuMark};
use crate::service::{ClientCard, FACILITY, IssuedChallenge, http_client, percentile_ms};

/// What the load does per iteration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Load {
    /// `GET /` on the trivial handler.
    Trivial,
    /// Challenge, card signature, PIN confirmation.
    Confirmation,
}

/// How long and how wide a phase runs.
#[derive(Clone, Copy)]
pub(super) struct Window {
    pub(super) concurrency: usize,
    pub(super) warmup: Duration,
    pub(super) seconds: Duration,
}

/// A challenge issued and signed before the timed phase (`--presigned`).
pub(super) struct Presigned {
    challenge_id: String,
    signature_b64: String,
}

/// One connection's measurements.
#[derive(Default)]
struct Tally {
    /// Latency of each measured request, microseconds.
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    /// Its presigned challenges ran out before the end.
    ran_dry: bool,
}

impl Tally {
    fn error(&mut self, measuring: bool, message: String) {
        if measuring {
            self.errors += 1;
            self.first_error.get_or_insert(message);
        }
    }
}

/// A phase's result.
pub(super) struct Phase {
    /// Connections whose presigned challenges ran out before the end.
    pub(super) ran_dry: usize,
    pub(super) count: usize,
    pub(super) seconds: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
    pub(super) errors: u64,
    pub(super) first_error: Option<String>,
    pub(super) cpu: Cpu,
}

impl Phase {
    pub(super) fn rate(&self) -> f64 {
        self.count as f64 / self.seconds
    }
}

/// One connection's loop until `end`; only iterations started at or after
/// `measure_from` are counted. With a `pool`, each confirmation uses the
/// next presigned challenge, and the loop ends when they run out.
async fn connection(
    client: reqwest::Client,
    load: Load,
    base: Arc<str>,
    card: Arc<ClientCard>,
    mut pool: Option<Vec<Presigned>>,
    measure_from: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let measuring = started >= measure_from;
        let result = match (load, pool.as_mut()) {
            (Load::Trivial, _) => trivial_once(&client, &base).await,
            (Load::Confirmation, None) => confirm_once(&client, &base, &card).await,
            (Load::Confirmation, Some(pool)) => {
                let Some(signed) = pool.pop() else {
                    tally.ran_dry = true;
                    break;
                };
                post_confirmation(&client, &base, &card, &signed).await
            }
        };
        match result {
            Ok(latency) => {
                if measuring {
                    let us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
                    tally.latencies_us.push(us);
                }
            }
            Err(e) => {
                tally.error(measuring, format!("{e:#}"));
                // Do not spin on a broken server.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tally
}

async fn trivial_once(client: &reqwest::Client, base: &str) -> anyhow::Result<Duration> {
    let sent = Instant::now();
    let response = client.get(format!("{base}/")).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    let latency = sent.elapsed();
    if !status.is_success() || &body[..] != b"ok" {
        bail!("GET / answered {status}");
    }
    Ok(latency)
}

/// Challenge, signature, confirmation. Returns the confirmation request's
/// latency.
async fn confirm_once(
    client: &reqwest::Client,
    base: &str,
    card: &ClientCard,
) -> anyhow::Result<Duration> {
    // Signing blocks this worker thread for a fraction of a millisecond, as
    // a client's card reader would block its caller; moving it to a blocking
    // pool would cost more than it saves at this size.
    let signed = presign(client, base, card).await?;
    post_confirmation(client, base, card, &signed).await
}

/// POST /v1/challenges and sign it.
async fn presign(
    client: &reqwest::Client,
    base: &str,
    card: &ClientCard,
) -> anyhow::Result<Presigned> {
    let response = client.post(format!("{base}/v1/challenges")).send().await?;
    if response.status().as_u16() != 201 {
        bail!("POST /v1/challenges answered {}", response.status());
    }
    let issued: IssuedChallenge = response.json().await?;
    let signature = card.sign(&BASE64.decode(&issued.challenge)?)?;
    Ok(Presigned {
        challenge_id: issued.challenge_id,
        signature_b64: BASE64.encode(signature),
    })
}

/// `count` presigned challenges, issued and signed before anything is
/// timed, split over `connections` pools.
pub(super) fn presign_pools(
    client_runtime: &tokio::runtime::Runtime,
    base: &Arc<str>,
    card: &Arc<ClientCard>,
    count: usize,
    connections: usize,
) -> anyhow::Result<Vec<Vec<Presigned>>> {
    client_runtime.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|i| {
                let (base, card) = (base.clone(), card.clone());
                let share = count / connections + usize::from(i < count % connections);
                tokio::spawn(async move {
                    let client = http_client()?;
                    let mut pool = Vec::with_capacity(share);
                    for _ in 0..share {
                        pool.push(presign(&client, &base, &card).await?);
                    }
                    anyhow::Ok(pool)
                })
            })
            .collect();
        let mut pools = Vec::with_capacity(connections);
        for task in tasks {
            pools.push(task.await??);
        }
        Ok(pools)
    })
}

/// The confirmation request with a signed challenge. Returns its latency.
async fn post_confirmation(
    client: &reqwest::Client,
    base: &str,
    card: &ClientCard,
    signed: &Presigned,
) -> anyhow::Result<Duration> {
    let body = serde_json::json!({
        "medical_institution_code": FACILITY,
        "device": "service_load",
        "method": "pin",
        "certificate": card.certificate_b64(),
        "challenge_id": signed.challenge_id,
        "signature": signed.signature_b64,
    });
    let sent = Instant::now();
    let response = client
        .post(format!("{base}/v1/confirmations"))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let acknowledged = response.headers().contains_key("x-kazasu-confirmation-id");
    let body = response.bytes().await?;
    let latency = sent.elapsed();
    if status.as_u16() != 200 || !acknowledged {
        bail!(
            "POST /v1/confirmations answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok(latency)
}

/// Runs one phase against `base`: `window.concurrency` connections for the
/// warm-up plus the measured seconds, with presigned challenges when `pools`
/// has them.
pub(super) fn run_phase(
    client_runtime: &tokio::runtime::Runtime,
    load: Load,
    base: &Arc<str>,
    card: &Arc<ClientCard>,
    pools: Option<Vec<Vec<Presigned>>>,
    window: Window,
) -> anyhow::Result<Phase> {
    let mut pools = pools.map(Vec::into_iter);
    // Built before the clock starts: building one loads the system's root
    // certificates through OpenSSL (~ms each), work no request pays.
    let clients = (0..window.concurrency)
        .map(|_| http_client())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let end = measure_from + window.seconds;
    let (tallies, cpu, measured) = client_runtime.block_on(async {
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|client| {
                tokio::spawn(connection(
                    client,
                    load,
                    base.clone(),
                    card.clone(),
                    pools.as_mut().and_then(Iterator::next),
                    measure_from,
                    end,
                ))
            })
            .collect();
        tokio::time::sleep_until(measure_from.into()).await;
        let mark = CpuMark::now();
        let mut tallies = Vec::with_capacity(tasks.len());
        for task in tasks {
            tallies.push(task.await?);
        }
        // The window runs until the last counted request came back.
        let measured = measure_from.elapsed();
        anyhow::Ok((tallies, mark.used(), measured))
    })?;
    let mut latencies: Vec<u32> = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let ran_dry = tallies.iter().filter(|t| t.ran_dry).count();
    for t in tallies {
        latencies.extend(t.latencies_us);
        errors += t.errors;
        if first_error.is_none() {
            first_error = t.first_error;
        }
    }
    latencies.sort_unstable();
    Ok(Phase {
        ran_dry,
        count: latencies.len(),
        seconds: measured.as_secs_f64(),
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        max_ms: percentile_ms(&latencies, 1.0),
        errors,
        first_error,
        cpu,
    })
}
