//! A virtual My Number card (マイナンバーカード).
//!
//! The card is a sans-IO state machine: command APDU bytes go in, response
//! APDU bytes come out, and time is passed in by the caller. Nothing in the
//! card model opens a socket, starts a thread or reads the wall clock; the
//! transports at the edge (the vpcd link to pcscd, the in-process link) move
//! bytes and nothing else.
//!
//! One profile describes one person's card; its [`variant::Variant`] says what
//! carries it: the plastic card through a contact or contactless reader, or the
//! card added to an Android phone or an iPhone. [`personalize`] builds each
//! (phones carry the JPKI-AP only), and [`card`] holds the few answers that
//! differ, among them an iPhone's Face ID window, opened with
//! [`card::Card::authenticate_holder`]. Where public facts about phones run out,
//! the choices made are written down in those modules' docs.

pub mod apdu;
pub mod behaviour;
pub mod card;
pub mod card_matrix;
pub mod filesystem;
pub mod formats;
pub mod image;
pub mod iso7816;
pub mod keys;
pub mod mynumber;
pub mod persona;
pub mod personalize;
pub mod pin;
pub mod pki;
pub mod profile;
pub mod reader;
pub mod toml_date;
pub mod trace;
pub mod transport;
pub mod variant;

use std::time::{Duration, Instant};

/// What a reader can do to a card: power it, ask for its ATR, send it a command.
///
/// The card, the trace and the reader model implement it; the transports
/// (vpcd, in process) drive it. Every event carries the instant it happens
/// at, read once by the transport at the edge: nothing behind this trait
/// reads the clock, so a trace or a reader's timing is as reproducible as
/// the instants it is given.
///
/// An **empty** answer from [`transmit`](SmartCard::transmit) means the card
/// left the field during the command (see [`reader::Field`]): the transports
/// report a removal (the vpcd link drops the connection without replying;
/// the in-process reader is left unpowered).
pub trait SmartCard {
    /// The answer to reset.
    fn atr(&self) -> Vec<u8>;
    /// Contacts powered (or field switched on) at `now`: the card starts fresh.
    fn power_on(&mut self, now: Instant);
    /// Power removed at `now`: all volatile state (selection, verified PINs)
    /// is lost.
    fn power_off(&mut self, now: Instant);
    /// Warm reset at `now`: like power off then on.
    fn reset(&mut self, now: Instant);
    /// One command APDU in at `now`, one response APDU (data and status
    /// word) out.
    fn transmit(&mut self, command: &[u8], now: Instant) -> Vec<u8>;
    /// A one-line description of what `command` would do, for traces.
    fn describe(&self, command: &[u8]) -> String {
        apdu::mask_secrets(command)
    }
    /// How long the card takes to answer `command`, link included. The card
    /// itself never sleeps (it is sans-IO): the transports wait this long
    /// before they hand the answer back (see [`reader::Latency`]).
    fn processing_time(&self, _command: &[u8]) -> Duration {
        Duration::ZERO
    }
}
