//! Every scenario under `scenarios/` parses as the scenario format, names a
//! built-in fixture person, and sets up the service with faults and a clock
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

/// Every `*.toml` under `dir`, sorted, at any depth.
fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    out.sort();
}

/// What is wrong with one scenario beyond its syntax, if anything.
fn check(scenario: &Scenario, persons: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if !persons.contains(&scenario.card.person) {
        problems.push(format!(
            "card.person {:?} is not a built-in fixture person",
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
    let mut files = Vec::new();
    toml_files(&dir, &mut files);

    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .strip_prefix(&dir)
            .unwrap_or(file)
            .display()
            .to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        match toml::from_str::<Scenario>(&text) {
            Ok(scenario) => {
                for problem in check(&scenario, &persons) {
                    failures.push(format!("{name}: {problem}"));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios are wrong:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(
        files.len() >= MINIMUM,
        "{} scenarios under {}, expected at least {MINIMUM}",
        files.len(),
        dir.display()
    );
}
