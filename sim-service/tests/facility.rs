//! The facility's app administration over HTTP: every rule of the
//! environment setting, activation codes, accounts, devices, sessions and
//! notices, seen as an app and an administrator see them, with time moved by
//! the admin clock endpoints (never by waiting).

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sim_service::fixtures;
use sim_service::http::ServiceConfig;

const FACILITY: &str = "0110000001";
const PASSWORD: &str = "Passw0rd!";

struct Service {
    base: String,
    client: reqwest::Client,
    /// The `valid` fixture's physical-card certificate, base64.
    certificate: String,
}

async fn start() -> Service {
    let persons: Vec<_> = fixtures::built_in()
        .unwrap()
        .into_iter()
        .filter(|p| p.id == "valid")
        .collect();
    let pki = sim_card::personalize::simulated_jpki().unwrap();
    let certificate = BASE64
        .encode(sim_card::personalize::auth_certificate(&persons[0].card.profile, &pki).unwrap());
    let (_, base) = common::serve(
        "2026-12-01T09:00:00+09:00",
        persons,
        ServiceConfig::default(),
    )
    .await;
    Service {
        base,
        client: reqwest::Client::new(),
        certificate,
    }
}

impl Service {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    /// An app's DELETE with its session token; answers the status.
    async fn delete(&self, path: &str, token: &str) -> u16 {
        self.send(reqwest::Method::DELETE, path, Some(token), None)
            .await
            .0
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn advance(&self, seconds: i64) {
        let (status, _) = self
            .post("/admin/v1/clock/advance", json!({"seconds": seconds}))
            .await;
        assert_eq!(status, 200);
    }

    async fn environment(&self, on: bool) {
        let (status, body) = self
            .send(
                reqwest::Method::PUT,
                &format!("/admin/v1/facilities/{FACILITY}/environment"),
                None,
                Some(json!({"outpatient_flow": on})),
            )
            .await;
        assert_eq!((status, body["outpatient_flow"].as_bool()), (200, Some(on)));
    }

    async fn account(&self, user_id: &str, password: &str) -> (u16, Value) {
        self.post(
            &format!("/admin/v1/facilities/{FACILITY}/accounts"),
            json!({"role": "一般利用者", "user_id": user_id, "name": "資格 太郎",
                   "kana": "シカク タロウ", "start_date": "2026-12-01", "password": password}),
        )
        .await
    }

    async fn system_login(&self, user_id: &str, password: &str) -> (u16, Value) {
        self.post(
            "/v1/facility/system-login",
            json!({"medical_institution_code": FACILITY, "user_id": user_id, "password": password}),
        )
        .await
    }

    async fn issue_code(&self, memo: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/admin/v1/facilities/{FACILITY}/activation-codes"),
                json!({"memo": memo}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["code"].as_str().unwrap().to_string()
    }

    async fn register_device(&self, user_id: &str, code: &str) -> (u16, Value) {
        self.post(
            "/v1/app/devices",
            json!({"medical_institution_code": FACILITY, "user_id": user_id,
                   "password": PASSWORD, "activation_code": code}),
        )
        .await
    }

    async fn login(&self, user_id: &str, password: &str, device_token: &str) -> (u16, Value) {
        self.post(
            "/v1/app/sessions",
            json!({"medical_institution_code": FACILITY, "user_id": user_id,
                   "password": password, "device_token": device_token}),
        )
        .await
    }

    /// A visual confirmation of the `valid` card, on the app channel when
    /// a token is given.
    async fn confirm(&self, token: Option<&str>, facility: &str) -> (u16, Value) {
        let body = json!({"medical_institution_code": facility, "device": "terminal-1",
                          "method": "visual", "certificate": self.certificate});
        self.send(
            reqwest::Method::POST,
            "/v1/confirmations",
            token,
            Some(body),
        )
        .await
    }

    /// The environment on, an account `staff1` that logged in once, a
    /// matured code registered by a device: the device token.
    async fn ready_device(&self) -> String {
        self.environment(true).await;
        assert_eq!(self.account("staff1", PASSWORD).await.0, 201);
        assert_eq!(self.system_login("staff1", PASSWORD).await.0, 200);
        let code = self.issue_code("Aのスマホ1").await;
        self.advance(600).await;
        let (status, device) = self.register_device("staff1", &code).await;
        assert_eq!(status, 201, "{device}");
        device["device_token"].as_str().unwrap().to_string()
    }

    async fn session(&self, device_token: &str) -> String {
        let (status, session) = self.login("staff1", PASSWORD, device_token).await;
        assert_eq!(status, 201, "{session}");
        session["session_token"].as_str().unwrap().to_string()
    }
}

fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn the_app_is_refused_until_the_environment_setting_is_on() {
    let service = start().await;
    let env = service
        .get(&format!("/admin/v1/facilities/{FACILITY}/environment"))
        .await;
    assert_eq!(
        env,
        json!({"outpatient_flow": false, "activation_delay_seconds": 600})
    );
    service.account("staff1", PASSWORD).await;
    service.system_login("staff1", PASSWORD).await;
    let code = service.issue_code("Aのスマホ1").await;
    service.advance(600).await;
    let (status, body) = service.register_device("staff1", &code).await;
    assert_eq!((status, code_of(&body)), (403, "KZA001"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("外来診療等(通常とは異なる動線)機能")
    );
    service.environment(true).await;
    let (status, device) = service.register_device("staff1", &code).await;
    assert_eq!(status, 201, "{device}");
    let token = service
        .session(device["device_token"].as_str().unwrap())
        .await;
    // Turned off again: the live session is refused at its next request.
    service.environment(false).await;
    let (status, body) = service.confirm(Some(&token), FACILITY).await;
    assert_eq!((status, code_of(&body)), (403, "KZA001"));
    let (status, body) = service
        .login("staff1", PASSWORD, device["device_token"].as_str().unwrap())
        .await;
    assert_eq!((status, code_of(&body)), (403, "KZA001"));
    assert_eq!(service.get("/admin/v1/facilities").await, json!([FACILITY]));
}

#[tokio::test]
async fn activation_codes_mature_bind_once_and_can_be_invalidated() {
    let service = start().await;
    service.environment(true).await;
    service.account("staff1", PASSWORD).await;
    service.system_login("staff1", PASSWORD).await;
    let code = service.issue_code("Aのスマホ1").await;
    assert_eq!(code.len(), 12);
    // Too early: one second before the 10 minutes.
    service.advance(599).await;
    let (status, body) = service.register_device("staff1", &code).await;
    assert_eq!((status, code_of(&body)), (409, "KZA003"), "{body}");
    service.advance(1).await;
    let (status, first) = service.register_device("staff1", &code).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["memo"], "Aのスマホ1");
    // Used twice: the second device is refused.
    let (status, body) = service.register_device("staff1", &code).await;
    assert_eq!((status, code_of(&body)), (409, "KZA004"));
    let (status, body) = service.register_device("staff1", "123456789012").await;
    assert_eq!((status, code_of(&body)), (404, "KZA002"));
    let list = service
        .get(&format!("/admin/v1/facilities/{FACILITY}/activation-codes"))
        .await;
    assert_eq!(list[0]["status"], "登録済");
    assert_eq!(list[0]["device"], first["device_id"]);
    // Invalidated: the registered device is refused at once.
    let token = service
        .session(first["device_token"].as_str().unwrap())
        .await;
    let (status, _) = service
        .post(
            &format!("/admin/v1/facilities/{FACILITY}/activation-codes/{code}/invalidate"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = service.confirm(Some(&token), FACILITY).await;
    assert_eq!((status, code_of(&body)), (401, "KZA017"), "{body}");
    let (status, body) = service
        .login("staff1", PASSWORD, first["device_token"].as_str().unwrap())
        .await;
    assert_eq!((status, code_of(&body)), (403, "KZA016"));
    // An unregistered code, invalidated, registers nothing.
    let spare = service.issue_code("Bのタブレット").await;
    service
        .post(
            &format!("/admin/v1/facilities/{FACILITY}/activation-codes/{spare}/invalidate"),
            json!({}),
        )
        .await;
    service.advance(600).await;
    let (status, body) = service.register_device("staff1", &spare).await;
    assert_eq!((status, code_of(&body)), (410, "KZA005"));
    let list = service
        .get(&format!("/admin/v1/facilities/{FACILITY}/activation-codes"))
        .await;
    assert_eq!(list[0]["memo"], "Bのタブレット");
    assert_eq!(list[0]["status"], "無効");
    let (status, body) = service
        .post(
            &format!("/admin/v1/facilities/{FACILITY}/activation-codes/999/invalidate"),
            json!({}),
        )
        .await;
    assert_eq!((status, code_of(&body)), (404, "KZA002"));
    // The delay is a facility setting.
    service
        .send(
            reqwest::Method::PUT,
            &format!("/admin/v1/facilities/{FACILITY}/environment"),
            None,
            Some(json!({"activation_delay_seconds": 0})),
        )
        .await;
    let immediate = service.issue_code("Cのスマホ").await;
    assert_eq!(service.register_device("staff1", &immediate).await.0, 201);
}

#[tokio::test]
async fn five_wrong_passwords_lock_for_thirty_minutes_of_the_service_clock() {
    let service = start().await;
    let device = service.ready_device().await;
    for attempt in 1..=4 {
        let (status, body) = service.login("staff1", "Wrong000!", &device).await;
        assert_eq!(
            (status, code_of(&body)),
            (401, "KZA006"),
            "attempt {attempt}"
        );
    }
    let (status, body) = service.login("staff1", "Wrong000!", &device).await;
    assert_eq!((status, code_of(&body)), (423, "KZA007"), "{body}");
    // Locked: the right password too, until the 30 minutes are over.
    service.advance(30 * 60 - 1).await;
    let (status, body) = service.login("staff1", PASSWORD, &device).await;
    assert_eq!((status, code_of(&body)), (423, "KZA007"));
    let accounts = service
        .get(&format!("/admin/v1/facilities/{FACILITY}/accounts"))
        .await;
    assert_eq!(accounts[0]["status"], "locked");
    assert!(accounts[0].get("password").is_none());
    assert!(!accounts.to_string().contains("argon2"));
    service.advance(1).await;
    assert_eq!(service.login("staff1", PASSWORD, &device).await.0, 201);
    // The administrator can lift a lock early.
    for _ in 0..5 {
        service.login("staff1", "Wrong000!", &device).await;
    }
    let (status, account) = service
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/v1/facilities/{FACILITY}/accounts/staff1"),
            None,
            Some(json!({"unlock": true})),
        )
        .await;
    assert_eq!((status, account["status"].as_str()), (200, Some("usable")));
    assert_eq!(service.login("staff1", PASSWORD, &device).await.0, 201);
}

#[tokio::test]
async fn accounts_follow_the_password_policy_and_user_id_rules() {
    let service = start().await;
    for bad in [
        "Abcde1!",               // 7
        "Abcdefghijklmnopqr1!/", // 21
        "abcdef1!",              // no upper
        "ABCDEF1!",              // no lower
        "Abcdefg!",              // no digit
        "Abcdefg1",              // no symbol
        "Abcdef1! ",             // space
        "Abcdef1=",              // symbol not in the list
    ] {
        let (status, body) = service.account("staff1", bad).await;
        assert_eq!((status, code_of(&body)), (422, "KZA010"), "{bad}: {body}");
    }
    for bad in ["a", "abcdefghi", "ab_c"] {
        let (status, body) = service.account(bad, PASSWORD).await;
        assert_eq!((status, code_of(&body)), (422, "KZA011"), "{bad}");
    }
    assert_eq!(service.account("ab", "Abcdef1!").await.0, 201);
    assert_eq!(
        service.account("abcd1234", "Abcdefghijklmnopq1!/").await.0,
        201
    );
    let (status, body) = service.account("ab", PASSWORD).await;
    assert_eq!((status, code_of(&body)), (409, "KZA012"));
    // First system login required, and the password changed at it.
    let code = service.issue_code("Aのスマホ1").await;
    service.environment(true).await;
    service.advance(600).await;
    let (status, body) = service
        .post(
            "/v1/app/devices",
            json!({"medical_institution_code": FACILITY, "user_id": "ab",
                   "password": "Abcdef1!", "activation_code": code}),
        )
        .await;
    assert_eq!((status, code_of(&body)), (403, "KZA009"), "{body}");
    let (status, body) = service
        .post(
            "/v1/facility/system-login",
            json!({"medical_institution_code": FACILITY, "user_id": "ab",
                   "password": "Abcdef1!", "new_password": "weak"}),
        )
        .await;
    assert_eq!((status, code_of(&body)), (422, "KZA010"));
    let (status, body) = service
        .post(
            "/v1/facility/system-login",
            json!({"medical_institution_code": FACILITY, "user_id": "ab",
                   "password": "Abcdef1!", "new_password": PASSWORD}),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("usable")));
    let (status, device) = service.register_device("ab", &code).await;
    assert_eq!(status, 201, "{device}");
    // A password change in the app.
    let (_, session) = service
        .login("ab", PASSWORD, device["device_token"].as_str().unwrap())
        .await;
    let token = session["session_token"].as_str().unwrap();
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, body) = service
        .send(
            reqwest::Method::PUT,
            "/v1/app/password",
            Some(token),
            Some(change(PASSWORD, "nope")),
        )
        .await;
    assert_eq!((status, code_of(&body)), (422, "KZA010"));
    let (status, body) = service
        .send(
            reqwest::Method::PUT,
            "/v1/app/password",
            Some(token),
            Some(change("Wrong000!", "Another2?")),
        )
        .await;
    assert_eq!((status, code_of(&body)), (401, "KZA006"));
    let (status, _) = service
        .send(
            reqwest::Method::PUT,
            "/v1/app/password",
            Some(token),
            Some(change(PASSWORD, "Another2?")),
        )
        .await;
    assert_eq!(status, 204);
    let device = device["device_token"].as_str().unwrap();
    assert_eq!(service.login("ab", PASSWORD, device).await.0, 401);
    assert_eq!(service.login("ab", "Another2?", device).await.0, 201);
}

#[tokio::test]
async fn a_deregistered_device_is_refused() {
    let service = start().await;
    let device = service.ready_device().await;
    let token = service.session(&device).await;
    assert_eq!(service.delete("/v1/app/devices/current", &token).await, 204);
    let (status, body) = service.confirm(Some(&token), FACILITY).await;
    assert_eq!((status, code_of(&body)), (401, "KZA017"));
    let (status, body) = service.login("staff1", PASSWORD, &device).await;
    assert_eq!((status, code_of(&body)), (403, "KZA015"), "{body}");
    let (status, body) = service.login("staff1", PASSWORD, "forged").await;
    assert_eq!((status, code_of(&body)), (401, "KZA014"));
}

#[tokio::test]
async fn sessions_end_at_logout_and_after_eight_hours() {
    let service = start().await;
    let device = service.ready_device().await;
    let token = service.session(&device).await;
    assert_eq!(
        service.delete("/v1/app/sessions/current", &token).await,
        204
    );
    let (status, body) = service.confirm(Some(&token), FACILITY).await;
    assert_eq!((status, code_of(&body)), (401, "KZA017"));
    let token = service.session(&device).await;
    service.advance(8 * 3600 - 1).await;
    assert_eq!(service.confirm(Some(&token), FACILITY).await.0, 200);
    service.advance(1).await;
    let (status, body) = service.confirm(Some(&token), FACILITY).await;
    assert_eq!((status, code_of(&body)), (401, "KZA017"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let (status, body) = service
        .send(reqwest::Method::GET, "/v1/app/notices", None, None)
        .await;
    assert_eq!((status, code_of(&body)), (401, "KZA017"));
}

#[tokio::test]
async fn app_channel_confirmations_name_the_device_and_the_terminal_channel_is_unchanged() {
    let service = start().await;
    let device = service.ready_device().await;
    let token = service.session(&device).await;
    let (status, outcome) = service.confirm(Some(&token), FACILITY).await;
    assert_eq!(status, 200, "{outcome}");
    let (status, body) = service.confirm(Some(&token), "0220000002").await;
    assert_eq!((status, code_of(&body)), (403, "KZA018"));
    // The terminal, without a session, is not subject to the app's rules.
    service.environment(false).await;
    assert_eq!(service.confirm(None, FACILITY).await.0, 200);
    let history = service
        .get(&format!("/v1/history?medical_institution_code={FACILITY}"))
        .await;
    let devices: Vec<&str> = history["confirmations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["device"].as_str().unwrap())
        .collect();
    assert_eq!(devices, ["Aのスマホ1", "terminal-1"]);
}

#[tokio::test]
async fn notices_are_shown_at_login_until_read_and_an_outage_publishes_one() {
    let service = start().await;
    let device = service.ready_device().await;
    let (status, notice) = service
        .post(
            "/admin/v1/notices",
            json!({"title": "メンテナンスのお知らせ", "link": "https://example.invalid/n/1"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, session) = service.login("staff1", PASSWORD, &device).await;
    assert_eq!(session["notices"].as_array().unwrap().len(), 1);
    assert_eq!(session["notices"][0]["title"], "メンテナンスのお知らせ");
    let token = session["session_token"].as_str().unwrap();
    // Shown again until read.
    let (_, again) = service.login("staff1", PASSWORD, &device).await;
    assert_eq!(again["notices"].as_array().unwrap().len(), 1);
    let id = notice["id"].as_i64().unwrap();
    let (status, _) = service
        .send(
            reqwest::Method::POST,
            &format!("/v1/app/notices/{id}/read"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, after) = service.login("staff1", PASSWORD, &device).await;
    assert_eq!(after["notices"], json!([]));
    let (status, body) = service
        .send(
            reqwest::Method::POST,
            "/v1/app/notices/999/read",
            Some(token),
            None,
        )
        .await;
    assert_eq!((status, code_of(&body)), (404, "KZA019"));
    // Raising the outage fault publishes an outage notice.
    let set = |maintenance: bool| {
        service.send(
            reqwest::Method::PUT,
            "/admin/v1/faults",
            None,
            Some(json!({"maintenance": maintenance})),
        )
    };
    assert_eq!(set(true).await.0, 200);
    assert_eq!(set(true).await.0, 200);
    assert_eq!(set(false).await.0, 200);
    let notices = service.get("/admin/v1/notices").await;
    assert_eq!(notices.as_array().unwrap().len(), 2, "{notices}");
    assert_eq!(notices[0]["outage"], true);
    let (status, unread) = service
        .send(reqwest::Method::GET, "/v1/app/notices", Some(token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(unread.as_array().unwrap().len(), 1);
    assert_eq!(unread[0]["outage"], true);
}
