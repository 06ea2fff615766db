//! Scenarios: the format, the conformance rules, loading a suite, running it
//! against a client, and reporting.

pub mod attended;
pub mod card;
pub mod conformance;
pub mod contract;
pub mod expectations;
pub mod external;
pub mod format;
pub mod load;
pub mod pcsc_slot;
pub mod persons;
pub mod reference;
pub mod report;
pub mod runner;
pub mod secrets;
mod service;
pub mod shown;
mod steps;
pub mod story;
