//! `kazasu check` as a process: the adapter contract (inputs from the
//! environment, one JSON object out, exit 0 whenever there is an outcome)
//! and the readable result screen, against the mock service in process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use sim_service::clock::ServiceClock;
use sim_service::fixtures::{self, InsuredPerson};
use sim_service::http::{self, AppState, ServiceConfig};
use sim_service::store::Store;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const ADAPTER_VARIABLES: &[&str] = &[
    "KAZASU_READER",
    "KAZASU_SERVICE_URL",
    "KAZASU_FACILITY",
    "KAZASU_METHOD",
    "KAZASU_PIN",
    "KAZASU_CONSENT",
    "KAZASU_CARD_HAS_PHOTO",
    "KAZASU_TIMEOUT_MS",
    "KAZASU_DEVICE",
    "KAZASU_CA",
];

struct Service {
    base: String,
    persons: Vec<InsuredPerson>,
    _runtime: tokio::runtime::Runtime,
    dir: PathBuf,
}

fn start(name: &str) -> Service {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clock = ServiceClock::frozen_at(
        OffsetDateTime::parse("2026-12-01T10:00:00+09:00", &Rfc3339).unwrap(),
    );
    let state =
        AppState::new(Store::in_memory().unwrap(), clock, ServiceConfig::default()).unwrap();
    let persons = fixtures::built_in().unwrap();
    state.install_fixtures(&persons).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(http::serve(
        listener,
        http::router(state),
        None,
        std::future::pending(),
    ));
    let dir = std::env::temp_dir().join(format!("kazasu-check-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Service {
        base,
        persons,
        _runtime: runtime,
        dir,
    }
}

impl Service {
    /// The person's card profile, written where `--in-process-profile` reads it.
    fn profile_file(&self, id: &str) -> (PathBuf, String) {
        let person = fixtures::find(&self.persons, id).unwrap();
        let path = self.dir.join(format!("{id}.toml"));
        std::fs::write(&path, toml::to_string(&person.card.profile).unwrap()).unwrap();
        (path, person.card.profile.pins.auth.value.clone())
    }
}

fn kazasu(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kazasu"));
    command.args(args);
    for name in ADAPTER_VARIABLES {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn one_json_object(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let value: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(value.is_object());
    value
}

#[test]
fn the_adapter_reads_the_environment_and_prints_one_outcome() {
    let service = start("adapter");
    let (profile, pin) = service.profile_file("valid");
    let profile = profile.to_str().unwrap();
    let output = kazasu(
        &["check", "--adapter", "--in-process-profile", profile],
        &[
            ("KAZASU_SERVICE_URL", &service.base),
            ("KAZASU_METHOD", "pin"),
            ("KAZASU_PIN", &pin),
            ("KAZASU_TIMEOUT_MS", "5000"),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let outcome = one_json_object(&output);
    assert_eq!(outcome["outcome"], "confirmed", "{outcome}");
    assert_eq!(outcome["validity"], "1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(&pin), "{stderr}");

    // A wrong PIN is an outcome too: exit 0.
    let output = kazasu(
        &["check", "--adapter", "--in-process-profile", profile],
        &[
            ("KAZASU_SERVICE_URL", &service.base),
            ("KAZASU_METHOD", "pin"),
            ("KAZASU_PIN", if pin == "9999" { "0000" } else { "9999" }),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let outcome = one_json_object(&output);
    assert_eq!(outcome["outcome"], "wrong-pin", "{outcome}");
    assert_eq!(outcome["tries_left"], 2);

    // No PIN typed: KAZASU_PIN absent.
    let output = kazasu(
        &["check", "--adapter", "--in-process-profile", profile],
        &[
            ("KAZASU_SERVICE_URL", &service.base),
            ("KAZASU_METHOD", "pin"),
        ],
    );
    assert_eq!(one_json_object(&output)["outcome"], "pin-required");

    let output = kazasu(
        &["check", "--adapter", "--in-process-profile", profile],
        &[
            ("KAZASU_SERVICE_URL", &service.base),
            ("KAZASU_METHOD", "visual"),
            ("KAZASU_CARD_HAS_PHOTO", "0"),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(one_json_object(&output)["outcome"], "visual-not-possible");
}

#[test]
fn the_adapter_refuses_bad_inputs_without_an_outcome() {
    let output = kazasu(&["check", "--adapter"], &[("KAZASU_METHOD", "telepathy")]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let output = kazasu(&["check", "--adapter"], &[]);
    assert!(!output.status.success(), "KAZASU_METHOD is required");
    let output = kazasu(
        &["check", "--adapter"],
        &[("KAZASU_METHOD", "visual"), ("KAZASU_CONSENT", "maybe")],
    );
    assert!(!output.status.success());
}

#[test]
fn the_result_screen_shows_the_manuals_labels() {
    let service = start("screen");
    let (profile, _) = service.profile_file("preschool");
    let output = kazasu(
        &[
            "check",
            "--in-process-profile",
            profile.to_str().unwrap(),
            "--service",
            &service.base,
            "--method",
            "visual",
        ],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let screen = String::from_utf8(output.stdout).unwrap();
    for label in [
        "資格確認結果",
        "義務教育就学前",
        "確認日：2026年12月01日",
        "保険者番号",
        "氏名",
        "生年月日",
    ] {
        assert!(screen.contains(label), "{label} missing:\n{screen}");
    }
}

#[test]
fn misbehaviour_is_not_advertised() {
    let output = kazasu(&["check", "--help"], &[]);
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("--adapter"));
    assert!(!help.contains("misbehave"), "{help}");
}

#[test]
fn history_lists_the_result_search_by_date_and_device() {
    let service = start("history");
    let (profile, _) = service.profile_file("valid");
    let profile = profile.to_str().unwrap();
    for device in ["reception-1", "reception-2"] {
        let output = kazasu(
            &[
                "check",
                "--in-process-profile",
                profile,
                "--service",
                &service.base,
                "--method",
                "visual",
                "--device",
                device,
            ],
            &[],
        );
        assert!(output.status.success(), "{output:?}");
    }
    let history = |extra: &[&str]| {
        let mut args = vec!["check", "--history", "--service", &service.base];
        args.extend_from_slice(extra);
        let output = kazasu(&args, &[]);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let list = history(&[]);
    assert!(list.contains("総件数：2件"), "{list}");
    assert!(
        list.contains("2026年12月01日 10時00分\t資格　太郎\t資格有効"),
        "{list}"
    );
    let json: serde_json::Value = serde_json::from_str(&history(&[
        "--this-device",
        "--device",
        "reception-2",
        "--json",
    ]))
    .unwrap();
    let entries = json["confirmations"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["device"], "reception-2");
    assert!(history(&["--from", "2026-12-02", "--to", "2026-12-31"]).contains("総件数：0件"));
    // A bad date is the service's 400, reported as an error.
    let output = kazasu(
        &[
            "check",
            "--history",
            "--service",
            &service.base,
            "--from",
            "12/01",
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid_query"));
}
