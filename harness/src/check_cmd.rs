//! `kazasu check`: one eligibility check by the reference client, with a card
//! in a PC/SC reader (or issued in process) and the service at a URL.
//!
//! `--adapter` takes every input from the environment and prints one
//! ClientOutcome JSON object: the contract a vendor's client implements too
//! (harness/ADAPTER.md), so that the scenario runner drives both alike.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kazasu::client::app::{self, AppLogin};
use kazasu::client::in_process::InProcessChannel;
use kazasu::client::misbehave::{self, Misbehaviour};
use kazasu::client::pcsc::DEFAULT_READER;
use kazasu::client::pcsc::PcscChannel;
use kazasu::client::service::ServiceClient;
use kazasu::client::{
    CardChannel, CheckInputs, ClientOutcome, Method, default_card_timeout_ms, default_facility,
    flow, render,
};
use sim_card::personalize;
use sim_card::profile::CardProfile;
use sim_card::trace::{JsonLines, Traced};

pub const DEFAULT_SERVICE: &str = "http://127.0.0.1:8787";
const DEFAULT_DEVICE: &str = "kazasu-reference";
const DEFAULT_TIMEOUT_MS: u64 = 10_000;

#[derive(Args)]
pub struct CheckArgs {
    /// The PC/SC reader holding the card.
    #[arg(long, default_value = DEFAULT_READER)]
    reader: String,
    /// Issue the card in process instead: a built-in sim-card profile name or a profile TOML file.
    #[arg(long, value_name = "PROFILE")]
    in_process_profile: Option<String>,
    /// Write the in-process card's APDU exchanges as JSON lines (PINs masked).
    #[arg(long, requires = "in_process_profile")]
    trace: Option<PathBuf>,
    /// The eligibility service's base URL.
    #[arg(long, default_value = DEFAULT_SERVICE)]
    service: String,
    /// A CA certificate (PEM) to trust for an https service (kazasu service --tls).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// visual, pin, iphone or android [default: pin when a PIN is given, else visual].
    #[arg(long, value_parser = parse_method)]
    method: Option<Method>,
    /// The PIN the patient types (4 digits). Prefer the environment variable: command lines are visible to others.
    #[arg(long, env = "KAZASU_PIN", hide_env_values = true)]
    pin: Option<String>,
    /// The patient consents to registering the card for health-insurance use if it is not.
    #[arg(long)]
    consent: bool,
    /// The card has no photo (issued under age 1): visual confirmation is impossible.
    #[arg(long)]
    no_photo: bool,
    /// 医療機関等コード (10 digits).
    #[arg(long, default_value_t = default_facility())]
    facility: String,
    /// The confirming device's name.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    device: String,
    /// How long to wait for the service, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_MS)]
    timeout_ms: u64,
    /// How long the card may take for one command, in milliseconds.
    #[arg(long, default_value_t = default_card_timeout_ms())]
    card_timeout_ms: u64,
    /// Print the ClientOutcome JSON only.
    #[arg(long)]
    json: bool,
    /// Take every input from KAZASU_* environment variables and print one ClientOutcome JSON object (harness/ADAPTER.md).
    #[arg(long)]
    adapter: bool,
    /// Instead of a check: the facility's result search (資格確認結果検索),
    /// results kept to the end of the following month that showed
    /// qualification information.
    #[arg(long, conflicts_with_all = ["adapter", "in_process_profile", "consent"])]
    history: bool,
    /// With --history: first confirmation date (JST, YYYY-MM-DD) [default: the oldest kept].
    #[arg(long, requires = "history")]
    from: Option<String>,
    /// With --history: last confirmation date (JST, YYYY-MM-DD) [default: today].
    #[arg(long, requires = "history")]
    to: Option<String>,
    /// With --history: only this device's (--device) confirmations.
    #[arg(long, requires = "history")]
    this_device: bool,
    /// The app channel: the staff's user ID. With it the client signs in
    /// (registering the device first with --activation-code) and confirms
    /// with the session.
    #[arg(long, conflicts_with = "history")]
    app_user: Option<String>,
    /// The app channel: the account's password. Prefer the environment variable.
    #[arg(long, env = "KAZASU_APP_PASSWORD", hide_env_values = true)]
    app_password: Option<String>,
    /// The app channel, first start: register this device with the activation code.
    #[arg(long, requires = "app_user")]
    activation_code: Option<String>,
    /// The app channel: the token of this device, printed when it registered.
    #[arg(long, env = "KAZASU_DEVICE_TOKEN", hide_env_values = true)]
    device_token: Option<String>,
    /// Break one rule on purpose (for the runner's own tests).
    #[arg(long, hide = true)]
    misbehave: Option<Misbehaviour>,
}

fn parse_method(text: &str) -> Result<Method, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "visual" => Ok(Method::Visual),
        "pin" => Ok(Method::Pin),
        "iphone" => Ok(Method::Iphone),
        "android" => Ok(Method::Android),
        other => Err(format!("{other:?}: one of visual, pin, iphone, android")),
    }
}

/// Where the card is.
enum CardSource {
    Reader(String),
    InProcess {
        profile: String,
        trace: Option<PathBuf>,
    },
}

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    if args.history {
        return history(&args);
    }
    let (inputs, source, service_url, ca, login) = if args.adapter {
        from_environment(&args)?
    } else {
        let method = args.method.unwrap_or(if args.pin.is_some() {
            Method::Pin
        } else {
            Method::Visual
        });
        let source = match &args.in_process_profile {
            Some(profile) => CardSource::InProcess {
                profile: profile.clone(),
                trace: args.trace.clone(),
            },
            None => CardSource::Reader(args.reader.clone()),
        };
        let inputs = CheckInputs {
            method,
            pin: args.pin.clone(),
            consent_to_register: args.consent,
            card_has_photo: !args.no_photo,
            facility: args.facility.clone(),
            device: args.device.clone(),
            timeout_ms: args.timeout_ms,
            card_timeout_ms: args.card_timeout_ms,
            reselect_before_sign: false,
        };
        let login = match &args.app_user {
            Some(user) => Some(AppLogin {
                user_id: user.clone(),
                password: args.app_password.clone().context(
                    "--app-user needs the password: --app-password or KAZASU_APP_PASSWORD",
                )?,
                activation_code: args.activation_code.clone(),
                device_token: args.device_token.clone(),
            }),
            None => None,
        };
        (inputs, source, args.service.clone(), args.ca.clone(), login)
    };
    let service = service_client(&service_url, ca.as_ref())?;
    let outcome = match &login {
        None => run_check(&source, &service, inputs, args.misbehave)?,
        Some(login) => {
            let timeout = std::time::Duration::from_millis(inputs.timeout_ms);
            match app::sign_in(&service, &inputs.facility, login, timeout) {
                Ok(signed_in) => {
                    if let Some(token) = &signed_in.new_device_token {
                        eprintln!(
                            "device registered; its token for later logins (--device-token or KAZASU_DEVICE_TOKEN): {token}"
                        );
                    }
                    let outcome = run_check(&source, &signed_in.service, inputs, args.misbehave)?;
                    app::with_notices(outcome, &signed_in.notices)
                }
                Err(failure) => app::stop(failure),
            }
        }
    };
    if args.adapter || args.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else {
        print!("{}", render::screen(&outcome));
    }
    Ok(())
}

fn service_client(url: &str, ca: Option<&PathBuf>) -> anyhow::Result<ServiceClient> {
    Ok(match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
            ServiceClient::with_ca(url, &pem)?
        }
        None => ServiceClient::new(url)?,
    })
}

/// `--history`: the result search, as a list (or its JSON).
fn history(args: &CheckArgs) -> anyhow::Result<()> {
    let service = service_client(&args.service, args.ca.as_ref())?;
    let list = service.history(
        &args.facility,
        args.from.as_deref(),
        args.to.as_deref(),
        args.this_device.then_some(args.device.as_str()),
        std::time::Duration::from_millis(args.timeout_ms),
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&list)?);
    } else {
        print!("{}", render::history_list(&list));
    }
    Ok(())
}

/// The adapter contract's inputs (harness/ADAPTER.md).
type Setup = (
    CheckInputs,
    CardSource,
    String,
    Option<PathBuf>,
    Option<AppLogin>,
);

fn from_environment(args: &CheckArgs) -> anyhow::Result<Setup> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let flag = |name: &str, default: bool| -> anyhow::Result<bool> {
        match var(name).as_deref() {
            None => Ok(default),
            Some("1" | "true") => Ok(true),
            Some("0" | "false") => Ok(false),
            Some(other) => anyhow::bail!("{name}={other:?}: 1 or 0"),
        }
    };
    let method = match var("KAZASU_METHOD") {
        Some(m) => parse_method(&m).map_err(|e| anyhow::anyhow!("KAZASU_METHOD: {e}"))?,
        None => anyhow::bail!("KAZASU_METHOD is not set: visual, pin, iphone or android"),
    };
    let timeout_ms = match var("KAZASU_TIMEOUT_MS") {
        Some(t) => t
            .parse()
            .with_context(|| format!("KAZASU_TIMEOUT_MS={t:?}: milliseconds"))?,
        None => DEFAULT_TIMEOUT_MS,
    };
    let card_timeout_ms = match var("KAZASU_CARD_TIMEOUT_MS") {
        Some(t) => t
            .parse()
            .with_context(|| format!("KAZASU_CARD_TIMEOUT_MS={t:?}: milliseconds"))?,
        None => default_card_timeout_ms(),
    };
    let inputs = CheckInputs {
        method,
        // An empty KAZASU_PIN is a PIN typed as nothing, i.e. none.
        pin: var("KAZASU_PIN"),
        consent_to_register: flag("KAZASU_CONSENT", false)?,
        card_has_photo: flag("KAZASU_CARD_HAS_PHOTO", true)?,
        facility: var("KAZASU_FACILITY").unwrap_or_else(default_facility),
        device: var("KAZASU_DEVICE").unwrap_or_else(|| DEFAULT_DEVICE.into()),
        timeout_ms,
        card_timeout_ms,
        reselect_before_sign: false,
    };
    let source = match &args.in_process_profile {
        Some(profile) => CardSource::InProcess {
            profile: profile.clone(),
            trace: args.trace.clone(),
        },
        None => CardSource::Reader(var("KAZASU_READER").unwrap_or_else(|| DEFAULT_READER.into())),
    };
    let service = var("KAZASU_SERVICE_URL").unwrap_or_else(|| DEFAULT_SERVICE.into());
    let login = match var("KAZASU_APP_USER") {
        Some(user_id) => Some(AppLogin {
            user_id,
            password: var("KAZASU_APP_PASSWORD")
                .context("KAZASU_APP_USER is set but KAZASU_APP_PASSWORD is not")?,
            activation_code: var("KAZASU_ACTIVATION_CODE"),
            device_token: var("KAZASU_DEVICE_TOKEN"),
        }),
        None => None,
    };
    Ok((
        inputs,
        source,
        service,
        var("KAZASU_CA").map(PathBuf::from),
        login,
    ))
}

fn run_check(
    source: &CardSource,
    service: &ServiceClient,
    mut inputs: CheckInputs,
    misbehave: Option<Misbehaviour>,
) -> anyhow::Result<ClientOutcome> {
    let go = |card: &mut dyn CardChannel, inputs: &CheckInputs| match misbehave {
        Some(what) => misbehave::check(card, service, inputs, what),
        None => flow::check(card, service, inputs),
    };
    match source {
        CardSource::Reader(name) => Ok(go(&mut PcscChannel::new(name.clone()), &inputs)),
        CardSource::InProcess { profile, trace } => {
            let profile = CardProfile::load(profile)?;
            // In process, the staff's eye is the profile: a photo-less card
            // is photo-less whatever the flags say.
            inputs.card_has_photo &= profile.body.photo;
            let pki = personalize::simulated_jpki()?;
            let card = personalize::issue(&profile, &pki)?.card;
            Ok(match trace {
                Some(path) => {
                    let file = File::create(path)
                        .with_context(|| format!("cannot create the trace {}", path.display()))?;
                    let traced = Traced::new(card, JsonLines(BufWriter::new(file)));
                    go(&mut InProcessChannel::new(traced), &inputs)
                }
                None => go(&mut InProcessChannel::new(card), &inputs),
            })
        }
    }
}
