//! The dashboard: the service clock and the state at a glance.

use super::*;

pub(super) fn jst(t: OffsetDateTime) -> String {
    let t = t.to_offset(JST);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

#[derive(Serialize)]
pub(super) struct ConsoleClock {
    now_jst: String,
    rfc3339_jst: String,
    mode: &'static str,
    mode_ja: &'static str,
}

pub(super) fn clock_view(state: &AppState) -> ConsoleClock {
    let now = state.clock.now();
    let (mode, mode_ja) = match state.clock.mode() {
        ClockMode::Wall => ("wall", "実時刻"),
        ClockMode::Offset(_) => ("ticking", "ずらして進行中"),
        ClockMode::Frozen(_) => ("frozen", "停止中"),
    };
    ConsoleClock {
        now_jst: jst(now),
        rfc3339_jst: rfc3339(now.to_offset(JST)),
        mode,
        mode_ja,
    }
}

pub(super) async fn dashboard(State(state): State<AppState>, session: LoggedIn) -> Page {
    let service = state.service.clone();
    let (persons, confirmations) = blocking(move || service.counts()).await??;
    let faults = state.faults.get();
    page(
        "dashboard.html",
        &session,
        Shown::plain(),
        context! {
            active => "dashboard",
            clock => clock_view(&state),
            persons => persons,
            confirmations => confirmations,
            faults => faults.endpoints.len(),
            maintenance => faults.maintenance,
        },
    )
}
