//! The clock screen: set, advance or reset the service clock.

use super::*;

pub(super) async fn clock_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<Done>,
) -> Page {
    clock_with(&state, &session, Shown::asked(&q))
}

pub(super) fn clock_with(state: &AppState, session: &LoggedIn, shown: Shown) -> Page {
    page(
        "clock.html",
        session,
        shown,
        context! { active => "clock", clock => clock_view(state) },
    )
}

#[derive(Deserialize)]
pub(super) struct ClockForm {
    csrf: String,
    now: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    frozen: Option<String>,
}

pub(super) async fn set_clock(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<ClockForm>,
) -> Page {
    session.check(&form.csrf)?;
    match OffsetDateTime::parse(form.now.trim(), &Rfc3339) {
        Ok(at) => {
            state.set_clock(at, form.frozen.is_some());
        }
        Err(e) => {
            return clock_with(
                &state,
                &session,
                Shown::invalid(format!(
                    "not an RFC 3339 time (e.g. 2026-12-01T09:00:00+09:00): {e}"
                )),
            );
        }
    }
    done("/admin/clock", "clock")
}

#[derive(Deserialize)]
pub(super) struct AdvanceForm {
    csrf: String,
    seconds: String,
}

pub(super) async fn advance_clock(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<AdvanceForm>,
) -> Page {
    session.check(&form.csrf)?;
    let advanced = form
        .seconds
        .trim()
        .parse::<i64>()
        .map_err(|e| format!("seconds: not a whole number: {e}"))
        .and_then(|s| {
            state
                .advance_clock(time::Duration::seconds(s))
                .map_err(|e| e.to_string())
        });
    match advanced {
        Ok(_) => done("/admin/clock", "clock"),
        Err(e) => clock_with(&state, &session, Shown::invalid(e)),
    }
}

pub(super) async fn reset_clock(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<CsrfOnly>,
) -> Page {
    session.check(&form.csrf)?;
    state.reset_clock();
    done("/admin/clock", "clock")
}
