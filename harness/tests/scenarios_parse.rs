//! Every scenario under `scenarios/` parses as the scenario format, names its
//! own or a built-in fixture person, and sets up the service with faults and a clock
//! the service accepts. No card, no service: this only reads the files.

use std::path::{Path, PathBuf};

use kazasu::scenario::format::Scenario;
use sim_service::http::FaultSet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The suite must keep at least this many scenarios.
const MINIMUM: usize = 60;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
}

/// What is wrong with one scenario beyond its syntax, if anything.
fn check(scenario: &Scenario, persons: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let own = scenario
        .persons
        .iter()
        .any(|p| p.id == scenario.card.person);
    if !own && !persons.contains(&scenario.card.person) {
        problems.push(format!(
            "card.person {:?} is neither the scenario's own nor a built-in fixture person",
            scenario.card.person
        ));
    }
    if scenario.name.trim().is_empty() || scenario.rule.trim().is_empty() {
        problems.push("name and rule must say something".into());
    }
    if let Some(clock) = &scenario.service.clock
        && let Err(e) = OffsetDateTime::parse(clock, &Rfc3339)
    {
        problems.push(format!("service.clock {clock:?} is not RFC 3339: {e}"));
    }
    if let Some(faults) = &scenario.service.faults {
        match serde_json::from_value::<FaultSet>(faults.clone()) {
            Ok(set) => {
                if let Err(e) = set.validate() {
                    problems.push(format!("service.faults: {e}"));
                }
            }
            Err(e) => problems.push(format!("service.faults is not a fault set: {e}")),
        }
    }
    if let Some(facility) = &scenario.facility {
        use sim_service::facility::account::{check_password_policy, check_user_id};
        if let Err(e) = check_user_id(&facility.user_id) {
            problems.push(format!("facility.user_id: {e}"));
        }
        if let Err(e) = check_password_policy(&facility.password) {
            problems.push(format!("facility.password: {e}"));
        }
    }
    problems
}

#[test]
fn every_scenario_parses_and_names_a_fixture_person() {
    let persons: Vec<String> = sim_service::fixtures::built_in()
        .expect("built-in fixtures")
        .into_iter()
        .map(|p| p.id)
        .collect();
    let dir = scenarios_dir();
    // The runner's own loading: persons/ folders join the scenarios below
    // them and hold no scenarios; every file is checked, every error kept.
    let loaded =
        kazasu::scenario::load::load(std::slice::from_ref(&dir)).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for scenario in &loaded {
        for problem in check(&scenario.scenario, &persons) {
            failures.push(format!("{}: {problem}", scenario.id));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios are wrong:\n{}",
        failures.len(),
        loaded.len(),
        failures.join("\n")
    );
    assert!(
        loaded.len() >= MINIMUM,
        "{} scenarios under {}, expected at least {MINIMUM}",
        loaded.len(),
        dir.display()
    );
}
