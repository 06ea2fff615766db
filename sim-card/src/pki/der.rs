//! A DER writer for X.509 v3 certificates: names, the TBSCertificate, the
//! extensions RFC 5280 defines, and the CA's RSA signature over them. Nothing
//! here knows JPKI: the profile (which names, which extensions in which
//! order, which dates) is [`super`]'s.
//!
//! Written with yasna rather than rcgen because a JPKI name repeats attribute
//! types (see the parent module), and writing the TBSCertificate directly
//! keeps the extensions in the order the profile gives.

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::rsa::Padding;
use openssl::sign::Signer;
use time::OffsetDateTime;
use yasna::models::{GeneralizedTime, ObjectIdentifier, UTCTime};
use yasna::{DERWriter, Tag};

use crate::keys::{EcKey, RsaKey};

pub(super) mod oid {
    pub const AUTHORITY_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 35];
    pub const SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
    pub const KEY_USAGE: &[u64] = &[2, 5, 29, 15];
    pub const SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
    pub const ISSUER_ALT_NAME: &[u64] = &[2, 5, 29, 18];
    pub const BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
    pub const CRL_DISTRIBUTION_POINTS: &[u64] = &[2, 5, 29, 31];
    pub const CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
    pub const EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
    pub const AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
    pub const KP_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
    pub const QT_CPS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 2, 1];
    pub const AD_OCSP: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
    pub const SHA256_WITH_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];
    pub const COUNTRY: &[u64] = &[2, 5, 4, 6];
    pub const LOCALITY: &[u64] = &[2, 5, 4, 7];
    pub const ORGANIZATION: &[u64] = &[2, 5, 4, 10];
    pub const ORGANIZATIONAL_UNIT: &[u64] = &[2, 5, 4, 11];
    pub const COMMON_NAME: &[u64] = &[2, 5, 4, 3];
}

/// A key a certificate can be issued for: what the certificate needs of it is its
/// public half. The card's keys are RSA-2048 ([`RsaKey`]); the iPhone's is P-256
/// ([`EcKey`], docs/client-apdus.md, Phones). Whatever the subject's key, the CAs sign with RSA.
pub trait SubjectKey {
    /// The DER `SubjectPublicKeyInfo`, written into the certificate as it is.
    fn spki_der(&self) -> &[u8];
    /// The contents of the SPKI's subjectPublicKey BIT STRING (`RSAPublicKey` DER,
    /// or the uncompressed EC point): what the key identifier is a hash of.
    fn subject_public_key(&self) -> &[u8];
}

impl SubjectKey for RsaKey {
    fn spki_der(&self) -> &[u8] {
        self.public_key_der()
    }

    fn subject_public_key(&self) -> &[u8] {
        self.rsa_public_key_der()
    }
}

impl SubjectKey for EcKey {
    fn spki_der(&self) -> &[u8] {
        self.public_key_der()
    }

    fn subject_public_key(&self) -> &[u8] {
        self.public_point()
    }
}

/// A distinguished name as an ordered list of attributes. ASCII values that fit
/// PrintableString are written as one, anything else as UTF8String; the same rule
/// is used wherever a name is written, so a CA's subject and every reference to it
/// (issuer, authority key identifier) are the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Name(pub(super) Vec<(&'static [u64], String)>);

impl Name {
    pub(super) fn write(&self, writer: DERWriter) {
        writer.write_sequence(|writer| {
            for (attr, value) in &self.0 {
                writer.next().write_set(|writer| {
                    writer.next().write_sequence(|writer| {
                        writer.next().write_oid(&ObjectIdentifier::from_slice(attr));
                        if is_printable(value) {
                            writer.next().write_printable_string(value);
                        } else {
                            writer.next().write_utf8_string(value);
                        }
                    });
                });
            }
        });
    }

    /// `[4] Name` as one GeneralName (explicit: Name is a CHOICE).
    pub(super) fn write_general_name(&self, writer: DERWriter) {
        writer.write_tagged(Tag::context(4), |writer| self.write(writer));
    }
}

fn is_printable(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// The fields of a TBSCertificate that vary between certificates.
pub(super) struct Tbs<'a> {
    pub(super) serial: &'a [u8],
    pub(super) issuer: &'a Name,
    pub(super) not_before: OffsetDateTime,
    pub(super) not_after: OffsetDateTime,
    pub(super) subject: &'a Name,
    /// The subject's `SubjectPublicKeyInfo`, RSA or EC alike.
    pub(super) subject_spki: &'a [u8],
    pub(super) extensions: &'a [Extension],
}

impl Tbs<'_> {
    /// The DER certificate: this TBSCertificate (v3, sha256WithRSAEncryption),
    /// signed by `issuer_key`.
    pub(super) fn sign(&self, issuer_key: &RsaKey) -> Result<Vec<u8>, ErrorStack> {
        let tbs = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_tagged(Tag::context(0), |w| w.write_u8(2));
                w.next().write_bigint_bytes(self.serial, true);
                write_signature_algorithm(w.next());
                self.issuer.write(w.next());
                w.next().write_sequence(|w| {
                    write_time(w.next(), self.not_before);
                    write_time(w.next(), self.not_after);
                });
                self.subject.write(w.next());
                w.next().write_der(self.subject_spki);
                w.next().write_tagged(Tag::context(3), |w| {
                    w.write_sequence(|w| {
                        for extension in self.extensions {
                            extension.write(w.next());
                        }
                    })
                });
            })
        });
        let signature = sign_sha256(issuer_key, &tbs)?;
        Ok(yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_der(&tbs);
                write_signature_algorithm(w.next());
                w.next().write_bitvec_bytes(&signature, signature.len() * 8);
            })
        }))
    }
}

/// `AlgorithmIdentifier { sha256WithRSAEncryption, NULL }`.
fn write_signature_algorithm(writer: DERWriter) {
    writer.write_sequence(|w| {
        w.next()
            .write_oid(&ObjectIdentifier::from_slice(oid::SHA256_WITH_RSA));
        w.next().write_null();
    });
}

/// UTCTime up to 2049, GeneralizedTime after (RFC 5280, 4.1.2.5).
fn write_time(writer: DERWriter, at: OffsetDateTime) {
    if at.year() < 2050 {
        writer.write_utctime(&UTCTime::from_datetime(at));
    } else {
        writer.write_generalized_time(&GeneralizedTime::from_datetime(at));
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
pub(super) fn sign_sha256(key: &RsaKey, message: &[u8]) -> Result<Vec<u8>, ErrorStack> {
    let mut signer = Signer::new(MessageDigest::sha256(), key.pkey())?;
    signer.set_rsa_padding(Padding::PKCS1)?;
    signer.update(message)?;
    signer.sign_to_vec()
}

/// A derived key signing rcgen certificates: SHA-256 with PKCS#1 v1.5.
impl rcgen::PublicKeyData for RsaKey {
    fn der_bytes(&self) -> &[u8] {
        self.rsa_public_key_der()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for RsaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        sign_sha256(self, msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// SHA-256 over length-prefixed parts, so that no two different part lists collide
/// by shifting bytes from one part to the next.
pub(super) fn hash(parts: &[&[u8]]) -> Result<[u8; 32], ErrorStack> {
    let mut h = openssl::hash::Hasher::new(MessageDigest::sha256())?;
    for part in parts {
        h.update(&(part.len() as u64).to_be_bytes())?;
        h.update(part)?;
    }
    let digest = h.finish()?;
    Ok(digest.as_ref().try_into().expect("32 bytes"))
}

/// A 16-byte serial number from a hash of the certificate's inputs. The first byte
/// is forced into 0x40..=0x7F: the number is positive and always 16 bytes long, so
/// certificates of one profile keep one length.
pub(super) fn serial(parts: &[&[u8]]) -> Result<Vec<u8>, ErrorStack> {
    let mut serial = hash(parts)?[..16].to_vec();
    serial[0] = (serial[0] & 0x3F) | 0x40;
    Ok(serial)
}

/// RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING's contents, which
/// is what OpenSSL computes for `subjectKeyIdentifier = hash`.
pub(super) fn key_identifier(key: &(impl SubjectKey + ?Sized)) -> Vec<u8> {
    openssl::sha::sha1(key.subject_public_key()).to_vec()
}

/// One certificate extension: `SEQUENCE { extnID, critical DEFAULT FALSE,
/// extnValue OCTET STRING (the DER of the value) }`.
pub(super) struct Extension {
    oid: &'static [u64],
    critical: bool,
    value: Vec<u8>,
}

impl Extension {
    fn write(&self, writer: DERWriter) {
        writer.write_sequence(|w| {
            w.next().write_oid(&ObjectIdentifier::from_slice(self.oid));
            // DER leaves a DEFAULT value out.
            if self.critical {
                w.next().write_bool(true);
            }
            w.next().write_bytes(&self.value);
        });
    }
}

pub(super) fn extension(oid: &'static [u64], critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        oid,
        critical,
        value,
    }
}

/// BasicConstraints, critical: `SEQUENCE { BOOLEAN TRUE }` (no path length).
pub(super) fn basic_constraints_ca() -> Extension {
    let content = yasna::construct_der(|w| w.write_sequence(|w| w.next().write_bool(true)));
    extension(oid::BASIC_CONSTRAINTS, true, content)
}

#[derive(Clone, Copy)]
pub(super) enum KeyUsage {
    DigitalSignature = 0,
    NonRepudiation = 1,
    KeyCertSign = 5,
    CrlSign = 6,
}

/// KeyUsage, critical: a BIT STRING as long as its last set bit (DER).
pub(super) fn key_usage(usages: &[KeyUsage]) -> Extension {
    let bits = usages.iter().fold(0u8, |acc, u| acc | (0x80 >> *u as u8));
    let len = 8 - bits.trailing_zeros() as usize;
    let content = yasna::construct_der(|w| w.write_bitvec_bytes(&[bits], len));
    extension(oid::KEY_USAGE, true, content)
}

/// ExtendedKeyUsage: `SEQUENCE { id-kp-clientAuth }`.
pub(super) fn client_auth() -> Extension {
    let content = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_oid(&ObjectIdentifier::from_slice(oid::KP_CLIENT_AUTH))
        })
    });
    extension(oid::EXT_KEY_USAGE, false, content)
}

/// SubjectKeyIdentifier: `OCTET STRING keyid`.
pub(super) fn subject_key_identifier(key_id: &[u8]) -> Extension {
    let content = yasna::construct_der(|w| w.write_bytes(key_id));
    extension(oid::SUBJECT_KEY_IDENTIFIER, false, content)
}

/// AuthorityKeyIdentifier with all three fields (as the JPKI certificates carry it):
/// `SEQUENCE { [0] keyid, [1] GeneralNames { [4] CA name }, [2] CA serial }`.
pub(super) fn authority_key_identifier(key_id: &[u8], name: &Name, serial: &[u8]) -> Extension {
    let content = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_tagged_implicit(Tag::context(0), |w| w.write_bytes(key_id));
            w.next().write_tagged_implicit(Tag::context(1), |w| {
                w.write_sequence(|w| name.write_general_name(w.next()))
            });
            w.next()
                .write_tagged_implicit(Tag::context(2), |w| w.write_bigint_bytes(serial, true));
        })
    });
    extension(oid::AUTHORITY_KEY_IDENTIFIER, false, content)
}

/// CertificatePolicies, critical: one policy with a CPS pointer,
/// `SEQUENCE { SEQUENCE { policy, SEQUENCE { SEQUENCE { id-qt-cps, IA5String } } } }`.
pub(super) fn certificate_policies(policy: &[u64], cps_url: &str) -> Extension {
    let content = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(policy));
                w.next().write_sequence(|w| {
                    w.next().write_sequence(|w| {
                        w.next()
                            .write_oid(&ObjectIdentifier::from_slice(oid::QT_CPS));
                        w.next().write_ia5_string(cps_url);
                    })
                })
            })
        })
    });
    extension(oid::CERTIFICATE_POLICIES, true, content)
}

/// AuthorityInfoAccess: `SEQUENCE { SEQUENCE { id-ad-ocsp, [6] IA5String url } }`.
pub(super) fn authority_info_access(url: &str) -> Extension {
    let content = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&ObjectIdentifier::from_slice(oid::AD_OCSP));
                w.next()
                    .write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(url));
            })
        })
    });
    extension(oid::AUTHORITY_INFO_ACCESS, false, content)
}
