//! [`CardChannel`] over an in-process reader: the card is a function call
//! away. The scenario runner and the tests use it; the runner wraps the card
//! in `sim_card::trace::Traced` to see every APDU.
//!
//! A runner can also take the card away mid-exchange ([`InProcessChannel::remove_after`]),
//! which a real reader only offers to a patient's unsteady hand.

use sim_card::SmartCard;
use sim_card::transport::in_process::InProcessReader;

use super::{CardChannel, CardError};

/// A card in an in-process reader.
#[derive(Debug)]
pub struct InProcessChannel<C> {
    reader: InProcessReader<C>,
    /// APDUs answered so far in this channel's life (across connects).
    answered: usize,
    /// The card leaves once this many APDUs have been answered.
    remove_at: Option<usize>,
    removed: bool,
}

impl<C: SmartCard> InProcessChannel<C> {
    pub fn new(card: C) -> Self {
        InProcessChannel {
            reader: InProcessReader::new(card),
            answered: 0,
            remove_at: None,
            removed: false,
        }
    }

    /// The card is taken away after `n` APDUs have been answered: the
    /// `n+1`-th and every later one get [`CardError::Removed`], and a new
    /// connect finds no card. `n = 0` removes it before the first APDU.
    pub fn remove_after(mut self, n: usize) -> Self {
        self.remove_at = Some(n);
        self
    }

    /// How many APDUs the card answered.
    pub fn answered(&self) -> usize {
        self.answered
    }

    pub fn card(&self) -> &C {
        self.reader.card()
    }

    pub fn card_mut(&mut self) -> &mut C {
        self.reader.card_mut()
    }

    fn take_away(&mut self) {
        if !self.removed {
            self.removed = true;
            // A card that leaves the field loses its power, and with it
            // every verified PIN.
            self.reader.disconnect();
        }
    }
}

impl<C: SmartCard> CardChannel for InProcessChannel<C> {
    fn connect(&mut self) -> Result<Vec<u8>, CardError> {
        if self.removed {
            return Err(CardError::NoCard);
        }
        Ok(self.reader.connect())
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
        if self.removed || self.remove_at.is_some_and(|n| self.answered >= n) {
            self.take_away();
            return Err(CardError::Removed);
        }
        let response = self
            .reader
            .transmit(command)
            .map_err(|e| CardError::Reader(e.to_string()))?;
        if response.is_empty() {
            // The card left the field during the command (it is already
            // unpowered): no answer, and no card until it is held again.
            self.removed = true;
            return Err(CardError::Removed);
        }
        self.answered += 1;
        Ok(response)
    }

    fn disconnect(&mut self) {
        if !self.removed {
            self.reader.disconnect();
        }
    }
}
