//! What the service's HTTP tests share: the service on a loopback port, over
//! its own in-memory store, with its clock frozen and fixtures installed.

use std::net::TcpListener;

use sim_service::clock::ServiceClock;
use sim_service::fixtures::InsuredPerson;
use sim_service::http::{self, AppState, ServiceConfig};
use sim_service::store::Store;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Starts the service with its clock frozen at `now` (RFC 3339) and
/// `persons` installed; answers its state and base URL.
pub async fn serve(
    now: &str,
    persons: Vec<InsuredPerson>,
    config: ServiceConfig,
) -> (AppState, String) {
    let clock = ServiceClock::frozen_at(OffsetDateTime::parse(now, &Rfc3339).unwrap());
    let state = AppState::new(Store::in_memory().unwrap(), clock, config).unwrap();
    let installing = state.clone();
    tokio::task::spawn_blocking(move || installing.install_fixtures(&persons))
        .await
        .unwrap()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(http::serve(
        listener,
        http::router(state.clone()),
        None,
        std::future::pending(),
    ));
    (state, base)
}
