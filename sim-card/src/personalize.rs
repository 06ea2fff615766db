//! Personalization: turning a [`CardProfile`] into a [`Card`] with its files,
//! PINs, keys and certificates, the way a card is issued at the municipality.
//!
//! This is the only place that knows the card's layout: which application has
//! which EF under which access condition (what public JPKI clients expect), and how each
//! [`Variant`] differs (phones carry the JPKI-AP only; docs/client-apdus.md, Phones). The card
//! state machine itself knows nothing of JPKI.

use std::sync::Arc;
use std::time::Duration;

use crate::card::{Card, DataObject, PinRef};
use crate::filesystem::{
    Access, Application, CardKey, ElementaryFile as Ef, PinFormat, SessionKeyDecryptor,
    SessionKeyDelivery,
};
use crate::formats::{self, TokenLabel};
use crate::iso7816::StatusWord;
use crate::keys::{self, EcKey, RsaKey};
use crate::mynumber::{
    COMMON_AID, EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, EF_SIGN_CERTIFICATE, EF_SIGN_KEY,
    EF_SIGN_PIN, EF_TEXT_MY_NUMBER, EF_TEXT_PIN, JPKI_AID, JUKI_AID, SHA256_DIGEST_INFO_PREFIX,
    SURFACE_AID, TEXT_AID,
};
use crate::pin::{self, Pin};
use crate::pki::card_issuer::{self, CardApplication};
use crate::pki::{CertificateHolder, Jpki, PkiError, SubjectKey};
use crate::profile::{CardProfile, PhoneKey, PinSetting, ProfileError};
use crate::variant::Variant;

/// The user-authentication PIN (利用者証明用電子証明書暗証番号).
pub const AUTH_PIN: PinRef = PinRef {
    aid: JPKI_AID,
    fid: EF_AUTH_PIN,
};
/// The signature password (署名用電子証明書暗証番号).
pub const SIGN_PIN: PinRef = PinRef {
    aid: JPKI_AID,
    fid: EF_SIGN_PIN,
};
/// The text application's PIN (券面事項入力補助用暗証番号).
pub const TEXT_PIN: PinRef = PinRef {
    aid: TEXT_AID,
    fid: EF_TEXT_PIN,
};

/// The seed of the simulated JPKI's CA keys, shared by every card and the service.
pub const PKI_SEED: &str = "kazasu-jpki";

/// Errors while issuing a card.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("cannot issue the certificates: {0}")]
    Pki(#[from] PkiError),
}

/// A card as issued: the card itself and what the issuer keeps of it.
#[derive(Debug, Clone)]
pub struct IssuedCard {
    pub card: Card,
    /// The user-authentication certificate (EF 000A), DER.
    pub auth_certificate: Vec<u8>,
    /// The signature certificate (EF 0001), DER.
    pub sign_certificate: Vec<u8>,
}

impl CardKey for RsaKey {
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, StatusWord> {
        // The only input a key refuses is one that cannot be padded into 256
        // bytes (empty or over 245 bytes): a wrong length, as the card says.
        self.sign_digest_info(input)
            .map_err(|_| StatusWord::WrongLength)
    }
}

/// SET SESSION KEY's cryptogram is RSAES-OAEP with SHA-256 (for the label
/// hash and MGF1) under the text application's session-key public key (EF
/// `0006`), as soltia48/myna-card's client encrypts it for a real card.
impl SessionKeyDecryptor for RsaKey {
    fn decrypt(&self, cryptogram: &[u8]) -> Result<Vec<u8>, StatusWord> {
        let n = self
            .pkey()
            .rsa()
            .map_err(|_| StatusWord::NoPreciseDiagnosis)?
            .n()
            .to_owned()
            .map_err(|_| StatusWord::NoPreciseDiagnosis)?;
        let c = openssl::bn::BigNum::from_slice(cryptogram)
            .map_err(|_| StatusWord::NoPreciseDiagnosis)?;
        // No RSA operation on a number at or above the modulus: the card
        // answers 6F00 (soltia48/myna-card).
        if c >= n {
            return Err(StatusWord::NoPreciseDiagnosis);
        }
        let oaep = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
            let mut ctx = openssl::pkey_ctx::PkeyCtx::new(self.pkey())?;
            ctx.decrypt_init()?;
            ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)?;
            ctx.set_rsa_oaep_md(openssl::md::Md::sha256())?;
            ctx.set_rsa_mgf1_md(openssl::md::Md::sha256())?;
            let mut out = Vec::new();
            ctx.decrypt_to_vec(cryptogram, &mut out)?;
            Ok(out)
        };
        oaep().map_err(|_| StatusWord::WrongData)
    }
}

impl CardKey for EcKey {
    /// The iPhone is handed what the plastic card is handed, a SHA-256
    /// DigestInfo, or else the bare 32-byte digest; it signs the digest
    /// (ECDSA, DER `ECDSA-Sig-Value`). Another length is a wrong length,
    /// another DigestInfo (another hash) wrong data: a P-256 key here signs
    /// SHA-256 digests only.
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, StatusWord> {
        let digest = match input.len() {
            keys::EC_DIGEST_LEN => input,
            n if n == SHA256_DIGEST_INFO_PREFIX.len() + keys::EC_DIGEST_LEN => input
                .strip_prefix(SHA256_DIGEST_INFO_PREFIX.as_slice())
                .ok_or(StatusWord::WrongData)?,
            _ => return Err(StatusWord::WrongLength),
        };
        self.sign_digest(digest)
            .map_err(|_| StatusWord::NoPreciseDiagnosis)
    }
}

/// One of the card's two JPKI keys, of the type its variant carries: RSA-2048
/// on the plastic card and Android, P-256 (or RSA-2048, if the profile says
/// so) on an iPhone.
#[derive(Debug, Clone)]
pub enum JpkiKey {
    Rsa(RsaKey),
    P256(EcKey),
}

impl JpkiKey {
    /// The key as a certificate subject.
    pub fn subject(&self) -> &dyn SubjectKey {
        match self {
            JpkiKey::Rsa(key) => key,
            JpkiKey::P256(key) => key,
        }
    }

    fn card_key(&self) -> Arc<dyn CardKey> {
        match self {
            JpkiKey::Rsa(key) => Arc::new(key.clone()),
            JpkiKey::P256(key) => Arc::new(key.clone()),
        }
    }
}

/// The key labels of `variant`: a phone makes keys of its own when the card
/// is added to it, so each variant derives its keys under its own labels from
/// the one profile seed (the two physical variants are the same card).
fn key_labels(variant: Variant) -> (&'static str, &'static str) {
    match variant {
        Variant::PhysicalContact | Variant::PhysicalContactless => {
            (keys::AUTH_KEY_LABEL, keys::SIGN_KEY_LABEL)
        }
        Variant::Android => (keys::ANDROID_AUTH_KEY_LABEL, keys::ANDROID_SIGN_KEY_LABEL),
        Variant::Iphone => (keys::IPHONE_AUTH_KEY_LABEL, keys::IPHONE_SIGN_KEY_LABEL),
    }
}

fn derive_key(profile: &CardProfile, label: &str) -> JpkiKey {
    match (profile.variant, profile.phone.iphone_key) {
        (Variant::Iphone, PhoneKey::P256) => JpkiKey::P256(EcKey::derive(&profile.seed, label)),
        _ => JpkiKey::Rsa(RsaKey::derive(&profile.seed, label)),
    }
}

/// The user-authentication key (EF 0017) of the card `profile` describes.
pub fn auth_key(profile: &CardProfile) -> JpkiKey {
    derive_key(profile, key_labels(profile.variant).0)
}

/// The signature key (EF 001A) of the card `profile` describes. A phone's is
/// of the same type as its auth key (a simplification: the phones' signature
/// keys are not documented publicly).
pub fn sign_key(profile: &CardProfile) -> JpkiKey {
    derive_key(profile, key_labels(profile.variant).1)
}

/// Issues the card `profile` describes, with certificates from `pki`.
///
/// What the card holds depends on its variant (docs/client-apdus.md, Phones):
///
/// - the plastic card (contact or contactless): the five applications;
/// - an Android phone: the JPKI-AP only (a phone carries only the JPKI
///   certificates), token `JPKIAPGPSETOKEN`, and the auth certificate (EF
///   000A) readable only after the smartphone PIN (EF 0018) was verified;
/// - an iPhone: the JPKI-AP only, token `JPKIAPIOSTOKEN`, no PIN EFs; the
///   auth certificate is free to read, the signature certificate and both keys
///   need the holder's Face ID authentication; with `phone.wallet_opened =
///   false`, no application at all.
pub fn issue(profile: &CardProfile, pki: &Jpki) -> Result<IssuedCard, IssueError> {
    profile.validate()?;
    let holder = CertificateHolder::from(&profile.persona);
    let certs = &profile.certificates;

    let auth_key = auth_key(profile);
    let sign_key = sign_key(profile);
    let auth_certificate = pki.issue_auth_certificate(
        &holder,
        auth_key.subject(),
        certs.auth.not_before,
        certs.auth.not_after,
    )?;
    let sign_certificate = pki.issue_sign_certificate(
        &holder,
        sign_key.subject(),
        certs.sign.not_before,
        certs.sign.not_after,
    )?;
    let jpki = jpki_application(
        profile,
        pki,
        [&auth_key, &sign_key],
        [&auth_certificate, &sign_certificate],
    );
    let applications = match profile.variant {
        Variant::PhysicalContact | Variant::PhysicalContactless => vec![
            jpki,
            text_application(profile),
            surface_application(profile),
            common_application(profile),
            Application::new(JUKI_AID, "住基AP", Vec::new())
                .with_session_key(SessionKeyDelivery::Refused),
        ],
        Variant::Android => vec![jpki],
        Variant::Iphone if profile.phone.wallet_opened => vec![jpki],
        Variant::Iphone => Vec::new(),
    };
    let data_objects = match profile.variant {
        Variant::PhysicalContact | Variant::PhysicalContactless => master_file_objects(profile)?,
        // A phone answers no GET DATA (documented choice: nothing public).
        Variant::Android | Variant::Iphone => Vec::new(),
    };
    let window = Duration::from_secs(profile.phone.authentication_window_seconds.into());
    let card = Card::new(profile.atr()?, applications)
        .with_data_objects(data_objects)
        .carried_by(profile.variant, window)
        .behaving(profile.behaviour);
    Ok(IssuedCard {
        card,
        auth_certificate,
        sign_certificate,
    })
}

/// What GET DATA answers on the plastic card ([`formats::master_file`]):
/// with no application selected every object, and the contact ATR with one
/// selected too (some real cards answer it only at one of the two levels;
/// documented choice: both).
fn master_file_objects(profile: &CardProfile) -> Result<Vec<DataObject>, ProfileError> {
    use formats::master_file as mf;
    // The card's own ATR, the one its contacts give, even when a contactless
    // reader shows another.
    let contact_atr = match &profile.body.atr {
        Some(atr) => atr.clone(),
        None => Variant::PhysicalContact.atr(),
    }
    .bytes()?;
    let at_master_file = |tag, value| DataObject {
        tag,
        value,
        with_application: false,
    };
    Ok(vec![
        at_master_file(0x0042, mf::issuer_identification()),
        at_master_file(0x0045, mf::card_identification(profile)),
        at_master_file(0x0066, mf::card_recognition_data()),
        at_master_file(0x00F0, mf::municipality(profile)),
        at_master_file(0x00F2, mf::expiry(profile)),
        at_master_file(0x00F7, mf::intermediate_key_id()),
        at_master_file(0x00F8, mf::root_certificate()),
        DataObject {
            tag: 0x5F51,
            value: mf::contact_atr(&contact_atr),
            with_application: true,
        },
    ])
}

fn pin(setting: &PinSetting, max: u8) -> Pin {
    Pin::new(
        setting.value.as_bytes(),
        max,
        setting.tries_left.unwrap_or(max),
    )
}

/// 公的個人認証AP, as the variant carries it.
fn jpki_application(
    profile: &CardProfile,
    pki: &Jpki,
    [auth_key, sign_key]: [&JpkiKey; 2],
    [auth_certificate, sign_certificate]: [&[u8]; 2],
) -> Application {
    use crate::pki::Purpose::{DigitalSignature, UserAuthentication};
    let pins = &profile.pins;
    // Who may read EF 000A / read EF 0001 and sign, and which label EF 0006 has.
    let (token, auth_read, auth_use, sign_use) = match profile.variant {
        Variant::PhysicalContact | Variant::PhysicalContactless => (
            TokenLabel::PhysicalCard,
            Access::Always,
            Access::Pin(AUTH_PIN.fid),
            Access::Pin(SIGN_PIN.fid),
        ),
        Variant::Android => (
            TokenLabel::Android,
            Access::Pin(AUTH_PIN.fid),
            Access::Pin(AUTH_PIN.fid),
            Access::Pin(SIGN_PIN.fid),
        ),
        Variant::Iphone => (
            TokenLabel::IPhone,
            Access::Always,
            Access::HolderAuthenticated,
            Access::HolderAuthenticated,
        ),
    };
    // Certificate EFs are fixed allocations with filler after the DER; the
    // token info (160 bytes) and the availability flags (3) have none: a
    // client reading them "until the card refuses" gets exactly those.
    let behaviour = profile.behaviour;
    let certificate = |fid, name, der: &[u8], read| {
        Ef::allocated(
            fid,
            name,
            der.to_vec(),
            usize::from(behaviour.certificate_allocation),
            behaviour.filler,
            read,
        )
    };
    let mut files = vec![
        certificate(
            EF_SIGN_CERTIFICATE,
            "sign certificate",
            sign_certificate,
            sign_use.clone(),
        ),
        certificate(
            0x0002,
            "sign CA certificate",
            pki.ca_certificate_der(DigitalSignature),
            Access::Always,
        ),
        Ef::binary(
            0x0006,
            "token info",
            formats::token_info(token),
            Access::Always,
        ),
        Ef::binary(
            0x0008,
            "certificate availability",
            formats::certificate_availability(),
            Access::Always,
        ),
        certificate(
            EF_AUTH_CERTIFICATE,
            "auth certificate",
            auth_certificate,
            auth_read,
        ),
        certificate(
            0x000B,
            "auth CA certificate",
            pki.ca_certificate_der(UserAuthentication),
            Access::Always,
        ),
        Ef::key(EF_AUTH_KEY, "auth key", auth_key.card_key(), auth_use),
        Ef::key(EF_SIGN_KEY, "sign key", sign_key.card_key(), sign_use),
    ];
    // The EFs public clients list on the plastic card whose content is not
    // public (documented choice): internal EFs the card uses itself, which
    // SELECT finds and READ BINARY refuses with 6981; 0009 is a protected
    // transparent EF no credential opens (6982); 0016 holds the reference to
    // the key that checks terminal CV certificates.
    if !profile.variant.is_smartphone() {
        files.extend([
            Ef::internal(0x0005, "internal EF 0005"),
            Ef::allocated(
                0x0009,
                "protected EF 0009",
                Vec::new(),
                16,
                behaviour.filler,
                Access::Never,
            ),
            Ef::internal(0x0010, "internal EF 0010"),
            Ef::internal(0x0016, "terminal CA key reference"),
            Ef::internal(0x0019, "internal EF 0019"),
            Ef::internal(0x001C, "internal EF 001C"),
            Ef::internal(0x001E, "internal EF 001E"),
        ]);
    }
    // An iPhone takes no PIN at the reader: it has no PIN EFs.
    if profile.variant != Variant::Iphone {
        files.extend([
            Ef::pin(
                AUTH_PIN.fid,
                "auth PIN",
                pin(&pins.auth, pin::AUTH_PIN_TRIES),
                PinFormat::FourDigits,
            ),
            Ef::pin(
                SIGN_PIN.fid,
                "sign password",
                pin(&pins.sign, pin::SIGN_PIN_TRIES),
                PinFormat::SignPassword,
            ),
        ]);
    }
    // SET SESSION KEY: configured, but no credential a reader presents
    // satisfies it (soltia48/myna-card).
    Application::new(JPKI_AID, "JPKI-AP", files).with_session_key(SessionKeyDelivery::Refused)
}

fn surface_pin(value: &str) -> Pin {
    Pin::new(
        value.as_bytes(),
        pin::SURFACE_PIN_TRIES,
        pin::SURFACE_PIN_TRIES,
    )
}

/// The allocation of the text application's attributes EF (0002): not
/// public; 256 bytes is what the clients that read it in one short READ
/// BINARY (Le 00) assume (documented choice). A holder whose attributes are
/// longer gets a file as long as they are.
pub const TEXT_ATTRIBUTES_ALLOCATION: usize = 256;
/// The allocation of the text application's basic information EF (0005):
/// a 256-byte read returns 256 bytes (the 164-byte object, then filler).
pub const TEXT_AP_BASIC_INFO_ALLOCATION: usize = 256;
/// The text EF 0008 and surface EF 0006: sixteen bytes of filler and
/// nothing else on the cards read (soltia48/myna-card).
pub const FILLER_ONLY_EF_ALLOCATION: usize = 16;

/// 券面事項入力補助AP (the plastic card only).
///
/// Read conditions (soltia48/myna-card's notes of a real card): the PIN
/// opens everything; 照合番号A (the number itself) the My Number, 照合番号B
/// (birth date, expiry, code) the attributes, either of them the integrity
/// record and the two key files; the CV certificate, the basic information
/// and EF 0008 need nothing.
fn text_application(profile: &CardProfile) -> Application {
    let persona = &profile.persona;
    let filler = profile.behaviour.filler;
    let pin_a = formats::surface_pin_a(persona);
    let pin_b = formats::surface_pin_b(persona, &profile.body);
    let pin_or_any = || Access::AnyPin(vec![TEXT_PIN.fid, 0x0014, 0x0015]);
    // Its public half is EF 0007's DF51.
    let own_key = CardApplication::Text.own_key(&profile.seed);
    let session_key = card_issuer::text_session_key();
    Application::new(
        TEXT_AID,
        "券面事項入力補助AP",
        vec![
            // 17 bytes: the object and its two bytes of filler, which the
            // integrity digest covers (formats::text_my_number).
            Ef::binary(
                EF_TEXT_MY_NUMBER,
                "My Number",
                formats::text_my_number(persona),
                Access::AnyPin(vec![TEXT_PIN.fid, 0x0014]),
            ),
            Ef::allocated(
                0x0002,
                "basic four attributes",
                formats::text_attributes_in(persona, profile.behaviour.length_form),
                TEXT_ATTRIBUTES_ALLOCATION,
                filler,
                Access::AnyPin(vec![TEXT_PIN.fid, 0x0015]),
            ),
            Ef::binary(
                0x0003,
                "integrity record",
                formats::text_integrity_record(persona),
                pin_or_any(),
            ),
            Ef::binary(
                0x0004,
                "CV certificate",
                formats::text_certificate(persona),
                Access::Always,
            ),
            Ef::allocated(
                0x0005,
                "AP basic info",
                formats::text_ap_basic_info(persona),
                TEXT_AP_BASIC_INFO_ALLOCATION,
                filler,
                Access::Always,
            ),
            Ef::binary(
                0x0006,
                "session key public key",
                formats::text_session_key(&card_issuer::modulus(&session_key)),
                pin_or_any(),
            ),
            Ef::binary(
                0x0007,
                "signed AP public key",
                formats::text_signed_public_key(&card_issuer::modulus(&own_key)),
                pin_or_any(),
            ),
            // Its read condition is not public (documented choice: free).
            Ef::allocated(
                0x0008,
                "EF 0008",
                Vec::new(),
                FILLER_ONLY_EF_ALLOCATION,
                filler,
                Access::Always,
            ),
            Ef::pin(
                TEXT_PIN.fid,
                "text PIN",
                pin(&profile.pins.text, pin::TEXT_PIN_TRIES),
                PinFormat::FourDigits,
            ),
            // Blocked on every issued card: it answers an empty VERIFY with 63C0.
            Ef::pin(
                0x0012,
                "reserved PIN",
                Pin::new(Vec::new(), pin::TEXT_PIN_TRIES, 0),
                PinFormat::Fixed,
            ),
            Ef::key(
                EF_TEXT_AP_KEY,
                "text AP key",
                Arc::new(own_key),
                Access::Always,
            ),
            Ef::pin(0x0014, "照合番号A", surface_pin(&pin_a), PinFormat::Fixed),
            Ef::pin(0x0015, "照合番号B", surface_pin(&pin_b), PinFormat::Fixed),
        ],
    )
    // Signs with P2 00 and no PIN, to prove the card is present.
    .with_own_key(EF_TEXT_AP_KEY)
    // Only the PIN opens a session: 照合番号A, which the card accepts, does
    // not (soltia48/myna-card).
    .with_session_key(SessionKeyDelivery::Accepted {
        key: Arc::new(session_key),
        access: Access::Pin(TEXT_PIN.fid),
    })
}

/// The 共通AP's authentication key EF (soltia48/myna-card).
pub const EF_COMMON_AUTHENTICATION_KEY: u16 = 0x0019;

/// The EF of the text application's own key (soltia48/myna-card).
pub const EF_TEXT_AP_KEY: u16 = 0x0013;
/// The EF of the surface application's own key (soltia48/myna-card).
pub const EF_SURFACE_AP_KEY: u16 = 0x001A;

/// 券面AP (the plastic card only).
///
/// Read conditions (soltia48/myna-card's notes of a real card; jsapdu marks
/// neither 0003 nor 0004 protected): the age record only with the birth-date
/// PIN; the card face and EF 0006 with 照合番号A or B; the My Number image
/// with 照合番号A only; the basic information and the CV certificate with
/// nothing.
fn surface_application(profile: &CardProfile) -> Application {
    let persona = &profile.persona;
    let pin_a = formats::surface_pin_a(persona);
    let pin_b = formats::surface_pin_b(persona, &profile.body);
    let either_surface_pin = Access::AnyPin(vec![0x0013, 0x0012]);
    Application::new(
        SURFACE_AID,
        "券面AP",
        vec![
            Ef::binary(
                0x0001,
                "age record",
                formats::surface_age_record(profile),
                Access::Pin(0x0011),
            ),
            Ef::binary(
                0x0002,
                "card face",
                formats::surface_card_face(profile),
                either_surface_pin.clone(),
            ),
            Ef::binary(
                0x0003,
                "AP basic info",
                formats::surface_ap_basic_info(persona),
                Access::Always,
            ),
            Ef::binary(
                0x0004,
                "CV certificate",
                formats::surface_certificate(persona),
                Access::Always,
            ),
            Ef::binary(
                0x0005,
                "My Number image",
                formats::surface_my_number_image(profile),
                Access::Pin(0x0013),
            ),
            Ef::allocated(
                0x0006,
                "EF 0006",
                Vec::new(),
                FILLER_ONLY_EF_ALLOCATION,
                profile.behaviour.filler,
                either_surface_pin,
            ),
            Ef::pin(
                0x0011,
                "birth date PIN",
                surface_pin(&formats::surface_birth_date_pin(persona)),
                PinFormat::Fixed,
            ),
            Ef::pin(0x0012, "照合番号B", surface_pin(&pin_b), PinFormat::Fixed),
            Ef::pin(0x0013, "照合番号A", surface_pin(&pin_a), PinFormat::Fixed),
            // Its public half is in DF12, DF24 and DF42.
            Ef::key(
                EF_SURFACE_AP_KEY,
                "surface AP key",
                Arc::new(CardApplication::Surface.own_key(&profile.seed)),
                Access::Always,
            ),
        ],
    )
    .with_own_key(EF_SURFACE_AP_KEY)
}

/// 共通AP (the plastic card only).
fn common_application(profile: &CardProfile) -> Application {
    Application::new(
        COMMON_AID,
        "共通AP",
        vec![
            Ef::records(
                0x0001,
                "card information",
                vec![formats::common_record(profile)],
                Access::Always,
            ),
            Ef::key(
                EF_COMMON_AUTHENTICATION_KEY,
                "authentication key",
                Arc::new(card_issuer::common_ap_authentication_key()),
                Access::Always,
            ),
        ],
    )
    // The one key INTERNAL AUTHENTICATE reaches, with no credential
    // (soltia48/myna-card).
    .with_authentication_key(EF_COMMON_AUTHENTICATION_KEY)
}

/// The simulated JPKI every card and the mock service share.
pub fn simulated_jpki() -> Result<Jpki, PkiError> {
    Jpki::derive(PKI_SEED, crate::pki::DEFAULT_ORGANIZATION)
}

/// The user-authentication certificate the card `profile` describes would
/// carry (the one of its variant: P-256 on an iPhone by default), without
/// issuing the rest of the card: what a service needs to recognise the card
/// (one key derivation instead of two).
pub fn auth_certificate(profile: &CardProfile, pki: &Jpki) -> Result<Vec<u8>, IssueError> {
    profile.validate()?;
    let holder = CertificateHolder::from(&profile.persona);
    let dates = &profile.certificates.auth;
    Ok(pki.issue_auth_certificate(
        &holder,
        auth_key(profile).subject(),
        dates.not_before,
        dates.not_after,
    )?)
}
