//! The signature over the service's challenge: proof that whoever sent the
//! certificate holds its key, and so (PIN, biometrics) is its holder.
//!
//! Two schemes, by what holds the key:
//!
//! - **Card and Android** (methods B and D): RSA-2048, PKCS#1 v1.5 with SHA-256.
//!   The card does not hash: the client hashes the challenge bytes, wraps the
//!   digest in a SHA-256 DigestInfo and has the card pad and sign that. The
//!   result is an ordinary `sha256WithRSAEncryption` signature over the
//!   challenge, exactly as long as the modulus (256 bytes).
//! - **iPhone** (method C): ECDSA on P-256 over the SHA-256 of the challenge,
//!   DER-encoded (`ECDSA-Sig-Value`), as the Secure Enclave produces it.
//!
//! The scheme is decided by the method the client says it used, and the
//! certificate's key must fit it: an RSA certificate with an iPhone-style
//! signature, or the reverse, is refused as a key mismatch before any
//! cryptography. One allowance: the iPhone's key type is not public (docs/client-apdus.md,
//! Phones), so an iPhone whose certificate certifies an RSA-2048 key signs as the
//! card does, and is verified so. Every failure is an error value; the inputs
//! are attacker bytes.

use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Padding;
use openssl::sign::Verifier;

use super::IdentityCheck;
use super::certificate::{self, KeyType};

/// The modulus size of the card's and Android's keys.
pub const RSA_BITS: u32 = 2048;

/// A signature scheme the service accepts over its challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSA-2048, PKCS#1 v1.5, SHA-256: the physical card and Android.
    RsaPkcs1Sha256,
    /// ECDSA P-256 with SHA-256, DER: the iPhone.
    EcdsaP256Sha256,
}

impl SignatureScheme {
    /// The key type a certificate must certify for this scheme.
    pub fn key_type(self) -> KeyType {
        match self {
            SignatureScheme::RsaPkcs1Sha256 => KeyType::Rsa { bits: RSA_BITS },
            SignatureScheme::EcdsaP256Sha256 => KeyType::EcP256,
        }
    }
}

/// Why a challenge signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The method signs nothing (visual confirmation), yet a check was asked for.
    #[error("{0:?} confirmation produces no signature")]
    NoSignatureForMethod(IdentityCheck),
    /// The certified key cannot be used to verify: not a public key the service
    /// knows.
    #[error("the certificate's key cannot be used: {0}")]
    UnusableKey(String),
    /// The certified key is of another type than the method signs with.
    #[error("{scheme:?} needs a {expected:?} key; the certificate has {found:?}")]
    KeyMismatch {
        scheme: SignatureScheme,
        expected: KeyType,
        found: KeyType,
    },
    /// An RSA signature of the wrong length (truncated, padded).
    #[error("an RSA signature is {expected} bytes; got {got}")]
    WrongLength { expected: usize, got: usize },
    /// Not a DER ECDSA signature, or not in its one canonical encoding.
    #[error("not a DER ECDSA signature")]
    Malformed,
    /// Well-formed, but it does not verify: another key, another challenge, or a
    /// corrupted signature.
    #[error("the signature does not verify")]
    Invalid,
}

/// Checks `signature` over `challenge` with the key in `spki_der` (the verified
/// certificate's), under the scheme `method` signs with.
pub fn verify_for_method(
    method: IdentityCheck,
    spki_der: &[u8],
    challenge: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    verify_key_for_method(method, &decode_key(spki_der)?, challenge, signature)
}

/// [`verify_for_method`] with the certified key already decoded: the service
/// keeps each verified certificate's key (see [`crate::caches`]) so that a
/// confirmation pays for the RSA or ECDSA verification alone, not for decoding
/// the `SubjectPublicKeyInfo` again.
pub fn verify_key_for_method(
    method: IdentityCheck,
    key: &PKey<Public>,
    challenge: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let mut scheme = method
        .signature_scheme()
        .ok_or(SignatureError::NoSignatureForMethod(method))?;
    if method == IdentityCheck::Iphone && key_type(key)? == RSA_KEY {
        scheme = SignatureScheme::RsaPkcs1Sha256;
    }
    verify_key(scheme, key, challenge, signature)
}

const RSA_KEY: KeyType = KeyType::Rsa { bits: RSA_BITS };

fn decode_key(spki_der: &[u8]) -> Result<PKey<Public>, SignatureError> {
    PKey::public_key_from_der(spki_der).map_err(|e| SignatureError::UnusableKey(e.to_string()))
}

fn key_type(key: &PKey<Public>) -> Result<KeyType, SignatureError> {
    certificate::key_type(key).map_err(|e| SignatureError::UnusableKey(e.to_string()))
}

/// Checks `signature` over `challenge` with the key in `spki_der` under `scheme`.
pub fn verify(
    scheme: SignatureScheme,
    spki_der: &[u8],
    challenge: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    verify_key(scheme, &decode_key(spki_der)?, challenge, signature)
}

/// [`verify`] with the key already decoded.
pub fn verify_key(
    scheme: SignatureScheme,
    key: &PKey<Public>,
    challenge: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let found = key_type(key)?;
    let expected = scheme.key_type();
    if found != expected {
        return Err(SignatureError::KeyMismatch {
            scheme,
            expected,
            found,
        });
    }
    match scheme {
        SignatureScheme::RsaPkcs1Sha256 => verify_rsa(key, challenge, signature),
        SignatureScheme::EcdsaP256Sha256 => verify_ecdsa(key, challenge, signature),
    }
}

fn verify_rsa(
    key: &PKey<Public>,
    challenge: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let expected = key.size();
    if signature.len() != expected {
        return Err(SignatureError::WrongLength {
            expected,
            got: signature.len(),
        });
    }
    // OpenSSL reports some bad signatures (a value above the modulus) as an error
    // rather than `false`; to the client both are a signature that does not verify.
    let verified = (|| {
        let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
        verifier.set_rsa_padding(Padding::PKCS1)?;
        verifier.update(challenge)?;
        verifier.verify(signature)
    })()
    .unwrap_or(false);
    if verified {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

fn verify_ecdsa(
    key: &PKey<Public>,
    challenge: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let sig = EcdsaSig::from_der(signature).map_err(|_| SignatureError::Malformed)?;
    // DER has one encoding per value: a signature that re-encodes differently
    // carried extra bytes or a non-minimal integer.
    if sig.to_der().ok().as_deref() != Some(signature) {
        return Err(SignatureError::Malformed);
    }
    let ec = key
        .ec_key()
        .map_err(|e| SignatureError::UnusableKey(e.to_string()))?;
    let digest = openssl::sha::sha256(challenge);
    if sig.verify(&digest, &ec).unwrap_or(false) {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sim_card::keys::{EcKey, RsaKey};

    /// `DigestInfo` prefix for SHA-256 (RFC 8017, section 9.2, note 1).
    const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];

    const CHALLENGE: &[u8] = &[0x5A; 32];

    fn card_key() -> RsaKey {
        RsaKey::derive("kazasu-service-signature-test", "jpki-auth")
    }

    fn phone_key() -> EcKey {
        EcKey::derive("kazasu-service-signature-test", "jpki-auth-iphone")
    }

    /// What a client and the card do: hash, wrap in a DigestInfo, card signs.
    fn card_signs(key: &RsaKey, challenge: &[u8]) -> Vec<u8> {
        let digest = openssl::sha::sha256(challenge);
        let digest_info = [SHA256_DIGEST_INFO_PREFIX.as_slice(), &digest].concat();
        key.sign_digest_info(&digest_info).unwrap()
    }

    fn phone_signs(key: &EcKey, challenge: &[u8]) -> Vec<u8> {
        key.sign_digest(&openssl::sha::sha256(challenge)).unwrap()
    }

    #[test]
    fn card_and_android_signatures_verify() {
        let key = card_key();
        let signature = card_signs(&key, CHALLENGE);
        for method in [IdentityCheck::Pin, IdentityCheck::Android] {
            assert_eq!(
                verify_for_method(method, key.public_key_der(), CHALLENGE, &signature),
                Ok(())
            );
        }
    }

    #[test]
    fn iphone_signatures_verify() {
        let key = phone_key();
        let signature = phone_signs(&key, CHALLENGE);
        assert_eq!(
            verify_for_method(
                IdentityCheck::Iphone,
                key.public_key_der(),
                CHALLENGE,
                &signature
            ),
            Ok(())
        );
    }

    #[test]
    fn another_challenge_or_key_does_not_verify() {
        let key = card_key();
        let signature = card_signs(&key, CHALLENGE);
        let scheme = SignatureScheme::RsaPkcs1Sha256;
        assert_eq!(
            verify(scheme, key.public_key_der(), &[0x5B; 32], &signature),
            Err(SignatureError::Invalid)
        );
        let other = RsaKey::derive("kazasu-service-signature-test", "someone-else");
        assert_eq!(
            verify(scheme, other.public_key_der(), CHALLENGE, &signature),
            Err(SignatureError::Invalid)
        );
        // A SHA-1 DigestInfo (what jpki-cli sends) is not what the service asks for.
        let sha1 = openssl::sha::sha1(CHALLENGE);
        let sha1_info = [
            &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ][..],
            &sha1,
        ]
        .concat();
        let sha1_signature = key.sign_digest_info(&sha1_info).unwrap();
        assert_eq!(
            verify(scheme, key.public_key_der(), CHALLENGE, &sha1_signature),
            Err(SignatureError::Invalid)
        );
        // A bare digest, with no DigestInfo around it, neither.
        let bare = key
            .sign_digest_info(&openssl::sha::sha256(CHALLENGE))
            .unwrap();
        assert_eq!(
            verify(scheme, key.public_key_der(), CHALLENGE, &bare),
            Err(SignatureError::Invalid)
        );

        let phone = phone_key();
        let signature = phone_signs(&phone, CHALLENGE);
        assert_eq!(
            verify(
                SignatureScheme::EcdsaP256Sha256,
                phone.public_key_der(),
                &[0x5B; 32],
                &signature
            ),
            Err(SignatureError::Invalid)
        );
        let other = EcKey::derive("kazasu-service-signature-test", "another-phone");
        assert_eq!(
            verify(
                SignatureScheme::EcdsaP256Sha256,
                other.public_key_der(),
                CHALLENGE,
                &signature
            ),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn the_key_must_fit_the_method() {
        let card = card_key();
        let phone = phone_key();
        let rsa_signature = card_signs(&card, CHALLENGE);
        let ec_signature = phone_signs(&phone, CHALLENGE);
        // An iPhone with an RSA-2048 key (its key type is not public) signs
        // as the card does; an ECDSA signature does not fit that key.
        assert_eq!(
            verify_for_method(
                IdentityCheck::Iphone,
                card.public_key_der(),
                CHALLENGE,
                &rsa_signature
            ),
            Ok(())
        );
        assert!(matches!(
            verify_for_method(
                IdentityCheck::Iphone,
                card.public_key_der(),
                CHALLENGE,
                &ec_signature
            ),
            Err(SignatureError::WrongLength { .. })
        ));
        assert_eq!(
            verify(
                SignatureScheme::EcdsaP256Sha256,
                card.public_key_der(),
                CHALLENGE,
                &ec_signature
            ),
            Err(SignatureError::KeyMismatch {
                scheme: SignatureScheme::EcdsaP256Sha256,
                expected: KeyType::EcP256,
                found: KeyType::Rsa { bits: 2048 }
            })
        );
        assert!(matches!(
            verify_for_method(
                IdentityCheck::Pin,
                phone.public_key_der(),
                CHALLENGE,
                &ec_signature
            ),
            Err(SignatureError::KeyMismatch { .. })
        ));
        assert!(matches!(
            verify_for_method(
                IdentityCheck::Android,
                phone.public_key_der(),
                CHALLENGE,
                &ec_signature
            ),
            Err(SignatureError::KeyMismatch { .. })
        ));
        // RSA of another size is another key type.
        let small = openssl::rsa::Rsa::generate(1024).unwrap();
        let small = PKey::from_rsa(small).unwrap().public_key_to_der().unwrap();
        assert!(matches!(
            verify(
                SignatureScheme::RsaPkcs1Sha256,
                &small,
                CHALLENGE,
                &[0; 128]
            ),
            Err(SignatureError::KeyMismatch {
                found: KeyType::Rsa { bits: 1024 },
                ..
            })
        ));
        assert_eq!(
            verify_for_method(
                IdentityCheck::Visual,
                card.public_key_der(),
                CHALLENGE,
                &rsa_signature
            ),
            Err(SignatureError::NoSignatureForMethod(IdentityCheck::Visual))
        );
    }

    #[test]
    fn bad_keys_are_errors() {
        let signature = card_signs(&card_key(), CHALLENGE);
        for spki in [&[][..], &[0x30, 0x00], b"not a key"] {
            assert!(matches!(
                verify(SignatureScheme::RsaPkcs1Sha256, spki, CHALLENGE, &signature),
                Err(SignatureError::UnusableKey(_))
            ));
        }
        // EC on another curve.
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP384R1).unwrap();
        let p384 = openssl::ec::EcKey::generate(&group).unwrap();
        let p384 = PKey::from_ec_key(p384)
            .unwrap()
            .public_key_to_der()
            .unwrap();
        assert!(matches!(
            verify(
                SignatureScheme::EcdsaP256Sha256,
                &p384,
                CHALLENGE,
                &signature
            ),
            Err(SignatureError::UnusableKey(_))
        ));
    }

    #[test]
    fn truncated_and_padded_signatures_are_errors() {
        let card = card_key();
        let signature = card_signs(&card, CHALLENGE);
        let scheme = SignatureScheme::RsaPkcs1Sha256;
        assert_eq!(
            verify(scheme, card.public_key_der(), CHALLENGE, &signature[..255]),
            Err(SignatureError::WrongLength {
                expected: 256,
                got: 255
            })
        );
        assert_eq!(
            verify(
                scheme,
                card.public_key_der(),
                CHALLENGE,
                &[signature.as_slice(), &[0]].concat()
            ),
            Err(SignatureError::WrongLength {
                expected: 256,
                got: 257
            })
        );
        assert!(verify(scheme, card.public_key_der(), CHALLENGE, &[]).is_err());
        // Above the modulus: OpenSSL errors, the rule says Invalid.
        assert_eq!(
            verify(scheme, card.public_key_der(), CHALLENGE, &[0xFF; 256]),
            Err(SignatureError::Invalid)
        );

        let phone = phone_key();
        let signature = phone_signs(&phone, CHALLENGE);
        let scheme = SignatureScheme::EcdsaP256Sha256;
        for bad in [
            &signature[..signature.len() - 1],
            &signature[..8],
            &[][..],
            &[0x30, 0x00],
        ] {
            assert_eq!(
                verify(scheme, phone.public_key_der(), CHALLENGE, bad),
                Err(SignatureError::Malformed)
            );
        }
        let trailing = [signature.as_slice(), &[0x00]].concat();
        assert_eq!(
            verify(scheme, phone.public_key_der(), CHALLENGE, &trailing),
            Err(SignatureError::Malformed)
        );
        // A raw r||s pair (what some platforms return) is not DER.
        let sig = EcdsaSig::from_der(&signature).unwrap();
        let raw = [
            sig.r().to_vec_padded(32).unwrap(),
            sig.s().to_vec_padded(32).unwrap(),
        ]
        .concat();
        assert_eq!(
            verify(scheme, phone.public_key_der(), CHALLENGE, &raw),
            Err(SignatureError::Malformed)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever bytes arrive, the check answers without panicking, and random
        /// bytes never verify.
        #[test]
        fn arbitrary_signatures_never_panic_or_verify(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            challenge in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let card = card_key();
            let phone = phone_key();
            prop_assert!(verify(SignatureScheme::RsaPkcs1Sha256, card.public_key_der(), &challenge, &bytes).is_err());
            prop_assert!(verify(SignatureScheme::EcdsaP256Sha256, phone.public_key_der(), &challenge, &bytes).is_err());
            prop_assert!(verify(SignatureScheme::EcdsaP256Sha256, &bytes, &challenge, &bytes).is_err());
        }

        #[test]
        fn real_signatures_over_any_challenge_verify(
            challenge in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let card = card_key();
            let phone = phone_key();
            prop_assert_eq!(verify(SignatureScheme::RsaPkcs1Sha256, card.public_key_der(), &challenge, &card_signs(&card, &challenge)), Ok(()));
            prop_assert_eq!(verify(SignatureScheme::EcdsaP256Sha256, phone.public_key_der(), &challenge, &phone_signs(&phone, &challenge)), Ok(()));
        }
    }
}
