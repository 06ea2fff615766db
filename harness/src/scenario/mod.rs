//! Scenarios: the format, the conformance rules, and (to come) the runner
//! and its reports.

pub mod conformance;
pub mod format;
