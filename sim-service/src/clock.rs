//! The service's notion of now.
//!
//! Every rule of the service depends on the date: certificate expiry and its grace
//! period, the expiry warning, the preschool flag, how long results stay visible,
//! the nightly maintenance window. A test bench has to put the service on any of
//! those edges at will, so the service never reads the system clock directly: it
//! reads a [`ServiceClock`], which tests and the admin endpoint can set.
//!
//! Two ways of setting it, because tests want both:
//!
//! - [`ServiceClock::set`] moves the clock to an instant and lets it keep ticking
//!   from there at the wall clock's pace (an offset from wall time). A client under
//!   test that waits for a challenge to expire, or for a background registration to
//!   finish, sees time pass as it would in production.
//! - [`ServiceClock::freeze`] stops the clock at an instant. Time then moves only
//!   by [`ServiceClock::advance`], so a scenario can stand one second before
//!   midnight and stay there however slow the machine is.
//!
//! The rules themselves never see a `ServiceClock`: they are pure functions of an
//! instant, which the caller reads once per request from the clock. One reading per
//! request also means a request that straddles midnight is judged on one date.
//!
//! All date rules are in Japan Standard Time, UTC+9, which has had no daylight
//! saving time since 1951: [`JST`] is a fixed offset, and [`jst_date`] turns an
//! instant into the Japanese calendar day it falls on.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use time::macros::offset;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Japan Standard Time. A fixed offset: Japan has no daylight saving time.
pub const JST: UtcOffset = offset!(+9);

/// The Japanese calendar day `instant` falls on.
pub fn jst_date(instant: OffsetDateTime) -> Date {
    instant.to_offset(JST).date()
}

/// Where the clock's readings come from: the system clock in production, a fake
/// in tests of the ticking mode.
pub type WallSource = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// How the clock currently runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// The wall clock, untouched.
    Wall,
    /// The wall clock shifted by a fixed amount: it ticks, from a set instant.
    Offset(Duration),
    /// Stopped at an instant; moves only when advanced.
    Frozen(OffsetDateTime),
}

/// Why the clock could not be moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The instant asked for is outside what `time` can represent (years
    /// -9999..=9999).
    #[error("the clock cannot be moved that far")]
    OutOfRange,
}

/// The service's clock. Cloning is cheap and clones share one clock: the admin
/// endpoint sets the very clock every request handler reads.
#[derive(Clone)]
pub struct ServiceClock {
    mode: Arc<Mutex<ClockMode>>,
    wall: WallSource,
}

impl fmt::Debug for ServiceClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClock")
            .field("mode", &self.mode())
            .field("now", &self.now())
            .finish()
    }
}

impl Default for ServiceClock {
    fn default() -> Self {
        ServiceClock::wall()
    }
}

impl ServiceClock {
    /// The system clock, until someone sets it.
    pub fn wall() -> ServiceClock {
        ServiceClock::with_wall_source(Arc::new(OffsetDateTime::now_utc))
    }

    /// A clock reading `wall` as its wall clock: for tests of the ticking mode,
    /// which need a wall clock they control.
    pub fn with_wall_source(wall: WallSource) -> ServiceClock {
        ServiceClock {
            mode: Arc::new(Mutex::new(ClockMode::Wall)),
            wall,
        }
    }

    /// A clock stopped at `at`: the usual start of a test.
    pub fn frozen_at(at: OffsetDateTime) -> ServiceClock {
        let clock = ServiceClock::wall();
        clock.freeze(at);
        clock
    }

    // A poisoned lock still holds a valid mode (every write is one assignment), so
    // a panic elsewhere must not stop the clock for everyone.
    fn lock(&self) -> MutexGuard<'_, ClockMode> {
        self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Now, in UTC.
    pub fn now(&self) -> OffsetDateTime {
        let mode = *self.lock();
        match mode {
            ClockMode::Wall => (self.wall)().to_offset(UtcOffset::UTC),
            ClockMode::Offset(offset) => saturating_add((self.wall)(), offset),
            ClockMode::Frozen(at) => at,
        }
    }

    /// Now, in Japan Standard Time.
    pub fn now_jst(&self) -> OffsetDateTime {
        self.now().to_offset(JST)
    }

    /// Today's date in Japan: the date every date rule works with.
    pub fn today_jst(&self) -> Date {
        jst_date(self.now())
    }

    /// How the clock runs now: for the admin endpoint to report.
    pub fn mode(&self) -> ClockMode {
        *self.lock()
    }

    /// Moves the clock to `at` and lets it keep ticking from there at the wall
    /// clock's pace. Unfreezes a frozen clock.
    pub fn set(&self, at: OffsetDateTime) {
        let offset = at - (self.wall)();
        *self.lock() = ClockMode::Offset(offset);
    }

    /// Stops the clock at `at`. It stays there until advanced, set or reset.
    pub fn freeze(&self, at: OffsetDateTime) {
        *self.lock() = ClockMode::Frozen(at.to_offset(UtcOffset::UTC));
    }

    /// Stops the clock where it is now.
    pub fn pause(&self) {
        let now = self.now();
        self.freeze(now);
    }

    /// Lets a frozen clock tick again from where it stands. A ticking clock is
    /// left as it is.
    pub fn resume(&self) {
        if let ClockMode::Frozen(at) = self.mode() {
            self.set(at);
        }
    }

    /// Back to the wall clock.
    pub fn reset(&self) {
        *self.lock() = ClockMode::Wall;
    }

    /// Moves the clock by `by` (backwards when negative), in whatever mode it is:
    /// a frozen clock stays frozen at the new instant, a ticking one keeps
    /// ticking. Returns the new now. Refused, and the clock left alone, when the
    /// result would be outside what `time` can represent.
    pub fn advance(&self, by: Duration) -> Result<OffsetDateTime, ClockError> {
        let mut mode = self.lock();
        let (next, now) = match *mode {
            ClockMode::Frozen(at) => {
                let at = at.checked_add(by).ok_or(ClockError::OutOfRange)?;
                (ClockMode::Frozen(at), at)
            }
            ClockMode::Wall | ClockMode::Offset(_) => {
                let offset = match *mode {
                    ClockMode::Offset(offset) => offset,
                    _ => Duration::ZERO,
                };
                let offset = offset.checked_add(by).ok_or(ClockError::OutOfRange)?;
                let now = (self.wall)()
                    .checked_add(offset)
                    .ok_or(ClockError::OutOfRange)?;
                (ClockMode::Offset(offset), now.to_offset(UtcOffset::UTC))
            }
        };
        *mode = next;
        Ok(now)
    }
}

/// `at + by`, held at the ends of the representable range instead of panicking: a
/// clock set close to year 9999 that then ticks past it reads 9999-12-31.
fn saturating_add(at: OffsetDateTime, by: Duration) -> OffsetDateTime {
    match at.checked_add(by) {
        Some(t) => t.to_offset(UtcOffset::UTC),
        None if by.is_positive() => PrimitiveDateTime::MAX.assume_utc(),
        None => PrimitiveDateTime::MIN.assume_utc(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use time::macros::datetime;

    /// A wall clock the test moves by hand, in whole seconds.
    fn fake_wall(start: OffsetDateTime) -> (ServiceClock, Arc<AtomicI64>) {
        let seconds = Arc::new(AtomicI64::new(start.unix_timestamp()));
        let source = seconds.clone();
        let clock = ServiceClock::with_wall_source(Arc::new(move || {
            OffsetDateTime::from_unix_timestamp(source.load(Ordering::SeqCst)).unwrap()
        }));
        (clock, seconds)
    }

    #[test]
    fn wall_clock_follows_the_system() {
        let clock = ServiceClock::wall();
        let before = OffsetDateTime::now_utc();
        let now = clock.now();
        let after = OffsetDateTime::now_utc();
        assert!(before <= now && now <= after);
        assert_eq!(now.offset(), UtcOffset::UTC);
        assert_eq!(clock.mode(), ClockMode::Wall);
    }

    #[test]
    fn set_keeps_ticking_from_the_set_instant() {
        let (clock, wall) = fake_wall(datetime!(2030-01-01 00:00 UTC));
        clock.set(datetime!(2026-02-10 14:59:58 UTC));
        assert_eq!(clock.now(), datetime!(2026-02-10 14:59:58 UTC));
        wall.fetch_add(3, Ordering::SeqCst);
        assert_eq!(clock.now(), datetime!(2026-02-10 15:00:01 UTC));
        assert!(matches!(clock.mode(), ClockMode::Offset(_)));
    }

    #[test]
    fn freeze_stands_still_until_advanced() {
        let (clock, wall) = fake_wall(datetime!(2030-01-01 00:00 UTC));
        clock.freeze(datetime!(2026-04-01 03:00 +09:00));
        wall.fetch_add(3600, Ordering::SeqCst);
        assert_eq!(clock.now(), datetime!(2026-03-31 18:00 UTC));
        assert_eq!(clock.now().offset(), UtcOffset::UTC);
        assert_eq!(
            clock.advance(Duration::minutes(5)).unwrap(),
            datetime!(2026-03-31 18:05 UTC)
        );
        assert_eq!(clock.now(), datetime!(2026-03-31 18:05 UTC));
        assert!(matches!(clock.mode(), ClockMode::Frozen(_)));
    }

    #[test]
    fn advance_a_ticking_clock_keeps_it_ticking() {
        let (clock, wall) = fake_wall(datetime!(2026-01-01 00:00 UTC));
        // From the wall clock: advancing turns it into an offset.
        assert_eq!(
            clock.advance(Duration::days(1)).unwrap(),
            datetime!(2026-01-02 00:00 UTC)
        );
        wall.fetch_add(10, Ordering::SeqCst);
        assert_eq!(clock.now(), datetime!(2026-01-02 00:00:10 UTC));
        // Backwards too.
        clock.advance(Duration::hours(-2)).unwrap();
        assert_eq!(clock.now(), datetime!(2026-01-01 22:00:10 UTC));
    }

    #[test]
    fn pause_resume_and_reset() {
        let (clock, wall) = fake_wall(datetime!(2026-01-01 00:00 UTC));
        clock.set(datetime!(2027-06-01 12:00 UTC));
        clock.pause();
        wall.fetch_add(60, Ordering::SeqCst);
        assert_eq!(clock.now(), datetime!(2027-06-01 12:00 UTC));
        clock.resume();
        assert_eq!(clock.now(), datetime!(2027-06-01 12:00 UTC));
        wall.fetch_add(60, Ordering::SeqCst);
        assert_eq!(clock.now(), datetime!(2027-06-01 12:01 UTC));
        // Resuming a ticking clock changes nothing.
        clock.resume();
        assert_eq!(clock.now(), datetime!(2027-06-01 12:01 UTC));
        clock.reset();
        assert_eq!(clock.now(), datetime!(2026-01-01 00:02 UTC));
        assert_eq!(clock.mode(), ClockMode::Wall);
    }

    #[test]
    fn clones_share_the_clock() {
        let clock = ServiceClock::wall();
        let handler_view = clock.clone();
        clock.freeze(datetime!(2026-11-05 10:00 +09:00));
        assert_eq!(handler_view.now(), datetime!(2026-11-05 01:00 UTC));
        let other_thread = std::thread::spawn(move || handler_view.advance(Duration::DAY));
        other_thread.join().unwrap().unwrap();
        assert_eq!(clock.now(), datetime!(2026-11-06 01:00 UTC));
    }

    #[test]
    fn japan_time_and_date() {
        let clock = ServiceClock::frozen_at(datetime!(2026-02-10 14:59:59 UTC));
        assert_eq!(clock.now_jst(), datetime!(2026-02-10 23:59:59 +09:00));
        assert_eq!(clock.today_jst(), time::macros::date!(2026 - 02 - 10));
        clock.advance(Duration::SECOND).unwrap();
        // 15:00 UTC is midnight in Japan: the next day there, the same day in UTC.
        assert_eq!(clock.now().date(), time::macros::date!(2026 - 02 - 10));
        assert_eq!(clock.today_jst(), time::macros::date!(2026 - 02 - 11));
    }

    #[test]
    fn out_of_range_moves_are_refused_not_panics() {
        let clock = ServiceClock::frozen_at(datetime!(9999-12-31 23:00 UTC));
        assert_eq!(
            clock.advance(Duration::days(2)),
            Err(ClockError::OutOfRange)
        );
        assert_eq!(clock.now(), datetime!(9999-12-31 23:00 UTC));
        assert_eq!(clock.advance(Duration::MAX), Err(ClockError::OutOfRange));

        // A ticking clock set near the end saturates instead of overflowing.
        let (clock, wall) = fake_wall(datetime!(2026-01-01 00:00 UTC));
        clock.set(datetime!(9999-12-31 23:59:59 UTC));
        wall.fetch_add(10, Ordering::SeqCst);
        assert_eq!(clock.now(), PrimitiveDateTime::MAX.assume_utc());
        assert!(clock.advance(Duration::days(1)).is_err());
    }
}
