//! The nightly maintenance window of health-insurance-use registration.
//!
//! 「毎日午前3時から午前6時はご利用いただけません」 (operations manual, registration):
//! registering a card for health-insurance use at the facility is unavailable from
//! 03:00 to 06:00 every day, Japan time. Eligibility confirmation itself is not
//! affected. The window is half-open: **03:00:00 is inside, 06:00:00 is outside**
//! (a request at 05:59:59.999 is refused, one at 06:00:00 accepted), the usual
//! reading of "from 3 to 6 o'clock" and the one that makes back-to-back windows
//! tile without overlap.
//!
//! Windows are values ([`DailyWindow`]) so that a scenario can add its own outage;
//! one whose start is after its end runs past midnight (23:00–01:00), and one
//! whose start equals its end is empty.

use time::macros::time;
use time::{Duration, OffsetDateTime, Time};

use crate::clock::JST;

/// A window of time repeated every day, in JST: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyWindow {
    pub start: Time,
    pub end: Time,
}

/// When health-insurance-use registration is down every day.
pub const REGISTRATION_MAINTENANCE: DailyWindow = DailyWindow {
    start: time!(03:00),
    end: time!(06:00),
};

impl DailyWindow {
    /// Whether `now` falls in the window (on its JST time of day).
    pub fn contains(&self, now: OffsetDateTime) -> bool {
        let t = now.to_offset(JST).time();
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When the window `now` falls in ends (in JST), so that a refusal can say
    /// when to come back; `None` when `now` is outside it.
    pub fn ends_at(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if !self.contains(now) {
            return None;
        }
        let local = now.to_offset(JST);
        let today_end = local.replace_time(self.end);
        // Inside a window that runs past midnight, before midnight: it ends tomorrow.
        if today_end > local {
            Some(today_end)
        } else {
            today_end.checked_add(Duration::DAY)
        }
    }
}

/// Whether health-insurance-use registration is available at `now`.
pub fn registration_available(now: OffsetDateTime) -> bool {
    !REGISTRATION_MAINTENANCE.contains(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn three_inclusive_six_exclusive() {
        for (at, open) in [
            (datetime!(2026-04-01 02:59:59.999 +09:00), true),
            (datetime!(2026-04-01 03:00:00 +09:00), false),
            (datetime!(2026-04-01 04:30:00 +09:00), false),
            (datetime!(2026-04-01 05:59:59.999999999 +09:00), false),
            (datetime!(2026-04-01 06:00:00 +09:00), true),
            (datetime!(2026-04-01 12:00:00 +09:00), true),
            (datetime!(2026-04-01 00:00:00 +09:00), true),
        ] {
            assert_eq!(registration_available(at), open, "{at}");
        }
    }

    #[test]
    fn japan_time_not_utc() {
        // 03:00 JST is 18:00Z the day before.
        assert!(!registration_available(datetime!(2026-03-31 18:00 UTC)));
        assert!(registration_available(datetime!(2026-03-31 17:59:59 UTC)));
        assert!(registration_available(datetime!(2026-03-31 21:00 UTC)));
        // 03:00 UTC is noon in Japan.
        assert!(registration_available(datetime!(2026-04-01 03:00 UTC)));
    }

    #[test]
    fn when_the_window_ends() {
        let w = REGISTRATION_MAINTENANCE;
        assert_eq!(
            w.ends_at(datetime!(2026-04-01 03:00 +09:00)),
            Some(datetime!(2026-04-01 06:00 +09:00))
        );
        assert_eq!(
            w.ends_at(datetime!(2026-03-31 20:00 UTC)),
            Some(datetime!(2026-04-01 06:00 +09:00))
        );
        assert_eq!(w.ends_at(datetime!(2026-04-01 06:00 +09:00)), None);
    }

    #[test]
    fn windows_past_midnight_and_empty_ones() {
        let night = DailyWindow {
            start: time!(23:00),
            end: time!(01:00),
        };
        assert!(!night.contains(datetime!(2026-04-01 22:59:59 +09:00)));
        assert!(night.contains(datetime!(2026-04-01 23:00 +09:00)));
        assert!(night.contains(datetime!(2026-04-02 00:30 +09:00)));
        assert!(!night.contains(datetime!(2026-04-02 01:00 +09:00)));
        assert_eq!(
            night.ends_at(datetime!(2026-04-01 23:30 +09:00)),
            Some(datetime!(2026-04-02 01:00 +09:00))
        );
        assert_eq!(
            night.ends_at(datetime!(2026-04-02 00:30 +09:00)),
            Some(datetime!(2026-04-02 01:00 +09:00))
        );
        let empty = DailyWindow {
            start: time!(03:00),
            end: time!(03:00),
        };
        assert!(!empty.contains(datetime!(2026-04-01 03:00 +09:00)));
        // The last day of time does not panic.
        assert_eq!(night.ends_at(datetime!(9999-12-31 23:30 +09:00)), None);
    }

    proptest! {
        #[test]
        fn the_window_is_three_hours_a_day(day in 0i64..36_500, second in 0i64..86_400) {
            let at = datetime!(2000-01-01 00:00 +09:00) + Duration::days(day) + Duration::seconds(second);
            prop_assert_eq!(registration_available(at), !(3 * 3600..6 * 3600).contains(&second));
            if let Some(end) = REGISTRATION_MAINTENANCE.ends_at(at) {
                prop_assert!(end > at && end - at <= Duration::hours(3));
                prop_assert!(registration_available(end));
            }
        }
    }
}
