//! Command APDUs as ISO/IEC 7816-4 defines them, and the status words the
//! card answers with.
//!
//! Parsing never panics: any byte string either becomes a [`Command`] or a
//! [`StatusWord`] that says what is wrong with it.

use std::fmt;

/// A two-byte status word (SW1 SW2).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    pub const OK: Self = Self(0x9000);
    /// 63 Cx: verification failed, x tries left.
    pub const fn tries_left(x: u8) -> Self {
        Self(0x63C0 | (x as u16 & 0x0F))
    }
    pub const WRONG_LENGTH: Self = Self(0x6700);
    pub const LOGICAL_CHANNEL_NOT_SUPPORTED: Self = Self(0x6881);
    pub const SECURE_MESSAGING_NOT_SUPPORTED: Self = Self(0x6882);
    pub const CHAINING_NOT_SUPPORTED: Self = Self(0x6884);
    pub const INCOMPATIBLE_WITH_FILE_STRUCTURE: Self = Self(0x6981);
    pub const SECURITY_STATUS_NOT_SATISFIED: Self = Self(0x6982);
    /// 69 85: conditions of use not satisfied (e.g. GET RESPONSE with
    /// nothing to get).
    pub const CONDITIONS_OF_USE_NOT_SATISFIED: Self = Self(0x6985);
    /// 69 84: reference data not usable. A blocked PIN answers this, not 6983.
    pub const PIN_BLOCKED: Self = Self(0x6984);
    pub const NO_CURRENT_EF: Self = Self(0x6986);
    pub const WRONG_DATA: Self = Self(0x6A80);
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    pub const RECORD_NOT_FOUND: Self = Self(0x6A83);
    pub const WRONG_P1P2: Self = Self(0x6A86);
    pub const OFFSET_OUTSIDE_EF: Self = Self(0x6B00);
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    pub const NO_PRECISE_DIAGNOSIS: Self = Self(0x6F00);

    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// The status word at the end of a response APDU, if it has one.
    pub fn of_response(response: &[u8]) -> Option<Self> {
        match response {
            [.., sw1, sw2] => Some(Self(u16::from_be_bytes([*sw1, *sw2]))),
            _ => None,
        }
    }

    /// What the status word means, in a few words, for traces and errors.
    pub fn meaning(self) -> String {
        match self.0 {
            0x9000 => "ok".into(),
            0x63C0 => "wrong PIN, blocked".into(),
            sw if sw & 0xFFF0 == 0x63C0 => format!("{} tries left", sw & 0x0F),
            0x6100 => "256 or more bytes to GET RESPONSE".into(),
            sw if sw & 0xFF00 == 0x6100 => format!("{} bytes to GET RESPONSE", sw & 0xFF),
            0x6700 => "wrong length".into(),
            sw if sw & 0xFF00 == 0x6C00 => format!("wrong Le: resend with Le={}", sw & 0xFF),
            0x6881 => "logical channel not supported".into(),
            0x6882 => "secure messaging not supported".into(),
            0x6884 => "command chaining not supported".into(),
            0x6981 => "command incompatible with file structure".into(),
            0x6982 => "security status not satisfied".into(),
            0x6984 => "PIN blocked".into(),
            0x6985 => "conditions of use not satisfied".into(),
            0x6986 => "no current EF".into(),
            0x6A80 => "incorrect data".into(),
            0x6A82 => "file not found".into(),
            0x6A83 => "record not found".into(),
            0x6A86 => "incorrect P1/P2".into(),
            0x6B00 => "offset outside the EF".into(),
            0x6D00 => "instruction not supported".into(),
            0x6E00 => "class not supported".into(),
            0x6F00 => "no precise diagnosis".into(),
            _ => "unknown".into(),
        }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

/// The class byte's family: the two families the card implements commands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// CLA 0x00: ISO interindustry commands (SELECT, READ BINARY, VERIFY, …).
    Interindustry,
    /// CLA 0x80: proprietary commands (COMPUTE DIGITAL SIGNATURE).
    Proprietary,
}

/// A parsed command APDU. Borrowed from the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    pub class: Class,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    /// The command data field (empty in cases 1 and 2).
    pub data: &'a [u8],
    /// Ne, the maximum number of response bytes expected: `None` when the
    /// command has no Le field (cases 1 and 3). A short Le of 00 means 256, an
    /// extended Le of 0000 means 65,536.
    pub ne: Option<usize>,
    /// Whether the APDU used the extended length form.
    pub extended: bool,
}

impl Command<'_> {
    /// P1 and P2 as one 16-bit number (e.g. a READ BINARY offset).
    pub fn p1p2(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }
}

/// Parses a command APDU, or returns the status word a card answers to it.
pub fn parse(bytes: &[u8]) -> Result<Command<'_>, StatusWord> {
    let [cla, ins, p1, p2, body @ ..] = bytes else {
        return Err(StatusWord::WRONG_LENGTH);
    };
    let class = check_class(*cla)?;
    let (data, ne, extended) = parse_body(body)?;
    Ok(Command {
        class,
        ins: *ins,
        p1: *p1,
        p2: *p2,
        data,
        ne,
        extended,
    })
}

/// Checks the class byte: this card has one logical channel and no secure
/// messaging, and answers as a real card does to anything beyond that.
fn check_class(cla: u8) -> Result<Class, StatusWord> {
    if cla == 0xFF {
        return Err(StatusWord::CLA_NOT_SUPPORTED);
    }
    let (class, channel, secure_messaging, chaining) = match cla {
        // First interindustry values, and proprietary classes coded the same way.
        0x00..=0x1F | 0x80..=0x9F => (
            if cla & 0x80 == 0 {
                Class::Interindustry
            } else {
                Class::Proprietary
            },
            cla & 0x03,
            (cla >> 2) & 0x03,
            cla & 0x10 != 0,
        ),
        // Further interindustry values: channels 4 to 19.
        0x40..=0x7F => (
            Class::Interindustry,
            4 + (cla & 0x0F),
            (cla >> 5) & 0x01,
            cla & 0x10 != 0,
        ),
        _ => return Err(StatusWord::CLA_NOT_SUPPORTED),
    };
    if channel != 0 {
        Err(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)
    } else if secure_messaging != 0 {
        Err(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED)
    } else if chaining {
        Err(StatusWord::CHAINING_NOT_SUPPORTED)
    } else {
        Ok(class)
    }
}

/// Splits what follows the header into data and Le, by the four cases of
/// ISO/IEC 7816-3 §12.1, short and extended.
fn parse_body(body: &[u8]) -> Result<(&[u8], Option<usize>, bool), StatusWord> {
    let short_ne = |b: u8| if b == 0 { 256 } else { usize::from(b) };
    let extended_ne = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
        0 => 65_536,
        n => usize::from(n),
    };
    match body {
        // Case 1.
        [] => Ok((&[], None, false)),
        // Case 2 short.
        [le] => Ok((&[], Some(short_ne(*le)), false)),
        // Case 2 extended.
        [0, hi, lo] => Ok((&[], Some(extended_ne(*hi, *lo)), true)),
        // Cases 3 and 4 extended.
        [0, hi, lo, rest @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            if lc == 0 {
                return Err(StatusWord::WRONG_LENGTH);
            }
            match rest.len().checked_sub(lc) {
                Some(0) => Ok((rest, None, true)),
                Some(2) => Ok((&rest[..lc], Some(extended_ne(rest[lc], rest[lc + 1])), true)),
                _ => Err(StatusWord::WRONG_LENGTH),
            }
        }
        // Cases 3 and 4 short.
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            if lc == 0 {
                return Err(StatusWord::WRONG_LENGTH);
            }
            match rest.len().checked_sub(lc) {
                Some(0) => Ok((rest, None, false)),
                Some(1) => Ok((&rest[..lc], Some(short_ne(rest[lc])), false)),
                _ => Err(StatusWord::WRONG_LENGTH),
            }
        }
    }
}

/// Masks the data field of commands that carry a PIN (VERIFY and CHANGE
/// REFERENCE DATA), so that no trace or log ever holds one. Other commands,
/// and bytes that do not parse, are returned as they are.
pub fn mask_secrets(bytes: &[u8]) -> String {
    let mut text = hex::encode_upper(bytes);
    if let Ok(command) = parse(bytes)
        && matches!(command.ins, INS_VERIFY | INS_CHANGE_REFERENCE_DATA)
        && !command.data.is_empty()
    {
        let header = if command.extended { 7 } else { 5 };
        let start = header * 2;
        let end = start + command.data.len() * 2;
        text.replace_range(start..end, &"*".repeat(end - start));
    }
    text
}

pub const INS_SELECT: u8 = 0xA4;
pub const INS_READ_BINARY: u8 = 0xB0;
pub const INS_READ_RECORD: u8 = 0xB2;
pub const INS_VERIFY: u8 = 0x20;
pub const INS_CHANGE_REFERENCE_DATA: u8 = 0x24;
pub const INS_COMPUTE_DIGITAL_SIGNATURE: u8 = 0x2A;
/// 80 FC: the iPhone profile's "last command" indicator. Physical cards answer
/// it with 6700.
pub const INS_LAST_COMMAND: u8 = 0xFC;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_four_cases() {
        let c = parse(&[0x00, 0xA4, 0x04, 0x0C]).unwrap();
        assert_eq!((c.data.len(), c.ne), (0, None));
        let c = parse(&[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!(c.ne, Some(256));
        let c = parse(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]).unwrap();
        assert_eq!((c.data, c.ne), (&[0x00, 0x0A][..], None));
        let c = parse(&[0x80, 0x2A, 0x00, 0x80, 0x01, 0xAB, 0x00]).unwrap();
        assert_eq!(
            (c.class, c.data, c.ne),
            (Class::Proprietary, &[0xAB][..], Some(256))
        );
    }

    #[test]
    fn extended_cases() {
        let c = parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!((c.ne, c.extended), (Some(65_536), true));
        let c = parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x08, 0x00]).unwrap();
        assert_eq!(c.ne, Some(0x800));
        let c = parse(&[0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x02, 0x31, 0x32]).unwrap();
        assert_eq!((c.data, c.ne), (&b"12"[..], None));
        let c = parse(&[0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x01, 0x31, 0x01, 0x00]).unwrap();
        assert_eq!((c.data, c.ne), (&b"1"[..], Some(256)));
    }

    #[test]
    fn malformed_lengths() {
        for bad in [
            &[][..],
            &[0x00, 0xA4, 0x04][..],
            &[0x00, 0xA4, 0x04, 0x0C, 0x03, 0x01][..],
            &[0x00, 0xA4, 0x04, 0x0C, 0x01, 0x01, 0x00, 0x00][..],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00][..],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01][..],
        ] {
            assert_eq!(parse(bad), Err(StatusWord::WRONG_LENGTH), "{bad:02X?}");
        }
    }

    #[test]
    fn class_byte() {
        assert_eq!(
            parse(&[0x01, 0xA4, 0, 0]),
            Err(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&[0x41, 0xA4, 0, 0]),
            Err(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&[0x0C, 0xA4, 0, 0]),
            Err(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&[0x08, 0xA4, 0, 0]),
            Err(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&[0x10, 0xA4, 0, 0]),
            Err(StatusWord::CHAINING_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&[0xFF, 0xA4, 0, 0]),
            Err(StatusWord::CLA_NOT_SUPPORTED)
        );
        assert_eq!(
            parse(&[0xA0, 0xA4, 0, 0]),
            Err(StatusWord::CLA_NOT_SUPPORTED)
        );
    }

    #[test]
    fn pins_are_masked() {
        let masked = mask_secrets(&[0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4']);
        assert_eq!(masked, "0020008004********");
        assert_eq!(mask_secrets(&[0x00, 0x20, 0x00, 0x80]), "00200080");
        let select = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
        assert_eq!(mask_secrets(&select), "00A4020C020018");
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_consistent(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(c) = parse(&bytes) {
                // Header + data + length fields account for every byte.
                let lc_len = if c.data.is_empty() { 0 } else if c.extended { 3 } else { 1 };
                let le_len = match (c.ne, c.extended, c.data.is_empty()) {
                    (None, _, _) => 0,
                    (Some(_), false, _) => 1,
                    (Some(_), true, true) => 3,
                    (Some(_), true, false) => 2,
                };
                prop_assert_eq!(4 + lc_len + c.data.len() + le_len, bytes.len());
            }
        }

        #[test]
        fn masking_never_panics_and_hides_verify_data(pin in proptest::collection::vec(0x30u8..0x3A, 1..17)) {
            let mut apdu = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
            apdu.extend(&pin);
            let masked = mask_secrets(&apdu);
            prop_assert!(!masked.contains(&hex::encode_upper(&pin)));
            prop_assert_eq!(masked.len(), apdu.len() * 2);
        }
    }
}
