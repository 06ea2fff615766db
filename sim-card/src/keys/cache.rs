//! Derived RSA keys kept on disk between processes.
//!
//! A derivation costs tens of milliseconds (the prime walk); a new process
//! (`kazasu card`, a scenario run, a test binary) would pay it for every key
//! of every card it starts. The cache keeps the two primes of each derived
//! key in a file named after (seed, label), so a later process loads the key
//! in about a millisecond. The derivation stays the source of truth: the cache
//! only ever holds what it produced, and a stored key is checked before use:
//!
//! - each prime lies at most [`MAX_WALK`] above the walk's start for this
//!   seed and label (recomputed from SHA-256), so the file holds primes walked
//!   to from *this* label, not another key's or a random one;
//! - each prime is odd, not 1 modulo `e`, distinct from the other, and passes
//!   a base-2 Fermat test (a flipped bit fails it);
//! - the file parses exactly (a torn or truncated file does not).
//!
//! What it does not re-check is that no prime lies between the start and the
//! stored one: that is the walk itself. Files are named with [`VERSION`], to be
//! changed whenever the derivation changes, so an older derivation's files are
//! never read. A file that fails a check is derived again and overwritten.
//!
//! Files are written under a temporary name and renamed into place, so
//! concurrent processes never read a partial file (they may both derive, and
//! both write the same bytes). The directory is created `0700` and the files
//! `0600`: they hold private keys, if only simulated ones. A cache that cannot
//! be read or written costs time, never a key: the key is derived.

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use openssl::bn::{BigNum, BigNumContext};
use openssl::error::ErrorStack;

use super::{
    PRIME_BYTES, PUBLIC_EXPONENT, RsaKey, derive_primes, key_from_primes, passes_fermat_base_2,
    prime_candidate,
};

/// Part of every file name: change it when the derivation changes.
pub(super) const VERSION: &str = "kazasu rsa-2048 key v1";

/// How far above its start a stored prime may lie. A walk visits some 350 odd
/// numbers on average; one of 2^19 has a probability far below 2^-1000. A key
/// whose walk went further would simply never be taken from the cache.
const MAX_WALK: u32 = 1 << 20;

/// Where derived keys are kept between processes, or nowhere.
#[derive(Debug, Clone)]
pub struct KeyCache {
    dir: Option<PathBuf>,
}

impl KeyCache {
    /// Keys kept in `dir` (created when the first key is stored).
    pub fn in_dir(dir: impl Into<PathBuf>) -> KeyCache {
        KeyCache {
            dir: Some(dir.into()),
        }
    }

    /// No cache: every key is derived.
    pub fn disabled() -> KeyCache {
        KeyCache { dir: None }
    }

    /// The user's cache: `$KAZASU_CACHE_DIR/keys`, else
    /// `$XDG_CACHE_HOME/kazasu/keys`, else `$HOME/.cache/kazasu/keys`; none
    /// when none of them is set.
    pub fn from_env() -> KeyCache {
        KeyCache::from_vars(|name| std::env::var_os(name))
    }

    fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> KeyCache {
        let var = |name| var(name).filter(|v| !v.is_empty());
        let root = var("KAZASU_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("kazasu")))
            .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache/kazasu")));
        KeyCache {
            dir: root.map(|root| root.join("keys")),
        }
    }

    /// [`KeyCache::from_env`], read once per process: what
    /// [`RsaKey::derive`] uses behind its memo.
    pub fn for_process() -> &'static KeyCache {
        static CACHE: OnceLock<KeyCache> = OnceLock::new();
        CACHE.get_or_init(KeyCache::from_env)
    }

    /// The directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The RSA key for `(seed, label)`, as [`RsaKey::derive`] gives it:
    /// loaded if this cache holds it and it passes the checks, else derived
    /// and stored. Not memoised: each call reads or derives.
    ///
    /// # Panics
    ///
    /// Only if OpenSSL itself fails (out of memory).
    pub fn rsa_key(&self, seed: &str, label: &str) -> RsaKey {
        self.try_rsa_key(seed, label)
            .expect("OpenSSL failed while deriving an RSA key")
    }

    fn try_rsa_key(&self, seed: &str, label: &str) -> Result<RsaKey, ErrorStack> {
        let mut ctx = BigNumContext::new()?;
        let path = self
            .dir
            .as_ref()
            .map(|dir| dir.join(file_name(seed, label)));
        if let Some(path) = &path {
            match load(path, seed, label, &mut ctx) {
                Ok(Some((p, q))) => return key_from_primes(label, p, q, &mut ctx),
                Ok(None) => {}
                Err(why) => {
                    tracing::debug!(path = %path.display(), %why, "key cache entry refused")
                }
            }
        }
        let (p, q) = derive_primes(seed, label, &mut ctx)?;
        if let Some(path) = &path
            && let Err(e) = store(path, &p, &q)
        {
            tracing::debug!(path = %path.display(), error = %e, "cannot store a derived key");
        }
        key_from_primes(label, p, q, &mut ctx)
    }
}

/// The file for `(seed, label)`: a hash, so that any seed or label makes a
/// plain file name and the directory listing shows neither.
fn file_name(seed: &str, label: &str) -> String {
    let mut input = Vec::new();
    for part in [VERSION, seed, label] {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    format!("{}.key", hex::encode(openssl::sha::sha256(&input)))
}

/// The stored primes, checked; `Ok(None)` when there is no file; `Err` with
/// the reason when there is one that fails a check.
fn load(
    path: &Path,
    seed: &str,
    label: &str,
    ctx: &mut BigNumContext,
) -> Result<Option<(BigNum, BigNum)>, String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut lines = text.lines();
    if lines.next() != Some(VERSION) {
        return Err("not a key file of this version".into());
    }
    let mut prime = |which: &str| -> Result<BigNum, String> {
        let line = lines.next().ok_or("truncated")?;
        let hex = line
            .strip_prefix(which)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| format!("no {which} line"))?;
        let bytes = hex::decode(hex).map_err(|e| e.to_string())?;
        if bytes.len() != PRIME_BYTES {
            return Err(format!("{which} is {} bytes", bytes.len()));
        }
        let value = BigNum::from_slice(&bytes).map_err(|e| e.to_string())?;
        check_prime(&value, seed, label, which, ctx).map_err(|why| format!("{which}: {why}"))?;
        Ok(value)
    };
    let p = prime("p")?;
    let q = prime("q")?;
    if lines.next().is_some() {
        return Err("trailing lines".into());
    }
    if p == q {
        return Err("p = q".into());
    }
    Ok(Some((p, q)))
}

/// The checks of one stored prime (see the module's documentation), also
/// those of a shipped one ([`super::shipped`]).
pub(super) fn check_prime(
    value: &BigNum,
    seed: &str,
    label: &str,
    which: &str,
    ctx: &mut BigNumContext,
) -> Result<(), String> {
    let openssl = |e: ErrorStack| e.to_string();
    let start = prime_candidate(seed, label, which).map_err(openssl)?;
    let mut distance = BigNum::new().map_err(openssl)?;
    distance.checked_sub(value, &start).map_err(openssl)?;
    if distance.is_negative() || distance > BigNum::from_u32(MAX_WALK).map_err(openssl)? {
        return Err("not on this label's walk".into());
    }
    if !value.is_bit_set(0) || value.mod_word(PUBLIC_EXPONENT).map_err(openssl)? == 1 {
        return Err("refused by the walk's rules".into());
    }
    if !passes_fermat_base_2(value, ctx).map_err(openssl)? {
        return Err("composite".into());
    }
    Ok(())
}

/// Writes the primes under a temporary name, then renames the file into
/// place: a reader sees the old file, no file, or the whole new one.
fn store(path: &Path, p: &BigNum, q: &BigNum) -> std::io::Result<()> {
    let dir = path.parent().expect("a cache file has a directory");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let text = format!(
        "{VERSION}\np {}\nq {}\n",
        hex::encode(p.to_vec_padded(PRIME_BYTES as i32)?),
        hex::encode(q.to_vec_padded(PRIME_BYTES as i32)?)
    );
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let temporary = path.with_extension(format!(
        "{}-{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary one.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kazasu-key-cache-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn private_der(key: &RsaKey) -> Vec<u8> {
        key.pkey().private_key_to_der().unwrap()
    }

    #[test]
    fn a_stored_key_loads_as_the_derived_key() {
        let dir = scratch("roundtrip");
        let cache = KeyCache::in_dir(&dir);
        let derived = KeyCache::disabled().rsa_key("cache-seed", "auth");
        let first = cache.rsa_key("cache-seed", "auth");
        assert_eq!(private_der(&first), private_der(&derived));
        let path = dir.join(file_name("cache-seed", "auth"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(VERSION), "{text}");
        let mut ctx = BigNumContext::new().unwrap();
        assert!(
            load(&path, "cache-seed", "auth", &mut ctx)
                .unwrap()
                .is_some()
        );
        let again = cache.rsa_key("cache-seed", "auth");
        assert_eq!(private_der(&again), private_der(&derived));
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // No temporary file left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_or_foreign_entry_is_refused_and_replaced() {
        let dir = scratch("refused");
        let cache = KeyCache::in_dir(&dir);
        let good = cache.rsa_key("cache-seed", "sign");
        let path = dir.join(file_name("cache-seed", "sign"));
        let text = fs::read_to_string(&path).unwrap();
        let other = cache.rsa_key("cache-seed", "other");
        let other_text = fs::read_to_string(dir.join(file_name("cache-seed", "other"))).unwrap();

        // One hex digit of p changed (near the end: still on the walk's
        // range only by luck, so it must be the Fermat test or the range
        // that refuses it), the file cut short, another label's primes, the
        // primes swapped, garbage, another version.
        let p_line = text.lines().nth(1).unwrap();
        let flipped_digit = {
            let mut line = p_line.to_owned();
            let last = line.pop().unwrap();
            line.push(if last == 'f' { 'd' } else { 'f' });
            text.replace(p_line, &line)
        };
        let lines: Vec<&str> = text.lines().collect();
        let damaged = [
            flipped_digit,
            text[..text.len() / 2].to_owned(),
            other_text,
            format!(
                "{}\n{}\n{}\n",
                lines[0],
                lines[2].replacen('q', "p", 1),
                lines[1].replacen('p', "q", 1)
            ),
            "not a key\n".to_owned(),
            text.replace("v1", "v0"),
            format!("{text}p 00\n"),
        ];
        let mut ctx = BigNumContext::new().unwrap();
        for bad in damaged {
            fs::write(&path, &bad).unwrap();
            assert!(
                load(&path, "cache-seed", "sign", &mut ctx).is_err(),
                "accepted:\n{bad}"
            );
            // The cache derives the key again and writes it back whole.
            let key = cache.rsa_key("cache-seed", "sign");
            assert_eq!(private_der(&key), private_der(&good));
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
        assert_ne!(private_der(&other), private_der(&good));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_writers_leave_one_whole_file() {
        let dir = scratch("concurrent");
        let (p, q) = {
            let mut ctx = BigNumContext::new().unwrap();
            derive_primes("cache-seed", "race", &mut ctx).unwrap()
        };
        let path = dir.join(file_name("cache-seed", "race"));
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        store(&path, &p, &q).unwrap();
                        let mut ctx = BigNumContext::new().unwrap();
                        let loaded = load(&path, "cache-seed", "race", &mut ctx).unwrap();
                        assert_eq!(loaded, Some((p.to_owned().unwrap(), q.to_owned().unwrap())));
                    }
                });
            }
        });
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unwritable_cache_still_gives_the_key() {
        let file = scratch("unwritable");
        fs::write(&file, "a file where the directory should be").unwrap();
        let key = KeyCache::in_dir(file.join("keys")).rsa_key("cache-seed", "auth");
        let derived = KeyCache::disabled().rsa_key("cache-seed", "auth");
        assert_eq!(private_der(&key), private_der(&derived));
        fs::remove_file(file).unwrap();
    }

    #[test]
    fn the_directory_comes_from_the_environment() {
        let with = |vars: &[(&str, &str)]| {
            KeyCache::from_vars(|name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            })
            .dir
        };
        let all = [
            ("KAZASU_CACHE_DIR", "/k"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(with(&all), Some(PathBuf::from("/k/keys")));
        assert_eq!(with(&all[1..]), Some(PathBuf::from("/x/kazasu/keys")));
        assert_eq!(
            with(&all[2..]),
            Some(PathBuf::from("/h/.cache/kazasu/keys"))
        );
        // Empty means unset, as for XDG variables.
        assert_eq!(
            with(&[("KAZASU_CACHE_DIR", ""), ("HOME", "/h")]),
            Some(PathBuf::from("/h/.cache/kazasu/keys"))
        );
        assert_eq!(with(&[]), None);
    }

    #[test]
    fn file_names_separate_seed_and_label() {
        assert_ne!(file_name("ab", "c"), file_name("a", "bc"));
        assert_eq!(file_name("s", "l"), file_name("s", "l"));
        let name = file_name("kazasu-default", "jpki-auth");
        assert!(!name.contains("kazasu-default"));
        assert_eq!(name.len(), 64 + 4);
    }
}
