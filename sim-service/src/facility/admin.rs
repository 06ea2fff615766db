//! The administrator's functions (管理アカウント on the service's admin
//! screens): what the admin JSON API and the admin console call. Pure
//! functions over the store and an instant, like the rest of [`super`].

use time::OffsetDateTime;

use super::{
    AccountUpdate, AccountView, ActivationCodeView, EnvironmentSetting, FacilityError, NewAccount,
    NewNotice, NoticeView, account, activation, environment, notice,
};
use crate::model::MedicalInstitutionCode;
use crate::store::{ActivationCodeRow, Store};

/// Turns 外来診療等(通常とは異なる動線)機能 on or off (環境設定情報更新).
pub fn set_outpatient_flow(
    store: &Store,
    facility: &MedicalInstitutionCode,
    enabled: bool,
) -> Result<(), FacilityError> {
    change_environment(store, facility, |setting| setting.outpatient_flow = enabled)
}

/// Sets the maturation delay of the codes issued from now on (a bench
/// setting; the real service's is about 10 minutes).
pub fn set_activation_delay(
    store: &Store,
    facility: &MedicalInstitutionCode,
    seconds: i64,
) -> Result<(), FacilityError> {
    change_environment(store, facility, |setting| {
        setting.activation_delay_seconds = seconds;
    })
}

/// Changes one part of the facility's environment settings, keeping the rest.
fn change_environment(
    store: &Store,
    facility: &MedicalInstitutionCode,
    change: impl FnOnce(&mut EnvironmentSetting),
) -> Result<(), FacilityError> {
    let mut setting = environment::setting(store, facility)?;
    change(&mut setting);
    environment::put(store, facility, setting)
}

/// The facility's environment settings.
pub fn environment(
    store: &Store,
    facility: &MedicalInstitutionCode,
) -> Result<EnvironmentSetting, FacilityError> {
    environment::setting(store, facility)
}

/// Issues one activation code for the device named by `memo`; it matures
/// after the facility's delay.
pub fn issue_activation_code(
    store: &Store,
    facility: &MedicalInstitutionCode,
    memo: &str,
    now: OffsetDateTime,
) -> Result<ActivationCodeView, FacilityError> {
    activation::check_memo(memo)?;
    let delay = environment::setting(store, facility)?.activation_delay_seconds;
    // A clash of 12 random digits is rare; a few tries make it impossible
    // in practice.
    for _ in 0..8 {
        let row = ActivationCodeRow {
            code: activation::generate_code()?,
            facility: facility.to_string(),
            memo: memo.trim().to_string(),
            issued_at: now,
            usable_from: now + time::Duration::seconds(delay),
            invalidated: false,
            device: None,
        };
        if store.insert_activation_code(&row)? {
            return Ok(activation::view(&row, now));
        }
    }
    Err(FacilityError::Internal(
        "no free activation code after 8 tries".into(),
    ))
}

/// The facility's activation codes, newest first, with their status at `now`.
pub fn activation_codes(
    store: &Store,
    facility: &MedicalInstitutionCode,
    now: OffsetDateTime,
) -> Result<Vec<ActivationCodeView>, FacilityError> {
    Ok(store
        .activation_codes(facility.as_str())?
        .iter()
        .map(|row| activation::view(row, now))
        .collect())
}

/// Invalidates a code (無効化する): it can register no device, and the
/// device registered with it is refused from its next request.
pub fn invalidate_activation_code(
    store: &Store,
    facility: &MedicalInstitutionCode,
    code: &str,
) -> Result<(), FacilityError> {
    if store.invalidate_activation_code(facility.as_str(), code)? {
        Ok(())
    } else {
        Err(FacilityError::UnknownActivationCode(code.to_string()))
    }
}

/// Registers an account (slow: argon2).
pub fn register_account(
    store: &Store,
    facility: &MedicalInstitutionCode,
    new: NewAccount,
    now: OffsetDateTime,
) -> Result<AccountView, FacilityError> {
    account::register(store, facility, new, now)
}

/// Changes an account (slow when a password is set).
pub fn update_account(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
    update: AccountUpdate,
    now: OffsetDateTime,
) -> Result<AccountView, FacilityError> {
    account::update(store, facility, user_id, update, now)
}

/// The facility's accounts, in user ID order, with their status at `now`.
pub fn accounts(
    store: &Store,
    facility: &MedicalInstitutionCode,
    now: OffsetDateTime,
) -> Result<Vec<AccountView>, FacilityError> {
    Ok(store
        .accounts(facility.as_str())?
        .iter()
        .map(|row| account::view(row, now))
        .collect())
}

/// Every facility with a setting, an activation code or an account.
pub fn facilities(store: &Store) -> Result<Vec<MedicalInstitutionCode>, FacilityError> {
    store
        .facilities_with_app_data()?
        .iter()
        .map(|code| {
            MedicalInstitutionCode::new(code)
                .map_err(|e| FacilityError::Internal(format!("stored facility: {e}")))
        })
        .collect()
}

/// Publishes a notice (お知らせ).
pub fn publish_notice(
    store: &Store,
    new: NewNotice,
    now: OffsetDateTime,
) -> Result<NoticeView, FacilityError> {
    notice::publish(store, new, now)
}

/// Every notice, newest first.
pub fn notices(store: &Store) -> Result<Vec<NoticeView>, FacilityError> {
    notice::all(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn codes_are_listed_newest_first_with_their_status() {
        let store = Store::in_memory().unwrap();
        let facility = MedicalInstitutionCode::new("0110000001").unwrap();
        let t = datetime!(2024-09-11 16:27 +9);
        set_activation_delay(&store, &facility, 60).unwrap();
        let a = issue_activation_code(&store, &facility, "Aのスマホ1", t).unwrap();
        let b = issue_activation_code(
            &store,
            &facility,
            "Aのスマホ2",
            t + time::Duration::minutes(2),
        )
        .unwrap();
        assert_ne!(a.code, b.code);
        assert_eq!(
            a.usable_from,
            super::super::rfc3339(t + time::Duration::minutes(1))
        );
        let list = activation_codes(&store, &facility, t + time::Duration::minutes(2)).unwrap();
        assert_eq!(
            list.iter().map(|c| c.memo.as_str()).collect::<Vec<_>>(),
            ["Aのスマホ2", "Aのスマホ1"]
        );
        assert_eq!((list[0].usable_now, list[1].usable_now), (false, true));
        assert!(issue_activation_code(&store, &facility, "", t).is_err());
        assert!(matches!(
            invalidate_activation_code(&store, &facility, "000000000000"),
            Err(FacilityError::UnknownActivationCode(_))
        ));
        assert!(!environment(&store, &facility).unwrap().outpatient_flow);
        assert_eq!(facilities(&store).unwrap(), vec![facility.clone()]);
        register_account(
            &store,
            &MedicalInstitutionCode::new("0220000002").unwrap(),
            NewAccount {
                role: crate::facility::Role::General,
                user_id: "b2".into(),
                name: "B".into(),
                kana: "ビー".into(),
                start_date: date!(2024 - 09 - 01),
                password: "Passw0rd!".into(),
            },
            t,
        )
        .unwrap();
        assert_eq!(facilities(&store).unwrap().len(), 2);
        assert_eq!(
            accounts(
                &store,
                &MedicalInstitutionCode::new("0220000002").unwrap(),
                t
            )
            .unwrap()
            .len(),
            1
        );
    }
}
