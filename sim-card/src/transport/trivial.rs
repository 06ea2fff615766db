//! A card that does almost nothing, for testing and measuring transports.
//!
//! Throughput figures of a transport should not depend on what the card does
//! with a command, and transport tests should not need keys and certificates.
//! This card answers every command at once and counts what it was sent, so a
//! test can check that power events and commands arrived.

use std::time::Instant;

use crate::SmartCard;

/// The ATR the trivial card announces: the one OpenSC and pcsc-tools list for
/// JPKI cards, so tools that look the ATR up show something recognisable.
pub const TRIVIAL_ATR: [u8; 9] = [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];

/// Answers READ BINARY with `Le` bytes (256 for `Le = 00`) and `90 00`, and
/// any other command with `90 00` alone.
#[derive(Debug, Clone, Default)]
pub struct TrivialCard {
    /// Commands received since the card was made.
    pub commands: u64,
    /// Power-on events received.
    pub power_ons: u64,
    /// Power-off events received (a card leaving the reader counts as one).
    pub power_offs: u64,
    /// Warm resets received.
    pub resets: u64,
    /// The last command received, for tests that check what arrived.
    pub last_command: Vec<u8>,
}

impl TrivialCard {
    pub fn new() -> Self {
        Self::default()
    }
}

impl SmartCard for TrivialCard {
    fn atr(&self) -> Vec<u8> {
        TRIVIAL_ATR.to_vec()
    }

    fn power_on(&mut self, _now: Instant) {
        self.power_ons += 1;
    }

    fn power_off(&mut self, _now: Instant) {
        self.power_offs += 1;
    }

    fn reset(&mut self, _now: Instant) {
        self.resets += 1;
    }

    fn transmit(&mut self, command: &[u8], _now: Instant) -> Vec<u8> {
        self.commands += 1;
        self.last_command.clear();
        self.last_command.extend_from_slice(command);
        // A short-form READ BINARY is exactly CLA INS P1 P2 Le.
        let mut response = match command {
            [_, 0xB0, _, _, le] => {
                let len = if *le == 0 { 256 } else { usize::from(*le) };
                (0..len).map(|i| i as u8).collect()
            }
            _ => Vec::new(),
        };
        response.extend_from_slice(&[0x90, 0x00]);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_binary_returns_le_bytes() {
        let mut card = TrivialCard::new();
        let now = Instant::now();
        assert_eq!(
            card.transmit(&[0, 0xB0, 0, 0, 4], now),
            [0, 1, 2, 3, 0x90, 0]
        );
        assert_eq!(card.transmit(&[0, 0xB0, 0, 0, 0], now).len(), 258);
        assert_eq!(card.transmit(&[0, 0xA4, 4, 0x0C], now), [0x90, 0]);
        assert_eq!(card.commands, 3);
    }
}
