//! お知らせ: published by the service's operator (the admin), shown to each
//! account at app login until the account marks it read. Outage notices
//! (障害のお知らせ) are published when the outage fault is raised.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{FacilityError, rfc3339};
use crate::model::MedicalInstitutionCode;
use crate::store::{NoticeRow, Store};

/// A notice to publish.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    pub title: String,
    /// Where the app's link leads.
    #[serde(default)]
    pub link: String,
    /// An outage notice (障害のお知らせ).
    #[serde(default)]
    pub outage: bool,
}

/// A notice as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NoticeView {
    pub id: i64,
    pub title: String,
    pub link: String,
    pub outage: bool,
    pub published_at: String,
}

fn view(row: NoticeRow) -> NoticeView {
    NoticeView {
        id: row.id,
        title: row.title,
        link: row.link,
        outage: row.outage,
        published_at: rfc3339(row.published_at),
    }
}

/// The title of the notice published when an outage is raised.
pub const OUTAGE_TITLE: &str =
    "【障害】オンライン資格確認等システムが利用できない状態となっています";

/// Publishes a notice.
pub fn publish(
    store: &Store,
    notice: NewNotice,
    now: OffsetDateTime,
) -> Result<NoticeView, FacilityError> {
    let title = notice.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(FacilityError::InvalidField {
            field: "title",
            reason: "1 to 200 characters".into(),
        });
    }
    let id = store.insert_notice(title, &notice.link, notice.outage, now)?;
    Ok(NoticeView {
        id,
        title: title.to_string(),
        link: notice.link,
        outage: notice.outage,
        published_at: rfc3339(now),
    })
}

/// Every notice, newest first.
pub fn all(store: &Store) -> Result<Vec<NoticeView>, FacilityError> {
    Ok(store.notices()?.into_iter().map(view).collect())
}

/// The notices the account has not read, newest first.
pub fn unread(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
) -> Result<Vec<NoticeView>, FacilityError> {
    Ok(store
        .unread_notices(facility.as_str(), user_id)?
        .into_iter()
        .map(view)
        .collect())
}

/// Marks a notice read by the account: it is not shown to it again.
pub fn mark_read(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), FacilityError> {
    if store.mark_notice_read(id, facility.as_str(), user_id, now)? {
        Ok(())
    } else {
        Err(FacilityError::UnknownNotice(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_notice_is_unread_until_each_account_reads_it() {
        let store = Store::in_memory().unwrap();
        let facility = MedicalInstitutionCode::new("0110000001").unwrap();
        let now = datetime!(2026-12-01 09:00 +9);
        let outage = NewNotice {
            title: OUTAGE_TITLE.into(),
            link: String::new(),
            outage: true,
        };
        let n = publish(&store, outage, now).unwrap();
        assert_eq!(unread(&store, &facility, "a1").unwrap(), vec![n.clone()]);
        mark_read(&store, &facility, "a1", n.id, now).unwrap();
        mark_read(&store, &facility, "a1", n.id, now).unwrap();
        assert!(unread(&store, &facility, "a1").unwrap().is_empty());
        assert_eq!(unread(&store, &facility, "b2").unwrap().len(), 1);
        assert!(matches!(
            mark_read(&store, &facility, "a1", 999, now),
            Err(FacilityError::UnknownNotice(999))
        ));
        let blank = NewNotice {
            title: " ".into(),
            link: String::new(),
            outage: false,
        };
        assert!(publish(&store, blank, now).is_err());
        assert_eq!(all(&store).unwrap().len(), 1);
    }
}
