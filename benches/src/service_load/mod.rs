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
//!
//! The binary (`src/bin/service_load.rs`) parses [`Args`] and calls
//! [`run`]; the parts live here along their seams: `load` (the connections
//! and what a phase measured), `cpu` (who used which cores), `stages` (the
//! step table) and `report` (the lines and the JSON object).

mod cpu;
mod load;
mod report;
mod stages;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::Router;
use axum::routing::get;
use clap::Parser;
use sim_service::http::router;

use crate::service::{BenchService, LoopbackServer};
use cpu::{CLIENT_THREADS, SERVER_THREADS, named_runtime};
use load::{Load, Window, presign_pools, run_phase};

#[derive(Parser, Debug)]
#[command(about = "Measure PIN-method confirmations per second through the mock service")]
pub struct Args {
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

/// Runs the benchmark `args` describe on a throwaway database, and removes
/// it after.
pub fn run(mut args: Args) -> anyhow::Result<()> {
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
    let outcome = measure(&args, cores, &db);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn measure(args: &Args, cores: usize, db: &Path) -> anyhow::Result<()> {
    let bench = BenchService::start(db)?;
    let card = &bench.card;
    let sign_cost = {
        let rounds = 200u32;
        let started = Instant::now();
        for i in 0..rounds {
            card.sign(&i.to_be_bytes())?;
        }
        started.elapsed() / rounds
    };

    let server_runtime = named_runtime(SERVER_THREADS)?;
    let client_runtime = named_runtime(CLIENT_THREADS)?;
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
    let window = Window {
        concurrency: args.concurrency,
        warmup: Duration::from_secs_f64(args.warmup),
        seconds: Duration::from_secs_f64(args.seconds),
    };

    let trivial_app = Router::new().route("/", get(|| async { "ok" }));
    let server = LoopbackServer::start(&server_runtime, trivial_app)?;
    let base: Arc<str> = format!("http://{}", server.addr).into();
    let trivial = run_phase(&client_runtime, Load::Trivial, &base, card, None, window)?;
    server.stop(&server_runtime);
    report::report("trivial GET /", "req/s", &trivial);

    let server = LoopbackServer::start(&server_runtime, router(bench.state.clone()))?;
    let base: Arc<str> = format!("http://{}", server.addr).into();
    let pools = match args.presigned {
        Some(count) => {
            let started = Instant::now();
            let pools = presign_pools(&client_runtime, &base, card, count, args.concurrency)?;
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
        &base,
        card,
        pools,
        window,
    )?;
    server.stop(&server_runtime);
    report::report(
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

    let summary = report::summarize(cores, &trivial, &confirmations, sign_cost);
    // After the load, so that it cannot disturb it.
    let stages_us = if args.smoke {
        serde_json::Map::new()
    } else {
        stages::timed_stages(&bench, db)?
    };
    let json = report::json_line(args, cores, &trivial, &confirmations, &summary, stages_us);
    println!("{json}");
    if confirmations.errors > 0 || trivial.errors > 0 {
        bail!("the load saw errors (see above)");
    }
    if confirmations.count == 0 || trivial.count == 0 {
        bail!("no request was answered in the measured window");
    }
    Ok(())
}
