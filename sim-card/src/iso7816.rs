//! The ISO/IEC 7816-4 vocabulary both sides of a reader speak: status words,
//! instruction bytes, and the command APDUs of the JPKI flow.
//!
//! Public facts only, and no card simulation: the card builds its answers
//! from these names, and the reference client and the benches build their
//! commands and read the answers with the same names. That is why this
//! module depends on nothing else in the crate: a client that uses it does
//! not depend on how the simulator behaves, only on the standard.

use std::fmt;

/// A two-byte status word (SW1 SW2), by what it means.
///
/// [`StatusWord::from`] a `u16` is canonical: a value with a name becomes
/// that variant, and [`StatusWord::Other`] holds only values without one.
/// Equality and hashing go by the two bytes, so a hand-made `Other(0x9000)`
/// still equals [`StatusWord::Ok`].
#[derive(Clone, Copy)]
pub enum StatusWord {
    /// `90 00`.
    Ok,
    /// `61 xx` (T=0 as PC/SC shows it): xx more bytes wait for GET RESPONSE
    /// (`00` = 256 or more).
    MoreData(u8),
    /// `63 Cx`: verification failed, x tries left (`63 C0`: blocked now).
    /// Only the low four bits are sent.
    RemainingRetries(u8),
    /// `67 00`.
    WrongLength,
    /// `68 81`.
    LogicalChannelNotSupported,
    /// `68 82`.
    SecureMessagingNotSupported,
    /// `68 84`.
    ChainingNotSupported,
    /// `66 F1` (JICSAP cards, not ISO): SET SESSION KEY where the security
    /// environment delivers no session key.
    NoKeyDelivery,
    /// `69 81`.
    IncompatibleWithFileStructure,
    /// `69 82`: a PIN (or, on an iPhone, Face ID) is needed first.
    SecurityStatusNotSatisfied,
    /// `69 83`: authentication method blocked. The My Number card answers a
    /// blocked PIN with `69 84` instead; named so a client can tell them apart.
    AuthenticationBlocked,
    /// `69 84`: reference data not usable. A blocked PIN answers this.
    ReferenceDataNotUsable,
    /// `69 85`: conditions of use not satisfied (e.g. GET RESPONSE with
    /// nothing to get).
    ConditionsOfUseNotSatisfied,
    /// `69 86`: command not allowed, no current EF.
    NoCurrentEf,
    /// `69 FC` (JICSAP cards, not ISO): a command under secure messaging
    /// with no secure-messaging session to decrypt it.
    NoSecureMessagingSession,
    /// `6A 80`: incorrect data field.
    WrongData,
    /// `6A 82`: file or application not found.
    FileNotFound,
    /// `6A 83`.
    RecordNotFound,
    /// `6A 86`: incorrect P1-P2.
    WrongP1P2,
    /// `6A 88`: referenced data not found (GET DATA of an object the card
    /// does not have).
    ReferencedDataNotFound,
    /// `6B 00`: offset outside the EF.
    OffsetOutsideEf,
    /// `6C xx` (T=0): wrong Le; the card has xx bytes (`00` = 256).
    WrongLe(u8),
    /// `6D 00`.
    InsNotSupported,
    /// `6E 00`.
    ClaNotSupported,
    /// `6F 00`.
    NoPreciseDiagnosis,
    /// Any other status word.
    Other(u16),
}

impl StatusWord {
    /// The two bytes as one number, SW1 high.
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::Ok => 0x9000,
            Self::MoreData(n) => 0x6100 | n as u16,
            Self::RemainingRetries(n) => 0x63C0 | (n as u16 & 0x0F),
            Self::WrongLength => 0x6700,
            Self::LogicalChannelNotSupported => 0x6881,
            Self::SecureMessagingNotSupported => 0x6882,
            Self::ChainingNotSupported => 0x6884,
            Self::NoKeyDelivery => 0x66F1,
            Self::IncompatibleWithFileStructure => 0x6981,
            Self::SecurityStatusNotSatisfied => 0x6982,
            Self::AuthenticationBlocked => 0x6983,
            Self::ReferenceDataNotUsable => 0x6984,
            Self::ConditionsOfUseNotSatisfied => 0x6985,
            Self::NoCurrentEf => 0x6986,
            Self::NoSecureMessagingSession => 0x69FC,
            Self::WrongData => 0x6A80,
            Self::FileNotFound => 0x6A82,
            Self::RecordNotFound => 0x6A83,
            Self::WrongP1P2 => 0x6A86,
            Self::ReferencedDataNotFound => 0x6A88,
            Self::OffsetOutsideEf => 0x6B00,
            Self::WrongLe(n) => 0x6C00 | n as u16,
            Self::InsNotSupported => 0x6D00,
            Self::ClaNotSupported => 0x6E00,
            Self::NoPreciseDiagnosis => 0x6F00,
            Self::Other(sw) => sw,
        }
    }

    /// The status word these two bytes are, by name where it has one.
    pub const fn from_u16(sw: u16) -> Self {
        let low = sw as u8;
        match sw {
            0x9000 => Self::Ok,
            _ if sw & 0xFF00 == 0x6100 => Self::MoreData(low),
            _ if sw & 0xFFF0 == 0x63C0 => Self::RemainingRetries(low & 0x0F),
            0x6700 => Self::WrongLength,
            0x6881 => Self::LogicalChannelNotSupported,
            0x6882 => Self::SecureMessagingNotSupported,
            0x6884 => Self::ChainingNotSupported,
            0x66F1 => Self::NoKeyDelivery,
            0x6981 => Self::IncompatibleWithFileStructure,
            0x6982 => Self::SecurityStatusNotSatisfied,
            0x6983 => Self::AuthenticationBlocked,
            0x6984 => Self::ReferenceDataNotUsable,
            0x6985 => Self::ConditionsOfUseNotSatisfied,
            0x6986 => Self::NoCurrentEf,
            0x69FC => Self::NoSecureMessagingSession,
            0x6A80 => Self::WrongData,
            0x6A82 => Self::FileNotFound,
            0x6A83 => Self::RecordNotFound,
            0x6A86 => Self::WrongP1P2,
            0x6A88 => Self::ReferencedDataNotFound,
            0x6B00 => Self::OffsetOutsideEf,
            _ if sw & 0xFF00 == 0x6C00 => Self::WrongLe(low),
            0x6D00 => Self::InsNotSupported,
            0x6E00 => Self::ClaNotSupported,
            0x6F00 => Self::NoPreciseDiagnosis,
            _ => Self::Other(sw),
        }
    }

    pub const fn sw1(self) -> u8 {
        (self.to_u16() >> 8) as u8
    }

    pub const fn sw2(self) -> u8 {
        self.to_u16() as u8
    }

    pub const fn to_bytes(self) -> [u8; 2] {
        self.to_u16().to_be_bytes()
    }

    /// The status word at the end of a response APDU, if it has one.
    pub fn of_response(response: &[u8]) -> Option<Self> {
        match response {
            [.., sw1, sw2] => Some(Self::from_u16(u16::from_be_bytes([*sw1, *sw2]))),
            _ => None,
        }
    }

    /// `63 Cx`: the tries left it reports.
    pub fn remaining_retries(self) -> Option<u8> {
        match Self::from_u16(self.to_u16()) {
            Self::RemainingRetries(n) => Some(n),
            _ => None,
        }
    }

    /// What the status word means, in a few words, for traces and errors.
    pub fn meaning(self) -> String {
        match Self::from_u16(self.to_u16()) {
            Self::Ok => "ok".into(),
            Self::MoreData(0) => "256 or more bytes to GET RESPONSE".into(),
            Self::MoreData(n) => format!("{n} bytes to GET RESPONSE"),
            Self::RemainingRetries(0) => "wrong PIN, blocked".into(),
            Self::RemainingRetries(n) => format!("{n} tries left"),
            Self::WrongLength => "wrong length".into(),
            Self::LogicalChannelNotSupported => "logical channel not supported".into(),
            Self::SecureMessagingNotSupported => "secure messaging not supported".into(),
            Self::ChainingNotSupported => "command chaining not supported".into(),
            Self::NoKeyDelivery => "no session-key delivery in this application".into(),
            Self::IncompatibleWithFileStructure => {
                "command incompatible with file structure".into()
            }
            Self::SecurityStatusNotSatisfied => "security status not satisfied".into(),
            Self::AuthenticationBlocked => "authentication method blocked".into(),
            Self::ReferenceDataNotUsable => "PIN blocked".into(),
            Self::ConditionsOfUseNotSatisfied => "conditions of use not satisfied".into(),
            Self::NoCurrentEf => "no current EF".into(),
            Self::NoSecureMessagingSession => "no secure-messaging session".into(),
            Self::WrongData => "incorrect data".into(),
            Self::FileNotFound => "file not found".into(),
            Self::RecordNotFound => "record not found".into(),
            Self::WrongP1P2 => "incorrect P1/P2".into(),
            Self::ReferencedDataNotFound => "referenced data not found".into(),
            Self::OffsetOutsideEf => "offset outside the EF".into(),
            Self::WrongLe(n) => format!("wrong Le: resend with Le={n}"),
            Self::InsNotSupported => "instruction not supported".into(),
            Self::ClaNotSupported => "class not supported".into(),
            Self::NoPreciseDiagnosis => "no precise diagnosis".into(),
            Self::Other(_) => "unknown".into(),
        }
    }
}

impl From<u16> for StatusWord {
    fn from(sw: u16) -> Self {
        Self::from_u16(sw)
    }
}

impl From<StatusWord> for u16 {
    fn from(sw: StatusWord) -> Self {
        sw.to_u16()
    }
}

impl PartialEq for StatusWord {
    fn eq(&self, other: &Self) -> bool {
        self.to_u16() == other.to_u16()
    }
}

impl Eq for StatusWord {}

impl std::hash::Hash for StatusWord {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_u16().hash(state);
    }
}

/// As the four hex digits traces and messages show.
impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.to_u16())
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.to_u16())
    }
}

/// CLA `00`: interindustry commands.
pub const CLA_INTERINDUSTRY: u8 = 0x00;
/// CLA `80`: proprietary commands (the JPKI-AP's COMPUTE DIGITAL SIGNATURE).
pub const CLA_PROPRIETARY: u8 = 0x80;

pub const INS_SELECT: u8 = 0xA4;
pub const INS_READ_BINARY: u8 = 0xB0;
pub const INS_READ_RECORD: u8 = 0xB2;
pub const INS_VERIFY: u8 = 0x20;
pub const INS_CHANGE_REFERENCE_DATA: u8 = 0x24;
pub const INS_COMPUTE_DIGITAL_SIGNATURE: u8 = 0x2A;
pub const INS_GET_RESPONSE: u8 = 0xC0;
pub const INS_GET_DATA: u8 = 0xCA;
pub const INS_GET_CHALLENGE: u8 = 0x84;
pub const INS_INTERNAL_AUTHENTICATE: u8 = 0x88;
/// 80 AE: SET SESSION KEY, which delivers a secure-messaging session key
/// encrypted to a key of the card.
pub const INS_SET_SESSION_KEY: u8 = 0xAE;
/// 80 FC: the iPhone profile's "last command" indicator. Physical cards answer
/// it with 6700.
pub const INS_LAST_COMMAND: u8 = 0xFC;

/// The largest answer of one short APDU (Le `00`).
pub const SHORT_LE_MAX: usize = 256;

/// `00 A4 04 0C Lc <aid>`: SELECT an application by AID, no FCI.
pub fn select_aid(aid: &[u8]) -> Vec<u8> {
    let mut command = vec![CLA_INTERINDUSTRY, INS_SELECT, 0x04, 0x0C, aid.len() as u8];
    command.extend_from_slice(aid);
    command
}

/// `00 A4 02 0C 02 <fid>`: SELECT an EF of the current application.
pub fn select_ef(fid: u16) -> Vec<u8> {
    let [hi, lo] = fid.to_be_bytes();
    vec![CLA_INTERINDUSTRY, INS_SELECT, 0x02, 0x0C, 0x02, hi, lo]
}

/// `00 B0 <offset> <Le>`: READ BINARY of the current EF in a short APDU; an
/// `le` of 256 (or more) is sent as `00`.
pub fn read_binary(offset: u16, le: usize) -> Vec<u8> {
    let [hi, lo] = offset.to_be_bytes();
    let le = (le.min(SHORT_LE_MAX) % SHORT_LE_MAX) as u8;
    vec![CLA_INTERINDUSTRY, INS_READ_BINARY, hi, lo, le]
}

/// `00 20 00 80 Lc <pin>`: VERIFY the selected PIN EF. The only command that
/// carries a PIN (traces mask it: see `apdu::mask_secrets`).
pub fn verify(pin: &str) -> Vec<u8> {
    let mut command = EMPTY_VERIFY.to_vec();
    command.push(pin.len() as u8);
    command.extend_from_slice(pin.as_bytes());
    command
}

/// `00 20 00 80`: the empty VERIFY, which only reports the tries left (`63Cx`).
pub const EMPTY_VERIFY: [u8; 4] = [CLA_INTERINDUSTRY, INS_VERIFY, 0x00, 0x80];

/// `80 2A 00 80 Lc <input> 00`: COMPUTE DIGITAL SIGNATURE with the selected
/// key over `input` (a DigestInfo: the card pads, it does not hash).
pub fn compute_digital_signature(input: &[u8]) -> Vec<u8> {
    let mut command = vec![
        CLA_PROPRIETARY,
        INS_COMPUTE_DIGITAL_SIGNATURE,
        0x00,
        0x80,
        input.len() as u8,
    ];
    command.extend_from_slice(input);
    command.push(0x00);
    command
}

/// `00 C0 00 00 Le`: GET RESPONSE (T=0; Le `00` = 256).
pub fn get_response(le: u8) -> [u8; 5] {
    [CLA_INTERINDUSTRY, INS_GET_RESPONSE, 0x00, 0x00, le]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn named_status_words() {
        assert_eq!(StatusWord::from(0x9000), StatusWord::Ok);
        assert_eq!(StatusWord::from(0x63C2), StatusWord::RemainingRetries(2));
        assert_eq!(StatusWord::from(0x612C), StatusWord::MoreData(0x2C));
        assert_eq!(StatusWord::from(0x6C25), StatusWord::WrongLe(0x25));
        assert_eq!(StatusWord::from(0x6984), StatusWord::ReferenceDataNotUsable);
        assert!(matches!(StatusWord::from(0x6A82), StatusWord::FileNotFound));
        assert_eq!(
            StatusWord::from(0x69FC),
            StatusWord::NoSecureMessagingSession
        );
        assert!(matches!(
            StatusWord::from(0x66F1),
            StatusWord::NoKeyDelivery
        ));
        assert!(matches!(
            StatusWord::from(0x6A88),
            StatusWord::ReferencedDataNotFound
        ));
        assert!(matches!(
            StatusWord::from(0x6A84),
            StatusWord::Other(0x6A84)
        ));
        // Equality by the bytes, however the value was made.
        assert_eq!(StatusWord::Other(0x9000), StatusWord::Ok);
        assert_eq!(StatusWord::RemainingRetries(0x13).to_u16(), 0x63C3);
        assert_eq!(StatusWord::RemainingRetries(2).remaining_retries(), Some(2));
        assert_eq!(StatusWord::Other(0x63C1).remaining_retries(), Some(1));
        assert_eq!(StatusWord::Ok.remaining_retries(), None);
        assert_eq!(StatusWord::ReferenceDataNotUsable.remaining_retries(), None);
        assert_eq!(
            StatusWord::of_response(&[0x01, 0x6A, 0x82]),
            Some(StatusWord::FileNotFound)
        );
        assert_eq!(StatusWord::of_response(&[0x90]), None);
        assert_eq!(
            StatusWord::WrongLe(0x25).meaning(),
            "wrong Le: resend with Le=37"
        );
        assert_eq!(StatusWord::Ok.to_string(), "9000");
    }

    #[test]
    fn commands_are_short_apdus() {
        let jpki = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
        assert_eq!(
            hex::encode_upper(select_aid(&jpki)),
            "00A4040C0AD392F000260100000001"
        );
        assert_eq!(hex::encode_upper(select_ef(0x000A)), "00A4020C02000A");
        assert_eq!(hex::encode_upper(read_binary(0x0100, 256)), "00B0010000");
        assert_eq!(hex::encode_upper(read_binary(0, 4)), "00B0000004");
        assert_eq!(hex::encode_upper(verify("1234")), "002000800431323334");
        assert_eq!(
            hex::encode_upper(compute_digital_signature(&[0xAB])),
            "802A008001AB00"
        );
        assert_eq!(hex::encode_upper(get_response(0x2C)), "00C000002C");
    }

    proptest! {
        #[test]
        fn every_u16_round_trips(sw in any::<u16>()) {
            let word = StatusWord::from(sw);
            prop_assert_eq!(u16::from(word), sw);
            prop_assert_eq!(StatusWord::from(word.to_u16()).to_u16(), sw);
            prop_assert_eq!(word.to_bytes(), sw.to_be_bytes());
        }
    }
}
