//! The mock service as the service benches (`service_load`, `soak`) run it:
//! in this process, as `kazasu service` builds it (SQLite in WAL mode on a
//! throwaway file, the built-in fixtures, the clock frozen on the day they
//! are designed around), served on 127.0.0.1 with the service's own
//! `serve`; and the client's side of a PIN confirmation, the card's
//! certificate and key.
//!
//! Both benches set the service up the same way so that their figures
//! describe the same service; each keeps its own load and report.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use sim_card::keys::{AUTH_KEY_LABEL, RsaKey};
use sim_card::mynumber;
use sim_service::clock::ServiceClock;
use sim_service::fixtures::{self, InsuredPerson};
use sim_service::http::{AppState, ServiceConfig, serve};
use sim_service::store::Store;
use tokio::sync::oneshot;

/// The facility every bench confirmation is made at.
pub const FACILITY: &str = "0110000001";
/// The day the built-in fixtures are designed around.
pub const CLOCK: &str = "2026-12-01T10:00:00+09:00";
/// The person confirmed: a physical card with a valid qualification, so each
/// confirmation shows qualification information and is written to the
/// history like a real front desk's.
pub const PERSON: &str = "valid";

/// The service behind its HTTP edge, the fixtures it was given, and the
/// card of [`PERSON`] a client confirms with.
pub struct BenchService {
    pub state: AppState,
    pub persons: Vec<InsuredPerson>,
    pub card: Arc<ClientCard>,
}

impl BenchService {
    /// The service on the database file `db` with the built-in fixtures, its
    /// clock frozen at [`CLOCK`]; the card's key is derived here, before
    /// anything is timed.
    pub fn start(db: &Path) -> anyhow::Result<BenchService> {
        let store = Store::open(db).with_context(|| format!("open {}", db.display()))?;
        let clock = ServiceClock::wall();
        clock.freeze(time::OffsetDateTime::parse(
            CLOCK,
            &time::format_description::well_known::Rfc3339,
        )?);
        let state =
            AppState::new(store, clock, ServiceConfig::default()).map_err(|e| anyhow!(e))?;
        let persons = fixtures::built_in()?;
        state.install_fixtures(&persons)?;
        let person = fixtures::find(&persons, PERSON).context("the built-in person `valid`")?;
        let card = Arc::new(ClientCard::of(person)?);
        Ok(BenchService {
            state,
            persons,
            card,
        })
    }
}

/// The client's side of a confirmation: the card's auth certificate and key.
/// The key stays inside: a bench signs challenges, as the card would, and
/// does nothing else with it.
pub struct ClientCard {
    certificate: Vec<u8>,
    certificate_b64: String,
    key: RsaKey,
}

impl ClientCard {
    /// The physical card of a fixture person, as the simulated JPKI issues it.
    pub fn of(person: &InsuredPerson) -> anyhow::Result<ClientCard> {
        let profile = &person.card.profile;
        let pki = sim_card::personalize::simulated_jpki()?;
        let certificate = sim_card::personalize::auth_certificate(profile, &pki)?;
        Ok(ClientCard {
            certificate_b64: BASE64.encode(&certificate),
            certificate,
            key: RsaKey::derive(&profile.seed, AUTH_KEY_LABEL),
        })
    }

    /// The user-authentication certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// The certificate as a request carries it (base64), encoded once.
    pub fn certificate_b64(&self) -> &str {
        &self.certificate_b64
    }

    /// What COMPUTE DIGITAL SIGNATURE returns for this challenge after VERIFY.
    pub fn sign(&self, challenge: &[u8]) -> anyhow::Result<Vec<u8>> {
        let digest_info = mynumber::sha256_digest_info(&openssl::sha::sha256(challenge));
        Ok(self.key.sign_digest_info(&digest_info)?)
    }
}

/// The answer to `POST /v1/challenges`.
#[derive(Deserialize)]
pub struct IssuedChallenge {
    pub challenge_id: String,
    /// The nonce, base64.
    pub challenge: String,
}

/// An HTTP client for one load connection: keep-alive, and never a proxy
/// from the environment between the load and the loopback server.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// A router served on 127.0.0.1 with the service's own `serve`, on a
/// runtime of the caller's.
pub struct LoopbackServer {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl LoopbackServer {
    /// Starts `app` on a free loopback port, on `runtime`.
    pub fn start(runtime: &tokio::runtime::Runtime, app: Router) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = serve(listener, app, None, shutdown).await {
                eprintln!("server on {addr}: {e}");
            }
        });
        Ok(LoopbackServer { addr, stop, task })
    }

    /// Stops the server and waits for it (bounded: the load's connections
    /// are closed by then, so the graceful shutdown is quick).
    pub fn stop(self, runtime: &tokio::runtime::Runtime) {
        let _ = self.stop.send(());
        runtime.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        });
    }
}

/// The `p` quantile (0 to 1, nearest rank) of sorted latencies in
/// microseconds, in milliseconds; NaN when there are none.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted_us[i]) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted = [1000, 2000, 3000, 4000, 5000];
        assert_eq!(percentile_ms(&sorted, 0.0), 1.0);
        assert_eq!(percentile_ms(&sorted, 0.5), 3.0);
        assert_eq!(percentile_ms(&sorted, 1.0), 5.0);
        assert!(percentile_ms(&[], 0.5).is_nan());
    }
}
