//! The reference client as the client under test.
//!
//! In process, the client drives the runner's
//! [`SimulatedSlot`](super::card::SimulatedSlot) directly; over PC/SC it
//! opens the reader by name, like any PC/SC application. With an app login
//! it signs in on the app channel first.

use super::contract::{ClientRun, ClientUnderTest, Reader, RunSetup, Transport};
use crate::client::service::ServiceClient;
use crate::client::{self, CardChannel};

/// `kazasu::client::flow::check`, in this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReferenceClient;

impl ClientUnderTest for ReferenceClient {
    fn identity(&self) -> String {
        format!("kazasu reference client {}", env!("CARGO_PKG_VERSION"))
    }

    fn supports(&self, _transport: Transport) -> Result<(), String> {
        Ok(())
    }

    fn reselects_on_request(&self) -> bool {
        true
    }

    fn run(&self, setup: RunSetup<'_>) -> ClientRun {
        let inputs = setup.inputs;
        let service = match ServiceClient::new(setup.service_url) {
            Ok(service) => service,
            Err(e) => return ClientRun::of(Err(format!("cannot build the service client: {e}"))),
        };
        let mut pcsc;
        let card: &mut dyn CardChannel = match setup.reader {
            Reader::InProcess(card) => card,
            Reader::Pcsc { name } => {
                pcsc = client::pcsc::PcscChannel::new(name.clone());
                &mut pcsc
            }
        };
        let outcome = match setup.app {
            Some(login) => client::app::check_on_app(card, &service, inputs, login).0,
            None => client::flow::check(card, &service, inputs),
        };
        ClientRun::of(Ok(outcome))
    }
}
