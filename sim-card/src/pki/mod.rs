//! A simulated JPKI (公的個人認証サービス) hierarchy that issues the card's certificates.
//!
//! The real service runs two separate hierarchies, one for the user-authentication
//! certificate (利用者証明用電子証明書) and one for the signature certificate
//! (署名用電子証明書), each under a self-signed CA. This module derives both CAs from
//! a seed and issues end-entity certificates in the real profile (as public
//! JPKI certificates show it), so that clients and services which look at the certificate's shape
//! (policy OIDs, the subjectAltName of the signature certificate, the JST end of
//! validity) see what they would see on a real card.
//!
//! Everything is reproducible: the keys are derived ([`RsaKey::derive`]), serial
//! numbers and subject names are hashes of the certificate's inputs, dates are
//! passed in, and RSA PKCS#1 v1.5 signatures are deterministic. The same seed,
//! holder, key and dates always give byte-identical DER.
//!
//! The certificates are written here with yasna, not assembled by rcgen: rcgen's
//! `DistinguishedName` keeps one value per attribute type, and every JPKI name
//! repeats one (the CAs have two `OU`s, the signature certificate's subject may
//! have two `L`s, the CRL distribution point has three `OU`s). Writing the
//! TBSCertificate directly also puts the extensions in the order the real
//! certificates carry them. The generic writer (names, TBSCertificate,
//! RFC 5280 extensions, the CA's signature) is the private `der` module; this
//! one is the JPKI profile. [`RsaKey`] still implements rcgen's signing traits,
//! for callers who make simpler certificates (a mock service's TLS certificate)
//! with a derived key.

use std::fmt;

use openssl::error::ErrorStack;
use openssl::x509::X509;
use time::macros::{date, offset, time};
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};
use yasna::Tag;
use yasna::models::ObjectIdentifier;

use crate::keys::{KeyError, RsaKey};
use crate::persona::{Persona, Sex};

pub mod card_issuer;
mod der;

pub use der::SubjectKey;
use der::{
    Extension, KeyUsage, Name, Tbs, authority_info_access, authority_key_identifier,
    basic_constraints_ca, certificate_policies, client_auth, extension, hash, key_identifier,
    key_usage, oid, serial, subject_key_identifier,
};

/// The organisation in the CA names of the official test hierarchy; the production
/// hierarchy says `JPKI`.
pub const DEFAULT_ORGANIZATION: &str = "JPKI-TEST";
/// The last organisational unit of both CA names.
pub const AGENCY: &str = "Japan Agency for Local Authority Information Systems";
/// What the issuer alternative name of every end-entity certificate says.
pub const SERVICE_NAME: &str = "公的個人認証サービス";
/// OCSP responder named in user-authentication certificates. `.invalid` never
/// resolves (RFC 2606): a client that really fetches it fails at once instead of
/// reaching someone's server.
pub const AUTH_OCSP_URL: &str = "http://ocsp-auth.jpki.invalid";
/// OCSP responder named in signature certificates.
pub const SIGN_OCSP_URL: &str = "http://ocsp-sign.jpki.invalid";
/// Certification practice statement named in the policies extension.
pub const CPS_URL: &str = "http://www.jpki.invalid/cps";

/// Policy of the user-authentication certificate.
pub const AUTH_POLICY: &[u64] = &[1, 2, 392, 200149, 8, 5, 1, 3, 30];
/// Policy of the signature certificate.
pub const SIGN_POLICY: &[u64] = &[1, 2, 392, 200149, 8, 5, 1, 1, 10];
/// The JPKI personal-data arc: `.1` name, `.2` substitute characters of the name,
/// `.3` sex, `.4` date of birth, `.5` address, `.6` substitute characters of the
/// address. They appear as otherNames in the signature certificate only.
pub const PERSONAL_DATA_ARC: &[u64] = &[1, 2, 392, 200149, 8, 5, 5];

/// The CAs are valid from 2014-01-01 00:00:00 JST ...
const CA_NOT_BEFORE: Date = date!(2014 - 01 - 01);
/// ... to 2043-12-31 23:59:59 JST, long enough for any profile's certificates.
const CA_NOT_AFTER: Date = date!(2043 - 12 - 31);

/// Japan Standard Time: certificate dates are JST calendar days.
const JST: UtcOffset = offset!(+9);

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] ErrorStack),
    #[error("holder: {0}")]
    Holder(String),
    #[error("validity: {0}")]
    Validity(String),
}

/// The two JPKI hierarchies, and so the two kinds of end-entity certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// 利用者証明用: proves who is present (log-in, the health-insurance check).
    UserAuthentication,
    /// 署名用: signs documents, and names the holder.
    DigitalSignature,
}

impl Purpose {
    /// The organisational unit that tells the two hierarchies apart.
    pub fn unit(self) -> &'static str {
        match self {
            Purpose::UserAuthentication => "JPKI for user authentication",
            Purpose::DigitalSignature => "JPKI for digital signature",
        }
    }

    /// The certificate policy of this kind of end-entity certificate.
    pub fn policy(self) -> &'static [u64] {
        match self {
            Purpose::UserAuthentication => AUTH_POLICY,
            Purpose::DigitalSignature => SIGN_POLICY,
        }
    }

    /// The OCSP responder named in this kind of certificate.
    pub fn ocsp_url(self) -> &'static str {
        match self {
            Purpose::UserAuthentication => AUTH_OCSP_URL,
            Purpose::DigitalSignature => SIGN_OCSP_URL,
        }
    }

    /// Short tag mixed into hashes and key labels.
    fn tag(self) -> &'static str {
        match self {
            Purpose::UserAuthentication => "auth",
            Purpose::DigitalSignature => "sign",
        }
    }
}

/// What a certificate may say about its holder.
///
/// Built from a [`Persona`], minus the My Number: there is no field for it, so no
/// certificate can carry it, as none on a real card does.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateHolder {
    /// Family and given name separated by U+3000, as on the card.
    pub name: String,
    pub address: String,
    pub birth_date: Date,
    pub sex: Sex,
    /// The 6-digit local government code; its first two digits are the prefecture.
    pub municipality_code: String,
    /// The municipality's romanised name (`Kiyose-shi`), for the signature
    /// certificate's subject and both CRL distribution points. A persona has no
    /// romanised names, so this starts empty; the prefecture comes from the code.
    pub city: Option<String>,
}

impl From<&Persona> for CertificateHolder {
    fn from(persona: &Persona) -> Self {
        CertificateHolder {
            name: persona.name.clone(),
            address: persona.address.clone(),
            birth_date: persona.birth_date,
            sex: persona.sex,
            municipality_code: persona.municipality_code.clone(),
            city: None,
        }
    }
}

impl CertificateHolder {
    /// The prefecture, romanised the way certificate names spell it (`Tokyo-to`).
    pub fn prefecture(&self) -> Result<&'static str, PkiError> {
        let code = &self.municipality_code;
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PkiError::Holder(format!(
                "municipality code {code:?} is not 6 digits"
            )));
        }
        let number: usize = code[..2].parse().expect("two digits");
        PREFECTURES
            .get(number.wrapping_sub(1))
            .copied()
            .ok_or_else(|| PkiError::Holder(format!("no prefecture numbered {:?}", &code[..2])))
    }

    /// The date of birth as the signature certificate writes it: the era code
    /// (1 Meiji, 2 Taisho, 3 Showa, 4 Heisei, 5 Reiwa) followed by the Gregorian
    /// `YYYYMMDD`, nine digits in all (J-LIS certificate profile).
    pub fn birth_date_field(&self) -> Result<String, PkiError> {
        let d = self.birth_date;
        let era = ERAS
            .iter()
            .rev()
            .find(|(start, _)| d >= *start)
            .map(|(_, code)| code)
            .ok_or_else(|| PkiError::Holder(format!("birth date {d} is before the Meiji era")))?;
        Ok(format!(
            "{era}{:04}{:02}{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        ))
    }
}

/// First days of the eras since Meiji, with their one-digit codes.
const ERAS: [(Date, char); 5] = [
    (date!(1868 - 10 - 23), '1'),
    (date!(1912 - 07 - 30), '2'),
    (date!(1926 - 12 - 25), '3'),
    (date!(1989 - 01 - 08), '4'),
    (date!(2019 - 05 - 01), '5'),
];

/// The prefectures in JIS X 0401 order (code 01 first), romanised.
const PREFECTURES: [&str; 47] = [
    "Hokkaido",
    "Aomori-ken",
    "Iwate-ken",
    "Miyagi-ken",
    "Akita-ken",
    "Yamagata-ken",
    "Fukushima-ken",
    "Ibaraki-ken",
    "Tochigi-ken",
    "Gunma-ken",
    "Saitama-ken",
    "Chiba-ken",
    "Tokyo-to",
    "Kanagawa-ken",
    "Niigata-ken",
    "Toyama-ken",
    "Ishikawa-ken",
    "Fukui-ken",
    "Yamanashi-ken",
    "Nagano-ken",
    "Gifu-ken",
    "Shizuoka-ken",
    "Aichi-ken",
    "Mie-ken",
    "Shiga-ken",
    "Kyoto-fu",
    "Osaka-fu",
    "Hyogo-ken",
    "Nara-ken",
    "Wakayama-ken",
    "Tottori-ken",
    "Shimane-ken",
    "Okayama-ken",
    "Hiroshima-ken",
    "Yamaguchi-ken",
    "Tokushima-ken",
    "Kagawa-ken",
    "Ehime-ken",
    "Kochi-ken",
    "Fukuoka-ken",
    "Saga-ken",
    "Nagasaki-ken",
    "Kumamoto-ken",
    "Oita-ken",
    "Miyazaki-ken",
    "Kagoshima-ken",
    "Okinawa-ken",
];

/// A CA's name: `C=JP, O=<organization>, OU=<purpose unit>, OU=<agency>`.
fn ca_name(organization: &str, purpose: Purpose) -> Name {
    Name(vec![
        (oid::COUNTRY, "JP".into()),
        (oid::ORGANIZATION, organization.into()),
        (oid::ORGANIZATIONAL_UNIT, purpose.unit().into()),
        (oid::ORGANIZATIONAL_UNIT, AGENCY.into()),
    ])
}

/// One of the two CAs.
struct Authority {
    name: Name,
    key: RsaKey,
    key_id: Vec<u8>,
    serial: Vec<u8>,
    der: Vec<u8>,
    pem: String,
}

/// The simulated JPKI: both CAs, ready to issue.
pub struct Jpki {
    organization: String,
    auth: Authority,
    sign: Authority,
}

impl fmt::Debug for Jpki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jpki")
            .field("organization", &self.organization)
            .field("auth_ca_key", &self.auth.key)
            .field("sign_ca_key", &self.sign.key)
            .finish_non_exhaustive()
    }
}

impl Jpki {
    /// Derives both CAs from `seed`. `organization` is the `O=` of the CA names:
    /// [`DEFAULT_ORGANIZATION`] for the test hierarchy's name, `JPKI` to look like
    /// production. The CA keys depend on the seed only.
    pub fn derive(seed: &str, organization: &str) -> Result<Jpki, PkiError> {
        Ok(Jpki {
            organization: organization.to_owned(),
            auth: Authority::derive(seed, organization, Purpose::UserAuthentication)?,
            sign: Authority::derive(seed, organization, Purpose::DigitalSignature)?,
        })
    }

    pub fn organization(&self) -> &str {
        &self.organization
    }

    fn authority(&self, purpose: Purpose) -> &Authority {
        match purpose {
            Purpose::UserAuthentication => &self.auth,
            Purpose::DigitalSignature => &self.sign,
        }
    }

    /// The self-signed CA certificate of a hierarchy, DER (what EF 000B / 0002 hold).
    pub fn ca_certificate_der(&self, purpose: Purpose) -> &[u8] {
        &self.authority(purpose).der
    }

    /// The self-signed CA certificate of a hierarchy, PEM.
    pub fn ca_certificate_pem(&self, purpose: Purpose) -> &str {
        &self.authority(purpose).pem
    }

    /// The CA's private key as PKCS#8 PEM, for a mock service that signs OCSP
    /// answers or CRLs as this CA.
    pub fn ca_private_key_pem(&self, purpose: Purpose) -> Result<String, PkiError> {
        Ok(self.authority(purpose).key.private_key_pem()?)
    }

    /// The CA's key.
    pub fn ca_key(&self, purpose: Purpose) -> &RsaKey {
        &self.authority(purpose).key
    }

    /// Issues a user-authentication certificate (for EF 000A) for `key`.
    ///
    /// Its subject is `C=JP, CN=<23 characters>` (see [`Jpki::common_name`]) and
    /// nothing else: the real certificate names no one, and a service links it to a
    /// person by the certificate itself. Valid from `not_before` 00:00:00 JST to
    /// `not_after` 23:59:59 JST.
    pub fn issue_auth_certificate(
        &self,
        holder: &CertificateHolder,
        key: &(impl SubjectKey + ?Sized),
        not_before: Date,
        not_after: Date,
    ) -> Result<Vec<u8>, PkiError> {
        self.issue(
            Purpose::UserAuthentication,
            holder,
            key,
            not_before,
            not_after,
        )
    }

    /// Issues a signature certificate (for EF 0001) for `key`: subject
    /// `C=JP, L=<prefecture>[, L=<city>], CN=<23 characters>`, and the holder's
    /// name, sex, date of birth and address as JPKI otherNames in subjectAltName.
    pub fn issue_sign_certificate(
        &self,
        holder: &CertificateHolder,
        key: &(impl SubjectKey + ?Sized),
        not_before: Date,
        not_after: Date,
    ) -> Result<Vec<u8>, PkiError> {
        self.issue(
            Purpose::DigitalSignature,
            holder,
            key,
            not_before,
            not_after,
        )
    }

    /// Issues either kind of end-entity certificate, for an RSA or a P-256 key.
    pub fn issue(
        &self,
        purpose: Purpose,
        holder: &CertificateHolder,
        key: &(impl SubjectKey + ?Sized),
        not_before: Date,
        not_after: Date,
    ) -> Result<Vec<u8>, PkiError> {
        let ca = self.authority(purpose);
        if not_before > not_after {
            return Err(PkiError::Validity(format!(
                "not_before {not_before} is after not_after {not_after}"
            )));
        }
        if not_before < CA_NOT_BEFORE || not_after > CA_NOT_AFTER {
            return Err(PkiError::Validity(format!(
                "{not_before}..{not_after} is outside the CA's {CA_NOT_BEFORE}..{CA_NOT_AFTER}"
            )));
        }
        let prefecture = holder.prefecture()?;
        let common_name = Self::common_name(purpose, holder, key)?;

        let mut subject = vec![(oid::COUNTRY, "JP".to_owned())];
        if purpose == Purpose::DigitalSignature {
            subject.push((oid::LOCALITY, prefecture.to_owned()));
            if let Some(city) = &holder.city {
                subject.push((oid::LOCALITY, city.clone()));
            }
        }
        subject.push((oid::COMMON_NAME, common_name.clone()));

        let serial = serial(&[
            b"kazasu jpki end-entity serial",
            purpose.tag().as_bytes(),
            ca.key.public_key_der(),
            key.spki_der(),
            common_name.as_bytes(),
            not_before.to_string().as_bytes(),
            not_after.to_string().as_bytes(),
        ])?;

        let mut extensions = vec![
            authority_key_identifier(&ca.key_id, &ca.name, &ca.serial),
            match purpose {
                Purpose::UserAuthentication => key_usage(&[KeyUsage::DigitalSignature]),
                Purpose::DigitalSignature => {
                    key_usage(&[KeyUsage::DigitalSignature, KeyUsage::NonRepudiation])
                }
            },
        ];
        match purpose {
            Purpose::UserAuthentication => extensions.push(client_auth()),
            Purpose::DigitalSignature => extensions.push(personal_data(holder)?),
        }
        extensions.extend([
            issuer_alt_name(),
            crl_distribution_point(&self.organization, purpose, prefecture, holder),
            certificate_policies(purpose.policy(), CPS_URL),
            subject_key_identifier(&key_identifier(key)),
            authority_info_access(purpose.ocsp_url()),
        ]);

        let tbs = Tbs {
            serial: &serial,
            issuer: &ca.name,
            not_before: jst_start_of_day(not_before),
            not_after: jst_end_of_day(not_after),
            subject: &Name(subject),
            subject_spki: key.spki_der(),
            extensions: &extensions,
        };
        Ok(tbs.sign(&ca.key)?)
    }

    /// The 23-character subject CN of a certificate for `key`.
    ///
    /// Layout: 14 characters from `[0-9A-Z]`, then the first five digits of the
    /// municipality code, then `003A`. The real CNs seen (`840444E37PAFHN08220003A`,
    /// `997794E9AGCIEG13221003A`) have the issuing municipality's 5-digit code in
    /// that place and end in `003A`; what their first 14 characters encode is not
    /// public. Here they are SHA-256 over the purpose, the municipality code and
    /// the certified public key, one byte per character taken modulo 36. So the CN
    /// is stable for a profile, differs between the two certificates of one card
    /// and between cards, and is computed from nothing that could be turned back
    /// into a name or a My Number.
    pub fn common_name(
        purpose: Purpose,
        holder: &CertificateHolder,
        key: &(impl SubjectKey + ?Sized),
    ) -> Result<String, PkiError> {
        holder.prefecture()?; // checks the code's shape
        let hash = hash(&[
            b"kazasu jpki common name",
            purpose.tag().as_bytes(),
            holder.municipality_code.as_bytes(),
            key.spki_der(),
        ])?;
        const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut cn: String = hash[..14]
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % 36]))
            .collect();
        cn.push_str(&holder.municipality_code[..5]);
        cn.push_str("003A");
        Ok(cn)
    }
}

impl Authority {
    fn derive(seed: &str, organization: &str, purpose: Purpose) -> Result<Authority, PkiError> {
        let key = RsaKey::derive(seed, &format!("jpki-ca-{}", purpose.tag()));
        let name = ca_name(organization, purpose);
        let key_id = key_identifier(&key);
        let serial = serial(&[
            b"kazasu jpki ca serial",
            purpose.tag().as_bytes(),
            organization.as_bytes(),
            key.public_key_der(),
        ])?;

        let extensions = [
            basic_constraints_ca(),
            key_usage(&[KeyUsage::KeyCertSign, KeyUsage::CrlSign]),
            subject_key_identifier(&key_id),
        ];
        let der = Tbs {
            serial: &serial,
            issuer: &name,
            not_before: jst_start_of_day(CA_NOT_BEFORE),
            not_after: jst_end_of_day(CA_NOT_AFTER),
            subject: &name,
            subject_spki: key.public_key_der(),
            extensions: &extensions,
        }
        .sign(&key)?;
        let pem = String::from_utf8(X509::from_der(&der)?.to_pem()?).expect("PEM is ASCII");
        Ok(Authority {
            name,
            key,
            key_id,
            serial,
            der,
            pem,
        })
    }
}

/// 00:00:00 JST on `day`, i.e. 15:00:00Z the day before.
fn jst_start_of_day(day: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(day, time!(00:00:00))
        .assume_offset(JST)
        .to_offset(UtcOffset::UTC)
}

/// 23:59:59 JST on `day`, i.e. 14:59:59Z: when real JPKI certificates expire.
fn jst_end_of_day(day: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(day, time!(23:59:59))
        .assume_offset(JST)
        .to_offset(UtcOffset::UTC)
}

/// IssuerAltName: `GeneralNames { [4] { C=JP, O=公的個人認証サービス } }`.
fn issuer_alt_name() -> Extension {
    let name = Name(vec![
        (oid::COUNTRY, "JP".into()),
        (oid::ORGANIZATION, SERVICE_NAME.into()),
    ]);
    let content = yasna::construct_der(|w| w.write_sequence(|w| name.write_general_name(w.next())));
    extension(oid::ISSUER_ALT_NAME, false, content)
}

/// CRLDistributionPoints with one point whose fullName is a directory name:
/// `C=JP, O=<org>, OU=<purpose unit>, OU=CRL Distribution Points,
/// OU=<prefecture>, CN=<city or municipality code> CRLDP`. DER:
/// `SEQUENCE { SEQUENCE { [0] { [0] { [4] { Name } } } } }`: distributionPoint,
/// then fullName (GeneralNames, implicitly tagged), then the directoryName.
fn crl_distribution_point(
    organization: &str,
    purpose: Purpose,
    prefecture: &str,
    holder: &CertificateHolder,
) -> Extension {
    let place = holder
        .city
        .clone()
        .unwrap_or_else(|| holder.municipality_code.clone());
    let name = Name(vec![
        (oid::COUNTRY, "JP".into()),
        (oid::ORGANIZATION, organization.into()),
        (oid::ORGANIZATIONAL_UNIT, purpose.unit().into()),
        (oid::ORGANIZATIONAL_UNIT, "CRL Distribution Points".into()),
        (oid::ORGANIZATIONAL_UNIT, prefecture.into()),
        (oid::COMMON_NAME, format!("{place} CRLDP")),
    ]);
    let content = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_tagged_implicit(Tag::context(0), |w| {
                    w.write_sequence(|w| {
                        w.next().write_tagged_implicit(Tag::context(0), |w| {
                            w.write_sequence(|w| name.write_general_name(w.next()))
                        })
                    })
                })
            })
        })
    });
    extension(oid::CRL_DISTRIBUTION_POINTS, false, content)
}

/// subjectAltName of the signature certificate: six otherNames under the JPKI
/// personal-data arc, each `[0] { OID, [0] { UTF8String } }`, in the order the real
/// certificates list them: name (.1), date of birth (.4), sex (.3), address (.5),
/// then the substitute-character markers of the name (.2) and address (.6).
///
/// The markers record which characters of the name and address could not be
/// written as they are registered and were replaced (代替文字). Their exact format
/// is not public; here they are one `0` (nothing replaced) per character, which is
/// what a holder whose name and address are all in the common character set has.
fn personal_data(holder: &CertificateHolder) -> Result<Extension, PkiError> {
    let no_substitutes = |s: &str| "0".repeat(s.chars().count());
    let sex = char::from(b'0' + holder.sex.code()).to_string();
    let fields: [(u64, String); 6] = [
        (1, holder.name.clone()),
        (4, holder.birth_date_field()?),
        (3, sex),
        (5, holder.address.clone()),
        (2, no_substitutes(&holder.name)),
        (6, no_substitutes(&holder.address)),
    ];
    let content = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for (leaf, value) in &fields {
                let mut arc = PERSONAL_DATA_ARC.to_vec();
                arc.push(*leaf);
                w.next().write_tagged_implicit(Tag::context(0), |w| {
                    w.write_sequence(|w| {
                        w.next().write_oid(&ObjectIdentifier::from_slice(&arc));
                        w.next()
                            .write_tagged(Tag::context(0), |w| w.write_utf8_string(value));
                    })
                });
            }
        })
    });
    Ok(extension(oid::SUBJECT_ALT_NAME, false, content))
}

#[cfg(test)]
mod tests;
