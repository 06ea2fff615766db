//! [`CardChannel`] over PC/SC: a card in a named reader of pcscd (a real
//! reader, or vpcd's "Virtual PCD 00 00" holding a `kazasu card`).

use std::ffi::CString;

use super::{CardChannel, CardError};

/// The reader vpcd's first slot shows in pcscd.
pub const DEFAULT_READER: &str = "Virtual PCD 00 00";

/// A card in a PC/SC reader.
pub struct PcscChannel {
    reader: String,
    context: Option<pcsc::Context>,
    card: Option<pcsc::Card>,
}

impl PcscChannel {
    /// A channel to `reader`; nothing is opened until [`CardChannel::connect`].
    pub fn new(reader: impl Into<String>) -> Self {
        PcscChannel {
            reader: reader.into(),
            context: None,
            card: None,
        }
    }

    pub fn reader(&self) -> &str {
        &self.reader
    }
}

/// What a PC/SC error means to the flow: the card left, there is none, or
/// the reader itself failed.
fn card_error(e: pcsc::Error) -> CardError {
    match e {
        pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::UnpoweredCard => {
            CardError::Removed
        }
        pcsc::Error::NoSmartcard => CardError::NoCard,
        other => CardError::Reader(other.to_string()),
    }
}

impl CardChannel for PcscChannel {
    fn connect(&mut self) -> Result<Vec<u8>, CardError> {
        self.disconnect();
        let context = pcsc::Context::establish(pcsc::Scope::User)
            .map_err(|e| CardError::Reader(format!("pcscd does not answer: {e}")))?;
        let name = CString::new(self.reader.as_str())
            .map_err(|_| CardError::Reader("a reader name with a NUL byte".into()))?;
        let card = context
            .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(|e| match e {
                pcsc::Error::UnknownReader => {
                    CardError::Reader(format!("pcscd has no reader {:?}", self.reader))
                }
                other => card_error(other),
            })?;
        let atr = card
            .status2_owned()
            .map(|s| s.atr().to_vec())
            .map_err(card_error)?;
        self.context = Some(context);
        self.card = Some(card);
        Ok(atr)
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
        let card = self.card.as_ref().ok_or(CardError::NoCard)?;
        let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE];
        card.transmit(command, &mut buffer)
            .map(<[u8]>::to_vec)
            .map_err(card_error)
    }

    fn disconnect(&mut self) {
        if let Some(card) = self.card.take() {
            // Dropping a pcsc::Card resets the card; leave it as it is, as
            // the app does when it is done reading.
            if let Err((card, _)) = card.disconnect(pcsc::Disposition::LeaveCard) {
                drop(card);
            }
        }
        self.context = None;
    }
}

impl Drop for PcscChannel {
    fn drop(&mut self) {
        self.disconnect();
    }
}
