//! The rules only smartphone certificates have (docs/service-rules.md, Smartphone rules;
//! スマホ周知; 運用マニュアル 第2章 注意事項 スマホ用利用者証明用電子証明書の場合).
//!
//! - **One phone per person.** The card can be added to one smartphone at a
//!   time: adding it to a new phone makes the old phone's smartphone
//!   certificate unusable. The service knows every phone a person added the
//!   card to (the fixtures' `[[person.phone]]`) and honours only the newest,
//!   by the day it was added; an older phone's certificate is refused even
//!   though it still chains and has not expired. The physical card is not
//!   affected.
//! - **Not under 15.** A smartphone certificate is not issued to a holder
//!   younger than 15 on the day it is issued (the certificate's first valid
//!   day). The card refuses such a profile; the service checks again, as a
//!   real relying party would not trust the phone to have checked.
//! - No grace period after expiry: see [`super::expiry`].
//!
//! Ages count as Japanese law counts them (年齢計算ニ関スル法律, 民法 143条):
//! a person turns N at the start of their Nth birthday; someone born on
//! 29 February turns N on 1 March in a common year.

use time::{Date, Month};

/// The youngest a holder of a smartphone certificate may be, in years.
pub const MINIMUM_AGE: u8 = 15;

/// A phone the person added the card to: its id in the fixtures and the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddedPhone<'a> {
    pub id: &'a str,
    pub added: Date,
}

/// Where one phone's certificate stands among the person's phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneStanding {
    /// The phone the card was added to last: its certificate is the valid one.
    Current,
    /// The card was added to another phone since: this one's certificate was
    /// replaced.
    Superseded { by: String, added: Date },
    /// The person has no phone by that id.
    Unknown,
}

/// The phone holding the person's valid smartphone certificate: the one the
/// card was added to last. Of two added the same day the later entry wins
/// (it was added later that day: entries are kept in the order they came).
pub fn current_phone<'a>(phones: &[AddedPhone<'a>]) -> Option<AddedPhone<'a>> {
    phones
        .iter()
        .enumerate()
        .max_by_key(|(index, phone)| (phone.added, *index))
        .map(|(_, phone)| *phone)
}

/// Where the phone `presented` stands among `phones`.
pub fn standing(phones: &[AddedPhone<'_>], presented: &str) -> PhoneStanding {
    if !phones.iter().any(|p| p.id == presented) {
        return PhoneStanding::Unknown;
    }
    match current_phone(phones) {
        Some(current) if current.id != presented => PhoneStanding::Superseded {
            by: current.id.to_string(),
            added: current.added,
        },
        _ => PhoneStanding::Current,
    }
}

/// The day a person born on `birth_date` turns `years` old.
pub fn birthday(birth_date: Date, years: u8) -> Option<Date> {
    let year = birth_date.year() + i32::from(years);
    Date::from_calendar_date(year, birth_date.month(), birth_date.day())
        .ok()
        .or_else(|| {
            // 29 February in a common year: the age is reached on 1 March.
            Date::from_calendar_date(year, Month::March, 1).ok()
        })
}

/// Whether a holder born on `birth_date` may hold a smartphone certificate
/// issued on `issued` (15 or older that day).
pub fn old_enough(birth_date: Date, issued: Date) -> bool {
    birthday(birth_date, MINIMUM_AGE).is_some_and(|day| issued >= day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn phone(id: &str, added: Date) -> AddedPhone<'_> {
        AddedPhone { id, added }
    }

    #[test]
    fn the_newest_phone_is_the_valid_one() {
        let phones = [
            phone("old", date!(2025 - 07 - 01)),
            phone("new", date!(2026 - 10 - 01)),
        ];
        assert_eq!(standing(&phones, "new"), PhoneStanding::Current);
        assert_eq!(
            standing(&phones, "old"),
            PhoneStanding::Superseded {
                by: "new".into(),
                added: date!(2026 - 10 - 01)
            }
        );
        assert_eq!(standing(&phones, "other"), PhoneStanding::Unknown);
        // Listed newest first, the same answer: the date decides, not the order.
        let reversed = [phones[1], phones[0]];
        assert_eq!(standing(&reversed, "new"), PhoneStanding::Current);
        assert_eq!(
            standing(&[phone("only", date!(2020 - 01 - 01))], "only"),
            PhoneStanding::Current
        );
        assert_eq!(standing(&[], "any"), PhoneStanding::Unknown);
    }

    #[test]
    fn two_phones_the_same_day_the_later_entry_wins() {
        let day = date!(2026 - 11 - 01);
        let phones = [phone("morning", day), phone("evening", day)];
        assert_eq!(standing(&phones, "evening"), PhoneStanding::Current);
        assert!(matches!(
            standing(&phones, "morning"),
            PhoneStanding::Superseded { .. }
        ));
    }

    #[test]
    fn fifteen_from_the_fifteenth_birthday() {
        let born = date!(2011 - 12 - 02);
        assert!(!old_enough(born, date!(2026 - 12 - 01)));
        assert!(old_enough(born, date!(2026 - 12 - 02)));
        // 29 February: 15 on 1 March of a common year, on 29 February of a leap year.
        let leap = date!(2012 - 02 - 29);
        assert_eq!(birthday(leap, 15), Some(date!(2027 - 03 - 01)));
        assert!(!old_enough(leap, date!(2027 - 02 - 28)));
        assert!(old_enough(leap, date!(2027 - 03 - 01)));
        assert_eq!(birthday(leap, 16), Some(date!(2028 - 02 - 29)));
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (1900i32..2100, 1u16..=365).prop_map(|(year, day)| {
            Date::from_ordinal_date(year, day).expect("day 1 to 365 exists every year")
        })
    }

    proptest! {
        /// Exactly one phone is current, it was added no earlier than any
        /// other, and every other phone is superseded by it.
        #[test]
        fn exactly_one_current_phone(dates in prop::collection::vec(any_date(), 1..6)) {
            let ids: Vec<String> = (0..dates.len()).map(|i| format!("p{i}")).collect();
            let phones: Vec<AddedPhone<'_>> =
                ids.iter().zip(&dates).map(|(id, d)| phone(id, *d)).collect();
            let current: Vec<_> = phones
                .iter()
                .filter(|p| standing(&phones, p.id) == PhoneStanding::Current)
                .collect();
            prop_assert_eq!(current.len(), 1);
            let newest = current[0];
            prop_assert!(phones.iter().all(|p| p.added <= newest.added));
            for p in phones.iter().filter(|p| p.id != newest.id) {
                prop_assert_eq!(
                    standing(&phones, p.id),
                    PhoneStanding::Superseded { by: newest.id.to_string(), added: newest.added }
                );
            }
        }

        /// Adding the card to a new phone later than every other makes it
        /// the current one and supersedes all the others.
        #[test]
        fn adding_a_newer_phone_supersedes_the_rest(
            dates in prop::collection::vec(any_date(), 0..5),
            later in 1i64..4000,
        ) {
            let ids: Vec<String> = (0..dates.len()).map(|i| format!("p{i}")).collect();
            let mut phones: Vec<AddedPhone<'_>> =
                ids.iter().zip(&dates).map(|(id, d)| phone(id, *d)).collect();
            let newest = dates.iter().max().copied().unwrap_or(date!(2025 - 01 - 01));
            phones.push(phone("new", newest + time::Duration::days(later)));
            prop_assert_eq!(standing(&phones, "new"), PhoneStanding::Current);
            for id in &ids {
                let superseded = matches!(
                    standing(&phones, id),
                    PhoneStanding::Superseded { ref by, .. } if by == "new"
                );
                prop_assert!(superseded);
            }
        }

        /// Old enough is monotonic in the issue day, and flips exactly on
        /// the 15th birthday.
        #[test]
        fn old_enough_flips_on_the_birthday(born in any_date(), offset in -800i64..800) {
            let day = birthday(born, MINIMUM_AGE).unwrap();
            prop_assert!(old_enough(born, day));
            prop_assert!(!old_enough(born, day.previous_day().unwrap()));
            let issued = day + time::Duration::days(offset);
            prop_assert_eq!(old_enough(born, issued), offset >= 0);
        }
    }
}
