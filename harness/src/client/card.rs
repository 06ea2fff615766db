//! What the client says to the card: the JPKI-AP commands of the flow, and
//! the answers it understands.
//!
//! Only the commands a conforming client needs are here: SELECT, READ BINARY
//! in short APDUs (≤ 256 bytes: Debian's vpcd and many readers have no
//! extended APDUs), the empty VERIFY that reads tries left, one VERIFY with
//! the PIN, and COMPUTE DIGITAL SIGNATURE. Nothing here reads the text AP's
//! My Number. The PIN goes into exactly one place, [`verify_pin`]'s command,
//! and into no error or log.

use openssl::sha::sha256;

use super::{CardChannel, CardError};

/// JPKI-AP (公的個人認証AP).
pub const JPKI_AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// User-authentication certificate (利用者証明用電子証明書).
pub const EF_AUTH_CERTIFICATE: u16 = 0x000A;
/// User-authentication private key.
pub const EF_AUTH_KEY: u16 = 0x0017;
/// User-authentication PIN (4 digits, 3 tries).
pub const EF_AUTH_PIN: u16 = 0x0018;

/// The DER prefix of a SHA-256 DigestInfo: the card pads, it does not hash.
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The largest certificate the client accepts: READ BINARY offsets have 15
/// bits, and a real auth certificate is ~1.6 kB.
const MAX_CERTIFICATE_LEN: usize = 0x7FFF;

/// A status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sw(pub u16);

impl Sw {
    pub const OK: Sw = Sw(0x9000);
    pub const SECURITY_NOT_SATISFIED: Sw = Sw(0x6982);
    pub const PIN_BLOCKED: Sw = Sw(0x6984);
    pub const NOT_FOUND: Sw = Sw(0x6A82);

    /// `63Cx`: a PIN's tries left.
    pub fn tries_left(self) -> Option<u8> {
        (self.0 & 0xFFF0 == 0x63C0).then_some((self.0 & 0x000F) as u8)
    }
}

impl std::fmt::Display for Sw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

/// Why a card step did not give what the flow needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardFault {
    /// The reader or the card went away.
    Channel(CardError),
    /// The JPKI-AP is not there (6A82 to its SELECT): not a My Number card, or
    /// an iPhone whose card is not opened in Wallet.
    NoJpkiApplet,
    /// The card answered a status the flow does not expect at that step.
    Unexpected { step: &'static str, sw: Sw },
    /// The card's data cannot be what it should be.
    BadData(String),
}

impl From<CardError> for CardFault {
    fn from(e: CardError) -> Self {
        CardFault::Channel(e)
    }
}

impl std::fmt::Display for CardFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardFault::Channel(e) => write!(f, "{e}"),
            CardFault::NoJpkiApplet => write!(
                f,
                "no JPKI applet (6A82): for an iPhone, the patient must open the My Number card in Wallet first"
            ),
            CardFault::Unexpected { step, sw } => {
                write!(f, "the card answered {sw} to {step}")
            }
            CardFault::BadData(what) => write!(f, "unreadable card data: {what}"),
        }
    }
}

/// Sends one command; splits the answer into data and status word.
pub fn exchange(card: &mut dyn CardChannel, command: &[u8]) -> Result<(Vec<u8>, Sw), CardFault> {
    let mut response = card.transmit(command)?;
    if response.len() < 2 {
        return Err(CardFault::BadData(format!(
            "a response of {} bytes has no status word",
            response.len()
        )));
    }
    let sw = response.split_off(response.len() - 2);
    Ok((response, Sw(u16::from_be_bytes([sw[0], sw[1]]))))
}

/// Sends one command that must answer 9000.
fn expect_ok(
    card: &mut dyn CardChannel,
    step: &'static str,
    command: &[u8],
) -> Result<Vec<u8>, CardFault> {
    match exchange(card, command)? {
        (data, Sw::OK) => Ok(data),
        (_, sw) => Err(CardFault::Unexpected { step, sw }),
    }
}

/// `00 A4 04 0C`: SELECT an application by AID, no FCI.
pub fn select_aid_command(aid: &[u8]) -> Vec<u8> {
    let mut command = vec![0x00, 0xA4, 0x04, 0x0C, aid.len() as u8];
    command.extend_from_slice(aid);
    command
}

/// `00 A4 02 0C 02 <fid>`: SELECT an EF of the current application.
pub fn select_ef_command(fid: u16) -> Vec<u8> {
    let [hi, lo] = fid.to_be_bytes();
    vec![0x00, 0xA4, 0x02, 0x0C, 0x02, hi, lo]
}

/// `00 B0 <offset> <Le>`; `le` 256 is sent as `00`.
pub fn read_binary_command(offset: u16, le: usize) -> Vec<u8> {
    let [hi, lo] = offset.to_be_bytes();
    vec![0x00, 0xB0, hi, lo, (le.min(256) % 256) as u8]
}

/// `00 20 00 80 Lc <pin>`: VERIFY the selected PIN EF. The only command that
/// carries the PIN.
pub fn verify_command(pin: &str) -> Vec<u8> {
    let mut command = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
    command.extend_from_slice(pin.as_bytes());
    command
}

/// `00 20 00 80`: the empty VERIFY, which only reports the tries left.
pub const EMPTY_VERIFY: [u8; 4] = [0x00, 0x20, 0x00, 0x80];

/// SELECT the JPKI-AP. Selecting it again clears the card's security state,
/// so the flow selects it once per card session.
pub fn select_jpki(card: &mut dyn CardChannel) -> Result<(), CardFault> {
    match exchange(card, &select_aid_command(&JPKI_AID))? {
        (_, Sw::OK) => Ok(()),
        (_, Sw::NOT_FOUND) => Err(CardFault::NoJpkiApplet),
        (_, sw) => Err(CardFault::Unexpected {
            step: "SELECT JPKI-AP",
            sw,
        }),
    }
}

/// SELECT an EF of the JPKI-AP.
pub fn select_ef(
    card: &mut dyn CardChannel,
    fid: u16,
    step: &'static str,
) -> Result<(), CardFault> {
    expect_ok(card, step, &select_ef_command(fid)).map(drop)
}

/// Reads the user-authentication certificate as OpenSC does: the first 4
/// bytes give the DER length, then chunks of at most 256 bytes from 0.
pub fn read_auth_certificate(card: &mut dyn CardChannel) -> Result<Vec<u8>, CardFault> {
    select_ef(
        card,
        EF_AUTH_CERTIFICATE,
        "SELECT EF 000A (auth certificate)",
    )?;
    let head = expect_ok(
        card,
        "READ BINARY EF 000A (length)",
        &read_binary_command(0, 4),
    )?;
    let len = der_length(&head)?;
    let mut der = Vec::with_capacity(len);
    while der.len() < len {
        let offset = u16::try_from(der.len())
            .map_err(|_| CardFault::BadData("certificate offset past 15 bits".into()))?;
        let want = (len - der.len()).min(256);
        let chunk = expect_ok(
            card,
            "READ BINARY EF 000A",
            &read_binary_command(offset, want),
        )?;
        if chunk.is_empty() {
            // A card that answers 9000 with no data would loop forever.
            return Err(CardFault::BadData(format!(
                "the certificate ends at {} of {len} bytes",
                der.len()
            )));
        }
        der.extend_from_slice(&chunk);
    }
    der.truncate(len);
    Ok(der)
}

/// The whole length of a DER SEQUENCE from its first 4 bytes.
fn der_length(head: &[u8]) -> Result<usize, CardFault> {
    let len = match head {
        [0x30, 0x82, hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])) + 4,
        [0x30, 0x81, n, ..] => usize::from(*n) + 3,
        [0x30, n, ..] if *n < 0x80 => usize::from(*n) + 2,
        _ => {
            return Err(CardFault::BadData(
                "EF 000A does not start with a DER certificate".into(),
            ));
        }
    };
    if len > MAX_CERTIFICATE_LEN {
        return Err(CardFault::BadData(format!("a certificate of {len} bytes")));
    }
    Ok(len)
}

/// SELECT EF 0018 and send the empty VERIFY: the auth PIN's tries left, at
/// no cost to them.
pub fn auth_pin_tries_left(card: &mut dyn CardChannel) -> Result<u8, CardFault> {
    select_ef(card, EF_AUTH_PIN, "SELECT EF 0018 (auth PIN)")?;
    let (_, sw) = exchange(card, &EMPTY_VERIFY)?;
    sw.tries_left().ok_or(CardFault::Unexpected {
        step: "VERIFY EF 0018 (tries left)",
        sw,
    })
}

/// What a VERIFY with the PIN did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinVerdict {
    Verified,
    /// Wrong; this many tries remain (never 0: that is `Locked`).
    Wrong(u8),
    /// Locked now (the wrong PIN used the last try) or already (6984).
    Locked,
}

/// VERIFY the auth PIN (EF 0018 must be selected): one attempt, never more.
pub fn verify_pin(card: &mut dyn CardChannel, pin: &str) -> Result<PinVerdict, CardFault> {
    let (_, sw) = exchange(card, &verify_command(pin))?;
    match (sw, sw.tries_left()) {
        (Sw::OK, _) => Ok(PinVerdict::Verified),
        (_, Some(0)) | (Sw::PIN_BLOCKED, _) => Ok(PinVerdict::Locked),
        (_, Some(n)) => Ok(PinVerdict::Wrong(n)),
        _ => Err(CardFault::Unexpected {
            step: "VERIFY EF 0018",
            sw,
        }),
    }
}

/// The SHA-256 DigestInfo of `message`: what the card signs (it applies the
/// PKCS#1 v1.5 padding itself).
pub fn sha256_digest_info(message: &[u8]) -> Vec<u8> {
    let mut info = SHA256_DIGEST_INFO_PREFIX.to_vec();
    info.extend_from_slice(&sha256(message));
    info
}

/// What COMPUTE DIGITAL SIGNATURE did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    Signature(Vec<u8>),
    /// 6982: the key wants its PIN (or, on an iPhone, Face ID) first.
    NeedsAuthentication,
}

/// SELECT EF 0017 and sign the SHA-256 DigestInfo of `challenge` with the
/// auth key: `80 2A 00 80 Lc <DigestInfo> 00`.
pub fn sign_challenge(card: &mut dyn CardChannel, challenge: &[u8]) -> Result<Signed, CardFault> {
    select_ef(card, EF_AUTH_KEY, "SELECT EF 0017 (auth key)")?;
    let info = sha256_digest_info(challenge);
    let mut command = vec![0x80, 0x2A, 0x00, 0x80, info.len() as u8];
    command.extend_from_slice(&info);
    command.push(0x00);
    match exchange(card, &command)? {
        (data, Sw::OK) if !data.is_empty() => Ok(Signed::Signature(data)),
        (_, Sw::OK) => Err(CardFault::BadData("an empty signature".into())),
        (_, Sw::SECURITY_NOT_SATISFIED) => Ok(Signed::NeedsAuthentication),
        (_, sw) => Err(CardFault::Unexpected {
            step: "COMPUTE DIGITAL SIGNATURE",
            sw,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_short_apdus() {
        assert_eq!(
            hex::encode_upper(select_aid_command(&JPKI_AID)),
            "00A4040C0AD392F000260100000001"
        );
        assert_eq!(
            hex::encode_upper(select_ef_command(0x000A)),
            "00A4020C02000A"
        );
        assert_eq!(
            hex::encode_upper(read_binary_command(0x0100, 256)),
            "00B0010000"
        );
        assert_eq!(hex::encode_upper(read_binary_command(0, 4)), "00B0000004");
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der_length(&[0x30, 0x82, 0x06, 0x25]), Ok(0x625 + 4));
        assert_eq!(der_length(&[0x30, 0x81, 0x90, 0x00]), Ok(0x93));
        assert!(der_length(&[0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(der_length(&[]).is_err());
    }

    #[test]
    fn tries_left_from_63cx() {
        assert_eq!(Sw(0x63C2).tries_left(), Some(2));
        assert_eq!(Sw(0x63C0).tries_left(), Some(0));
        assert_eq!(Sw(0x9000).tries_left(), None);
        assert_eq!(Sw(0x6984).tries_left(), None);
    }

    #[test]
    fn digest_info_is_51_bytes() {
        assert_eq!(sha256_digest_info(b"x").len(), 51);
    }
}
