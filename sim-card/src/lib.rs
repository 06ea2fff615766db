//! A virtual My Number card (マイナンバーカード).
//!
//! The card is a sans-IO state machine: command APDU bytes go in, response
//! APDU bytes come out, and time is passed in by the caller. Nothing in the
//! card model opens a socket, starts a thread or reads the wall clock; the
//! transports at the edge (the vpcd link to pcscd, the in-process link) move
//! bytes and nothing else.

pub mod apdu;
pub mod card;
pub mod filesystem;
pub mod formats;
pub mod image;
pub mod keys;
pub mod persona;
pub mod personalize;
pub mod pin;
pub mod pki;
pub mod profile;
pub mod reader;
pub mod trace;
pub mod transport;
