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
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::ec::{EcGroup, EcPoint, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::hash::{Hasher, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};

mod cache;
pub use cache::KeyCache;

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

/// An RSA-2048 private key. Cloning is cheap: clones share one key.
#[derive(Clone)]
pub struct RsaKey {
    inner: Arc<Inner>,
}

struct Inner {
    label: String,
    pkey: PKey<Private>,
    /// `RSAPublicKey` (PKCS#1), the contents of the certificate's key BIT STRING.
    rsa_public_key_der: Vec<u8>,
    /// `SubjectPublicKeyInfo`.
    spki_der: Vec<u8>,
}

impl fmt::Debug for RsaKey {
    // Never the private key, and never the seed either: seed and label are enough to
    // derive the key again. The label and a fingerprint of the public key say which
    // key it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fingerprint = openssl::sha::sha256(&self.inner.spki_der);
        f.debug_struct("RsaKey")
            .field("label", &self.inner.label)
            .field("bits", &MODULUS_BITS)
            .field("spki_sha256", &hex::encode(&fingerprint[..8]))
            .finish_non_exhaustive()
    }
}

/// Keys already derived in this process, one slot per (seed, label). A slot is
/// filled once; threads asking for different keys derive them in parallel, threads
/// asking for the same key wait for the one derivation.
type Memo<K> = Mutex<HashMap<(String, String), Arc<OnceLock<K>>>>;

fn memo() -> &'static Memo<RsaKey> {
    static MEMO: OnceLock<Memo<RsaKey>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

/// The slot for `(seed, label)` in `memo`, created empty if new. The map's lock is
/// held only to find the slot, never while a key is derived.
fn slot<K>(memo: &Memo<K>, seed: &str, label: &str) -> Arc<OnceLock<K>> {
    let mut memo = memo.lock().unwrap_or_else(|e| e.into_inner());
    memo.entry((seed.to_owned(), label.to_owned()))
        .or_default()
        .clone()
}

impl RsaKey {
    /// The RSA-2048 key for `(seed, label)`: the same inputs give the same key in
    /// every process on every machine. Derived once per process, then shared.
    ///
    /// # Panics
    ///
    /// Only if OpenSSL itself fails (out of memory): the arithmetic cannot fail
    /// on the values it is given.
    pub fn derive(seed: &str, label: &str) -> RsaKey {
        slot(memo(), seed, label)
            .get_or_init(|| KeyCache::for_process().rsa_key(seed, label))
            .clone()
    }

    /// What COMPUTE DIGITAL SIGNATURE does: PKCS#1 v1.5 type-1 padding around
    /// `digest_info` as given, then the private-key operation. The card does not
    /// hash and does not check that the input is a DigestInfo: clients send one
    /// (SHA-1, SHA-256, SHA-384 or SHA-512), and the verifier's hash check is what
    /// gives it meaning. The result is always [`SIGNATURE_LEN`] bytes.
    pub fn sign_digest_info(&self, digest_info: &[u8]) -> Result<Vec<u8>, KeyError> {
        if digest_info.is_empty() || digest_info.len() > MAX_SIGN_INPUT {
            return Err(KeyError::InputLength(digest_info.len()));
        }
        // No message digest is set on the context, so OpenSSL pads the input as it
        // stands (type 1) instead of wrapping it in a DigestInfo of its own.
        let mut ctx = PkeyCtx::new(&self.inner.pkey)?;
        ctx.sign_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        let mut signature = Vec::with_capacity(SIGNATURE_LEN);
        ctx.sign_to_vec(digest_info, &mut signature)?;
        debug_assert_eq!(signature.len(), SIGNATURE_LEN);
        Ok(signature)
    }

    /// The public key as a DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.inner.spki_der
    }

    /// The public key as a DER `RSAPublicKey` (PKCS#1): what a certificate's
    /// subjectPublicKey BIT STRING holds.
    pub fn rsa_public_key_der(&self) -> &[u8] {
        &self.inner.rsa_public_key_der
    }

    /// The private key as PKCS#8 PEM. Only the simulated CAs' keys have a reason to
    /// leave the process (a mock service that signs OCSP answers or CRLs with them);
    /// a card key never leaves the card.
    pub fn private_key_pem(&self) -> Result<String, KeyError> {
        let pem = self.inner.pkey.private_key_to_pem_pkcs8()?;
        Ok(String::from_utf8(pem).expect("PEM is ASCII"))
    }

    /// The OpenSSL key, for signing certificates and for checks in tests.
    pub fn pkey(&self) -> &PKey<Private> {
        &self.inner.pkey
    }
}

/// Bytes of the digest an [`EcKey`] signs: a SHA-256 hash.
pub const EC_DIGEST_LEN: usize = 32;
/// Bytes of an uncompressed P-256 point (`04 || x || y`): what a certificate's
/// subjectPublicKey BIT STRING holds for an EC key.
pub const EC_POINT_LEN: usize = 65;

/// An ECDSA P-256 private key, as the iPhone's Secure Enclave holds one. Cloning is
/// cheap: clones share one key.
#[derive(Clone)]
pub struct EcKey {
    inner: Arc<EcInner>,
}

struct EcInner {
    label: String,
    ec: openssl::ec::EcKey<Private>,
    pkey: PKey<Private>,
    /// The uncompressed public point, the contents of the certificate's key BIT STRING.
    point: Vec<u8>,
    /// `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1).
    spki_der: Vec<u8>,
}

impl fmt::Debug for EcKey {
    // As for RsaKey: the label and a fingerprint of the public key, never the
    // scalar or the seed it comes from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fingerprint = openssl::sha::sha256(&self.inner.spki_der);
        f.debug_struct("EcKey")
            .field("label", &self.inner.label)
            .field("curve", &"P-256")
            .field("spki_sha256", &hex::encode(&fingerprint[..8]))
            .finish_non_exhaustive()
    }
}

fn ec_memo() -> &'static Memo<EcKey> {
    static MEMO: OnceLock<Memo<EcKey>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
}

impl EcKey {
    /// The P-256 key for `(seed, label)`: the same inputs give the same key in every
    /// process on every machine. Derived once per process, then shared, like
    /// [`RsaKey::derive`]; a P-256 derivation is cheap (well under a millisecond),
    /// but sharing also keeps one key's clones pointer-equal.
    ///
    /// # Panics
    ///
    /// Only if OpenSSL itself fails (out of memory, or a build without P-256).
    pub fn derive(seed: &str, label: &str) -> EcKey {
        slot(ec_memo(), seed, label)
            .get_or_init(|| {
                derive_ec_uncached(seed, label).expect("OpenSSL failed while deriving a P-256 key")
            })
            .clone()
    }

    /// An ECDSA signature over `digest`, which must be a 32-byte SHA-256 hash the
    /// caller computed (the phone, like the card, is handed what to sign). The
    /// result is the DER `ECDSA-Sig-Value`, 70 to 72 bytes as a rule.
    ///
    /// Unlike the card's RSA signatures these are not reproducible: OpenSSL draws a
    /// fresh nonce for each, so two signatures over one digest differ, and both
    /// verify.
    pub fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        if digest.len() != EC_DIGEST_LEN {
            return Err(KeyError::DigestLength(digest.len()));
        }
        let signature = EcdsaSig::sign(digest, &self.inner.ec)?;
        Ok(signature.to_der()?)
    }

    /// The public key as a DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.inner.spki_der
    }

    /// The public key as an uncompressed point, [`EC_POINT_LEN`] bytes: what a
    /// certificate's subjectPublicKey BIT STRING holds.
    pub fn public_point(&self) -> &[u8] {
        &self.inner.point
    }

    /// The OpenSSL key, for checks in tests.
    pub fn pkey(&self) -> &PKey<Private> {
        &self.inner.pkey
    }
}

/// The P-256 group (prime256v1, secp256r1).
fn p256() -> Result<EcGroup, ErrorStack> {
    EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
}

fn derive_ec_uncached(seed: &str, label: &str) -> Result<EcKey, ErrorStack> {
    let group = p256()?;
    let mut ctx = BigNumContext::new()?;
    let mut order = BigNum::new()?;
    group.order(&mut order, &mut ctx)?;

    // A uniform scalar in 1..n: take SHA-256 outputs until one falls in range.
    // n is just under 2^256, so the first one does but for a chance near 2^-32.
    let mut counter = 0u32;
    let scalar = loop {
        let mut h = Hasher::new(MessageDigest::sha256())?;
        for part in ["kazasu p-256 scalar", seed, label] {
            h.update(&(part.len() as u64).to_be_bytes())?;
            h.update(part.as_bytes())?;
        }
        h.update(&counter.to_be_bytes())?;
        let candidate = BigNum::from_slice(&h.finish()?)?;
        if candidate.num_bits() > 0 && candidate < order {
            break candidate;
        }
        counter += 1;
    };

    let mut public = EcPoint::new(&group)?;
    public.mul_generator2(&group, &scalar, &mut ctx)?;
    let ec = openssl::ec::EcKey::from_private_components(&group, &scalar, &public)?;
    ec.check_key()?;
    let point = public.to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)?;
    let pkey = PKey::from_ec_key(ec.clone())?;
    let spki_der = pkey.public_key_to_der()?;
    Ok(EcKey {
        inner: Arc::new(EcInner {
            label: label.to_owned(),
            ec,
            pkey,
            point,
            spki_der,
        }),
    })
}

/// The two primes of the key for `(seed, label)`: the expensive part of a
/// derivation, and all a cached key needs to keep.
fn derive_primes(
    seed: &str,
    label: &str,
    ctx: &mut BigNumContext,
) -> Result<(BigNum, BigNum), ErrorStack> {
    let p = walk_to_prime(prime_candidate(seed, label, "p")?, ctx)?;
    let mut q = walk_to_prime(prime_candidate(seed, label, "q")?, ctx)?;
    let mut retry = 0u32;
    // Equal primes would need a SHA-256 collision in practice; the loop makes the
    // derivation total anyway.
    while q == p {
        retry += 1;
        q = walk_to_prime(prime_candidate(seed, label, &format!("q{retry}"))?, ctx)?;
    }
    Ok((p, q))
}

/// The RSA key with primes `p` and `q` and exponent [`PUBLIC_EXPONENT`]:
/// the private exponent as OpenSSL's own key generation computes it.
///
/// No `RSA_check_key` here: it tests both primes again with 64 Miller-Rabin
/// rounds each, a third of a derivation's time, to confirm what the walk
/// has just established (and the cache has checked for a stored key).
fn key_from_primes(
    label: &str,
    p: BigNum,
    q: BigNum,
    ctx: &mut BigNumContext,
) -> Result<RsaKey, ErrorStack> {
    let e = BigNum::from_u32(PUBLIC_EXPONENT)?;
    let one = BigNum::from_u32(1)?;
    let p1 = sub(&p, &one)?;
    let q1 = sub(&q, &one)?;

    let mut n = BigNum::new()?;
    n.checked_mul(&p, &q, ctx)?;
    let mut phi = BigNum::new()?;
    phi.checked_mul(&p1, &q1, ctx)?;
    let mut g = BigNum::new()?;
    g.gcd(&p1, &q1, ctx)?;
    let mut lambda = BigNum::new()?;
    lambda.checked_div(&phi, &g, ctx)?;

    let mut d = BigNum::new()?;
    d.mod_inverse(&e, &lambda, ctx)?;
    let mut dmp1 = BigNum::new()?;
    dmp1.nnmod(&d, &p1, ctx)?;
    let mut dmq1 = BigNum::new()?;
    dmq1.nnmod(&d, &q1, ctx)?;
    let mut iqmp = BigNum::new()?;
    iqmp.mod_inverse(&q, &p, ctx)?;

    let rsa = Rsa::from_private_components(n, e, d, p, q, dmp1, dmq1, iqmp)?;
    let rsa_public_key_der = rsa.public_key_to_der_pkcs1()?;
    let pkey = PKey::from_rsa(rsa)?;
    let spki_der = pkey.public_key_to_der()?;
    Ok(RsaKey {
        inner: Arc::new(Inner {
            label: label.to_owned(),
            pkey,
            rsa_public_key_der,
            spki_der,
        }),
    })
}

fn sub(a: &BigNumRef, b: &BigNumRef) -> Result<BigNum, ErrorStack> {
    let mut r = BigNum::new()?;
    r.checked_sub(a, b)?;
    Ok(r)
}

/// Bytes of each prime: half the modulus.
const PRIME_BYTES: usize = MODULUS_BITS / 16;

/// Where the walk for `which` prime starts: 1024 bits of SHA-256 in counter
/// mode over (seed, label, which), top two bits and low bit set.
fn prime_candidate(seed: &str, label: &str, which: &str) -> Result<BigNum, ErrorStack> {
    let mut bytes = Vec::with_capacity(PRIME_BYTES);
    let mut counter = 0u32;
    while bytes.len() < PRIME_BYTES {
        let mut h = Hasher::new(MessageDigest::sha256())?;
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        for part in ["kazasu rsa prime", seed, label, which] {
            h.update(&(part.len() as u64).to_be_bytes())?;
            h.update(part.as_bytes())?;
        }
        h.update(&counter.to_be_bytes())?;
        bytes.extend_from_slice(&h.finish()?);
        counter += 1;
    }
    bytes.truncate(PRIME_BYTES);
    // Top two bits: the product of two such numbers has exactly 2048 bits.
    bytes[0] |= 0xC0;
    // Odd, so stepping by two visits odd numbers only.
    bytes[PRIME_BYTES - 1] |= 0x01;
    BigNum::from_slice(&bytes)
}

/// Odd numbers the sieve looks at in one pass of the walk. A walk visits
/// about 350 on average (primes near 2^1024 are ~710 apart); a longer one
/// takes another pass.
const SIEVE_WINDOW: usize = 4096;

/// The odd primes below 2^16: the sieve's divisors.
fn small_primes() -> &'static [u32] {
    static PRIMES: OnceLock<Vec<u32>> = OnceLock::new();
    PRIMES.get_or_init(|| {
        const LIMIT: usize = 1 << 16;
        let mut composite = vec![false; LIMIT];
        let mut primes = Vec::new();
        for n in (3..LIMIT).step_by(2) {
            if !composite[n] {
                primes.push(n as u32);
                for multiple in (n * n..LIMIT).step_by(2 * n) {
                    composite[multiple] = true;
                }
            }
        }
        primes
    })
}

/// Which of `base`, `base + 2`, …, `base + 2·(window - 1)` the walk
/// can skip without a primality test: those with an odd prime factor below
/// 2^16 (composite: every number here is far above 2^16), and those that are
/// 1 modulo `e` (refused anyway, `e` must be prime to `p - 1`).
fn sieve(base: &BigNumRef, window: usize) -> Result<Vec<bool>, ErrorStack> {
    let mut skip = vec![false; window];
    let rules = small_primes()
        .iter()
        .map(|&prime| (prime, 0))
        .chain([(PUBLIC_EXPONENT, 1)]);
    for (modulus, refused) in rules {
        let m = u64::from(modulus);
        let residue = base.mod_word(modulus)?;
        // base + 2k ≡ refused (mod m)  ⇔  k ≡ (refused − residue)·2⁻¹ (mod m),
        // and 2⁻¹ is (m + 1)/2 for an odd m.
        let first = (refused + m - residue) % m * m.div_ceil(2) % m;
        for k in (first as usize..window).step_by(modulus as usize) {
            skip[k] = true;
        }
    }
    Ok(skip)
}

/// Whether `2^(n-1) ≡ 1 (mod n)`. Every odd prime passes, so a number that
/// fails is proven composite by one modular exponentiation, against the 64
/// Miller-Rabin rounds OpenSSL's test runs to accept a prime.
fn passes_fermat_base_2(n: &BigNumRef, ctx: &mut BigNumContext) -> Result<bool, ErrorStack> {
    let one = BigNum::from_u32(1)?;
    let two = BigNum::from_u32(2)?;
    let exponent = sub(n, &one)?;
    let mut power = BigNum::new()?;
    power.mod_exp(&two, &exponent, n, ctx)?;
    Ok(power == one)
}

/// The first number `p` at or after `start` (odd) that OpenSSL's primality
/// test accepts, with `gcd(p - 1, e) = 1`.
///
/// The sieve and the Fermat test only skip numbers that are composite or
/// refused for `e` (neither can skip a prime OpenSSL's test would accept), so
/// the walk ends where testing every odd number with OpenSSL's test alone
/// would end; it just runs that expensive test on the prime and on the rare
/// base-2 pseudoprime only.
fn walk_to_prime(start: BigNum, ctx: &mut BigNumContext) -> Result<BigNum, ErrorStack> {
    walk_in_windows(start, SIEVE_WINDOW, ctx)
}

/// [`walk_to_prime`], sieving `window` odd numbers at a time.
fn walk_in_windows(
    start: BigNum,
    window: usize,
    ctx: &mut BigNumContext,
) -> Result<BigNum, ErrorStack> {
    let mut base = start;
    loop {
        let skip = sieve(&base, window)?;
        for (k, _) in skip.iter().enumerate().filter(|(_, skip)| !**skip) {
            let mut candidate = base.to_owned()?;
            candidate.add_word(2 * k as u32)?;
            if passes_fermat_base_2(&candidate, ctx)?
                && candidate.is_prime_fasttest(0, ctx, true)?
            {
                return Ok(candidate);
            }
        }
        base.add_word(2 * window as u32)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::sign::Verifier;

    /// A derivation past the process memo and the disk cache.
    fn derive_uncached(seed: &str, label: &str) -> Result<RsaKey, ErrorStack> {
        let mut ctx = BigNumContext::new()?;
        let (p, q) = derive_primes(seed, label, &mut ctx)?;
        key_from_primes(label, p, q, &mut ctx)
    }

    fn sha256_digest_info(message: &[u8]) -> Vec<u8> {
        let digest = openssl::sha::sha256(message);
        [
            crate::mynumber::SHA256_DIGEST_INFO_PREFIX.as_slice(),
            &digest,
        ]
        .concat()
    }

    #[test]
    fn same_inputs_give_the_same_key() {
        let a = derive_uncached("test-seed", "auth").unwrap();
        let b = derive_uncached("test-seed", "auth").unwrap();
        assert_eq!(a.public_key_der(), b.public_key_der());
        assert_eq!(
            a.pkey().private_key_to_der().unwrap(),
            b.pkey().private_key_to_der().unwrap()
        );
    }

    #[test]
    fn different_inputs_give_different_keys() {
        let a = RsaKey::derive("test-seed", "auth");
        let b = RsaKey::derive("test-seed", "sign");
        let c = RsaKey::derive("other-seed", "auth");
        assert_ne!(a.public_key_der(), b.public_key_der());
        assert_ne!(a.public_key_der(), c.public_key_der());
        // The length prefixes separate the seed from the label.
        let d = RsaKey::derive("test-seeda", "uth");
        assert_ne!(a.public_key_der(), d.public_key_der());
    }

    #[test]
    fn the_key_has_the_card_shape() {
        let key = RsaKey::derive("test-seed", "auth");
        let rsa = key.pkey().rsa().unwrap();
        assert_eq!(rsa.n().num_bits(), 2048);
        assert_eq!(rsa.e().to_vec(), vec![0x01, 0x00, 0x01]);
        assert!(rsa.check_key().unwrap());
    }

    #[test]
    fn derive_is_memoised() {
        let a = RsaKey::derive("test-seed", "memo");
        let b = RsaKey::derive("test-seed", "memo");
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
    }

    #[test]
    fn the_derived_key_is_pinned() {
        // Guards reproducibility across machines and OpenSSL versions: a change in
        // the derivation would change every certificate a profile yields.
        // Derived here, not through the process memo or the disk cache.
        let key = derive_uncached("kazasu-default", AUTH_KEY_LABEL).unwrap();
        let n = key.pkey().rsa().unwrap().n().to_vec();
        let fingerprint = hex::encode(&openssl::sha::sha256(&n)[..8]);
        assert_eq!(fingerprint, PINNED_DEFAULT_AUTH_MODULUS);
    }
    const PINNED_DEFAULT_AUTH_MODULUS: &str = "0cfcab9c678d764b";

    #[test]
    fn whole_keys_are_pinned_across_the_faster_walk() {
        // SHA-256 of the PKCS#1 private key DER (n, e, d, p, q and the CRT
        // values), taken with the walk that ran OpenSSL's test on every odd
        // number, before the sieve and the Fermat test: the walk is faster,
        // the keys are the same. The simulated CAs' keys are among them.
        for (seed, label, pinned) in [
            ("kazasu-default", AUTH_KEY_LABEL, "4ca989456d022236"),
            ("kazasu-default", SIGN_KEY_LABEL, "f68a5bf69f79df70"),
            ("kazasu-default", ANDROID_AUTH_KEY_LABEL, "204d010cc9b9196c"),
            ("kazasu-jpki", "jpki-ca-auth", "33845b6401a2d3d0"),
            ("kazasu-jpki", "jpki-ca-sign", "fc30352cecccef67"),
            ("kazasu-svc-valid", AUTH_KEY_LABEL, "b576e9de6feb0458"),
            ("test-seed", "auth", "c46710651822ae89"),
        ] {
            let key = derive_uncached(seed, label).unwrap();
            let der = key.pkey().private_key_to_der().unwrap();
            let fingerprint = hex::encode(&openssl::sha::sha256(&der)[..8]);
            assert_eq!(fingerprint, pinned, "{seed} {label}");
        }
    }

    /// The walk as it was: OpenSSL's test on every odd number not refused
    /// for `e`. The definition the sieve must not change.
    fn walk_testing_everything(mut candidate: BigNum, ctx: &mut BigNumContext) -> BigNum {
        loop {
            if candidate.mod_word(PUBLIC_EXPONENT).unwrap() != 1
                && candidate.is_prime_fasttest(0, ctx, true).unwrap()
            {
                return candidate;
            }
            candidate.add_word(2).unwrap();
        }
    }

    #[test]
    fn the_sieved_walk_ends_where_testing_everything_ends() {
        let mut ctx = BigNumContext::new().unwrap();
        for i in 0..4 {
            let start = prime_candidate(&format!("walk-{i}"), "auth", "p").unwrap();
            let expected = walk_testing_everything(start.to_owned().unwrap(), &mut ctx);
            assert_eq!(
                walk_to_prime(start, &mut ctx).unwrap(),
                expected,
                "walk-{i}"
            );
        }
        // Windows of 8 odd numbers: the walk crosses dozens of them.
        let start = prime_candidate("walk-windows", "auth", "p").unwrap();
        let expected = walk_testing_everything(start.to_owned().unwrap(), &mut ctx);
        assert_eq!(walk_in_windows(start, 8, &mut ctx).unwrap(), expected);
    }

    #[test]
    fn the_sieve_skips_exactly_small_factors_and_one_mod_e() {
        // Numbers above 2^40, where u64 arithmetic can check each one.
        let base: u64 = (1 << 40) + 12_345 * 2 + 1;
        let skip = sieve(
            &BigNum::from_dec_str(&base.to_string()).unwrap(),
            SIEVE_WINDOW,
        )
        .unwrap();
        let primes = small_primes();
        assert_eq!(primes.len(), 6541, "odd primes below 2^16");
        for (k, skipped) in skip.iter().enumerate() {
            let n = base + 2 * k as u64;
            let small_factor = primes.iter().any(|&p| n.is_multiple_of(u64::from(p)));
            let refused = n % u64::from(PUBLIC_EXPONENT) == 1;
            assert_eq!(*skipped, small_factor || refused, "{n}");
        }
    }

    #[test]
    fn raw_signature_verifies_with_pkcs1_and_no_digest() {
        let key = RsaKey::derive("test-seed", "auth");
        let data = sha256_digest_info(b"hello");
        let signature = key.sign_digest_info(&data).unwrap();
        assert_eq!(signature.len(), SIGNATURE_LEN);

        let public = PKey::public_key_from_der(key.public_key_der()).unwrap();
        let mut ctx = PkeyCtx::new(&public).unwrap();
        ctx.verify_init().unwrap();
        ctx.set_rsa_padding(Padding::PKCS1).unwrap();
        assert!(ctx.verify(&data, &signature).unwrap());
        // PKCS#1 v1.5 signing is deterministic.
        assert_eq!(signature, key.sign_digest_info(&data).unwrap());
    }

    #[test]
    fn digest_info_signature_is_a_sha256_with_rsa_signature() {
        let key = RsaKey::derive("test-seed", "auth");
        let message = b"a message the client hashed itself";
        let signature = key.sign_digest_info(&sha256_digest_info(message)).unwrap();

        let public = PKey::public_key_from_der(key.public_key_der()).unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.set_rsa_padding(Padding::PKCS1).unwrap();
        verifier.update(message).unwrap();
        assert!(verifier.verify(&signature).unwrap());

        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(b"another message").unwrap();
        assert!(!verifier.verify(&signature).unwrap());
    }

    #[test]
    fn input_length_is_checked() {
        let key = RsaKey::derive("test-seed", "auth");
        assert!(matches!(
            key.sign_digest_info(&[]),
            Err(KeyError::InputLength(0))
        ));
        assert!(key.sign_digest_info(&[0x42]).is_ok());
        assert!(key.sign_digest_info(&[0x42; MAX_SIGN_INPUT]).is_ok());
        assert!(matches!(
            key.sign_digest_info(&[0x42; MAX_SIGN_INPUT + 1]),
            Err(KeyError::InputLength(246))
        ));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = RsaKey::derive("test-seed", "auth");
        let shown = format!("{key:?}");
        assert!(shown.contains("auth"), "{shown}");
        assert!(!shown.contains("test-seed"), "{shown}");
        let n_hex = key
            .pkey()
            .rsa()
            .unwrap()
            .n()
            .to_hex_str()
            .unwrap()
            .to_string();
        assert!(!shown.contains(&n_hex[..16]));
        assert!(!shown.to_ascii_uppercase().contains(&n_hex[..16]));
        assert!(shown.len() < 100, "{shown}");
    }

    #[test]
    fn ec_key_is_deterministic_and_memoised() {
        let a = derive_ec_uncached("test-seed", "iphone").unwrap();
        let b = derive_ec_uncached("test-seed", "iphone").unwrap();
        assert_eq!(a.public_key_der(), b.public_key_der());
        assert_eq!(
            a.pkey().private_key_to_der().unwrap(),
            b.pkey().private_key_to_der().unwrap()
        );
        let c = EcKey::derive("test-seed", "iphone");
        let d = EcKey::derive("test-seed", "iphone");
        assert!(Arc::ptr_eq(&c.inner, &d.inner));
        assert_eq!(c.public_key_der(), a.public_key_der());

        assert_ne!(
            EcKey::derive("test-seed", "other").public_key_der(),
            c.public_key_der()
        );
        assert_ne!(
            EcKey::derive("test-seedi", "phone").public_key_der(),
            c.public_key_der()
        );
    }

    #[test]
    fn ec_key_has_the_p256_shape() {
        let key = EcKey::derive("test-seed", "iphone");
        let ec = key.pkey().ec_key().unwrap();
        assert_eq!(ec.group().curve_name(), Some(Nid::X9_62_PRIME256V1));
        ec.check_key().unwrap();
        assert_eq!(key.public_point().len(), EC_POINT_LEN);
        assert_eq!(key.public_point()[0], 0x04);
        // The SPKI ends with the point, and parses back to the same key.
        assert!(key.public_key_der().ends_with(key.public_point()));
        let public = PKey::public_key_from_der(key.public_key_der()).unwrap();
        assert!(public.public_eq(key.pkey()));
    }

    #[test]
    fn the_derived_ec_key_is_pinned() {
        // Checked once against an independent implementation (Python's
        // `cryptography`, same SHA-256 input, scalar times the P-256 generator).
        let key = EcKey::derive("kazasu-default", "jpki-auth-iphone");
        let fingerprint = hex::encode(&openssl::sha::sha256(key.public_point())[..8]);
        assert_eq!(fingerprint, PINNED_IPHONE_POINT);
    }
    const PINNED_IPHONE_POINT: &str = "2e22f79307a604c4";

    #[test]
    fn ec_signature_verifies_as_ecdsa_with_sha256() {
        let key = EcKey::derive("test-seed", "iphone");
        let message = b"challenge from the service";
        let digest = openssl::sha::sha256(message);
        let signature = key.sign_digest(&digest).unwrap();

        let public = PKey::public_key_from_der(key.public_key_der()).unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(message).unwrap();
        assert!(verifier.verify(&signature).unwrap());

        let sig = EcdsaSig::from_der(&signature).unwrap();
        let ec = public.ec_key().unwrap();
        assert!(sig.verify(&digest, &ec).unwrap());
        assert!(!sig.verify(&openssl::sha::sha256(b"other"), &ec).unwrap());
    }

    #[test]
    fn ec_digest_length_is_checked() {
        let key = EcKey::derive("test-seed", "iphone");
        for len in [0, 1, 20, 31, 33, 48, 64] {
            assert!(
                matches!(key.sign_digest(&vec![7; len]), Err(KeyError::DigestLength(l)) if l == len),
                "{len}"
            );
        }
        assert!(key.sign_digest(&[7; EC_DIGEST_LEN]).is_ok());
    }

    #[test]
    fn ec_debug_shows_no_key_material() {
        let key = EcKey::derive("test-seed", "iphone");
        let shown = format!("{key:?}");
        assert!(shown.contains("iphone"), "{shown}");
        assert!(!shown.contains("test-seed"), "{shown}");
        let scalar = key
            .pkey()
            .ec_key()
            .unwrap()
            .private_key()
            .to_hex_str()
            .unwrap()
            .to_string();
        assert!(!shown.to_ascii_uppercase().contains(&scalar[..16]));
        let point = hex::encode(key.public_point());
        assert!(!shown.contains(&point[2..18]));
        assert!(shown.len() < 100, "{shown}");
    }

    #[test]
    fn private_key_exports_as_pkcs8() {
        let key = RsaKey::derive("test-seed", "auth");
        let pem = key.private_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = PKey::private_key_from_pem(pem.as_bytes()).unwrap();
        assert_eq!(back.public_key_to_der().unwrap(), key.public_key_der());
    }
}
