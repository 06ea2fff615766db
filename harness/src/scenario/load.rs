//! Loading scenario files: every `*.toml` under a folder, each with an id
//! taken from its path, checked before anything runs.
//!
//! A scenario suite is written by hand, so a mistake in it must be found
//! before a run of many minutes and said in terms of the file: its path, the
//! line and column, and what is wrong. Everything that can be checked
//! without running (TOML, fields, the clock, the faults, the fixture person)
//! is checked here; every broken file is reported, not just the first.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use sim_service::fixtures::{self, InsuredPerson};
use sim_service::http::FaultSet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::format::Scenario;
use super::persons;

/// A scenario read from a file, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedScenario {
    /// The path relative to the suite's root ([`suite_root`]), without
    /// `.toml`, with `/` separators on every system (e.g. `pin/wrong-once`):
    /// stable across machines and across the paths a run is given, so that
    /// `--shard`, JUnit names and reports agree.
    pub id: String,
    pub path: PathBuf,
    pub scenario: Scenario,
}

impl LoadedScenario {
    /// The folder part of the id (`pin` for `pin/wrong-once`; empty at the top).
    pub fn folder(&self) -> &str {
        self.id.rsplit_once('/').map_or("", |(folder, _)| folder)
    }
}

/// What is wrong with one file (or with a path given to load).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub path: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, column)) = self.at {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found while loading, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.0.len() == 1 {
            "problem"
        } else {
            "problems"
        };
        write!(f, "{} {noun} in the scenarios:", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// The built-in fixture persons, parsed once per process: both loading
/// (to check `card.person`) and the runner need them.
pub fn built_in_persons() -> Result<&'static [InsuredPerson], String> {
    static PERSONS: OnceLock<Result<Vec<InsuredPerson>, String>> = OnceLock::new();
    PERSONS
        .get_or_init(|| fixtures::built_in().map_err(|e| e.to_string()))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// The file that marks a suite's root folder: scenario ids are paths
/// relative to it, whatever path `kazasu run` was given.
pub const SUITE_MARKER: &str = ".kazasu-suite";

/// The folder a path's scenario ids are relative to: the nearest folder,
/// from the path's own folder upwards, that holds [`SUITE_MARKER`];
/// without one, the folder given (or a file's own folder). Canonical, so
/// that `scenarios`, `./scenarios`, `/abs/scenarios` and `scenarios/card`
/// give a scenario the same id.
pub fn suite_root(path: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let start = if canonical.is_file() {
        canonical
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    } else {
        canonical
    };
    start
        .ancestors()
        .find(|dir| dir.join(SUITE_MARKER).is_file())
        .map(Path::to_path_buf)
        .unwrap_or(start)
}

/// Loads every scenario under each path (a folder, searched recursively, or
/// one file), sorted by id. A scenario's id is its path relative to its
/// suite's root ([`suite_root`]), so it does not depend on how the path was
/// written; a file reached through two paths is loaded once; ids must be
/// unique across all paths. The persons of `persons/` folders (see
/// [`super::persons`]) join the scenarios below them, up to the suite's
/// root; those folders hold no scenarios.
pub fn load(paths: &[PathBuf]) -> Result<Vec<LoadedScenario>, LoadErrors> {
    let mut errors = Vec::new();
    let mut loaded = Vec::new();
    let mut folders = FolderPersons::default();
    let mut seen = std::collections::HashSet::new();
    for root in paths {
        let suite = suite_root(root);
        let files = if root.is_file() {
            vec![root.clone()]
        } else {
            let mut files = Vec::new();
            if let Err(e) = collect_toml(root, &mut files) {
                errors.push(e);
                continue;
            }
            files.sort();
            files
        };
        for file in files {
            let canonical = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if !seen.insert(canonical.clone()) {
                continue;
            }
            let folder = canonical.parent().unwrap_or(&suite);
            let Some(persons) = folders.of(&suite, folder, &mut errors) else {
                continue;
            };
            match load_file(&file, id_of(&suite, &canonical), persons) {
                Ok(s) => loaded.push(s),
                Err(e) => errors.push(e),
            }
        }
    }
    loaded.sort_by(|a, b| a.id.cmp(&b.id));
    for pair in loaded.windows(2) {
        if pair[0].id == pair[1].id {
            errors.push(LoadError {
                path: pair[1].path.clone(),
                at: None,
                message: format!(
                    "id {:?} is also the id of {}",
                    pair[1].id,
                    pair[0].path.display()
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadErrors(errors))
    }
}

/// The persons of each folder's `persons/` folders, read once per folder;
/// a broken persons file is reported once, and its scenarios skipped.
#[derive(Default)]
struct FolderPersons(std::collections::HashMap<PathBuf, Option<Vec<InsuredPerson>>>);

impl FolderPersons {
    fn of(
        &mut self,
        root: &Path,
        folder: &Path,
        errors: &mut Vec<LoadError>,
    ) -> Option<&[InsuredPerson]> {
        self.0
            .entry(folder.to_path_buf())
            .or_insert_with(|| match persons::folder_persons(root, folder) {
                Ok(list) => Some(list),
                Err(e) => {
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                    None
                }
            })
            .as_deref()
    }
}

/// Parses one scenario's text; `path` only names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Scenario, LoadError> {
    parse_with(text, path, &[])
}

/// Parses one scenario's text, adding the persons of its folder
/// (`persons/*.toml`) to its own.
fn parse_with(text: &str, path: &Path, folder: &[InsuredPerson]) -> Result<Scenario, LoadError> {
    let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
        let message = e.message().trim();
        LoadError {
            path: path.to_path_buf(),
            at: e.span().map(|span| line_column(text, span.start)),
            message: match e.span().and_then(|span| field_at(text, span.start)) {
                Some(field) => format!("{field}: {message}"),
                None => message.to_string(),
            },
        }
    })?;
    persons::check(&scenario.persons, text, path)?;
    if let Some(twice) = scenario
        .persons
        .iter()
        .find(|p| folder.iter().any(|f| f.id == p.id))
    {
        return Err(LoadError {
            path: path.to_path_buf(),
            at: None,
            message: format!(
                "person.id: {:?} is also defined in the persons folder",
                twice.id
            ),
        });
    }
    scenario.persons.splice(0..0, folder.iter().cloned());
    check(&scenario).map_err(|message| LoadError {
        path: path.to_path_buf(),
        at: field_line(text, &message),
        message,
    })?;
    let knows = |id: &str| persons::find(&scenario, id).is_ok_and(|p| p.is_some());
    super::story::check_steps(&scenario.steps, scenario.facility.is_some(), &knows).map_err(
        |e| LoadError {
            path: path.to_path_buf(),
            at: super::story::step_line(text, e.index).map(|line| (line, 1)),
            message: e.message,
        },
    )?;
    Ok(scenario)
}

fn load_file(
    path: &Path,
    id: String,
    folder: &[InsuredPerson],
) -> Result<LoadedScenario, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        path: path.to_path_buf(),
        at: None,
        message: format!("cannot read: {e}"),
    })?;
    let mut scenario = parse_with(&text, path, folder)?;
    if scenario.client.device == crate::client::default_device() {
        scenario.client.device = scenario_device(&id);
    }
    Ok(LoadedScenario {
        id,
        path: path.to_path_buf(),
        scenario,
    })
}

/// The device a scenario hands its client (`KAZASU_DEVICE`) when it names
/// none: one of its own, from its id (`kazasu-1a2b3c4d`), so that a client
/// that ignores the device it is given and sends a name of its own fails
/// the `device` check whatever name it chose. FNV-1a: the same id gives the
/// same name on every machine.
pub fn scenario_device(id: &str) -> String {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("kazasu-{hash:08x}")
}

/// The field written at a byte offset (`card.person`, from the key on its
/// line and the table header above it), so that serde's errors ("invalid
/// type: string, expected a sequence") name the field they are about.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?.trim();
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|header| {
            header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        });
    if line.starts_with('[') {
        return Some(
            line.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('#') {
        return None;
    }
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_string(),
    })
}

/// The line of the field an error names (`card.person: …` → the line of
/// `person =` under `[card]`, or the `[card]` header), so that errors serde
/// cannot place still get a `file:line`.
fn field_line(text: &str, message: &str) -> Option<(usize, usize)> {
    let path = message.split_once(':')?.0;
    let (table, key) = path.rsplit_once('.')?;
    let key = key.split('[').next()?;
    let mut header = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[') {
            if header.is_some() {
                break;
            }
            if name.trim_end_matches(']').trim() == table {
                header = Some(index + 1);
            }
            continue;
        }
        let names_key = trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if header.is_some() && names_key {
            return Some((index + 1, line.len() - trimmed.len() + 1));
        }
    }
    header.map(|line| (line, 1))
}

/// What serde cannot see: values that parse but cannot be set up.
fn check(s: &Scenario) -> Result<(), String> {
    if let Some(clock) = &s.service.clock {
        OffsetDateTime::parse(clock, &Rfc3339)
            .map_err(|e| format!("service.clock: {clock:?} is not an RFC 3339 time: {e}"))?;
    }
    if let Some(faults) = &s.service.faults {
        let set: FaultSet =
            serde_json::from_value(faults.clone()).map_err(|e| format!("service.faults: {e}"))?;
        set.validate().map_err(|e| format!("service.faults: {e}"))?;
    }
    if s.card.removed_at_apdu == Some(0) {
        return Err("card.removed_at_apdu: APDUs count from 1".into());
    }
    s.card
        .reader
        .validate()
        .map_err(|e| format!("card.reader.{e}"))?;
    if s.card.auth_tries_left.is_some_and(|t| t > 3) {
        return Err("card.auth_tries_left: at most 3".into());
    }
    if persons::find(s, &s.card.person)?.is_none() {
        let mut known: Vec<&str> = built_in_persons()?
            .iter()
            .chain(&s.persons)
            .map(|p| p.id.as_str())
            .collect();
        known.sort_unstable();
        return Err(format!(
            "card.person: no fixture person {:?}; one of {}",
            s.card.person,
            known.join(", ")
        ));
    }
    Ok(())
}

/// Every `*.toml` file under `dir`, recursively.
fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError {
        path: dir.to_path_buf(),
        at: None,
        message: format!("cannot read the folder: {e}"),
    })?;
    for entry in entries {
        let path = entry
            .map_err(|e| LoadError {
                path: dir.to_path_buf(),
                at: None,
                message: format!("cannot list the folder: {e}"),
            })?
            .path();
        if path.is_dir() {
            // `persons/` holds persons, not scenarios.
            if path
                .file_name()
                .is_some_and(|n| n != persons::PERSONS_FOLDER)
            {
                collect_toml(&path, out)?;
            }
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// `root/pin/wrong-once.toml` → `pin/wrong-once`.
fn id_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file).with_extension("");
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, last)| last)
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The JSON Schema of a scenario file, generated from the types: editors
/// use it to complete and check scenarios (`kazasu run --schema`).
pub fn schema() -> String {
    let schema = schemars::schema_for!(Scenario);
    // A schema of plain data always serialises.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// `I/N`: shard I (1-based) of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not I/N with 1 <= I <= N (e.g. 2/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The scenarios `--filter` and `--shard` leave, in id order. Shards deal
/// the filtered list round-robin by sorted id, so they never overlap, cover
/// everything together, and stay stable as long as the ids do.
pub fn select(
    scenarios: Vec<LoadedScenario>,
    filter: Option<&str>,
    shard: Option<Shard>,
) -> Vec<LoadedScenario> {
    let needle = filter.map(str::to_lowercase);
    let mut kept: Vec<LoadedScenario> = scenarios
        .into_iter()
        .filter(|s| match &needle {
            None => true,
            Some(n) => {
                s.id.to_lowercase().contains(n)
                    || s.scenario.name.to_lowercase().contains(n)
                    || s.scenario.tags.iter().any(|t| t.to_lowercase().contains(n))
            }
        })
        .collect();
    kept.sort_by(|a, b| a.id.cmp(&b.id));
    match shard {
        None => kept,
        Some(Shard { index, count }) => kept
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % count == index - 1)
            .map(|(_, s)| s)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "PIN entered right"
rule = "manual 000 p.15"
tags = ["pin"]

[card]
person = "valid"

[client]
method = "pin"
pin = "1234"

[expect]
outcome = "confirmed"
"#;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kazasu-load-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn ids_come_from_paths_and_are_sorted() {
        let root = dir("ids");
        std::fs::create_dir_all(root.join("pin")).unwrap();
        std::fs::write(root.join("pin/wrong-once.toml"), GOOD).unwrap();
        std::fs::write(root.join("a.toml"), GOOD).unwrap();
        std::fs::write(root.join("notes.md"), "not a scenario").unwrap();
        let loaded = load(std::slice::from_ref(&root)).unwrap();
        let ids: Vec<&str> = loaded.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "pin/wrong-once"]);
        assert_eq!(loaded[1].folder(), "pin");
        assert_eq!(loaded[0].folder(), "");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn ids_are_relative_to_the_suite_root_whatever_path_is_given() {
        let root = dir("suite-root");
        std::fs::create_dir_all(root.join("card/deeper")).unwrap();
        std::fs::write(root.join("card/deeper/removed.toml"), GOOD).unwrap();
        std::fs::write(root.join("top.toml"), GOOD).unwrap();
        let ids = |paths: &[PathBuf]| -> Vec<String> {
            load(paths).unwrap().into_iter().map(|s| s.id).collect()
        };
        // No marker: relative to the folder given, as a plain folder of files.
        assert_eq!(ids(&[root.join("card")]), ["deeper/removed"]);
        std::fs::write(root.join(SUITE_MARKER), "").unwrap();
        let id = "card/deeper/removed";
        assert_eq!(ids(std::slice::from_ref(&root)), [id, "top"]);
        assert_eq!(ids(&[root.join("card")]), [id]);
        assert_eq!(ids(&[root.join("card/./deeper/../deeper")]), [id]);
        assert_eq!(ids(&[root.join("card/deeper/removed.toml")]), [id]);
        // Reached twice, loaded once.
        assert_eq!(ids(&[root.join("card"), root.clone()]), [id, "top"]);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let root = dir("errors");
        std::fs::write(
            root.join("typo.toml"),
            GOOD.replace("[expect]", "[expect]\noutcom = \"confirmed\""),
        )
        .unwrap();
        std::fs::write(
            root.join("person.toml"),
            GOOD.replace("\"valid\"", "\"nobody\""),
        )
        .unwrap();
        std::fs::write(root.join("ok.toml"), GOOD).unwrap();
        let errors = load(std::slice::from_ref(&root)).unwrap_err();
        assert_eq!(errors.0.len(), 2, "{errors}");
        let text = errors.to_string();
        assert!(text.contains("typo.toml:14:"), "{text}");
        assert!(text.contains("outcom"), "{text}");
        assert!(text.contains("no fixture person \"nobody\""), "{text}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn bad_clock_and_faults_are_refused() {
        let p = Path::new("x.toml");
        let clock = GOOD.replace("[card]", "[service]\nclock = \"tomorrow\"\n\n[card]");
        assert!(
            parse(&clock, p)
                .unwrap_err()
                .message
                .contains("service.clock")
        );
        let faults = GOOD.replace(
            "[card]",
            "[service.faults.endpoints.nowhere]\nstatus = 500\n\n[card]",
        );
        let e = parse(&faults, p).unwrap_err();
        assert!(e.message.contains("unknown endpoint"), "{e}");
    }

    const PERSON: &str = r#"
[[person]]
id = "own"
[person.card]
seed = "kazasu-load-own"
persona = { name = "自前　太郎", name_kana = "ジマエ　タロウ", address = "東京都千代田区霞が関一丁目２番２号", birth_date = 1980-01-01, sex = "male", my_number = "314159269048", municipality_code = "131016" }
pins = { auth = { value = "1234" }, sign = { value = "ABC123" }, text = { value = "1234" } }
certificates = { auth = { not_before = 2025-01-01, not_after = 2030-01-01 }, sign = { not_before = 2025-01-01, not_after = 2030-01-01 } }
[[person.qualification]]
insurer_number = "138016"
insurer_name = "かざす区国民健康保険"
symbol = "こく"
number = "1"
branch = "00"
personal_family = "insured"
qualification_date = 2020-04-01
"#;

    fn with_own_person(person: &str) -> String {
        GOOD.replace("[card]", &format!("{person}\n[card]"))
            .replace("\"valid\"", "\"own\"")
    }

    #[test]
    fn a_scenario_defines_its_own_person_checked_by_the_fixtures_validator() {
        let p = Path::new("own.toml");
        let scenario = parse(&with_own_person(PERSON), p).unwrap();
        assert_eq!(scenario.persons.len(), 1);
        assert_eq!(persons::find(&scenario, "own").unwrap().unwrap().id, "own");
        // Built-in persons stay available by id.
        assert!(persons::find(&scenario, "valid").unwrap().is_some());
        // A bad insurer number: the fixtures' message, at the person's line.
        let bad = with_own_person(&PERSON.replace("\"138016\"", "\"1380\""));
        let e = parse(&bad, p).unwrap_err();
        assert!(e.message.contains("insurer number"), "{e}");
        assert_eq!(e.at, Some((15, 18)), "{e}");
        // A field the schema does not know, named with its line.
        let typo = with_own_person(&PERSON.replace("symbol =", "symbl ="));
        let e = parse(&typo, p).unwrap_err();
        assert!(e.to_string().contains("own.toml:17:"), "{e}");
        assert!(e.message.contains("symbl"), "{e}");
        // A built-in id is not redefined.
        let shadow = GOOD.replace(
            "[card]",
            &format!(
                "{}\n[card]",
                PERSON.replace("id = \"own\"", "id = \"valid\"")
            ),
        );
        let e = parse(&shadow, p).unwrap_err();
        assert!(e.message.contains("built-in"), "{e}");
        assert_eq!(e.at.map(|(line, _)| line), Some(8), "{e}");
    }

    #[test]
    fn persons_folders_join_the_scenarios_below_them() {
        let root = dir("persons");
        std::fs::create_dir_all(root.join("persons")).unwrap();
        std::fs::create_dir_all(root.join("deeper")).unwrap();
        std::fs::write(root.join("persons/own.toml"), PERSON).unwrap();
        std::fs::write(
            root.join("deeper/uses-own.toml"),
            GOOD.replace("\"valid\"", "\"own\""),
        )
        .unwrap();
        let loaded = load(std::slice::from_ref(&root)).unwrap();
        // The persons file is not a scenario.
        let ids: Vec<&str> = loaded.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["deeper/uses-own"]);
        assert_eq!(loaded[0].scenario.persons[0].id, "own");
        // A broken persons file is reported once, with its line.
        std::fs::write(
            root.join("persons/own.toml"),
            PERSON.replace("birth_date = 1980-01-01", "birth_date = \"soon\""),
        )
        .unwrap();
        std::fs::write(root.join("also.toml"), GOOD).unwrap();
        let errors = load(std::slice::from_ref(&root)).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        let text = errors.to_string();
        assert!(text.contains("persons/own.toml:4:"), "{text}");
        assert!(text.contains("not a date"), "{text}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn errors_serde_cannot_place_still_get_the_fields_line() {
        let p = Path::new("x.toml");
        let e = parse(&GOOD.replace("\"valid\"", "\"nobody\""), p).unwrap_err();
        assert_eq!(e.at, Some((7, 1)), "{e}");
        let e = parse(&GOOD.replace("[card]", "person = \"valid\"\n[card]"), p).unwrap_err();
        assert!(e.message.starts_with("person: "), "{e}");
    }

    #[test]
    fn shards_parse() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert!("0/4".parse::<Shard>().is_err());
        assert!("5/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn the_committed_schema_is_up_to_date() {
        let committed = include_str!("../../../scenarios/schema.json");
        assert!(
            committed == schema(),
            "scenarios/schema.json is stale: run `cargo run -p kazasu -- run --schema > scenarios/schema.json`"
        );
    }
}
