//! The confirmation history and one confirmation with its HTTP and APDU
//! trace.

use super::*;

#[derive(Serialize)]
pub(super) struct HistoryRow {
    id: i64,
    at: String,
    facility: String,
    device: String,
    method: String,
    person: Option<String>,
    segment: Option<String>,
    error_code: Option<String>,
    shows_qualification: bool,
    http: bool,
    apdu: bool,
}

pub(super) fn header_field(result: &serde_json::Value, field: &str) -> Option<String> {
    match &result["MessageHeader"][field] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct HistoryQuery {
    /// Reload the page every few seconds (a meta refresh: the console runs
    /// no script).
    #[serde(default)]
    live: Option<String>,
}

pub(super) async fn history_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<HistoryQuery>,
) -> Page {
    let service = state.service.clone();
    let rows = blocking(move || service.latest_confirmations(HISTORY_ROWS)).await??;
    let rows: Vec<HistoryRow> = rows
        .into_iter()
        .map(|(c, http, apdu)| HistoryRow {
            id: c.id,
            at: jst(c.confirmed_at),
            segment: header_field(&c.result, "SegmentOfResult"),
            error_code: header_field(&c.result, "ErrorCode"),
            facility: c.facility,
            device: c.device,
            method: c.method,
            person: c.person,
            shows_qualification: c.shows_qualification,
            http,
            apdu,
        })
        .collect();
    page(
        "confirmations.html",
        &session,
        Shown::plain(),
        context! {
            active => "confirmations",
            rows => rows,
            limit => HISTORY_ROWS,
            live => q.live.is_some(),
        },
    )
}

pub(super) async fn confirmation_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Path(id): Path<i64>,
) -> Page {
    let service = state.service.clone();
    let traces = state.traces.clone();
    let found = blocking(move || {
        traces.flush();
        service.confirmation_with_trace(id)
    })
    .await?;
    let (c, trace) = match found {
        Ok(found) => found,
        Err(crate::service::ServiceError::UnknownConfirmation(id)) => {
            return Err(ConsoleError::new(
                StatusCode::NOT_FOUND,
                format!("no confirmation {id} in the history"),
            ));
        }
        Err(e) => return Err(ApiError::from(e).into()),
    };
    page(
        "confirmation.html",
        &session,
        Shown::plain(),
        context! {
            active => "confirmations",
            id => c.id,
            at => jst(c.confirmed_at),
            facility => c.facility,
            device => c.device,
            method => c.method,
            person => c.person,
            shows_qualification => c.shows_qualification,
            result => Value::from_serialize(&c.result),
            http => trace.http.as_ref().map(Value::from_serialize),
            apdu => trace.apdu.as_ref().map(Value::from_serialize),
        },
    )
}
