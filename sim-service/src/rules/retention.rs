//! How long a facility can look a confirmation result up again.
//!
//! 「資格確認を行った日から翌月末まで」 (operations manual, result search; FAQ 10): from
//! the day of the confirmation to the **end of the following month**, in Japan.
//! Confirmed 2026-11-05 → visible through 2026-12-31, gone on 2027-01-01. A
//! confirmation on the last day of a month gets a full month more; one on the
//! first day, nearly two. The receipt-computer download follows the same window.
//!
//! Both the confirmation's date and today are JST dates: a confirmation at
//! 2026-11-30 23:30 JST (14:30Z) belongs to November and is visible through
//! December 31, whatever its UTC date.

use time::{Date, OffsetDateTime};

use super::calendar;
use crate::clock::jst_date;

/// The last JST day on which a result confirmed on `confirmed` (a JST date) can
/// be looked up: the last day of the following month.
pub fn visible_through(confirmed: Date) -> Date {
    calendar::end_of_month_after(confirmed, 1)
}

/// The earliest confirmation date still visible on `today` (JST dates): the
/// first day of the previous month. Anything confirmed before it is gone.
pub fn earliest_visible(today: Date) -> Date {
    calendar::end_of_month_after(today, -2)
        .next_day()
        .unwrap_or(Date::MIN)
}

/// Whether a result confirmed on `confirmed` can be looked up on `today` (JST
/// dates). A result dated after today (the clock was set back) is visible: the
/// rule is about when results disappear.
pub fn is_visible(confirmed: Date, today: Date) -> bool {
    today <= visible_through(confirmed)
}

/// [`is_visible`] for instants: the confirmation's and now, each taken as a JST
/// date.
pub fn is_visible_at(confirmed_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    is_visible(jst_date(confirmed_at), jst_date(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::Duration;
    use time::macros::{date, datetime};

    #[test]
    fn through_the_end_of_the_next_month() {
        assert_eq!(
            visible_through(date!(2026 - 11 - 05)),
            date!(2026 - 12 - 31)
        );
        assert!(is_visible(date!(2026 - 11 - 05), date!(2026 - 12 - 31)));
        assert!(!is_visible(date!(2026 - 11 - 05), date!(2027 - 01 - 01)));
        // Year wrap.
        assert_eq!(
            visible_through(date!(2026 - 12 - 01)),
            date!(2027 - 01 - 31)
        );
        assert_eq!(
            visible_through(date!(2026 - 12 - 31)),
            date!(2027 - 01 - 31)
        );
        assert!(is_visible(date!(2026 - 12 - 31), date!(2027 - 01 - 31)));
        assert!(!is_visible(date!(2026 - 12 - 31), date!(2027 - 02 - 01)));
        // Into February, leap and not.
        assert_eq!(
            visible_through(date!(2027 - 01 - 31)),
            date!(2027 - 02 - 28)
        );
        assert_eq!(
            visible_through(date!(2028 - 01 - 15)),
            date!(2028 - 02 - 29)
        );
        // The same day, and a result from the future.
        assert!(is_visible(date!(2026 - 11 - 05), date!(2026 - 11 - 05)));
        assert!(is_visible(date!(2026 - 11 - 05), date!(2026 - 10 - 01)));
        // The end of time does not panic.
        assert_eq!(visible_through(date!(9999 - 12 - 15)), Date::MAX);
    }

    #[test]
    fn dates_are_taken_in_japan() {
        // Late on November 30 in Japan: a November confirmation.
        let confirmed = datetime!(2026-11-30 23:30 +09:00);
        assert!(is_visible_at(
            confirmed,
            datetime!(2026-12-31 23:59:59 +09:00)
        ));
        assert!(!is_visible_at(
            confirmed,
            datetime!(2027-01-01 00:00 +09:00)
        ));
        // December 1 00:30 in Japan is November 30 in UTC: it belongs to December.
        let confirmed = datetime!(2026-11-30 15:30 UTC);
        assert!(is_visible_at(confirmed, datetime!(2027-01-31 14:59:59 UTC)));
        assert!(!is_visible_at(confirmed, datetime!(2027-01-31 15:00 UTC)));
    }

    proptest! {
        #[test]
        fn the_window_ends_on_a_month_end_one_to_two_months_on(day in 2_451_545i32..2_488_070) {
            let confirmed = Date::from_julian_day(day).unwrap();
            let end = visible_through(confirmed);
            prop_assert_eq!(end.next_day().unwrap().day(), 1);
            prop_assert!(end > confirmed);
            prop_assert!(end - confirmed >= Duration::days(28));
            prop_assert!(end - confirmed <= Duration::days(61));
            let months = (end.year() - confirmed.year()) * 12
                + i32::from(u8::from(end.month())) - i32::from(u8::from(confirmed.month()));
            prop_assert_eq!(months, 1);
            prop_assert!(is_visible(confirmed, end));
            prop_assert!(!is_visible(confirmed, end.next_day().unwrap()));
            // On any day of the window, the confirmation is at or after the
            // earliest visible date; the day after, it is before it.
            prop_assert!(earliest_visible(end) <= confirmed);
            prop_assert!(earliest_visible(end.next_day().unwrap()) > confirmed);
        }
    }
}
