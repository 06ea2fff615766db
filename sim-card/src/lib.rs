//! A virtual My Number card (マイナンバーカード).
//!
//! The card is a sans-IO state machine: command APDU bytes go in, response
//! APDU bytes come out, and time is passed in by the caller. Nothing in the
//! card model opens a socket, starts a thread or reads the wall clock; the
//! transports at the edge (the vpcd link to pcscd, the in-process link) move
//! bytes and nothing else.
//!
//! One profile describes one person's card; its [`profile::Variant`] says what
//! carries it: the plastic card through a contact or contactless reader, or the
//! card added to an Android phone or an iPhone. [`personalize`] builds each
//! (phones carry the JPKI-AP only), and [`card`] holds the few answers that
//! differ, among them an iPhone's Face ID window, opened with
//! [`card::Card::authenticate_holder`]. Where public facts about phones run out,
//! the choices made are written down in those modules' docs.

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
