//! The kazasu harness: the reference client and the scenario runner, used by
//! the `kazasu` binary and by tests.

pub mod certificate;
pub mod client;
pub mod scenario;
