//! How long health-insurance-use registration (健康保険証利用登録) takes at the
//! facility, and what the app is told.
//!
//! The manual: registration takes about 15 seconds; 「システム処理に25秒以上掛かった
//! 場合」 the processing finishes in the background within minutes, and the card
//! can be used normally once it has. So a registration either completes while the
//! app waits, or the app is answered "accepted, completes in the background" when
//! the wait reaches 25 seconds and the card works once processing ends.
//!
//! Decisions:
//!
//! - The threshold is inclusive, as 「以上」 is: a registration simulated to take
//!   exactly 25 s goes to the background.
//! - The decision is made on the **simulated** processing time, before scaling,
//!   so that a time factor only changes how long things take, never which answer
//!   comes back (no rounding can move 25 s across the line).
//! - Durations are scaled by a [`TimeFactor`] so that tests need not wait: with
//!   0.001, 15 s takes 15 ms. Scaled durations are what the service waits, and
//!   what it adds to the service clock's reading to know when a background
//!   registration takes effect: with a ticking clock that is the same thing;
//!   with a frozen clock it happens when the clock is advanced past it.
//! - Phones do not register here: they register through Mynaportal (up to five
//!   minutes), outside this rule. The 03:00–06:00 window is
//!   [`super::maintenance`]'s.

use time::{Duration, OffsetDateTime};

/// How long a registration typically takes (the manual's 15 seconds).
pub const TYPICAL_PROCESSING: Duration = Duration::seconds(15);
/// From how long on processing continues in the background (25 seconds).
pub const BACKGROUND_THRESHOLD: Duration = Duration::seconds(25);

/// How much faster than real time the simulation runs its waits: durations are
/// multiplied by it. 1.0 is real time; 0.001 turns seconds into milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct TimeFactor(f64);

/// A time factor that is not a finite number at least 0.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("time factor {0} is not a finite number >= 0")]
pub struct InvalidTimeFactor(pub f64);

impl Default for TimeFactor {
    fn default() -> Self {
        TimeFactor::REAL
    }
}

impl TimeFactor {
    /// Real time.
    pub const REAL: TimeFactor = TimeFactor(1.0);
    /// No waiting at all: every scaled duration is zero.
    pub const INSTANT: TimeFactor = TimeFactor(0.0);

    /// A factor; refused when negative, NaN or infinite.
    pub fn new(factor: f64) -> Result<TimeFactor, InvalidTimeFactor> {
        if factor.is_finite() && factor >= 0.0 {
            Ok(TimeFactor(factor))
        } else {
            Err(InvalidTimeFactor(factor))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// `duration` scaled, rounded to the nanosecond. A negative duration counts as
    /// zero; a result too long to represent is held at [`Duration::MAX`].
    pub fn scale(self, duration: Duration) -> Duration {
        if !duration.is_positive() {
            return Duration::ZERO;
        }
        let nanos = (duration.whole_nanoseconds() as f64 * self.0).round();
        if nanos >= Duration::MAX.whole_nanoseconds() as f64 {
            return Duration::MAX;
        }
        // In range now (and not negative: both factors are >= 0), so the float
        // converts back exactly enough and `nanoseconds_i128` cannot overflow.
        Duration::nanoseconds_i128(nanos as i128)
    }
}

/// What becomes of one registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// Done while the app waited; the answer comes after `respond_after`.
    Completed { respond_after: Duration },
    /// The app is answered after `respond_after` (the threshold, scaled) that the
    /// registration was accepted and completes in the background; it takes effect
    /// `completes_after` the start.
    AcceptedInBackground {
        respond_after: Duration,
        completes_after: Duration,
    },
}

impl RegistrationOutcome {
    /// How long after the request the app gets its answer.
    pub fn respond_after(&self) -> Duration {
        match *self {
            RegistrationOutcome::Completed { respond_after }
            | RegistrationOutcome::AcceptedInBackground { respond_after, .. } => respond_after,
        }
    }

    /// How long after the request the registration takes effect.
    pub fn completes_after(&self) -> Duration {
        match *self {
            RegistrationOutcome::Completed { respond_after } => respond_after,
            RegistrationOutcome::AcceptedInBackground {
                completes_after, ..
            } => completes_after,
        }
    }

    /// Whether the answer is "completes in the background".
    pub fn is_background(&self) -> bool {
        matches!(self, RegistrationOutcome::AcceptedInBackground { .. })
    }

    /// Whether a registration requested at `started_at` has taken effect at `now`.
    pub fn is_effective(&self, started_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        match started_at.checked_add(self.completes_after()) {
            Some(at) => now >= at,
            None => false,
        }
    }
}

/// What becomes of a registration whose processing is simulated to take
/// `processing` (real-world time), with waits scaled by `factor`.
pub fn decide(processing: Duration, factor: TimeFactor) -> RegistrationOutcome {
    let processing = processing.max(Duration::ZERO);
    if processing < BACKGROUND_THRESHOLD {
        RegistrationOutcome::Completed {
            respond_after: factor.scale(processing),
        }
    } else {
        RegistrationOutcome::AcceptedInBackground {
            respond_after: factor.scale(BACKGROUND_THRESHOLD),
            completes_after: factor.scale(processing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn milli() -> TimeFactor {
        TimeFactor::new(0.001).unwrap()
    }

    #[test]
    fn typical_registration_completes_while_waiting() {
        assert_eq!(
            decide(TYPICAL_PROCESSING, TimeFactor::REAL),
            RegistrationOutcome::Completed {
                respond_after: Duration::seconds(15)
            }
        );
        assert_eq!(
            decide(TYPICAL_PROCESSING, milli()),
            RegistrationOutcome::Completed {
                respond_after: Duration::milliseconds(15)
            }
        );
    }

    #[test]
    fn the_threshold_is_inclusive() {
        let just_under = decide(
            Duration::seconds(25) - Duration::NANOSECOND,
            TimeFactor::REAL,
        );
        assert!(!just_under.is_background());
        let at = decide(Duration::seconds(25), milli());
        assert_eq!(
            at,
            RegistrationOutcome::AcceptedInBackground {
                respond_after: Duration::milliseconds(25),
                completes_after: Duration::milliseconds(25)
            }
        );
    }

    #[test]
    fn slow_registrations_complete_later_in_the_background() {
        let outcome = decide(Duration::minutes(3), milli());
        assert_eq!(
            outcome,
            RegistrationOutcome::AcceptedInBackground {
                respond_after: Duration::milliseconds(25),
                completes_after: Duration::milliseconds(180)
            }
        );
        assert!(outcome.is_background());
        let start = datetime!(2026-04-01 10:00 +09:00);
        assert!(!outcome.is_effective(start, start + Duration::milliseconds(179)));
        assert!(outcome.is_effective(start, start + Duration::milliseconds(180)));

        let real = decide(Duration::minutes(3), TimeFactor::REAL);
        assert_eq!(real.respond_after(), Duration::seconds(25));
        assert_eq!(real.completes_after(), Duration::minutes(3));
    }

    #[test]
    fn factors_are_checked_and_scaling_is_total() {
        for bad in [-0.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(TimeFactor::new(bad).is_err(), "{bad}");
        }
        assert_eq!(TimeFactor::default(), TimeFactor::REAL);
        assert_eq!(
            TimeFactor::INSTANT.scale(Duration::hours(1)),
            Duration::ZERO
        );
        assert_eq!(milli().scale(Duration::seconds(-5)), Duration::ZERO);
        let huge = TimeFactor::new(1e30).unwrap();
        assert_eq!(huge.scale(Duration::seconds(1)), Duration::MAX);
        assert_eq!(TimeFactor::REAL.scale(Duration::MAX), Duration::MAX);
        assert_eq!(
            decide(Duration::seconds(-3), milli()).respond_after(),
            Duration::ZERO
        );
        // Completion too far away never takes effect, and does not panic.
        let never = decide(Duration::MAX, TimeFactor::REAL);
        let start = datetime!(2026-04-01 10:00 +09:00);
        assert!(!never.is_effective(start, datetime!(9999-12-31 00:00 UTC)));
        assert_eq!(
            decide(Duration::seconds(15), TimeFactor::INSTANT),
            RegistrationOutcome::Completed {
                respond_after: Duration::ZERO
            }
        );
    }

    proptest! {
        #[test]
        fn the_factor_never_changes_the_answer(ms in 0i64..600_000, factor in 0.0f64..10.0) {
            let processing = Duration::milliseconds(ms);
            let real = decide(processing, TimeFactor::REAL);
            let scaled = decide(processing, TimeFactor::new(factor).unwrap());
            prop_assert_eq!(real.is_background(), scaled.is_background());
            prop_assert_eq!(real.is_background(), ms >= 25_000);
            prop_assert!(scaled.respond_after() <= scaled.completes_after());
            prop_assert!(real.respond_after() <= BACKGROUND_THRESHOLD);
        }
    }
}
