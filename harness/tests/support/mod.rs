//! What the harness's tests share: starting `kazasu service` as a process
//! on a free loopback port with a throwaway database and `--oqs-dir` folder,
//! reading its address and console password from its banner, waiting for the
//! files it writes in the folder; and whether pcscd with vpcd is there.
//!
//! Each test file that declares `mod support;` compiles this module on its
//! own and uses a part of it: what one file leaves unused is not dead.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The day the built-in fixtures are designed around.
pub const CLOCK: &str = "2026-12-01T10:00:00+09:00";
/// Generous for a debug build on a loaded machine.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(180);

/// A valid request of the receipt computer's folder (OQSsiquc01req): a
/// built-in person (資格　太郎) by their insurance card's number, at the
/// facility `0110000001`.
pub const FOLDER_REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg><MessageHeader><QualificationConfirmationDate>20261201</QualificationConfirmationDate>
<MedicalInstitutionCode>0110000001</MedicalInstitutionCode></MessageHeader>
<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>06139990</InsurerNumber>
<InsuredCardSymbol>1234</InsuredCardSymbol><InsuredIdentificationNumber>5678</InsuredIdentificationNumber>
<InsuredBranchNumber>00</InsuredBranchNumber><Birthdate>19850412</Birthdate>
<LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
</QualificationConfirmSearchInfo></MessageBody></XmlMsg>"#;

/// A `kazasu service` process, killed on drop.
pub struct RunningService {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, from the banner.
    pub base: String,
    /// The console's password, from the banner (`admin console: … (password
    /// …)`).
    pub console_password: String,
}

impl Drop for RunningService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kazasu service` on `listen` with its clock frozen at [`CLOCK`], its
/// database `dir/service.db`, and no admin token or console password from
/// the environment; stdout piped, stderr dropped.
pub fn service_command(dir: &Path, listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kazasu"));
    command
        .args(["service", "--listen", listen, "--clock", CLOCK])
        .arg("--db")
        .arg(dir.join("service.db"))
        .env_remove("KAZASU_ADMIN_TOKEN")
        .env_remove("KAZASU_CONSOLE_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

/// Starts [`service_command`] on a free loopback port with the folder
/// `dir/oqs` and the `extra` arguments; returns once the banner has named
/// its address and console password. What it prints later is read and
/// dropped.
pub fn start_service(dir: &Path, extra: &[&str]) -> RunningService {
    let mut child = service_command(dir, "127.0.0.1:0")
        .arg("--oqs-dir")
        .arg(dir.join("oqs"))
        .args(extra)
        .spawn()
        .expect("start kazasu service");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + STARTUP_LIMIT;
    let (mut base, mut password) = (None, None);
    while base.is_none() || password.is_none() {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the service's banner");
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("admin console: ") {
            let (_, p) = rest.split_once(" (password ").expect("a password");
            password = Some(p.trim_end_matches(')').to_string());
        }
    }
    RunningService {
        child,
        base: base.unwrap(),
        console_password: password.unwrap(),
    }
}

/// An empty directory of the system's temporary one, for one test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kazasu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits (up to 30 s) for a file to appear with some content; the folder's
/// watcher polls every 200 ms and writes each file whole.
pub fn wait_for(path: &Path) -> Vec<u8> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(bytes) = std::fs::read(path)
            && !bytes.is_empty()
        {
            return bytes;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

/// Whether pcscd with vpcd listens (looked at by the listening sockets:
/// connecting would insert a card). Outside CI a test that needs it is
/// skipped with a note; in CI its absence is a failure.
pub fn pcscd_ready() -> bool {
    let listening = Command::new("ss")
        .arg("-ltn")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(":35963 "))
        .unwrap_or(false);
    if !listening {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the tests that need pcscd: pcscd with vpcd is not listening on 35963"
        );
        eprintln!("skipped: pcscd with vpcd is not running here (bash .ci/setup starts it)");
    }
    listening
}
