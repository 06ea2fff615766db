//! `kazasu service`: the mock eligibility service on HTTP(S).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use clap::Args;
use sim_service::after_confirmation::folder::{OqsFolder, POLL_INTERVAL};
use sim_service::clock::ServiceClock;
use sim_service::fixtures;
use sim_service::http::{self, AppState, ServiceConfig};
use sim_service::model::{CharacterCodeIdentifier, MedicalInstitutionCode};
use sim_service::oqs_dir::Watcher;
use sim_service::store::Store;

#[derive(Args)]
pub struct ServiceArgs {
    /// Address to listen on. Beyond loopback the admin API needs a token.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// The SQLite database (created if missing); history survives restarts.
    #[arg(long, default_value = "kazasu-service.db")]
    db: PathBuf,
    /// Fixture TOML file or folder of them (default: the built-in set).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Serve HTTPS with a locally generated CA and server certificate.
    #[arg(long)]
    tls: bool,
    /// Where `--tls` writes the CA certificate a client should trust.
    #[arg(long, default_value = "kazasu-service-ca.pem")]
    tls_ca_out: PathBuf,
    /// The admin API's bearer token (generated and printed when listening
    /// beyond loopback without one).
    #[arg(long, env = "KAZASU_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// The admin console's password (`/admin`) when there is no admin token
    /// (which the console accepts otherwise); generated and printed when
    /// neither is given.
    #[arg(long, env = "KAZASU_CONSOLE_PASSWORD")]
    console_password: Option<String>,
    /// Another host name the service answers to without an admin token
    /// (besides localhost, 127.0.0.0/8 and [::1]), e.g. 10.0.2.2 for the
    /// Android emulator; repeatable. Every other Host is refused, which
    /// keeps DNS-rebinding pages out.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    /// Scales simulated waits such as the ~15 s registration (0.001 = 15 ms).
    #[arg(long, default_value_t = 1.0)]
    time_factor: f64,
    /// Start with the service clock frozen at this RFC 3339 time.
    #[arg(long)]
    clock: Option<String>,
    /// Exchange XML files with a receipt computer through this folder:
    /// answers DIR/req/OQSsiquc01req_<id>.xml and OQSsiimm01req_<id>.xml in
    /// DIR/res, and drops DIR/face/OQSsiquc01res_face_… for each card
    /// confirmation of --oqs-facility (harness/RECEIPT-COMPUTER.md).
    #[arg(long, value_name = "DIR")]
    oqs_dir: Option<PathBuf>,
    /// The facility whose terminal the --oqs-dir folder is.
    #[arg(long, default_value_t = kazasu::client::default_facility(), requires = "oqs_dir")]
    oqs_facility: String,
    /// The folder's CharacterCodeIdentifier: 0 UTF-8, 1 Shift_JIS.
    #[arg(long, default_value = "0", requires = "oqs_dir")]
    oqs_character_code: String,
}

pub fn run(args: ServiceArgs) -> anyhow::Result<()> {
    if !(args.time_factor > 0.0 && args.time_factor.is_finite()) {
        bail!("--time-factor must be a positive number");
    }
    let admin_token = match (&args.admin_token, args.listen.ip().is_loopback()) {
        (Some(token), _) => Some(token.clone()),
        (None, true) => None,
        (None, false) => {
            let mut bytes = [0u8; 16];
            openssl::rand::rand_bytes(&mut bytes)?;
            let token = hex::encode(bytes);
            status!("admin token (Authorization: Bearer …): {token}");
            Some(token)
        }
    };
    // The console never goes without a password, even on loopback: any page
    // the tester's browser opens can reach 127.0.0.1 (see
    // sim_service::http::console).
    let console_password = match (&admin_token, &args.console_password) {
        (Some(_), _) => None,
        (None, Some(password)) => Some(password.clone()),
        (None, None) => {
            let mut bytes = [0u8; 12];
            openssl::rand::rand_bytes(&mut bytes)?;
            Some(hex::encode(bytes))
        }
    };
    let clock = ServiceClock::wall();
    if let Some(at) = &args.clock {
        let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .context("--clock: an RFC 3339 time, e.g. 2026-12-01T09:00:00+09:00")?;
        clock.freeze(at);
    }
    let persons = match &args.fixtures {
        None => fixtures::built_in()?,
        Some(path) if path.is_dir() => fixtures::load_dir(path)?,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            fixtures::parse(&text, &path.display().to_string())?
        }
    };
    let store = Store::open(&args.db)
        .with_context(|| format!("cannot open the database {}", args.db.display()))?;
    let oqs_folder = match &args.oqs_dir {
        Some(dir) => Some(OqsFolder {
            dir: dir.clone(),
            facility: MedicalInstitutionCode::new(&args.oqs_facility)
                .map_err(|e| anyhow::anyhow!("--oqs-facility: {e}"))?,
            character_code: CharacterCodeIdentifier::parse(&args.oqs_character_code)
                .map_err(|e| anyhow::anyhow!("--oqs-character-code: {e}"))?,
        }),
        None => None,
    };
    let config = ServiceConfig {
        admin_token,
        console_password: console_password.clone(),
        time_factor: args.time_factor,
        oqs_folder: oqs_folder.clone(),
        allowed_hosts: args.allow_hosts.clone(),
        https: args.tls,
        ..ServiceConfig::default()
    };
    let state = AppState::new(store, clock, config).map_err(anyhow::Error::msg)?;
    state.install_fixtures(&persons)?;
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watcher = match oqs_folder {
        Some(folder) => {
            let dir = folder.dir.clone();
            let watcher = Watcher::new(folder, state.service.clone())
                .with_context(|| format!("--oqs-dir {}", dir.display()))?;
            status!(
                "exchanging files in {} (req → res, face), polling every {} ms",
                dir.display(),
                POLL_INTERVAL.as_millis()
            );
            Some(watcher.spawn(stop_watching.clone()))
        }
        None => None,
    };

    let tls = if args.tls {
        let names = vec!["localhost".to_string(), args.listen.ip().to_string()];
        let tls = sim_service::tls::server_tls("kazasu-service", &names)?;
        std::fs::write(&args.tls_ca_out, &tls.ca_certificate_pem)
            .with_context(|| format!("cannot write {}", args.tls_ca_out.display()))?;
        Some(tls)
    } else {
        None
    };
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    status!(
        "kazasu service listening on {scheme}://{} ({} persons, database {})",
        listener.local_addr()?,
        persons.len(),
        args.db.display()
    );
    let console = match (&console_password, args.console_password.is_some()) {
        (Some(password), false) => format!("password {password}"),
        (Some(_), true) => "password from --console-password".to_string(),
        (None, _) => "password: the admin token".to_string(),
    };
    status!(
        "admin console: {scheme}://{}/admin ({console})",
        listener.local_addr()?
    );
    if tls.is_some() {
        status!("CA certificate for clients: {}", args.tls_ca_out.display());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let app = http::router(state);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        http::serve(listener, app, tls.as_ref(), shutdown).await
    })?;
    stop_watching.store(true, Ordering::Relaxed);
    if let Some(watcher) = watcher {
        let _ = watcher.join();
    }
    Ok(())
}
