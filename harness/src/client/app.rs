//! The app channel: what マイナ資格確認アプリ does before the first card is
//! read. On first start it registers the device with the activation code
//! the administrator issued (機関コード, ID, password, activation code);
//! then it logs in with ID and password, shows the unread notices
//! (お知らせ), and sends every request with the session. A refusal ends the
//! check before the card is touched, with the service's `KZA…` code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::flow::check;
use super::service::{ServiceClient, ServiceFailure};
use super::{CardChannel, CheckInputs, ClientOutcome};

/// The staff's app login. Passwords and tokens are never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppLogin {
    pub user_id: String,
    pub password: String,
    /// First start: register the device with this code.
    #[serde(default)]
    pub activation_code: Option<String>,
    /// A device registered before: its token.
    #[serde(default)]
    pub device_token: Option<String>,
}

impl std::fmt::Debug for AppLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppLogin")
            .field("user_id", &self.user_id)
            .field("activation_code", &self.activation_code)
            .finish_non_exhaustive()
    }
}

/// A login that worked: the service on the session's channel, the notices
/// to show, and the device token when the device registered just now.
pub struct SignedIn {
    pub service: ServiceClient,
    pub notices: Vec<String>,
    pub new_device_token: Option<String>,
}

/// Registers the device if it has no token yet, then logs in.
pub fn sign_in(
    service: &ServiceClient,
    facility: &str,
    login: &AppLogin,
    timeout: Duration,
) -> Result<SignedIn, ServiceFailure> {
    let (device_token, new_device_token) = match (&login.device_token, &login.activation_code) {
        (Some(token), _) => (token.clone(), None),
        (None, Some(code)) => {
            let token = service.register_device(
                facility,
                &login.user_id,
                &login.password,
                code,
                timeout,
            )?;
            (token.clone(), Some(token))
        }
        (None, None) => {
            return Err(ServiceFailure::Failed(
                "the app needs an activation code (first start) or a device token".into(),
            ));
        }
    };
    let (session, notices) = service.app_login(
        facility,
        &login.user_id,
        &login.password,
        &device_token,
        timeout,
    )?;
    Ok(SignedIn {
        service: service.with_session(session),
        notices,
        new_device_token,
    })
}

/// One check on the app channel: sign in, then [`check`] with the session;
/// the login's notices lead the banners ("お知らせ: …").
pub fn check_on_app(
    card: &mut dyn CardChannel,
    service: &ServiceClient,
    inputs: &CheckInputs,
    login: &AppLogin,
) -> (ClientOutcome, Option<String>) {
    let timeout = Duration::from_millis(inputs.timeout_ms);
    let signed_in = match sign_in(service, &inputs.facility, login, timeout) {
        Ok(s) => s,
        Err(failure) => return (stop(failure), None),
    };
    let result = check(card, &signed_in.service, inputs);
    (
        with_notices(result, &signed_in.notices),
        signed_in.new_device_token,
    )
}

/// The notices shown at login, leading the outcome's banners ("お知らせ: …").
pub fn with_notices(mut outcome: ClientOutcome, notices: &[String]) -> ClientOutcome {
    let mut banners: Vec<String> = notices
        .iter()
        .map(|title| format!("お知らせ: {title}"))
        .collect();
    banners.append(&mut outcome.banners);
    outcome.banners = banners;
    outcome
}

/// What the staff sees when signing in failed.
pub fn stop(failure: ServiceFailure) -> ClientOutcome {
    *super::flow::service_stop(failure)
}
