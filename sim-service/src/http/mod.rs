//! The HTTP edge: axum routes that decode a request, call one method of the
//! service core ([`crate::service::Service`]) and encode the answer: its
//! results as JSON or XmlMsg, its errors as a status and the one error
//! shape ([`error`]). No rule and no store access lives here.
//!
//! - `/v1/…`: the client API (what an app like マイナ資格確認アプリ calls);
//!   with `Authorization: Bearer <session token>` a request is on the app
//!   channel, where the facility's rules apply (see [`crate::facility`]).
//! - `/admin/v1/…`: the admin API (clock, faults, fixtures, state, the
//!   facilities' app administration, notices).
//! - `/admin`: the admin console, HTML for a person at a browser (see
//!   [`console`]).
//! - `/openapi.json`: the OpenAPI document of the client and admin APIs,
//!   generated from the handlers (see [`openapi`]).

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde::Serialize;

use crate::clock::ServiceClock;
use crate::service::Service;
pub use crate::service::ServiceConfig;
use crate::store::Store;

mod admin;
mod after_confirmation;
mod api;
pub mod console;
pub mod error;
pub mod facility;
pub mod faults;
pub mod guard;
mod json;
pub mod openapi;
mod serve;

pub use error::ApiError;
pub use faults::{Fault, FaultSet, Faults};
pub use serve::{GRACE, Limits, serve, serve_with};

/// Requests larger than this are refused with 413 before they are parsed: a
/// certificate and a signature fit in a few kilobytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A time as the JSON answers write it.
fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Everything a handler needs: the service core, and what only the HTTP
/// edge keeps (injected faults, the blocking slots, console sessions, the
/// trace writer). Dereferences to the [`Service`], whose methods the
/// handlers call. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub faults: Faults,
    /// Slots for confirmation work on the blocking pool (see
    /// [`blocking_slots`]).
    pub blocking: Arc<tokio::sync::Semaphore>,
    /// Who is logged in to the admin console.
    pub console: console::Sessions,
    /// Keeps each confirmation's HTTP exchange for the console, off the
    /// confirmation's path.
    pub traces: console::trace::TraceWriter,
}

impl std::ops::Deref for AppState {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

/// How many confirmations may be in the blocking pool at once. Unbounded,
/// every waiting request took a pool thread (up to 512), and the threads
/// fought over the cores and the store's lock instead of queueing for them;
/// a few per core keep the cores busy, leave the group commit a crowd to
/// batch, and make the rest wait as cheap futures.
pub fn blocking_slots() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl AppState {
    /// A service trusting the simulated JPKI's user-authentication CA (see
    /// [`Service::new`]), behind the HTTP edge.
    pub fn new(store: Store, clock: ServiceClock, config: ServiceConfig) -> Result<Self, String> {
        Ok(Self::serving(Service::new(store, clock, config)?))
    }

    /// The HTTP edge over a service.
    pub fn serving(service: Service) -> Self {
        AppState {
            traces: console::trace::TraceWriter::start(service.store.clone()),
            service,
            faults: Faults::default(),
            blocking: Arc::new(tokio::sync::Semaphore::new(blocking_slots())),
            console: console::Sessions::default(),
        }
    }

    /// Runs a blocking core operation off the async threads, in one of the
    /// bounded slots.
    pub async fn blocking<T: Send + 'static, E: Send + 'static>(
        &self,
        work: impl FnOnce(&Service) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        ApiError: From<E>,
    {
        let slot = self
            .blocking
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let service = self.service.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work(&service)
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(result?)
    }

    /// A blocking core operation (see [`AppState::blocking`]) answered as
    /// `status` with its result as JSON: the shape of every handler that
    /// decodes its input, calls the core and shows what it returned.
    pub async fn answer<T, E>(
        &self,
        status: StatusCode,
        work: impl FnOnce(&Service) -> Result<T, E> + Send + 'static,
    ) -> Result<Response, ApiError>
    where
        T: Serialize + Send + 'static,
        E: Send + 'static,
        ApiError: From<E>,
    {
        let value = self.blocking(work).await?;
        Ok((status, Json(value)).into_response())
    }
}

/// The whole service as one router.
pub fn router(state: AppState) -> Router {
    let client = api::routes()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            facility::app_channel,
        ))
        .merge(after_confirmation::routes())
        .merge(facility::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            console::trace::keep,
        ))
        .layer(middleware::from_fn_with_state(
            state.faults.clone(),
            faults::apply,
        ));
    let admin = admin::routes()
        .merge(after_confirmation::admin_routes())
        .merge(facility::admin_routes())
        .merge(console::admin_routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            admin::require_token,
        ));
    let local = guard::LocalOnly::new(&state.config.allowed_hosts);
    let console = console::routes().layer(middleware::from_fn_with_state(
        local.clone(),
        guard::same_origin,
    ));
    let service = Router::new()
        .merge(client)
        .merge(admin)
        .merge(console)
        .route("/openapi.json", get(openapi::serve))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::map_response(error::uniform));
    // Without a token the service is on loopback, where a DNS-rebinding
    // page could reach every route under its own name: loopback Host names
    // only, everywhere (see [`guard`]).
    let service = if state.config.admin_token.is_none() {
        service.layer(middleware::from_fn_with_state(local, guard::loopback_host))
    } else {
        service
    };
    service.with_state(state)
}

/// Whether the service is up.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain"))
)]
async fn health() -> &'static str {
    "ok"
}
