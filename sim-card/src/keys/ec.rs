//! The phone's P-256 keys: the iPhone's JPKI key as the Secure Enclave holds one.

use std::fmt;
use std::sync::{Arc, OnceLock};

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcPoint, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::hash::{Hasher, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};

use super::{KeyError, Memo, slot};

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

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::sign::Verifier;

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
}
