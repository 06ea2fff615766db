//! The limited-type receipt-computer link (資格確認限定型レセコン連携): a
//! receipt computer logs in with the facility's 機関コード, a password and the
//! 6-digit code of an authenticator app, then downloads the results of a
//! period (運用マニュアル コラム：レセプトコンピュータ用端末の操作; harness/RECEIPT-COMPUTER.md).
//!
//! The real API is not public; the simulator's, under `/v1/receipt-computer`:
//!
//! - **Enrolment** (admin): `POST /admin/v1/facilities/{code}/receipt-computer`
//!   with a password stores the password's argon2id hash and a fresh 160-bit
//!   TOTP secret, and answers the `otpauth://totp/…` URI to put into an
//!   authenticator app (as a QR code, by any QR tool: the service renders the
//!   URI only, to keep an image stack out of the build). Enrolling again
//!   replaces both and ends the facility's sessions.
//! - **Login**: 機関コード + password + code → a session token, good for
//!   [`SESSION_LIFETIME`] on the service clock. The code is RFC 6238 TOTP:
//!   HMAC-SHA-1, 30-second steps from the Unix epoch, 6 digits (what every
//!   authenticator app does by default), computed on the **service clock**,
//!   so a test that sets the clock sets the codes. One step of skew either
//!   way is accepted (a phone's clock a little off, a code typed as it
//!   changes); two steps away is refused. Each code is good **once**: a
//!   login records the step it used, and a code of that step or an earlier
//!   one is refused afterwards (RFC 6238 §5.2), so neither replaying a code
//!   nor falling back to the previous window's code after a newer one works.
//!   A wrong password is answered as a wrong 機関コード (`invalid_credentials`)
//!   and does not use up the code.
//! - **Download**: the list of a period's results (JSON: id, time, name,
//!   validity: the manual's 件数 and 一覧), then each result as the official
//!   XmlMsg (one document per result, exactly as `Accept: application/xml`
//!   gives it at confirmation time, in the encoding the facility had then).
//!   Which results: those the result search lists ([`super::history`]): the
//!   ones that showed qualification information. A period starting before the
//!   retention window (the first day of the previous month, JST) is refused
//!   with `period_beyond_retention`: those results are gone.

use openssl::sha::sha256;
use time::{Date, Duration, OffsetDateTime};
use totp_rs::{Algorithm, TOTP};

use super::history::{self, HistoryEntry, HistoryError, HistoryQuery};
use crate::clock::jst_date;
use crate::model::{ConfirmationOutcome, MedicalInstitutionCode};
use crate::rules::retention;
use crate::store::{Store, StoreError};

/// Seconds per TOTP step.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Steps of clock skew accepted either way.
pub const SKEW_STEPS: u64 = 1;
/// How long a download session lasts.
pub const SESSION_LIFETIME: Duration = Duration::minutes(30);
/// The shortest password enrolment accepts.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The issuer the otpauth URI names.
pub const ISSUER: &str = "kazasu";

/// What an enrolment gives the facility.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// `otpauth://totp/kazasu:<機関コード>?secret=…&issuer=kazasu…`
    pub otpauth_uri: String,
    /// The secret in base32, for apps that take it typed in.
    pub secret: String,
}

/// A download session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadSession {
    /// The bearer token (the store keeps only its SHA-256).
    pub token: String,
    pub expires_at: OffsetDateTime,
}

/// Why a receipt-computer request was refused.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("the password needs at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("unknown 機関コード or wrong password")]
    InvalidCredentials,
    #[error("the one-time code is not a 6-digit code of this window (±1 step)")]
    WrongCode,
    #[error("the one-time code was already used; wait for the next one")]
    ReplayedCode,
    #[error("no such session, or it ended; log in again")]
    SessionInvalid,
    #[error(
        "results confirmed before {earliest} are no longer kept (retention: to the end of the month after confirmation)"
    )]
    BeyondRetention { earliest: Date },
    #[error("the period ends ({to}) before it starts ({from})")]
    InvertedRange { from: Date, to: Date },
    #[error("no result {0} in this facility's downloadable results")]
    NotFound(i64),
    #[error("internal: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<HistoryError> for DownloadError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::InvertedRange { from, to } => DownloadError::InvertedRange { from, to },
            HistoryError::Store(e) => DownloadError::Store(e),
        }
    }
}

/// The TOTP of a secret, as the facility's authenticator app computes it.
pub fn totp(secret: Vec<u8>, facility: &str) -> Result<TOTP, DownloadError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECONDS,
        secret,
        Some(ISSUER.to_string()),
        facility.to_string(),
    )
    .map_err(|e| DownloadError::Internal(format!("TOTP: {e}")))
}

/// The time step of an instant.
pub fn step_of(now: OffsetDateTime) -> u64 {
    u64::try_from(now.unix_timestamp()).unwrap_or(0) / STEP_SECONDS
}

/// The step within ±[`SKEW_STEPS`] of `now` whose code `code` is, if any.
/// Pure: the caller brings the service clock's reading.
pub fn matching_step(totp: &TOTP, code: &str, now: OffsetDateTime) -> Option<u64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    (current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS)
        // `check` compares in constant time; with skew 0 it checks one step.
        .find(|step| totp.check(code, step * STEP_SECONDS))
}

fn hash_password(password: &str) -> Result<String, DownloadError> {
    crate::password::hash(password).map_err(DownloadError::Internal)
}

fn token_hash(token: &str) -> String {
    hex::encode(sha256(token.as_bytes()))
}

/// Enrols the facility's receipt computer (slow: argon2; call it off the
/// async threads).
pub fn enrol(
    store: &Store,
    facility: &MedicalInstitutionCode,
    password: &str,
    now: OffsetDateTime,
) -> Result<Enrolment, DownloadError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(DownloadError::WeakPassword);
    }
    let mut secret = vec![0u8; 20];
    openssl::rand::rand_bytes(&mut secret).map_err(|e| DownloadError::Internal(e.to_string()))?;
    let otp = totp(secret.clone(), facility.as_str())?;
    let hash = hash_password(password)?;
    store.enrol_receipt_computer(facility.as_str(), &hash, &secret, now)?;
    Ok(Enrolment {
        otpauth_uri: otp.get_url(),
        secret: otp.get_secret_base32(),
    })
}

/// Logs a receipt computer in (slow: argon2; call it off the async threads).
pub fn login(
    store: &Store,
    facility: &MedicalInstitutionCode,
    password: &str,
    code: &str,
    now: OffsetDateTime,
) -> Result<DownloadSession, DownloadError> {
    let credential = store
        .receipt_computer_credential(facility.as_str())?
        .ok_or(DownloadError::InvalidCredentials)?;
    if !crate::password::matches(password, &credential.password_hash) {
        return Err(DownloadError::InvalidCredentials);
    }
    let otp = totp(credential.totp_secret, facility.as_str())?;
    let step = matching_step(&otp, code.trim(), now).ok_or(DownloadError::WrongCode)?;
    if !store.claim_totp_step(facility.as_str(), step)? {
        return Err(DownloadError::ReplayedCode);
    }
    let mut token = [0u8; 32];
    openssl::rand::rand_bytes(&mut token).map_err(|e| DownloadError::Internal(e.to_string()))?;
    let token = hex::encode(token);
    let expires_at = now + SESSION_LIFETIME;
    store.insert_receipt_session(&token_hash(&token), facility.as_str(), expires_at)?;
    Ok(DownloadSession { token, expires_at })
}

/// The facility a live session belongs to.
pub fn session_facility(
    store: &Store,
    token: &str,
    now: OffsetDateTime,
) -> Result<MedicalInstitutionCode, DownloadError> {
    match store.receipt_session(&token_hash(token))? {
        Some((facility, expires_at)) if now < expires_at => MedicalInstitutionCode::new(&facility)
            .map_err(|e| DownloadError::Internal(format!("stored facility: {e}"))),
        _ => Err(DownloadError::SessionInvalid),
    }
}

/// Ends a session.
pub fn logout(store: &Store, token: &str) -> Result<(), DownloadError> {
    Ok(store.delete_receipt_session(&token_hash(token))?)
}

/// Refuses a period that starts before the retention window.
pub fn check_period(query: &HistoryQuery, now: OffsetDateTime) -> Result<(), DownloadError> {
    let earliest = retention::earliest_visible(jst_date(now));
    if query.from < earliest {
        return Err(DownloadError::BeyondRetention { earliest });
    }
    Ok(())
}

/// The period's downloadable results, oldest first.
pub fn results(
    store: &Store,
    facility: &MedicalInstitutionCode,
    query: &HistoryQuery,
    now: OffsetDateTime,
) -> Result<Vec<HistoryEntry>, DownloadError> {
    check_period(query, now)?;
    Ok(history::search_history(store, facility, query, now)?)
}

/// One downloadable result as XmlMsg bytes, in the encoding it was given in.
pub fn result_xml(
    store: &Store,
    facility: &MedicalInstitutionCode,
    id: i64,
    now: OffsetDateTime,
) -> Result<Vec<u8>, DownloadError> {
    let confirmation = store
        .confirmation(id)?
        .filter(|c| c.facility == facility.as_str() && history::is_listed(c, now))
        .ok_or(DownloadError::NotFound(id))?;
    let outcome: ConfirmationOutcome = serde_json::from_value(confirmation.result)
        .map_err(|e| DownloadError::Internal(format!("stored result {id}: {e}")))?;
    crate::xml::render(&outcome).map_err(|e| DownloadError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2026-12-01 10:00:15 +09:00);

    fn enrolled() -> (Store, MedicalInstitutionCode, TOTP) {
        let store = Store::in_memory().unwrap();
        let facility = MedicalInstitutionCode::new("0110000001").unwrap();
        let enrolment = enrol(&store, &facility, "correct horse", NOW).unwrap();
        assert!(
            enrolment
                .otpauth_uri
                .starts_with("otpauth://totp/kazasu:0110000001?")
        );
        assert!(
            enrolment
                .otpauth_uri
                .contains(&format!("secret={}", enrolment.secret))
        );
        // The app's view: the URI is all it needs.
        let app = TOTP::from_url(&enrolment.otpauth_uri).unwrap();
        (store, facility, app)
    }

    fn code_at(app: &TOTP, at: OffsetDateTime) -> String {
        app.generate(u64::try_from(at.unix_timestamp()).unwrap())
    }

    #[test]
    fn the_code_of_now_logs_in_once() {
        let (store, facility, app) = enrolled();
        let code = code_at(&app, NOW);
        let session = login(&store, &facility, "correct horse", &code, NOW).unwrap();
        assert_eq!(
            session_facility(&store, &session.token, NOW).unwrap(),
            facility
        );
        // The same code again, even a second later in the same window.
        assert!(matches!(
            login(
                &store,
                &facility,
                "correct horse",
                &code,
                NOW + Duration::seconds(1)
            ),
            Err(DownloadError::ReplayedCode)
        ));
        // Sessions end with their lifetime and on logout.
        assert!(matches!(
            session_facility(&store, &session.token, NOW + SESSION_LIFETIME),
            Err(DownloadError::SessionInvalid)
        ));
        logout(&store, &session.token).unwrap();
        assert!(matches!(
            session_facility(&store, &session.token, NOW),
            Err(DownloadError::SessionInvalid)
        ));
    }

    #[test]
    fn one_step_of_skew_either_way_but_not_two() {
        let (store, facility, app) = enrolled();
        let step = Duration::seconds(30);
        let wrong = |offset: Duration| {
            let code = code_at(&app, NOW + offset);
            matches!(
                login(&store, &facility, "correct horse", &code, NOW),
                Err(DownloadError::WrongCode)
            )
        };
        assert!(wrong(step * 2));
        assert!(wrong(-step * 2));
        // The previous window's code, then the next one's: each once.
        let previous = code_at(&app, NOW - step);
        login(&store, &facility, "correct horse", &previous, NOW).unwrap();
        let next = code_at(&app, NOW + step);
        login(&store, &facility, "correct horse", &next, NOW).unwrap();
        // After the next window's code, the current one is behind: refused.
        let current = code_at(&app, NOW);
        assert!(matches!(
            login(&store, &facility, "correct horse", &current, NOW),
            Err(DownloadError::ReplayedCode)
        ));
    }

    #[test]
    fn wrong_code_password_or_facility() {
        let (store, facility, app) = enrolled();
        let code = code_at(&app, NOW);
        assert!(matches!(
            login(&store, &facility, "correct horse", "000000x", NOW),
            Err(DownloadError::WrongCode)
        ));
        let other_code = if code == "123456" { "654321" } else { "123456" };
        assert!(matches!(
            login(&store, &facility, "correct horse", other_code, NOW),
            Err(DownloadError::WrongCode)
        ));
        assert!(matches!(
            login(&store, &facility, "wrong horse", &code, NOW),
            Err(DownloadError::InvalidCredentials)
        ));
        let stranger = MedicalInstitutionCode::new("0110000002").unwrap();
        assert!(matches!(
            login(&store, &stranger, "correct horse", &code, NOW),
            Err(DownloadError::InvalidCredentials)
        ));
        // A wrong password did not use the code up.
        login(&store, &facility, "correct horse", &code, NOW).unwrap();
        assert!(matches!(
            enrol(&store, &facility, "short", NOW),
            Err(DownloadError::WeakPassword)
        ));
    }

    #[test]
    fn periods_before_the_retention_window_are_refused() {
        let now = datetime!(2026-12-10 10:00 +09:00);
        let query = |from| HistoryQuery {
            from,
            to: date!(2026 - 12 - 10),
            device: None,
        };
        check_period(&query(date!(2026 - 11 - 01)), now).unwrap();
        assert!(matches!(
            check_period(&query(date!(2026 - 10 - 31)), now),
            Err(DownloadError::BeyondRetention { earliest }) if earliest == date!(2026 - 11 - 01)
        ));
    }
}
