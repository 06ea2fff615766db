//! Console sessions: who logged in, and the CSRF token their forms carry.
//!
//! Sessions live in memory only (a restart logs everyone out, which a test
//! bench can afford) and expire after [`SESSION_LIFETIME`] of real time —
//! not of the service clock, which a tester freezes and moves at will.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a login lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// At most this many live sessions; the oldest goes first. Keeps a client
/// that logs in in a loop from growing the map without bound.
const MAX_SESSIONS: usize = 64;

/// Wrong passwords in a row that are answered at once; after them, each
/// further login waits a back-off.
pub const FREE_FAILURES: u32 = 5;
/// The first back-off; it doubles with every further wrong password.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// Every POST form of this session carries it back.
    pub csrf: String,
    started: Instant,
    /// Start order: the oldest is evicted first.
    serial: u64,
}

/// The live sessions, by session id (the cookie's value).
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<Live>>);

#[derive(Debug, Default)]
struct Live {
    by_id: HashMap<String, ConsoleSession>,
    started: u64,
    /// Wrong passwords since the last good one.
    failures: u32,
    /// No login is tried before then.
    locked_until: Option<Instant>,
}

/// A fresh random token: 32 bytes from OpenSSL's CSPRNG, lower-case hex.
pub fn random_token() -> Result<String, openssl::error::ErrorStack> {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(hex::encode(bytes))
}

impl Sessions {
    /// Starts a session; returns its id and the session.
    pub fn start(&self) -> Result<(String, ConsoleSession), openssl::error::ErrorStack> {
        let id = random_token()?;
        let csrf = random_token()?;
        let mut live = self.lock();
        live.started += 1;
        let session = ConsoleSession {
            csrf,
            started: Instant::now(),
            serial: live.started,
        };
        let map = &mut live.by_id;
        map.retain(|_, s| s.started.elapsed() < SESSION_LIFETIME);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.serial)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<ConsoleSession> {
        let map = &mut self.lock().by_id;
        match map.get(id) {
            Some(s) if s.started.elapsed() < SESSION_LIFETIME => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// How long before a login may be tried, if it may not be now. The
    /// back-off is the console's, not a client's: every client of a service
    /// on loopback comes from the same address, so there is no one else to
    /// count per; a tester locked out waits at most [`MAX_BACKOFF`].
    pub fn login_wait(&self) -> Option<Duration> {
        let until = self.lock().locked_until?;
        until.checked_duration_since(Instant::now())
    }

    /// A wrong password: after [`FREE_FAILURES`], the next login waits.
    pub fn login_failed(&self) {
        let mut live = self.lock();
        live.failures = live.failures.saturating_add(1);
        if let Some(over) = live.failures.checked_sub(FREE_FAILURES + 1) {
            let wait = FIRST_BACKOFF
                .checked_mul(1u32 << over.min(16))
                .map_or(MAX_BACKOFF, |w| w.min(MAX_BACKOFF));
            live.locked_until = Some(Instant::now() + wait);
        }
    }

    /// The right password: the count starts again.
    pub fn login_succeeded(&self) {
        let mut live = self.lock();
        live.failures = 0;
        live.locked_until = None;
    }

    pub fn end(&self, id: &str) {
        self.lock().by_id.remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        // A panic elsewhere cannot leave the map half-updated.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_until_it_ends() {
        let sessions = Sessions::default();
        let (id, session) = sessions.start().unwrap();
        assert_eq!(sessions.get(&id), Some(session.clone()));
        assert_eq!(session.csrf.len(), 64);
        assert_ne!(session.csrf, id);
        sessions.end(&id);
        assert_eq!(sessions.get(&id), None);
    }

    #[test]
    fn the_oldest_session_makes_room() {
        let sessions = Sessions::default();
        let (first, _) = sessions.start().unwrap();
        for _ in 0..MAX_SESSIONS {
            sessions.start().unwrap();
        }
        assert_eq!(sessions.get(&first), None);
        assert_eq!(sessions.lock().by_id.len(), MAX_SESSIONS);
    }

    #[test]
    fn wrong_passwords_back_off() {
        let sessions = Sessions::default();
        for _ in 0..FREE_FAILURES {
            sessions.login_failed();
            assert_eq!(sessions.login_wait(), None);
        }
        sessions.login_failed();
        let first = sessions
            .login_wait()
            .expect("a back-off after the free failures");
        assert!(first <= FIRST_BACKOFF && first > FIRST_BACKOFF / 2);
        sessions.login_failed();
        assert!(sessions.login_wait().unwrap() > FIRST_BACKOFF);
        for _ in 0..64 {
            sessions.login_failed();
        }
        assert!(sessions.login_wait().unwrap() <= MAX_BACKOFF);
        sessions.login_succeeded();
        assert_eq!(sessions.login_wait(), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
