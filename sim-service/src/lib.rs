//! The mock online eligibility confirmation service (オンライン資格確認等システム).
//!
//! The service's data and rules are pure functions over an instant; the
//! instant comes from a settable clock, the state from a store. One
//! [`service::Service`] carries out every operation over them, and each edge
//! (HTTP, the `--oqs-dir` folder, the scenario runner, the benchmarks) only
//! decodes a request, calls one of its methods and encodes the answer. The
//! parts:
//!
//! - [`service`]: the core: the service's operations, transport-free;
//! - [`model`]: the domain under the official XML element names: a
//!   qualification result (ResultOfQualificationConfirmation), its code lists,
//!   and the confirmation outcome rendered as JSON or XmlMsg;
//! - [`codes`]: the simulator's own table of error and notice codes (the real
//!   ones are not public);
//! - [`fixtures`]: insured persons as TOML, with a built-in set covering every
//!   case the result screens distinguish;
//! - [`lookup`]: which of a person's qualifications a confirmation shows on a
//!   given date;
//! - [`rules`]: certificate chain, expiry and grace period, signatures,
//!   challenges, preschool, retention, maintenance, registration timing;
//! - [`confirmation`]: the rules applied in order to one presented card;
//! - [`kana`], [`charset`]: half-width フリガナ, and the JIS level rules that
//!   decide what a Shift_JIS or UTF-8 facility receives;
//! - [`xml`]: the XmlMsg response in UTF-8 or Shift_JIS, and a guarded reader
//!   of requests;
//! - [`clock`]: the service's settable notion of now;
//! - [`after_confirmation`]: what facilities do with results afterwards: result
//!   search, 照会番号, the receipt-computer download (TOTP), the `req`/`res`/`face`
//!   folder;
//! - [`facility`]: the facility's administration of マイナ資格確認アプリ
//!   (environment setting, activation codes, accounts, devices, app
//!   sessions, notices) and the app channel's rules;
//! - [`store`]: SQLite (WAL) for fixtures, challenges, history, registrations;
//! - [`http`]: the axum edge: client API, admin API, faults, OpenAPI;
//! - [`oqs_dir`]: the folder edge (`--oqs-dir`): request files in, response
//!   files out;
//! - [`tls`]: a local CA and server certificate for HTTPS.

pub mod after_confirmation;
pub mod caches;
pub mod charset;
pub mod clock;
pub mod codes;
pub mod confirmation;
pub mod facility;
pub mod fixtures;
pub mod http;
pub mod kana;
pub mod lookup;
pub mod model;
pub mod oqs_dir;
mod password;
pub mod rules;
pub mod service;
pub mod store;
pub mod tls;
pub mod xml;
