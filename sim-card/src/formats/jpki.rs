//! Files of the 公的個人認証AP (JPKI-AP) that are not certificates.
//!
//! The certificate EFs (`0001`, `0002`, `000A`, `000B`) hold the DER as is,
//! so they need no builder here.

use serde::{Deserialize, Serialize};

/// Length of EF `0006`, a PKCS#11 `CK_TOKEN_INFO` with 32-bit fields.
pub const TOKEN_INFO_LEN: usize = 160;

/// What EF `0006` says the JPKI application is served by: the plastic card or
/// a phone's secure element, which speak the same protocol.
///
/// jpki/myna reads the first 32 bytes on every JPKI command and my-number/myna
/// compares them exactly, so the label is padded with spaces to 32 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenLabel {
    /// `JPKIAPICCTOKEN2`: a physical My Number card.
    #[default]
    PhysicalCard,
    /// `JPKIAPGPSETOKEN`: スマホ用電子証明書 in an Android phone's GlobalPlatform
    /// secure element.
    Android,
    /// `JPKIAPIOSTOKEN`: My Number Card on iPhone.
    IPhone,
}

impl TokenLabel {
    /// The label without its padding.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenLabel::PhysicalCard => "JPKIAPICCTOKEN2",
            TokenLabel::Android => "JPKIAPGPSETOKEN",
            TokenLabel::IPhone => "JPKIAPIOSTOKEN",
        }
    }

    /// The label as `CK_TOKEN_INFO.label` holds it: space-padded to 32 bytes.
    pub fn padded(self) -> [u8; 32] {
        space_padded(self.as_str())
    }
}

/// PKCS#11 flags of the token: `CKF_RNG | CKF_LOGIN_REQUIRED |
/// CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED`, the value
/// soltia48/myna-card's notes give for a physical card. No clock
/// (`CKF_CLOCK_ON_TOKEN` clear), so `utcTime` carries no meaning.
pub const TOKEN_FLAGS: u32 = 0x0000_040D;

/// PKCS#11 `CK_UNAVAILABLE_INFORMATION` in the card's 32-bit representation.
const UNAVAILABLE: u32 = u32::MAX;

/// EF `0006`: the token information, 160 bytes.
///
/// The layout is PKCS#11 `CK_TOKEN_INFO` with every `CK_ULONG` written as
/// four big-endian bytes (soltia48/myna-card, read from real cards):
///
/// | offset | size | field | value written here |
/// |---|---|---|---|
/// | 0 | 32 | label | the [`TokenLabel`], space-padded |
/// | 32 | 32 | manufacturerID | `kazasu`, space-padded: this is a simulator |
/// | 64 | 16 | model | `SIMULATED CARD`, space-padded |
/// | 80 | 16 | serialNumber | `0000000000000001` |
/// | 96 | 4 | flags | [`TOKEN_FLAGS`] |
/// | 100 | 4×4 | max sessions, sessions, max RW sessions, RW sessions | 1, 0, 1, 0 (as real cards) |
/// | 116 | 4×2 | max, min PIN length | 16, 6 (as real cards: the signature password's bounds) |
/// | 124 | 4×4 | total/free public, total/free private memory | unavailable (`FFFFFFFF`, as real cards) |
/// | 140 | 2 | hardwareVersion | ASCII `03` (real cards put ASCII here, not a `CK_VERSION`) |
/// | 142 | 2 | firmwareVersion | ASCII `01` (likewise) |
/// | 144 | 16 | utcTime | sixteen ASCII `0`: the token has no clock |
///
/// Only the label is known to matter to clients. The phone tokens' other
/// fields are not public; they get the same values as the card.
pub fn token_info(label: TokenLabel) -> Vec<u8> {
    let mut out = Vec::with_capacity(TOKEN_INFO_LEN);
    out.extend_from_slice(&label.padded());
    out.extend_from_slice(&space_padded::<32>("kazasu"));
    out.extend_from_slice(&space_padded::<16>("SIMULATED CARD"));
    out.extend_from_slice(&space_padded::<16>("0000000000000001"));
    for word in [
        TOKEN_FLAGS,
        1,           // ulMaxSessionCount
        0,           // ulSessionCount
        1,           // ulMaxRwSessionCount
        0,           // ulRwSessionCount
        16,          // ulMaxPinLen
        6,           // ulMinPinLen
        UNAVAILABLE, // ulTotalPublicMemory
        UNAVAILABLE, // ulFreePublicMemory
        UNAVAILABLE, // ulTotalPrivateMemory
        UNAVAILABLE, // ulFreePrivateMemory
    ] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(b"03");
    out.extend_from_slice(b"01");
    out.extend_from_slice(&[b'0'; 16]);
    debug_assert_eq!(out.len(), TOKEN_INFO_LEN);
    out
}

/// EF `0008`: which certificates the card carries, `8F 8F 00` on a card with
/// both (signature certificate, user-authentication certificate, and a third
/// byte of unknown meaning). Readable without a PIN; no filler.
pub fn certificate_availability() -> Vec<u8> {
    vec![0x8F, 0x8F, 0x00]
}

fn space_padded<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    for (slot, byte) in out.iter_mut().zip(text.as_bytes()) {
        *slot = *byte;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(bytes: &[u8], offset: usize) -> u32 {
        u32::from_be_bytes(bytes[offset..offset + 4].try_into().unwrap())
    }

    #[test]
    fn the_physical_card_label_opens_the_file() {
        let info = token_info(TokenLabel::PhysicalCard);
        assert_eq!(info.len(), 160);
        // What jpki/myna and my-number/myna compare: 32 bytes exactly.
        assert_eq!(&info[..32], b"JPKIAPICCTOKEN2                 ");
    }

    #[test]
    fn phone_labels() {
        assert_eq!(
            &token_info(TokenLabel::Android)[..32],
            b"JPKIAPGPSETOKEN                 "
        );
        assert_eq!(
            &token_info(TokenLabel::IPhone)[..32],
            b"JPKIAPIOSTOKEN                  "
        );
    }

    #[test]
    fn the_rest_is_a_ck_token_info() {
        let info = token_info(TokenLabel::PhysicalCard);
        assert_eq!(
            std::str::from_utf8(&info[32..64]).unwrap().trim_end(),
            "kazasu"
        );
        assert_eq!(
            std::str::from_utf8(&info[64..80]).unwrap().trim_end(),
            "SIMULATED CARD"
        );
        assert_eq!(&info[80..96], b"0000000000000001");
        assert_eq!(word(&info, 96), TOKEN_FLAGS);
        assert_eq!([100, 104, 108, 112].map(|o| word(&info, o)), [1, 0, 1, 0]);
        assert_eq!((word(&info, 116), word(&info, 120)), (16, 6));
        for offset in [124, 128, 132, 136] {
            assert_eq!(word(&info, offset), u32::MAX);
        }
        assert_eq!(&info[140..144], b"0301");
        assert_eq!(&info[144..], [b'0'; 16]);
    }

    #[test]
    fn certificate_availability_is_three_bytes() {
        assert_eq!(certificate_availability(), [0x8F, 0x8F, 0x00]);
    }
}
