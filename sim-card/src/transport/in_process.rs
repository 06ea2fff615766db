//! The in-process transport: a reader that is a function call away.
//!
//! Tests and the scenario runner use it to drive a card without pcscd. It
//! behaves like a PC/SC connection: connecting powers the card and returns
//! its ATR, disconnecting powers it off.

use std::time::Instant;

use super::SmartCard;

/// A reader slot holding one card, connected in process.
#[derive(Debug)]
pub struct InProcessReader<C> {
    card: C,
    powered: bool,
}

/// The reader's error when there is no powered card to talk to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the card is not powered (connect first)")]
pub struct NotConnected;

impl<C: SmartCard> InProcessReader<C> {
    pub fn new(card: C) -> Self {
        InProcessReader {
            card,
            powered: false,
        }
    }

    /// Powers the card and returns its ATR.
    pub fn connect(&mut self) -> Vec<u8> {
        self.card.power_on();
        self.powered = true;
        self.card.atr()
    }

    /// Exchanges one APDU.
    pub fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, NotConnected> {
        if !self.powered {
            return Err(NotConnected);
        }
        Ok(self.card.transmit(command, Instant::now()))
    }

    /// Powers the card off, as a PC/SC disconnect with SCARD_UNPOWER_CARD does.
    pub fn disconnect(&mut self) {
        self.card.power_off();
        self.powered = false;
    }

    pub fn card(&self) -> &C {
        &self.card
    }

    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }
}
