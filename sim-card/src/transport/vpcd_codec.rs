//! The vpcd wire format: frames, messages and replies, sans-IO.
//!
//! vsmartcard's `vpcd` is a pcsc-lite reader driver that listens on TCP, one
//! port per slot; a card "is inserted" by connecting to that port and "is
//! removed" by closing the connection. Both directions carry frames of a
//! two-byte big-endian length and a payload. From vpcd to the card, a one-byte
//! payload is a control byte (power off, power on, reset, get ATR) and a longer
//! one is a command APDU. From the card to vpcd, every frame is an answer: the
//! ATR, or a response APDU.
//!
//! This module turns bytes into messages ([`VpcdDecoder`]), hands messages to
//! a card ([`respond`], at the instant the caller gives), and turns answers
//! into bytes ([`encode_reply`]). It owns no socket and builds without tokio;
//! the link that moves these bytes over TCP is [`super::vpcd`] (cargo feature
//! `vpcd`).

use std::time::Instant;

use crate::SmartCard;

/// The longest payload a two-byte length can announce.
pub const MAX_PAYLOAD: usize = 0xFFFF;

/// What the card sends when it has no proper answer to give: "no precise
/// diagnosis". An empty frame is not an option, because vpcd reads it as the
/// card having been removed.
pub const ERROR_REPLY: [u8; 2] = [0x6F, 0x00];

/// The start of an answer that never comes: a frame's length with no
/// payload after it. A card that leaves the reader mid-command sends it and
/// then resets the connection (see [`super::vpcd`]).
///
/// Why: vpcd's driver reports a command whose answer is simply missing (the
/// connection closed, or reset before anything was sent) as a *successful*
/// transmit of 0 bytes, because it reads the end of the stream as an empty
/// answer and a failed read of the length is lost in a signed/unsigned
/// comparison. A failed read of the *payload* is the one failure it passes
/// on: `IFD_COMMUNICATION_ERROR`, which pcscd reports to the client as
/// `SCARD_E_NOT_TRANSACTED`, as a real reader reports a card that went mute.
/// The length announces a status word (2 bytes), the shortest proper answer.
pub const CUT_SHORT: [u8; 2] = [0x00, 0x02];

/// One message from vpcd to the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcdMessage {
    /// Control byte `00`. No answer is expected.
    PowerOff,
    /// Control byte `01`. No answer is expected.
    PowerOn,
    /// Control byte `02`. No answer is expected.
    Reset,
    /// Control byte `04`: answer with the ATR.
    GetAtr,
    /// Any payload of two bytes or more: answer with the response APDU.
    Apdu(Vec<u8>),
}

/// A frame from vpcd that carries no message the card understands. The stream
/// stays in step (the frame's length was valid), so the link logs it and reads on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown vpcd control byte {0:#04x}")]
    UnknownControl(u8),
    #[error("empty frame from vpcd")]
    EmptyFrame,
}

/// A message that cannot be put into a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A one-byte payload would be read as a control byte, an empty one as nothing.
    #[error("a command APDU of {0} bytes would not be read as an APDU")]
    ApduTooShort(usize),
    #[error("a payload of {0} bytes does not fit a two-byte length")]
    TooLong(usize),
}

impl VpcdMessage {
    /// Appends the message as vpcd would send it. The card never sends these;
    /// this is for fake vpcds in tests and for tools that drive a card directly.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let control = match self {
            VpcdMessage::PowerOff => 0x00,
            VpcdMessage::PowerOn => 0x01,
            VpcdMessage::Reset => 0x02,
            VpcdMessage::GetAtr => 0x04,
            VpcdMessage::Apdu(apdu) => {
                if apdu.len() < 2 {
                    return Err(EncodeError::ApduTooShort(apdu.len()));
                }
                return push_frame(apdu, out);
            }
        };
        push_frame(&[control], out)
    }
}

fn push_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = u16::try_from(payload.len()).map_err(|_| EncodeError::TooLong(payload.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Splits the byte stream from vpcd into messages.
///
/// TCP keeps no message boundaries: vpcd 0.8 writes a frame's length and its
/// payload separately, so they may arrive in different reads, and pcscd's
/// "power on, then get ATR" often arrives in one. Feed the decoder whatever
/// each read returned, then take messages until it has none.
#[derive(Debug, Default)]
pub struct VpcdDecoder {
    buf: Vec<u8>,
    /// Where the first byte not yet decoded is in `buf`.
    pos: usize,
}

impl VpcdDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        // Decoded bytes are dropped here rather than in `next_message`, so that
        // draining several messages moves the leftover only once.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if the bytes fed so far hold one.
    pub fn next_message(&mut self) -> Option<Result<VpcdMessage, DecodeError>> {
        let pending = &self.buf[self.pos..];
        let [hi, lo, rest @ ..] = pending else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let payload = rest.get(..len)?;
        let message = match payload {
            [] => Err(DecodeError::EmptyFrame),
            [0x00] => Ok(VpcdMessage::PowerOff),
            [0x01] => Ok(VpcdMessage::PowerOn),
            [0x02] => Ok(VpcdMessage::Reset),
            [0x04] => Ok(VpcdMessage::GetAtr),
            [other] => Err(DecodeError::UnknownControl(*other)),
            apdu => Ok(VpcdMessage::Apdu(apdu.to_vec())),
        };
        self.pos += 2 + len;
        Some(message)
    }

    /// Bytes received but not yet returned as a message (an incomplete frame).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Why an answer could not be sent as it was, and [`ERROR_REPLY`] went instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyProblem {
    #[error("the card gave an empty answer, which vpcd would read as a removal")]
    Empty,
    #[error("the card's answer of {0} bytes does not fit a vpcd frame")]
    TooLong(usize),
}

/// Appends the frame that carries `payload` to vpcd.
///
/// A payload that cannot be sent faithfully is never cut or sent empty: the
/// frame carries `6F 00` instead, and the returned problem says why, so the
/// caller can log it.
#[must_use = "a substituted answer should be logged"]
pub fn encode_reply(payload: &[u8], out: &mut Vec<u8>) -> Option<ReplyProblem> {
    let problem = if payload.is_empty() {
        ReplyProblem::Empty
    } else {
        match push_frame(payload, out) {
            Ok(()) => return None,
            Err(_) => ReplyProblem::TooLong(payload.len()),
        }
    };
    // Cannot fail: two bytes always fit.
    let _ = push_frame(&ERROR_REPLY, out);
    Some(problem)
}

/// Hands one message, arriving at `now`, to the card; returns the payload to
/// send back, if any. Power events and resets have no answer.
pub fn respond<C: SmartCard + ?Sized>(
    card: &mut C,
    message: &VpcdMessage,
    now: Instant,
) -> Option<Vec<u8>> {
    match message {
        VpcdMessage::PowerOff => {
            card.power_off(now);
            None
        }
        VpcdMessage::PowerOn => {
            card.power_on(now);
            None
        }
        VpcdMessage::Reset => {
            card.reset(now);
            None
        }
        VpcdMessage::GetAtr => Some(card.atr()),
        VpcdMessage::Apdu(apdu) => Some(card.transmit(apdu, now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::trivial::{TRIVIAL_ATR, TrivialCard};
    use proptest::prelude::*;

    fn frame(message: &VpcdMessage) -> Vec<u8> {
        let mut out = Vec::new();
        message.encode(&mut out).unwrap();
        out
    }

    fn decode_all(decoder: &mut VpcdDecoder) -> Vec<Result<VpcdMessage, DecodeError>> {
        std::iter::from_fn(|| decoder.next_message()).collect()
    }

    #[test]
    fn control_bytes_and_apdus() {
        let mut decoder = VpcdDecoder::new();
        decoder.feed(&[
            0, 1, 0, 0, 1, 1, 0, 1, 2, 0, 1, 4, 0, 1, 3, 0, 0, 0, 2, 0xAA, 0xBB,
        ]);
        assert_eq!(
            decode_all(&mut decoder),
            vec![
                Ok(VpcdMessage::PowerOff),
                Ok(VpcdMessage::PowerOn),
                Ok(VpcdMessage::Reset),
                Ok(VpcdMessage::GetAtr),
                Err(DecodeError::UnknownControl(3)),
                Err(DecodeError::EmptyFrame),
                Ok(VpcdMessage::Apdu(vec![0xAA, 0xBB])),
            ]
        );
        assert_eq!(decoder.pending(), 0);
    }

    #[test]
    fn a_frame_split_after_its_length_waits_for_the_payload() {
        let mut decoder = VpcdDecoder::new();
        decoder.feed(&[0, 4]);
        assert_eq!(decoder.next_message(), None);
        decoder.feed(&[0, 0xA4, 4]);
        assert_eq!(decoder.next_message(), None);
        assert_eq!(decoder.pending(), 5);
        decoder.feed(&[0x0C, 0, 1]);
        assert_eq!(
            decoder.next_message(),
            Some(Ok(VpcdMessage::Apdu(vec![0, 0xA4, 4, 0x0C])))
        );
        assert_eq!(decoder.next_message(), None);
        decoder.feed(&[4]);
        assert_eq!(decoder.next_message(), Some(Ok(VpcdMessage::GetAtr)));
    }

    #[test]
    fn replies_are_never_empty_nor_cut() {
        let mut out = Vec::new();
        assert_eq!(encode_reply(&[0x90, 0x00], &mut out), None);
        assert_eq!(out, [0, 2, 0x90, 0]);

        out.clear();
        assert_eq!(encode_reply(&[], &mut out), Some(ReplyProblem::Empty));
        assert_eq!(out, [0, 2, 0x6F, 0]);

        out.clear();
        let longest = vec![0x55; MAX_PAYLOAD];
        assert_eq!(encode_reply(&longest, &mut out), None);
        assert_eq!(out.len(), MAX_PAYLOAD + 2);
        assert_eq!(out[..2], [0xFF, 0xFF]);

        out.clear();
        let too_long = vec![0x55; MAX_PAYLOAD + 1];
        assert_eq!(
            encode_reply(&too_long, &mut out),
            Some(ReplyProblem::TooLong(MAX_PAYLOAD + 1))
        );
        assert_eq!(out, [0, 2, 0x6F, 0]);
    }

    #[test]
    fn apdus_too_short_to_frame_are_refused() {
        let mut out = Vec::new();
        assert_eq!(
            VpcdMessage::Apdu(vec![0x00]).encode(&mut out),
            Err(EncodeError::ApduTooShort(1))
        );
        assert_eq!(
            VpcdMessage::Apdu(vec![0; 70_000]).encode(&mut out),
            Err(EncodeError::TooLong(70_000))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn respond_answers_only_atr_and_apdus() {
        let mut card = TrivialCard::new();
        let now = Instant::now();
        assert_eq!(respond(&mut card, &VpcdMessage::PowerOn, now), None);
        assert_eq!(respond(&mut card, &VpcdMessage::Reset, now), None);
        assert_eq!(respond(&mut card, &VpcdMessage::PowerOff, now), None);
        assert_eq!(
            respond(&mut card, &VpcdMessage::GetAtr, now),
            Some(TRIVIAL_ATR.to_vec())
        );
        assert_eq!(
            respond(&mut card, &VpcdMessage::Apdu(vec![0, 0xA4, 4, 0x0C]), now),
            Some(vec![0x90, 0])
        );
        assert_eq!(
            (card.power_ons, card.resets, card.power_offs, card.commands),
            (1, 1, 1, 1)
        );
    }

    fn any_message() -> impl Strategy<Value = VpcdMessage> {
        prop_oneof![
            Just(VpcdMessage::PowerOff),
            Just(VpcdMessage::PowerOn),
            Just(VpcdMessage::Reset),
            Just(VpcdMessage::GetAtr),
            proptest::collection::vec(any::<u8>(), 2..400).prop_map(VpcdMessage::Apdu),
        ]
    }

    /// Cuts `bytes` at the given points (taken modulo its length).
    fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts
            .iter()
            .map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() })
            .collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        points
            .windows(2)
            .map(|w| bytes[w[0]..w[1]].to_vec())
            .collect()
    }

    proptest! {
        /// Whatever vpcd (or anyone who connects) sends, decoding never
        /// panics, and every byte is either decoded or waiting.
        #[test]
        fn any_byte_stream_is_safe(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
        ) {
            let mut decoder = VpcdDecoder::new();
            let mut consumed = 0;
            for chunk in chunks(&bytes, &cuts) {
                decoder.feed(&chunk);
                while let Some(message) = decoder.next_message() {
                    consumed += 2 + match message {
                        Ok(VpcdMessage::Apdu(apdu)) => apdu.len(),
                        Ok(_) | Err(DecodeError::UnknownControl(_)) => 1,
                        Err(DecodeError::EmptyFrame) => 0,
                    };
                }
            }
            prop_assert_eq!(consumed + decoder.pending(), bytes.len());
        }

        /// Framed, concatenated and cut anywhere, messages come back the same.
        #[test]
        fn framing_round_trips_through_any_chunking(
            messages in proptest::collection::vec(any_message(), 0..30),
            cuts in proptest::collection::vec(any::<usize>(), 0..40),
        ) {
            let stream: Vec<u8> = messages.iter().flat_map(frame).collect();
            let mut decoder = VpcdDecoder::new();
            let mut decoded = Vec::new();
            for chunk in chunks(&stream, &cuts) {
                decoder.feed(&chunk);
                decoded.extend(decode_all(&mut decoder));
            }
            let expected: Vec<_> = messages.into_iter().map(Ok).collect();
            prop_assert_eq!(decoded, expected);
            prop_assert_eq!(decoder.pending(), 0);
        }

        /// Every reply frame is non-empty and announces its own length.
        #[test]
        fn reply_frames_are_well_formed(payload in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut out = Vec::new();
            let problem = encode_reply(&payload, &mut out);
            let len = usize::from(u16::from_be_bytes([out[0], out[1]]));
            prop_assert!(len > 0);
            prop_assert_eq!(len + 2, out.len());
            prop_assert_eq!(problem.is_some(), payload.is_empty());
        }
    }
}
