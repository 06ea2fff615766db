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
use serde_json::{Value, json};

use super::super::{AppState, BODY_LIMIT, error::ApiError};

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
        "body": masked_body(&parts.headers, &request_body),
    });
    let response = next
        .run(Request::from_parts(parts, Body::from(request_body)))
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
    let exchange = json!({
        "request": request_view,
        "response": {
            "status": parts.status.as_u16(),
            "content_type": content_type(&parts.headers),
            "body": masked_body(&parts.headers, &response_body),
        },
    });
    let store = state.store.clone();
    // The trace is for people reading the console; a failure to keep it
    // must not fail the confirmation the client was already given.
    let kept = tokio::task::spawn_blocking(move || store.record_http_trace(id, &exchange)).await;
    if !matches!(kept, Ok(Ok(true))) {
        tracing::warn!("the HTTP trace of confirmation {id} was not kept");
    }
    Response::from_parts(parts, Body::from(response_body))
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// A body as the trace shows it: JSON with long secrets-free-but-bulky
/// fields shortened, XML decoded from its charset, anything else by length.
pub fn masked_body(headers: &HeaderMap, body: &Bytes) -> Value {
    let kind = content_type(headers)
        .unwrap_or_default()
        .to_ascii_lowercase();
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

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        headers
    }

    #[test]
    fn certificates_and_signatures_are_shortened() {
        let long = "A".repeat(2000);
        let body = Bytes::from(
            json!({"certificate": long, "signature": "c2ln", "nested": [{"signature": long}], "device": "受付"})
                .to_string(),
        );
        let masked = masked_body(&json_headers(), &body);
        let certificate = masked["certificate"].as_str().unwrap();
        assert!(certificate.starts_with(&"A".repeat(KEPT)));
        assert!(certificate.ends_with("(2000 characters)"));
        assert_eq!(masked["signature"], "c2ln", "short values stay");
        assert!(masked["nested"][0]["signature"].as_str().unwrap().len() < 100);
        assert_eq!(masked["device"], "受付");
    }

    #[test]
    fn shift_jis_xml_is_decoded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/xml; charset=Shift_JIS".parse().unwrap(),
        );
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("<?xml version=\"1.0\"?><a>資格</a>");
        let masked = masked_body(&headers, &Bytes::from(bytes.into_owned()));
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
            let masked = masked_body(&json_headers(), &body);
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
        let masked = masked_body(&HeaderMap::new(), &Bytes::from_static(b"\x00\x01"));
        assert_eq!(masked, "(2 bytes, not JSON or XML)");
        assert_eq!(masked_body(&HeaderMap::new(), &Bytes::new()), Value::Null);
    }
}
