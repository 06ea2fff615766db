//! The link against a fake vpcd on loopback.

use super::*;
use crate::transport::trivial::{TRIVIAL_ATR, TrivialCard};
use crate::transport::vpcd_codec::{CUT_SHORT, ERROR_REPLY};
use tokio::net::TcpListener;
use tokio::time::timeout;

fn frame(message: &VpcdMessage) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode(&mut out).unwrap();
    out
}

#[test]
fn addresses_must_be_host_and_port() {
    assert!(check_addr("127.0.0.1:35963").is_ok());
    assert!(check_addr("[::1]:35963").is_ok());
    assert!(check_addr("vpcd.example:1").is_ok());
    for bad in ["", "127.0.0.1", ":35963", "host:", "host:99999"] {
        assert_eq!(check_addr(bad), Err(VpcdError::BadAddress(bad.into())));
    }
}

// --- the link, against a fake vpcd --------------------------------------

/// Long enough for anything on loopback, short enough that a hang fails fast.
const PATIENCE: Duration = Duration::from_secs(5);

async fn fake_vpcd() -> (TcpListener, VpcdOptions) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = VpcdOptions {
        addr: listener.local_addr().unwrap().to_string(),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(100),
        ..VpcdOptions::default()
    };
    (listener, options)
}

async fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = timeout(PATIENCE, listener.accept()).await.unwrap().unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads one reply frame, checking that it is not empty.
async fn read_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    timeout(PATIENCE, stream.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let len = usize::from(u16::from_be_bytes(len));
    assert!(len > 0, "vpcd would read an empty frame as a removal");
    let mut payload = vec![0u8; len];
    timeout(PATIENCE, stream.read_exact(&mut payload))
        .await
        .unwrap()
        .unwrap();
    payload
}

async fn next_event(events: &mut broadcast::Receiver<VpcdEvent>) -> VpcdEvent {
    timeout(PATIENCE, events.recv()).await.unwrap().unwrap()
}

/// Reads until the link resets the connection, as a card leaving between
/// commands does; fails on any data and on a plain close, after which vpcd
/// could read a command as answered with 0 bytes.
async fn expect_reset(stream: &mut TcpStream) {
    let mut byte = [0u8; 1];
    let read = timeout(PATIENCE, stream.read(&mut byte)).await.unwrap();
    match read {
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset),
        Ok(n) => panic!("expected the card to leave with a reset, read {n} bytes"),
    }
}

/// The card leaving mid-command: the length of an answer, no answer, and the
/// reset, so that vpcd's read of the answer fails.
async fn expect_cut_short(stream: &mut TcpStream) {
    let mut length = [0u8; 2];
    timeout(PATIENCE, stream.read_exact(&mut length))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(length, CUT_SHORT);
    expect_reset(stream).await;
}

/// A small pause so that two writes leave as two TCP segments, as vpcd's do.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn answers_vpcd_however_the_frames_are_cut() {
    let (listener, options) = fake_vpcd().await;
    let card = Arc::new(Mutex::new(TrivialCard::new()));
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let link = tokio::spawn(run_vpcd(card.clone(), options, control.clone()));

    let mut vpcd = accept(&listener).await;
    assert!(matches!(
        next_event(&mut events).await,
        VpcdEvent::Connected { .. }
    ));

    // Power on, as vpcd 0.8 sends it: length, then payload, separately.
    vpcd.write_all(&[0, 1]).await.unwrap();
    pause().await;
    vpcd.write_all(&[1]).await.unwrap();
    pause().await;
    vpcd.write_all(&frame(&VpcdMessage::GetAtr)).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, TRIVIAL_ATR);
    assert!(matches!(
        next_event(&mut events).await,
        VpcdEvent::Inserted { .. }
    ));

    // A command APDU split after its length, then inside its payload.
    let select = frame(&VpcdMessage::Apdu(vec![0, 0xA4, 4, 0x0C, 2, 0xAB, 0xCD]));
    vpcd.write_all(&select[..2]).await.unwrap();
    pause().await;
    vpcd.write_all(&select[2..5]).await.unwrap();
    pause().await;
    vpcd.write_all(&select[5..]).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, [0x90, 0]);

    // Several frames in one write, silent ones among them: only the
    // ATR and the APDUs are answered, in order.
    let mut burst = Vec::new();
    for message in [
        VpcdMessage::PowerOff,
        VpcdMessage::PowerOn,
        VpcdMessage::Reset,
        VpcdMessage::GetAtr,
        VpcdMessage::Apdu(vec![0, 0xB0, 0, 0, 3]),
        VpcdMessage::Apdu(vec![0, 0xA4, 2, 0x0C]),
    ] {
        message.encode(&mut burst).unwrap();
    }
    burst.extend_from_slice(&[0, 1, 0x7F]); // an unknown control byte: ignored
    vpcd.write_all(&burst).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, TRIVIAL_ATR);
    assert_eq!(read_reply(&mut vpcd).await, [0, 1, 2, 0x90, 0]);
    assert_eq!(read_reply(&mut vpcd).await, [0x90, 0]);

    // Nothing more is owed: the next answer is to the next question.
    vpcd.write_all(&frame(&VpcdMessage::GetAtr)).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, TRIVIAL_ATR);

    {
        let card = card.lock().unwrap();
        assert_eq!((card.power_ons, card.power_offs, card.resets), (2, 1, 1));
        assert_eq!(card.commands, 3);
    }

    control.stop();
    expect_reset(&mut vpcd).await;
    assert_eq!(timeout(PATIENCE, link).await.unwrap().unwrap(), Ok(()));
    assert_eq!(
        next_event(&mut events).await,
        VpcdEvent::Removed {
            cause: RemovalCause::Control
        }
    );
    assert_eq!(next_event(&mut events).await, VpcdEvent::Stopped);
    // Leaving the reader cost the card its power.
    assert_eq!(card.lock().unwrap().power_offs, 2);
}

/// Answers that vpcd must never see as they are.
struct BadCard {
    answer: Vec<u8>,
}

impl SmartCard for BadCard {
    fn atr(&self) -> Vec<u8> {
        Vec::new()
    }
    fn power_on(&mut self, _: Instant) {}
    fn power_off(&mut self, _: Instant) {}
    fn reset(&mut self, _: Instant) {}
    fn transmit(&mut self, _: &[u8], _: Instant) -> Vec<u8> {
        self.answer.clone()
    }
}

#[tokio::test]
async fn empty_atrs_and_oversized_answers_become_6f00() {
    let (listener, options) = fake_vpcd().await;
    let card = Arc::new(Mutex::new(BadCard { answer: Vec::new() }));
    let control = VpcdControl::new();
    let link = tokio::spawn(run_vpcd(card.clone(), options, control.clone()));
    let mut vpcd = accept(&listener).await;

    let apdu = frame(&VpcdMessage::Apdu(vec![0, 0xB0, 0, 0, 0]));
    vpcd.write_all(&frame(&VpcdMessage::GetAtr)).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, ERROR_REPLY);

    card.lock().unwrap().answer = vec![0x11; MAX_PAYLOAD + 1];
    vpcd.write_all(&apdu).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, ERROR_REPLY);

    card.lock().unwrap().answer = vec![0x22; MAX_PAYLOAD];
    vpcd.write_all(&apdu).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, vec![0x22; MAX_PAYLOAD]);

    control.stop();
    assert_eq!(timeout(PATIENCE, link).await.unwrap().unwrap(), Ok(()));
}

#[tokio::test]
async fn an_empty_answer_to_a_command_is_the_card_leaving_the_field() {
    let (listener, mut options) = fake_vpcd().await;
    options.field_return = Duration::from_millis(50);
    let card = Arc::new(Mutex::new(BadCard { answer: Vec::new() }));
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let link = tokio::spawn(run_vpcd(card.clone(), options, control.clone()));
    let mut vpcd = accept(&listener).await;
    vpcd.write_all(&frame(&VpcdMessage::Apdu(vec![0, 0xB0, 0, 0, 0])))
        .await
        .unwrap();
    // No reply: half a frame and a reset, as for a card pulled out.
    expect_cut_short(&mut vpcd).await;
    loop {
        match next_event(&mut events).await {
            VpcdEvent::Removed { cause } => {
                assert_eq!(cause, RemovalCause::LeftField);
                break;
            }
            VpcdEvent::Connected { .. } | VpcdEvent::Inserted { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // And it comes back once the field returns.
    card.lock().unwrap().answer = vec![0x90, 0x00];
    let mut vpcd = accept(&listener).await;
    vpcd.write_all(&frame(&VpcdMessage::Apdu(vec![0, 0xB0, 0, 0, 0])))
        .await
        .unwrap();
    assert_eq!(read_reply(&mut vpcd).await, [0x90, 0x00]);
    control.stop();
    assert_eq!(timeout(PATIENCE, link).await.unwrap().unwrap(), Ok(()));
}

/// A card that takes its time, and says so.
struct SlowCard(Duration);

impl SmartCard for SlowCard {
    fn atr(&self) -> Vec<u8> {
        TRIVIAL_ATR.to_vec()
    }
    fn power_on(&mut self, _: Instant) {}
    fn power_off(&mut self, _: Instant) {}
    fn reset(&mut self, _: Instant) {}
    fn transmit(&mut self, _: &[u8], _: Instant) -> Vec<u8> {
        vec![0x90, 0x00]
    }
    fn processing_time(&self, _: &[u8]) -> Duration {
        self.0
    }
}

#[tokio::test]
async fn the_link_waits_the_processing_time_before_answering() {
    let (listener, options) = fake_vpcd().await;
    let slow = Duration::from_millis(200);
    let card = Arc::new(Mutex::new(SlowCard(slow)));
    let control = VpcdControl::new();
    let link = tokio::spawn(run_vpcd(card.clone(), options, control.clone()));
    let mut vpcd = accept(&listener).await;
    let started = Instant::now();
    vpcd.write_all(&frame(&VpcdMessage::Apdu(vec![0, 0xB0, 0, 0, 0])))
        .await
        .unwrap();
    assert_eq!(read_reply(&mut vpcd).await, [0x90, 0x00]);
    // A lower bound only: the answer cannot come before the card is done.
    assert!(started.elapsed() >= slow);
    // A removal while the card works drops the answer.
    card.lock().unwrap().0 = PATIENCE * 10;
    vpcd.write_all(&frame(&VpcdMessage::Apdu(vec![0, 0xB0, 0, 0, 0])))
        .await
        .unwrap();
    pause().await;
    control.remove();
    expect_cut_short(&mut vpcd).await;
    control.stop();
    assert_eq!(timeout(PATIENCE, link).await.unwrap().unwrap(), Ok(()));
}

#[tokio::test]
async fn reconnects_when_vpcd_goes_away() {
    let (listener, options) = fake_vpcd().await;
    let card = Arc::new(Mutex::new(TrivialCard::new()));
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let link = tokio::spawn(run_vpcd(card.clone(), options, control.clone()));

    let mut vpcd = accept(&listener).await;
    assert!(matches!(
        next_event(&mut events).await,
        VpcdEvent::Connected { .. }
    ));
    vpcd.write_all(&frame(&VpcdMessage::PowerOn)).await.unwrap();
    vpcd.write_all(&frame(&VpcdMessage::GetAtr)).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, TRIVIAL_ATR);
    assert!(matches!(
        next_event(&mut events).await,
        VpcdEvent::Inserted { .. }
    ));
    drop(vpcd);

    assert_eq!(
        next_event(&mut events).await,
        VpcdEvent::Removed {
            cause: RemovalCause::VpcdClosed
        }
    );
    let mut vpcd = accept(&listener).await;
    assert!(matches!(
        next_event(&mut events).await,
        VpcdEvent::Connected { .. }
    ));
    assert_eq!(card.lock().unwrap().power_offs, 1);
    vpcd.write_all(&frame(&VpcdMessage::GetAtr)).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, TRIVIAL_ATR);

    control.stop();
    assert_eq!(timeout(PATIENCE, link).await.unwrap().unwrap(), Ok(()));
}

#[tokio::test]
async fn waits_for_a_vpcd_that_is_not_there_yet() {
    let (listener, options) = fake_vpcd().await;
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let card = Arc::new(Mutex::new(TrivialCard::new()));
    let link = tokio::spawn(run_vpcd(card, options, control.clone()));

    assert!(matches!(
        next_event(&mut events).await,
        VpcdEvent::Retrying { .. }
    ));
    let listener = TcpListener::bind(addr).await.unwrap();
    let _vpcd = accept(&listener).await;
    loop {
        match next_event(&mut events).await {
            VpcdEvent::Retrying { .. } => continue,
            event => {
                assert_eq!(event, VpcdEvent::Connected { vpcd: addr });
                break;
            }
        }
    }
    control.stop();
    assert_eq!(timeout(PATIENCE, link).await.unwrap().unwrap(), Ok(()));
}

#[tokio::test]
async fn remove_insert_and_reinsert() {
    let (listener, options) = fake_vpcd().await;
    let card = Arc::new(Mutex::new(TrivialCard::new()));
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let link = tokio::spawn(run_vpcd(card.clone(), options, control.clone()));
    let mut vpcd = accept(&listener).await;
    assert!(matches!(
        next_event(&mut events).await,
        VpcdEvent::Connected { .. }
    ));

    control.remove();
    expect_reset(&mut vpcd).await;
    assert_eq!(
        next_event(&mut events).await,
        VpcdEvent::Removed {
            cause: RemovalCause::Control
        }
    );
    // Out means out: no new connection while removed.
    assert!(
        timeout(Duration::from_millis(200), listener.accept())
            .await
            .is_err()
    );

    control.insert();
    let mut vpcd = accept(&listener).await;
    assert!(matches!(
        next_event(&mut events).await,
        VpcdEvent::Connected { .. }
    ));

    control.reinsert();
    expect_reset(&mut vpcd).await;
    let mut vpcd = accept(&listener).await;
    vpcd.write_all(&frame(&VpcdMessage::GetAtr)).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, TRIVIAL_ATR);
    assert_eq!(card.lock().unwrap().power_offs, 2);

    control.stop();
    assert_eq!(timeout(PATIENCE, link).await.unwrap().unwrap(), Ok(()));
}

/// A connection vpcd has not taken (another card holds the slot) is
/// not reported as an insertion until vpcd speaks on it.
#[tokio::test]
async fn inserted_only_once_vpcd_speaks() {
    let (listener, options) = fake_vpcd().await;
    let control = VpcdControl::new();
    let mut events = control.subscribe();
    let card = Arc::new(Mutex::new(TrivialCard::new()));
    let link = tokio::spawn(run_vpcd(card, options, control.clone()));

    let mut vpcd = accept(&listener).await;
    let addr = listener.local_addr().unwrap();
    assert_eq!(
        next_event(&mut events).await,
        VpcdEvent::Connected { vpcd: addr }
    );
    assert!(
        timeout(Duration::from_millis(200), events.recv())
            .await
            .is_err(),
        "nothing happens while vpcd is silent"
    );
    vpcd.write_all(&frame(&VpcdMessage::GetAtr)).await.unwrap();
    assert_eq!(read_reply(&mut vpcd).await, TRIVIAL_ATR);
    assert_eq!(
        next_event(&mut events).await,
        VpcdEvent::Inserted { vpcd: addr }
    );
    control.stop();
    assert_eq!(timeout(PATIENCE, link).await.unwrap().unwrap(), Ok(()));
}

#[tokio::test]
async fn a_bad_address_is_an_error_not_a_retry_loop() {
    // Also shows that a card behind `dyn` can be spawned on a runtime.
    let card: Arc<Mutex<dyn SmartCard + Send>> = Arc::new(Mutex::new(TrivialCard::new()));
    let options = VpcdOptions {
        addr: "no-port-here".into(),
        ..VpcdOptions::default()
    };
    let link = tokio::spawn(run_vpcd(card, options, VpcdControl::new()));
    assert_eq!(
        link.await.unwrap(),
        Err(VpcdError::BadAddress("no-port-here".into()))
    );
}

#[test]
fn slots_map_to_debian_ports() {
    assert_eq!(VpcdOptions::default().addr, "127.0.0.1:35963");
    assert_eq!(VpcdOptions::for_slot(1).addr, "127.0.0.1:35964");
    let inserted = VpcdEvent::Inserted {
        vpcd: "127.0.0.1:35963".parse().unwrap(),
    };
    assert_eq!(
        inserted.to_string(),
        "card inserted into vpcd at 127.0.0.1:35963"
    );
}
