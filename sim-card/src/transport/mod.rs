//! Transports: the thin adapters that carry APDUs between a reader and a card.
//!
//! A transport knows how bytes travel (a vpcd TCP stream, a function call) and
//! nothing about what they mean. It talks to whatever implements [`SmartCard`](crate::SmartCard),
//! so the same link carries a plain card, a traced card, or a test double.

pub mod in_process;
pub mod trivial;
#[cfg(feature = "vpcd")]
pub mod vpcd;
pub mod vpcd_codec;
#[cfg(feature = "vpcd")]
pub mod vpcd_slots;
