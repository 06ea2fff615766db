//! Personalization: turning a [`CardProfile`] into a [`Card`] with its files,
//! PINs, keys and certificates, the way a card is issued at the municipality.
//!
//! This is the only place that knows the card's layout: which application has
//! which EF under which access condition (spec: card.md §1). The card state
//! machine itself knows nothing of JPKI.

use std::sync::Arc;

use crate::apdu::StatusWord;
use crate::card::{Card, PinRef};
use crate::filesystem::{Access, Application, CardKey, ElementaryFile as Ef, PinFormat};
use crate::formats::{self, TokenLabel};
use crate::keys::{self, EcKey, RsaKey};
use crate::pin::{self, Pin};
use crate::pki::{Holder, Jpki, PkiError};
use crate::profile::{CardProfile, PinSetting, ProfileError};

/// 公的個人認証AP (JPKI-AP).
pub const JPKI_AID: &[u8] = &[0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// 券面事項入力補助AP: the card's text, for filling in forms.
pub const TEXT_AID: &[u8] = &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
/// 券面AP: the card's face, as images.
pub const SURFACE_AID: &[u8] = &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];
/// 共通AP: card serial, issuing municipality, expiry.
pub const COMMON_AID: &[u8] = &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00];
/// 住基AP: the resident registry application (selectable, nothing a client reads).
pub const JUKI_AID: &[u8] = &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x01];

/// The user-authentication PIN (利用者証明用電子証明書暗証番号).
pub const AUTH_PIN: PinRef = PinRef {
    aid: JPKI_AID,
    fid: 0x0018,
};
/// The signature password (署名用電子証明書暗証番号).
pub const SIGN_PIN: PinRef = PinRef {
    aid: JPKI_AID,
    fid: 0x001B,
};
/// The text application's PIN (券面事項入力補助用暗証番号).
pub const TEXT_PIN: PinRef = PinRef {
    aid: TEXT_AID,
    fid: 0x0011,
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
            .map_err(|_| StatusWord::WRONG_LENGTH)
    }
}

/// Issues the card `profile` describes, with certificates from `pki`.
pub fn issue(profile: &CardProfile, pki: &Jpki) -> Result<IssuedCard, IssueError> {
    profile.validate()?;
    let persona = &profile.persona;
    let holder = Holder::from(persona);
    let certs = &profile.certificates;

    let auth_key = RsaKey::derive(&profile.seed, keys::AUTH_KEY_LABEL);
    let sign_key = RsaKey::derive(&profile.seed, keys::SIGN_KEY_LABEL);
    let auth_certificate = auth_certificate(profile, pki)?;
    let sign_certificate = pki.issue_sign_certificate(
        &holder,
        &sign_key,
        certs.sign.not_before,
        certs.sign.not_after,
    )?;

    let pin = |setting: &PinSetting, max: u8| {
        Pin::new(
            setting.value.as_bytes(),
            max,
            setting.tries_left.unwrap_or(max),
        )
    };
    let pins = &profile.pins;
    use crate::pki::Purpose::{DigitalSignature, UserAuthentication};

    let jpki = Application {
        aid: JPKI_AID.to_vec(),
        name: "JPKI-AP",
        files: vec![
            Ef::binary(
                0x0001,
                "sign certificate",
                sign_certificate.clone(),
                Access::Pin(SIGN_PIN.fid),
            ),
            Ef::binary(
                0x0002,
                "sign CA certificate",
                pki.ca_certificate_der(DigitalSignature).to_vec(),
                Access::Always,
            ),
            Ef::binary(
                0x0006,
                "token info",
                formats::token_info(TokenLabel::PhysicalCard),
                Access::Always,
            ),
            Ef::binary(
                0x0008,
                "certificate availability",
                formats::certificate_availability(),
                Access::Always,
            ),
            Ef::binary(
                0x000A,
                "auth certificate",
                auth_certificate.clone(),
                Access::Always,
            ),
            Ef::binary(
                0x000B,
                "auth CA certificate",
                pki.ca_certificate_der(UserAuthentication).to_vec(),
                Access::Always,
            ),
            Ef::key(0x0017, "auth key", Arc::new(auth_key), AUTH_PIN.fid),
            Ef::pin(
                AUTH_PIN.fid,
                "auth PIN",
                pin(&pins.auth, pin::AUTH_PIN_TRIES),
                PinFormat::FourDigits,
            ),
            Ef::key(0x001A, "sign key", Arc::new(sign_key), SIGN_PIN.fid),
            Ef::pin(
                SIGN_PIN.fid,
                "sign password",
                pin(&pins.sign, pin::SIGN_PIN_TRIES),
                PinFormat::SignPassword,
            ),
        ],
    };

    let pin_a = formats::surface_pin_a(persona);
    let pin_b = formats::surface_pin_b(persona, &profile.body);
    let surface_pin = |value: &str| {
        Pin::new(
            value.as_bytes(),
            pin::SURFACE_PIN_TRIES,
            pin::SURFACE_PIN_TRIES,
        )
    };

    let text = Application {
        aid: TEXT_AID.to_vec(),
        name: "券面事項入力補助AP",
        files: vec![
            // The PIN opens both; 照合番号A (the number itself) opens the
            // number, 照合番号B (birth date, expiry, code) the attributes, as
            // measured on real cards.
            Ef::binary(
                0x0001,
                "My Number",
                formats::text_my_number(persona),
                Access::AnyPin(vec![TEXT_PIN.fid, 0x0014]),
            ),
            Ef::binary(
                0x0002,
                "basic four attributes",
                formats::text_attributes(persona),
                Access::AnyPin(vec![TEXT_PIN.fid, 0x0015]),
            ),
            Ef::binary(
                0x0003,
                "integrity record",
                formats::text_integrity_record(persona),
                Access::AnyPin(vec![TEXT_PIN.fid, 0x0014, 0x0015]),
            ),
            Ef::binary(
                0x0004,
                "CV certificate",
                formats::text_certificate(persona),
                Access::Always,
            ),
            Ef::binary(
                0x0005,
                "AP basic info",
                formats::text_ap_basic_info(persona),
                Access::Always,
            ),
            Ef::pin(
                TEXT_PIN.fid,
                "text PIN",
                pin(&pins.text, pin::TEXT_PIN_TRIES),
                PinFormat::FourDigits,
            ),
            // Blocked on every issued card: it answers an empty VERIFY with 63C0.
            Ef::pin(
                0x0012,
                "reserved PIN",
                Pin::new(Vec::new(), pin::TEXT_PIN_TRIES, 0),
                PinFormat::Fixed,
            ),
            Ef::pin(0x0014, "照合番号A", surface_pin(&pin_a), PinFormat::Fixed),
            Ef::pin(0x0015, "照合番号B", surface_pin(&pin_b), PinFormat::Fixed),
        ],
    };

    // 照合番号A opens every surface EF, 照合番号B all but the My Number
    // image, the birth-date PIN only the age record (measured on real cards).
    let either_surface_pin = Access::AnyPin(vec![0x0013, 0x0012]);
    let surface = Application {
        aid: SURFACE_AID.to_vec(),
        name: "券面AP",
        files: vec![
            Ef::binary(
                0x0001,
                "age record",
                formats::surface_age_record(profile),
                Access::AnyPin(vec![0x0011, 0x0012, 0x0013]),
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
                either_surface_pin.clone(),
            ),
            Ef::binary(
                0x0004,
                "CV certificate",
                formats::surface_certificate(persona),
                either_surface_pin,
            ),
            Ef::binary(
                0x0005,
                "My Number image",
                formats::surface_my_number_image(profile),
                Access::Pin(0x0013),
            ),
            Ef::pin(
                0x0011,
                "birth date PIN",
                surface_pin(&formats::surface_birth_date_pin(persona)),
                PinFormat::Fixed,
            ),
            Ef::pin(0x0012, "照合番号B", surface_pin(&pin_b), PinFormat::Fixed),
            Ef::pin(0x0013, "照合番号A", surface_pin(&pin_a), PinFormat::Fixed),
        ],
    };

    let common = Application {
        aid: COMMON_AID.to_vec(),
        name: "共通AP",
        files: vec![Ef::records(
            0x0001,
            "card information",
            vec![formats::common_record(profile)],
            Access::Always,
        )],
    };

    let juki = Application {
        aid: JUKI_AID.to_vec(),
        name: "住基AP",
        files: Vec::new(),
    };

    let card = Card::new(
        profile.body.atr.bytes()?,
        vec![jpki, text, surface, common, juki],
    );
    Ok(IssuedCard {
        card,
        auth_certificate,
        sign_certificate,
    })
}

/// The simulated JPKI every card and the mock service share.
pub fn simulated_jpki() -> Result<Jpki, PkiError> {
    Jpki::derive(PKI_SEED, crate::pki::DEFAULT_ORGANIZATION)
}

/// The user-authentication certificate the card `profile` describes would
/// carry, without issuing the rest of the card: what a service needs to
/// recognise the card (one key derivation instead of two).
pub fn auth_certificate(profile: &CardProfile, pki: &Jpki) -> Result<Vec<u8>, IssueError> {
    profile.validate()?;
    let holder = Holder::from(&profile.persona);
    let key = RsaKey::derive(&profile.seed, keys::AUTH_KEY_LABEL);
    let dates = &profile.certificates.auth;
    Ok(pki.issue_auth_certificate(&holder, &key, dates.not_before, dates.not_after)?)
}

/// The user-authentication key of the card `profile` describes, as added to
/// an iPhone: ECDSA P-256, derived from the profile's seed.
pub fn iphone_auth_key(profile: &CardProfile) -> EcKey {
    EcKey::derive(&profile.seed, keys::IPHONE_AUTH_KEY_LABEL)
}

/// The user-authentication certificate of the card `profile` describes, as
/// added to an iPhone: the same holder and dates, a P-256 key.
pub fn iphone_auth_certificate(profile: &CardProfile, pki: &Jpki) -> Result<Vec<u8>, IssueError> {
    profile.validate()?;
    let holder = Holder::from(&profile.persona);
    let dates = &profile.certificates.auth;
    Ok(pki.issue_auth_certificate(
        &holder,
        &iphone_auth_key(profile),
        dates.not_before,
        dates.not_after,
    )?)
}
