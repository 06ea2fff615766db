//! Devices running the app: registered once with an activation code (the
//! first device to use a code gets it), refused once deregistered by staff
//! or once the administrator invalidated their code.

use serde::Serialize;
use time::OffsetDateTime;

use super::{FacilityError, account, activation, environment, new_token, random_bytes};
use crate::model::MedicalInstitutionCode;
use crate::store::{DeviceRow, Store};

/// What a device keeps after registering: its token proves at each login
/// that it is the registered device.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegisteredDevice {
    pub device_id: String,
    pub device_token: String,
    /// The memo of the activation code (端末識別メモ情報): the device's name
    /// in the confirmation history.
    pub memo: String,
}

/// The app's initial registration (機関コード, ID, password, activation
/// code); slow: argon2.
pub fn register(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
    password: &str,
    activation_code: &str,
    now: OffsetDateTime,
) -> Result<RegisteredDevice, FacilityError> {
    environment::require_outpatient_flow(store, facility)?;
    let row = account::authenticate(store, facility, user_id, password, now)?;
    account::require_app_usable(&row, now)?;
    let code = store
        .activation_code(facility.as_str(), activation_code)?
        .ok_or_else(|| FacilityError::UnknownActivationCode(activation_code.to_string()))?;
    activation::check_usable(&code, now)?;
    let device_id = hex::encode(random_bytes::<8>()?);
    let (device_token, hash) = new_token()?;
    if !store.insert_device(&device_id, &hash, facility.as_str(), &code.code, now)? {
        return Err(FacilityError::ActivationCodeUsed(code.code));
    }
    Ok(RegisteredDevice {
        device_id,
        device_token,
        memo: code.memo,
    })
}

/// Refuses a device that was deregistered or whose code was invalidated.
pub fn check(device: &DeviceRow) -> Result<(), FacilityError> {
    if device.invalidated {
        Err(FacilityError::DeviceInvalidated)
    } else if device.deregistered_at.is_some() {
        Err(FacilityError::DeviceDeregistered)
    } else {
        Ok(())
    }
}

/// Deregisters the device (端末登録解除): its sessions end, it can log in no
/// more.
pub fn deregister(
    store: &Store,
    device_id: &str,
    now: OffsetDateTime,
) -> Result<(), FacilityError> {
    store.deregister_device(device_id, now)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facility::{admin, testing};
    use time::macros::datetime;

    #[test]
    fn the_first_device_gets_the_code_and_invalidation_shuts_it_out() {
        let store = Store::in_memory().unwrap();
        let facility = MedicalInstitutionCode::new("0110000001").unwrap();
        let issued = datetime!(2026-12-01 09:00 +9);
        let now = issued + time::Duration::minutes(10);
        testing::app_user(&store, &facility, issued);
        let code = admin::issue_activation_code(&store, &facility, "Aのスマホ1", issued).unwrap();
        let register = |at| register(&store, &facility, "a1", "Passw0rd!", &code.code, at);
        assert!(matches!(
            register(now),
            Err(FacilityError::OutpatientFlowOff(_))
        ));
        admin::set_outpatient_flow(&store, &facility, true).unwrap();
        assert!(matches!(
            register(issued),
            Err(FacilityError::ActivationCodeNotYetUsable { .. })
        ));
        let device = register(now).unwrap();
        assert_eq!(device.memo, "Aのスマホ1");
        assert!(matches!(
            register(now),
            Err(FacilityError::ActivationCodeUsed(_))
        ));
        let row = store.device(&device.device_id).unwrap().unwrap();
        check(&row).unwrap();
        admin::invalidate_activation_code(&store, &facility, &code.code).unwrap();
        let row = store.device(&device.device_id).unwrap().unwrap();
        assert!(matches!(check(&row), Err(FacilityError::DeviceInvalidated)));
        let codes = admin::activation_codes(&store, &facility, now).unwrap();
        assert_eq!(codes[0].status, activation::ActivationStatus::Invalidated);
    }
}
