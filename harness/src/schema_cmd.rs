//! `kazasu schema`: the JSON Schemas a suite's author and a client's
//! vendor write against, printed from the types the runner reads them with.

use clap::{Args, ValueEnum};

#[derive(Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum)]
    of: Schema,
}

#[derive(Clone, Copy, ValueEnum)]
enum Schema {
    /// A scenario file (committed as scenarios/schema.json; also `kazasu run --schema`).
    Scenario,
    /// The ClientOutcome an adapter prints (committed as harness/outcome.schema.json; see harness/ADAPTER.md).
    Outcome,
}

pub fn run(args: SchemaArgs) -> anyhow::Result<()> {
    let text = match args.of {
        Schema::Scenario => kazasu::scenario::load::schema(),
        Schema::Outcome => kazasu::scenario::contract::outcome_schema(),
    };
    print!("{text}");
    Ok(())
}
