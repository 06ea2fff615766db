//! Activation codes (アクティベーションコード): issued one at a time, each with
//! a memo naming the device it is for (端末識別メモ情報); usable only after a
//! maturation delay (about 10 minutes in the manual); bound to the first
//! device that registers with it; invalidated (無効化する) when the device
//! is lost or retired, which also shuts the device out.

use serde::Serialize;
use time::OffsetDateTime;

use super::{FacilityError, random_bytes, rfc3339};
use crate::store::ActivationCodeRow;

/// How many characters a memo may have (the screen's field is short; the
/// simulator's bound).
pub const MEMO_MAX_CHARS: usize = 50;

/// 未登録 / 登録済 / 無効, as the administrator's list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum ActivationStatus {
    #[serde(rename = "未登録")]
    Unregistered,
    #[serde(rename = "登録済")]
    Registered,
    #[serde(rename = "無効")]
    Invalidated,
}

/// An activation code as the administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActivationCodeView {
    pub code: String,
    /// 端末識別メモ情報.
    pub memo: String,
    pub status: ActivationStatus,
    pub issued_at: String,
    /// When the code matures (service clock).
    pub usable_from: String,
    /// Whether a device could register with it now.
    pub usable_now: bool,
    /// The id of the device registered with it.
    pub device: Option<String>,
}

/// The status of a stored code.
pub fn status_of(row: &ActivationCodeRow) -> ActivationStatus {
    if row.invalidated {
        ActivationStatus::Invalidated
    } else if row.device.is_some() {
        ActivationStatus::Registered
    } else {
        ActivationStatus::Unregistered
    }
}

/// The view of a stored code at `now`.
pub fn view(row: &ActivationCodeRow, now: OffsetDateTime) -> ActivationCodeView {
    ActivationCodeView {
        code: row.code.clone(),
        memo: row.memo.clone(),
        status: status_of(row),
        issued_at: rfc3339(row.issued_at),
        usable_from: rfc3339(row.usable_from),
        usable_now: check_usable(row, now).is_ok(),
        device: row.device.clone(),
    }
}

/// Whether a device may register with the code at `now`: not invalidated,
/// not bound to a device, and matured.
pub fn check_usable(row: &ActivationCodeRow, now: OffsetDateTime) -> Result<(), FacilityError> {
    match status_of(row) {
        ActivationStatus::Invalidated => {
            Err(FacilityError::ActivationCodeInvalidated(row.code.clone()))
        }
        ActivationStatus::Registered => Err(FacilityError::ActivationCodeUsed(row.code.clone())),
        ActivationStatus::Unregistered if now < row.usable_from => {
            Err(FacilityError::ActivationCodeNotYetUsable {
                code: row.code.clone(),
                usable_from: row.usable_from,
            })
        }
        ActivationStatus::Unregistered => Ok(()),
    }
}

/// Checks the memo: the administrator must say which device the code is for.
pub fn check_memo(memo: &str) -> Result<(), FacilityError> {
    let invalid = |reason: &str| FacilityError::InvalidField {
        field: "memo",
        reason: reason.into(),
    };
    if memo.trim().is_empty() {
        return Err(invalid(
            "name the device the code is for (端末識別メモ情報), e.g. \"Aのスマホ1\"",
        ));
    }
    if memo.chars().count() > MEMO_MAX_CHARS {
        return Err(invalid("at most 50 characters"));
    }
    if memo.chars().any(char::is_control) {
        return Err(invalid("no control characters"));
    }
    Ok(())
}

/// A fresh code: 12 random digits, the first not 0 (a code keeps its
/// length when someone types it as a number).
pub fn generate_code() -> Result<String, FacilityError> {
    let bytes = random_bytes::<16>()?;
    let value = u128::from_be_bytes(bytes) % 900_000_000_000 + 100_000_000_000;
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn code(issued: OffsetDateTime) -> ActivationCodeRow {
        ActivationCodeRow {
            code: "318628523135".into(),
            facility: "0110000001".into(),
            memo: "Aのスマホ1".into(),
            issued_at: issued,
            usable_from: issued + time::Duration::minutes(10),
            invalidated: false,
            device: None,
        }
    }

    #[test]
    fn a_code_matures_ten_minutes_after_issue() {
        let issued = datetime!(2026-12-01 09:00 +9);
        let row = code(issued);
        let early = issued + time::Duration::minutes(9) + time::Duration::seconds(59);
        assert!(matches!(
            check_usable(&row, early),
            Err(FacilityError::ActivationCodeNotYetUsable { .. })
        ));
        check_usable(&row, issued + time::Duration::minutes(10)).unwrap();
        assert!(!view(&row, early).usable_now);
        assert_eq!(view(&row, early).status, ActivationStatus::Unregistered);
    }

    #[test]
    fn a_bound_or_invalidated_code_is_refused_even_when_mature() {
        let issued = datetime!(2026-12-01 09:00 +9);
        let late = issued + time::Duration::hours(1);
        let mut row = code(issued);
        row.device = Some("d1".into());
        assert_eq!(status_of(&row), ActivationStatus::Registered);
        assert!(matches!(
            check_usable(&row, late),
            Err(FacilityError::ActivationCodeUsed(_))
        ));
        row.invalidated = true;
        assert_eq!(status_of(&row), ActivationStatus::Invalidated);
        assert!(matches!(
            check_usable(&row, late),
            Err(FacilityError::ActivationCodeInvalidated(_))
        ));
    }

    #[test]
    fn codes_have_twelve_digits_and_memos_name_a_device() {
        for _ in 0..100 {
            let c = generate_code().unwrap();
            assert_eq!(c.len(), 12, "{c}");
            assert!(c.bytes().all(|b| b.is_ascii_digit()) && !c.starts_with('0'));
        }
        check_memo("Bのタブレット").unwrap();
        assert!(check_memo("  ").is_err());
        assert!(check_memo(&"あ".repeat(51)).is_err());
        assert!(check_memo("a\nb").is_err());
    }
}
