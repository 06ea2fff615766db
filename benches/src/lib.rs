//! What the benches share: the command APDUs a JPKI client sends, in the
//! order and chunking real clients use, and the cards they are sent to.
//!
//! The criterion benches (`benches/`) drive these sequences in process; the
//! PC/SC loop (`src/bin/pcsc_apdu_loop.rs`) sends the same bytes through
//! pcscd and vpcd; `compare` (`src/bin/compare.rs`) puts the figures beside
//! reference ones.
//!
//! How certificates are read: both JPKI clients we know read a short header
//! first, to learn the DER length, then the whole certificate from offset 0 in
//! short APDUs of at most 256 bytes (Le `00`):
//!
//! - OpenSC's `card-jpki.c` reads 4 bytes (`30 82 LL LL`) when it selects a
//!   certificate EF, then `sc_read_binary` in chunks of the card's maximum
//!   receive size, 256 bytes for a card without extended APDUs; the last
//!   chunk asks for exactly what is left;
//! - jpki-rs (`Card::read_der_size`, `Card::read`) reads a 7-byte header, then
//!   chunks of 256 bytes (Le `00`) until the length is reached.
//!
//! [`read_certificate_commands`] follows OpenSC (4-byte header, 256-byte
//! chunks, exact last chunk): the harness's own client reads the same way.
//!
//! The commands are built with `sim_card::iso7816` and addressed with
//! `sim_card::mynumber`, the vocabulary the card and the reference client
//! share.

pub mod proc_stat;
pub mod service;
pub mod service_load;

use sim_card::card::Card;
use sim_card::iso7816::{
    EMPTY_VERIFY, SHORT_LE_MAX, compute_digital_signature, read_binary, select_aid, select_ef,
    verify,
};
use sim_card::mynumber::{
    EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, JPKI_AID, sha256_digest_info,
};
use sim_card::personalize::{self, IssueError};
use sim_card::profile::CardProfile;
use sim_card::variant::Variant;

/// The header OpenSC reads to learn a certificate's length (`30 82 LL LL`).
pub const OPENSC_HEADER_LEN: usize = 4;

/// Reading a certificate of `len` bytes from its selected EF as OpenSC
/// does: the 4-byte header, then chunks of 256 bytes from offset 0, the last
/// one asking for exactly what is left.
pub fn read_certificate_commands(len: usize) -> Vec<Vec<u8>> {
    let mut commands = vec![read_binary(0, OPENSC_HEADER_LEN)];
    commands.extend((0..len).step_by(SHORT_LE_MAX).map(|offset| {
        let offset16 = u16::try_from(offset).expect("a certificate is under 32 KiB");
        read_binary(offset16, (len - offset).min(SHORT_LE_MAX))
    }));
    commands
}

/// What a client sends the card for one PIN-method confirmation, in the
/// harness client's order: SELECT the JPKI-AP, SELECT the auth PIN, ask its
/// tries left (answered `63C3`, not `9000`), VERIFY it, SELECT the auth key,
/// sign a challenge's SHA-256 DigestInfo, SELECT the auth certificate and
/// read it whole.
pub fn confirmation_commands(pin: &str, certificate_len: usize) -> Vec<Vec<u8>> {
    let mut commands = vec![
        select_aid(JPKI_AID),
        select_ef(EF_AUTH_PIN),
        EMPTY_VERIFY.to_vec(),
        verify(pin),
        select_ef(EF_AUTH_KEY),
        signature_command(),
        select_ef(EF_AUTH_CERTIFICATE),
    ];
    commands.extend(read_certificate_commands(certificate_len));
    commands
}

/// COMPUTE DIGITAL SIGNATURE over the SHA-256 DigestInfo of a fixed digest:
/// what the benches sign (the card's work does not depend on the digest).
pub fn signature_command() -> Vec<u8> {
    compute_digital_signature(&sha256_digest_info(&[0x5A; 32]))
}

/// A card issued from a built-in profile, on `variant`, with its auth
/// certificate's length and auth PIN (if it has one).
pub struct BenchCard {
    pub card: Card,
    pub certificate_len: usize,
    pub auth_pin: Option<String>,
}

/// Issues the built-in profile `name` on `variant`, as `kazasu card
/// --profile name --variant variant` would.
pub fn issue(name: &str, variant: Option<Variant>) -> Result<BenchCard, IssueError> {
    let mut profile = CardProfile::built_in(name)?;
    if let Some(variant) = variant {
        profile = profile.with_variant(variant);
    }
    let pki = personalize::simulated_jpki()?;
    let issued = personalize::issue(&profile, &pki)?;
    let auth_pin = (profile.variant != Variant::Iphone).then(|| profile.pins.auth.value.clone());
    Ok(BenchCard {
        card: issued.card,
        certificate_len: issued.auth_certificate.len(),
        auth_pin,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use sim_card::iso7816::StatusWord;

    /// Every command of the sequence is answered as a client expects, and
    /// the chunks put the certificate back together exactly.
    #[test]
    fn the_confirmation_sequence_runs_on_the_default_card() {
        let BenchCard {
            mut card,
            certificate_len,
            auth_pin,
        } = issue("default", None).unwrap();
        let pin = auth_pin.unwrap();
        let now = Instant::now();
        let mut certificate = Vec::new();
        let commands = confirmation_commands(&pin, certificate_len);
        let reads = read_certificate_commands(certificate_len).len();
        for (i, command) in commands.iter().enumerate() {
            let response = card.process_at(command, now);
            let expected = if command == &EMPTY_VERIFY.to_vec() {
                StatusWord::RemainingRetries(3)
            } else {
                StatusWord::Ok
            };
            assert_eq!(response.sw, expected, "command {i}");
            if i > commands.len() - reads {
                certificate.extend_from_slice(&response.data);
            }
        }
        assert_eq!(certificate.len(), certificate_len);
        assert_eq!(&certificate[..2], &[0x30, 0x82]);
    }

    #[test]
    fn chunks_cover_the_certificate_once() {
        let commands = read_certificate_commands(600);
        assert_eq!(commands[0], vec![0x00, 0xB0, 0, 0, 4]);
        assert_eq!(commands[1], vec![0x00, 0xB0, 0, 0, 0]);
        assert_eq!(commands[2], vec![0x00, 0xB0, 1, 0, 0]);
        assert_eq!(commands[3], vec![0x00, 0xB0, 2, 0, 88]);
        assert_eq!(commands.len(), 4);
    }
}
