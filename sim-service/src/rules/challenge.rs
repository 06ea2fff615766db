//! The challenges the service hands out for a card or phone to sign.
//!
//! A challenge is single-use and short-lived, so a recorded signature cannot be
//! replayed: not a second time, and not later. The state is a plain value
//! ([`Challenge`]); the store keeps it, and [`redeem`] is the one rule that reads
//! and updates it.
//!
//! Order of checks in [`redeem`]: unknown, then already used, then expired. "Used"
//! wins over "expired" because it is the more telling answer for a client that
//! sent the same challenge twice. A challenge is spent by its first redemption
//! whatever happens next: the caller redeems **before** verifying the signature,
//! so a wrong signature cannot be retried against the same challenge.
//!
//! The lifetime is the simulator's choice (the real one is not public):
//! [`DEFAULT_LIFETIME`], two minutes, enough for a patient to type a PIN or pass
//! Face ID and hold the card or phone to the reader; a scenario may shorten it.
//! The window is half-open: valid from `issued_at` up to, not including,
//! `expires_at`. A clock set back before `issued_at` (a test moving time) does
//! not make a challenge invalid: only its end is checked.

use std::fmt;

use openssl::error::ErrorStack;
use time::{Duration, OffsetDateTime};

/// Bytes of a challenge nonce: as much as a SHA-256 digest, so guessing one is
/// out of the question.
pub const NONCE_LEN: usize = 32;
/// Bytes of randomness in a challenge id (hex-encoded: twice as many characters).
pub const ID_LEN: usize = 16;
/// How long a challenge stays redeemable unless configured otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::minutes(2);

/// A challenge's id: what the client sends back to say which challenge it signed.
/// Random, so ids reveal nothing about how many challenges were issued.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChallengeId(String);

impl ChallengeId {
    /// A fresh random id: [`ID_LEN`] bytes from OpenSSL's CSPRNG, lower-case hex.
    pub fn random() -> Result<ChallengeId, ErrorStack> {
        let mut bytes = [0u8; ID_LEN];
        openssl::rand::rand_bytes(&mut bytes)?;
        Ok(ChallengeId(to_hex(&bytes)))
    }

    /// An id as a client sent it back. Any text is accepted: an id that was never
    /// issued is simply not found ([`ChallengeError::Unknown`]).
    pub fn new(id: impl Into<String>) -> ChallengeId {
        ChallengeId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChallengeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChallengeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChallengeId({})", self.0)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One challenge and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id: ChallengeId,
    /// The bytes the card or phone signs.
    pub nonce: [u8; NONCE_LEN],
    pub issued_at: OffsetDateTime,
    /// The first instant at which the challenge is no longer accepted.
    pub expires_at: OffsetDateTime,
    pub used: bool,
}

/// Why a challenge was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Never issued, or forgotten by the store.
    #[error("unknown challenge")]
    Unknown,
    /// Already redeemed once.
    #[error("challenge already used")]
    AlreadyUsed,
    /// Past its lifetime.
    #[error("challenge expired")]
    Expired,
}

impl Challenge {
    /// A fresh challenge issued at `now`, redeemable for `lifetime`: random id and
    /// nonce from OpenSSL's CSPRNG. A lifetime too long to represent is cut at the
    /// end of time; a negative one gives a challenge that is expired at once.
    pub fn issue(now: OffsetDateTime, lifetime: Duration) -> Result<Challenge, ErrorStack> {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce)?;
        Ok(Challenge::with_parts(
            ChallengeId::random()?,
            nonce,
            now,
            lifetime,
        ))
    }

    /// A challenge from given parts: for tests and fixtures that need known bytes.
    pub fn with_parts(
        id: ChallengeId,
        nonce: [u8; NONCE_LEN],
        issued_at: OffsetDateTime,
        lifetime: Duration,
    ) -> Challenge {
        let expires_at = issued_at
            .checked_add(lifetime)
            .unwrap_or(if lifetime.is_positive() {
                time::PrimitiveDateTime::MAX.assume_utc()
            } else {
                issued_at
            });
        Challenge {
            id,
            nonce,
            issued_at,
            expires_at,
            used: false,
        }
    }

    /// Whether the challenge is past its lifetime at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }

    /// Redeems this challenge at `now`: marks it used if it was redeemable.
    pub fn redeem(&mut self, now: OffsetDateTime) -> Result<(), ChallengeError> {
        if self.used {
            return Err(ChallengeError::AlreadyUsed);
        }
        if self.is_expired(now) {
            return Err(ChallengeError::Expired);
        }
        self.used = true;
        Ok(())
    }
}

/// Redeems the challenge the store found for the client's id (`None`: none was
/// found) at `now`.
pub fn redeem(
    challenge: Option<&mut Challenge>,
    now: OffsetDateTime,
) -> Result<(), ChallengeError> {
    challenge.ok_or(ChallengeError::Unknown)?.redeem(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-04-01 10:00 +09:00);

    fn fixed() -> Challenge {
        Challenge::with_parts(
            ChallengeId::new("c1"),
            [7; NONCE_LEN],
            T0,
            Duration::minutes(2),
        )
    }

    #[test]
    fn redeemable_once_within_its_lifetime() {
        let mut c = fixed();
        assert_eq!(c.expires_at, datetime!(2026-04-01 10:02 +09:00));
        assert_eq!(redeem(Some(&mut c), T0 + Duration::seconds(30)), Ok(()));
        assert!(c.used);
        assert_eq!(
            redeem(Some(&mut c), T0 + Duration::seconds(31)),
            Err(ChallengeError::AlreadyUsed)
        );
    }

    #[test]
    fn the_lifetime_is_half_open() {
        let mut at_start = fixed();
        assert_eq!(at_start.redeem(T0), Ok(()));
        let mut last = fixed();
        assert_eq!(
            last.redeem(datetime!(2026-04-01 10:01:59.999999999 +09:00)),
            Ok(())
        );
        let mut at_end = fixed();
        assert_eq!(
            at_end.redeem(datetime!(2026-04-01 10:02 +09:00)),
            Err(ChallengeError::Expired)
        );
        // A refused redemption does not spend the challenge...
        assert!(!at_end.used);
        // ...but it stays expired.
        assert_eq!(
            at_end.redeem(datetime!(2026-04-01 11:00 +09:00)),
            Err(ChallengeError::Expired)
        );
    }

    #[test]
    fn used_is_reported_before_expired() {
        let mut c = fixed();
        c.redeem(T0).unwrap();
        assert_eq!(
            c.redeem(T0 + Duration::hours(1)),
            Err(ChallengeError::AlreadyUsed)
        );
    }

    #[test]
    fn unknown_challenges() {
        assert_eq!(redeem(None, T0), Err(ChallengeError::Unknown));
    }

    #[test]
    fn a_clock_set_back_does_not_invalidate() {
        let mut c = fixed();
        assert_eq!(c.redeem(T0 - Duration::days(1)), Ok(()));
    }

    #[test]
    fn issued_challenges_are_random() {
        let a = Challenge::issue(T0, DEFAULT_LIFETIME).unwrap();
        let b = Challenge::issue(T0, DEFAULT_LIFETIME).unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.id.as_str().len(), 2 * ID_LEN);
        assert!(a.id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a.issued_at, T0);
        assert_eq!(a.expires_at, T0 + DEFAULT_LIFETIME);
        assert!(!a.used);
        assert_eq!(a.id.to_string(), a.id.as_str());
    }

    #[test]
    fn odd_lifetimes_do_not_panic() {
        let forever =
            Challenge::with_parts(ChallengeId::new("x"), [0; NONCE_LEN], T0, Duration::MAX);
        assert!(!forever.is_expired(datetime!(9999-12-31 00:00 UTC)));
        let mut stillborn =
            Challenge::with_parts(ChallengeId::new("y"), [0; NONCE_LEN], T0, Duration::MIN);
        assert_eq!(stillborn.expires_at, T0);
        assert_eq!(stillborn.redeem(T0), Err(ChallengeError::Expired));
        let mut zero =
            Challenge::with_parts(ChallengeId::new("z"), [0; NONCE_LEN], T0, Duration::ZERO);
        assert_eq!(zero.redeem(T0), Err(ChallengeError::Expired));
    }
}
