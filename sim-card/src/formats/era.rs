//! Japanese era years (和暦), which the surface application's PINs are made of.
//!
//! 照合番号B and the birth-date key of the 券面事項確認AP start with the date of
//! birth as `YYMMDD` where `YY` is the year within the era, not the Gregorian
//! year: 1985-04-12 is 昭和60年4月12日, so `600412`.

use time::Date;
use time::macros::date;

/// A Japanese era (元号) of the modern calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Era {
    /// 明治, from 1868-01-25 (the Gregorian date of 明治元年1月1日; the era was
    /// proclaimed later that year and applied from New Year).
    Meiji,
    /// 大正, from 1912-07-30.
    Taisho,
    /// 昭和, from 1926-12-25.
    Showa,
    /// 平成, from 1989-01-08.
    Heisei,
    /// 令和, from 2019-05-01.
    Reiwa,
}

impl Era {
    /// All eras, newest first, the order in which a date is matched against them.
    const NEWEST_FIRST: [Era; 5] = [Era::Reiwa, Era::Heisei, Era::Showa, Era::Taisho, Era::Meiji];

    /// The era's name as printed on documents.
    pub fn name(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// The first day of the era; year 1 of the era (元年) runs from it to the
    /// end of that Gregorian year.
    pub fn first_day(self) -> Date {
        match self {
            Era::Meiji => date!(1868 - 01 - 25),
            Era::Taisho => date!(1912 - 07 - 30),
            Era::Showa => date!(1926 - 12 - 25),
            Era::Heisei => date!(1989 - 01 - 08),
            Era::Reiwa => date!(2019 - 05 - 01),
        }
    }
}

/// A date in the Japanese calendar: era, year within the era, month, day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JapaneseDate {
    pub era: Era,
    /// Year within the era, 1 for the first (元年).
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl JapaneseDate {
    /// The date in the era that was current on it. `None` before 明治
    /// (1868-01-25), which no card holder's birth date can be.
    pub fn from_gregorian(date: Date) -> Option<JapaneseDate> {
        let era = Era::NEWEST_FIRST
            .into_iter()
            .find(|era| date >= era.first_day())?;
        let year = date.year() - era.first_day().year() + 1;
        Some(JapaneseDate {
            era,
            year: u16::try_from(year).ok()?,
            month: u8::from(date.month()),
            day: date.day(),
        })
    }

    /// Six digits `YYMMDD` with the era year, as the surface application's
    /// PINs take it. An era year above 99 (令和100, in 2118) keeps its last two
    /// digits.
    pub fn yymmdd(&self) -> String {
        format!("{:02}{:02}{:02}", self.year % 100, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn japanese(date: Date) -> (Era, u16) {
        let j = JapaneseDate::from_gregorian(date).unwrap();
        (j.era, j.year)
    }

    #[test]
    fn the_default_persona() {
        let j = JapaneseDate::from_gregorian(date!(1985 - 04 - 12)).unwrap();
        assert_eq!((j.era, j.year), (Era::Showa, 60));
        assert_eq!(j.yymmdd(), "600412");
    }

    #[test]
    fn era_boundaries_fall_mid_year() {
        assert_eq!(japanese(date!(2019 - 04 - 30)), (Era::Heisei, 31));
        assert_eq!(japanese(date!(2019 - 05 - 01)), (Era::Reiwa, 1));
        assert_eq!(japanese(date!(2020 - 01 - 01)), (Era::Reiwa, 2));
        assert_eq!(japanese(date!(1989 - 01 - 07)), (Era::Showa, 64));
        assert_eq!(japanese(date!(1989 - 01 - 08)), (Era::Heisei, 1));
        assert_eq!(japanese(date!(1926 - 12 - 24)), (Era::Taisho, 15));
        assert_eq!(japanese(date!(1926 - 12 - 25)), (Era::Showa, 1));
        assert_eq!(japanese(date!(1927 - 01 - 01)), (Era::Showa, 2));
        assert_eq!(japanese(date!(1912 - 07 - 29)), (Era::Meiji, 45));
        assert_eq!(japanese(date!(1912 - 07 - 30)), (Era::Taisho, 1));
        assert_eq!(japanese(date!(1868 - 01 - 25)), (Era::Meiji, 1));
        assert_eq!(JapaneseDate::from_gregorian(date!(1868 - 01 - 24)), None);
    }

    #[test]
    fn first_years_are_written_01() {
        let j = JapaneseDate::from_gregorian(date!(2019 - 05 - 01)).unwrap();
        assert_eq!(j.yymmdd(), "010501");
        let j = JapaneseDate::from_gregorian(date!(1989 - 01 - 08)).unwrap();
        assert_eq!(j.yymmdd(), "010108");
    }

    #[test]
    fn names() {
        assert_eq!(Era::Showa.name(), "昭和");
        assert_eq!(Era::Reiwa.name(), "令和");
    }
}
