//! The user-authentication certificate a client sends: is it one of ours, and
//! which one is it?
//!
//! The service links a confirmation to a person by the certificate itself (it
//! names no one), so before anything else the certificate must be shown to come
//! from the JPKI user-authentication CA: its issuer name is a trusted CA's subject
//! name **and** the CA's key verifies its signature. The name alone proves
//! nothing — anyone can make a CA with the same DN — so a certificate whose issuer
//! matches by name but not by key is refused as forged.
//!
//! What this module does not decide: whether the certificate is within its
//! validity. A physical card stays usable for a while after expiry, so the
//! validity period is handed to [`super::expiry::standing`], which knows the
//! grace rules; [`ValidityPeriod::check`] is the plain X.509 check for callers
//! that want no grace.
//!
//! Strictness, on purpose (this is a test bench for clients): the input must be
//! exactly one DER certificate. The certificate EF on a card has filler after the
//! certificate; a client that sends the EF as read, filler and all, is told so
//! ([`CertificateError::TrailingData`]) rather than silently forgiven.
//!
//! Names are compared as DER bytes. RFC 5280 allows a looser comparison, but the
//! simulated JPKI writes a CA's name identically in every certificate it issues,
//! so byte equality is exact here.

use std::collections::HashMap;
use std::fmt;

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::x509::X509;
use time::{Date, OffsetDateTime};

use crate::clock::jst_date;

/// Why a certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Not a DER X.509 certificate at all.
    #[error("not a DER certificate: {0}")]
    Malformed(String),
    /// A certificate followed by more bytes.
    #[error("{extra} bytes after the certificate's DER")]
    TrailingData { extra: usize },
    /// No trusted CA has the certificate's issuer name.
    #[error("issued by an unknown CA")]
    UnknownIssuer,
    /// A trusted CA has the issuer's name, but its key does not verify the
    /// certificate's signature: a look-alike CA, or a tampered certificate.
    #[error("the signature does not verify with the CA's key")]
    BadSignature,
    /// A key the service has no use for (neither RSA nor EC P-256).
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    /// The certificate is on the revocation list.
    #[error("revoked ({reason})")]
    Revoked { reason: RevocationReason },
    /// Before notBefore (plain X.509 check).
    #[error("not valid before {not_before}")]
    NotYetValid { not_before: OffsetDateTime },
    /// After notAfter (plain X.509 check).
    #[error("expired at {not_after}")]
    Expired { not_after: OffsetDateTime },
}

/// A certificate serial number: the unsigned big-endian magnitude, without
/// leading zero bytes. Shown as upper-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialNumber(Vec<u8>);

impl SerialNumber {
    /// From big-endian bytes; leading zeros are dropped so that one number has one
    /// form, however it was written.
    pub fn from_bytes(bytes: &[u8]) -> SerialNumber {
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        SerialNumber(bytes[first..].to_vec())
    }

    /// From hex, as an admin request or a fixture would give it. `None` when it is
    /// not hex.
    pub fn from_hex(hex: &str) -> Option<SerialNumber> {
        let hex = hex.trim();
        let padded = if hex.len() % 2 == 1 {
            format!("0{hex}")
        } else {
            hex.to_owned()
        };
        let bytes = (0..padded.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(padded.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(SerialNumber::from_bytes(&bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("00");
        }
        for b in &self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SerialNumber({self})")
    }
}

/// The kind of key a certificate certifies: it decides which signature the
/// service expects over its challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA, with the modulus size in bits (2048 on the card and Android).
    Rsa { bits: u32 },
    /// ECDSA on P-256 (the iPhone).
    EcP256,
}

/// A certificate's validity period, as instants (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidityPeriod {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl ValidityPeriod {
    /// The JST date the certificate starts on.
    pub fn start_date(&self) -> Date {
        jst_date(self.not_before)
    }

    /// The JST date the certificate expires on (有効期間満了日): the day of
    /// notAfter in Japan. For JPKI's 14:59:59Z, that is the UTC date too.
    pub fn expiry_date(&self) -> Date {
        jst_date(self.not_after)
    }

    /// The plain X.509 check, both ends inclusive, to the second: no grace period.
    pub fn check(&self, now: OffsetDateTime) -> Result<(), CertificateError> {
        let second = now.unix_timestamp();
        if second < self.not_before.unix_timestamp() {
            Err(CertificateError::NotYetValid {
                not_before: self.not_before,
            })
        } else if second > self.not_after.unix_timestamp() {
            Err(CertificateError::Expired {
                not_after: self.not_after,
            })
        } else {
            Ok(())
        }
    }
}

/// What the service keeps of a verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    pub serial: SerialNumber,
    /// The subject's CN: 23 characters on a JPKI certificate.
    pub subject_cn: String,
    pub validity: ValidityPeriod,
    /// The certified key, DER `SubjectPublicKeyInfo`: what the challenge signature
    /// is verified with.
    pub spki_der: Vec<u8>,
    pub key_type: KeyType,
}

impl CertificateSummary {
    /// The JST date the certificate starts on.
    pub fn not_before_date(&self) -> Date {
        self.validity.start_date()
    }

    /// The JST date the certificate expires on.
    pub fn not_after_date(&self) -> Date {
        self.validity.expiry_date()
    }
}

/// The CA certificates the service trusts: the simulated JPKI's
/// user-authentication CA, and any other a scenario adds (a CA being rolled
/// over). Parsed once, when the service starts.
#[derive(Clone, Default)]
pub struct TrustAnchors {
    /// Each CA with its subject name's DER, the key the lookup is by.
    cas: Vec<(Vec<u8>, PKey<Public>)>,
}

impl fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("cas", &self.cas.len())
            .finish()
    }
}

impl TrustAnchors {
    pub fn new() -> TrustAnchors {
        TrustAnchors::default()
    }

    /// Trusts the CA whose certificate is `der`. The CA certificate itself is
    /// trusted as configured: it is not checked against a clock or a parent.
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), CertificateError> {
        let ca = parse_exact(der)?;
        let name = ca
            .subject_name()
            .to_der()
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        let key = ca
            .public_key()
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        self.cas.push((name, key));
        Ok(())
    }

    /// Trust in the CAs whose certificates are `ders`.
    pub fn from_ders<'a>(
        ders: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<TrustAnchors, CertificateError> {
        let mut anchors = TrustAnchors::new();
        for der in ders {
            anchors.add_der(der)?;
        }
        Ok(anchors)
    }

    pub fn is_empty(&self) -> bool {
        self.cas.is_empty()
    }

    /// Parses `der` and checks that a trusted CA issued it (name and signature).
    /// Says nothing of dates or revocation.
    pub fn verify(&self, der: &[u8]) -> Result<CertificateSummary, CertificateError> {
        let cert = parse_exact(der)?;
        let issuer = cert
            .issuer_name()
            .to_der()
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        let mut named = self
            .cas
            .iter()
            .filter(|(name, _)| *name == issuer)
            .peekable();
        if named.peek().is_none() {
            return Err(CertificateError::UnknownIssuer);
        }
        // An OpenSSL error while verifying (an odd signature algorithm, say) is a
        // signature that does not verify.
        if !named.any(|(_, key)| cert.verify(key).unwrap_or(false)) {
            return Err(CertificateError::BadSignature);
        }
        summarize(&cert)
    }
}

/// Parses a certificate without checking who issued it: for tools and tests
/// that want to look at one. The service uses [`TrustAnchors::verify`].
pub fn parse(der: &[u8]) -> Result<CertificateSummary, CertificateError> {
    summarize(&parse_exact(der)?)
}

/// Exactly one DER certificate: the outer SEQUENCE must span the input.
fn parse_exact(der: &[u8]) -> Result<X509, CertificateError> {
    let total = der_sequence_length(der).ok_or_else(|| {
        CertificateError::Malformed("does not start with a DER SEQUENCE header".into())
    })?;
    if total > der.len() {
        return Err(CertificateError::Malformed(format!(
            "truncated: the header announces {total} bytes, {} given",
            der.len()
        )));
    }
    if total < der.len() {
        return Err(CertificateError::TrailingData {
            extra: der.len() - total,
        });
    }
    X509::from_der(der).map_err(|e| CertificateError::Malformed(e.to_string()))
}

/// The length of the DER SEQUENCE at the start of `bytes`, header included, read
/// from its header alone. `None` when the header is not a definite-length
/// SEQUENCE header.
fn der_sequence_length(bytes: &[u8]) -> Option<usize> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let count = usize::from(first & 0x7F);
    // 0x80 is BER's indefinite length; more than 4 length bytes is no certificate.
    if count == 0 || count > 4 {
        return None;
    }
    let length = rest
        .get(..count)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some(length.saturating_add(2 + count))
}

fn summarize(cert: &X509) -> Result<CertificateSummary, CertificateError> {
    let malformed = |e: openssl::error::ErrorStack| CertificateError::Malformed(e.to_string());
    let serial = cert.serial_number().to_bn().map_err(malformed)?.to_vec();
    let subject_cn = cert
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|entry| entry.data().to_string().ok())
        .ok_or_else(|| CertificateError::Malformed("the subject has no CN".into()))?;
    let validity = ValidityPeriod {
        not_before: to_offset_date_time(cert.not_before())?,
        not_after: to_offset_date_time(cert.not_after())?,
    };
    let key = cert.public_key().map_err(malformed)?;
    let key_type = key_type(&key)?;
    let spki_der = key.public_key_to_der().map_err(malformed)?;
    Ok(CertificateSummary {
        serial: SerialNumber::from_bytes(&serial),
        subject_cn,
        validity,
        spki_der,
        key_type,
    })
}

/// RSA of any size, or EC on P-256; anything else is refused.
pub(crate) fn key_type(key: &PKey<Public>) -> Result<KeyType, CertificateError> {
    match key.id() {
        Id::RSA => Ok(KeyType::Rsa { bits: key.bits() }),
        Id::EC => {
            let curve = key.ec_key().ok().and_then(|ec| ec.group().curve_name());
            match curve {
                Some(Nid::X9_62_PRIME256V1) => Ok(KeyType::EcP256),
                other => Err(CertificateError::UnsupportedKey(format!(
                    "EC on {}",
                    other
                        .and_then(|nid| nid.short_name().ok())
                        .unwrap_or("an unnamed curve")
                ))),
            }
        }
        other => Err(CertificateError::UnsupportedKey(format!("{other:?}"))),
    }
}

/// An ASN.1 time as an instant, by its distance from the Unix epoch (the only
/// conversion the openssl crate offers that needs no string parsing).
fn to_offset_date_time(t: &Asn1TimeRef) -> Result<OffsetDateTime, CertificateError> {
    let malformed = |what: String| CertificateError::Malformed(what);
    let epoch = Asn1Time::from_unix(0).map_err(|e| malformed(e.to_string()))?;
    let diff = epoch.diff(t).map_err(|e| malformed(e.to_string()))?;
    let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| malformed(e.to_string()))
}

/// Why a certificate was revoked: the cases the service's users meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// The card was reported lost or stolen (紛失).
    Lost,
    /// The holder moved out of the municipality without renewing (転出).
    Moved,
    /// The holder died (死亡).
    Died,
    /// The certificate was renewed or the card reissued; the old one is void.
    Superseded,
    Other,
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RevocationReason::Lost => "card lost",
            RevocationReason::Moved => "holder moved",
            RevocationReason::Died => "holder died",
            RevocationReason::Superseded => "superseded",
            RevocationReason::Other => "other",
        })
    }
}

/// One revocation: why, and from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub reason: RevocationReason,
    /// The revocation takes effect at this instant: a scenario can revoke a card
    /// "tomorrow" and see it confirm today.
    pub effective: OffsetDateTime,
}

/// The revoked user-authentication certificates, by serial number. Serials are
/// unique within one CA; the service trusts one user-authentication CA at a time,
/// so the serial alone names a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    revoked: HashMap<SerialNumber, Revocation>,
}

impl RevocationList {
    pub fn new() -> RevocationList {
        RevocationList::default()
    }

    /// Revokes `serial` from `effective` on. Revoking again replaces the entry.
    pub fn revoke(
        &mut self,
        serial: SerialNumber,
        reason: RevocationReason,
        effective: OffsetDateTime,
    ) {
        self.revoked
            .insert(serial, Revocation { reason, effective });
    }

    /// Takes `serial` off the list (a scenario undoing its revocation).
    pub fn reinstate(&mut self, serial: &SerialNumber) -> Option<Revocation> {
        self.revoked.remove(serial)
    }

    /// The revocation in force for `serial` at `now`, if any.
    pub fn revocation(&self, serial: &SerialNumber, now: OffsetDateTime) -> Option<Revocation> {
        self.revoked
            .get(serial)
            .filter(|r| now >= r.effective)
            .copied()
    }

    /// Whether `serial` is revoked at `now`.
    pub fn is_revoked(&self, serial: &SerialNumber, now: OffsetDateTime) -> bool {
        self.revocation(serial, now).is_some()
    }

    /// `Err(Revoked)` when `serial` is revoked at `now`.
    pub fn check(
        &self,
        serial: &SerialNumber,
        now: OffsetDateTime,
    ) -> Result<(), CertificateError> {
        match self.revocation(serial, now) {
            Some(r) => Err(CertificateError::Revoked { reason: r.reason }),
            None => Ok(()),
        }
    }

    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_card::keys::{EcKey, RsaKey};
    use sim_card::persona::Sex;
    use sim_card::pki::{CertificateHolder, Jpki, Purpose};
    use std::sync::OnceLock;
    use time::macros::{date, datetime};

    fn holder() -> CertificateHolder {
        CertificateHolder {
            name: "資格　太郎".into(),
            address: "東京都千代田区".into(),
            birth_date: date!(1985 - 04 - 12),
            sex: Sex::Male,
            municipality_code: "131016".into(),
            city: None,
        }
    }

    fn jpki() -> &'static Jpki {
        static PKI: OnceLock<Jpki> = OnceLock::new();
        PKI.get_or_init(|| Jpki::derive("kazasu-service-rules-test", "JPKI-TEST").unwrap())
    }

    fn anchors() -> TrustAnchors {
        TrustAnchors::from_ders([jpki().ca_certificate_der(Purpose::UserAuthentication)]).unwrap()
    }

    fn card_cert() -> Vec<u8> {
        let key = RsaKey::derive("kazasu-service-rules-card", "jpki-auth");
        jpki()
            .issue_auth_certificate(
                &holder(),
                &key,
                date!(2021 - 02 - 11),
                date!(2026 - 02 - 10),
            )
            .unwrap()
    }

    #[test]
    fn a_card_certificate_verifies_and_summarizes() {
        let der = card_cert();
        let summary = anchors().verify(&der).unwrap();
        let x509 = X509::from_der(&der).unwrap();
        assert_eq!(
            summary.serial.as_bytes(),
            x509.serial_number().to_bn().unwrap().to_vec()
        );
        assert_eq!(summary.serial.as_bytes().len(), 16);
        assert_eq!(summary.subject_cn.len(), 23);
        assert!(summary.subject_cn.ends_with("13101003A"));
        assert_eq!(summary.not_before_date(), date!(2021 - 02 - 11));
        assert_eq!(summary.not_after_date(), date!(2026 - 02 - 10));
        assert_eq!(summary.validity.not_before, datetime!(2021-02-10 15:00 UTC));
        assert_eq!(
            summary.validity.not_after,
            datetime!(2026-02-10 14:59:59 UTC)
        );
        assert_eq!(summary.key_type, KeyType::Rsa { bits: 2048 });
        assert_eq!(
            summary.spki_der,
            RsaKey::derive("kazasu-service-rules-card", "jpki-auth").public_key_der()
        );
        assert_eq!(parse(&der).unwrap(), summary);
    }

    #[test]
    fn an_iphone_certificate_has_an_ec_key() {
        let key = EcKey::derive("kazasu-service-rules-iphone", "jpki-auth-iphone");
        let der = jpki()
            .issue_auth_certificate(
                &holder(),
                &key,
                date!(2025 - 06 - 24),
                date!(2030 - 04 - 12),
            )
            .unwrap();
        let summary = anchors().verify(&der).unwrap();
        assert_eq!(summary.key_type, KeyType::EcP256);
        assert_eq!(summary.spki_der, key.public_key_der());
    }

    #[test]
    fn a_look_alike_ca_is_refused() {
        // Same organisation, so the same CA name, but another seed: another key.
        let impostor = Jpki::derive("someone-elses-seed", "JPKI-TEST").unwrap();
        assert_eq!(
            X509::from_der(impostor.ca_certificate_der(Purpose::UserAuthentication))
                .unwrap()
                .subject_name()
                .to_der()
                .unwrap(),
            X509::from_der(jpki().ca_certificate_der(Purpose::UserAuthentication))
                .unwrap()
                .subject_name()
                .to_der()
                .unwrap()
        );
        let key = RsaKey::derive("kazasu-service-rules-card", "jpki-auth");
        let forged = impostor
            .issue_auth_certificate(
                &holder(),
                &key,
                date!(2021 - 02 - 11),
                date!(2026 - 02 - 10),
            )
            .unwrap();
        assert_eq!(
            anchors().verify(&forged),
            Err(CertificateError::BadSignature)
        );
    }

    #[test]
    fn other_issuers_are_unknown() {
        // The signature hierarchy's certificates are not user-authentication ones.
        let key = RsaKey::derive("kazasu-service-rules-card", "jpki-sign");
        let sign = jpki()
            .issue_sign_certificate(
                &holder(),
                &key,
                date!(2021 - 02 - 11),
                date!(2026 - 02 - 10),
            )
            .unwrap();
        assert_eq!(
            anchors().verify(&sign),
            Err(CertificateError::UnknownIssuer)
        );
        // A production-named hierarchy is another issuer name.
        let production = Jpki::derive("kazasu-service-rules-test", "JPKI").unwrap();
        let der = production
            .issue_auth_certificate(
                &holder(),
                &key,
                date!(2021 - 02 - 11),
                date!(2026 - 02 - 10),
            )
            .unwrap();
        assert_eq!(anchors().verify(&der), Err(CertificateError::UnknownIssuer));
        assert_eq!(
            TrustAnchors::new().verify(&der),
            Err(CertificateError::UnknownIssuer)
        );
        // Trusting both finds each by name.
        let mut both = anchors();
        both.add_der(production.ca_certificate_der(Purpose::UserAuthentication))
            .unwrap();
        assert!(both.verify(&der).is_ok());
        assert!(both.verify(&card_cert()).is_ok());
    }

    #[test]
    fn tampered_certificates_are_refused() {
        let der = card_cert();
        // Flip a byte inside the CN: still parses, no longer verifies.
        let cn = anchors().verify(&der).unwrap().subject_cn;
        let at = der
            .windows(cn.len())
            .position(|w| w == cn.as_bytes())
            .unwrap();
        let mut tampered = der.clone();
        tampered[at] ^= 0x01;
        assert_eq!(
            anchors().verify(&tampered),
            Err(CertificateError::BadSignature)
        );
    }

    #[test]
    fn bad_der_is_an_error() {
        let der = card_cert();
        for bad in [
            &[][..],
            &[0x30],
            &[0x31, 0x00],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &der[..der.len() - 1],
            &der[..4],
            b"-----BEGIN CERTIFICATE-----",
        ] {
            assert!(
                matches!(anchors().verify(bad), Err(CertificateError::Malformed(_))),
                "{:?}",
                &bad[..bad.len().min(8)]
            );
        }
        // A well-formed SEQUENCE that is no certificate.
        assert!(matches!(
            anchors().verify(&[0x30, 0x03, 0x02, 0x01, 0x01]),
            Err(CertificateError::Malformed(_))
        ));
        // The EF as read from the card: certificate, then filler.
        let mut ef = der.clone();
        ef.extend_from_slice(&[0xFF; 40]);
        assert_eq!(
            anchors().verify(&ef),
            Err(CertificateError::TrailingData { extra: 40 })
        );
        assert!(TrustAnchors::new().add_der(b"not a CA").is_err());
    }

    #[test]
    fn plain_validity_check_is_inclusive_to_the_second() {
        let validity = parse(&card_cert()).unwrap().validity;
        assert!(matches!(
            validity.check(datetime!(2021-02-10 14:59:59 UTC)),
            Err(CertificateError::NotYetValid { .. })
        ));
        assert!(validity.check(datetime!(2021-02-10 15:00:00 UTC)).is_ok());
        assert!(
            validity
                .check(datetime!(2026-02-10 14:59:59.999 UTC))
                .is_ok()
        );
        assert_eq!(
            validity.check(datetime!(2026-02-10 15:00:00 UTC)),
            Err(CertificateError::Expired {
                not_after: datetime!(2026-02-10 14:59:59 UTC)
            })
        );
    }

    #[test]
    fn revocation_takes_effect_when_it_says() {
        let serial = parse(&card_cert()).unwrap().serial;
        let mut list = RevocationList::new();
        assert!(list.is_empty());
        assert_eq!(list.check(&serial, datetime!(2026-01-01 00:00 UTC)), Ok(()));
        list.revoke(
            serial.clone(),
            RevocationReason::Lost,
            datetime!(2025-12-01 09:00 +09:00),
        );
        assert!(!list.is_revoked(&serial, datetime!(2025-12-01 08:59:59 +09:00)));
        assert!(list.is_revoked(&serial, datetime!(2025-12-01 09:00 +09:00)));
        assert_eq!(
            list.check(&serial, datetime!(2026-01-01 00:00 UTC)),
            Err(CertificateError::Revoked {
                reason: RevocationReason::Lost
            })
        );
        // Another serial is untouched.
        let other = SerialNumber::from_hex("01").unwrap();
        assert!(!list.is_revoked(&other, datetime!(2026-01-01 00:00 UTC)));
        assert!(list.reinstate(&serial).is_some());
        assert!(!list.is_revoked(&serial, datetime!(2026-01-01 00:00 UTC)));
    }

    #[test]
    fn serial_numbers_have_one_form() {
        let a = SerialNumber::from_bytes(&[0x00, 0x4A, 0x01]);
        assert_eq!(a.as_bytes(), [0x4A, 0x01]);
        assert_eq!(a.to_string(), "4A01");
        assert_eq!(SerialNumber::from_hex("4a01"), Some(a.clone()));
        assert_eq!(SerialNumber::from_hex(" 004A01 "), Some(a.clone()));
        assert_eq!(SerialNumber::from_hex("A01").unwrap().to_string(), "0A01");
        assert_eq!(SerialNumber::from_hex("xyz"), None);
        assert_eq!(SerialNumber::from_hex("é1"), None);
        assert_eq!(SerialNumber::from_bytes(&[0, 0]).to_string(), "00");
        assert_eq!(format!("{a:?}"), "SerialNumber(4A01)");
    }
}
