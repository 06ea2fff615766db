//! The HTTP edge: axum routes that decode a request, call the store and the
//! rules, and encode the answer. No rule lives here.
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
use axum::routing::get;
use axum::{Router, middleware};

use crate::caches::Caches;
use crate::clock::ServiceClock;
use crate::fixtures::InsuredPerson;
use crate::model::CharacterCodeIdentifier;
use crate::rules::certificate::TrustAnchors;
use crate::store::{CertificateEntry, Store, StoredPerson};

mod admin;
mod api;
pub mod console;
pub mod error;
mod exchange;
pub mod facility;
pub mod faults;
mod json;
pub mod openapi;

pub use error::ApiError;
pub use faults::{Fault, FaultSet, Faults};

/// Requests larger than this are refused with 413 before they are parsed: a
/// certificate and a signature fit in a few kilobytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A time as the JSON answers write it.
fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// How the service behaves, fixed at start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The admin API's bearer token; `None` leaves the admin API open, which
    /// is only allowed on loopback.
    pub admin_token: Option<String>,
    /// The admin console's password when there is no admin token (which
    /// the console accepts otherwise); with neither, nobody can log in.
    pub console_password: Option<String>,
    /// How long a challenge may be redeemed after it is issued.
    pub challenge_lifetime: time::Duration,
    /// Scales registration times (1.0 real time; 0.001 turns 15 s into 15 ms).
    pub time_factor: f64,
    /// The simulated processing time of a registration (typically ~15 s).
    pub registration_processing: time::Duration,
    /// The encoding and character rules of responses when a request does not say.
    pub default_character_code: CharacterCodeIdentifier,
    /// The facility folder of `--oqs-dir`: its card confirmations drop a
    /// face file there (see [`crate::exchange::folder`]).
    pub oqs_folder: Option<crate::exchange::folder::OqsFolder>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            admin_token: None,
            console_password: None,
            challenge_lifetime: crate::rules::challenge::DEFAULT_LIFETIME,
            time_factor: 1.0,
            registration_processing: time::Duration::seconds(15),
            default_character_code: CharacterCodeIdentifier::Utf8,
            oqs_folder: None,
        }
    }
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub clock: ServiceClock,
    pub faults: Faults,
    pub anchors: Arc<TrustAnchors>,
    pub config: Arc<ServiceConfig>,
    /// Certificate verifications and parsed fixtures (see [`crate::caches`]).
    pub caches: Arc<Caches>,
    /// Slots for confirmation work on the blocking pool (see
    /// [`blocking_slots`]).
    pub blocking: Arc<tokio::sync::Semaphore>,
    /// Who is logged in to the admin console.
    pub console: console::Sessions,
    /// Keeps each confirmation's HTTP exchange for the console, off the
    /// confirmation's path.
    pub traces: console::trace::TraceWriter,
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
    /// A service trusting the simulated JPKI's user-authentication CA.
    pub fn new(store: Store, clock: ServiceClock, config: ServiceConfig) -> Result<Self, String> {
        let pki = sim_card::personalize::simulated_jpki().map_err(|e| e.to_string())?;
        let mut anchors = TrustAnchors::new();
        anchors
            .add_der(pki.ca_certificate_der(sim_card::pki::Purpose::UserAuthentication))
            .map_err(|e| e.to_string())?;
        let anchors = Arc::new(anchors);
        let store = Arc::new(store);
        Ok(AppState {
            traces: console::trace::TraceWriter::start(store.clone()),
            store,
            clock,
            faults: Faults::default(),
            caches: Arc::new(Caches::new(anchors.clone())),
            anchors,
            config: Arc::new(config),
            blocking: Arc::new(tokio::sync::Semaphore::new(blocking_slots())),
            console: console::Sessions::default(),
        })
    }
}

/// The whole service as one router.
pub fn router(state: AppState) -> Router {
    let client = api::routes()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            facility::app_channel,
        ))
        .merge(exchange::routes())
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
        .merge(exchange::admin_routes())
        .merge(facility::admin_routes())
        .merge(console::admin_routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            admin::require_token,
        ));
    Router::new()
        .merge(client)
        .merge(admin)
        .merge(console::routes())
        .route("/openapi.json", get(openapi::serve))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
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

/// Issues every person's card and phones (deterministically, as `kazasu card`
/// would) and stores the persons with the fingerprints of all their
/// certificates (the physical card's and each phone's), replacing what was
/// there. Slow-ish (a key derivation per new card): call it off the async
/// threads.
pub fn install_fixtures(state: &AppState, persons: &[InsuredPerson]) -> Result<(), ApiError> {
    let pki = sim_card::personalize::simulated_jpki().map_err(ApiError::internal)?;
    let mut stored = Vec::with_capacity(persons.len());
    let mut certificates = Vec::with_capacity(persons.len());
    for person in persons {
        let invalid = |e: sim_card::personalize::IssueError, what: &str| {
            ApiError::unprocessable("invalid_fixtures", format!("{}{what}: {e}", person.id))
        };
        let profile = &person.card.profile;
        let certificate =
            sim_card::personalize::auth_certificate(profile, &pki).map_err(|e| invalid(e, ""))?;
        certificates.push(CertificateEntry {
            fingerprint: crate::confirmation::fingerprint(&certificate),
            person: person.id.clone(),
            kind: "physical".into(),
            phone: None,
            revoked: profile.certificates.auth.revoked,
        });
        for phone in &person.phones {
            let profile = person.phone_profile(phone);
            let certificate = sim_card::personalize::auth_certificate(&profile, &pki)
                .map_err(|e| invalid(e, &format!(" phone {}", phone.id)))?;
            certificates.push(CertificateEntry {
                fingerprint: crate::confirmation::fingerprint(&certificate),
                person: person.id.clone(),
                kind: phone.variant.name().to_string(),
                phone: Some(phone.id.clone()),
                revoked: phone.certificate.revoked,
            });
        }
        stored.push(StoredPerson {
            id: person.id.clone(),
            fixture: toml::to_string(person).map_err(ApiError::internal)?,
        });
    }
    state.store.replace_fixtures(&stored, &certificates)?;
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` completes: plain HTTP, or
/// HTTPS with `tls`.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<&crate::tls::ServerTls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    match tls {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            let config = axum_server::tls_openssl::OpenSSLConfig::from_pem(
                tls.certificate_pem.as_bytes(),
                tls.private_key_pem.as_bytes(),
            )
            .map_err(std::io::Error::other)?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            axum_server::from_tcp(listener)?
                .acceptor(axum_server::tls_openssl::OpenSSLAcceptor::new(config))
                .handle(handle)
                .serve(app.into_make_service())
                .await
        }
    }
}
