//! The mock online eligibility confirmation service (オンライン資格確認等システム).
//!
//! This crate will hold the service's rules as pure functions over a clock and a
//! store, with an HTTP edge. It is empty until that work lands; the crate exists
//! now so that the workspace layout is the one the project keeps.
