//! Insured persons a scenario defines for itself: `[[person]]` tables in the
//! scenario file, and `persons/*.toml` files in its folder or any folder
//! above it (up to the folder given to `kazasu run`).
//!
//! They are written in the built-in fixtures' own schema
//! ([`sim_service::fixtures::InsuredPerson`]: persona, qualifications, 公費,
//! registration, the card and its phones, reader-independent) and checked by
//! the fixtures' own validator, so a person that loads here is a person the
//! service accepts. The built-in persons stay available by id; a scenario's
//! person may not reuse one of their ids, so `card.person = "valid"` always
//! means the same person.
//!
//! The runner installs a scenario's persons beside the built-in ones in that
//! scenario's service only (as fixture rows, through the service core) and
//! issues their cards from the same profiles.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sim_card::personalize;
use sim_card::pki::Jpki;
use sim_service::fixtures::{self, FixtureError, InsuredPerson};
use sim_service::store::{CertificateEntry, StoredPerson};

use super::format::Scenario;
use super::load::{LoadError, built_in_persons};

/// The folder, beside scenarios, whose `*.toml` files hold persons only.
pub const PERSONS_FOLDER: &str = "persons";

/// The person `id` as a scenario sees it: its own persons first, then the
/// built-in ones.
pub fn find<'a>(scenario: &'a Scenario, id: &str) -> Result<Option<&'a InsuredPerson>, String> {
    if let Some(person) = fixtures::find(&scenario.persons, id) {
        return Ok(Some(person));
    }
    Ok(fixtures::find(built_in_persons()?, id))
}

/// Whether `id` is one of the scenario's own persons (not built in).
pub fn is_own(scenario: &Scenario, id: &str) -> bool {
    fixtures::find(&scenario.persons, id).is_some()
}

/// Checks a scenario's own persons with the fixtures' validator; errors
/// carry the line of the person's `id` in `text`.
pub fn check(persons: &[InsuredPerson], text: &str, path: &Path) -> Result<(), LoadError> {
    let built_in = built_in_persons().map_err(|message| LoadError {
        path: path.to_path_buf(),
        at: None,
        message,
    })?;
    for (i, person) in persons.iter().enumerate() {
        let error = |message: String| LoadError {
            path: path.to_path_buf(),
            at: line_of_id(text, &person.id).map(|line| (line, 1)),
            message,
        };
        if let Err(e) = person.validate() {
            return Err(error(match e {
                FixtureError::Invalid {
                    person,
                    field,
                    message,
                    ..
                } => format!("person {person}: {field}: {message}"),
                other => other.to_string(),
            }));
        }
        if fixtures::find(built_in, &person.id).is_some() {
            return Err(error(format!(
                "person.id: {:?} is a built-in person's id; give this person another",
                person.id
            )));
        }
        if persons[..i].iter().any(|p| p.id == person.id) {
            return Err(error(format!(
                "person.id: {:?} is defined twice for this scenario",
                person.id
            )));
        }
    }
    Ok(())
}

/// The persons of the `persons/` folders that apply to scenarios in
/// `folder`: those of `folder` and of every folder above it up to `root`,
/// nearest last. Errors name the persons file and its line.
pub fn folder_persons(root: &Path, folder: &Path) -> Result<Vec<InsuredPerson>, LoadError> {
    let mut folders: Vec<&Path> = folder
        .ancestors()
        .take_while(|f| f.starts_with(root))
        .collect();
    folders.reverse();
    let mut persons = Vec::new();
    for dir in folders {
        for file in persons_files(&dir.join(PERSONS_FOLDER))? {
            persons.extend(parse_file(&file)?);
        }
    }
    Ok(persons)
}

/// The `*.toml` files of a `persons/` folder, sorted (none if it is absent).
fn persons_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError {
        path: dir.to_path_buf(),
        at: None,
        message: format!("cannot read the persons folder: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// One persons file, parsed and validated by the fixtures' own code.
fn parse_file(path: &Path) -> Result<Vec<InsuredPerson>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        path: path.to_path_buf(),
        at: None,
        message: format!("cannot read: {e}"),
    })?;
    let persons = fixtures::parse(&text, &path.display().to_string()).map_err(|e| match e {
        FixtureError::Parse { message, line, .. } => LoadError {
            path: path.to_path_buf(),
            at: line.map(|line| (line, 1)),
            message,
        },
        FixtureError::Invalid {
            person,
            field,
            message,
            ..
        } => LoadError {
            path: path.to_path_buf(),
            at: line_of_id(&text, &person).map(|line| (line, 1)),
            message: format!("person {person}: {field}: {message}"),
        },
        other => LoadError {
            path: path.to_path_buf(),
            at: None,
            message: other.to_string(),
        },
    })?;
    check(&persons, &text, path)?;
    Ok(persons)
}

/// The line of `id = "<id>"` in a file of persons (the person's first line
/// that names it), for errors that have no span of their own.
fn line_of_id(text: &str, id: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            line.trim()
                .strip_prefix("id")
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix('='))
                .is_some_and(|value| value.trim().trim_matches('"') == id)
        })
        .map(|index| index + 1)
}

/// The fixture rows of a scenario's own persons, issued as the built-in
/// ones are (one auth certificate per card and phone).
pub fn rows(
    persons: &[InsuredPerson],
) -> Result<(Vec<StoredPerson>, Vec<CertificateEntry>), String> {
    fixtures::rows(persons, jpki()?).map_err(|e| format!("person {e}"))
}

/// The simulated JPKI, derived once per process.
pub fn jpki() -> Result<&'static Jpki, String> {
    static JPKI: OnceLock<Result<Jpki, String>> = OnceLock::new();
    JPKI.get_or_init(|| personalize::simulated_jpki().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}
