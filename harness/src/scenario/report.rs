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
        if let Some(pin) = &mut scenario.client.pin {
            *pin = "*".repeat(pin.chars().count());
        }
        ScenarioReport {
            id: loaded.id.clone(),
            name: s.name.clone(),
            rule: s.rule.clone(),
            tags: s.tags.clone(),
            folder: loaded.folder().to_string(),
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
        self.checks = checks;
        self.timings = Timings {
            setup: stamps.setup_done - stamps.started,
            client: stamps.client_done - stamps.setup_done,
            checks: stamps.client_done.elapsed(),
        };
        self.duration = stamps.started.elapsed();
        self.settle();
    }

    fn settle(&mut self) {
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
            scenarios,
        }
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

    /// One HTML page, no external assets: a summary header, the
    /// certification (if any), then every scenario, failures first, each
    /// with its rule, inputs, expectations, outcome, trace and timings.
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
        let template = env.get_template("report.html").map_err(|e| e.to_string())?;
        template
            .render(minijinja::context! {
                run => self,
                scenarios => ordered,
            })
            .map_err(|e| format!("cannot render the HTML report: {e:#}"))
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
