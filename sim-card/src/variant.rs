//! What carries the card, as a reader meets it: the plastic card through a
//! contact or contactless reader, or the card added to an Android phone or an
//! iPhone (スマホ用電子証明書), and the ATR each answers.
//!
//! Its own module because the card state machine ([`crate::card`]) needs the
//! variant for the few answers a phone gives differently, and must not
//! depend on the TOML profiles ([`crate::profile`]) to get it.

use serde::{Deserialize, Serialize};

/// What carries the card, as a reader meets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// `physical-contact`: the plastic card in a contact reader (the default).
    #[default]
    PhysicalContact,
    /// `physical-contactless`: the plastic card on a contactless reader; only
    /// the ATR differs.
    PhysicalContactless,
    /// `android`: the card added to an Android phone's secure element. JPKI-AP
    /// only, token `JPKIAPGPSETOKEN`, RSA-2048 keys of its own; the auth
    /// certificate (EF 000A) is read only after the 4-digit smartphone PIN
    /// (`pins.auth`, 3 tries) was verified.
    Android,
    /// `iphone`: My Number Card on iPhone (Wallet). JPKI-AP only, token
    /// `JPKIAPIOSTOKEN`, no PIN at the reader (VERIFY answers 6D00): the holder
    /// authenticates with Face ID on the phone, which opens a window in which
    /// the phone signs. ECDSA P-256 keys by default.
    Iphone,
}

impl Variant {
    /// Every variant, in the order `--list-profiles` and docs show them.
    pub const ALL: [Variant; 4] = [
        Variant::PhysicalContact,
        Variant::PhysicalContactless,
        Variant::Android,
        Variant::Iphone,
    ];

    /// Whether the card is carried by a smartphone (スマホ用電子証明書).
    pub fn is_smartphone(self) -> bool {
        matches!(self, Variant::Android | Variant::Iphone)
    }

    /// The kebab-case name profiles and `--variant` use.
    pub fn name(self) -> &'static str {
        match self {
            Variant::PhysicalContact => "physical-contact",
            Variant::PhysicalContactless => "physical-contactless",
            Variant::Android => "android",
            Variant::Iphone => "iphone",
        }
    }

    /// The ATR this variant answers when the profile does not set one.
    ///
    /// A phone is always met through a contactless reader, so it answers a
    /// contactless ATR: [`Atr::Phone`] (a documented choice, see there).
    pub fn atr(self) -> Atr {
        match self {
            Variant::PhysicalContact => Atr::Contact,
            Variant::PhysicalContactless => Atr::Contactless,
            Variant::Android | Variant::Iphone => Atr::Phone,
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
                format!("no card variant {s:?} (one of {})", names.join(", "))
            })
    }
}

/// The ATR the card answers with (docs/client-apdus.md, Phones).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Atr {
    /// The contact interface of a real card (T=1).
    Contact,
    /// The contactless interface as a PC/SC reader builds it from the card's
    /// ATQB (the plastic card is ISO 14443 Type B).
    Contactless,
    /// A phone on a contactless reader: `3B 80 80 01 01`, the ATR a PC/SC
    /// reader builds for an ISO 14443-4 target that sends no historical bytes,
    /// which is what phones emulating a card commonly show. What a phone
    /// carrying the My Number card presents is not public: a documented choice.
    Phone,
    /// Any other ATR, as hex.
    Custom(String),
}

impl Atr {
    /// The ATR bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, AtrError> {
        match self {
            Atr::Contact => Ok(vec![
                0x3B, 0xDA, 0x13, 0xFF, 0x81, 0x31, 0xFB, 0x46, 0x80, 0x12, 0x39, 0x2F, 0x31, 0xC1,
                0x73, 0xC6, 0x01, 0xC0, 0x3B,
            ]),
            Atr::Contactless => Ok(vec![
                0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F,
            ]),
            Atr::Phone => Ok(vec![0x3B, 0x80, 0x80, 0x01, 0x01]),
            Atr::Custom(hex_atr) => {
                let bytes = hex::decode(hex_atr.replace(' ', ""))
                    .map_err(|e| AtrError::NotHex(e.to_string()))?;
                if bytes.is_empty() || bytes.len() > 33 {
                    return Err(AtrError::Length(bytes.len()));
                }
                Ok(bytes)
            }
        }
    }
}

/// An ATR written in a profile that no card can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtrError {
    #[error("{0}")]
    NotHex(String),
    #[error("an ATR has 1 to 33 bytes, not {0}")]
    Length(usize),
}
