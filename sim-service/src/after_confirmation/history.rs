//! The facility's result search (資格確認結果検索): the confirmations a
//! facility may look at again, by confirmation date and optionally "this
//! device only".
//!
//! The rules (運用マニュアル 第2章 再度資格確認結果を確認する場合;
//! docs/service-rules.md, Result search):
//! - a result can be looked up from the day of the confirmation to the **end
//!   of the following month** ([`retention`]), in JST days, on the service
//!   clock;
//! - only results that **showed qualification information** are listed: a
//!   refusal (revoked or expired certificate, card not registered) or
//!   該当資格なし is not;
//! - the range is of JST confirmation dates, both ends inclusive; "this
//!   device only" keeps the confirmations of one device.
//!
//! Entries come oldest first, as the store keeps them; a screen that lists
//! the newest first reverses them. The receipt-computer download
//! ([`super::receipt_download`]) lists the same entries.

use serde::Serialize;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::clock::{JST, jst_date};
use crate::model::MedicalInstitutionCode;
use crate::rules::retention;
use crate::store::{Confirmation, Store, StoreError};

/// What the facility searches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// First confirmation date (JST), inclusive.
    pub from: Date,
    /// Last confirmation date (JST), inclusive.
    pub to: Date,
    /// Only this device's confirmations ("この端末で資格確認した結果のみ対象とする").
    pub device: Option<String>,
}

impl HistoryQuery {
    /// Everything still visible on `today`: from the first day of the
    /// previous month through today.
    pub fn visible_on(today: Date) -> Self {
        HistoryQuery {
            from: retention::earliest_visible(today),
            to: today,
            device: None,
        }
    }
}

/// One listed confirmation: what the list shows (date, name, validity) and
/// the result as the client received it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub confirmation_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub confirmed_at: OffsetDateTime,
    pub device: String,
    pub method: String,
    /// 氏名 of the first result.
    pub name: Option<String>,
    /// QualificationValidity (`1` 有効, `2`/`3` 無効, `5` 複数該当, `6`).
    pub validity: Option<String>,
    /// The outcome exactly as the client received it (JSON of XmlMsg).
    pub outcome: serde_json::Value,
}

/// Why a search was refused.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the period ends ({to}) before it starts ({from})")]
    InvertedRange { from: Date, to: Date },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a stored confirmation is listed on `now`: it showed
/// qualification information and is within its retention window.
pub fn is_listed(confirmation: &Confirmation, now: OffsetDateTime) -> bool {
    confirmation.shows_qualification && retention::is_visible_at(confirmation.confirmed_at, now)
}

fn start_of_day_jst(day: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(day, time::Time::MIDNIGHT).assume_offset(JST)
}

/// The entry a listed confirmation becomes.
pub fn entry(c: Confirmation) -> HistoryEntry {
    let first = c
        .result
        .pointer("/MessageBody/ResultList/0/Name")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let validity = c
        .result
        .pointer("/MessageBody/QualificationValidity")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    HistoryEntry {
        confirmation_id: c.id,
        confirmed_at: c.confirmed_at,
        device: c.device,
        method: c.method,
        name: first,
        validity,
        outcome: c.result,
    }
}

/// The facility's listed confirmations in the query's range, oldest first.
pub fn search_history(
    store: &Store,
    facility: &MedicalInstitutionCode,
    query: &HistoryQuery,
    now: OffsetDateTime,
) -> Result<Vec<HistoryEntry>, HistoryError> {
    if query.from > query.to {
        return Err(HistoryError::InvertedRange {
            from: query.from,
            to: query.to,
        });
    }
    // Nothing confirmed before the earliest visible day can be listed:
    // start the scan there.
    let from = query.from.max(retention::earliest_visible(jst_date(now)));
    let end = query.to.next_day().map_or(
        OffsetDateTime::new_utc(Date::MAX, time::Time::MIDNIGHT),
        start_of_day_jst,
    );
    let rows = store.confirmations(
        facility.as_str(),
        start_of_day_jst(from),
        end,
        query.device.as_deref(),
    )?;
    Ok(rows
        .into_iter()
        .filter(|c| is_listed(c, now))
        .map(entry)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewConfirmation;
    use time::macros::{date, datetime};

    fn facility() -> MedicalInstitutionCode {
        MedicalInstitutionCode::new("0110000001").unwrap()
    }

    fn record(store: &Store, at: OffsetDateTime, device: &str, shows: bool) -> i64 {
        store
            .record_confirmation(&NewConfirmation {
                confirmed_at: at,
                facility: "0110000001".into(),
                device: device.into(),
                method: "pin".into(),
                person: Some("valid".into()),
                shows_qualification: shows,
                result: serde_json::json!({
                    "MessageBody": {
                        "QualificationValidity": if shows { "1" } else { "4" },
                        "ResultList": [{"Name": "資格　太郎"}]
                    }
                }),
            })
            .unwrap()
    }

    fn ids(entries: &[HistoryEntry]) -> Vec<i64> {
        entries.iter().map(|e| e.confirmation_id).collect()
    }

    #[test]
    fn visible_through_the_end_of_the_following_month_in_japan() {
        let store = Store::in_memory().unwrap();
        let id = record(&store, datetime!(2026-11-05 10:00 +09:00), "A", true);
        let query = HistoryQuery {
            from: date!(2026 - 11 - 01),
            to: date!(2027 - 01 - 31),
            device: None,
        };
        let at = |now| ids(&search_history(&store, &facility(), &query, now).unwrap());
        assert_eq!(at(datetime!(2026-11-05 10:00 +09:00)), vec![id]);
        assert_eq!(at(datetime!(2026-12-31 23:59:59 +09:00)), vec![id]);
        assert_eq!(at(datetime!(2027-01-01 00:00 +09:00)), Vec::<i64>::new());
        // 2026-12-31 15:00 UTC is already 2027-01-01 in Japan.
        assert_eq!(at(datetime!(2026-12-31 15:00 UTC)), Vec::<i64>::new());
    }

    #[test]
    fn range_and_device_filters_and_refusals_are_not_listed() {
        let store = Store::in_memory().unwrap();
        let a1 = record(&store, datetime!(2026-11-30 23:30 +09:00), "A", true);
        let b = record(&store, datetime!(2026-12-01 00:30 +09:00), "B", true);
        let _refused = record(&store, datetime!(2026-12-01 09:00 +09:00), "A", false);
        let a2 = record(&store, datetime!(2026-12-02 09:00 +09:00), "A", true);
        let now = datetime!(2026-12-10 12:00 +09:00);
        let search = |from, to, device: Option<&str>| {
            let q = HistoryQuery {
                from,
                to,
                device: device.map(str::to_string),
            };
            ids(&search_history(&store, &facility(), &q, now).unwrap())
        };
        let (nov1, nov30, dec1, dec2) = (
            date!(2026 - 11 - 01),
            date!(2026 - 11 - 30),
            date!(2026 - 12 - 01),
            date!(2026 - 12 - 02),
        );
        assert_eq!(search(nov1, dec2, None), vec![a1, b, a2]);
        // JST days: 23:30 on Nov 30 is November, 00:30 on Dec 1 is December.
        assert_eq!(search(nov1, nov30, None), vec![a1]);
        assert_eq!(search(dec1, dec1, None), vec![b]);
        assert_eq!(search(nov1, dec2, Some("A")), vec![a1, a2]);
        assert_eq!(search(nov1, dec2, Some("C")), Vec::<i64>::new());
        let entries =
            search_history(&store, &facility(), &HistoryQuery::visible_on(dec2), now).unwrap();
        assert_eq!(entries[0].name.as_deref(), Some("資格　太郎"));
        assert_eq!(entries[0].validity.as_deref(), Some("1"));
        assert!(matches!(
            search_history(
                &store,
                &facility(),
                &HistoryQuery {
                    from: dec2,
                    to: dec1,
                    device: None
                },
                now
            ),
            Err(HistoryError::InvertedRange { .. })
        ));
        // Another facility sees nothing of these.
        let other = MedicalInstitutionCode::new("0110000002").unwrap();
        assert!(
            search_history(&store, &other, &HistoryQuery::visible_on(dec2), now)
                .unwrap()
                .is_empty()
        );
    }
}
