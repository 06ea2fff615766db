//! PINs with retry counters.
//!
//! Every PIN on the card behaves the same way: a wrong value decrements the
//! counter and answers `63 Cx` with the tries left; the attempt that exhausts
//! it answers `63 C0`; a blocked PIN answers `69 84` to any further attempt
//! and can only be reset by its issuer (here, the control API); a right value
//! answers `90 00` and restores the counter to its maximum.

/// Tries of the user-authentication PIN (OpenSC: `JPKI_AUTH_PIN_MAX_TRIES`).
pub const AUTH_PIN_TRIES: u8 = 3;
/// Tries of the signature password.
pub const SIGN_PIN_TRIES: u8 = 5;
/// Tries of the text (券面事項入力補助) PIN.
pub const TEXT_PIN_TRIES: u8 = 3;
/// Tries of the card-surface verification numbers 照合番号A and B. The real
/// count is not public; ten is this simulator's documented choice.
pub const SURFACE_PIN_TRIES: u8 = 10;

/// One PIN object on the card.
#[derive(Clone)]
pub struct Pin {
    value: Vec<u8>,
    max_tries: u8,
    tries_left: u8,
}

impl std::fmt::Debug for Pin {
    // A PIN's value never appears in debug output or logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pin")
            .field("max_tries", &self.max_tries)
            .field("tries_left", &self.tries_left)
            .finish_non_exhaustive()
    }
}

/// What a VERIFY with data did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Right value: the counter is back at its maximum.
    Verified,
    /// Wrong value; this many tries remain (0 means now blocked).
    Wrong { tries_left: u8 },
    /// The PIN was already blocked; nothing was compared.
    Blocked,
}

impl Pin {
    /// A PIN with `max_tries` of which `tries_left` remain.
    pub fn new(value: impl Into<Vec<u8>>, max_tries: u8, tries_left: u8) -> Self {
        Pin {
            value: value.into(),
            max_tries,
            tries_left: tries_left.min(max_tries),
        }
    }

    pub fn tries_left(&self) -> u8 {
        self.tries_left
    }

    pub fn max_tries(&self) -> u8 {
        self.max_tries
    }

    pub fn is_blocked(&self) -> bool {
        self.tries_left == 0
    }

    /// Compares `attempt` with the PIN, updating the counter.
    pub fn verify(&mut self, attempt: &[u8]) -> VerifyOutcome {
        if self.is_blocked() {
            return VerifyOutcome::Blocked;
        }
        if constant_time_eq(attempt, &self.value) {
            self.tries_left = self.max_tries;
            VerifyOutcome::Verified
        } else {
            self.tries_left -= 1;
            VerifyOutcome::Wrong {
                tries_left: self.tries_left,
            }
        }
    }

    /// Replaces the value (CHANGE REFERENCE DATA after a VERIFY).
    pub fn change(&mut self, new_value: &[u8]) {
        self.value = new_value.to_vec();
    }

    /// Sets the counter directly: the issuer's reset, or a test's lock.
    pub fn set_tries_left(&mut self, tries_left: u8) {
        self.tries_left = tries_left.min(self.max_tries);
    }
}

/// Compares without an early exit, so that the time taken does not reveal how
/// many leading characters of a guess were right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wrong_wrong_right_restores_the_counter() {
        let mut pin = Pin::new(*b"1234", 3, 3);
        assert_eq!(pin.verify(b"0000"), VerifyOutcome::Wrong { tries_left: 2 });
        assert_eq!(pin.verify(b"1111"), VerifyOutcome::Wrong { tries_left: 1 });
        assert_eq!(pin.verify(b"1234"), VerifyOutcome::Verified);
        assert_eq!(pin.tries_left(), 3);
    }

    #[test]
    fn exhausting_blocks_for_good() {
        let mut pin = Pin::new(*b"1234", 3, 1);
        assert_eq!(pin.verify(b"9999"), VerifyOutcome::Wrong { tries_left: 0 });
        assert!(pin.is_blocked());
        assert_eq!(pin.verify(b"1234"), VerifyOutcome::Blocked);
        assert_eq!(pin.tries_left(), 0);
    }

    #[test]
    fn debug_never_shows_the_value() {
        let pin = Pin::new(*b"4321", 3, 3);
        assert!(!format!("{pin:?}").contains("4321"));
    }

    proptest! {
        /// Whatever is tried, the counter never rises except on the right PIN,
        /// never exceeds the maximum, and a blocked PIN stays blocked.
        #[test]
        fn counter_invariants(attempts in proptest::collection::vec(
            prop_oneof![Just(b"1234".to_vec()), proptest::collection::vec(any::<u8>(), 0..8)], 0..20)) {
            let mut pin = Pin::new(*b"1234", 3, 3);
            for attempt in attempts {
                let before = pin.tries_left();
                let outcome = pin.verify(&attempt);
                prop_assert!(pin.tries_left() <= 3);
                match outcome {
                    VerifyOutcome::Verified => prop_assert_eq!(pin.tries_left(), 3),
                    VerifyOutcome::Wrong { tries_left } => {
                        prop_assert_eq!(tries_left, before - 1);
                        prop_assert_eq!(pin.tries_left(), tries_left);
                    }
                    VerifyOutcome::Blocked => {
                        prop_assert_eq!(before, 0);
                        prop_assert_eq!(pin.tries_left(), 0);
                    }
                }
            }
        }
    }
}
