//! The vpcd link through the real pcscd: a PC/SC client sees the card appear,
//! reads its ATR, exchanges an APDU with it, and sees it leave, with the
//! errors a real reader gives when a card is pulled out.
//!
//! Runs only where pcscd is running and vpcd listens on slot 1 (Debian's port
//! 35964, reader "Virtual PCD 00 01"); elsewhere it says why and passes. Slot 1
//! keeps it clear of slot 0, which other tests and manual runs use: vpcd takes
//! one card per slot.

use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcsc::{Card, Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use sim_card::SmartCard;
use sim_card::transport::trivial::{TRIVIAL_ATR, TrivialCard};
use sim_card::transport::vpcd::{VPCD_PORT, VpcdControl, VpcdEvent, VpcdOptions, run_vpcd};

const SLOT: u8 = 1;
const READER: &str = "Virtual PCD 00 01";
/// pcscd polls vpcd every 400 ms; this leaves room for a busy machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// Held by each test for as long as its card uses the slot: vpcd takes one
/// card per slot, and a second one would wait in the queue and be taken the
/// moment the first leaves, in the middle of the other test.
static SLOT_IN_USE: Mutex<()> = Mutex::new(());

#[test]
fn card_reaches_pcsc_clients_through_vpcd() {
    let _slot = SLOT_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = why_not_runnable() {
        // In CI pcscd is always there (.ci/setup starts it): a skip would hide a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test: {why}"
        );
        println!("skipped: {why}");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let card = Arc::new(Mutex::new(TrivialCard::new()));
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let link = runtime.spawn(run_vpcd(
        card.clone(),
        VpcdOptions::for_slot(SLOT),
        control.clone(),
    ));
    // Connected first, then Inserted once vpcd polls the card.
    runtime.block_on(async {
        tokio::time::timeout(PATIENCE, async {
            while !matches!(events.recv().await, Ok(VpcdEvent::Inserted { .. })) {}
        })
        .await
        .expect("vpcd did not take the card")
    });

    let ctx = Context::establish(Scope::User).expect("pcscd");
    let reader = CString::new(READER).unwrap();
    let atr = wait_for(&ctx, &reader, |s| s.contains(State::PRESENT));
    assert_eq!(atr, TRIVIAL_ATR, "ATR as pcscd reports it");

    let mut pcsc_card = ctx
        .connect(&reader, ShareMode::Shared, Protocols::ANY)
        .expect("connect to the card");
    assert_eq!(pcsc_card.status2_owned().unwrap().atr(), TRIVIAL_ATR);
    let read_binary = [0x00, 0xB0, 0x00, 0x00, 0x04];
    let answer = transmit(&mut pcsc_card, &read_binary);
    assert_eq!(answer, [0, 1, 2, 3, 0x90, 0x00]);
    // The same card object answered: the link shares it, it does not copy it.
    assert_eq!(card.lock().unwrap().last_command, read_binary);
    pcsc_card
        .disconnect(Disposition::LeaveCard)
        .map_err(|(_, e)| e)
        .unwrap();

    // Removal and re-insertion are seen by pcscd.
    control.remove();
    wait_for(&ctx, &reader, |s| s.contains(State::EMPTY));
    control.insert();
    wait_for(&ctx, &reader, |s| s.contains(State::PRESENT));

    control.stop();
    let stopped = runtime
        .block_on(async { tokio::time::timeout(PATIENCE, link).await })
        .expect("the link did not stop");
    assert_eq!(stopped.unwrap(), Ok(()));
    wait_for(&ctx, &reader, |s| s.contains(State::EMPTY));
}

/// A card for watching it leave: `LEAVE` makes it leave the field (it
/// answers nothing, as [`sim_card::reader::Field`] does), `SLOW` takes
/// [`SLOW_FOR`] to answer, anything else is [`TrivialCard`]'s.
struct LeavingCard(TrivialCard);

const LEAVE: [u8; 4] = [0x80, 0xEE, 0x00, 0x00];
const SLOW: [u8; 4] = [0x80, 0xEF, 0x00, 0x00];
const SLOW_FOR: Duration = Duration::from_millis(600);
const SELECT_MF: [u8; 7] = [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00];

impl SmartCard for LeavingCard {
    fn atr(&self) -> Vec<u8> {
        self.0.atr()
    }
    fn power_on(&mut self, now: Instant) {
        self.0.power_on(now);
    }
    fn power_off(&mut self, now: Instant) {
        self.0.power_off(now);
    }
    fn reset(&mut self, now: Instant) {
        self.0.reset(now);
    }
    fn transmit(&mut self, command: &[u8], now: Instant) -> Vec<u8> {
        if command == LEAVE {
            return Vec::new();
        }
        self.0.transmit(command, now)
    }
    fn processing_time(&self, command: &[u8]) -> Duration {
        if command == SLOW {
            SLOW_FOR
        } else {
            Duration::ZERO
        }
    }
}

/// What a PC/SC client sees when the card leaves, in the three ways it can:
/// never a successful empty answer, always what a real reader reports. The
/// command in flight fails with `SCARD_E_NOT_TRANSACTED`; once pcscd has
/// polled the reader, the old handle gets `SCARD_W_REMOVED_CARD` and a new
/// connection `SCARD_E_NO_SMARTCARD`.
#[test]
fn a_card_that_leaves_is_reported_as_removed() {
    let _slot = SLOT_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = why_not_runnable() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test: {why}"
        );
        println!("skipped: {why}");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let card = Arc::new(Mutex::new(LeavingCard(TrivialCard::new())));
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let options = VpcdOptions {
        // Long enough to see the reader empty before the card comes back.
        field_return: Duration::from_secs(3),
        ..VpcdOptions::for_slot(SLOT)
    };
    let link = runtime.spawn(run_vpcd(card, options, control.clone()));
    let inserted = |events: &mut tokio::sync::broadcast::Receiver<VpcdEvent>| {
        runtime.block_on(async {
            tokio::time::timeout(PATIENCE, async {
                while !matches!(events.recv().await, Ok(VpcdEvent::Inserted { .. })) {}
            })
            .await
            .expect("vpcd did not take the card")
        })
    };
    inserted(&mut events);
    let ctx = Context::establish(Scope::User).expect("pcscd");
    let reader = CString::new(READER).unwrap();
    let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];

    // 1. The card leaves the field mid-command (a flaky field).
    wait_for(&ctx, &reader, |s| s.contains(State::PRESENT));
    let mut handle = connect(&ctx, &reader);
    assert_eq!(transmit(&mut handle, &SELECT_MF), [0x90, 0x00]);
    assert_eq!(
        handle.transmit(&LEAVE, &mut buf).map(<[u8]>::to_vec),
        Err(pcsc::Error::NotTransacted),
        "the command in flight when the card left the field"
    );
    assert_removed(&ctx, &reader, &handle);
    // It comes back by itself, a new card for pcscd.
    inserted(&mut events);
    wait_for(&ctx, &reader, |s| s.contains(State::PRESENT));

    // 2. Removed while it works on a command (`kazasu up`'s remove, a
    // scenario's removal at an APDU).
    let mut handle = connect(&ctx, &reader);
    assert_eq!(transmit(&mut handle, &SELECT_MF), [0x90, 0x00]);
    let remover = control.clone();
    let pulling = std::thread::spawn(move || {
        std::thread::sleep(SLOW_FOR / 3);
        remover.remove();
    });
    assert_eq!(
        handle.transmit(&SLOW, &mut buf).map(<[u8]>::to_vec),
        Err(pcsc::Error::NotTransacted),
        "the command in flight when the card was pulled out"
    );
    pulling.join().unwrap();
    assert_removed(&ctx, &reader, &handle);
    control.insert();
    inserted(&mut events);
    wait_for(&ctx, &reader, |s| s.contains(State::PRESENT));

    // 3. Removed between two commands (Ctrl-C of `kazasu card`, `kazasu
    // up`'s remove while the client thinks).
    let mut handle = connect(&ctx, &reader);
    assert_eq!(transmit(&mut handle, &SELECT_MF), [0x90, 0x00]);
    control.remove();
    runtime.block_on(async {
        tokio::time::timeout(PATIENCE, async {
            while !matches!(events.recv().await, Ok(VpcdEvent::Removed { .. })) {}
        })
        .await
        .expect("the link did not remove the card")
    });
    // Before pcscd's next presence poll the reader still looks full, and the
    // command fails on the reset connection; after it, the card is reported
    // removed. Which one a client gets depends on when it sends.
    let first = handle.transmit(&SELECT_MF, &mut buf).map(<[u8]>::to_vec);
    assert!(
        matches!(
            first,
            Err(pcsc::Error::NotTransacted | pcsc::Error::RemovedCard)
        ),
        "a command right after the removal: {first:?}"
    );
    assert_removed(&ctx, &reader, &handle);

    control.stop();
    let stopped = runtime
        .block_on(async { tokio::time::timeout(PATIENCE, link).await })
        .expect("the link did not stop");
    assert_eq!(stopped.unwrap(), Ok(()));
}

/// Connects to the card in `reader`.
fn connect(ctx: &Context, reader: &CString) -> Card {
    ctx.connect(reader, ShareMode::Shared, Protocols::ANY)
        .expect("connect to the card")
}

/// After the card left: once pcscd sees the reader empty, the old handle's
/// commands fail with `SCARD_W_REMOVED_CARD` and a new connection with
/// `SCARD_E_NO_SMARTCARD`, as with a real reader.
fn assert_removed(ctx: &Context, reader: &CString, handle: &Card) {
    wait_for(ctx, reader, |s| s.contains(State::EMPTY));
    let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
    assert_eq!(
        handle.transmit(&SELECT_MF, &mut buf).map(<[u8]>::to_vec),
        Err(pcsc::Error::RemovedCard),
        "a command on the old handle once the reader is empty"
    );
    assert_eq!(
        ctx.connect(reader, ShareMode::Shared, Protocols::ANY)
            .map(|_| ()),
        Err(pcsc::Error::NoSmartcard),
        "a new connection to the empty reader"
    );
}

/// Sends one APDU, reconnecting once if pcscd reset the card meanwhile (it
/// powers a new card off and on again shortly after insertion).
fn transmit(card: &mut Card, apdu: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
    match card.transmit(apdu, &mut buf) {
        Ok(answer) => return answer.to_vec(),
        Err(pcsc::Error::ResetCard) => {}
        Err(error) => panic!("transmit: {error}"),
    }
    card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::LeaveCard)
        .expect("reconnect after reset");
    card.transmit(apdu, &mut buf).expect("transmit").to_vec()
}

/// Waits until the reader's state satisfies `done`; returns the ATR pcscd
/// reports then (empty without a card).
fn wait_for(ctx: &Context, reader: &CString, done: impl Fn(State) -> bool) -> Vec<u8> {
    let start = Instant::now();
    let mut states = [ReaderState::new(reader.clone(), State::UNAWARE)];
    loop {
        let left = PATIENCE.saturating_sub(start.elapsed());
        match ctx.get_status_change(left, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(error) => panic!("status of {READER}: {error}"),
        }
        let [state] = &mut states;
        if done(state.event_state()) {
            return state.atr().to_vec();
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{READER} stuck in {:?}",
            state.event_state()
        );
        state.sync_current_state();
    }
}

/// Why this machine cannot run the test, if it cannot.
fn why_not_runnable() -> Option<String> {
    if !process_running("pcscd") {
        return Some("pcscd is not running".into());
    }
    let port = VPCD_PORT + u16::from(SLOT);
    let sockets = tcp_sockets();
    // /proc/net/tcp state codes: 0A = LISTEN, 01 = ESTABLISHED.
    if !sockets.iter().any(|(p, state)| *p == port && state == "0A") {
        return Some(format!("vpcd is not listening on port {port}"));
    }
    if sockets.iter().any(|(p, state)| *p == port && state == "01") {
        return Some(format!("another card is already in vpcd slot {SLOT}"));
    }
    None
}

fn process_running(name: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
    })
}

/// (local port, state) of every TCP socket, from /proc/net/tcp and tcp6.
/// Read rather than probed: connecting to vpcd would insert a card.
fn tcp_sockets() -> Vec<(u16, String)> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let port = fields.get(1)?.rsplit_once(':')?.1;
                    let port = u16::from_str_radix(port, 16).ok()?;
                    Some((port, (*fields.get(3)?).to_owned()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
