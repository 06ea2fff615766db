//! A blocking client of the eligibility service's API (`/v1`): challenges,
//! confirmations and registrations, and the app's own calls (device
//! registration and login, see [`super::app`]). A client holding an app
//! session sends it with every request: those are on the app channel.
//!
//! Every failure is sorted into what the staff can do about it: the service
//! is under maintenance (come back later, use other means), it did not answer
//! in time, or it failed (or answered something unreadable). The service's own
//! error code and message are kept for the screen and the logs.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long registration may take on top of the usual timeout: the service
/// answers within 25 s by design (beyond that it accepts and finishes in the
/// background), so waiting less would turn a normal registration into a
/// time-out.
pub const REGISTRATION_WAIT: Duration = Duration::from_secs(25);

/// Why a call to the service gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceFailure {
    /// 503 `maintenance` or `registration_unavailable`.
    #[error("{code}: {message}")]
    Maintenance { code: String, message: String },
    /// No answer within the time allowed.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Unreachable, an error answer, or an unreadable one.
    #[error("{0}")]
    Failed(String),
    /// The app channel refused (a `KZA…` code): environment setting off,
    /// activation code, account, device or session.
    #[error("{code}: {message}")]
    AppRefused { code: String, message: String },
}

/// A challenge to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id: String,
    pub nonce: Vec<u8>,
}

/// What the client presents for a confirmation or a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Presentation {
    pub medical_institution_code: String,
    pub device: String,
    /// `visual`, `pin`, `iphone` or `android`.
    pub method: &'static str,
    /// The auth certificate, base64 DER.
    pub certificate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
    /// The signature over the challenge, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Registrations only: the patient agreed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<bool>,
    /// The facility's CharacterCodeIdentifier (`0`, `1`).
    pub character_code_identifier: &'static str,
}

/// How a registration request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationAnswer {
    /// 200: in effect now.
    Registered { id: String },
    /// 202: accepted; it completes in the background within minutes.
    Accepted { id: String, completes_at: String },
}

/// The service at one base URL.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    base: String,
    http: reqwest::blocking::Client,
    /// The app session's bearer token; `None` on the confirmation
    /// terminal's channel.
    session: Option<String>,
}

#[derive(Deserialize)]
struct ChallengeBody {
    challenge_id: String,
    challenge: String,
}

#[derive(Deserialize)]
struct RegistrationBody {
    registration_id: String,
    #[serde(default)]
    completes_at: String,
}

impl ServiceClient {
    /// A client of the service at `base_url` (e.g. `http://127.0.0.1:8787`).
    pub fn new(base_url: &str) -> Result<Self, ServiceFailure> {
        Self::build(base_url, reqwest::blocking::Client::builder())
    }

    /// A client that also trusts the CA in `ca_pem` (for `kazasu service --tls`).
    pub fn with_ca(base_url: &str, ca_pem: &[u8]) -> Result<Self, ServiceFailure> {
        let ca = reqwest::Certificate::from_pem(ca_pem)
            .map_err(|e| ServiceFailure::Failed(format!("the CA certificate: {e}")))?;
        Self::build(
            base_url,
            reqwest::blocking::Client::builder().add_root_certificate(ca),
        )
    }

    fn build(
        base_url: &str,
        builder: reqwest::blocking::ClientBuilder,
    ) -> Result<Self, ServiceFailure> {
        let http = builder
            .build()
            .map_err(|e| ServiceFailure::Failed(format!("cannot set up HTTP: {e}")))?;
        Ok(ServiceClient {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            session: None,
        })
    }

    /// The same service, on the app channel of a session.
    pub fn with_session(&self, token: String) -> ServiceClient {
        ServiceClient {
            session: Some(token),
            ..self.clone()
        }
    }

    /// POST /v1/app/devices: registers this device with an activation
    /// code; the device token it answers proves the device at each login.
    pub fn register_device(
        &self,
        facility: &str,
        user_id: &str,
        password: &str,
        activation_code: &str,
        timeout: Duration,
    ) -> Result<String, ServiceFailure> {
        let body = serde_json::json!({
            "medical_institution_code": facility,
            "user_id": user_id,
            "password": password,
            "activation_code": activation_code,
        });
        let (_, answer) = self.post("/v1/app/devices", Some(&body), timeout)?;
        answer["device_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ServiceFailure::Failed("a device registration without a token".into()))
    }

    /// POST /v1/app/sessions: logs in on a registered device; the session
    /// token and the titles of the unread notices.
    pub fn app_login(
        &self,
        facility: &str,
        user_id: &str,
        password: &str,
        device_token: &str,
        timeout: Duration,
    ) -> Result<(String, Vec<String>), ServiceFailure> {
        let body = serde_json::json!({
            "medical_institution_code": facility,
            "user_id": user_id,
            "password": password,
            "device_token": device_token,
        });
        let (_, answer) = self.post("/v1/app/sessions", Some(&body), timeout)?;
        let token = answer["session_token"]
            .as_str()
            .ok_or_else(|| ServiceFailure::Failed("a login without a session token".into()))?;
        let notices = answer["notices"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|n| n["title"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok((token.to_string(), notices))
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// POST /v1/challenges.
    pub fn challenge(&self, timeout: Duration) -> Result<Challenge, ServiceFailure> {
        let (_, body) = self.post("/v1/challenges", None::<&()>, timeout)?;
        let parsed: ChallengeBody = serde_json::from_value(body)
            .map_err(|e| ServiceFailure::Failed(format!("an unreadable challenge: {e}")))?;
        let nonce = BASE64
            .decode(parsed.challenge.trim())
            .map_err(|e| ServiceFailure::Failed(format!("a challenge that is not base64: {e}")))?;
        Ok(Challenge {
            id: parsed.challenge_id,
            nonce,
        })
    }

    /// POST /v1/confirmations: the outcome, XmlMsg-shaped JSON.
    pub fn confirm(
        &self,
        presentation: &Presentation,
        timeout: Duration,
    ) -> Result<Value, ServiceFailure> {
        let (_, body) = self.post("/v1/confirmations", Some(presentation), timeout)?;
        if !body.is_object() {
            return Err(ServiceFailure::Failed(
                "the confirmation is not a JSON object".into(),
            ));
        }
        Ok(body)
    }

    /// POST /v1/registrations (with consent in the presentation).
    pub fn register(
        &self,
        presentation: &Presentation,
        timeout: Duration,
    ) -> Result<RegistrationAnswer, ServiceFailure> {
        let (status, body) = self.post(
            "/v1/registrations",
            Some(presentation),
            timeout + REGISTRATION_WAIT,
        )?;
        let parsed: RegistrationBody = serde_json::from_value(body)
            .map_err(|e| ServiceFailure::Failed(format!("an unreadable registration: {e}")))?;
        Ok(match status {
            StatusCode::ACCEPTED => RegistrationAnswer::Accepted {
                id: parsed.registration_id,
                completes_at: parsed.completes_at,
            },
            _ => RegistrationAnswer::Registered {
                id: parsed.registration_id,
            },
        })
    }

    /// GET /v1/history: the facility's result search (資格確認結果検索), as
    /// JSON `{"confirmations": [...]}`. Dates are JST `YYYY-MM-DD`,
    /// inclusive; `device` keeps one device's confirmations.
    pub fn history(
        &self,
        facility: &str,
        from: Option<&str>,
        to: Option<&str>,
        device: Option<&str>,
        timeout: Duration,
    ) -> Result<Value, ServiceFailure> {
        let mut query = vec![("medical_institution_code", facility)];
        query.extend(from.map(|d| ("from", d)));
        query.extend(to.map(|d| ("to", d)));
        query.extend(device.map(|d| ("device", d)));
        let request = self
            .http
            .get(format!("{}/v1/history", self.base))
            .query(&query);
        let (_, body) = self.send("/v1/history", request, timeout)?;
        Ok(body)
    }

    /// One POST; a 2xx JSON answer, or the failure sorted.
    fn post<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: Option<&T>,
        timeout: Duration,
    ) -> Result<(StatusCode, Value), ServiceFailure> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(path, request, timeout)
    }

    /// Sends a request; a 2xx JSON answer, or the failure sorted.
    fn send(
        &self,
        path: &str,
        request: reqwest::blocking::RequestBuilder,
        timeout: Duration,
    ) -> Result<(StatusCode, Value), ServiceFailure> {
        let request = match &self.session {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request
            .timeout(timeout)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .map_err(|e| transport_failure(&e, timeout))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .map_err(|e| transport_failure(&e, timeout))?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return match json {
                Some(v) => Ok((status, v)),
                None => Err(ServiceFailure::Failed(format!(
                    "{path}: HTTP {status} with an answer that is not JSON"
                ))),
            };
        }
        let (code, message) = json
            .as_ref()
            .and_then(|v| v.get("error"))
            .map(|e| {
                (
                    e.get("code").and_then(Value::as_str).unwrap_or_default(),
                    e.get("message").and_then(Value::as_str).unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        if status == StatusCode::SERVICE_UNAVAILABLE
            && matches!(code, "maintenance" | "registration_unavailable")
        {
            return Err(ServiceFailure::Maintenance {
                code: code.to_string(),
                message: message.to_string(),
            });
        }
        if code.starts_with("KZA") {
            return Err(ServiceFailure::AppRefused {
                code: code.to_string(),
                message: message.to_string(),
            });
        }
        Err(ServiceFailure::Failed(if code.is_empty() {
            format!("{path}: HTTP {status}")
        } else {
            format!("{path}: HTTP {status} {code}: {message}")
        }))
    }
}

/// A transport error: a time-out, or anything else (refused, reset, dropped
/// mid-answer) as a failure.
fn transport_failure(e: &reqwest::Error, timeout: Duration) -> ServiceFailure {
    if e.is_timeout() || caused_by_timeout(e) {
        return ServiceFailure::Timeout(timeout);
    }
    let what = if e.is_connect() {
        "cannot connect to the service"
    } else {
        "the connection to the service failed"
    };
    ServiceFailure::Failed(format!("{what}: {}", error_chain(e)))
}

fn caused_by_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// An error and its causes on one line: reqwest's own message says little.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        let more = err.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = err.source();
    }
    text
}
