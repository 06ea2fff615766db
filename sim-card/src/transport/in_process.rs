//! The in-process transport: a reader that is a function call away.
//!
//! Tests and the scenario runner use it to drive a card without pcscd. It
//! behaves like a PC/SC connection: connecting powers the card and returns
//! its ATR, disconnecting powers it off. It takes the card's processing time
//! (the thread sleeps: latency lives at the edge, never in the card), and it
//! reads the clock for every event it hands the card, as the vpcd link does.

use std::time::Instant;

use crate::SmartCard;

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
        self.card.power_on(Instant::now());
        self.powered = true;
        self.card.atr()
    }

    /// Exchanges one APDU, taking as long as the card says it takes
    /// ([`SmartCard::processing_time`]: this thread sleeps).
    ///
    /// An empty answer means the card left the field during the command: the
    /// reader is then unpowered, and [`connect`](Self::connect) must power the
    /// card again (once it is back) before the next command.
    pub fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, NotConnected> {
        if !self.powered {
            return Err(NotConnected);
        }
        let delay = self.card.processing_time(command);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let response = self.card.transmit(command, Instant::now());
        if response.is_empty() {
            self.powered = false;
        }
        Ok(response)
    }

    /// Powers the card off, as a PC/SC disconnect with SCARD_UNPOWER_CARD does.
    pub fn disconnect(&mut self) {
        self.card.power_off(Instant::now());
        self.powered = false;
    }

    pub fn card(&self) -> &C {
        &self.card
    }

    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }

    /// Takes the card out of the reader (it loses power, as a card pulled
    /// out does), to hold it elsewhere.
    pub fn into_card(mut self) -> C {
        self.disconnect();
        self.card
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{Field, FlakyField, ReaderProfile, SimulatedReader};
    use crate::transport::trivial::TrivialCard;

    #[test]
    fn an_empty_answer_leaves_the_reader_unpowered() {
        let profile = ReaderProfile {
            field: Field::Flaky(FlakyField {
                seed: 3,
                drop_percent: 100,
            }),
            ..ReaderProfile::default()
        };
        let mut reader = InProcessReader::new(SimulatedReader::new(TrivialCard::new(), profile));
        reader.connect();
        assert_eq!(reader.transmit(&[0, 0xB0, 0, 0, 1]), Ok(Vec::new()));
        assert_eq!(reader.transmit(&[0, 0xB0, 0, 0, 1]), Err(NotConnected));
        assert_eq!(reader.card().card().commands, 0);
    }
}
