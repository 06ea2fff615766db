//! The mock online eligibility confirmation service (オンライン資格確認等システム).
//!
//! The service's rules are pure functions over an instant ([`rules`]); the instant
//! comes from a settable [`clock::ServiceClock`], so tests can stand the service on
//! any date edge. The result model, the store and the HTTP edge build on these.

pub mod clock;
pub mod rules;
