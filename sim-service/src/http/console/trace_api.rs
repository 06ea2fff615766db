//! The admin JSON API's trace endpoints: the client uploads the APDU trace
//! of a confirmation, and a tool reads both traces back.

use super::*;

/// An APDU trace of one confirmation, as the harness recorded it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ApduTrace {
    /// The trace's lines, as `kazasu` writes them (a PIN shown as `*`).
    #[schema(value_type = Vec<Object>)]
    records: Vec<sim_card::trace::TraceRecord>,
}

/// Keeps the APDU trace of a confirmation (replacing an earlier one).
#[utoipa::path(
    put,
    path = "/admin/v1/confirmations/{id}/apdu-trace",
    tag = "admin",
    params(("id" = i64, Path, description = "The confirmation's history id (x-kazasu-confirmation-id)")),
    request_body = ApduTrace,
    responses(
        (status = 204, description = "Kept"),
        (status = 404, description = "`unknown_confirmation`", body = ApiError),
    )
)]
pub(super) async fn put_apdu_trace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    super::super::json::ApiJson(trace): super::super::json::ApiJson<ApduTrace>,
) -> Result<StatusCode, ApiError> {
    let records = serde_json::to_value(&trace.records).map_err(ApiError::internal)?;
    state
        .blocking(move |service| service.record_apdu_trace(id, &records))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Trace)]
pub(super) struct TraceView {
    confirmation: i64,
    http: Option<serde_json::Value>,
    apdu: Option<serde_json::Value>,
}

/// A confirmation's traces: its HTTP exchange and, if the harness sent it,
/// its APDU trace.
#[utoipa::path(
    get,
    path = "/admin/v1/confirmations/{id}/trace",
    tag = "admin",
    params(("id" = i64, Path, description = "The confirmation's history id (x-kazasu-confirmation-id)")),
    responses(
        (status = 200, description = "The traces kept", body = TraceView),
        (status = 404, description = "`unknown_confirmation`", body = ApiError),
    )
)]
pub(super) async fn get_trace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let traces = state.traces.clone();
    state
        .answer(StatusCode::OK, move |service| {
            traces.flush();
            let (_, trace) = service.confirmation_with_trace(id)?;
            Ok::<_, ApiError>(TraceView {
                confirmation: id,
                http: trace.http,
                apdu: trace.apdu,
            })
        })
        .await
}
