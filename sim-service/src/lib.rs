//! The mock online eligibility confirmation service (オンライン資格確認等システム).
//!
//! The service's rules are pure functions over an instant ([`rules`]); the
//! instant comes from a settable [`clock::ServiceClock`], so tests can stand
//! the service on any date edge. The store keeps state in SQLite; the HTTP
//! edge (axum) only decodes requests, calls the rules and encodes answers.

pub mod clock;
pub mod rules;
pub mod store;
