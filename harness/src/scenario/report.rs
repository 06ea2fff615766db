//! What a run found, and the forms it is handed over in: text for the
//! terminal, JUnit XML for CI, JSON for tools, and one self-contained HTML
//! page for the people who must read why a client failed.
//!
//! Each scenario's report keeps everything needed to understand a failure
//! without running it again: the inputs (PIN masked), every expectation with
//! what was seen, the client's outcome and stderr, and the APDU trace.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sim_card::trace::TraceRecord;

use super::conformance::Rule;
use super::contract::ClientRun;
use super::format::Scenario;
use super::load::LoadedScenario;
use super::secrets::{MASK, Public, Secrets};
use crate::client::ClientOutcome;

/// One expectation and what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The expectation's name as the format spells it (`outcome`,
    /// `fields.InsurerNumber`, `card.auth_tries_left`,
    /// `conformance.never_reads_my_number`, …).
    pub expectation: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
}

impl Check {
    /// Passes when what was seen is what was expected.
    pub fn new(expectation: &str, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        let (expected, actual) = (expected.into(), actual.into());
        Check {
            expectation: expectation.to_string(),
            passed: expected == actual,
            expected,
            actual,
        }
    }

    pub fn pass(expectation: &str, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Check {
            passed: true,
            ..Check::new(expectation, expected, actual)
        }
    }
}

/// An expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub expectation: String,
    pub expected: String,
    pub actual: String,
}

/// Where a scenario's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Service and card set up.
    #[serde(with = "seconds")]
    pub setup: Duration,
    /// The client's check.
    #[serde(with = "seconds")]
    pub client: Duration,
    /// Reading the results and checking expectations.
    #[serde(with = "seconds")]
    pub checks: Duration,
}

/// The instants a run passes: started, service and card set up, client (or
/// story) done. [`ScenarioReport::finish`] turns them into [`Timings`].
#[derive(Debug, Clone, Copy)]
pub struct Stamps {
    pub started: std::time::Instant,
    pub setup_done: std::time::Instant,
    pub client_done: std::time::Instant,
}

/// One scenario's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub id: String,
    pub name: String,
    pub rule: String,
    pub tags: Vec<String>,
    /// The folder of the id (JUnit's classname).
    pub folder: String,
    /// The scenario's file, as the run was given it (to rerun it alone).
    #[serde(default)]
    pub path: String,
    pub passed: bool,
    /// Why the scenario did not run, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(with = "seconds")]
    pub duration: Duration,
    pub timings: Timings,
    /// The scenario as run, the PIN masked.
    pub scenario: Scenario,
    pub checks: Vec<Check>,
    pub failures: Vec<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ClientOutcome>,
    /// Why the client gave no outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_error: Option<String>,
    pub trace: Vec<TraceRecord>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_stderr: String,
}

impl ScenarioReport {
    /// A report not yet run: passed until a check fails.
    pub fn new(loaded: &LoadedScenario) -> Self {
        let s = &loaded.scenario;
        let mut scenario = s.clone();
        mask_scenario(&mut scenario);
        ScenarioReport {
            id: loaded.id.clone(),
            name: s.name.clone(),
            rule: s.rule.clone(),
            tags: s.tags.clone(),
            folder: loaded.folder().to_string(),
            path: loaded.path.display().to_string(),
            passed: true,
            skipped: None,
            duration: Duration::ZERO,
            timings: Timings::default(),
            scenario,
            checks: Vec::new(),
            failures: Vec::new(),
            outcome: None,
            client_error: None,
            trace: Vec::new(),
            client_stderr: String::new(),
        }
    }

    /// The scenario could not be set up: it fails with a `setup` check.
    /// A scenario not run, and why: it is neither passed nor failed.
    pub fn skip(mut self, reason: String) -> Self {
        self.skipped = Some(reason);
        self.settle();
        self
    }

    pub fn setup_failed(mut self, error: String, started: std::time::Instant) -> Self {
        self.checks
            .push(Check::new("setup", "service and card ready", error));
        self.duration = started.elapsed();
        self.settle();
        self
    }

    /// The run is over: the client's outcome, the trace, the checks, and
    /// where the time went between the [`Stamps`] (now is the end).
    pub fn finish(
        &mut self,
        run: ClientRun,
        trace: Vec<TraceRecord>,
        checks: Vec<Check>,
        stamps: Stamps,
    ) {
        match run.outcome {
            Ok(outcome) => self.outcome = Some(outcome),
            Err(e) => self.client_error = Some(e),
        }
        self.client_stderr = run.stderr;
        self.trace = trace;
        self.checks = if run.outcome_from_tester {
            checks
        } else {
            super::expectations::collapse_broken_client(checks)
        };
        self.timings = Timings {
            setup: stamps.setup_done - stamps.started,
            client: stamps.client_done - stamps.setup_done,
            checks: stamps.client_done.elapsed(),
        };
        self.duration = stamps.started.elapsed();
        self.settle();
    }

    /// Takes every secret of the scenario out of the report, whatever the
    /// client did with it: the scenario's own PIN and password fields (and
    /// its persons' card PINs) are masked outright; in everything the client
    /// or the checks produced (outcome, error, stderr, expectations, the
    /// commands of the trace) each occurrence is replaced by
    /// [`MASK`](super::secrets::MASK), matched as
    /// [`super::secrets`] describes. Runs before anyone sees the report:
    /// terminal, JUnit, HTML and JSON are all written from it.
    pub fn redact(&mut self, secrets: &Secrets) {
        mask_scenario(&mut self.scenario);
        if secrets.is_empty() {
            return;
        }
        let mut public = Public::of_json(self.outcome.as_ref().and_then(|o| o.result.as_ref()));
        public.extend(self.checks.iter().map(|c| c.expected.clone()));
        let clean = |text: &mut String| {
            let redacted = secrets.redact(text, &public);
            if redacted != *text {
                *text = redacted;
            }
        };
        for check in &mut self.checks {
            clean(&mut check.expected);
            clean(&mut check.actual);
        }
        if let Some(error) = &mut self.client_error {
            clean(error);
        }
        clean(&mut self.client_stderr);
        for record in &mut self.trace {
            clean(&mut record.summary);
            if let Some(command) = &mut record.command {
                clean(command);
            }
        }
        if let Some(outcome) = &mut self.outcome
            && let Ok(mut value) = serde_json::to_value(&*outcome)
        {
            redact_strings(&mut value, &|t| secrets.redact(t, &public));
            match serde_json::from_value::<ClientOutcome>(value) {
                Ok(redacted) => *outcome = redacted,
                // The outcome's kind is not text a secret could be in;
                // should it not read back, the free text goes.
                Err(_) => {
                    outcome.message = MASK.to_string();
                    outcome.result = None;
                }
            }
        }
        if let Ok(mut value) = serde_json::to_value(&self.scenario) {
            redact_strings(&mut value, &|t| secrets.redact(t, &public));
            if let Ok(scenario) = serde_json::from_value::<Scenario>(value) {
                self.scenario = scenario;
            }
        }
        self.settle();
    }

    /// Derives the failures and the verdict from the checks (again, after
    /// an attended run replaced the screen's checks with the tester's).
    pub fn settle(&mut self) {
        self.failures = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| Failure {
                expectation: c.expectation.clone(),
                expected: c.expected.clone(),
                actual: c.actual.clone(),
            })
            .collect();
        self.passed = self.failures.is_empty() && self.skipped.is_none();
    }

    /// The failures as a diff to read in a terminal.
    pub fn failure_text(&self) -> String {
        let mut text = format!(
            "FAILED {} — {}\n  rule: {}\n",
            self.id, self.name, self.rule
        );
        for f in &self.failures {
            text.push_str(&format!(
                "  ✗ {}\n      expected: {}\n      actual:   {}\n",
                f.expectation, f.expected, f.actual
            ));
        }
        if !self.client_stderr.trim().is_empty() {
            text.push_str("  client stderr:\n");
            for line in self.client_stderr.trim_end().lines().take(20) {
                text.push_str(&format!("    | {line}\n"));
            }
        }
        text
    }
}

/// The scenario's PIN and password fields, masked outright: the PIN the
/// patient types (also each step's), the staff's password, and the PINs
/// of the persons' cards.
fn mask_scenario(scenario: &mut Scenario) {
    let mask = |text: &mut String| *text = "*".repeat(text.chars().count());
    if let Some(pin) = &mut scenario.client.pin {
        mask(pin);
    }
    for step in &mut scenario.steps {
        if let Some(pin) = &mut step.pin {
            mask(pin);
        }
    }
    if let Some(facility) = &mut scenario.facility {
        mask(&mut facility.password);
    }
    for person in &mut scenario.persons {
        let pins = &mut person.card.profile.pins;
        for pin in [&mut pins.auth, &mut pins.sign, &mut pins.text] {
            mask(&mut pin.value);
        }
        for phone in &mut person.phones {
            if let Some(pin) = &mut phone.pin {
                mask(pin);
            }
        }
    }
}

/// Applies `redact` to every string in a JSON value.
fn redact_strings(value: &mut serde_json::Value, redact: &dyn Fn(&str) -> String) {
    match value {
        serde_json::Value::String(text) => {
            let redacted = redact(text);
            if redacted != *text {
                *text = redacted;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| redact_strings(v, redact)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| redact_strings(v, redact)),
        _ => {}
    }
}

/// How one conformance rule fared across the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    pub rule: String,
    pub passed: usize,
    pub failed: usize,
    /// The scenarios that broke the rule.
    pub violated_in: Vec<String>,
}

/// The conformance profile's verdict on a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certification {
    pub client: String,
    /// The day of the run (UTC), `YYYY-MM-DD`.
    pub date: String,
    pub tool: String,
    pub rules: Vec<RuleResult>,
    /// Scenarios that failed, for any expectation: a client that breaks no
    /// rule but gets the outcome wrong does not conform either.
    pub failed_scenarios: Vec<String>,
    /// Every rule held in every scenario, and every scenario passed.
    pub conforms: bool,
}

impl Certification {
    pub fn of(client: &str, date: &str, scenarios: &[ScenarioReport]) -> Self {
        let rules: Vec<RuleResult> = Rule::ALL
            .iter()
            .map(|rule| {
                let name = format!("conformance.{}", rule.name());
                let mut result = RuleResult {
                    rule: rule.name().to_string(),
                    passed: 0,
                    failed: 0,
                    violated_in: Vec::new(),
                };
                for s in scenarios {
                    for c in s.checks.iter().filter(|c| c.expectation == name) {
                        if c.passed {
                            result.passed += 1;
                        } else {
                            result.failed += 1;
                            result.violated_in.push(s.id.clone());
                        }
                    }
                }
                result
            })
            .collect();
        let failed_scenarios: Vec<String> = scenarios
            .iter()
            .filter(|s| !s.passed && s.skipped.is_none())
            .map(|s| s.id.clone())
            .collect();
        let conforms =
            rules.iter().all(|r| r.failed == 0 && r.passed > 0) && failed_scenarios.is_empty();
        Certification {
            client: client.to_string(),
            date: date.to_string(),
            tool: tool(),
            rules,
            failed_scenarios,
            conforms,
        }
    }

    pub fn text(&self) -> String {
        let mut text = format!(
            "conformance profile: {}\n  client: {}\n  date:   {}\n",
            self.tool, self.client, self.date
        );
        for r in &self.rules {
            let mark = if r.failed == 0 && r.passed > 0 {
                "✓"
            } else {
                "✗"
            };
            text.push_str(&format!(
                "  {mark} {:28} {} passed, {} failed",
                r.rule, r.passed, r.failed
            ));
            if !r.violated_in.is_empty() {
                text.push_str(&format!(" (in {})", r.violated_in.join(", ")));
            }
            text.push('\n');
        }
        if !self.failed_scenarios.is_empty() {
            text.push_str(&format!(
                "  scenarios failed: {}\n",
                self.failed_scenarios.join(", ")
            ));
        }
        text.push_str(if self.conforms {
            "  verdict: CONFORMS\n"
        } else {
            "  verdict: DOES NOT CONFORM\n"
        });
        text
    }
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub tool: String,
    pub client: String,
    pub transport: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// When the run started, RFC 3339 (UTC).
    pub started_at: String,
    #[serde(with = "seconds")]
    pub duration: Duration,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification: Option<Certification>,
    /// The options of `kazasu run` that rerun a scenario as this run ran it
    /// (client, transport, profile), shell-quoted; a scenario's file follows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rerun_options: String,
    /// Every scenario, in id order.
    pub scenarios: Vec<ScenarioReport>,
}

impl RunReport {
    pub fn new(
        client: String,
        transport: &str,
        profile: Option<String>,
        started_at: String,
        duration: Duration,
        scenarios: Vec<ScenarioReport>,
        certification: Option<Certification>,
    ) -> Self {
        let skipped = scenarios.iter().filter(|s| s.skipped.is_some()).count();
        let passed = scenarios.iter().filter(|s| s.passed).count();
        RunReport {
            tool: tool(),
            client,
            transport: transport.to_string(),
            profile,
            started_at,
            duration,
            passed,
            failed: scenarios.len() - passed - skipped,
            skipped,
            certification,
            rerun_options: String::new(),
            scenarios,
        }
    }

    /// The same report, its scenarios rerun with these `kazasu run` options.
    pub fn with_rerun_options(mut self, options: String) -> Self {
        self.rerun_options = options;
        self
    }

    /// The command that reruns one scenario alone, as this run ran it: its
    /// file, which gives it the same id whatever folder it is run from
    /// within the suite.
    pub fn rerun_command(&self, scenario: &ScenarioReport) -> String {
        let mut command = "kazasu run".to_string();
        if !self.rerun_options.is_empty() {
            command.push(' ');
            command.push_str(&self.rerun_options);
        }
        command.push(' ');
        command.push_str(&shell_quote(&scenario.path));
        command
    }

    /// The run's last line: `N passed, M failed` and `, K skipped` if any.
    pub fn summary_line(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        line
    }

    pub fn json(&self) -> String {
        // Plain data always serialises.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// JUnit XML: one testsuite `kazasu`, one testcase per scenario, the
    /// folder as classname, each failed expectation in the failure's text.
    pub fn junit(&self) -> Result<String, String> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("kazasu");
        let mut suite = TestSuite::new("kazasu");
        for s in &self.scenarios {
            let status = if let Some(reason) = &s.skipped {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.as_str());
                status
            } else if s.passed {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let first = s
                    .failures
                    .first()
                    .map(|f| {
                        format!(
                            "{}: expected {}, actual {}",
                            f.expectation, f.expected, f.actual
                        )
                    })
                    .unwrap_or_default();
                status.set_message(first);
                status.set_type("expectation");
                status.set_description(s.failure_text());
                status
            };
            let mut case = TestCase::new(s.id.as_str(), status);
            let classname = if s.folder.is_empty() {
                "kazasu"
            } else {
                s.folder.as_str()
            };
            case.set_classname(classname);
            case.set_time(s.duration);
            if !s.client_stderr.is_empty() {
                case.set_system_err(s.client_stderr.as_str());
            }
            suite.add_test_case(case);
        }
        suite.set_time(self.duration);
        report.add_test_suite(suite);
        report.set_time(self.duration);
        report.to_string().map_err(|e| e.to_string())
    }

    /// One HTML page, no external assets and no script: a summary header,
    /// the certification (if any), then every scenario, failures first and
    /// open, each with the command that reruns it alone, its rule, inputs,
    /// expectations, outcome, trace and timings. Links in the page (CSS
    /// `:target`, so they work where scripts are blocked) show failures
    /// only, or every scenario open; a scenario's own link opens it.
    pub fn html(&self) -> Result<String, String> {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_filter("seconds", |s: f64| format!("{:.3} s", s));
        env.add_filter("ms", |s: f64| format!("{:.1} ms", s * 1000.0));
        env.add_filter("pretty", |v: minijinja::Value| {
            serde_json::to_string_pretty(&v).unwrap_or_default()
        });
        env.add_template("report.html", include_str!("report.html.j2"))
            .map_err(|e| e.to_string())?;
        let mut ordered: Vec<&ScenarioReport> = self.scenarios.iter().collect();
        // Failures first, then skipped, then passes; by id within each.
        ordered.sort_by_key(|s| (s.passed, s.skipped.is_some(), s.id.clone()));
        let items: Vec<minijinja::Value> = ordered
            .into_iter()
            .map(|s| {
                minijinja::context! {
                    s => s,
                    rerun => self.rerun_command(s),
                }
            })
            .collect();
        let template = env.get_template("report.html").map_err(|e| e.to_string())?;
        template
            .render(minijinja::context! {
                run => self,
                items => items,
            })
            .map_err(|e| format!("cannot render the HTML report: {e:#}"))
    }
}

/// A word for `sh`: as it is when it is plain, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// This tool and its version, as reports name it.
pub fn tool() -> String {
    format!("kazasu {}", env!("CARGO_PKG_VERSION"))
}

/// Durations as fractional seconds in reports: what people and tools read.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
