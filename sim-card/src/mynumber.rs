//! The My Number card's public names: its applications' AIDs, the JPKI-AP's
//! file IDs, and the DigestInfo prefix a client puts before the digest it
//! asks the card to sign.
//!
//! Like [`crate::iso7816`], public facts only and no simulation: the card is
//! personalised from these names ([`crate::personalize`]), and the reference
//! client and the benches address it with them.

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

/// JPKI-AP: the user-authentication certificate (利用者証明用電子証明書), DER.
pub const EF_AUTH_CERTIFICATE: u16 = 0x000A;
/// JPKI-AP: the user-authentication private key.
pub const EF_AUTH_KEY: u16 = 0x0017;
/// JPKI-AP: the user-authentication PIN (4 digits, 3 tries).
pub const EF_AUTH_PIN: u16 = 0x0018;
/// JPKI-AP: the signature certificate (署名用電子証明書), DER.
pub const EF_SIGN_CERTIFICATE: u16 = 0x0001;
/// JPKI-AP: the signature private key.
pub const EF_SIGN_KEY: u16 = 0x001A;
/// JPKI-AP: the signature password (6–16 characters, 5 tries).
pub const EF_SIGN_PIN: u16 = 0x001B;
/// 券面事項入力補助AP: its PIN (4 digits).
pub const EF_TEXT_PIN: u16 = 0x0011;
/// 券面事項入力補助AP: the My Number itself, which a confirmation client
/// never reads.
pub const EF_TEXT_MY_NUMBER: u16 = 0x0001;

/// `DigestInfo` prefix for SHA-256 (RFC 8017, section 9.2, note 1): what a
/// client puts before the digest it asks the card to sign.
pub const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The SHA-256 DigestInfo of `digest`: what COMPUTE DIGITAL SIGNATURE takes.
pub fn sha256_digest_info(digest: &[u8; 32]) -> Vec<u8> {
    [SHA256_DIGEST_INFO_PREFIX.as_slice(), digest].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_info_is_the_prefix_then_the_digest() {
        let info = sha256_digest_info(&[0xAB; 32]);
        assert_eq!(info.len(), 51);
        assert_eq!(info[..19], SHA256_DIGEST_INFO_PREFIX);
        assert_eq!(info[19..], [0xAB; 32]);
    }
}
