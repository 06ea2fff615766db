//! The card's RSA-2048 keys: the key made from its two primes, and the card-side
//! signature COMPUTE DIGITAL SIGNATURE makes with it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use openssl::bn::{BigNum, BigNumContext};
use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};

use super::primes::sub;
use super::{
    KeyCache, KeyError, MAX_SIGN_INPUT, MODULUS_BITS, Memo, PUBLIC_EXPONENT, SIGNATURE_LEN, slot,
};

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

fn memo() -> &'static Memo<RsaKey> {
    static MEMO: OnceLock<Memo<RsaKey>> = OnceLock::new();
    MEMO.get_or_init(Default::default)
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
            .get_or_init(|| {
                shipped_key(seed, label)
                    .unwrap_or_else(|| KeyCache::for_process().rsa_key(seed, label))
            })
            .clone()
    }

    /// Every `(seed, label)` this process has asked [`RsaKey::derive`] for,
    /// sorted: after issuing every built-in card, the keys to ship
    /// ([`super::shipped`]).
    pub fn derived_in_process() -> Vec<(String, String)> {
        let memo = memo().lock().unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<_> = memo.keys().cloned().collect();
        keys.sort();
        keys
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

/// The shipped key for `(seed, label)`, if the table has one that passes
/// its checks (one that does not is derived instead).
fn shipped_key(seed: &str, label: &str) -> Option<RsaKey> {
    let mut ctx = BigNumContext::new().ok()?;
    match super::shipped::primes(seed, label, &mut ctx) {
        Ok(Some((p, q))) => key_from_primes(label, p, q, &mut ctx).ok(),
        Ok(None) => None,
        Err(why) => {
            tracing::warn!(label, %why, "shipped key refused; deriving it");
            None
        }
    }
}

/// The RSA key with primes `p` and `q` and exponent [`PUBLIC_EXPONENT`]:
/// the private exponent as OpenSSL's own key generation computes it.
///
/// No `RSA_check_key` here: it tests both primes again with 64 Miller-Rabin
/// rounds each, a third of a derivation's time, to confirm what the walk
/// has just established (and the cache has checked for a stored key).
pub(super) fn key_from_primes(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::primes::derive_primes;
    use crate::keys::{ANDROID_AUTH_KEY_LABEL, AUTH_KEY_LABEL, SIGN_KEY_LABEL};
    use openssl::hash::MessageDigest;
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
    fn private_key_exports_as_pkcs8() {
        let key = RsaKey::derive("test-seed", "auth");
        let pem = key.private_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = PKey::private_key_from_pem(pem.as_bytes()).unwrap();
        assert_eq!(back.public_key_to_der().unwrap(), key.public_key_der());
    }
}
