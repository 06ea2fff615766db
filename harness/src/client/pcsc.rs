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

/// How long a failed transmit waits for pcscd to tell whether the card left.
/// A card pulled out mid-command fails that command with a communication
/// error (`SCARD_E_NOT_TRANSACTED`), and the reader reports it absent only at
/// its next presence poll (vpcd's every 400 ms, real readers' similar).
const REMOVAL_SETTLE: std::time::Duration = std::time::Duration::from_millis(1500);

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

impl PcscChannel {
    /// After a failed command: whether the card has left the reader, waiting
    /// up to [`REMOVAL_SETTLE`] for pcscd to notice. A reader failure with
    /// the card still in is not a removal.
    fn card_left(&self) -> bool {
        let (Some(context), Ok(name)) = (&self.context, CString::new(self.reader.as_str())) else {
            return false;
        };
        let mut states = [pcsc::ReaderState::new(name, pcsc::State::PRESENT)];
        let deadline = std::time::Instant::now() + REMOVAL_SETTLE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match context.get_status_change(left, &mut states) {
                Ok(()) => {}
                // Timed out with the card still there, or pcscd cannot say.
                Err(_) => return false,
            }
            let state = states[0].event_state();
            if state.contains(pcsc::State::EMPTY) || !state.contains(pcsc::State::PRESENT) {
                return true;
            }
            if left.is_zero() {
                return false;
            }
            states[0].sync_current_state();
        }
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
        match card.transmit(command, &mut buffer) {
            // No status word is no answer. kazasu's card fails the command
            // when it leaves (SCARD_E_NOT_TRANSACTED, see
            // sim_card::transport::vpcd), but some reader stacks report a
            // card pulled out mid-command as a success with 0 bytes (vpcd
            // itself does when a card just closes its connection), so a
            // client written for real readers treats both as a removal.
            Ok(answer) if answer.len() < 2 => {
                if self.card_left() {
                    Err(CardError::Removed)
                } else {
                    Err(CardError::Reader(format!(
                        "a response of {} bytes, without a status word",
                        answer.len()
                    )))
                }
            }
            Ok(answer) => Ok(answer.to_vec()),
            Err(e) => match card_error(e) {
                CardError::Reader(text) if self.card_left() => {
                    tracing::debug!("transmit failed ({text}) and the card is gone");
                    Err(CardError::Removed)
                }
                other => Err(other),
            },
        }
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
