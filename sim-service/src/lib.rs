//! The mock online eligibility confirmation service (オンライン資格確認等システム).
//!
//! Every rule of the service reads a settable [`clock::ServiceClock`], so tests can
//! stand the service on any date edge. The result model, the store and the HTTP
//! edge build on it.

pub mod clock;
