//! Transports: the thin adapters that carry APDUs between a reader and a card.
//!
//! A transport knows how bytes travel (a vpcd TCP stream, a function call) and
//! nothing about what they mean. It talks to whatever implements [`SmartCard`],
//! so the same link carries a plain card, a traced card, or a test double.

use std::time::{Duration, Instant};

pub mod trivial;
pub mod vpcd;

/// What a reader can do to a card: power it, ask for its ATR, send it a command.
///
/// An **empty** answer from [`transmit`](SmartCard::transmit) means the card
/// left the field during the command (see [`crate::reader::Field`]): the
/// transports report a removal (the vpcd link drops the connection without
/// replying; the in-process reader is left unpowered).
pub trait SmartCard {
    /// The answer to reset.
    fn atr(&self) -> Vec<u8>;
    /// Contacts powered (or field switched on): the card starts fresh.
    fn power_on(&mut self);
    /// Power removed: all volatile state (selection, verified PINs) is lost.
    fn power_off(&mut self);
    /// Warm reset: like power off then on.
    fn reset(&mut self);
    /// One command APDU in, one response APDU (data and status word) out.
    /// `now` is the reader's notion of the current time.
    fn transmit(&mut self, command: &[u8], now: Instant) -> Vec<u8>;
    /// A one-line description of what `command` would do, for traces.
    fn describe(&self, command: &[u8]) -> String {
        crate::apdu::mask_secrets(command)
    }
    /// How long the card takes to answer `command`, link included. The card
    /// itself never sleeps (it is sans-IO): the transports wait this long
    /// before they hand the answer back (see [`crate::reader::Latency`]).
    fn processing_time(&self, _command: &[u8]) -> Duration {
        Duration::ZERO
    }
}

pub mod in_process;

impl SmartCard for crate::card::Card {
    fn atr(&self) -> Vec<u8> {
        crate::card::Card::atr(self).to_vec()
    }

    fn power_on(&mut self) {
        self.reset_session();
    }

    fn power_off(&mut self) {
        self.reset_session();
    }

    fn reset(&mut self) {
        self.reset_session();
    }

    fn transmit(&mut self, command: &[u8], now: Instant) -> Vec<u8> {
        self.process_at(command, now).to_bytes()
    }

    fn describe(&self, command: &[u8]) -> String {
        crate::card::Card::describe(self, command)
    }
}
