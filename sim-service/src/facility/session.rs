//! App sessions: a login (ID + password on a registered device) gives a
//! bearer token; the token is good until logout, deregistration of the
//! device, invalidation of its code, or [`LIFETIME`] on the service clock.
//! Each use re-checks the facility rules, so an administrator's change
//! takes effect at the next request, not at the next login.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::{FacilityError, account, device, environment, new_token, notice, rfc3339, token_hash};
use crate::model::MedicalInstitutionCode;
use crate::store::{SessionRow, Store};

/// How long a session lasts after login: the simulator's choice (the real
/// app's is not public), a working shift.
pub const LIFETIME: Duration = Duration::hours(8);

/// What a login answers: the token, and the unread notices the app shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoggedIn {
    pub session_token: String,
    pub expires_at: String,
    pub device_id: String,
    pub device_memo: String,
    pub notices: Vec<notice::NoticeView>,
}

/// Who is behind a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSession {
    pub facility: MedicalInstitutionCode,
    pub user_id: String,
    pub device_id: String,
    /// The device's memo (端末識別メモ情報): its name in the history.
    pub device_memo: String,
    /// The token's hash, to end this session.
    token_hash: String,
}

/// Logs in on a registered device (slow: argon2).
pub fn login(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
    password: &str,
    device_token: &str,
    now: OffsetDateTime,
) -> Result<LoggedIn, FacilityError> {
    environment::require_outpatient_flow(store, facility)?;
    let device = store
        .device_by_token(&token_hash(device_token))?
        .filter(|d| d.facility == facility.as_str())
        .ok_or(FacilityError::UnknownDevice)?;
    device::check(&device)?;
    let row = account::authenticate(store, facility, user_id, password, now)?;
    account::require_app_usable(&row, now)?;
    let (token, hash) = new_token()?;
    let expires_at = now + LIFETIME;
    store.insert_session(
        &hash,
        &SessionRow {
            facility: facility.to_string(),
            user_id: row.user_id.clone(),
            device: device.id.clone(),
            created_at: now,
            expires_at,
        },
    )?;
    Ok(LoggedIn {
        session_token: token,
        expires_at: rfc3339(expires_at),
        device_id: device.id,
        device_memo: device.memo,
        notices: notice::unread(store, facility, &row.user_id)?,
    })
}

/// The live session holding `token`, with every facility rule re-checked.
pub fn check(store: &Store, token: &str, now: OffsetDateTime) -> Result<AppSession, FacilityError> {
    let hash = token_hash(token);
    let session = store.session(&hash)?.ok_or(FacilityError::SessionUnknown)?;
    if now >= session.expires_at {
        store.delete_session(&hash)?;
        return Err(FacilityError::SessionExpired(session.expires_at));
    }
    let facility = MedicalInstitutionCode::new(&session.facility)
        .map_err(|e| FacilityError::Internal(format!("stored session: {e}")))?;
    environment::require_outpatient_flow(store, &facility)?;
    let device = store
        .device(&session.device)?
        .ok_or(FacilityError::UnknownDevice)?;
    device::check(&device)?;
    let row = store
        .account(&session.facility, &session.user_id)?
        .ok_or_else(|| FacilityError::UnknownAccount(session.user_id.clone()))?;
    account::require_app_usable(&row, now)?;
    Ok(AppSession {
        facility,
        user_id: session.user_id,
        device_id: device.id,
        device_memo: device.memo,
        token_hash: hash,
    })
}

/// Ends the session (ログアウト): the next start needs ID and password.
pub fn logout(store: &Store, session: &AppSession) -> Result<(), FacilityError> {
    store.delete_session(&session.token_hash)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facility::{admin, device, testing};
    use time::macros::datetime;

    #[test]
    fn a_session_lives_until_logout_or_its_lifetime() {
        let store = Store::in_memory().unwrap();
        let facility = MedicalInstitutionCode::new("0110000001").unwrap();
        let now = datetime!(2026-12-01 09:00 +9);
        admin::set_outpatient_flow(&store, &facility, true).unwrap();
        testing::app_user(&store, &facility, now);
        let code = admin::issue_activation_code(&store, &facility, "A", now).unwrap();
        let now = now + time::Duration::minutes(10);
        let d = device::register(&store, &facility, "a1", "Passw0rd!", &code.code, now).unwrap();
        assert!(matches!(
            login(&store, &facility, "a1", "Passw0rd!", "not-a-token", now),
            Err(FacilityError::UnknownDevice)
        ));
        let other = MedicalInstitutionCode::new("0220000002").unwrap();
        admin::set_outpatient_flow(&store, &other, true).unwrap();
        assert!(matches!(
            login(&store, &other, "a1", "Passw0rd!", &d.device_token, now),
            Err(FacilityError::UnknownDevice)
        ));
        let first = login(&store, &facility, "a1", "Passw0rd!", &d.device_token, now).unwrap();
        let session = check(&store, &first.session_token, now).unwrap();
        assert_eq!(session.device_memo, "A");
        logout(&store, &session).unwrap();
        assert!(matches!(
            check(&store, &first.session_token, now),
            Err(FacilityError::SessionUnknown)
        ));
        let second = login(&store, &facility, "a1", "Passw0rd!", &d.device_token, now).unwrap();
        check(
            &store,
            &second.session_token,
            now + LIFETIME - time::Duration::seconds(1),
        )
        .unwrap();
        assert!(matches!(
            check(&store, &second.session_token, now + LIFETIME),
            Err(FacilityError::SessionExpired(_))
        ));
        let third = login(&store, &facility, "a1", "Passw0rd!", &d.device_token, now).unwrap();
        admin::set_outpatient_flow(&store, &facility, false).unwrap();
        assert!(matches!(
            check(&store, &third.session_token, now),
            Err(FacilityError::OutpatientFlowOff(_))
        ));
        admin::set_outpatient_flow(&store, &facility, true).unwrap();
        device::deregister(&store, &d.device_id, now).unwrap();
        assert!(matches!(
            check(&store, &third.session_token, now),
            Err(FacilityError::SessionUnknown)
        ));
        assert!(matches!(
            login(&store, &facility, "a1", "Passw0rd!", &d.device_token, now),
            Err(FacilityError::DeviceDeregistered)
        ));
    }
}
