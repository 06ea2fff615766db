//! A scenario's card in the real pcscd: attached to one vpcd slot for the
//! length of one scenario.
//!
//! A vendor's client runs as its own process and can only reach a card the
//! way it reaches a real one, through PC/SC. The runner puts the scenario's
//! card into vpcd slot N (the Nth of [`slots`]: on Debian's default
//! configuration `Virtual PCD 00 00` and `Virtual PCD 00 01`), waits until
//! pcscd reports it present, lets the client run, and takes it out again,
//! waiting until pcscd reports the reader empty, so that the next scenario in
//! that slot starts with a reader pcscd has seen empty.
//!
//! Those waits are what a scenario through pcscd costs beyond its work:
//! pcscd asks vpcd whether a card is present every 400 ms (its status poll;
//! vpcd's driver offers no event), and vpcd takes a new card into a slot only
//! at the poll after the one that saw the last card leave. A scenario so
//! holds its slot for two polls (one sees the card arrive, the next one sees
//! it leave), 0.8 s, when its client takes less than a poll, whatever the
//! machine; the runner goes faster with more slots, one scenario in each
//! (`kazasu run --transport pcsc` uses every slot it finds).

use std::ffi::CString;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sim_card::SmartCard;
use sim_card::personalize::AUTH_PIN;
use sim_card::transport::vpcd::{self, VpcdControl, VpcdEvent, VpcdOptions};
use sim_card::transport::vpcd_codec::ERROR_REPLY;
use sim_card::transport::vpcd_slots::{self, VpcdSlot};

use super::card::ScenarioCard;

/// How long vpcd and pcscd may take to see a card come or go.
const SETTLE: Duration = Duration::from_secs(10);

/// A remote reader's PC/SC cannot be watched from here: after a card left,
/// this long for its vpcd to poll the slot (every half second or so) and
/// report it empty before the next scenario's card goes in.
const REMOTE_SETTLE: Duration = Duration::from_secs(1);

/// Where the scenarios' readers are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum VpcdReaders {
    /// vpcd's slots in this computer's pcscd, watched through PC/SC.
    #[default]
    Local,
    /// vpcd on another computer (a Windows or macOS client's,
    /// docs/remote-readers.md): slot N on `host`, port 35963 + N, which its
    /// PC/SC calls `reader`. Its PC/SC is not watched: the card is in when
    /// vpcd takes the connection.
    Remote { host: String, reader: String },
}

impl VpcdReaders {
    /// The name the client's PC/SC gives slot `slot`.
    pub fn reader_name(&self, slot: u8) -> String {
        match self {
            VpcdReaders::Local => reader_name(slot),
            VpcdReaders::Remote { reader, .. } => reader.clone(),
        }
    }
}

/// The vpcd slots of this machine that pcscd lists, sorted by port: those
/// of every vpcd entry in pcscd's reader configuration. Asked once per
/// process (pcscd reads its configuration only when it starts). When none
/// is found (pcscd not running, or a configuration this cannot read), the
/// two slots of Debian's default entry, so that using one fails with
/// pcscd's own answer.
pub fn slots() -> &'static [VpcdSlot] {
    static SLOTS: OnceLock<Vec<VpcdSlot>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let listed = pcsc::Context::establish(pcsc::Scope::User)
            .and_then(|context| {
                Ok(context
                    .list_readers_owned()?
                    .into_iter()
                    .map(|name| name.to_string_lossy().into_owned())
                    .collect::<Vec<_>>())
            })
            .unwrap_or_default();
        let found = vpcd_slots::slots_among(&vpcd_slots::configured_entries(), &listed);
        if found.is_empty() {
            vec![VpcdSlot::debian_default(0), VpcdSlot::debian_default(1)]
        } else {
            found
        }
    })
}

/// Slot `slot` of [`slots`]; past the last, the Debian default's numbering
/// (whose reader pcscd will say it does not have).
fn slot_at(slot: u8) -> VpcdSlot {
    slots()
        .get(usize::from(slot))
        .cloned()
        .unwrap_or_else(|| VpcdSlot::debian_default(slot))
}

/// The name pcscd gives slot `slot` of [`slots`].
pub fn reader_name(slot: u8) -> String {
    slot_at(slot).reader
}

/// The card as the vpcd link holds it: traced, and pulled out at the
/// scenario's Nth APDU.
struct LinkedCard {
    card: ScenarioCard,
    control: VpcdControl,
    removed_at_apdu: Option<usize>,
    sent: usize,
}

impl SmartCard for LinkedCard {
    fn atr(&self) -> Vec<u8> {
        self.card.atr()
    }

    fn power_on(&mut self, now: Instant) {
        self.card.power_on(now);
    }

    fn power_off(&mut self, now: Instant) {
        self.card.power_off(now);
    }

    fn reset(&mut self, now: Instant) {
        self.card.reset(now);
    }

    fn transmit(&mut self, command: &[u8], now: Instant) -> Vec<u8> {
        self.sent += 1;
        if self.removed_at_apdu.is_some_and(|n| self.sent >= n) {
            // The link sees the wish before it sends this answer and leaves
            // mid-command instead: the client's transmit fails with
            // SCARD_E_NOT_TRANSACTED and, once pcscd polls the reader, later
            // ones with SCARD_W_REMOVED_CARD, as with a card pulled out of a
            // real reader (sim_card::transport::vpcd). The bytes returned
            // here are never sent.
            self.control.remove();
            self.card.record_unanswered(command, now);
            return ERROR_REPLY.to_vec();
        }
        self.card.transmit(command, now)
    }

    fn describe(&self, command: &[u8]) -> String {
        self.card.describe(command)
    }

    fn processing_time(&self, command: &[u8]) -> Duration {
        self.card.processing_time(command)
    }
}

/// A card inserted into one slot for one scenario (or an empty slot).
pub struct PcscSlot {
    slot: u8,
    readers: VpcdReaders,
    card: Option<Arc<Mutex<LinkedCard>>>,
    control: VpcdControl,
    link: Option<tokio::task::JoinHandle<Result<(), vpcd::VpcdError>>>,
}

impl PcscSlot {
    /// Inserts `card` into `slot` of `readers`; locally, waits until pcscd
    /// agrees.
    pub fn insert(
        runtime: &tokio::runtime::Runtime,
        slot: u8,
        card: Option<ScenarioCard>,
        removed_at_apdu: Option<usize>,
        readers: &VpcdReaders,
    ) -> Result<PcscSlot, String> {
        let context = match readers {
            VpcdReaders::Local => Some(
                pcsc::Context::establish(pcsc::Scope::User)
                    .map_err(|e| format!("pcscd is not reachable: {e}"))?,
            ),
            VpcdReaders::Remote { .. } => None,
        };
        let control = VpcdControl::new();
        let Some(card) = card else {
            if let Some(context) = &context {
                wait_for_reader(context, slot, false)?;
            }
            return Ok(PcscSlot {
                slot,
                readers: readers.clone(),
                card: None,
                control,
                link: None,
            });
        };
        let options = match readers {
            VpcdReaders::Local => VpcdOptions {
                addr: slot_at(slot).addr(),
                ..VpcdOptions::default()
            },
            VpcdReaders::Remote { host, .. } => {
                let port = vpcd::VPCD_PORT + u16::from(slot);
                let addr = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                VpcdOptions {
                    addr,
                    ..VpcdOptions::for_slot(slot)
                }
            }
        };
        let addr = options.addr.clone();
        let shared = Arc::new(Mutex::new(LinkedCard {
            card,
            control: control.clone(),
            removed_at_apdu,
            sent: 0,
        }));
        let mut events = control.subscribe();
        let link = runtime.spawn(vpcd::run_vpcd(shared.clone(), options, control.clone()));
        let mut attached = PcscSlot {
            slot,
            readers: readers.clone(),
            card: Some(shared),
            control,
            link: Some(link),
        };
        let inserted = runtime.block_on(async {
            tokio::time::timeout(SETTLE, async {
                loop {
                    match events.recv().await {
                        Ok(VpcdEvent::Inserted { .. }) => return true,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return false,
                    }
                }
            })
            .await
            .unwrap_or(false)
        });
        if !inserted {
            attached.remove(runtime);
            return Err(match readers {
                VpcdReaders::Local => format!(
                    "vpcd slot {slot} did not take the card within {SETTLE:?}: is pcscd running with vpcd (`kazasu doctor`)?"
                ),
                VpcdReaders::Remote { .. } => format!(
                    "vpcd at {addr} did not take the card within {SETTLE:?}: is its driver running and the port open (docs/remote-readers.md)?"
                ),
            });
        }
        if let Some(context) = &context
            && let Err(e) = wait_for_reader(context, slot, true)
        {
            attached.remove(runtime);
            return Err(e);
        }
        Ok(attached)
    }

    pub fn reader_name(&self) -> String {
        self.readers.reader_name(self.slot)
    }

    /// Takes the card out, waits until pcscd sees the reader empty, and
    /// returns the card's auth PIN tries left.
    pub fn remove(&mut self, runtime: &tokio::runtime::Runtime) -> Option<u8> {
        self.control.stop();
        let had_card = self.link.is_some();
        if let Some(link) = self.link.take() {
            let _ = runtime.block_on(async { tokio::time::timeout(SETTLE, link).await });
        }
        match &self.readers {
            VpcdReaders::Local => {
                if let Ok(context) = pcsc::Context::establish(pcsc::Scope::User)
                    && let Err(e) = wait_for_reader(&context, self.slot, false)
                {
                    tracing::warn!("{e}");
                }
            }
            VpcdReaders::Remote { .. } => {
                if had_card {
                    std::thread::sleep(REMOTE_SETTLE);
                }
            }
        }
        let card = self.card.as_ref()?;
        let card = card.lock().unwrap_or_else(|e| e.into_inner());
        card.card.card().card().pin_tries_left(AUTH_PIN)
    }
}

impl PcscSlot {
    /// Does something to the card in the slot (between two checks: pcscd
    /// sees the same card, changed).
    pub fn with_card<R>(&self, f: impl FnOnce(&mut ScenarioCard) -> R) -> Option<R> {
        let card = self.card.as_ref()?;
        let mut card = card.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&mut card.card))
    }

    /// Takes the card out (as [`PcscSlot::remove`]) and hands it back, to
    /// hold it elsewhere or insert it again.
    pub fn take_out(&mut self, runtime: &tokio::runtime::Runtime) -> Option<ScenarioCard> {
        self.remove(runtime);
        let shared = self.card.take()?;
        match Arc::try_unwrap(shared) {
            Ok(linked) => Some(linked.into_inner().unwrap_or_else(|e| e.into_inner()).card),
            // The link still holds it (it did not stop in time): the card
            // stays with the link, and the story goes on without it.
            Err(_) => None,
        }
    }
}

impl Drop for PcscSlot {
    fn drop(&mut self) {
        // Whatever happens, the card does not stay in the reader.
        self.control.stop();
    }
}

/// Waits until pcscd reports the slot's reader with a card (`present`) or without.
fn wait_for_reader(context: &pcsc::Context, slot: u8, present: bool) -> Result<(), String> {
    let name = reader_name(slot);
    let c_name = CString::new(name.clone()).map_err(|e| e.to_string())?;
    let mut states = [pcsc::ReaderState::new(c_name, pcsc::State::UNAWARE)];
    let deadline = Instant::now() + SETTLE;
    loop {
        match context.get_status_change(Duration::from_millis(250), &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(pcsc::Error::UnknownReader) => {
                return Err(format!(
                    "pcscd has no reader {name:?}: vpcd has fewer slots than --jobs asks for?"
                ));
            }
            Err(e) => return Err(format!("pcscd: {e}")),
        }
        let state = states[0].event_state();
        let is_present = state.contains(pcsc::State::PRESENT);
        if is_present == present && !state.contains(pcsc::State::UNKNOWN) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let wanted = if present {
                "the card"
            } else {
                "an empty reader"
            };
            return Err(format!("pcscd does not see {wanted} in {name:?}"));
        }
        states[0].sync_current_state();
    }
}
