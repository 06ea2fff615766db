//! A soak: the mock service under mixed load with faults for minutes or
//! hours, reporting its memory and latency over time, so that a slow leak
//! (memory, file descriptors, latency creeping up) shows as a trend.
//!
//! The service runs in this process as `kazasu service` builds it (axum on
//! tokio, SQLite in WAL mode on a throwaway file, the built-in fixtures, the
//! clock frozen at 2026-12-01T10:00+09:00) on 127.0.0.1; all traffic stays
//! on loopback. The load, on its own runtime:
//!
//! - PIN confirmations (challenge, RSA signature as the card makes it,
//!   confirmation) and visual ones (the certificate only), on `--concurrency`
//!   keep-alive connections;
//! - requests the service must refuse (malformed JSON, a reused challenge);
//! - faults, cycling every 15 s: latency on every endpoint, 503s on
//!   confirmations, connections dropped mid-answer on challenges, the
//!   maintenance outage, then none (set on the service's fault table, as the
//!   admin API sets it);
//! - connections that send half a request and vanish, and idle connections
//!   held open for an interval.
//!
//! Every `--interval` seconds it prints one line: requests by outcome,
//! confirmation latency (p50, p99, max) in that interval, the process's RSS
//! and open file descriptors, and the database's size. RSS is the whole
//! process's (service and load); the load's share is bounded (a fixed number
//! of connections and buffers), so growth over hours is the service's. The
//! database grows with the history by design, so its size is shown apart.
//! It stops by itself after `--minutes`, with a summary and one JSON line.
//!
//! ```text
//! cargo run --release -p kazasu-benches --bin soak -- --minutes 240 --interval 60
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Parser;
use kazasu_benches::service::{
    BenchService, ClientCard, FACILITY, IssuedChallenge, LoopbackServer, http_client, percentile_ms,
};
use sim_service::http::faults::{Fault, FaultSet};
use sim_service::http::router;
use tokio::io::AsyncWriteExt;
/// How long each fault of the cycle lasts.
const FAULT_PERIOD: Duration = Duration::from_secs(15);
/// Connections held idle during each interval.
const IDLE_CONNECTIONS: usize = 32;

#[derive(Parser, Debug)]
#[command(
    about = "Run the mock service under mixed load with faults and report memory and latency over time"
)]
struct Args {
    /// How long to run; the soak stops by itself.
    #[arg(long, default_value_t = 60.0)]
    minutes: f64,
    /// Seconds between report lines.
    #[arg(long, default_value_t = 60.0)]
    interval: f64,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// Counters of one interval (swapped to zero at each report).
#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    refused: AtomicU64,
    server_error: AtomicU64,
    transport: AtomicU64,
    abrupt: AtomicU64,
    /// Confirmation latencies, microseconds.
    latencies_us: Mutex<Vec<u32>>,
}

impl Counters {
    fn count(&self, status: Result<u16, ()>) {
        let counter = match status {
            Ok(200..=299) => &self.ok,
            Ok(400..=499) => &self.refused,
            Ok(_) => &self.server_error,
            Err(()) => &self.transport,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The fault cycle: one of these per `FAULT_PERIOD`, in turn.
fn fault_cycle() -> Vec<(&'static str, FaultSet)> {
    let on = |endpoint: &str, fault: Fault| FaultSet {
        endpoints: [(endpoint.to_string(), fault)].into(),
        maintenance: false,
    };
    vec![
        ("none", FaultSet::default()),
        (
            "latency 50 ms",
            on(
                "*",
                Fault {
                    latency_ms: 50,
                    ..Fault::default()
                },
            ),
        ),
        (
            "confirmations 503",
            on(
                "confirmations",
                Fault {
                    status: Some(503),
                    ..Fault::default()
                },
            ),
        ),
        (
            "challenges dropped",
            on(
                "challenges",
                Fault {
                    drop_connection: true,
                    ..Fault::default()
                },
            ),
        ),
        (
            "maintenance",
            FaultSet {
                maintenance: true,
                ..FaultSet::default()
            },
        ),
    ]
}

/// The status and body of a request's answer; `Err` when none came whole.
async fn status_of(request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), ()> {
    let response = request.send().await.map_err(|_| ())?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|_| ())?;
    Ok((status, body.to_vec()))
}

/// One client connection's loop: PIN and visual confirmations, and
/// requests the service must refuse, until `end`.
async fn client(
    n: usize,
    base: Arc<str>,
    card: Arc<ClientCard>,
    counters: Arc<Counters>,
    end: Instant,
) -> anyhow::Result<()> {
    let client = http_client()?;
    let mut used_challenge: Option<String> = None;
    let mut round = n;
    while Instant::now() < end {
        round += 1;
        match round % 10 {
            // A malformed body, and a challenge used twice: 4xx, always.
            0 => {
                let r = status_of(
                    client
                        .post(format!("{base}/v1/confirmations"))
                        .header("content-type", "application/json")
                        .body("{\"method\":"),
                )
                .await;
                counters.count(r.map(|(s, _)| s));
            }
            1 if used_challenge.is_some() => {
                let body = serde_json::json!({
                    "medical_institution_code": FACILITY,
                    "method": "pin",
                    "certificate": card.certificate_b64(),
                    "challenge_id": used_challenge.take(),
                    "signature": BASE64.encode([0u8; 256]),
                });
                let r =
                    status_of(client.post(format!("{base}/v1/confirmations")).json(&body)).await;
                counters.count(r.map(|(s, _)| s));
            }
            2..=4 => {
                let body = serde_json::json!({
                    "medical_institution_code": FACILITY,
                    "method": "visual",
                    "certificate": card.certificate_b64(),
                });
                let sent = Instant::now();
                let r =
                    status_of(client.post(format!("{base}/v1/confirmations")).json(&body)).await;
                record(&counters, sent, &r);
                counters.count(r.map(|(s, _)| s));
            }
            _ => {
                let r = status_of(client.post(format!("{base}/v1/challenges"))).await;
                let issued = match r {
                    Ok((201, body)) => serde_json::from_slice::<IssuedChallenge>(&body)?,
                    other => {
                        counters.count(other.map(|(s, _)| s));
                        // Do not spin on a faulted endpoint.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                counters.count(Ok(201));
                let signature = card.sign(&BASE64.decode(&issued.challenge)?)?;
                let body = serde_json::json!({
                    "medical_institution_code": FACILITY,
                    "device": "soak",
                    "method": "pin",
                    "certificate": card.certificate_b64(),
                    "challenge_id": issued.challenge_id,
                    "signature": BASE64.encode(signature),
                });
                let sent = Instant::now();
                let r =
                    status_of(client.post(format!("{base}/v1/confirmations")).json(&body)).await;
                record(&counters, sent, &r);
                counters.count(r.map(|(s, _)| s));
                used_challenge = Some(issued.challenge_id);
            }
        }
    }
    Ok(())
}

/// Keeps the latency of a confirmation the service acknowledged.
fn record(counters: &Counters, sent: Instant, result: &Result<(u16, Vec<u8>), ()>) {
    if matches!(result, Ok((200, _))) {
        let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
        counters.latencies_us.lock().unwrap().push(us);
    }
}

/// Half requests and vanishing clients, and idle connections held for an
/// interval, until `end`.
async fn rude_clients(addr: SocketAddr, counters: Arc<Counters>, interval: Duration, end: Instant) {
    while Instant::now() < end {
        let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
        for _ in 0..IDLE_CONNECTIONS {
            if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
                idle.push(stream);
            }
        }
        let until = (Instant::now() + interval).min(end);
        while Instant::now() < until {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
                let _ = stream
                    .write_all(b"POST /v1/confirmations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"method\":")
                    .await;
                counters.abrupt.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(idle);
    }
}

/// The process's resident set, from /proc (MiB; NaN where unreadable).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

fn size_mib(db: &std::path::Path) -> f64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            std::fs::metadata(path).ok()
        })
        .map(|m| m.len() as f64)
        .sum::<f64>()
        / (1024.0 * 1024.0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(args.minutes > 0.0 && args.interval > 0.0 && args.concurrency > 0) {
        bail!("--minutes, --interval and --concurrency must be positive");
    }
    let dir = std::env::temp_dir().join(format!("kazasu-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let outcome = run(&args, &dir.join("service.db"));
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn run(args: &Args, db: &std::path::Path) -> anyhow::Result<()> {
    let BenchService { state, card, .. } = BenchService::start(db)?;

    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("soak-server")
        .build()?;
    let load = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("soak-load")
        .build()?;
    let served = LoopbackServer::start(&server, router(state.clone()))?;
    let addr = served.addr;

    let interval = Duration::from_secs_f64(args.interval);
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(args.minutes * 60.0);
    let counters = Arc::new(Counters::default());
    let base: Arc<str> = format!("http://{addr}").into();
    let clients: Vec<_> = (0..args.concurrency)
        .map(|n| load.spawn(client(n, base.clone(), card.clone(), counters.clone(), end)))
        .collect();
    load.spawn(rude_clients(addr, counters.clone(), interval, end));
    println!(
        "soak: {} min on http://{addr}, {} connections, a report every {} s{}",
        args.minutes,
        args.concurrency,
        args.interval,
        if cfg!(debug_assertions) {
            " (DEBUG build: run with --release for figures)"
        } else {
            ""
        }
    );
    println!(
        "{:>7} {:>14} {:>7} {:>6} {:>6} {:>9} {:>6} {:>8} {:>8} {:>8} {:>8} {:>5} {:>8}",
        "t_s",
        "fault",
        "ok",
        "4xx",
        "5xx",
        "transport",
        "abrupt",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "rss_mib",
        "fds",
        "db_mib"
    );

    let cycle = fault_cycle();
    let rss_start = rss_mib();
    let (mut rss_first, mut rss_last, mut rss_max) = (f64::NAN, f64::NAN, 0f64);
    let (mut p99_first, mut p99_last) = (f64::NAN, f64::NAN);
    let mut total_ok = 0u64;
    let mut next_report = started + interval;
    let mut fault_index = usize::MAX;
    while Instant::now() < end {
        let index =
            (started.elapsed().as_secs_f64() / FAULT_PERIOD.as_secs_f64()) as usize % cycle.len();
        if index != fault_index {
            fault_index = index;
            state.faults.set(cycle[index].1.clone());
        }
        std::thread::sleep(
            Duration::from_millis(100).min(end.saturating_duration_since(Instant::now())),
        );
        if Instant::now() < next_report && Instant::now() < end {
            continue;
        }
        next_report += interval;
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let ok = take(&counters.ok);
        total_ok += ok;
        let mut latencies = std::mem::take(&mut *counters.latencies_us.lock().unwrap());
        latencies.sort_unstable();
        let (rss, p99) = (rss_mib(), percentile_ms(&latencies, 0.99));
        if rss_first.is_nan() {
            (rss_first, p99_first) = (rss, p99);
        }
        (rss_last, p99_last, rss_max) = (rss, p99, rss_max.max(rss));
        println!(
            "{:>7.0} {:>14} {:>7} {:>6} {:>6} {:>9} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>5} {:>8.1}",
            started.elapsed().as_secs_f64(),
            cycle[fault_index].0,
            ok,
            take(&counters.refused),
            take(&counters.server_error),
            take(&counters.transport),
            take(&counters.abrupt),
            percentile_ms(&latencies, 0.5),
            p99,
            latencies
                .last()
                .map_or(f64::NAN, |us| f64::from(*us) / 1000.0),
            rss,
            open_fds(),
            size_mib(db),
        );
    }
    state.faults.set(FaultSet::default());
    for c in clients {
        load.block_on(c)??;
    }
    served.stop(&server);
    println!(
        "soak done: {total_ok} requests answered 2xx; RSS {rss_start:.1} MiB at start, {rss_first:.1} after the first interval, {rss_last:.1} at the end (max {rss_max:.1}); confirmation p99 {p99_first:.2} ms in the first interval, {p99_last:.2} ms in the last"
    );
    println!(
        "{}",
        serde_json::json!({
            "minutes": args.minutes,
            "ok": total_ok,
            "rss_start_mib": rss_start,
            "rss_first_mib": rss_first,
            "rss_end_mib": rss_last,
            "rss_max_mib": rss_max,
            "p99_first_ms": p99_first,
            "p99_last_ms": p99_last,
        })
    );
    Ok(())
}
