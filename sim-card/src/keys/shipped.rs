//! The RSA keys of kazasu's own profiles, persons and simulated PKI, shipped
//! as the length of each prime's walk: a fresh card is ready without a
//! derivation, even in a process with an empty key cache (a CI machine).
//!
//! A key is its two primes, and each prime is its walk's start (SHA-256 of
//! seed, label and which prime, cheap) plus an even distance below
//! [`super::cache`]'s `MAX_WALK`. `shipped_keys.txt` holds those two
//! distances for every RSA key the repository's built-in profiles (on every
//! variant), fixture persons, simulated JPKI, card issuer and service TLS
//! derive. It holds no key material a reader could not derive from the
//! public seeds, and the derivation stays the source of truth:
//!
//! - a shipped key passes the key cache's checks before use (on this
//!   label's walk, odd, not 1 modulo `e`, distinct primes, base-2 Fermat);
//!   one that fails is derived instead, with a warning;
//! - the file is written by `kazasu pki --shipped-keys` from fresh
//!   derivations (never from the cache), and CI regenerates it and compares;
//!   a test derives a few entries and compares them with the file;
//! - it is tied to the derivation's version line: a table of another
//!   version is not read at all.

use std::collections::HashMap;
use std::sync::OnceLock;

use openssl::bn::{BigNum, BigNumContext};
use openssl::error::ErrorStack;

use super::cache::{VERSION, check_prime};
use super::primes::{derive_primes, prime_candidate};

/// The table, as committed.
const TABLE: &str = include_str!("shipped_keys.txt");

/// The two walks' lengths of a shipped key: how far above its start each
/// prime lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walks {
    pub p: u32,
    pub q: u32,
}

/// The table parsed once: `(seed, label)` to the walks.
fn table() -> &'static HashMap<(String, String), Walks> {
    static TABLE_MAP: OnceLock<HashMap<(String, String), Walks>> = OnceLock::new();
    TABLE_MAP.get_or_init(|| match parse(TABLE) {
        Ok(map) => map,
        Err(why) => {
            tracing::warn!(%why, "the shipped key table is not read; keys are derived");
            HashMap::new()
        }
    })
}

/// Parses a table: `#` comment lines, the version line, then one
/// `seed<TAB>label<TAB>p<TAB>q` line per key.
fn parse(text: &str) -> Result<HashMap<(String, String), Walks>, String> {
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    if lines.next() != Some(VERSION) {
        return Err(format!("not a table of {VERSION:?}"));
    }
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [seed, label, p, q] = fields[..] else {
                return Err(format!("not seed, label, p and q: {line:?}"));
            };
            let walk = |n: &str| n.parse::<u32>().map_err(|e| format!("{n:?}: {e}"));
            Ok((
                (seed.to_owned(), label.to_owned()),
                Walks {
                    p: walk(p)?,
                    q: walk(q)?,
                },
            ))
        })
        .collect()
}

/// The primes of the shipped key for `(seed, label)`, checked: `Ok(None)`
/// when the table has no such key, `Err` with the reason when its entry
/// fails a check.
pub(super) fn primes(
    seed: &str,
    label: &str,
    ctx: &mut BigNumContext,
) -> Result<Option<(BigNum, BigNum)>, String> {
    let Some(walks) = table().get(&(seed.to_owned(), label.to_owned())) else {
        return Ok(None);
    };
    let mut prime = |which: &str, walk: u32| -> Result<BigNum, String> {
        let openssl = |e: ErrorStack| e.to_string();
        let mut value = prime_candidate(seed, label, which).map_err(openssl)?;
        value.add_word(walk).map_err(openssl)?;
        check_prime(&value, seed, label, which, ctx).map_err(|why| format!("{which}: {why}"))?;
        Ok(value)
    };
    let p = prime("p", walks.p)?;
    let q = prime("q", walks.q)?;
    if p == q {
        return Err("p = q".into());
    }
    Ok(Some((p, q)))
}

/// The walks of `(seed, label)` from a fresh derivation (no table, no
/// cache): what the table must say. Seconds for a few keys.
pub fn derive_walks(seed: &str, label: &str) -> Result<Walks, ErrorStack> {
    let mut ctx = BigNumContext::new()?;
    let (p, q) = derive_primes(seed, label, &mut ctx)?;
    let distance = |prime: &BigNum, which: &str| -> Result<u32, ErrorStack> {
        let mut d = BigNum::new()?;
        let start = prime_candidate(seed, label, which)?;
        d.checked_sub(prime, &start)?;
        // A walk past u32 would need some 2^31 composites in a row.
        Ok(d.to_dec_str()?.parse().unwrap_or(u32::MAX))
    };
    Ok(Walks {
        p: distance(&p, "p")?,
        q: distance(&q, "q")?,
    })
}

/// The table for `keys` (`(seed, label)`, each with its walks), sorted: the
/// file `kazasu pki --shipped-keys` writes.
pub fn render(keys: &[((String, String), Walks)]) -> String {
    let mut keys = keys.to_vec();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys.dedup_by(|a, b| a.0 == b.0);
    let mut out = String::from(
        "# The RSA keys kazasu's built-in profiles, fixture persons and simulated PKI\n\
         # derive: seed, label, and how far above its walk's start each prime lies\n\
         # (sim-card/src/keys/shipped.rs). Written by `kazasu pki --shipped-keys`.\n",
    );
    out.push_str(VERSION);
    out.push('\n');
    for ((seed, label), walks) in keys {
        out.push_str(&format!("{seed}\t{label}\t{}\t{}\n", walks.p, walks.q));
    }
    out
}

/// The shipped table's keys and walks, as committed.
pub fn shipped() -> Vec<((String, String), Walks)> {
    let mut keys: Vec<_> = table().iter().map(|(k, w)| (k.clone(), *w)).collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{AUTH_KEY_LABEL, SIGN_KEY_LABEL};

    #[test]
    fn every_shipped_entry_passes_the_checks() {
        let mut ctx = BigNumContext::new().unwrap();
        let keys = shipped();
        assert!(keys.len() > 20, "{} keys", keys.len());
        for ((seed, label), _) in &keys {
            assert!(
                matches!(primes(seed, label, &mut ctx), Ok(Some(_))),
                "{seed} {label}"
            );
        }
    }

    #[test]
    fn shipped_walks_are_what_derivation_gives() {
        // A few keys (a derivation each): the default card's, one of the
        // JPKI CAs'. CI checks the whole table (`kazasu pki --shipped-keys`).
        for (seed, label) in [
            ("kazasu-default", AUTH_KEY_LABEL),
            ("kazasu-default", SIGN_KEY_LABEL),
            ("kazasu-jpki", "jpki-ca-auth"),
        ] {
            let shipped = table().get(&(seed.to_owned(), label.to_owned())).copied();
            assert_eq!(
                shipped,
                Some(derive_walks(seed, label).unwrap()),
                "{seed} {label}"
            );
        }
    }

    #[test]
    fn a_wrong_walk_is_refused() {
        let mut ctx = BigNumContext::new().unwrap();
        let walks = table()
            .get(&("kazasu-default".to_owned(), AUTH_KEY_LABEL.to_owned()))
            .copied()
            .unwrap();
        // Two further along the walk: odd still, not the prime (the next
        // prime is hundreds away), so the Fermat test refuses it.
        let mut value = prime_candidate("kazasu-default", AUTH_KEY_LABEL, "p").unwrap();
        value.add_word(walks.p + 2).unwrap();
        assert!(check_prime(&value, "kazasu-default", AUTH_KEY_LABEL, "p", &mut ctx).is_err());
    }

    #[test]
    fn the_table_round_trips_and_other_versions_are_refused() {
        let keys = shipped();
        let text = render(&keys);
        assert_eq!(parse(&text).unwrap().len(), keys.len());
        assert_eq!(text, TABLE, "the committed file is in render's form");
        assert!(parse(&text.replace(VERSION, "kazasu rsa-2048 key v0")).is_err());
        assert!(parse(&format!("{VERSION}\nseed\tlabel\t1\n")).is_err());
    }
}
