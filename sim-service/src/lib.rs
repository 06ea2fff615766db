//! The mock online eligibility confirmation service (オンライン資格確認等システム).
//!
//! This crate holds the service's data and rules as pure functions; the clock,
//! the store and the HTTP edge sit around them. The parts:
//!
//! - [`model`]: the domain under the official XML element names: a
//!   qualification result (ResultOfQualificationConfirmation), its code lists,
//!   and the confirmation outcome the HTTP edge renders as JSON or XmlMsg;
//! - [`codes`]: the simulator's own table of error and notice codes (the real
//!   ones are not public);
//! - [`fixtures`]: insured persons as TOML, with a built-in set covering every
//!   case the result screens distinguish;
//! - [`lookup`]: which of a person's qualifications a confirmation shows on a
//!   given date;
//! - [`kana`], [`charset`]: half-width フリガナ, and the JIS level rules that
//!   decide what a Shift_JIS or UTF-8 facility receives;
//! - [`xml`]: the XmlMsg response in UTF-8 or Shift_JIS, and a guarded reader
//!   of requests.

pub mod charset;
pub mod codes;
pub mod fixtures;
pub mod kana;
pub mod lookup;
pub mod model;
pub mod xml;
