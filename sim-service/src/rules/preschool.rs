//! 未就学区分: whether a child is 義務教育就学前 (not yet at compulsory school).
//!
//! Why it matters: such a child pays 2 割 instead of 3 割, and the result flags it
//! so the counter does not miss that (operations manual, 未就学区分).
//!
//! A child starts school on the April 1 after turning six, where Japanese law
//! counts a birthday as reached at the end of the day before it (年齢計算ニ関スル
//! 法律). A child born on April 1 therefore turns six on March 31 and starts
//! school the next day, with the children born in the year before; one born on
//! April 2 waits a year. So children born from April 2 of year Y to April 1 of
//! Y+1 all start on April 1 of Y+7 (docs/service-rules.md, Preschool): born 2020-04-01 → school
//! from 2026-04-01; born 2020-04-02 → from 2027-04-01.
//!
//! The child is preschool up to the day before that April 1, inclusive, on the
//! JST date of the confirmation.

use time::{Date, Month};

/// The April 1 on which a child born on `birth` starts compulsory school. `None`
/// only past the year 9999, where `time` has no dates; such a child is treated
/// as preschool forever by [`is_preschool`].
pub fn school_entry(birth: Date) -> Option<Date> {
    let born_by_april_first = (birth.month(), birth.day()) <= (Month::April, 1);
    let years = if born_by_april_first { 6 } else { 7 };
    Date::from_calendar_date(birth.year().checked_add(years)?, Month::April, 1).ok()
}

/// Whether a child born on `birth` is 義務教育就学前 on `today` (a JST date).
///
/// A birth date after `today` (bad data) gives `true`, as for any child not yet
/// at school; a placeholder birth date such as `19000101` (unknown, in welfare
/// records) gives `false`.
pub fn is_preschool(birth: Date, today: Date) -> bool {
    school_entry(birth).is_none_or(|entry| today < entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn april_first_and_second_are_a_year_apart() {
        assert_eq!(
            school_entry(date!(2020 - 04 - 01)),
            Some(date!(2026 - 04 - 01))
        );
        assert_eq!(
            school_entry(date!(2020 - 04 - 02)),
            Some(date!(2027 - 04 - 01))
        );
        assert_eq!(
            school_entry(date!(2021 - 01 - 01)),
            Some(date!(2027 - 04 - 01))
        );
        assert_eq!(
            school_entry(date!(2021 - 03 - 31)),
            Some(date!(2027 - 04 - 01))
        );
        assert_eq!(
            school_entry(date!(2020 - 12 - 31)),
            Some(date!(2027 - 04 - 01))
        );
        assert_eq!(
            school_entry(date!(2020 - 02 - 29)),
            Some(date!(2026 - 04 - 01))
        );
    }

    #[test]
    fn preschool_until_the_day_before_entry() {
        let born = date!(2020 - 04 - 01);
        assert!(is_preschool(born, date!(2026 - 03 - 31)));
        assert!(!is_preschool(born, date!(2026 - 04 - 01)));
        let born = date!(2020 - 04 - 02);
        assert!(is_preschool(born, date!(2026 - 04 - 01)));
        assert!(is_preschool(born, date!(2027 - 03 - 31)));
        assert!(!is_preschool(born, date!(2027 - 04 - 01)));
        // A newborn, an adult, a placeholder date, a date in the future.
        assert!(is_preschool(date!(2026 - 11 - 05), date!(2026 - 11 - 05)));
        assert!(!is_preschool(date!(1985 - 04 - 12), date!(2026 - 11 - 05)));
        assert!(!is_preschool(date!(1900 - 01 - 01), date!(2026 - 11 - 05)));
        assert!(is_preschool(date!(2027 - 01 - 01), date!(2026 - 11 - 05)));
        // The end of time does not panic.
        assert_eq!(school_entry(date!(9999 - 12 - 31)), None);
        assert!(is_preschool(date!(9999 - 12 - 31), date!(9999 - 12 - 31)));
    }

    proptest! {
        #[test]
        fn entry_is_an_april_first_six_to_seven_years_on(day in 2_415_021i32..2_488_070) {
            let birth = Date::from_julian_day(day).unwrap();
            let entry = school_entry(birth).unwrap();
            prop_assert_eq!((entry.month(), entry.day()), (Month::April, 1));
            // Legally six at the end of the day before the sixth birthday (a
            // February 29 child: before March 1).
            let birthday = birth
                .replace_year(birth.year() + 6)
                .unwrap_or_else(|_| Date::from_calendar_date(birth.year() + 6, Month::March, 1).unwrap());
            let six_from = birthday.previous_day().unwrap();
            // Six by entry day, and not yet six on the April 1 before it.
            prop_assert!(six_from < entry);
            prop_assert!(six_from >= entry.replace_year(entry.year() - 1).unwrap());
            prop_assert!(!is_preschool(birth, entry));
            prop_assert!(is_preschool(birth, entry.previous_day().unwrap()));
        }
    }
}
