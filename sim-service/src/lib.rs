//! The mock online eligibility confirmation service (オンライン資格確認等システム).
//!
//! The service's rules are pure functions over a clock and a store; the HTTP
//! edge (axum) only decodes requests, calls them and encodes the answers.

pub mod store;
