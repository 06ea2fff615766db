//! The HTTP trace of each confirmation, kept for the console: the request
//! and the response as the service saw them, masked before they are stored.
//!
//! A middleware over the confirmation endpoints, so that the handlers stay as
//! they are: it buffers the request body, lets the handler answer, and when
//! the answer names the history entry it made (`x-kazasu-confirmation-id`)
//! stores the exchange under that id. The certificate and the signature are
//! shortened to their first bytes and length (they are long and say nothing
//! a reader needs; the certificate's fingerprint identifies it); PINs never
//! reach the service. Nothing of the exchange goes to the log.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

use super::super::{AppState, BODY_LIMIT, error::ApiError};
use crate::store::Store;

/// The paths whose exchanges are kept.
const TRACED: &[&str] = &["/v1/confirmations", "/v1/insurance-card-confirmations"];

/// How many characters of a long base64 field are kept.
const KEPT: usize = 24;

/// Responses larger than this are not buffered for a trace (a confirmation
/// answer is a few kilobytes).
const RESPONSE_LIMIT: usize = 1024 * 1024;

/// Middleware: keeps the exchange of every traced request that made a
/// history entry.
pub async fn keep(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !TRACED.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(request_body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over {BODY_LIMIT} bytes"),
        )
        .into_response();
    };
    let request_view = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "content_type": content_type(&parts.headers),
        "accept": parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
    });
    let response = next
        .run(Request::from_parts(parts, Body::from(request_body.clone())))
        .await;
    let Some(id) = response
        .headers()
        .get("x-kazasu-confirmation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let Ok(response_body) = axum::body::to_bytes(body, RESPONSE_LIMIT).await else {
        return ApiError::internal("a confirmation response too large to trace").into_response();
    };
    state.traces.keep(CapturedExchange {
        confirmation: id,
        request: request_view,
        request_body,
        status: parts.status.as_u16(),
        response_content_type: content_type(&parts.headers).map(str::to_string),
        response_body: response_body.clone(),
    });
    Response::from_parts(parts, Body::from(response_body))
}

/// One exchange as the middleware saw it, before masking: the masking (a
/// JSON parse of each body) and the write happen on the trace writer's
/// thread, not on the confirmation's path.
struct CapturedExchange {
    confirmation: i64,
    /// Method, path, query, content type and accept of the request.
    request: Value,
    request_body: Bytes,
    status: u16,
    response_content_type: Option<String>,
    response_body: Bytes,
}

impl CapturedExchange {
    fn into_stored(mut self) -> (i64, Value) {
        let request_type = self.request["content_type"].as_str().map(str::to_string);
        self.request["body"] = masked_body(request_type.as_deref(), &self.request_body);
        let exchange = json!({
            "request": self.request,
            "response": {
                "status": self.status,
                "content_type": self.response_content_type,
                "body": masked_body(self.response_content_type.as_deref(), &self.response_body),
            },
        });
        (self.confirmation, exchange)
    }
}

/// Keeps the HTTP traces on a thread of their own, in batches.
///
/// A trace is for people reading the console, and it must not cost the
/// confirmation it describes: kept inline, each one took a JSON parse of both
/// bodies and an SQLite commit of its own on the request's path, a third of
/// a confirmation's server CPU under load (`service_load`). The writer takes
/// whatever has queued up, masks it, and writes it in one transaction. The
/// console waits for the queue ([`TraceWriter::flush`]) before it reads a
/// trace, so a page never misses a trace of a confirmation it lists. The
/// thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct TraceWriter {
    queue: mpsc::Sender<CapturedExchange>,
    progress: Arc<Progress>,
}

/// How many exchanges were queued and how many are written.
#[derive(Default)]
struct Progress {
    queued: AtomicU64,
    written: Mutex<u64>,
    advanced: Condvar,
}

/// How long the console waits for the writer before it shows what is there.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// At most this many exchanges share a transaction.
const BATCH: usize = 256;

impl TraceWriter {
    /// Starts the writer over `store`.
    pub fn start(store: Arc<Store>) -> TraceWriter {
        let (queue, exchanges) = mpsc::channel::<CapturedExchange>();
        let progress = Arc::new(Progress::default());
        let shared = progress.clone();
        let spawned = std::thread::Builder::new()
            .name("trace-writer".into())
            .spawn(move || {
                while let Ok(first) = exchanges.recv() {
                    let batch: Vec<(i64, Value)> = std::iter::once(first)
                        .chain(exchanges.try_iter().take(BATCH - 1))
                        .map(CapturedExchange::into_stored)
                        .collect();
                    if let Err(e) = store.record_http_traces(&batch) {
                        tracing::warn!("{} HTTP traces were not kept: {e}", batch.len());
                    }
                    let mut written = shared.written.lock().unwrap_or_else(|e| e.into_inner());
                    *written += batch.len() as u64;
                    shared.advanced.notify_all();
                }
            });
        if let Err(e) = spawned {
            // Without the thread the queue's receiver is gone: `keep` drops
            // every trace and `flush` returns at once. Confirmations go on.
            tracing::warn!("no trace writer ({e}): HTTP traces are not kept");
        }
        TraceWriter { queue, progress }
    }

    fn keep(&self, exchange: CapturedExchange) {
        if self.queue.send(exchange).is_ok() {
            self.progress.queued.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Waits (a bounded time, blocking: call it off the async threads) until
    /// every exchange queued before the call is written.
    pub fn flush(&self) {
        let target = self.progress.queued.load(Ordering::SeqCst);
        let written = self
            .progress
            .written
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let _ = self
            .progress
            .advanced
            .wait_timeout_while(written, FLUSH_WAIT, |w| *w < target);
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// A body as the trace shows it: JSON with long secrets-free-but-bulky
/// fields shortened, XML decoded from its charset, anything else by length.
pub fn masked_body(content_type: Option<&str>, body: &Bytes) -> Value {
    let kind = content_type.unwrap_or_default().to_ascii_lowercase();
    if let Ok(mut value) = serde_json::from_slice::<Value>(body) {
        mask(&mut value);
        return value;
    }
    if kind.contains("xml") || body.starts_with(b"<?xml") {
        let encoding = if kind.contains("shift_jis") || kind.contains("sjis") {
            encoding_rs::SHIFT_JIS
        } else {
            encoding_rs::UTF_8
        };
        let (text, _, _) = encoding.decode(body);
        return Value::String(text.into_owned());
    }
    if body.is_empty() {
        return Value::Null;
    }
    Value::String(format!("({} bytes, not JSON or XML)", body.len()))
}

/// Shortens the certificate and the signature wherever they appear.
fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                match (key.as_str(), &field) {
                    ("certificate" | "signature", Value::String(text)) => {
                        *field = Value::String(shortened(text));
                    }
                    _ => mask(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

fn shortened(text: &str) -> String {
    if text.chars().count() <= KEPT {
        return text.to_string();
    }
    let head: String = text.chars().take(KEPT).collect();
    format!("{head}… ({} characters)", text.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer keeps what the middleware queued, masked, and `flush`
    /// returns only once it is in the store.
    #[test]
    fn the_writer_keeps_every_queued_exchange_before_flush_returns() {
        let store = Arc::new(Store::in_memory().unwrap());
        let ids: Vec<i64> = (0..40)
            .map(|_| {
                store
                    .record_confirmation(&crate::store::NewConfirmation {
                        confirmed_at: time::macros::datetime!(2026-12-01 10:00 UTC),
                        facility: "0110000001".into(),
                        device: "受付1".into(),
                        method: "pin".into(),
                        person: Some("valid".into()),
                        shows_qualification: true,
                        result: json!({"QualificationValidity": "1"}),
                    })
                    .unwrap()
            })
            .collect();
        let writer = TraceWriter::start(store.clone());
        let certificate = "B".repeat(1500);
        for &id in &ids {
            writer.keep(CapturedExchange {
                confirmation: id,
                request: json!({"method": "POST", "content_type": "application/json"}),
                request_body: Bytes::from(json!({"certificate": certificate}).to_string()),
                status: 200,
                response_content_type: Some("application/json".into()),
                response_body: Bytes::from_static(b"{\"QualificationValidity\":\"1\"}"),
            });
        }
        writer.flush();
        for &id in &ids {
            let http = store.confirmation_trace(id).unwrap().http.expect("kept");
            let kept = http["request"]["body"]["certificate"].as_str().unwrap();
            assert!(kept.ends_with("(1500 characters)"), "{kept}");
            assert_eq!(http["response"]["body"]["QualificationValidity"], "1");
        }
    }

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn certificates_and_signatures_are_shortened() {
        let long = "A".repeat(2000);
        let body = Bytes::from(
            json!({"certificate": long, "signature": "c2ln", "nested": [{"signature": long}], "device": "受付"})
                .to_string(),
        );
        let masked = masked_body(JSON, &body);
        let certificate = masked["certificate"].as_str().unwrap();
        assert!(certificate.starts_with(&"A".repeat(KEPT)));
        assert!(certificate.ends_with("(2000 characters)"));
        assert_eq!(masked["signature"], "c2ln", "short values stay");
        assert!(masked["nested"][0]["signature"].as_str().unwrap().len() < 100);
        assert_eq!(masked["device"], "受付");
    }

    #[test]
    fn shift_jis_xml_is_decoded() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("<?xml version=\"1.0\"?><a>資格</a>");
        let masked = masked_body(
            Some("application/xml; charset=Shift_JIS"),
            &Bytes::from(bytes.into_owned()),
        );
        assert_eq!(masked, "<?xml version=\"1.0\"?><a>資格</a>");
    }

    proptest::proptest! {
        /// Whatever a client sends as certificate or signature, the trace
        /// keeps its first characters and its length, and nothing else of
        /// the request changes.
        #[test]
        fn long_fields_keep_their_head_and_length(
            certificate in "[A-Za-z0-9+/=]{0,3000}",
            signature in "[A-Za-z0-9+/=]{0,600}",
            device in "\\PC{0,20}",
        ) {
            let body = Bytes::from(
                json!({"certificate": certificate, "signature": signature, "device": device})
                    .to_string(),
            );
            let masked = masked_body(JSON, &body);
            for (field, original) in [("certificate", &certificate), ("signature", &signature)] {
                let kept = masked[field].as_str().unwrap();
                if original.len() <= KEPT {
                    proptest::prop_assert_eq!(kept, original.as_str());
                } else {
                    proptest::prop_assert!(kept.starts_with(&original[..KEPT]));
                    let length = format!("({} characters)", original.len());
                    proptest::prop_assert!(kept.ends_with(&length));
                    proptest::prop_assert!(kept.len() < KEPT + 30);
                }
            }
            proptest::prop_assert_eq!(masked["device"].as_str().unwrap(), device.as_str());
        }
    }

    #[test]
    fn other_bodies_are_told_by_length() {
        let masked = masked_body(None, &Bytes::from_static(b"\x00\x01"));
        assert_eq!(masked, "(2 bytes, not JSON or XML)");
        assert_eq!(masked_body(None, &Bytes::new()), Value::Null);
    }
}
