//! PIN-method confirmations per second through the mock service's HTTP API,
//! against a trivial axum handler served the same way: see
//! `kazasu_benches::service_load` for what it measures and how.
//!
//! ```text
//! cargo run --release -p kazasu-benches --bin service_load -- [--concurrency 64] [--seconds 10] [--warmup 2] [--presigned 60000] [--smoke]
//! ```

use clap::Parser;
use kazasu_benches::service_load::{Args, run};

fn main() -> anyhow::Result<()> {
    run(Args::parse())
}
