//! The faults screen: latency, error statuses, dropped connections and
//! maintenance per endpoint.

use super::*;

#[derive(Serialize)]
pub(super) struct FaultRow {
    endpoint: &'static str,
    latency_ms: u64,
    status: Option<u16>,
    drop_connection: bool,
}

pub(super) fn faults_with(state: &AppState, session: &LoggedIn, shown: Shown) -> Page {
    let set = state.faults.get();
    let rows: Vec<FaultRow> = std::iter::once("*")
        .chain(ENDPOINTS.iter().copied())
        .map(|endpoint| {
            let fault = set.endpoints.get(endpoint).cloned().unwrap_or_default();
            FaultRow {
                endpoint,
                latency_ms: fault.latency_ms,
                status: fault.status,
                drop_connection: fault.drop_connection,
            }
        })
        .collect();
    page(
        "faults.html",
        session,
        shown,
        context! { active => "faults", rows => rows, maintenance => set.maintenance },
    )
}

pub(super) async fn faults_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<Done>,
) -> Page {
    faults_with(&state, &session, Shown::asked(&q))
}

/// The faults form: `latency:<endpoint>`, `status:<endpoint>`,
/// `drop:<endpoint>` per endpoint (and `*`), and `maintenance`.
pub(super) fn fault_set(
    form: &std::collections::HashMap<String, String>,
) -> Result<FaultSet, String> {
    let mut set = FaultSet {
        maintenance: form.contains_key("maintenance"),
        ..FaultSet::default()
    };
    for endpoint in std::iter::once("*").chain(ENDPOINTS.iter().copied()) {
        let field = |kind: &str| {
            form.get(&format!("{kind}:{endpoint}"))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let fault = Fault {
            latency_ms: field("latency")
                .map(|v| v.parse::<u64>())
                .transpose()
                .map_err(|e| format!("{endpoint}: latency (ms): {e}"))?
                .unwrap_or(0),
            status: field("status")
                .map(|v| v.parse::<u16>())
                .transpose()
                .map_err(|e| format!("{endpoint}: status: {e}"))?,
            drop_connection: field("drop").is_some(),
        };
        if fault != Fault::default() {
            set.endpoints.insert(endpoint.to_string(), fault);
        }
    }
    set.validate()?;
    Ok(set)
}

pub(super) async fn set_faults(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Page {
    session.check(form.get("csrf").map_or("", String::as_str))?;
    match fault_set(&form) {
        Ok(set) => {
            state.faults.set(set);
            done("/admin/faults", "faults")
        }
        Err(e) => faults_with(&state, &session, Shown::invalid(e)),
    }
}

pub(super) async fn clear_faults(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<CsrfOnly>,
) -> Page {
    session.check(&form.csrf)?;
    state.faults.set(FaultSet::default());
    done("/admin/faults", "faults")
}
