//! The reference client as the client under test.
//!
//! In process, the client drives the runner's [`SimulatedSlot`](super::runner::SimulatedSlot) directly;
//! over PC/SC it opens the reader by name, like any PC/SC application.

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
        let service = match ServiceClient::new(setup.service_url) {
            Ok(service) => service,
            Err(e) => return ClientRun::of(Err(format!("cannot build the service client: {e}"))),
        };
        let outcome = match setup.reader {
            Reader::InProcess(card) => client::check(card, &service, inputs),
            Reader::Pcsc { name } => {
                let mut card = client::PcscChannel::new(name.clone());
                client::check(&mut card, &service, inputs)
            }
        };
        ClientRun::of(Ok(outcome))
    }
}
