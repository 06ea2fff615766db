//! The vpcd link: how the virtual card reaches pcscd, over TCP with tokio.
//!
//! The bytes on the wire are [`super::vpcd_codec`]'s (sans-IO); this is the
//! thin tokio loop that moves them ([`run_vpcd`]), reconnects when vpcd goes
//! away, and obeys a [`VpcdControl`] that can remove, re-insert or stop the
//! card. It is the edge where the clock is read: each message is handed to
//! the card with the instant it arrived. Behind the cargo feature `vpcd`, so
//! the card's core builds without tokio.
//!
//! The link also plays the card's timing and its leaving: it waits the
//! card's [`SmartCard::processing_time`] before answering a command (a tokio
//! sleep: the runtime is never blocked), and when the card answers a command
//! with nothing at all (it left the field, see [`crate::reader::Field`]) it
//! leaves mid-command, and comes back [`VpcdOptions::field_return`] later.
//!
//! # What a PC/SC client sees when the card leaves
//!
//! The card leaves as it leaves a real reader, so that a client written
//! against real readers sees an error, never a successful empty answer:
//!
//! - **Mid-command** (a removal wished while the card works on a command, a
//!   card that left the field): the link sends [`CUT_SHORT`], half a frame,
//!   and resets the connection (TCP RST). vpcd fails the transmit and pcscd
//!   answers that `SCardTransmit` with `SCARD_E_NOT_TRANSACTED` (0x80100016),
//!   as for a card gone mute in a real reader. Only closing the connection,
//!   or resetting it before any byte of the answer, would give the client a
//!   *success* with 0 bytes (vpcd reads the end of the stream as an empty
//!   answer); a zero-length frame would hang the client.
//! - **Between commands** (`kazasu up`'s remove, Ctrl-C of `kazasu card`, a
//!   scenario's end): the connection is reset at once. A command sent before
//!   pcscd's next presence poll of vpcd (every 400 ms) fails with
//!   `SCARD_E_NOT_TRANSACTED`; from that poll on, every command on the old
//!   handle fails with `SCARD_W_REMOVED_CARD` (0x80100069), the reader reports
//!   `SCARD_STATE_EMPTY`, and `SCardReconnect`/`SCardConnect` fail with
//!   `SCARD_E_NO_SMARTCARD` (0x8010000C), as with a real reader.
//!
//! Pinned through the real pcscd by `sim-card/tests/vpcd_pcscd.rs`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};

use super::vpcd_codec::{CUT_SHORT, MAX_PAYLOAD, VpcdDecoder, VpcdMessage, encode_reply, respond};
use crate::SmartCard;

/// Where Debian's vpcd listens for slot 0 (`CHANNELID 0x8C7B` in
/// `/etc/reader.conf.d/vpcd`); slot n listens on this port + n.
pub const VPCD_PORT: u16 = 0x8C7B;

/// The address used when none is given: slot 0 of a vpcd on this machine.
pub const DEFAULT_VPCD_ADDR: &str = "127.0.0.1:35963";

/// How the link reaches vpcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcdOptions {
    /// `host:port` of the vpcd slot, resolved again at every connection.
    pub addr: String,
    /// Re-arm `TCP_QUICKACK` before every read (Linux only; elsewhere a no-op).
    ///
    /// vpcd 0.8 writes a frame's length and its payload in two writes and does
    /// not disable Nagle's algorithm, so the payload waits until the length is
    /// acknowledged. Linux delays that acknowledgement by up to 40 ms unless the
    /// receiving socket is in quick-ack mode, which the kernel leaves on its own
    /// after a while: each APDU then costs a delayed ACK (about 21 APDU/s
    /// instead of over 10,000). Only turn this off to measure that difference.
    pub quickack: bool,
    /// The first wait before reconnecting after vpcd went away or refused us.
    pub reconnect_min: Duration,
    /// Waits double after each failed attempt, up to this.
    pub reconnect_max: Duration,
    /// How long a card that left the field (an empty answer) stays out
    /// before it comes back: longer than vpcd's 400 ms presence poll, so that
    /// pcscd sees the reader empty and then a new card.
    pub field_return: Duration,
}

impl Default for VpcdOptions {
    fn default() -> Self {
        VpcdOptions {
            addr: DEFAULT_VPCD_ADDR.to_owned(),
            quickack: true,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(2),
            field_return: Duration::from_secs(1),
        }
    }
}

impl VpcdOptions {
    /// Slot `slot` of the vpcd on this machine (Debian's ports).
    pub fn for_slot(slot: u8) -> Self {
        VpcdOptions {
            addr: format!("127.0.0.1:{}", VPCD_PORT + u16::from(slot)),
            ..Self::default()
        }
    }
}

/// What happened on the link, for a CLI or a control API to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcdEvent {
    /// The TCP connection to vpcd is up, but vpcd has not spoken yet. It
    /// polls a card it has taken within half a second; a connection it stays
    /// silent on is queued behind another card in the same slot (the kernel
    /// accepts it, vpcd does not), and becomes [`Inserted`](Self::Inserted)
    /// when that card leaves.
    Connected { vpcd: SocketAddr },
    /// vpcd has taken the connection and talks to the card: for pcscd, the
    /// card is in the reader.
    Inserted { vpcd: SocketAddr },
    /// The connection is gone: the card is out of the reader and has lost power.
    Removed { cause: RemovalCause },
    /// vpcd could not be reached; the link tries again after `after`.
    Retrying { after: Duration, error: String },
    /// The link was stopped and [`run_vpcd`] is returning.
    Stopped,
}

/// Why the card left the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalCause {
    /// [`VpcdControl::remove`], [`VpcdControl::reinsert`] or [`VpcdControl::stop`].
    Control,
    /// vpcd closed the connection (pcscd stopped or restarted).
    VpcdClosed,
    /// Reading or writing failed.
    Io(String),
    /// The card answered a command with nothing: it left the field.
    LeftField,
}

impl fmt::Display for VpcdEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VpcdEvent::Connected { vpcd } => {
                write!(
                    f,
                    "connected to vpcd at {vpcd}, waiting for it to poll the card"
                )
            }
            VpcdEvent::Inserted { vpcd } => write!(f, "card inserted into vpcd at {vpcd}"),
            VpcdEvent::Removed { cause } => match cause {
                RemovalCause::Control => write!(f, "card removed from vpcd"),
                RemovalCause::VpcdClosed => write!(f, "vpcd closed the connection"),
                RemovalCause::Io(error) => write!(f, "connection to vpcd failed: {error}"),
                RemovalCause::LeftField => write!(f, "the card left the field mid-command"),
            },
            VpcdEvent::Retrying { after, error } => {
                write!(f, "vpcd not reachable ({error}); retrying in {after:?}")
            }
            VpcdEvent::Stopped => write!(f, "vpcd link stopped"),
        }
    }
}

/// Errors that end the link for good (everything else is retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VpcdError {
    #[error("not a host:port address for vpcd: {0:?}")]
    BadAddress(String),
}

/// What the controller wants the link to do. `generation` lets a re-insertion
/// be seen even when remove and insert land between two looks at the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wish {
    inserted: bool,
    stopped: bool,
    generation: u64,
}

/// The handle that removes, re-inserts and stops a running link, and tells
/// what it does. Cheap to clone; every clone steers the same link.
///
/// If every handle is dropped, the link keeps its last instructions and runs
/// until its task is dropped.
#[derive(Debug, Clone)]
pub struct VpcdControl {
    wish: Arc<watch::Sender<Wish>>,
    events: broadcast::Sender<VpcdEvent>,
}

impl Default for VpcdControl {
    fn default() -> Self {
        Self::new()
    }
}

impl VpcdControl {
    /// A handle whose link starts with the card inserted.
    pub fn new() -> Self {
        let (wish, _) = watch::channel(Wish {
            inserted: true,
            stopped: false,
            generation: 0,
        });
        // Events are rare (insertions, removals, retries); a subscriber that
        // falls this far behind is told it lagged rather than blocking the link.
        let (events, _) = broadcast::channel(64);
        VpcdControl {
            wish: Arc::new(wish),
            events,
        }
    }

    /// Takes the card out of the reader (closes the connection) until [`insert`](Self::insert).
    pub fn remove(&self) {
        self.wish.send_modify(|w| w.inserted = false);
    }

    /// Puts the card back (connects again); does nothing if it is already in.
    pub fn insert(&self) {
        self.wish.send_modify(|w| w.inserted = true);
    }

    /// Takes the card out and puts it straight back: pcscd sees a new card.
    pub fn reinsert(&self) {
        self.wish.send_modify(|w| {
            w.inserted = true;
            w.generation = w.generation.wrapping_add(1);
        });
    }

    /// Ends the link: the card leaves the reader and [`run_vpcd`] returns.
    pub fn stop(&self) {
        self.wish.send_modify(|w| w.stopped = true);
    }

    /// Events from now on. Subscribe before starting the link to see its first insertion.
    pub fn subscribe(&self) -> broadcast::Receiver<VpcdEvent> {
        self.events.subscribe()
    }
}

/// Runs the card behind vpcd until `control` stops it.
///
/// The card is shared, not owned: the link locks it for one synchronous call
/// per message (a `std::sync::Mutex`, never held across an `.await`), so a
/// control API can lock the same card between two commands to change PINs or
/// swap a profile without stopping the link. When the connection ends for any
/// reason the card is powered off, as a card pulled out of a reader would be.
///
/// Connections are retried with a doubling wait when vpcd is unreachable or
/// closes the connection; only an address that is not `host:port` is an error.
pub async fn run_vpcd<C>(
    card: Arc<Mutex<C>>,
    options: VpcdOptions,
    control: VpcdControl,
) -> Result<(), VpcdError>
where
    C: SmartCard + ?Sized,
{
    check_addr(&options.addr)?;
    let mut wishes = control.wish.subscribe();
    let events = control.events.clone();
    // Only the receiver is kept: the link must not keep its own controller alive.
    drop(control);
    let tell = |event: VpcdEvent| emit(&events, event);
    let mut delay = options.reconnect_min;
    let mut failures_in_a_row = 0u32;
    loop {
        let wish = *wishes.borrow_and_update();
        if wish.stopped {
            tracing::info!("vpcd link stopped");
            tell(VpcdEvent::Stopped);
            return Ok(());
        }
        if !wish.inserted {
            wish_changed(&mut wishes).await;
            continue;
        }
        let connected = tokio::select! {
            connected = TcpStream::connect(options.addr.as_str()) => connected,
            _ = wish_changed(&mut wishes) => continue,
        };
        let (stream, peer) = match connected.and_then(|s| s.peer_addr().map(|peer| (s, peer))) {
            Ok(ok) => ok,
            Err(error) => {
                failures_in_a_row += 1;
                // The first failure is news; the following ones are the same news.
                if failures_in_a_row == 1 {
                    tracing::warn!(addr = %options.addr, %error, "vpcd not reachable; retrying every {:?} or less", options.reconnect_max);
                } else {
                    tracing::debug!(addr = %options.addr, %error, ?delay, "vpcd still not reachable");
                }
                tell(VpcdEvent::Retrying {
                    after: delay,
                    error: error.to_string(),
                });
                if !sleep_unless_wish_changes(delay, &mut wishes).await {
                    delay = (delay * 2).min(options.reconnect_max);
                }
                continue;
            }
        };
        failures_in_a_row = 0;
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY; answers may be delayed");
        }
        tracing::debug!("connected to vpcd at {peer}");
        tell(VpcdEvent::Connected { vpcd: peer });

        let connection = Connection {
            peer,
            generation: wish.generation,
            events: &events,
        };
        let (end, carried) = serve(stream, &card, &options, &mut wishes, connection).await;
        lock(&card).power_off(Instant::now());
        let cause = match end {
            End::Wish => {
                tracing::info!("card removed from vpcd at {peer}");
                tell(VpcdEvent::Removed {
                    cause: RemovalCause::Control,
                });
                delay = options.reconnect_min;
                continue;
            }
            End::LeftField => {
                tracing::info!(
                    "card left the field mid-command; back in {:?}",
                    options.field_return
                );
                tell(VpcdEvent::Removed {
                    cause: RemovalCause::LeftField,
                });
                delay = options.reconnect_min;
                sleep_unless_wish_changes(options.field_return, &mut wishes).await;
                continue;
            }
            End::Closed => RemovalCause::VpcdClosed,
            End::Failed(error) => RemovalCause::Io(error),
        };
        // A connection that carried messages was a good one: start the waits
        // over. One that vpcd dropped at once keeps backing off.
        if carried {
            delay = options.reconnect_min;
        }
        tracing::warn!(?cause, "lost vpcd at {peer}; reconnecting in {delay:?}");
        tell(VpcdEvent::Removed { cause });
        if !sleep_unless_wish_changes(delay, &mut wishes).await && !carried {
            delay = (delay * 2).min(options.reconnect_max);
        }
    }
}

/// How a connection ended.
enum End {
    /// The controller asked for it.
    Wish,
    /// vpcd closed it.
    Closed,
    /// The card answered a command with nothing: it left the field.
    LeftField,
    Failed(String),
}

/// What [`serve`] needs to know about the connection it serves.
struct Connection<'a> {
    peer: SocketAddr,
    /// The controller's generation when it was opened: a newer one means "re-insert".
    generation: u64,
    events: &'a broadcast::Sender<VpcdEvent>,
}

/// How long vpcd may stay silent on a new connection before the link says
/// that something else probably holds the slot (vpcd polls every 400 ms).
const SILENCE_WARNING: Duration = Duration::from_secs(2);

/// Answers vpcd on one connection until it ends. Also says whether any
/// message arrived.
async fn serve<C: SmartCard + ?Sized>(
    mut stream: TcpStream,
    card: &Mutex<C>,
    options: &VpcdOptions,
    wishes: &mut watch::Receiver<Wish>,
    connection: Connection<'_>,
) -> (End, bool) {
    let Connection {
        peer,
        generation,
        events,
    } = connection;
    let mut decoder = VpcdDecoder::new();
    // A command APDU is at most 64 KiB plus its length; one read can take it whole.
    let mut input = vec![0u8; MAX_PAYLOAD + 2];
    let mut output = Vec::with_capacity(512);
    let mut carried = false;
    let mut heard = false;
    let silence = tokio::time::sleep(SILENCE_WARNING);
    tokio::pin!(silence);
    let mut warned = false;
    loop {
        // Armed before every read, which in this loop is also right after the
        // previous read and right after each reply: sending a reply puts the
        // kernel back into delayed-ACK ("ping-pong") mode, and setting the
        // option also sends at once an ACK the kernel was holding back, such
        // as the one for a length that arrived without its payload. A second
        // call after the read measured no faster, so there is only this one.
        if options.quickack {
            arm_quickack(&stream);
        }
        let read = tokio::select! {
            read = stream.read(&mut input) => read,
            wish = wish_changed(wishes) => {
                if wish.stopped || !wish.inserted || wish.generation != generation {
                    leave(&stream);
                    return (End::Wish, carried);
                }
                continue;
            }
            () = &mut silence, if !heard && !warned => {
                warned = true;
                tracing::warn!(
                    "connected to vpcd at {peer}, but it has not polled the card in {SILENCE_WARNING:?}: \
                     is another card in this slot? vpcd takes this one when that one leaves"
                );
                continue;
            }
        };
        let n = match read {
            Ok(0) => return (End::Closed, carried),
            Ok(n) => n,
            Err(error) => return (End::Failed(error.to_string()), carried),
        };
        if !heard {
            heard = true;
            tracing::info!("card inserted into vpcd at {peer}");
            emit(events, VpcdEvent::Inserted { vpcd: peer });
        }
        decoder.feed(&input[..n]);
        while let Some(message) = decoder.next_message() {
            carried = true;
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    // Answering could put a frame where vpcd expects none and
                    // shift every later answer; silence is the safer guess.
                    tracing::warn!(%error, "ignoring a frame from vpcd");
                    continue;
                }
            };
            tracing::trace!(?message, "from vpcd");
            if let VpcdMessage::Apdu(apdu) = &message {
                let delay = lock(card).processing_time(apdu);
                if !delay.is_zero() && !process_for(delay, wishes, generation).await {
                    leave_mid_command(&mut stream).await;
                    return (End::Wish, carried);
                }
            }
            let reply = respond(&mut *lock(card), &message, Instant::now());
            // A removal wished while the card was answering is a card pulled
            // out mid-command: the answer never reaches the reader, whose
            // transmit fails instead, as a real reader's does when the
            // contacts go.
            let now = *wishes.borrow();
            if now.stopped || !now.inserted || now.generation != generation {
                leave_mid_command(&mut stream).await;
                return (End::Wish, carried);
            }
            if matches!(message, VpcdMessage::Apdu(_)) && reply.as_ref().is_some_and(Vec::is_empty)
            {
                leave_mid_command(&mut stream).await;
                return (End::LeftField, carried);
            }
            if let Some(reply) = reply {
                tracing::trace!(reply = %hex::encode(&reply), "to vpcd");
                if let Some(problem) = encode_reply(&reply, &mut output) {
                    tracing::warn!(%problem, "answered 6F00 instead");
                }
            }
        }
        if !output.is_empty() {
            // One write for everything answered in this read, length and
            // payload together, so vpcd never waits on half a frame.
            if let Err(error) = stream.write_all(&output).await {
                return (End::Failed(error.to_string()), carried);
            }
            output.clear();
        }
    }
}

/// The card leaves while vpcd waits for its answer: half a frame
/// ([`CUT_SHORT`]), then the connection is reset, so that vpcd's read of the
/// payload fails and pcscd fails the client's transmit (see the module doc).
///
/// On loopback the two bytes are in vpcd's receive queue before the reset
/// arrives, and Linux hands queued bytes to a reader before the reset's error.
async fn leave_mid_command(stream: &mut TcpStream) {
    // If even this write fails, the connection is already gone: vpcd's
    // transmit fails on it all the same.
    let _ = stream.write_all(&CUT_SHORT).await;
    leave(stream);
}

/// Makes dropping `stream` reset the connection (SO_LINGER 0: TCP RST)
/// instead of closing it: vpcd's next send on it fails at once, where after
/// a plain close a command could be read as answered with 0 bytes.
///
/// A zero linger never blocks the drop (only a positive one does, which is
/// why tokio's own setter is deprecated).
fn leave(stream: &TcpStream) {
    if let Err(error) = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%error, "cannot set SO_LINGER; the card leaves with a plain close");
    }
}

fn emit(events: &broadcast::Sender<VpcdEvent>, event: VpcdEvent) {
    // No subscriber is fine: nobody asked to be told.
    let _ = events.send(event);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn arm_quickack(stream: &TcpStream) {
    // Setting an option on a connected TCP socket does not fail in practice;
    // if it did, the link would only be slower, and the next read tries again.
    let _ = stream.set_quickack(true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn arm_quickack(_stream: &TcpStream) {}

/// The card, even if a panic elsewhere poisoned the lock: a card's state is
/// plain data, and refusing to talk to it again helps no one.
fn lock<C: ?Sized>(card: &Mutex<C>) -> MutexGuard<'_, C> {
    card.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The next wish. Never returns once every controller is gone: the last
/// wish then stands.
async fn wish_changed(wishes: &mut watch::Receiver<Wish>) -> Wish {
    if wishes.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
    *wishes.borrow_and_update()
}

/// The card works on a command for `delay`. False if the controller took the
/// card out (or stopped the link) meanwhile: the answer is then never sent.
async fn process_for(delay: Duration, wishes: &mut watch::Receiver<Wish>, generation: u64) -> bool {
    let deadline = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return true,
            wish = wish_changed(wishes) => {
                if wish.stopped || !wish.inserted || wish.generation != generation {
                    return false;
                }
            }
        }
    }
}

/// Sleeps for `delay`; returns early, with `true`, if the controller changed
/// its wish meanwhile (a stop should not wait out a backoff).
async fn sleep_unless_wish_changes(delay: Duration, wishes: &mut watch::Receiver<Wish>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = wish_changed(wishes) => true,
    }
}

fn check_addr(addr: &str) -> Result<(), VpcdError> {
    let bad = || VpcdError::BadAddress(addr.to_owned());
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
