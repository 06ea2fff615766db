//! PIN-method confirmations per second through the mock service's HTTP API,
//! against the ceiling of a trivial axum handler served the same way.
//!
//! The service runs in this process, as `kazasu service` runs it (axum on
//! tokio, SQLite in WAL mode on a file, the built-in fixtures, the clock
//! frozen at 2026-12-01T10:00+09:00), on 127.0.0.1. Each of C connections
//! loops over what a client does for one PIN confirmation: POST a
//! challenge, sign it as the card would (RSA-2048 PKCS#1 v1.5 over the
//! SHA-256 DigestInfo), POST the confirmation. Nothing is pre-signed, since a
//! replayed challenge is refused, and pre-signing would hide the cost a real
//! client pays. Latency is that of the confirmation request alone.
//!
//! The same run serves `GET / → "ok"` with the same runtime, `serve` and
//! concurrency: the ratio says how much of the HTTP stack's capacity a
//! confirmation leaves, whatever the machine.
//!
//! Client and server share the machine's cores. The card's signature is
//! client work (~0.3 ms of CPU each; the key is derived once, before
//! anything is timed), so the run reports the CPU each side used (per
//! thread, from /proc) as well as the rates: on a small machine the client's
//! signing takes cores the server would otherwise have. It also reports the
//! machine's busy cores, and warns when other processes took a share.
//!
//! Last, it times each step of a confirmation (the service's own functions,
//! and the OpenSSL operations inside them) on one idle thread: the table
//! that says where a confirmation's server CPU goes.
//!
//! `--presigned N` measures something else, on purpose: N challenges are
//! issued and signed *before* the timed phase (each still used once), and
//! the timed loop only POSTs confirmations. It is what the service does when
//! its clients sign on other machines, as real front desks do: the figure for
//! the service's own capacity on this machine. The default run, with the
//! client signing each challenge inside the loop, stays the honest
//! end-to-end figure. A connection whose share of the pool runs out stops;
//! the run says so, and the pool should be larger.
//!
//! `--smoke` is a second of load on 4 connections with no step table: a
//! check that the service answers confirmations without errors, for CI.
//! Whatever the mode, the last line on stdout is one JSON object
//! (`confirmations_per_s`, `p50_ms`, `p99_ms`, `trivial_per_s`, `ratio`, …),
//! for the comparison tools.
//!
//! ```text
//! cargo run --release -p kazasu-benches --bin service_load -- [--concurrency 64] [--seconds 10] [--warmup 2] [--presigned 60000] [--smoke]
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Parser;
use kazasu_benches::proc_stat::CpuTicks;
use serde::Deserialize;
use sim_card::keys::{AUTH_KEY_LABEL, RsaKey};
use sim_card::mynumber;
use sim_service::clock::ServiceClock;
use sim_service::fixtures;
use sim_service::http::{AppState, ServiceConfig, router, serve};
use sim_service::service::{CardPresentation, Service};
use sim_service::store::Store;
use tokio::sync::oneshot;

const FACILITY: &str = "0110000001";
/// The day the built-in fixtures are designed around.
const CLOCK: &str = "2026-12-01T10:00:00+09:00";
/// The person confirmed: a physical card with a valid qualification, so each
/// confirmation shows qualification information and is written to the
/// history like a real front desk's.
const PERSON: &str = "valid";
/// Thread names, so CPU time can be told apart per side.
const SERVER_THREADS: &str = "svc-server";
const CLIENT_THREADS: &str = "load-client";

#[derive(Parser, Debug)]
#[command(about = "Measure PIN-method confirmations per second through the mock service")]
struct Args {
    /// Concurrent connections (each a client looping challenge → sign → confirm).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds of each phase.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of load before measuring, in each phase (connections opened,
    /// caches warm, SQLite's WAL past its first checkpoint).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Free-form text copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
    /// Issue and sign this many challenges before the timed phase, and time
    /// the confirmation requests alone (see the module docs).
    #[arg(long)]
    presigned: Option<usize>,
    /// A short check for CI: 1 s of load on 4 connections after 0.25 s of
    /// warm-up, no step table; fails on any error.
    #[arg(long)]
    smoke: bool,
}

/// What the load does per iteration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    /// `GET /` on the trivial handler.
    Trivial,
    /// Challenge, card signature, PIN confirmation.
    Confirmation,
}

/// The client's side of a confirmation: the card's certificate and key.
struct ClientCard {
    certificate_b64: String,
    key: RsaKey,
}

impl ClientCard {
    /// What COMPUTE DIGITAL SIGNATURE returns for this challenge after VERIFY.
    fn sign(&self, challenge: &[u8]) -> anyhow::Result<Vec<u8>> {
        let digest_info = mynumber::sha256_digest_info(&openssl::sha::sha256(challenge));
        Ok(self.key.sign_digest_info(&digest_info)?)
    }
}

#[derive(Deserialize)]
struct Challenge {
    challenge_id: String,
    challenge: String,
}

/// A challenge issued and signed before the timed phase (`--presigned`).
struct Presigned {
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
struct Phase {
    /// Connections whose presigned challenges ran out before the end.
    ran_dry: usize,
    count: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    first_error: Option<String>,
    cpu: Cpu,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.count as f64 / self.seconds
    }
}

/// CPU seconds used during a phase's measured window: by each side of
/// this process, and by the whole machine (other processes included, which
/// is how a run on a busy machine shows itself).
#[derive(Default, Clone, Copy)]
struct Cpu {
    server: f64,
    client: f64,
    other: f64,
    machine: f64,
}

/// Busy CPU seconds of the whole machine since boot (NaN where /proc/stat
/// cannot be read, so the figure shows as unknown rather than as zero).
fn machine_busy() -> f64 {
    CpuTicks::read().map_or(f64::NAN, |ticks| ticks.busy_seconds())
}

/// CPU time per thread name (summed), from /proc: `schedstat`'s first field
/// is the nanoseconds a thread ran. Threads that end between two readings
/// take their time with them, which is why both runtimes keep their threads.
fn cpu_by_thread_name() -> HashMap<String, Duration> {
    let mut by_name: HashMap<String, Duration> = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ran_ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or_default();
        *by_name.entry(name.trim().to_string()).or_default() += Duration::from_nanos(ran_ns);
    }
    by_name
}

fn cpu_between(
    before: &HashMap<String, Duration>,
    after: &HashMap<String, Duration>,
    machine: f64,
) -> Cpu {
    let mut cpu = Cpu {
        machine,
        ..Cpu::default()
    };
    for (name, total) in after {
        let used = total
            .saturating_sub(before.get(name).copied().unwrap_or_default())
            .as_secs_f64();
        // comm is cut at 15 bytes; both names are shorter.
        if name.starts_with(SERVER_THREADS) {
            cpu.server += used;
        } else if name.starts_with(CLIENT_THREADS) {
            cpu.client += used;
        } else {
            cpu.other += used;
        }
    }
    cpu
}

/// Starts `app` on 127.0.0.1 with the service's own `serve`, on the server
/// runtime; the sender stops it.
fn start_server(
    runtime: &tokio::runtime::Runtime,
    app: Router,
) -> anyhow::Result<(SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = runtime.spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = serve(listener, app, None, shutdown).await {
            eprintln!("server on {addr}: {e}");
        }
    });
    Ok((addr, stop, task))
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    // One client per connection, keep-alive, and never a proxy from the
    // environment between the load and the loopback server.
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?)
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
    let response = client.post(format!("{base}/v1/challenges")).send().await?;
    if response.status().as_u16() != 201 {
        bail!("POST /v1/challenges answered {}", response.status());
    }
    let issued: Challenge = response.json().await?;
    let challenge = BASE64.decode(&issued.challenge)?;
    // Signing blocks this worker thread for a fraction of a millisecond, as
    // a client's card reader would block its caller; moving it to a blocking
    // pool would cost more than it saves at this size.
    let signature = card.sign(&challenge)?;
    let signed = Presigned {
        challenge_id: issued.challenge_id,
        signature_b64: BASE64.encode(signature),
    };
    post_confirmation(client, base, card, &signed).await
}

/// POST /v1/challenges and sign it, before anything is timed.
async fn presign(
    client: &reqwest::Client,
    base: &str,
    card: &ClientCard,
) -> anyhow::Result<Presigned> {
    let response = client.post(format!("{base}/v1/challenges")).send().await?;
    if response.status().as_u16() != 201 {
        bail!("POST /v1/challenges answered {}", response.status());
    }
    let issued: Challenge = response.json().await?;
    let signature = card.sign(&BASE64.decode(&issued.challenge)?)?;
    Ok(Presigned {
        challenge_id: issued.challenge_id,
        signature_b64: BASE64.encode(signature),
    })
}

/// `count` presigned challenges split over `connections` pools.
fn presign_pools(
    client_runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    card: &Arc<ClientCard>,
    count: usize,
    connections: usize,
) -> anyhow::Result<Vec<Vec<Presigned>>> {
    let base: Arc<str> = format!("http://{addr}").into();
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
        "certificate": card.certificate_b64,
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

/// Runs one phase: `concurrency` connections for warm-up plus `seconds`,
/// with presigned challenges when `pools` has them.
fn run_phase(
    client_runtime: &tokio::runtime::Runtime,
    load: Load,
    addr: SocketAddr,
    card: &Arc<ClientCard>,
    pools: Option<Vec<Vec<Presigned>>>,
    args: &Args,
) -> anyhow::Result<Phase> {
    let mut pools = pools.map(Vec::into_iter);
    let base: Arc<str> = format!("http://{addr}").into();
    // Built before the clock starts: building one loads the system's root
    // certificates through OpenSSL (~ms each), work no request pays.
    let clients = (0..args.concurrency)
        .map(|_| http_client())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.seconds);
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
        let cpu_before = cpu_by_thread_name();
        let machine_before = machine_busy();
        let mut tallies = Vec::with_capacity(tasks.len());
        for task in tasks {
            tallies.push(task.await?);
        }
        // The window runs until the last counted request came back.
        let measured = measure_from.elapsed();
        let cpu = cpu_between(
            &cpu_before,
            &cpu_by_thread_name(),
            machine_busy() - machine_before,
        );
        anyhow::Ok((tallies, cpu, measured))
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
    let percentile_ms = |p: f64| {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() - 1) as f64 * p).round() as usize;
        f64::from(latencies[i]) / 1000.0
    };
    Ok(Phase {
        ran_dry,
        count: latencies.len(),
        seconds: measured.as_secs_f64(),
        p50_ms: percentile_ms(0.50),
        p99_ms: percentile_ms(0.99),
        max_ms: percentile_ms(1.0),
        errors,
        first_error,
        cpu,
    })
}

/// Stops a server and waits for it (bounded: connections are closed by
/// then, so graceful shutdown is quick).
fn stop_server(
    server_runtime: &tokio::runtime::Runtime,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
) {
    let _ = stop.send(());
    server_runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    });
}

fn runtime(name: &'static str) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        // Blocking-pool threads of the server (SQLite, certificate checks)
        // outlive a phase, so their CPU time is still there to read.
        .thread_keep_alive(Duration::from_secs(3600))
        .build()?)
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.concurrency = 4;
        args.seconds = 1.0;
        args.warmup = 0.25;
    }
    if args.concurrency == 0 || !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!("--concurrency and --seconds must be positive");
    }
    if !(args.warmup.is_finite() && args.warmup >= 0.0) {
        bail!("--warmup must not be negative");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // The service as `kazasu service` builds it, on a throwaway database.
    let dir = std::env::temp_dir().join(format!("kazasu-service-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("service.db");
    let outcome = run(&args, cores, &db);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn run(args: &Args, cores: usize, db: &std::path::Path) -> anyhow::Result<()> {
    let store = Store::open(db).with_context(|| format!("open {}", db.display()))?;
    let clock = ServiceClock::wall();
    clock.freeze(time::OffsetDateTime::parse(
        CLOCK,
        &time::format_description::well_known::Rfc3339,
    )?);
    let state = AppState::new(store, clock, ServiceConfig::default()).map_err(|e| anyhow!(e))?;
    let persons = fixtures::built_in()?;
    state.install_fixtures(&persons)?;

    // The client's card: key derived once, before anything is timed.
    let person = fixtures::find(&persons, PERSON).context("the built-in person `valid`")?;
    let profile = &person.card.profile;
    let pki = sim_card::personalize::simulated_jpki()?;
    let certificate = sim_card::personalize::auth_certificate(profile, &pki)?;
    let card = Arc::new(ClientCard {
        certificate_b64: BASE64.encode(&certificate),
        key: RsaKey::derive(&profile.seed, AUTH_KEY_LABEL),
    });
    let sign_cost = {
        let rounds = 200u32;
        let started = Instant::now();
        for i in 0..rounds {
            card.sign(&i.to_be_bytes())?;
        }
        started.elapsed() / rounds
    };

    let server_runtime = runtime(SERVER_THREADS)?;
    let client_runtime = runtime(CLIENT_THREADS)?;
    println!(
        "service_load: {} connections, {} s measured after {} s warm-up, {cores} cores shared by client and server{}",
        args.concurrency,
        args.seconds,
        args.warmup,
        if cfg!(debug_assertions) {
            " (DEBUG build: run with --release for figures)"
        } else {
            ""
        }
    );
    println!(
        "client signature (RSA-2048 PKCS#1 v1.5): {:.3} ms CPU each, measured alone",
        sign_cost.as_secs_f64() * 1000.0
    );

    let trivial_app = Router::new().route("/", get(|| async { "ok" }));
    let (addr, stop, task) = start_server(&server_runtime, trivial_app)?;
    let trivial = run_phase(&client_runtime, Load::Trivial, addr, &card, None, args)?;
    stop_server(&server_runtime, stop, task);
    report("trivial GET /", "req/s", &trivial);

    let (addr, stop, task) = start_server(&server_runtime, router(state.clone()))?;
    let pools = match args.presigned {
        Some(count) => {
            let started = Instant::now();
            let pools = presign_pools(&client_runtime, addr, &card, count, args.concurrency)?;
            println!(
                "presigned: {count} challenges issued and signed in {:.1} s, before the timed phase",
                started.elapsed().as_secs_f64()
            );
            Some(pools)
        }
        None => None,
    };
    let confirmations = run_phase(
        &client_runtime,
        Load::Confirmation,
        addr,
        &card,
        pools,
        args,
    )?;
    stop_server(&server_runtime, stop, task);
    report(
        if args.presigned.is_some() {
            "PIN conf presigned"
        } else {
            "PIN confirmations"
        },
        "conf/s",
        &confirmations,
    );
    if confirmations.ran_dry > 0 {
        println!(
            "WARNING: {} of {} connections ran out of presigned challenges before the end: \
             fewer connections were loading; give --presigned more",
            confirmations.ran_dry, args.concurrency
        );
    }

    let summary = summarize(cores, &trivial, &confirmations, sign_cost);
    // After the load, so that it cannot disturb it.
    let stages_us = if args.smoke {
        serde_json::Map::new()
    } else {
        timed_stages(&state, &persons, &card, &certificate, db)?
    };
    let json = json_line(args, cores, &trivial, &confirmations, &summary, stages_us);
    println!("{json}");
    if confirmations.errors > 0 || trivial.errors > 0 {
        bail!("the load saw errors (see above)");
    }
    if confirmations.count == 0 || trivial.count == 0 {
        bail!("no request was answered in the measured window");
    }
    Ok(())
}

/// The load's figures derived from both phases, as printed and as the JSON
/// line carries them.
#[derive(Clone, Copy)]
struct Summary {
    ratio: f64,
    http_ratio: f64,
    sign_ms: f64,
    server_ms: f64,
    client_ms: f64,
    server_bound: f64,
}

/// Derives and prints the ratios and the CPU per confirmation, and warns
/// when other processes took cores during a phase.
fn summarize(cores: usize, trivial: &Phase, confirmations: &Phase, sign_cost: Duration) -> Summary {
    let ratio = confirmations.rate() / trivial.rate();
    let http_ratio = 2.0 * confirmations.rate() / trivial.rate();
    let per_confirmation_ms = |cpu_s: f64| 1000.0 * cpu_s / confirmations.count as f64;
    let server_ms = per_confirmation_ms(confirmations.cpu.server);
    let client_ms = per_confirmation_ms(confirmations.cpu.client);
    let sign_ms = sign_cost.as_secs_f64() * 1000.0;
    // Estimated from the cost measured alone: timing each signature inside
    // the load would count the time its thread waited for a core.
    let signing_cores = sign_cost.as_secs_f64() * confirmations.rate();
    let server_bound = 1000.0 / server_ms;
    println!(
        "ratio: {ratio:.3} confirmations per trivial request \
         ({http_ratio:.3} counting the challenge: 2 HTTP requests per confirmation)"
    );
    println!(
        "CPU per confirmation: server {server_ms:.3} ms, client {client_ms:.3} ms \
         (signing ~{sign_ms:.3} ms of it: ~{signing_cores:.2} of {cores} cores at this rate)"
    );
    println!(
        "server-only bound: {server_bound:.0} conf/s per core of server CPU \
         (~{:.0} on {cores} cores with the client elsewhere)",
        server_bound * cores as f64
    );
    for (what, phase) in [("trivial", trivial), ("confirmation", confirmations)] {
        let others = (phase.cpu.machine - phase.cpu.server - phase.cpu.client - phase.cpu.other)
            / phase.seconds;
        if others > 0.2 {
            println!(
                "WARNING: other processes used {others:.2} cores during the {what} phase: \
                 the figures are low; run again on a quiet machine"
            );
        }
    }
    Summary {
        ratio,
        http_ratio,
        sign_ms,
        server_ms,
        client_ms,
        server_bound,
    }
}

/// Times the steps of a confirmation (see [`stage_costs`]) and prints
/// them, warning when other processes took cores meanwhile; answers them
/// for the JSON line, in microseconds.
fn timed_stages(
    state: &AppState,
    persons: &[fixtures::InsuredPerson],
    card: &ClientCard,
    certificate: &[u8],
    db: &std::path::Path,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let stages_db = db.with_file_name("stages.db");
    let (own_before, machine_before, started) =
        (cpu_by_thread_name(), machine_busy(), Instant::now());
    let stages = stage_costs(state, persons, card, certificate, &stages_db)?;
    let stage_cpu = cpu_between(
        &own_before,
        &cpu_by_thread_name(),
        machine_busy() - machine_before,
    );
    let own: f64 = stage_cpu.server + stage_cpu.client + stage_cpu.other;
    let stage_others = (stage_cpu.machine - own) / started.elapsed().as_secs_f64();
    if !stages.is_empty() {
        println!("cost of each step of a confirmation on one idle thread (mean of 300 calls):");
    }
    for (what, cost) in &stages {
        println!("  {:>8.1} us  {what}", cost.as_secs_f64() * 1e6);
    }
    if !stages.is_empty() && stage_others > 0.2 {
        println!(
            "WARNING: other processes used {stage_others:.2} cores while the steps were timed: \
             the costs are high; run again on a quiet machine"
        );
    }
    let stages_us: serde_json::Map<String, serde_json::Value> = stages
        .iter()
        .map(|(what, cost)| (what.trim().to_string(), (cost.as_secs_f64() * 1e6).into()))
        .collect();

    Ok(stages_us)
}

/// The run as the one JSON object of the last stdout line.
fn json_line(
    args: &Args,
    cores: usize,
    trivial: &Phase,
    confirmations: &Phase,
    summary: &Summary,
    stages_us: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let Summary {
        ratio,
        http_ratio,
        sign_ms,
        server_ms,
        client_ms,
        server_bound,
    } = *summary;
    serde_json::json!({
        "bench": "service_load",
        "label": args.label,
        "mode": if args.smoke { "smoke" } else if args.presigned.is_some() { "presigned" } else { "signing" },
        "presigned": args.presigned,
        "ran_dry": confirmations.ran_dry,
        "release": !cfg!(debug_assertions),
        "cores": cores,
        "concurrency": args.concurrency,
        "seconds": confirmations.seconds,
        "warmup_s": args.warmup,
        "confirmations": confirmations.count,
        "confirmations_per_s": confirmations.rate(),
        "p50_ms": confirmations.p50_ms,
        "p99_ms": confirmations.p99_ms,
        "max_ms": confirmations.max_ms,
        "errors": confirmations.errors,
        "trivial_per_s": trivial.rate(),
        "trivial_p50_ms": trivial.p50_ms,
        "trivial_p99_ms": trivial.p99_ms,
        "trivial_max_ms": trivial.max_ms,
        "trivial_errors": trivial.errors,
        "ratio": ratio,
        "ratio_http_requests": http_ratio,
        "sign_ms": sign_ms,
        "server_cpu_ms_per_confirmation": server_ms,
        "client_cpu_ms_per_confirmation": client_ms,
        "server_bound_per_core": server_bound,
        "server_cores_used": confirmations.cpu.server / confirmations.seconds,
        "client_cores_used": confirmations.cpu.client / confirmations.seconds,
        "trivial_server_cores_used": trivial.cpu.server / trivial.seconds,
        "trivial_client_cores_used": trivial.cpu.client / trivial.seconds,
        "machine_cores_busy": confirmations.cpu.machine / confirmations.seconds,
        "trivial_machine_cores_busy": trivial.cpu.machine / trivial.seconds,
        "stages_us": stages_us,
    })
}

/// Mean time of `f` over `rounds` calls, after one call to warm caches.
fn mean_time(rounds: u32, mut f: impl FnMut()) -> Duration {
    f();
    let started = Instant::now();
    for _ in 0..rounds {
        f();
    }
    started.elapsed() / rounds
}

/// What a confirmation costs on one thread with nothing competing: the
/// service core's own methods, called as the HTTP handlers call them, then
/// the OpenSSL operations and store reads inside them taken apart. Under
/// load the sum grows by the contention the steps meet (the store's one
/// connection, OpenSSL's global locks, the hand-offs to the blocking pool);
/// the difference with the measured CPU per confirmation is that.
fn stage_costs(
    state: &AppState,
    persons: &[fixtures::InsuredPerson],
    card: &ClientCard,
    certificate: &[u8],
    db: &std::path::Path,
) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let mut stages = core_costs(state, persons, card, certificate, db)?;
    stages.extend(crypto_costs(state, card, certificate)?);
    stages.extend(lookup_costs(state, certificate)?);
    stages.push((
        "tokio spawn_blocking round trip (empty closure)",
        spawn_blocking_cost()?,
    ));
    Ok(stages)
}

/// Rounds of each timed step.
const ROUNDS: u32 = 300;

/// The core's methods, whole: `Service::issue_challenge` and
/// `Service::confirm_card` (challenge redeemed, certificate and signature
/// checked, rules, history row committed). They write, so they run on a
/// service of their own (same settings, its own database): the load's is
/// not touched.
fn core_costs(
    state: &AppState,
    persons: &[fixtures::InsuredPerson],
    card: &ClientCard,
    certificate: &[u8],
    db: &std::path::Path,
) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let clock = ServiceClock::frozen_at(state.clock.now());
    let service =
        Service::new(Store::open(db)?, clock, ServiceConfig::default()).map_err(|e| anyhow!(e))?;
    service.install_fixtures(persons)?;
    let facility =
        sim_service::model::MedicalInstitutionCode::new(FACILITY).map_err(|e| anyhow!(e))?;
    // Each confirmation redeems a challenge of its own, signed before the
    // clock starts (the card's signature is the client's cost).
    let mut presentations = (0..=ROUNDS)
        .map(|_| {
            let challenge = service.issue_challenge()?;
            Ok(CardPresentation {
                facility: facility.clone(),
                device: "service_load".into(),
                method: sim_service::rules::IdentityCheck::Pin,
                certificate: certificate.to_vec(),
                challenge_id: Some(challenge.id),
                signature: Some(card.sign(&challenge.nonce)?),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter();
    let confirm = mean_time(ROUNDS, || {
        let presentation = presentations.next().expect("enough challenges");
        let confirmed = service
            .confirm_card(&presentation, None, None, None)
            .expect("confirms");
        assert!(
            confirmed
                .outcome
                .message_body
                .processing_result_code
                .is_none(),
            "the card confirms"
        );
    });
    let issue = mean_time(ROUNDS, || {
        service.issue_challenge().expect("issues");
    });
    Ok(vec![
        (
            "Service::confirm_card (redeem, verify, rules, history row committed)",
            confirm,
        ),
        ("Service::issue_challenge (in memory)", issue),
    ])
}

/// The OpenSSL operations a confirmation needs, with and without the
/// caches that spare them per request.
fn crypto_costs(
    state: &AppState,
    card: &ClientCard,
    certificate: &[u8],
) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Verifier;
    use openssl::x509::X509;

    let challenge = [7u8; 32];
    let signature = card.sign(&challenge)?;
    let x509 = X509::from_der(certificate)?;
    let spki = x509.public_key()?.public_key_to_der()?;
    let cached_key = PKey::public_key_from_der(&spki)?;
    let summary = state.anchors.verify(certificate)?;
    Ok(vec![
        (
            "TrustAnchors::verify (parse, CA signature, summary)",
            mean_time(ROUNDS, || {
                state.anchors.verify(certificate).expect("verifies");
            }),
        ),
        (
            "  of which X509::from_der",
            mean_time(ROUNDS, || {
                X509::from_der(certificate).expect("parses");
            }),
        ),
        (
            "  of which public_key + public_key_to_der (summary's SPKI)",
            mean_time(ROUNDS, || {
                x509.public_key()
                    .and_then(|k| k.public_key_to_der())
                    .expect("encodes");
            }),
        ),
        (
            "signature::verify_for_method (SPKI decode + RSA verify)",
            mean_time(ROUNDS, || {
                sim_service::rules::signature::verify_for_method(
                    sim_service::rules::IdentityCheck::Pin,
                    &summary.spki_der,
                    &challenge,
                    &signature,
                )
                .expect("verifies");
            }),
        ),
        (
            "  of which PKey::public_key_from_der",
            mean_time(ROUNDS, || {
                PKey::public_key_from_der(&spki).expect("decodes");
            }),
        ),
        (
            "  the RSA verify alone, key already decoded",
            mean_time(ROUNDS, || {
                let mut v = Verifier::new(MessageDigest::sha256(), &cached_key).expect("verifier");
                v.update(&challenge).expect("update");
                assert!(v.verify(&signature).expect("verify"));
            }),
        ),
        (
            "caches.certificates.verify (a hit: SHA-256 + lookup)",
            mean_time(ROUNDS, || {
                let sha = openssl::sha::sha256(certificate);
                state
                    .caches
                    .certificates
                    .verify(certificate, sha)
                    .expect("verifies");
            }),
        ),
    ])
}

/// The holder's lookup inside a confirmation: the store's reads and the
/// fixture's parse, with and without the cache.
fn lookup_costs(
    state: &AppState,
    certificate: &[u8],
) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let fingerprint = sim_service::confirmation::fingerprint(certificate);
    let (_, stored) = state
        .store
        .certificate(&fingerprint)?
        .context("the card's certificate is installed")?;
    let now = state.clock.now();
    Ok(vec![
        (
            "caches.persons.get (a hit: compares the stored TOML)",
            mean_time(ROUNDS, || {
                state.caches.persons.get(&stored).expect("parses");
            }),
        ),
        (
            "fingerprint + store.certificate (SELECT)",
            mean_time(ROUNDS, || {
                let f = sim_service::confirmation::fingerprint(certificate);
                state.store.certificate(&f).expect("select");
            }),
        ),
        (
            "toml::from_str::<InsuredPerson> (the stored fixture)",
            mean_time(ROUNDS, || {
                toml::from_str::<fixtures::InsuredPerson>(&stored.fixture).expect("parses");
            }),
        ),
        (
            "store.is_registered_by (SELECT; skipped when the fixture says registered)",
            mean_time(ROUNDS, || {
                state
                    .store
                    .is_registered_by(&stored.id, now)
                    .expect("select");
            }),
        ),
    ])
}

/// A hand-off to tokio's blocking pool and back, as each confirmation takes.
fn spawn_blocking_cost() -> anyhow::Result<Duration> {
    let blocking = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()?;
    Ok(mean_time(ROUNDS, || {
        blocking.block_on(async {
            tokio::task::spawn_blocking(|| ()).await.expect("joins");
        });
    }))
}

fn report(what: &str, unit: &str, phase: &Phase) {
    println!(
        "{what:<18} {:>9.0} {unit:<6} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  errors {}  \
         (CPU: server {:.2} cores, client {:.2}, machine {:.2})",
        phase.rate(),
        phase.p50_ms,
        phase.p99_ms,
        phase.max_ms,
        phase.errors,
        phase.cpu.server / phase.seconds,
        phase.cpu.client / phase.seconds,
        phase.cpu.machine / phase.seconds,
    );
    if let Some(e) = &phase.first_error {
        println!("{:<18} first error: {e}", "");
    }
}
