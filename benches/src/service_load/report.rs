//! What a run prints: a line per phase, the ratios and the CPU per
//! confirmation, and last the one JSON object the comparison tools read.

use std::time::Duration;

use super::Args;
use super::load::Phase;

/// The load's figures derived from both phases, as printed and as the JSON
/// line carries them.
#[derive(Clone, Copy)]
pub(super) struct Summary {
    ratio: f64,
    http_ratio: f64,
    sign_ms: f64,
    server_ms: f64,
    client_ms: f64,
    server_bound: f64,
}

/// Derives and prints the ratios and the CPU per confirmation, and warns
/// when other processes took cores during a phase.
pub(super) fn summarize(
    cores: usize,
    trivial: &Phase,
    confirmations: &Phase,
    sign_cost: Duration,
) -> Summary {
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
        let others = phase.cpu.others_cores(phase.seconds);
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

/// The run as the one JSON object of the last stdout line.
pub(super) fn json_line(
    args: &Args,
    cores: usize,
    trivial: &Phase,
    confirmations: &Phase,
    summary: &Summary,
    stages_us: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
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
        "ratio": summary.ratio,
        "ratio_http_requests": summary.http_ratio,
        "sign_ms": summary.sign_ms,
        "server_cpu_ms_per_confirmation": summary.server_ms,
        "client_cpu_ms_per_confirmation": summary.client_ms,
        "server_bound_per_core": summary.server_bound,
        "server_cores_used": confirmations.cpu.server / confirmations.seconds,
        "client_cores_used": confirmations.cpu.client / confirmations.seconds,
        "trivial_server_cores_used": trivial.cpu.server / trivial.seconds,
        "trivial_client_cores_used": trivial.cpu.client / trivial.seconds,
        "machine_cores_busy": confirmations.cpu.machine / confirmations.seconds,
        "trivial_machine_cores_busy": trivial.cpu.machine / trivial.seconds,
        "stages_us": stages_us,
    })
}

/// A phase's line: its rate, latencies, errors and the cores it used.
pub(super) fn report(what: &str, unit: &str, phase: &Phase) {
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
