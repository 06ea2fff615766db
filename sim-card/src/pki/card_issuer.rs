//! The simulated issuer of the 券面 applications' own signatures: the keys
//! behind the text application's integrity record (EF 0003), the surface
//! application's signed records (EF 0001, 0002, 0005), and the card-verifiable
//! certificates (EF 0004) that certify them.
//!
//! On real cards a J-LIS key (the 証明者, key IDs `5000033` for the text
//! application, `5000023` for the surface one) certifies a key (the 被証明者)
//! in a CV certificate on the card, and that key signs the records; the
//! verifier holds the J-LIS key (soltia48/myna-card verifies a test card's
//! records this way). Here both are deterministic RSA-2048 keys derived from
//! [`ISSUER_SEED`], so a client that verifies the records with the issuer's
//! public key (`kazasu pki` exports it) succeeds, on every machine.
//!
//! Documented choice: one signing key per application for every simulated
//! municipality (real cards name the municipality's key in the certificate;
//! a key per municipality would cost a key derivation per municipality for
//! no client-visible difference but the key itself). The certificate still
//! names the municipality (see `formats::objects::municipality_key_id`).
//!
//! Only keys and signatures live here; the byte layouts are in
//! [`crate::formats`], which calls this module (never the other way round).

use crate::keys::{KeyError, RsaKey, SIGNATURE_LEN};
use crate::mynumber::sha256_digest_info;

/// The seed of the 券面 issuer's keys, apart from the JPKI CAs' seed so that
/// neither hierarchy's keys can be mistaken for the other's.
pub const ISSUER_SEED: &str = "kazasu-card-issuer";

/// One of the two applications whose records the issuer signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardApplication {
    /// 券面事項入力補助AP.
    Text,
    /// 券面事項確認AP.
    Surface,
}

impl CardApplication {
    pub const ALL: [CardApplication; 2] = [CardApplication::Text, CardApplication::Surface];

    /// A short name for files and key labels: `text-ap`, `surface-ap`.
    pub fn slug(self) -> &'static str {
        match self {
            CardApplication::Text => "text-ap",
            CardApplication::Surface => "surface-ap",
        }
    }

    /// The issuer's key (the CV certificate's 証明者): not on the card; the
    /// verifier holds its public half.
    pub fn ca_key(self) -> RsaKey {
        RsaKey::derive(ISSUER_SEED, &format!("{}-ca", self.slug()))
    }

    /// The key the CV certificate in EF 0004 certifies, which signs the
    /// application's records.
    pub fn signing_key(self) -> RsaKey {
        RsaKey::derive(ISSUER_SEED, &format!("{}-signer", self.slug()))
    }

    /// The application's own key on the card whose profile seed is `seed`
    /// (the text application's EF `0013`, the surface application's `001A`):
    /// not the issuer's but the card's, one per card, derived from the seed
    /// like the JPKI keys. It signs challenges for anyone (COMPUTE DIGITAL
    /// SIGNATURE with P2 `00`), and its public half is in the application's
    /// signed records, so a verified signature proves the card is present
    /// (soltia48/myna-card).
    pub fn own_key(self, seed: &str) -> RsaKey {
        RsaKey::derive(seed, &format!("{}-own-key", self.slug()))
    }
}

/// The key the text application's SET SESSION KEY decrypts with, whose
/// public half EF `0006` carries. Documented choice: one key for every
/// simulated card (what real cards put there, and whether it differs between
/// cards, is not public; one key costs one derivation per process, not one
/// per card).
pub fn text_session_key() -> RsaKey {
    RsaKey::derive(ISSUER_SEED, "text-ap-session-key")
}

/// The 共通AP's authentication key (EF `0019`), which signs INTERNAL
/// AUTHENTICATE challenges. Its public half is on no card (as on real cards:
/// a verifier gets it elsewhere), so documented choice: one key for every
/// simulated card, one derivation per process.
pub fn common_ap_authentication_key() -> RsaKey {
    RsaKey::derive(ISSUER_SEED, "common-ap-authentication-key")
}

/// The root key of the card-level chain of CV certificates GET DATA answers
/// with no application selected (`00F8`): not on the card; a verifier holds
/// its public half, as it holds J-LIS's on real cards.
pub fn card_root_key() -> RsaKey {
    RsaKey::derive(ISSUER_SEED, "card-root")
}

/// The intermediate key the root certifies in GET DATA `00F8`.
pub fn card_intermediate_key() -> RsaKey {
    RsaKey::derive(ISSUER_SEED, "card-intermediate")
}

/// The big-endian modulus of an RSA-2048 key, 256 bytes, as the card's
/// `91` objects carry it.
pub fn modulus(key: &RsaKey) -> Vec<u8> {
    let rsa = key.pkey().rsa().expect("an RsaKey holds an RSA key");
    rsa.n()
        .to_vec_padded(SIGNATURE_LEN as i32)
        .expect("a 2048-bit modulus fits 256 bytes")
}

/// RSASSA-PKCS1-v1_5 with SHA-256 over `data`: how every record of the 券面
/// applications is signed (soltia48/myna-card verifies them so).
pub fn sign_sha256(key: &RsaKey, data: &[u8]) -> Result<Vec<u8>, KeyError> {
    key.sign_digest_info(&sha256_digest_info(&openssl::sha::sha256(data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::hash::MessageDigest;
    use openssl::sign::Verifier;

    #[test]
    fn signatures_verify_with_the_public_key_alone() {
        let key = CardApplication::Text.signing_key();
        let signature = sign_sha256(&key, b"DF31 DF32").unwrap();
        let public = openssl::pkey::PKey::public_key_from_der(key.public_key_der()).unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(b"DF31 DF32").unwrap();
        assert!(verifier.verify(&signature).unwrap());
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(b"DF31 DF33").unwrap();
        assert!(!verifier.verify(&signature).unwrap());
    }

    #[test]
    fn the_keys_are_four_and_distinct() {
        let moduli: std::collections::HashSet<Vec<u8>> = CardApplication::ALL
            .iter()
            .flat_map(|ap| [modulus(&ap.ca_key()), modulus(&ap.signing_key())])
            .collect();
        assert_eq!(moduli.len(), 4);
        assert!(moduli.iter().all(|n| n.len() == 256 && n[0] & 0x80 != 0));
    }
}
