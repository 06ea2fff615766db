//! `kazasu up`: the interactive lab for app developers.
//!
//! One process holds everything an app under development talks to: the mock
//! service (built-in fixtures), a virtual card in the real pcscd through
//! vpcd, and a small control API to do to the card what a tester's hands
//! would (pull it out, put it back, hand over another person's card) and what
//! only a municipality can (lock or reset a PIN). The service's clock and
//! faults stay with the service's own admin API; the control API only
//! forwards to the same in-process state, so that a tester needs one URL.
//!
//! Nothing here authenticates but the service's admin console (`/admin`,
//! with a password printed at start): both listeners are refused beyond
//! loopback, and both take loopback Host names only, refuse pages of other
//! origins and want a JSON content type on state changes
//! (`sim_service::http::guard`), so a web page in the tester's browser can
//! neither pull the card nor read the lab.
//!
//! The card's APDUs are traced; each confirmation the app makes takes the
//! APDUs exchanged since the previous one as its APDU trace, which the
//! console shows next to the confirmation's HTTP exchange.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, bail};
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::{Json, Router, routing};
use clap::Args;
use serde::{Deserialize, Serialize};
use sim_card::card::{Card, PinRef};
use sim_card::personalize::{self, AUTH_PIN, SIGN_PIN, TEXT_PIN};
use sim_card::trace::{SharedTrace, Traced};
use sim_card::transport::vpcd::{self, VPCD_PORT, VpcdControl, VpcdEvent, VpcdOptions};
use sim_service::clock::ServiceClock;
use sim_service::fixtures::{self, InsuredPerson};
use sim_service::http::guard::{self, LocalOnly};
use sim_service::http::{self, ApiError, AppState, FaultSet, ServiceConfig, error};
use sim_service::service::ClockView;
use sim_service::store::Store;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Args)]
pub struct UpArgs {
    /// Where the mock service listens (loopback only; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8787")]
    service_listen: SocketAddr,
    /// Where the lab's control API listens (loopback only; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8788")]
    control_listen: SocketAddr,
    /// The vpcd slot the card goes into, as host:port (slot 0 is 35963, slot 1 35964).
    #[arg(long, default_value = vpcd::DEFAULT_VPCD_ADDR)]
    vpcd: String,
    /// The fixture person whose card is in the reader at start.
    #[arg(long, default_value = "valid")]
    person: String,
    /// The service's SQLite database; without it the lab starts empty and
    /// forgets its history when it stops.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Start with the service clock frozen at this RFC 3339 time.
    #[arg(long)]
    clock: Option<String>,
    /// Another host name the service and the control API answer to
    /// (besides localhost, 127.0.0.0/8 and [::1]), e.g. 10.0.2.2 for the
    /// Android emulator; repeatable.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    /// Scales simulated waits such as the ~15 s registration (0.001 = 15 ms).
    #[arg(long, default_value_t = 1.0)]
    time_factor: f64,
}

/// The lab's state, shared by the control API's handlers.
#[derive(Clone)]
struct Lab {
    /// The card vpcd serves. The link locks it per message only, so the
    /// control API can change PINs or replace the whole card between two
    /// commands without stopping the link.
    card: Arc<Mutex<Traced<Card, SharedTrace>>>,
    control: VpcdControl,
    persons: Arc<Vec<InsuredPerson>>,
    service: AppState,
    status: Arc<Mutex<Status>>,
    info: Arc<Info>,
}

/// What changes while the lab runs, besides the card itself.
struct Status {
    person: String,
    /// The person's phone in the reader, if not their physical card.
    phone: Option<String>,
    /// What the tester asked for: the card in the reader or out of it.
    inserted: bool,
    /// What the link last reported (vpcd may be missing or busy).
    link: String,
}

/// What is fixed at start.
struct Info {
    reader: Option<String>,
    vpcd: String,
    service_url: String,
    control_url: String,
}

/// Locks a mutex even if a handler panicked while holding it: the data are
/// plain values that stay consistent, and the lab must keep answering.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The reader name pcscd gives a slot of Debian's vpcd driver, when the
/// address is one of those slots on this machine.
fn reader_name(vpcd_addr: &str) -> Option<String> {
    let (host, port) = vpcd_addr.rsplit_once(':')?;
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return None;
    }
    let slot = port.parse::<u16>().ok()?.checked_sub(VPCD_PORT)?;
    (slot < 16).then(|| format!("Virtual PCD 00 {slot:02X}"))
}

/// Issues what the reader will hold: a person's physical card, or one of
/// the phones they added it to.
fn issue_card(person: &InsuredPerson, phone: Option<&str>) -> Result<Card, ApiError> {
    let profile = match phone {
        None => person.card.profile.clone(),
        Some(id) => {
            let phone = person.phone(id).ok_or_else(|| {
                let ids: Vec<_> = person.phones.iter().map(|p| p.id.as_str()).collect();
                ApiError::not_found(
                    "unknown_phone",
                    format!("{} has no phone {id:?}; one of {ids:?}", person.id),
                )
            })?;
            person.phone_profile(phone)
        }
    };
    let pki = personalize::simulated_jpki().map_err(ApiError::internal)?;
    let issued = personalize::issue(&profile, &pki).map_err(|e| {
        ApiError::unprocessable("invalid_card", format!("{}'s card: {e}", person.id))
    })?;
    Ok(issued.card)
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    if !(args.time_factor > 0.0 && args.time_factor.is_finite()) {
        bail!("--time-factor must be a positive number");
    }
    for (flag, addr) in [
        ("--service-listen", args.service_listen),
        ("--control-listen", args.control_listen),
    ] {
        if !addr.ip().is_loopback() {
            bail!("{flag} {addr}: the lab has no authentication, so it listens on loopback only");
        }
    }
    let clock = ServiceClock::wall();
    if let Some(at) = &args.clock {
        let at = OffsetDateTime::parse(at, &Rfc3339)
            .context("--clock: an RFC 3339 time, e.g. 2026-12-01T09:00:00+09:00")?;
        clock.freeze(at);
    }
    let persons = fixtures::built_in()?;
    let Some(first) = fixtures::find(&persons, &args.person) else {
        let ids: Vec<_> = persons.iter().map(|p| p.id.as_str()).collect();
        bail!(
            "--person {:?}: no such fixture person; one of {ids:?}",
            args.person
        );
    };
    let card = issue_card(first, None).map_err(|e| anyhow::anyhow!(e.message))?;
    let store = match &args.db {
        Some(path) => Store::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?,
        None => Store::in_memory()?,
    };
    // The console never goes without a password, even on loopback (see
    // sim_service::http::console).
    let mut password = [0u8; 12];
    openssl::rand::rand_bytes(&mut password)?;
    let console_password = hex::encode(password);
    let config = ServiceConfig {
        time_factor: args.time_factor,
        console_password: Some(console_password.clone()),
        allowed_hosts: args.allow_hosts.clone(),
        ..ServiceConfig::default()
    };
    let service = AppState::new(store, clock, config).map_err(anyhow::Error::msg)?;
    service.install_fixtures(&persons)?;

    let service_listener = std::net::TcpListener::bind(args.service_listen)
        .with_context(|| format!("cannot listen on {}", args.service_listen))?;
    let control_listener = std::net::TcpListener::bind(args.control_listen)
        .with_context(|| format!("cannot listen on {}", args.control_listen))?;
    let info = Info {
        reader: reader_name(&args.vpcd),
        vpcd: args.vpcd.clone(),
        service_url: format!("http://{}", service_listener.local_addr()?),
        control_url: format!("http://{}", control_listener.local_addr()?),
    };
    print_banner(&info, &args.person, &console_password);
    let trace = SharedTrace::default();

    let lab = Lab {
        card: Arc::new(Mutex::new(Traced::new(card, trace.clone()))),
        control: VpcdControl::new(),
        persons: Arc::new(persons),
        service: service.clone(),
        status: Arc::new(Mutex::new(Status {
            person: args.person.clone(),
            phone: None,
            inserted: true,
            link: "connecting to vpcd".into(),
        })),
        info: Arc::new(info),
    };

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let events = lab.control.subscribe();
        tokio::spawn(follow_link(events, lab.status.clone()));
        let options = VpcdOptions {
            addr: args.vpcd.clone(),
            ..VpcdOptions::default()
        };
        let link = tokio::spawn(vpcd::run_vpcd(
            lab.card.clone(),
            options,
            lab.control.clone(),
        ));
        let service_task = tokio::spawn(http::serve(
            service_listener,
            http::router(service.clone()).layer(axum::middleware::from_fn_with_state(
                (trace, service),
                attach_apdu_trace,
            )),
            None,
            until_stopped(stopped.clone()),
        ));
        let control_task = tokio::spawn(http::serve(
            control_listener,
            control_router(lab.clone(), LocalOnly::new(&args.allow_hosts)),
            None,
            until_stopped(stopped.clone()),
        ));
        let _ = tokio::signal::ctrl_c().await;
        status!("stopping: the card leaves the reader");
        lab.control.stop();
        let _ = stop.send(true);
        link.await??;
        service_task.await??;
        control_task.await??;
        anyhow::Ok(())
    })
}

/// The most APDUs kept between two confirmations: an app that polls the
/// card for hours without confirming must not grow the trace without bound.
const APDU_TRACE_LIMIT: usize = 2000;

/// Middleware of the lab's service: a confirmation answered (it names its
/// history entry in `x-kazasu-confirmation-id`) takes the card's APDUs since
/// the previous confirmation as its APDU trace.
async fn attach_apdu_trace(
    State((trace, service)): State<(SharedTrace, AppState)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    let Some(id) = response
        .headers()
        .get("x-kazasu-confirmation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return response;
    };
    let records = std::mem::take(&mut *lock(&trace));
    if records.is_empty() {
        // No card exchange since the last confirmation (visual check, or an
        // app that reads the card once): nothing to show.
        return response;
    }
    let skip = records.len().saturating_sub(APDU_TRACE_LIMIT);
    let records = serde_json::to_value(&records[skip..]).unwrap_or_default();
    let kept = service
        .blocking(move |service| service.record_apdu_trace(id, &records))
        .await;
    if kept.is_err() {
        eprintln!("the APDU trace of confirmation {id} was not kept");
    }
    response
}

fn print_banner(info: &Info, person: &str, console_password: &str) {
    let reader = info
        .reader
        .as_deref()
        .map(|r| format!("{r:?}"))
        .unwrap_or_else(|| "(not a vpcd slot of this machine)".into());
    let c = &info.control_url;
    let s = &info.service_url;
    status!("kazasu lab is up");
    status!(
        "  reader   {reader} via vpcd {} ({person:?}'s card)",
        info.vpcd
    );
    status!("  service  {s}");
    status!("  admin    {s}/admin/v1 (clock, faults, fixtures)");
    status!(
        "  console  {s}/admin (password {console_password}): history with APDU and HTTP traces"
    );
    status!("  control  {c}/lab");
    status!("try:");
    status!("  curl {c}/lab");
    status!(
        "  curl -X PUT {c}/lab/card/pin -H 'content-type: application/json' -d '{{\"pin\":\"auth\",\"tries_left\":0}}'"
    );
    status!(
        "  curl -X PUT {c}/lab/card -H 'content-type: application/json' -d '{{\"person\":\"preschool\"}}'"
    );
    status!(
        "  curl -X PUT {c}/lab/card -H 'content-type: application/json' -d '{{\"person\":\"iphone\",\"phone\":\"iphone\"}}' && curl -X POST {c}/lab/card/face-id -H 'content-type: application/json' -d '{{}}'"
    );
    status!("  curl -X POST {c}/lab/card/remove -H 'content-type: application/json'");
    status!(
        "  curl -X PUT {s}/admin/v1/clock -H 'content-type: application/json' -d '{{\"now\":\"2027-02-01T09:00:00+09:00\"}}'"
    );
    status!(
        "  curl -X PUT {s}/admin/v1/faults -H 'content-type: application/json' -d '{{\"endpoints\":{{\"confirmations\":{{\"status\":503}}}}}}'"
    );
    status!("Ctrl-C stops the lab.");
}

/// Keeps the link's last report, so `GET /lab` can tell a card pcscd holds
/// from one still waiting for vpcd.
async fn follow_link(
    mut events: tokio::sync::broadcast::Receiver<VpcdEvent>,
    status: Arc<Mutex<Status>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let link = match &event {
            VpcdEvent::Connected { .. } => {
                "connected; waiting for vpcd to poll (another card in this slot?)".to_string()
            }
            VpcdEvent::Inserted { .. } => "in the reader".to_string(),
            // The link retries every few seconds and logs the first failure
            // itself; printing each retry would bury the banner.
            VpcdEvent::Retrying { error, .. } => {
                lock(&status).link = format!("vpcd not reachable ({error}); retrying");
                continue;
            }
            VpcdEvent::Removed { .. } | VpcdEvent::Stopped => event.to_string(),
        };
        status!("card: {event}");
        lock(&status).link = link;
    }
}

/// The control API. It has no token: like the service's admin API without
/// one, it takes loopback Host names only, no request from a page of a
/// foreign origin, and `application/json` on every POST and PUT (see
/// `sim_service::http::guard`), so no web page can pull the card or read the
/// lab's state.
fn control_router(lab: Lab, local: LocalOnly) -> Router {
    Router::new()
        .route("/lab", routing::get(get_lab))
        .route("/lab/card", routing::put(swap_card))
        .route("/lab/card/remove", routing::post(remove_card))
        .route("/lab/card/insert", routing::post(insert_card))
        .route("/lab/card/pin", routing::put(set_pin))
        .route("/lab/card/face-id", routing::post(face_id))
        .route("/lab/clock", routing::put(set_clock))
        .route("/lab/faults", routing::put(set_faults))
        .layer(axum::middleware::map_response(error::uniform))
        .layer(axum::middleware::from_fn_with_state(
            local,
            guard::local_api,
        ))
        .with_state(lab)
}

#[derive(Serialize)]
struct LabView {
    person: String,
    /// The person's phone in the reader (absent: their physical card).
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    /// What is in the reader: `physical-contact`, `android`, `iphone`, ….
    variant: &'static str,
    description: String,
    /// Whether the tester wants the card in the reader.
    inserted: bool,
    /// What the vpcd link last reported.
    link: String,
    reader: Option<String>,
    vpcd: String,
    pins: PinsView,
    service: String,
    admin: String,
    clock: ClockView,
    faults: FaultSet,
}

#[derive(Serialize)]
struct PinsView {
    auth: Option<u8>,
    sign: Option<u8>,
    text: Option<u8>,
}

fn view(lab: &Lab) -> LabView {
    let (pins, variant) = {
        let traced = lock(&lab.card);
        let card = traced.card();
        let pins = PinsView {
            auth: card.pin_tries_left(AUTH_PIN),
            sign: card.pin_tries_left(SIGN_PIN),
            text: card.pin_tries_left(TEXT_PIN),
        };
        (pins, card.variant().name())
    };
    let status = lock(&lab.status);
    let description = fixtures::find(&lab.persons, &status.person)
        .map(|p| p.description.clone())
        .unwrap_or_default();
    LabView {
        person: status.person.clone(),
        phone: status.phone.clone(),
        variant,
        description,
        inserted: status.inserted,
        link: status.link.clone(),
        reader: lab.info.reader.clone(),
        vpcd: lab.info.vpcd.clone(),
        pins,
        service: lab.info.service_url.clone(),
        admin: format!("{}/admin/v1", lab.info.service_url),
        clock: lab.service.clock_view(),
        faults: lab.service.faults.get(),
    }
}

async fn get_lab(State(lab): State<Lab>) -> Json<LabView> {
    Json(view(&lab))
}

async fn remove_card(State(lab): State<Lab>) -> Json<LabView> {
    lock(&lab.status).inserted = false;
    lab.control.remove();
    Json(view(&lab))
}

async fn insert_card(State(lab): State<Lab>) -> Json<LabView> {
    lock(&lab.status).inserted = true;
    lab.control.insert();
    Json(view(&lab))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapCard {
    person: String,
    /// One of the person's phones (`[[person.phone]]`, or added through
    /// `POST /admin/v1/persons/{id}/phones`) instead of their physical card.
    #[serde(default)]
    phone: Option<String>,
}

/// How long a swapped card stays out of the reader. vpcd looks for a card
/// every 400 ms; a card taken out and put straight back between two looks is,
/// for pcscd, the same card that never left, and the app would keep its
/// session on a card whose files changed under it.
const SWAP_HOLD: std::time::Duration = std::time::Duration::from_millis(1200);

/// Hands the tester another person's card: the old card leaves the reader,
/// the new one is issued afresh (PINs at their profile's tries) into the
/// shared card, and goes in once pcscd has seen the reader empty, so pcscd
/// and the app see a new card. The answer comes when the card is back in.
/// A reader the tester emptied (`POST /lab/card/remove`) stays empty: the
/// new card waits in the tester's hand for `POST /lab/card/insert`, as a
/// card handed over at the counter waits to be held to the reader.
async fn swap_card(
    State(lab): State<Lab>,
    body: Result<Json<SwapCard>, JsonRejection>,
) -> Result<Json<LabView>, ApiError> {
    let Json(body) = body?;
    // The service's record, which knows phones added since the start.
    let stored = lab
        .service
        .store
        .person(&body.person)?
        .and_then(|stored| toml::from_str::<InsuredPerson>(&stored.fixture).ok());
    let Some(person) = stored.or_else(|| fixtures::find(&lab.persons, &body.person).cloned())
    else {
        let ids: Vec<_> = lab.persons.iter().map(|p| p.id.as_str()).collect();
        return Err(ApiError::not_found(
            "unknown_person",
            format!("no fixture person {:?}; one of {ids:?}", body.person),
        ));
    };
    let phone = body.phone.clone();
    let was_inserted = lock(&lab.status).inserted;
    lab.control.remove();
    let out_since = tokio::time::Instant::now();
    // Issuing derives keys: off the async threads.
    let issued = tokio::task::spawn_blocking(move || issue_card(&person, phone.as_deref()))
        .await
        .map_err(ApiError::internal)
        .and_then(|issued| issued);
    let card = match issued {
        Ok(card) => card,
        Err(error) => {
            // The old card goes back as it was.
            if was_inserted {
                lab.control.insert();
            }
            return Err(error);
        }
    };
    *lock(&lab.card).card_mut() = card;
    {
        let mut status = lock(&lab.status);
        status.person = body.person;
        status.phone = body.phone;
    }
    if was_inserted {
        tokio::time::sleep_until(out_since + SWAP_HOLD).await;
        lab.control.insert();
    }
    Ok(Json(view(&lab)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaceId {
    /// How long ago the patient authenticated (default: just now).
    #[serde(default)]
    seconds_ago: u64,
}

/// The patient authenticates on the iPhone in the reader (Face ID / Touch
/// ID): it signs for the phone's window from then on.
async fn face_id(
    State(lab): State<Lab>,
    body: Result<Json<FaceId>, JsonRejection>,
) -> Result<Json<LabView>, ApiError> {
    let Json(body) = body?;
    let at = std::time::Instant::now()
        .checked_sub(std::time::Duration::from_secs(body.seconds_ago))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_field",
                "seconds_ago: too far back for this machine",
            )
        })?;
    if !lock(&lab.card).card_mut().authenticate_holder(at) {
        return Err(ApiError::unprocessable(
            "not_an_iphone",
            "only an iPhone authenticates its holder: PUT /lab/card with an iPhone phone first",
        ));
    }
    Ok(Json(view(&lab)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPin {
    /// `auth`, `sign` or `text`.
    pin: String,
    /// 0 locks the PIN; its maximum (or more) resets it.
    tries_left: u8,
}

/// Sets a PIN's tries left, as the municipality's counter can and no reader
/// can: lock it to see the app's lock guidance, reset it to go on.
async fn set_pin(
    State(lab): State<Lab>,
    body: Result<Json<SetPin>, JsonRejection>,
) -> Result<Json<LabView>, ApiError> {
    let Json(body) = body?;
    let pin: PinRef = match body.pin.as_str() {
        "auth" => AUTH_PIN,
        "sign" => SIGN_PIN,
        "text" => TEXT_PIN,
        other => {
            return Err(ApiError::unprocessable(
                "unknown_pin",
                format!("pin {other:?}: one of \"auth\", \"sign\", \"text\""),
            ));
        }
    };
    if !lock(&lab.card)
        .card_mut()
        .set_pin_tries_left(pin, body.tries_left)
    {
        return Err(ApiError::internal(format!(
            "the card has no {} PIN",
            body.pin
        )));
    }
    Ok(Json(view(&lab)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClock {
    /// RFC 3339, e.g. `2027-02-01T09:00:00+09:00`.
    now: String,
    /// Stand still at `now` (default) or keep ticking from it.
    #[serde(default = "yes")]
    frozen: bool,
}

fn yes() -> bool {
    true
}

/// The same as the service's `PUT /admin/v1/clock`, for one-URL convenience.
async fn set_clock(
    State(lab): State<Lab>,
    body: Result<Json<SetClock>, JsonRejection>,
) -> Result<Json<LabView>, ApiError> {
    let Json(body) = body?;
    let at = OffsetDateTime::parse(&body.now, &Rfc3339).map_err(|e| {
        ApiError::unprocessable("invalid_time", format!("now: not an RFC 3339 time: {e}"))
    })?;
    lab.service.set_clock(at, body.frozen);
    Ok(Json(view(&lab)))
}

/// The same as the service's `PUT /admin/v1/faults`, for one-URL convenience.
async fn set_faults(
    State(lab): State<Lab>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<LabView>, ApiError> {
    let Json(body) = body?;
    let faults =
        FaultSet::from_json(body).map_err(|e| ApiError::unprocessable("invalid_fault", e))?;
    lab.service.faults.set(faults);
    Ok(Json(view(&lab)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_names_of_vpcd_slots() {
        assert_eq!(
            reader_name("127.0.0.1:35963").as_deref(),
            Some("Virtual PCD 00 00")
        );
        assert_eq!(
            reader_name("127.0.0.1:35964").as_deref(),
            Some("Virtual PCD 00 01")
        );
        assert_eq!(reader_name("127.0.0.1:80"), None);
        assert_eq!(reader_name("10.0.0.1:35963"), None);
        assert_eq!(reader_name("nonsense"), None);
    }
}
