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

pub mod proc_stat;

use sim_card::card::Card;
use sim_card::keys::SHA256_DIGEST_INFO_PREFIX;
use sim_card::personalize::{self, IssueError};
use sim_card::profile::{CardProfile, Variant};

/// JPKI-AP (公的個人認証AP).
pub const JPKI_AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// User-authentication certificate EF.
pub const EF_AUTH_CERTIFICATE: u16 = 0x000A;
/// User-authentication private key EF.
pub const EF_AUTH_KEY: u16 = 0x0017;
/// User-authentication PIN EF (4 digits).
pub const EF_AUTH_PIN: u16 = 0x0018;
/// The largest answer of one short READ BINARY (Le `00`).
pub const SHORT_READ_CHUNK: usize = 256;
/// The header OpenSC reads to learn a certificate's length (`30 82 LL LL`).
pub const OPENSC_HEADER_LEN: usize = 4;

/// `00 A4 04 0C Lc <aid>`: SELECT an application, no FCI.
pub fn select_aid(aid: &[u8]) -> Vec<u8> {
    let mut command = vec![0x00, 0xA4, 0x04, 0x0C, aid.len() as u8];
    command.extend_from_slice(aid);
    command
}

/// `00 A4 02 0C 02 <fid>`: SELECT an EF of the current application.
pub fn select_ef(fid: u16) -> Vec<u8> {
    let [hi, lo] = fid.to_be_bytes();
    vec![0x00, 0xA4, 0x02, 0x0C, 0x02, hi, lo]
}

/// `00 B0 <offset> <Le>`; an `le` of 256 is sent as `00`.
pub fn read_binary(offset: u16, le: usize) -> Vec<u8> {
    let [hi, lo] = offset.to_be_bytes();
    vec![0x00, 0xB0, hi, lo, (le.min(SHORT_READ_CHUNK) % 256) as u8]
}

/// `00 20 00 80 Lc <pin>`: VERIFY the selected PIN EF.
pub fn verify(pin: &str) -> Vec<u8> {
    let mut command = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
    command.extend_from_slice(pin.as_bytes());
    command
}

/// `00 20 00 80`: the empty VERIFY that asks for the tries left (`63Cx`).
pub const VERIFY_STATUS: [u8; 4] = [0x00, 0x20, 0x00, 0x80];

/// `80 2A 00 80 Lc <SHA-256 DigestInfo> 00`: COMPUTE DIGITAL SIGNATURE with
/// the selected key over the DigestInfo of `digest`.
pub fn compute_signature(digest: &[u8; 32]) -> Vec<u8> {
    let len = SHA256_DIGEST_INFO_PREFIX.len() + digest.len();
    let mut command = vec![0x80, 0x2A, 0x00, 0x80, len as u8];
    command.extend_from_slice(&SHA256_DIGEST_INFO_PREFIX);
    command.extend_from_slice(digest);
    command.push(0x00);
    command
}

/// Reading a certificate of `len` bytes from its selected EF as OpenSC
/// does: the 4-byte header, then chunks of 256 bytes from offset 0, the last
/// one asking for exactly what is left.
pub fn read_certificate_commands(len: usize) -> Vec<Vec<u8>> {
    let mut commands = vec![read_binary(0, OPENSC_HEADER_LEN)];
    commands.extend((0..len).step_by(SHORT_READ_CHUNK).map(|offset| {
        let offset16 = u16::try_from(offset).expect("a certificate is under 32 KiB");
        read_binary(offset16, (len - offset).min(SHORT_READ_CHUNK))
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
        select_aid(&JPKI_AID),
        select_ef(EF_AUTH_PIN),
        VERIFY_STATUS.to_vec(),
        verify(pin),
        select_ef(EF_AUTH_KEY),
        compute_signature(&[0x5A; 32]),
        select_ef(EF_AUTH_CERTIFICATE),
    ];
    commands.extend(read_certificate_commands(certificate_len));
    commands
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
            let expected = if command == &VERIFY_STATUS.to_vec() {
                0x63C3
            } else {
                0x9000
            };
            assert_eq!(response.sw.0, expected, "command {i}");
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
