//! Issued challenges, in memory.
//!
//! A challenge is single-use and lives two minutes: it need not survive a
//! restart (a client whose challenge was lost asks for another, as it would
//! after a time-out), so it never touches the disk. Keeping it in SQLite cost
//! a committed write per issue and another per redemption, the largest part
//! of a confirmation's database time.
//!
//! Redeemed challenges are kept until swept so that a replay is told
//! `challenge_used`, not `challenge_unknown`. The book is swept when it has
//! grown to twice its size after the last sweep (and at least [`SWEEP_AT`]
//! entries): challenges expired more than [`KEEP_EXPIRED`] before the newest
//! issue are forgotten, and if that is not enough to get under [`SWEEP_AT`],
//! the redeemed ones too. A forgotten challenge is refused as unknown, still
//! refused. Times are the service clock's (a frozen clock expires nothing).

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};

use super::StoredChallenge;

/// Entries below which the book is never swept.
pub(super) const SWEEP_AT: usize = 65_536;
/// How long after its expiry a challenge is still told apart as expired.
pub(super) const KEEP_EXPIRED: Duration = Duration::hours(1);

#[derive(Debug)]
pub(super) struct ChallengeBook {
    entries: HashMap<String, StoredChallenge>,
    next_sweep: usize,
}

impl Default for ChallengeBook {
    fn default() -> Self {
        ChallengeBook {
            entries: HashMap::new(),
            next_sweep: SWEEP_AT,
        }
    }
}

impl ChallengeBook {
    pub(super) fn insert(&mut self, challenge: &StoredChallenge) {
        if self.entries.len() >= self.next_sweep {
            self.sweep(challenge.issued_at);
        }
        self.entries.insert(challenge.id.clone(), challenge.clone());
    }

    /// The challenge as it was, marked used from now on.
    pub(super) fn take(&mut self, id: &str) -> Option<StoredChallenge> {
        let entry = self.entries.get_mut(id)?;
        let before = entry.clone();
        entry.used = true;
        Some(before)
    }

    /// Forgets the challenges that expired before `before`; returns how many.
    pub(super) fn purge(&mut self, before: OffsetDateTime) -> usize {
        let count = self.entries.len();
        self.entries.retain(|_, c| c.expires_at >= before);
        count - self.entries.len()
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.next_sweep = SWEEP_AT;
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    fn sweep(&mut self, now: OffsetDateTime) {
        self.purge(now - KEEP_EXPIRED);
        if self.entries.len() >= SWEEP_AT {
            self.entries.retain(|_, c| !c.used);
        }
        self.next_sweep = (2 * self.entries.len()).max(SWEEP_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-01 10:00 +09:00);

    fn challenge(n: usize, issued_at: OffsetDateTime) -> StoredChallenge {
        StoredChallenge {
            id: format!("{n:032x}"),
            nonce: vec![7; 32],
            issued_at,
            expires_at: issued_at + Duration::minutes(2),
            used: false,
        }
    }

    #[test]
    fn a_sweep_forgets_long_expired_then_used_challenges_and_keeps_the_live_ones() {
        let mut book = ChallengeBook::default();
        // Half long expired, half issued now; of those, every other one used.
        for n in 0..SWEEP_AT / 2 {
            book.insert(&challenge(n, T0 - Duration::hours(3)));
        }
        for n in SWEEP_AT / 2..SWEEP_AT {
            book.insert(&challenge(n, T0));
            if n % 2 == 0 {
                book.take(&challenge(n, T0).id);
            }
        }
        assert_eq!(book.len(), SWEEP_AT);
        book.insert(&challenge(SWEEP_AT, T0));
        // The expired half is gone; the rest is under SWEEP_AT, so the used
        // ones are still told apart.
        assert_eq!(book.len(), SWEEP_AT / 2 + 1);
        assert!(book.take(&challenge(0, T0).id).is_none());
        assert!(book.take(&challenge(SWEEP_AT / 2, T0).id).unwrap().used);
        assert!(!book.take(&challenge(SWEEP_AT / 2 + 1, T0).id).unwrap().used);

        // A frozen clock expires nothing: the used ones go, the live stay.
        let mut frozen = ChallengeBook::default();
        for n in 0..SWEEP_AT {
            frozen.insert(&challenge(n, T0));
            if n % 2 == 0 {
                frozen.take(&challenge(n, T0).id);
            }
        }
        frozen.insert(&challenge(SWEEP_AT, T0));
        assert_eq!(frozen.len(), SWEEP_AT / 2 + 1);
        assert!(frozen.take(&challenge(1, T0).id).is_some());
    }
}
