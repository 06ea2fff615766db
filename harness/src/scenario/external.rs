//! A vendor's client as the client under test: a command run once per
//! scenario, told what to do through environment variables, answering with
//! one [`ClientOutcome`] as JSON on stdout.
//!
//! This is the adapter contract: whatever the vendor's client is (a desktop
//! app with a test entry point, a script around its library), a small
//! adapter turns the variables below into one check and prints the outcome.
//! The card is reached through PC/SC only, since an external process cannot
//! see a card living inside the runner.
//!
//! | variable | value |
//! |---|---|
//! | `KAZASU_READER` | the PC/SC reader holding the card (`Virtual PCD 00 00`) |
//! | `KAZASU_SERVICE_URL` | the service's base URL |
//! | `KAZASU_FACILITY` | 医療機関等コード |
//! | `KAZASU_DEVICE` | the confirming device's name |
//! | `KAZASU_METHOD` | `visual`, `pin`, `iphone` or `android` |
//! | `KAZASU_PIN` | the PIN the patient types (absent when none) |
//! | `KAZASU_CONSENT` | `1` if the patient consents to register, else `0` |
//! | `KAZASU_CARD_HAS_PHOTO` | `1` or `0` |
//! | `KAZASU_TIMEOUT_MS` | how long to wait for the service |
//! | `KAZASU_CARD_TIMEOUT_MS` | how long the card may take for one command |
//! | `KAZASU_CHARACTER_CODE` | the facility's CharacterCodeIdentifier: `0` UTF-8, `1` Shift_JIS |
//! | `KAZASU_SCENARIO` | the scenario's id, for the client's own logs |
//! | `KAZASU_TIME_LIMIT_MS` | how long the runner lets the adapter run before it stops it |
//! | `KAZASU_LOG_DIR` | an empty folder for the client's log files, searched for secrets afterwards |
//! | `KAZASU_APP_USER`, `KAZASU_APP_PASSWORD` | app channel (`[facility]` scenarios only): the staff's login |
//! | `KAZASU_ACTIVATION_CODE` | app channel, unregistered device: register it with this code first |
//! | `KAZASU_DEVICE_TOKEN` | app channel, registered device: its token |

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::contract::{ClientRun, ClientUnderTest, Reader, RunSetup, Transport};
use crate::client::{ClientOutcome, Method};

/// On top of the scenario's service time-out: time for the client to start,
/// talk to the card and exit, before the runner gives up on it (unless the
/// run sets its own limit, `--client-timeout`).
pub const GRACE: Duration = Duration::from_secs(30);

/// Output kept per stream: an adapter that floods stdout must not exhaust
/// the runner's memory.
const OUTPUT_LIMIT: usize = 1 << 20;

/// The app channel's variables: set only for `[facility]` scenarios, never
/// inherited from the runner's own environment.
const APP_VARIABLES: [&str; 4] = [
    "KAZASU_APP_USER",
    "KAZASU_APP_PASSWORD",
    "KAZASU_ACTIVATION_CODE",
    "KAZASU_DEVICE_TOKEN",
];

/// A client run as `sh -c COMMAND`.
#[derive(Debug, Clone)]
pub struct ExternalCommand {
    pub command: String,
    /// How long one run may take before the runner stops it; `None`: the
    /// scenario's service time-out plus [`GRACE`].
    pub time_limit: Option<Duration>,
}

impl ExternalCommand {
    pub fn new(command: impl Into<String>) -> Self {
        ExternalCommand {
            command: command.into(),
            time_limit: None,
        }
    }

    /// The same command with a fixed time limit per run.
    pub fn with_time_limit(mut self, limit: Option<Duration>) -> Self {
        self.time_limit = limit;
        self
    }

    /// The time limit of one run with these inputs.
    pub fn time_limit_for(&self, timeout_ms: u64) -> Duration {
        self.time_limit
            .unwrap_or_else(|| Duration::from_millis(timeout_ms) + GRACE)
    }
}

impl ClientUnderTest for ExternalCommand {
    fn identity(&self) -> String {
        format!("external command `{}`", self.command)
    }

    fn supports(&self, transport: Transport) -> Result<(), String> {
        match transport {
            Transport::Pcsc => Ok(()),
            Transport::InProcess => Err(
                "--client runs the client as its own process, which cannot reach a card inside \
                 the runner: use --transport pcsc (the card is then put into vpcd, and the \
                 client opens it through pcscd)"
                    .into(),
            ),
        }
    }

    fn run(&self, setup: RunSetup<'_>) -> ClientRun {
        let reader = match &setup.reader {
            Reader::Pcsc { name } => name.clone(),
            Reader::InProcess(_) => {
                return ClientRun::of(Err(self
                    .supports(Transport::InProcess)
                    .err()
                    .unwrap_or_default()));
            }
        };
        let inputs = setup.inputs;
        let deadline = self.time_limit_for(inputs.timeout_ms);
        let log_dir = match LogDir::create() {
            Ok(dir) => dir,
            Err(e) => return ClientRun::of(Err(e)),
        };
        let flag = |b: bool| if b { "1" } else { "0" };
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .env("KAZASU_READER", reader)
            .env("KAZASU_SERVICE_URL", setup.service_url)
            .env("KAZASU_FACILITY", &inputs.facility)
            .env("KAZASU_DEVICE", &inputs.device)
            .env("KAZASU_METHOD", method_name(inputs.method))
            .env("KAZASU_CONSENT", flag(inputs.consent_to_register))
            .env("KAZASU_CARD_HAS_PHOTO", flag(inputs.card_has_photo))
            .env("KAZASU_TIMEOUT_MS", inputs.timeout_ms.to_string())
            .env("KAZASU_CARD_TIMEOUT_MS", inputs.card_timeout_ms.to_string())
            .env(
                "KAZASU_CHARACTER_CODE",
                inputs.character_code_identifier.identifier(),
            )
            .env("KAZASU_SCENARIO", setup.id)
            .env("KAZASU_TIME_LIMIT_MS", deadline.as_millis().to_string())
            .env("KAZASU_LOG_DIR", &log_dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a client that overstays is
            // stopped with everything it started.
            .process_group(0);
        match &inputs.pin {
            Some(pin) => command.env("KAZASU_PIN", pin),
            None => command.env_remove("KAZASU_PIN"),
        };
        for name in APP_VARIABLES {
            command.env_remove(name);
        }
        if let Some(login) = setup.app {
            command
                .env("KAZASU_APP_USER", &login.user_id)
                .env("KAZASU_APP_PASSWORD", &login.password);
            if let Some(code) = &login.activation_code {
                command.env("KAZASU_ACTIVATION_CODE", code);
            }
            if let Some(token) = &login.device_token {
                command.env("KAZASU_DEVICE_TOKEN", token);
            }
        }
        let mut run = run_with_deadline(command, deadline);
        run.logs = log_dir.read();
        run
    }
}

/// A fresh, empty folder per run for the client's log files
/// (`KAZASU_LOG_DIR`), removed once read.
struct LogDir(PathBuf);

impl LogDir {
    fn create() -> Result<Self, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "kazasu-client-logs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A folder left by an earlier process of the same id is not ours to keep.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| {
            format!(
                "cannot make the client's log folder {}: {e}",
                path.display()
            )
        })?;
        Ok(LogDir(path))
    }

    /// Every file under the folder (relative name, text), at most
    /// [`OUTPUT_LIMIT`] bytes in all.
    fn read(&self) -> Vec<(String, String)> {
        let mut files = Vec::new();
        let mut budget = OUTPUT_LIMIT;
        read_files(&self.0, &self.0, &mut budget, &mut files);
        files.sort();
        files
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_files(root: &Path, dir: &Path, budget: &mut usize, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            read_files(root, &path, budget, out);
        } else if kind.is_file() && *budget > 0 {
            let mut kept = Vec::new();
            if let Ok(file) = std::fs::File::open(&path) {
                let _ = file.take(*budget as u64).read_to_end(&mut kept);
            }
            *budget -= kept.len();
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            out.push((name, String::from_utf8_lossy(&kept).into_owned()));
        }
    }
}

fn method_name(method: Method) -> String {
    match serde_json::to_value(method) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{method:?}").to_lowercase(),
    }
}

/// Runs the command, reading both streams, and stops its process group at
/// the deadline.
fn run_with_deadline(mut command: Command, deadline: Duration) -> ClientRun {
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return ClientRun::of(Err(format!("cannot start the client: {e}"))),
    };
    let reader = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(stream) = stream {
                let _ = stream.take(OUTPUT_LIMIT as u64).read_to_end(&mut kept);
            }
            String::from_utf8_lossy(&kept).into_owned()
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() > deadline => {
                stop_group(child.id());
                let _ = child.wait();
                break Err(format!(
                    "the client did not finish within its time limit of {deadline:?} and was \
                     stopped (the limit: --client-timeout, or the scenario's service time-out \
                     plus {GRACE:?})"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(format!("cannot wait for the client: {e}")),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let outcome = status.and_then(|status| {
        parse_outcome(&stdout).map_err(|e| {
            let said = match stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
                Some(line) => format!(" (its last word on stderr: {})", excerpt(line)),
                None => String::new(),
            };
            if status.success() {
                format!("{e}{said}")
            } else {
                format!("the client exited with {status} and {e}{said}")
            }
        })
    });
    ClientRun {
        outcome,
        stderr,
        stdout,
        logs: Vec::new(),
        leaks: Vec::new(),
        outcome_from_tester: false,
    }
}

/// Stops the client's process group (the group the runner made for it).
fn stop_group(pid: u32) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The outcome on stdout: the whole output as one JSON object, or else its
/// last line that is one (an adapter may log before it answers).
pub fn parse_outcome(stdout: &str) -> Result<ClientOutcome, String> {
    let whole = serde_json::from_str::<ClientOutcome>(stdout.trim());
    if let Ok(outcome) = whole {
        return Ok(outcome);
    }
    let last = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('{'));
    match last {
        Some(line) => serde_json::from_str(line)
            .map_err(|e| format!("printed no outcome JSON: {e} in {}", excerpt(line))),
        None if stdout.trim().is_empty() => Err("printed nothing on stdout".into()),
        None => Err(format!(
            "printed no outcome JSON on stdout: {}",
            excerpt(stdout.trim())
        )),
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{CheckInputs, OutcomeKind};

    fn inputs() -> CheckInputs {
        CheckInputs {
            method: Method::Pin,
            pin: Some("1234".into()),
            consent_to_register: false,
            card_has_photo: true,
            facility: "0110000001".into(),
            device: "reception-1".into(),
            timeout_ms: 1000,
            card_timeout_ms: 1000,
            character_code_identifier: Default::default(),
            reselect_before_sign: false,
        }
    }

    fn run(command: &str) -> ClientRun {
        let inputs = inputs();
        ExternalCommand::new(command).run(RunSetup {
            id: "t",
            inputs: &inputs,
            service_url: "http://127.0.0.1:9",
            reader: Reader::Pcsc {
                name: "Virtual PCD 00 01".into(),
            },
            app: None,
        })
    }

    #[test]
    fn the_adapter_gets_its_variables_and_its_json_is_read() {
        let run = run(
            r#"echo "starting $KAZASU_READER" >&2; echo "log line"; printf '{"outcome":"wrong-pin","message":"%s %s %s %s","tries_left":2}\n' "$KAZASU_METHOD" "$KAZASU_PIN" "$KAZASU_CONSENT" "$KAZASU_SERVICE_URL""#,
        );
        let outcome = run.outcome.unwrap();
        assert_eq!(outcome.outcome, OutcomeKind::WrongPin);
        assert_eq!(outcome.message, "pin 1234 0 http://127.0.0.1:9");
        assert_eq!(outcome.tries_left, Some(2));
        assert_eq!(run.stderr, "starting Virtual PCD 00 01\n");
    }

    #[test]
    fn bad_output_and_failures_are_explained() {
        let e = run("echo hello").outcome.unwrap_err();
        assert!(e.contains("no outcome JSON") && e.contains("hello"), "{e}");
        let e = run("exit 3").outcome.unwrap_err();
        assert!(e.contains("exit status: 3") && e.contains("nothing"), "{e}");
        let e = run("echo '{\"outcome\": \"bogus\"}'").outcome.unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn the_log_folder_is_read_then_removed_and_the_time_limit_is_told() {
        let run = run(
            r#"echo "typed $KAZASU_PIN" > "$KAZASU_LOG_DIR/app.log"; echo "$KAZASU_LOG_DIR" >&2; printf '{"outcome":"confirmed","message":"%s"}' "$KAZASU_TIME_LIMIT_MS""#,
        );
        assert_eq!(
            run.logs,
            [("app.log".to_string(), "typed 1234\n".to_string())]
        );
        assert_eq!(run.stdout, r#"{"outcome":"confirmed","message":"31000"}"#);
        assert_eq!(run.outcome.unwrap().message, "31000");
        let folder = run.stderr.trim();
        assert!(folder.contains("kazasu-client-logs-"));
        assert!(!std::path::Path::new(folder).exists());
    }

    #[test]
    fn a_broken_adapter_is_explained_by_its_last_word() {
        let e = run("./no-such-adapter-here").outcome.unwrap_err();
        assert!(
            e.contains("exit status: 127") && e.contains("not found"),
            "{e}"
        );
    }

    #[test]
    fn in_process_is_refused_with_a_reason() {
        let e = ExternalCommand::new("true")
            .supports(Transport::InProcess)
            .unwrap_err();
        assert!(e.contains("--transport pcsc"));
    }

    #[test]
    fn a_client_past_its_deadline_is_stopped() {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("sleep 30")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let started = Instant::now();
        let run = run_with_deadline(command, Duration::from_millis(200));
        assert!(run.outcome.unwrap_err().contains("did not finish"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
