//! The facility's administration of マイナ資格確認アプリ: what the facility
//! administrator prepares on the service's admin screens before staff can
//! confirm eligibility from a mobile device, and the app channel's rules.
//!
//! The confirmation terminal (資格確認端末) on the closed network needs none
//! of this; the **app channel** does: a confirmation carrying an app
//! session is accepted only when the facility turned on
//! 外来診療等(通常とは異なる動線)機能, the device registered with an activation
//! code that was not invalidated nor deregistered since, the account is
//! usable (started, not locked, logged in to the system once) and the
//! session is live. Each concept has its module; all are pure rules over
//! the store and an instant of the service clock, so a test moves time by
//! setting the clock, never by waiting.
//!
//! - [`environment`]: the 外来診療等(通常とは異なる動線)機能 switch (off by default);
//! - [`activation`]: activation codes (12 digits, memo, maturation delay, 未登録/登録済/無効);
//! - [`account`]: accounts, the password policy, lockout, first system login;
//! - [`device`]: registration with a code, deregistration;
//! - [`session`]: app login, logout, expiry;
//! - [`notice`]: お知らせ, unread per account;
//! - [`admin`]: the administrator's functions, which the admin API and the
//!   admin console call.

pub mod account;
pub mod activation;
pub mod admin;
pub mod device;
pub mod environment;
pub mod notice;
pub mod session;

use time::OffsetDateTime;

use crate::codes::{self, ResultCode};
use crate::store::StoreError;

pub use account::{AccountUpdate, AccountView, NewAccount, PasswordPolicyError, Role};
pub use activation::{ActivationCodeView, ActivationStatus};
pub use environment::EnvironmentSetting;
pub use notice::{NewNotice, NoticeView};
pub use session::AppSession;

/// Why a facility rule refused.
#[derive(Debug, thiserror::Error)]
pub enum FacilityError {
    #[error(
        "facility {0}: 外来診療等(通常とは異なる動線)機能 is off; the administrator must turn it on in the environment settings before the app can be used"
    )]
    OutpatientFlowOff(String),
    #[error("the facility has no activation code {0}")]
    UnknownActivationCode(String),
    #[error(
        "activation code {code} is not usable yet: it matures at {usable_from} (service clock); try again then"
    )]
    ActivationCodeNotYetUsable {
        code: String,
        usable_from: OffsetDateTime,
    },
    #[error("activation code {0} is already registered to a device; issue one code per device")]
    ActivationCodeUsed(String),
    #[error("activation code {0} was invalidated; ask the administrator for a new one")]
    ActivationCodeInvalidated(String),
    #[error("wrong user ID or password")]
    BadCredentials,
    #[error(
        "account {user_id} is locked until {until} (service clock) after {} wrong passwords",
        account::MAX_FAILED_ATTEMPTS
    )]
    AccountLocked {
        user_id: String,
        until: OffsetDateTime,
    },
    #[error("account {user_id} can be used from {start} (its start date)")]
    AccountNotStarted { user_id: String, start: time::Date },
    #[error(
        "account {0} has never logged in to the system: log in once on the confirmation terminal (POST /v1/facility/system-login) before using the app"
    )]
    FirstSystemLoginRequired(String),
    #[error("password: {0}")]
    PasswordPolicy(#[from] PasswordPolicyError),
    #[error("user ID {0:?}: 2 to 8 half-width letters and digits")]
    InvalidUserId(String),
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("the facility already has an account {0}")]
    AccountExists(String),
    #[error("the facility has no account {0}")]
    UnknownAccount(String),
    #[error("this device is not registered at the facility; register it with an activation code")]
    UnknownDevice,
    #[error("this device was deregistered; register it again with a new activation code")]
    DeviceDeregistered,
    #[error(
        "this device's activation code was invalidated by the administrator; register it again with a new code"
    )]
    DeviceInvalidated,
    #[error("no such session (never issued, or logged out); log in")]
    SessionUnknown,
    #[error("the session expired at {0} (service clock); log in again")]
    SessionExpired(OffsetDateTime),
    #[error("the session belongs to facility {session}, not {requested}")]
    FacilityMismatch { session: String, requested: String },
    #[error("no notice {0}")]
    UnknownNotice(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl FacilityError {
    /// The simulator's code for the refusal (`KZA…`); `None` for the
    /// service's own failures.
    pub fn code(&self) -> Option<&'static ResultCode> {
        use FacilityError::*;
        Some(match self {
            OutpatientFlowOff(_) => &codes::APP_OUTPATIENT_FLOW_OFF,
            UnknownActivationCode(_) => &codes::APP_ACTIVATION_CODE_UNKNOWN,
            ActivationCodeNotYetUsable { .. } => &codes::APP_ACTIVATION_CODE_NOT_YET_USABLE,
            ActivationCodeUsed(_) => &codes::APP_ACTIVATION_CODE_USED,
            ActivationCodeInvalidated(_) => &codes::APP_ACTIVATION_CODE_INVALIDATED,
            BadCredentials => &codes::APP_BAD_CREDENTIALS,
            AccountLocked { .. } => &codes::APP_ACCOUNT_LOCKED,
            AccountNotStarted { .. } => &codes::APP_ACCOUNT_NOT_STARTED,
            FirstSystemLoginRequired(_) => &codes::APP_FIRST_SYSTEM_LOGIN_REQUIRED,
            PasswordPolicy(_) => &codes::APP_PASSWORD_POLICY,
            InvalidUserId(_) | InvalidField { .. } => &codes::APP_INVALID_FIELD,
            AccountExists(_) => &codes::APP_ACCOUNT_EXISTS,
            UnknownAccount(_) => &codes::APP_ACCOUNT_UNKNOWN,
            UnknownDevice => &codes::APP_DEVICE_UNKNOWN,
            DeviceDeregistered => &codes::APP_DEVICE_DEREGISTERED,
            DeviceInvalidated => &codes::APP_DEVICE_INVALIDATED,
            SessionUnknown | SessionExpired(_) => &codes::APP_SESSION_INVALID,
            FacilityMismatch { .. } => &codes::APP_FACILITY_MISMATCH,
            UnknownNotice(_) => &codes::APP_NOTICE_UNKNOWN,
            Store(_) | Internal(_) => return None,
        })
    }
}

/// Random bytes from the operating system, as the service's tokens and
/// codes need.
fn random_bytes<const N: usize>() -> Result<[u8; N], FacilityError> {
    let mut bytes = [0u8; N];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| FacilityError::Internal(e.to_string()))?;
    Ok(bytes)
}

/// A fresh bearer token (256 bits, hex) and the hash it is stored as.
fn new_token() -> Result<(String, String), FacilityError> {
    let token = hex::encode(random_bytes::<32>()?);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// What a token is stored as: its SHA-256, so that a copy of the database
/// gives nobody a working token.
fn token_hash(token: &str) -> String {
    hex::encode(openssl::sha::sha256(token.as_bytes()))
}

/// A time as the views write it: UTC, whatever offset it came with, so that
/// a time reads the same from the store as when it was made.
fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What the facility modules' tests set up alike.
#[cfg(test)]
pub(crate) mod testing {
    use time::OffsetDateTime;
    use time::macros::date;

    use super::{NewAccount, Role, account, admin};
    use crate::model::MedicalInstitutionCode;
    use crate::store::Store;

    /// Registers the general user `a1` (password `Passw0rd!`) at `at` and
    /// logs it in once on the system: the first system login is what makes
    /// an account usable by the app.
    pub fn app_user(store: &Store, facility: &MedicalInstitutionCode, at: OffsetDateTime) {
        let new = NewAccount {
            role: Role::General,
            user_id: "a1".into(),
            name: "A".into(),
            kana: "エー".into(),
            start_date: date!(2026 - 12 - 01),
            password: "Passw0rd!".into(),
        };
        admin::register_account(store, facility, new, at).unwrap();
        account::system_login(store, facility, "a1", "Passw0rd!", None, at).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_stored_hashed() {
        let (a, hash_a) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(a, hash_a);
        assert_eq!(token_hash(&a), hash_a);
    }
}
