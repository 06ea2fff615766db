//! Calendar-month arithmetic the rules share. `time` adds durations, not months;
//! the rules count in calendar months ("the end of the month after", "3 months
//! before"), which have no fixed length.
//!
//! Results past the ends of what `time` represents (years -9999..=9999) are held
//! at [`Date::MIN`] / [`Date::MAX`]: no real certificate or confirmation is near
//! them, and a saturated date keeps every rule total.

use time::{Date, Month};

/// Months since year 0, January: a line on which adding months is adding integers.
fn month_index(year: i32, month: Month) -> i64 {
    i64::from(year) * 12 + i64::from(u8::from(month)) - 1
}

/// `(year, month)` of a month index; `None` outside `time`'s years.
fn from_month_index(index: i64) -> Option<(i32, Month)> {
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    Some((year, month))
}

/// The last day of the month `months` calendar months after `date`'s month
/// (`months = 0`: the end of `date`'s own month).
pub(crate) fn end_of_month_after(date: Date, months: i64) -> Date {
    let index = month_index(date.year(), date.month()).saturating_add(months);
    from_month_index(index)
        .and_then(|(year, month)| Date::from_calendar_date(year, month, month.length(year)).ok())
        .unwrap_or(if months >= 0 { Date::MAX } else { Date::MIN })
}

/// The same day of the month `months` calendar months earlier, or that month's
/// last day when it is shorter (May 31 minus 3 months is February 28 or 29).
pub(crate) fn months_before(date: Date, months: i64) -> Date {
    let index = month_index(date.year(), date.month()).saturating_sub(months);
    from_month_index(index)
        .and_then(|(year, month)| {
            let day = date.day().min(month.length(year));
            Date::from_calendar_date(year, month, day).ok()
        })
        .unwrap_or(if months >= 0 { Date::MIN } else { Date::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn month_ends() {
        assert_eq!(
            end_of_month_after(date!(2026 - 02 - 10), 0),
            date!(2026 - 02 - 28)
        );
        assert_eq!(
            end_of_month_after(date!(2026 - 02 - 10), 3),
            date!(2026 - 05 - 31)
        );
        assert_eq!(
            end_of_month_after(date!(2026 - 11 - 30), 3),
            date!(2027 - 02 - 28)
        );
        assert_eq!(
            end_of_month_after(date!(2027 - 11 - 15), 3),
            date!(2028 - 02 - 29)
        );
        assert_eq!(
            end_of_month_after(date!(2026 - 12 - 31), 1),
            date!(2027 - 01 - 31)
        );
        assert_eq!(
            end_of_month_after(date!(2026 - 03 - 31), -1),
            date!(2026 - 02 - 28)
        );
        assert_eq!(end_of_month_after(date!(9999 - 11 - 01), 3), Date::MAX);
        assert_eq!(end_of_month_after(Date::MIN, -1), Date::MIN);
        assert_eq!(end_of_month_after(Date::MAX, i64::MAX), Date::MAX);
    }

    #[test]
    fn months_back_clamp_to_shorter_months() {
        assert_eq!(
            months_before(date!(2026 - 05 - 31), 3),
            date!(2026 - 02 - 28)
        );
        assert_eq!(
            months_before(date!(2028 - 05 - 31), 3),
            date!(2028 - 02 - 29)
        );
        assert_eq!(
            months_before(date!(2027 - 02 - 10), 3),
            date!(2026 - 11 - 10)
        );
        assert_eq!(
            months_before(date!(2026 - 12 - 31), 3),
            date!(2026 - 09 - 30)
        );
        assert_eq!(
            months_before(date!(2026 - 04 - 15), 3),
            date!(2026 - 01 - 15)
        );
        assert_eq!(
            months_before(date!(2026 - 04 - 15), 0),
            date!(2026 - 04 - 15)
        );
        assert_eq!(months_before(Date::MIN, 3), Date::MIN);
        assert_eq!(months_before(Date::MIN, i64::MIN), Date::MAX);
    }
}
