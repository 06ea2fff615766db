//! `kazasu check` on the app channel as a process: first start with an
//! activation code (the device token printed for later), a later start
//! with the token, the adapter variables, and a refusal with its KZA code.

use std::net::TcpListener;
use std::process::Command;

use serde_json::Value;
use sim_service::clock::ServiceClock;
use sim_service::facility::{NewAccount, Role, account, admin};
use sim_service::fixtures;
use sim_service::http::{self, AppState, ServiceConfig};
use sim_service::model::MedicalInstitutionCode;
use sim_service::store::Store;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PASSWORD: &str = "Passw0rd!";

/// Runs `kazasu check` with the `valid` card in process; its outcome and stderr.
fn check(base: &str, profile: &str, args: &[&str], env: &[(&str, &str)]) -> (Value, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kazasu"));
    command
        .args(["check", "--service", base, "--in-process-profile", profile])
        .args(["--method", "visual", "--json"])
        .args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("KAZASU_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{stderr}");
    let outcome = serde_json::from_slice(&output.stdout).unwrap();
    (outcome, stderr)
}

#[test]
fn the_reference_client_registers_its_device_logs_in_and_confirms() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let issued = OffsetDateTime::parse("2026-12-01T10:00:00+09:00", &Rfc3339).unwrap();
    let state = AppState::new(
        Store::in_memory().unwrap(),
        ServiceClock::frozen_at(issued),
        ServiceConfig::default(),
    )
    .unwrap();
    let persons = fixtures::built_in().unwrap();
    state.install_fixtures(&persons).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(http::serve(
        listener,
        http::router(state.clone()),
        None,
        std::future::pending(),
    ));
    let dir = std::env::temp_dir().join(format!("kazasu-check-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("valid.toml");
    let valid = fixtures::find(&persons, "valid").unwrap();
    std::fs::write(&profile, toml::to_string(&valid.card.profile).unwrap()).unwrap();
    let profile = profile.to_str().unwrap();

    let facility = MedicalInstitutionCode::new("0110000001").unwrap();
    admin::set_outpatient_flow(&state.store, &facility, true).unwrap();
    let new = NewAccount {
        role: Role::General,
        user_id: "staff1".into(),
        name: "資格 太郎".into(),
        kana: "シカク タロウ".into(),
        start_date: issued.date(),
        password: PASSWORD.into(),
    };
    admin::register_account(&state.store, &facility, new, issued).unwrap();
    account::system_login(&state.store, &facility, "staff1", PASSWORD, None, issued).unwrap();
    let code = admin::issue_activation_code(&state.store, &facility, "受付タブレット", issued)
        .unwrap()
        .code;
    state.clock.advance(time::Duration::minutes(10)).unwrap();

    let app = ["--app-user", "staff1", "--activation-code", code.as_str()];
    let (outcome, stderr) = check(&base, profile, &app, &[("KAZASU_APP_PASSWORD", PASSWORD)]);
    assert_eq!(outcome["outcome"], "confirmed", "{outcome}");
    assert!(!stderr.contains(PASSWORD), "the password is never printed");
    let token = stderr
        .lines()
        .find_map(|l| l.split("KAZASU_DEVICE_TOKEN): ").nth(1))
        .unwrap_or_else(|| panic!("no device token in {stderr:?}"))
        .trim()
        .to_string();

    // The code is bound now: a second first start is refused.
    let (outcome, _) = check(&base, profile, &app, &[("KAZASU_APP_PASSWORD", PASSWORD)]);
    assert_eq!(
        (&outcome["outcome"], &outcome["processing_result_code"]),
        (&Value::from("app-refused"), &Value::from("KZA004"))
    );

    // Later starts: the token, here through the adapter's variables.
    let adapter = [
        ("KAZASU_APP_USER", "staff1"),
        ("KAZASU_APP_PASSWORD", PASSWORD),
        ("KAZASU_DEVICE_TOKEN", token.as_str()),
        ("KAZASU_METHOD", "visual"),
        ("KAZASU_SERVICE_URL", base.as_str()),
    ];
    let (outcome, _) = check(&base, profile, &["--adapter"], &adapter);
    assert_eq!(outcome["outcome"], "confirmed", "{outcome}");
    let history = state
        .store
        .confirmations(
            "0110000001",
            OffsetDateTime::UNIX_EPOCH,
            issued + time::Duration::days(1),
            Some("受付タブレット"),
        )
        .unwrap();
    assert_eq!(
        history.len(),
        2,
        "both confirmations name the device by its memo"
    );

    admin::set_outpatient_flow(&state.store, &facility, false).unwrap();
    let (outcome, _) = check(&base, profile, &["--adapter"], &adapter);
    assert_eq!(outcome["processing_result_code"], "KZA001", "{outcome}");
    assert!(
        outcome["message"]
            .as_str()
            .unwrap()
            .contains("外来診療等(通常とは異なる動線)機能")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
