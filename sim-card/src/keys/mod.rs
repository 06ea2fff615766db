//! The card's keys: derived from the profile seed, used the way the card uses them.
//!
//! A real card generates its keys on chip and never lets them out. The simulator
//! instead derives each key from a seed and a label, so that the same profile gives
//! the same keys (and so the same certificates) on every run and every machine: a
//! recorded session can be replayed, and a service under test can pin a key.
//!
//! Derivation: two 1024-bit primes, each found by stepping from a candidate drawn
//! out of SHA-256 in counter mode over (seed, label, which prime). The top two bits
//! of each candidate are set, so the modulus is exactly 2048 bits, and the low bit,
//! so the walk visits odd numbers only. The walk stops at the first number that
//! OpenSSL's primality test accepts and for which `p - 1` is prime to `e = 65537`.
//! A prime is accepted by that test whatever its random witnesses, and a composite
//! passes with probability below 2^-128, so the walk ends on the same number
//! everywhere. The private exponent is `e^-1 mod lcm(p-1, q-1)`, as OpenSSL's own
//! key generation computes it.
//!
//! OpenSSL's test costs 64 Miller-Rabin rounds on a prime, and rules out by trial
//! division only numbers with a factor below ~700; the rest of the ~350 numbers
//! a walk visits each cost one round. So the walk first skips what a sieve by the
//! odd primes below 2^16 and a base-2 Fermat test prove composite, and runs
//! OpenSSL's test only on what remains (the prime, as a rule): the same walk, to
//! the same number, in about half the time. `RSA_check_key`, which tested both
//! primes again, is gone for the same reason: it was a third of the time.
//!
//! The keys of the repository's own profiles, persons and simulated PKI are
//! shipped as the lengths of their primes' walks ([`shipped`]): checked like
//! a cached key, they cost about a millisecond each with no cache at all.
//!
//! Keys are memoised per process (the scenario runner and the tests start many
//! cards from the same few profiles; a second `derive` takes microseconds) and
//! kept on disk between processes ([`KeyCache`]): a stored key is checked against
//! its label, never taken on trust, and costs about a millisecond to load instead
//! of a derivation. Measured on the 2-core development machine (CPU time per key,
//! under load): the old walk 95 to 160 ms (about 110 ms); see `KeyCache` and the
//! `card` bench for the figures now. A signature takes about 0.25 ms: some 3,700
//! to 4,000 a second on one core.
//!
//! The iPhone's JPKI key lives in the Secure Enclave, which holds ECDSA P-256 keys
//! only, so the simulator models that key as P-256 ([`EcKey`], docs/client-apdus.md, Phones). Its
//! derivation is simpler: the private scalar is SHA-256 in counter mode over
//! (seed, label), the first output in `1..n` (n the group order); the public point
//! is the scalar times the generator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use openssl::error::ErrorStack;

mod cache;
mod ec;
mod primes;
mod rsa;
pub mod shipped;

pub use cache::KeyCache;
pub use ec::{EC_DIGEST_LEN, EC_POINT_LEN, EcKey};
use primes::{PRIME_BYTES, derive_primes, passes_fermat_base_2, prime_candidate};
pub use rsa::RsaKey;
use rsa::key_from_primes;

/// Label of the user-authentication key (EF 0017) under a card profile's seed.
pub const AUTH_KEY_LABEL: &str = "jpki-auth";
/// Label of the signature key (EF 001A) under a card profile's seed.
pub const SIGN_KEY_LABEL: &str = "jpki-sign";
/// The label of the user-authentication key of the card added to an iPhone
/// (ECDSA P-256: the Secure Enclave's only curve, or RSA-2048 when the profile
/// asks for it).
pub const IPHONE_AUTH_KEY_LABEL: &str = "jpki-auth-iphone";
/// The label of the iPhone's signature key.
pub const IPHONE_SIGN_KEY_LABEL: &str = "jpki-sign-iphone";
/// The label of the user-authentication key of the card added to an Android
/// phone (RSA-2048, like the plastic card's, but a key of its own).
pub const ANDROID_AUTH_KEY_LABEL: &str = "jpki-auth-android";
/// The label of the Android phone's signature key.
pub const ANDROID_SIGN_KEY_LABEL: &str = "jpki-sign-android";

/// Bits of the modulus: the card's keys are RSA-2048.
pub const MODULUS_BITS: usize = 2048;
/// The public exponent of every card key.
pub const PUBLIC_EXPONENT: u32 = 65_537;
/// Bytes of a signature: the modulus length.
pub const SIGNATURE_LEN: usize = MODULUS_BITS / 8;
/// The longest input COMPUTE DIGITAL SIGNATURE accepts: PKCS#1 v1.5 type-1 padding
/// needs `00 01`, at least eight `FF` and a `00` around the data.
pub const MAX_SIGN_INPUT: usize = SIGNATURE_LEN - 11;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The data to sign is empty or longer than [`MAX_SIGN_INPUT`]; the card answers
    /// this with a status word rather than a signature.
    #[error("data to sign is {0} bytes; the card signs 1 to {MAX_SIGN_INPUT}")]
    InputLength(usize),
    /// An ECDSA P-256 key signs a SHA-256 digest: exactly [`EC_DIGEST_LEN`] bytes.
    #[error("digest is {0} bytes; a P-256 key signs a {EC_DIGEST_LEN}-byte SHA-256 digest")]
    DigestLength(usize),
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] ErrorStack),
}

/// Keys already derived in this process, one slot per (seed, label). A slot is
/// filled once; threads asking for different keys derive them in parallel, threads
/// asking for the same key wait for the one derivation.
type Memo<K> = Mutex<HashMap<(String, String), Arc<OnceLock<K>>>>;

/// The slot for `(seed, label)` in `memo`, created empty if new. The map's lock is
/// held only to find the slot, never while a key is derived.
fn slot<K>(memo: &Memo<K>, seed: &str, label: &str) -> Arc<OnceLock<K>> {
    let mut memo = memo.lock().unwrap_or_else(|e| e.into_inner());
    memo.entry((seed.to_owned(), label.to_owned()))
        .or_default()
        .clone()
}
