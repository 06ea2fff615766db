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
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
