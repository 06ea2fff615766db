//! The vpcd link through the real pcscd: a PC/SC client sees the card appear,
//! reads its ATR, exchanges an APDU with it, and sees it leave.
//!
//! Runs only where pcscd is running and vpcd listens on slot 1 (Debian's port
//! 35964, reader "Virtual PCD 00 01"); elsewhere it says why and passes. Slot 1
//! keeps it clear of slot 0, which other tests and manual runs use: vpcd takes
//! one card per slot.

use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcsc::{Card, Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use sim_card::transport::trivial::{TRIVIAL_ATR, TrivialCard};
use sim_card::transport::vpcd::{VPCD_PORT, VpcdControl, VpcdEvent, VpcdOptions, run_vpcd};

const SLOT: u8 = 1;
const READER: &str = "Virtual PCD 00 01";
/// pcscd polls vpcd every 400 ms; this leaves room for a busy machine.
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn card_reaches_pcsc_clients_through_vpcd() {
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
