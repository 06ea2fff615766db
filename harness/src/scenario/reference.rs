//! The reference client as the client under test.
//!
//! NOT YET IN THE BUILD: it is written against the reference client's API
//! (`kazasu::client::check`, `ServiceClient`, the PC/SC channel), which
//! arrives with the `client` branch. To wire it at merge time:
//!
//! 1. add `pub mod reference;` to `scenario/mod.rs`;
//! 2. in `run_cmd.rs`, make `reference_client()` return
//!    `Ok(Arc::new(ReferenceClient))`;
//! 3. check the names marked `MERGE:` below against the client's API.
//!
//! In process, the client drives the runner's [`SimulatedSlot`] directly;
//! over PC/SC it opens the reader by name, like any PC/SC application.

use std::time::Duration;

use super::runner::{ClientRun, ClientUnderTest, Reader, RunSetup, Transport};
use crate::client::{self, ServiceClient};

/// `kazasu::client::check`, in this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReferenceClient;

impl ClientUnderTest for ReferenceClient {
    fn identity(&self) -> String {
        format!("kazasu reference client {}", env!("CARGO_PKG_VERSION"))
    }

    fn supports(&self, _transport: Transport) -> Result<(), String> {
        Ok(())
    }

    fn run(&self, setup: RunSetup<'_>) -> ClientRun {
        let inputs = setup.inputs;
        let timeout = Duration::from_millis(inputs.timeout_ms);
        // MERGE: `ServiceClient::new(base_url, timeout)`; drop the `?`-style
        // handling if it is infallible.
        let service = match ServiceClient::new(setup.service_url, timeout) {
            Ok(service) => service,
            Err(e) => return ClientRun::of(Err(format!("cannot build the service client: {e}"))),
        };
        let outcome = match setup.reader {
            Reader::InProcess(card) => client::check(card, &service, inputs),
            Reader::Pcsc { name } => {
                // MERGE: the client's PC/SC channel, opened by reader name.
                let mut card = match client::PcscChannel::open(&name) {
                    Ok(card) => card,
                    Err(e) => {
                        return ClientRun::of(Err(format!("cannot open reader {name:?}: {e}")));
                    }
                };
                client::check(&mut card, &service, inputs)
            }
        };
        ClientRun::of(Ok(outcome))
    }
}
