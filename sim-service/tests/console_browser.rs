//! The admin console in a real browser: headless Chromium driven through
//! chromedriver (WebDriver) logs in, sets the service clock, turns the
//! environment setting on, issues an activation code, sees it listed as
//! 未登録, invalidates it and sees it 無効 — and leaves a screenshot of that
//! list in `target/artifacts/console.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (and `fonts-noto-cjk` for
//! the Japanese labels in the screenshot). Without them the test fails and
//! says so: a browser test that skips itself would pass in CI for the wrong
//! reason. `CHROMEDRIVER` and `CHROMIUM` override the binaries' paths.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use sim_service::http::{AppState, ServiceConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PASSWORD: &str = "browser-test-password";
const FACILITY: &str = "0110000001";

fn binary(variable: &str, default: &str, package: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} not found: the console's browser test needs it (apt-get install {package}, or set {variable})",
        path.display()
    );
    path
}

/// chromedriver on a loopback port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver", "chromium-driver");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    // chromedriver takes a moment to listen; give it up to 20 s.
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return driver;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not listen on port {port} within 20 s");
}

async fn browser(driver: &Driver) -> Client {
    let chromium = binary("CHROMIUM", "/usr/bin/chromium", "chromium");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            // --no-sandbox: CI containers run as root, where Chromium's
            // sandbox cannot start.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=ja"],
        }),
    );
    ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("cannot start headless Chromium through chromedriver: {e}"))
}

async fn start_service() -> (AppState, String) {
    let config = ServiceConfig {
        console_password: Some(PASSWORD.into()),
        ..ServiceConfig::default()
    };
    let valid = sim_service::fixtures::find(&sim_service::fixtures::built_in().unwrap(), "valid")
        .unwrap()
        .clone();
    common::serve("2026-12-01T10:00:00+09:00", vec![valid], config).await
}

fn artifact(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let dir = target.join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Like `assert!`, but returns the failure so that the screenshot is still
/// taken and the browser closed.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

async fn text_of(browser: &Client, css: &str) -> Result<String, String> {
    browser
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("no {css} on the page: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())
}

async fn click(browser: &Client, locator: Locator<'_>) -> Result<(), String> {
    browser
        .find(locator)
        .await
        .map_err(|e| format!("no {locator:?} on the page: {e}"))?
        .click()
        .await
        .map_err(|e| e.to_string())
}

async fn fill(browser: &Client, locator: Locator<'_>, text: &str) -> Result<(), String> {
    let field = browser
        .find(locator)
        .await
        .map_err(|e| format!("no {locator:?} on the page: {e}"))?;
    field.clear().await.map_err(|e| e.to_string())?;
    field.send_keys(text).await.map_err(|e| e.to_string())
}

/// Waits for the page a form led to: the one whose notice says `what`.
async fn wait_for_notice(browser: &Client, what: &str) -> Result<(), String> {
    let xpath = format!("//p[@class='notice' and contains(., '{what}')]");
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&xpath))
        .await
        .map(drop)
        .map_err(|e| format!("no notice saying {what:?}: {e}"))
}

async fn path_now(browser: &Client) -> Result<String, String> {
    Ok(browser
        .current_url()
        .await
        .map_err(|e| e.to_string())?
        .path()
        .to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tester_logs_in_and_uses_the_forms() {
    let driver = start_driver();
    let (state, base) = start_service().await;
    let browser = browser(&driver).await;
    let result = drive(&browser, &state, &base).await;
    // Whatever happened, the screenshot of the last page helps.
    if let Ok(png) = browser.screenshot().await {
        std::fs::write(artifact("console.png"), png).unwrap();
    }
    browser.close().await.unwrap();
    result.unwrap();
}

/// A visual confirmation of the `valid` person's card from device 受付1,
/// and the APDU trace a harness would post for it; the confirmation's id.
async fn confirm_with_trace(base: &str) -> Result<i64, String> {
    use base64::Engine;
    let persons = sim_service::fixtures::built_in().map_err(|e| e.to_string())?;
    let person = sim_service::fixtures::find(&persons, "valid").ok_or("no valid person")?;
    let pki = sim_card::personalize::simulated_jpki().map_err(|e| e.to_string())?;
    let certificate = sim_card::personalize::auth_certificate(&person.card.profile, &pki)
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/v1/confirmations"))
        .json(&serde_json::json!({
            "medical_institution_code": FACILITY,
            "device": "受付1",
            "method": "visual",
            "certificate": base64::engine::general_purpose::STANDARD.encode(certificate),
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let id: i64 = response
        .headers()
        .get("x-kazasu-confirmation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no confirmation id: {}", response.status()))?;
    let put = client
        .put(format!("{base}/admin/v1/confirmations/{id}/apdu-trace"))
        .json(&serde_json::json!({"records": [
            {"at": "2026-12-01T01:00:00Z", "elapsed_us": 0, "event": "power-on", "summary": "power on"},
            {"at": "2026-12-01T01:00:00Z", "elapsed_us": 850, "event": "apdu",
             "command": "00A4040C0AD392F000260100000001", "response": "9000", "sw": "9000",
             "summary": "SELECT JPKI-AP → 9000"}
        ]}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    ensure!(
        put.status().as_u16() == 204,
        "PUT apdu-trace: {}",
        put.status()
    );
    Ok(id)
}

async fn drive(browser: &Client, state: &AppState, base: &str) -> Result<(), String> {
    browser
        .goto(&format!("{base}/admin"))
        .await
        .map_err(|e| e.to_string())?;
    let path = path_now(browser).await?;
    ensure!(
        path == "/admin/login",
        "an anonymous visit went to {path}, not the login"
    );
    fill(browser, Locator::Id("password"), PASSWORD).await?;
    click(browser, Locator::Id("login")).await?;
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("dl.summary"))
        .await
        .map_err(|e| format!("no overview after the login: {e}"))?;
    let path = path_now(browser).await?;
    ensure!(
        path == "/admin",
        "after the login: {path}, not the overview"
    );

    // A confirmation in the history, with its HTTP exchange and an APDU
    // trace as a harness posts it.
    let id = confirm_with_trace(base).await?;
    browser
        .goto(&format!("{base}/admin/confirmations"))
        .await
        .map_err(|e| e.to_string())?;
    click(browser, Locator::LinkText(&id.to_string())).await?;
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("table.trace"))
        .await
        .map_err(|e| format!("no APDU trace on the confirmation's page: {e}"))?;
    let page = text_of(browser, "main").await?;
    ensure!(
        page.contains("SELECT JPKI-AP") && page.contains("\"device\": \"受付1\""),
        "the confirmation's page: {page}"
    );
    if let Ok(png) = browser.screenshot().await {
        std::fs::write(artifact("console-confirmation.png"), png).map_err(|e| e.to_string())?;
    }

    // The service clock, through its form.
    browser
        .goto(&format!("{base}/admin/clock"))
        .await
        .map_err(|e| e.to_string())?;
    fill(
        browser,
        Locator::Id("clock-input"),
        "2027-04-01T09:00:00+09:00",
    )
    .await?;
    click(browser, Locator::Id("clock-set")).await?;
    wait_for_notice(browser, "サービス時刻を変更しました").await?;
    let shown = text_of(browser, "#clock-now").await?;
    ensure!(
        shown == "2027-04-01 09:00:00",
        "the clock page shows {shown}"
    );
    let now = state.clock.now();
    ensure!(
        now == OffsetDateTime::parse("2027-04-01T09:00:00+09:00", &Rfc3339).unwrap(),
        "the service clock is at {now}"
    );

    // 環境設定: the app's switch on.
    browser
        .goto(&format!("{base}/admin/environment?facility={FACILITY}"))
        .await
        .map_err(|e| e.to_string())?;
    click(browser, Locator::Id("outpatient-flow")).await?;
    click(browser, Locator::Id("environment-save")).await?;
    wait_for_notice(browser, "環境設定を更新しました").await?;
    let shown = text_of(browser, "#outpatient-flow-state").await?;
    ensure!(shown.contains("利用する (on)"), "environment: {shown}");

    // アクティベーションコード発行, listed as 未登録, then 無効化する.
    browser
        .goto(&format!(
            "{base}/admin/activation-codes?facility={FACILITY}"
        ))
        .await
        .map_err(|e| e.to_string())?;
    fill(browser, Locator::Id("memo"), "受付タブレット1").await?;
    click(browser, Locator::Id("issue")).await?;
    wait_for_notice(browser, "発行しました").await?;
    let row = browser
        .find(Locator::Css("#codes tbody tr[data-code]"))
        .await
        .map_err(|e| format!("no code listed: {e}"))?;
    let code = row
        .attr("data-code")
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    ensure!(
        code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit()),
        "code {code:?}"
    );
    let memo = text_of(browser, &format!("tr[data-code=\"{code}\"] .memo")).await?;
    ensure!(memo == "受付タブレット1", "memo {memo:?}");
    let status = text_of(browser, &format!("tr[data-code=\"{code}\"] .status")).await?;
    ensure!(
        status.starts_with("未登録"),
        "status after issuing: {status}"
    );
    click(
        browser,
        Locator::Css(&format!("tr[data-code=\"{code}\"] .invalidate")),
    )
    .await?;
    wait_for_notice(browser, "無効化しました").await?;
    let status = text_of(browser, &format!("tr[data-code=\"{code}\"] .status")).await?;
    ensure!(status == "無効", "status after invalidating: {status}");
    // What the page says is what the service holds.
    let facility = sim_service::model::MedicalInstitutionCode::new(FACILITY).unwrap();
    let codes =
        sim_service::facility::admin::activation_codes(&state.store, &facility, state.clock.now())
            .map_err(|e| e.to_string())?;
    ensure!(
        codes.len() == 1
            && codes[0].code == code
            && codes[0].status == sim_service::facility::ActivationStatus::Invalidated,
        "the service holds {codes:?}"
    );
    Ok(())
}
