//! Command APDUs as ISO/IEC 7816-4 defines them: the card's parser. The
//! names both sides share (status words, instructions, command builders) are
//! in [`crate::iso7816`].
//!
//! Parsing never panics: any byte string either becomes a [`Command`] or a
//! [`StatusWord`] that says what is wrong with it.

use crate::iso7816::{INS_CHANGE_REFERENCE_DATA, INS_READ_BINARY, INS_VERIFY, StatusWord};

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
        return Err(StatusWord::WrongLength);
    };
    let class = check_class(*cla).map_err(|sw| secure_messaging_refusal(sw, *ins))?;
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
        return Err(StatusWord::ClaNotSupported);
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
        _ => return Err(StatusWord::ClaNotSupported),
    };
    if channel != 0 {
        Err(StatusWord::LogicalChannelNotSupported)
    } else if secure_messaging != 0 {
        Err(StatusWord::SecureMessagingNotSupported)
    } else if chaining {
        Err(StatusWord::ChainingNotSupported)
    } else {
        Ok(class)
    }
}

/// What the card answers a command under secure messaging, which it never
/// has a session for: READ BINARY and VERIFY answer `69 FC` (no session to
/// decrypt them), every other instruction `68 82`, as soltia48/myna-card
/// measured on a real card under CLA `08` and `0C`.
fn secure_messaging_refusal(sw: StatusWord, ins: u8) -> StatusWord {
    match (sw, ins) {
        (StatusWord::SecureMessagingNotSupported, INS_READ_BINARY | INS_VERIFY) => {
            StatusWord::NoSecureMessagingSession
        }
        _ => sw,
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
                return Err(StatusWord::WrongLength);
            }
            match rest.len().checked_sub(lc) {
                Some(0) => Ok((rest, None, true)),
                Some(2) => Ok((&rest[..lc], Some(extended_ne(rest[lc], rest[lc + 1])), true)),
                _ => Err(StatusWord::WrongLength),
            }
        }
        // Cases 3 and 4 short.
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            if lc == 0 {
                return Err(StatusWord::WrongLength);
            }
            match rest.len().checked_sub(lc) {
                Some(0) => Ok((rest, None, false)),
                Some(1) => Ok((&rest[..lc], Some(short_ne(rest[lc])), false)),
                _ => Err(StatusWord::WrongLength),
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
            assert_eq!(parse(bad), Err(StatusWord::WrongLength), "{bad:02X?}");
        }
    }

    #[test]
    fn class_byte() {
        assert_eq!(
            parse(&[0x01, 0xA4, 0, 0]),
            Err(StatusWord::LogicalChannelNotSupported)
        );
        assert_eq!(
            parse(&[0x41, 0xA4, 0, 0]),
            Err(StatusWord::LogicalChannelNotSupported)
        );
        assert_eq!(
            parse(&[0x0C, 0xA4, 0, 0]),
            Err(StatusWord::SecureMessagingNotSupported)
        );
        assert_eq!(
            parse(&[0x08, 0xA4, 0, 0]),
            Err(StatusWord::SecureMessagingNotSupported)
        );
        // READ BINARY and VERIFY under secure messaging: no session (69FC),
        // under either SM class and whatever the data.
        for cla in [0x08, 0x0C, 0x88, 0x8C] {
            for ins in [0xB0, 0x20] {
                assert_eq!(
                    parse(&[cla, ins, 0, 0x80, 0x05, 0x96, 0x03, 0x00, 0x00, 0x00]),
                    Err(StatusWord::NoSecureMessagingSession),
                    "{cla:02X} {ins:02X}"
                );
            }
            assert_eq!(
                parse(&[cla, 0x2A, 0, 0]),
                Err(StatusWord::SecureMessagingNotSupported)
            );
        }
        // A logical channel is refused before secure messaging is looked at.
        assert_eq!(
            parse(&[0x09, 0xB0, 0, 0]),
            Err(StatusWord::LogicalChannelNotSupported)
        );
        assert_eq!(
            parse(&[0x10, 0xA4, 0, 0]),
            Err(StatusWord::ChainingNotSupported)
        );
        assert_eq!(parse(&[0xFF, 0xA4, 0, 0]), Err(StatusWord::ClaNotSupported));
        assert_eq!(parse(&[0xA0, 0xA4, 0, 0]), Err(StatusWord::ClaNotSupported));
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
