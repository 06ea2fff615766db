//! The environment setting 外来診療等(通常とは異なる動線)機能: the app can be
//! used at a facility only once its administrator turned it on (環境設定情報
//! 更新 → 「利用する」). A facility the service never heard of has it off.

use serde::{Deserialize, Serialize};
use time::Duration;

use super::FacilityError;
use crate::model::MedicalInstitutionCode;
use crate::store::{FacilitySettingsRow, Store};

/// How long after issue an activation code becomes usable when the facility
/// did not change it: the manual says "10分程度経過してから利用してください".
pub const DEFAULT_ACTIVATION_DELAY: Duration = Duration::minutes(10);

/// A facility's environment settings that concern the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentSetting {
    /// 外来診療等(通常とは異なる動線)機能: 利用する (true) or 利用しない.
    pub outpatient_flow: bool,
    /// The maturation delay of the activation codes issued from now on, in
    /// seconds of the service clock (a bench setting: tests shorten it).
    pub activation_delay_seconds: i64,
}

impl Default for EnvironmentSetting {
    fn default() -> Self {
        EnvironmentSetting {
            outpatient_flow: false,
            activation_delay_seconds: DEFAULT_ACTIVATION_DELAY.whole_seconds(),
        }
    }
}

/// The facility's setting (the default when it never set one).
pub fn setting(
    store: &Store,
    facility: &MedicalInstitutionCode,
) -> Result<EnvironmentSetting, FacilityError> {
    Ok(store
        .facility_settings(facility.as_str())?
        .map(|row| EnvironmentSetting {
            outpatient_flow: row.outpatient_flow,
            activation_delay_seconds: row.activation_delay_seconds,
        })
        .unwrap_or_default())
}

/// Writes the facility's setting.
pub fn put(
    store: &Store,
    facility: &MedicalInstitutionCode,
    setting: EnvironmentSetting,
) -> Result<(), FacilityError> {
    if !(0..=7 * 24 * 3600).contains(&setting.activation_delay_seconds) {
        return Err(FacilityError::InvalidField {
            field: "activation_delay_seconds",
            reason: "0 to 604800 (a week)".into(),
        });
    }
    store.put_facility_settings(
        facility.as_str(),
        FacilitySettingsRow {
            outpatient_flow: setting.outpatient_flow,
            activation_delay_seconds: setting.activation_delay_seconds,
        },
    )?;
    Ok(())
}

/// Refuses app use while the facility has the function off.
pub fn require_outpatient_flow(
    store: &Store,
    facility: &MedicalInstitutionCode,
) -> Result<(), FacilityError> {
    if setting(store, facility)?.outpatient_flow {
        Ok(())
    } else {
        Err(FacilityError::OutpatientFlowOff(facility.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_facility_has_the_function_off_until_it_is_turned_on() {
        let store = Store::in_memory().unwrap();
        let facility = MedicalInstitutionCode::new("0110000001").unwrap();
        assert_eq!(
            setting(&store, &facility).unwrap(),
            EnvironmentSetting::default()
        );
        assert!(matches!(
            require_outpatient_flow(&store, &facility),
            Err(FacilityError::OutpatientFlowOff(_))
        ));
        let on = EnvironmentSetting {
            outpatient_flow: true,
            ..EnvironmentSetting::default()
        };
        put(&store, &facility, on).unwrap();
        require_outpatient_flow(&store, &facility).unwrap();
        let other = MedicalInstitutionCode::new("0220000002").unwrap();
        assert!(require_outpatient_flow(&store, &other).is_err());
        let negative = EnvironmentSetting {
            activation_delay_seconds: -1,
            ..on
        };
        assert!(put(&store, &facility, negative).is_err());
    }
}
