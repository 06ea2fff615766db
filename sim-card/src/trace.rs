//! APDU traces: every exchange between a reader and a card, one record each.
//!
//! A trace is what scenario checks read ("the client never read the My
//! Number") and what a developer reads when a client misbehaves. PIN values
//! never enter a trace: VERIFY and CHANGE REFERENCE DATA data fields are
//! masked before the record is made.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::SmartCard;
use crate::apdu;
use crate::iso7816::StatusWord;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceEvent {
    Apdu,
    PowerOn,
    PowerOff,
    Reset,
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Wall-clock time of the exchange, RFC 3339.
    pub at: String,
    /// Microseconds since the trace started.
    pub elapsed_us: u64,
    pub event: TraceEvent,
    /// The command APDU in hex, PIN bytes replaced by `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The response APDU in hex (data and status word).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// The status word, e.g. `63C2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sw: Option<String>,
    /// What the exchange did, e.g. `VERIFY EF 0018 (auth PIN) (4 digits) → 63C2 (2 tries left)`.
    pub summary: String,
}

/// Where trace records go.
pub trait TraceSink: Send {
    fn record(&mut self, record: TraceRecord);
}

/// Writes records as JSON lines, flushing each, so that a crash loses nothing
/// already exchanged.
pub struct JsonLines<W: Write + Send>(pub W);

impl<W: Write + Send> TraceSink for JsonLines<W> {
    fn record(&mut self, record: TraceRecord) {
        // A trace that cannot be written must not break the card: the
        // exchange has happened either way. The failure is logged instead.
        let written = serde_json::to_writer(&mut self.0, &record)
            .map_err(std::io::Error::from)
            .and_then(|()| self.0.write_all(b"\n"))
            .and_then(|()| self.0.flush());
        if let Err(e) = written {
            tracing::warn!("cannot write the APDU trace: {e}");
        }
    }
}

/// Keeps records in memory, shared with whoever reads them (the runner).
pub type SharedTrace = Arc<Mutex<Vec<TraceRecord>>>;

impl TraceSink for SharedTrace {
    fn record(&mut self, record: TraceRecord) {
        // A poisoned lock means a reader panicked; the records are still good.
        self.lock().unwrap_or_else(|e| e.into_inner()).push(record);
    }
}

/// A card whose every exchange is recorded.
pub struct Traced<C, S> {
    card: C,
    sink: S,
    origin: Instant,
    origin_wall: OffsetDateTime,
}

impl<C: SmartCard, S: TraceSink> Traced<C, S> {
    /// A trace starting now: reads the clock once, for callers at the edge
    /// (as [`crate::card::Card::process`] does); see [`Traced::starting_at`].
    pub fn new(card: C, sink: S) -> Self {
        Self::starting_at(card, sink, Instant::now(), OffsetDateTime::now_utc())
    }

    /// A trace whose records count from `origin`, which was `origin_wall` on
    /// the wall clock. Each record's time is the instant its event carries,
    /// so the trace never reads the clock after this.
    pub fn starting_at(card: C, sink: S, origin: Instant, origin_wall: OffsetDateTime) -> Self {
        Traced {
            card,
            sink,
            origin,
            origin_wall,
        }
    }

    pub fn card(&self) -> &C {
        &self.card
    }

    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }

    /// The wall-clock time (RFC 3339) and microseconds since the start, of `now`.
    fn stamp(&self, now: Instant) -> (String, u64) {
        let elapsed = now.saturating_duration_since(self.origin);
        let at = (self.origin_wall + elapsed)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        (at, u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }

    fn record(
        &mut self,
        now: Instant,
        event: TraceEvent,
        exchange: Option<(&[u8], &[u8])>,
        summary: String,
    ) {
        let (at, elapsed_us) = self.stamp(now);
        let (command, response, sw) = match exchange {
            Some((command, response)) => (
                Some(apdu::mask_secrets(command)),
                Some(hex::encode_upper(response)),
                StatusWord::of_response(response).map(|sw| sw.to_string()),
            ),
            None => (None, None, None),
        };
        self.sink.record(TraceRecord {
            at,
            elapsed_us,
            event,
            command,
            response,
            sw,
            summary,
        });
    }
}

impl<C: SmartCard, S: TraceSink> Traced<C, S> {
    /// Records a command the reader took from the client but could not
    /// deliver: the card had been pulled out. The record has no response and
    /// no status word, like a command during which the card left.
    pub fn record_unanswered(&mut self, command: &[u8], now: Instant) {
        let what = self.card.describe(command);
        let (at, elapsed_us) = self.stamp(now);
        self.sink.record(TraceRecord {
            at,
            elapsed_us,
            event: TraceEvent::Apdu,
            command: Some(apdu::mask_secrets(command)),
            response: None,
            sw: None,
            summary: format!("{what} → {NO_ANSWER}"),
        });
    }
}

impl<C: SmartCard, S: TraceSink> SmartCard for Traced<C, S> {
    fn atr(&self) -> Vec<u8> {
        self.card.atr()
    }

    fn power_on(&mut self, now: Instant) {
        self.card.power_on(now);
        self.record(now, TraceEvent::PowerOn, None, "power on".into());
    }

    fn power_off(&mut self, now: Instant) {
        self.card.power_off(now);
        self.record(now, TraceEvent::PowerOff, None, "power off".into());
    }

    fn reset(&mut self, now: Instant) {
        self.card.reset(now);
        self.record(now, TraceEvent::Reset, None, "reset".into());
    }

    fn transmit(&mut self, command: &[u8], now: Instant) -> Vec<u8> {
        let what = self.card.describe(command);
        let response = self.card.transmit(command, now);
        let summary = match StatusWord::of_response(&response) {
            Some(sw) => format!("{what} → {sw} ({})", sw.meaning()),
            None if response.is_empty() => format!("{what} → {NO_ANSWER}"),
            None => what,
        };
        self.record(now, TraceEvent::Apdu, Some((command, &response)), summary);
        response
    }

    fn describe(&self, command: &[u8]) -> String {
        self.card.describe(command)
    }

    fn processing_time(&self, command: &[u8]) -> Duration {
        self.card.processing_time(command)
    }
}

/// How a trace summary ends for a command that got no answer because the
/// card had left: conformance rules find removals by the missing status word.
pub const NO_ANSWER: &str = "no answer (the card left the reader)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::Card;
    use crate::filesystem::{Application, ElementaryFile, PinFormat};
    use crate::pin::Pin;

    fn card() -> Card {
        let app = Application::new(
            &[0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01],
            "JPKI-AP",
            vec![ElementaryFile::pin(
                0x0018,
                "auth PIN",
                Pin::new(*b"1234", 3, 3),
                PinFormat::FourDigits,
            )],
        );
        Card::new(vec![0x3B, 0x00], vec![app])
    }

    fn run(card: &mut impl SmartCard) {
        let now = Instant::now();
        card.power_on(now);
        for apdu in [
            "00A4040C0AD392F000260100000001",
            "00A4020C020018",
            "002000800439393939",
            "002000800431323334",
        ] {
            card.transmit(&hex::decode(apdu).unwrap(), now);
        }
        card.power_off(now);
    }

    #[test]
    fn every_record_is_stamped_with_its_event_s_instant() {
        let shared = SharedTrace::default();
        let origin = Instant::now();
        let wall = OffsetDateTime::from_unix_timestamp(1_796_083_200).unwrap();
        let mut traced = Traced::starting_at(card(), shared.clone(), origin, wall);
        let at = |ms| origin + Duration::from_millis(ms);
        traced.power_on(at(1_000));
        traced.transmit(&hex::decode("00A4020C020018").unwrap(), at(1_500));
        traced.record_unanswered(&[0x00, 0xB0, 0x00, 0x00, 0x04], at(2_000));
        traced.reset(at(2_250));
        traced.power_off(at(3_000));
        let records = shared.lock().unwrap();
        let stamps: Vec<_> = records.iter().map(|r| r.elapsed_us).collect();
        assert_eq!(
            stamps,
            [1_000_000, 1_500_000, 2_000_000, 2_250_000, 3_000_000]
        );
        assert_eq!(records[0].at, "2026-12-01T00:00:01Z");
        assert_eq!(records[4].at, "2026-12-01T00:00:03Z");
    }

    #[test]
    fn records_every_exchange_without_the_pin() {
        let shared = SharedTrace::default();
        let mut traced = Traced::new(card(), shared.clone());
        run(&mut traced);
        let records = shared.lock().unwrap();
        let events: Vec<_> = records.iter().map(|r| r.event).collect();
        assert_eq!(
            events,
            [
                TraceEvent::PowerOn,
                TraceEvent::Apdu,
                TraceEvent::Apdu,
                TraceEvent::Apdu,
                TraceEvent::Apdu,
                TraceEvent::PowerOff
            ]
        );
        let wrong = &records[3];
        assert_eq!(wrong.command.as_deref(), Some("0020008004********"));
        assert_eq!(wrong.sw.as_deref(), Some("63C2"));
        assert_eq!(
            wrong.summary,
            "VERIFY EF 0018 (auth PIN) (4 digits) → 63C2 (2 tries left)"
        );
        let text = serde_json::to_string(&*records).unwrap();
        assert!(!text.contains("31323334") && !text.contains("39393939"));
    }

    #[test]
    fn commands_without_an_answer_have_no_status_word() {
        let shared = SharedTrace::default();
        let mut traced = Traced::new(card(), shared.clone());
        traced.record_unanswered(&hex::decode("002000800431323334").unwrap(), Instant::now());
        let gone = Traced::new(
            crate::reader::SimulatedReader::new(card(), flaky_always()),
            shared.clone(),
        )
        .transmit(&hex::decode("00A4020C020018").unwrap(), Instant::now());
        assert!(gone.is_empty());
        let records = shared.lock().unwrap();
        assert_eq!(records.len(), 2);
        for r in records.iter() {
            assert_eq!((r.event, r.sw.as_deref()), (TraceEvent::Apdu, None));
            assert!(r.summary.ends_with(NO_ANSWER), "{}", r.summary);
        }
        assert_eq!(records[0].command.as_deref(), Some("0020008004********"));
        assert!(records[0].summary.starts_with("VERIFY"));
    }

    fn flaky_always() -> crate::reader::ReaderProfile {
        crate::reader::ReaderProfile {
            field: crate::reader::Field::Flaky(crate::reader::FlakyField {
                seed: 0,
                drop_percent: 100,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn json_lines_parse_back() {
        let mut out = Vec::new();
        {
            let mut traced = Traced::new(card(), JsonLines(&mut out));
            run(&mut traced);
        }
        let text = String::from_utf8(out).unwrap();
        let records: Vec<TraceRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 6);
        assert_eq!(records[4].sw.as_deref(), Some("9000"));
        assert!(!text.contains("31323334"));
    }
}
