//! Stories: a scenario as steps over time (`[[step]]`), each an action and
//! what that step must show.
//!
//! The rules of the manuals are often about time and about what happens
//! between two checks: an account locked at 29 minutes and free at 30, a
//! certificate usable at 23:59:59 and refused a second later, a PIN locked,
//! reset at the municipality and working again. One check at one instant
//! cannot show them; a story can. Each step is one thing someone does (the
//! client holds the card, the lab's hands take it out, the administrator
//! changes a setting, the receipt computer drops a file, the clock moves),
//! and its `expect` is checked right after it, with the same expectations as
//! a one-check scenario.
//!
//! A step is one flat table: `action` names what happens and the few fields
//! that action takes sit beside it. Which field goes with which action is
//! checked when the file is loaded ([`check_steps`]), so a misplaced field
//! is an error naming the step's line, not a silently ignored key.
//!
//! ```toml
//! [[step]]
//! action = "hold"
//! pin = "9999"
//! expect = { outcome = "wrong-pin", tries_left = 2 }
//!
//! [[step]]
//! action = "advance-clock"
//! seconds = 1800
//! ```

use serde::{Deserialize, Serialize};
use sim_service::model::CharacterCodeIdentifier;

use super::format::{Expectations, ReferenceNumberSetup};
use crate::client::Method;

/// One step of a story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("examples" = examples()))]
pub struct Step {
    /// What happens in this step.
    pub action: Action,
    /// `hold`: the PIN the patient types this time (default: `client.pin`).
    /// `add-phone`: the Android phone's own PIN, set as the card is added
    /// (default: the card's auth PIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// `hold`: the confirmation method this time (default: `client.method`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// `hold`: whether the patient agrees to register if asked (default:
    /// `client.consent_to_register`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_to_register: Option<bool>,
    /// `set-clock`: the service clock from now on, RFC 3339 with its offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// `advance-clock`: how far the service clock moves, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
    /// `swap-card`: the person whose card is held now. `revoke-certificate`,
    /// `add-phone`: whose card (default: the held card's person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// `swap-card`: what is held (`physical-contact`, `physical-contactless`,
    /// `android`, `iphone`), as `card.variant`. `add-phone`: the new
    /// phone's kind, `android` or `iphone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub variant: Option<sim_card::variant::Variant>,
    /// `swap-card`: which of the person's phones, by its id.
    /// `revoke-certificate`: the phone whose certificate is revoked (default:
    /// the physical card's). `add-phone`: the new phone's id (default
    /// `<variant>-<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `add-phone`: the smartphone certificate's last day, `YYYY-MM-DD`
    /// (default: the card's own certificate's last day). Its first day is
    /// the day the card is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// `wrong-passwords`: how many wrong passwords the staff types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// The staff account: `create-account` creates it (required); `hold`
    /// signs in to the app with it; `lock-account`, `unlock-account`,
    /// `wrong-passwords` act on it (default: `facility.user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `create-account`: its password (required); `hold`: the password the
    /// staff signs in with (default: `facility.password`, or the password
    /// `create-account` gave `user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `create-account`: whether the account logs in to the system once on
    /// the confirmation terminal (default true; the app refuses one that
    /// never did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_login: Option<bool>,
    /// `issue-activation-code`: the new code's memo (端末識別メモ情報,
    /// default: the client's device's). When it is the client's device's,
    /// that device is set up again with the new code at the next hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// `environment`: 外来診療等(通常とは異なる動線)機能 on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outpatient_flow: Option<bool>,
    /// `notice`: the title of the notice the administrator posts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `receipt-request`: the facility's character code (文字コード識別), the
    /// request file's and the answer's encoding: `UTF-8` or `Shift_JIS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub character_code: Option<String>,
    /// `receipt-request`: the person asked about (default: the held card's),
    /// one of the scenario's own or a built-in person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// `faults-on`: the faults, as `service.faults` takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<serde_json::Value>,
    /// `register-reference-number`: the 照会番号 registered, as
    /// `[[service.reference_numbers]]` takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<ReferenceNumberSetup>,
    /// What this step must show. Only a `hold` has a client outcome; every
    /// step can check the card (`card`), the history (`history_count`,
    /// `history_search`); a hold, a `receipt-request` and a
    /// `receipt-download` the XmlMsg the facility received (`xml`); after a
    /// hold, the conformance rules.
    #[serde(default)]
    pub expect: Expectations,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The client checks the card in the reader (the patient holds it).
    Hold,
    /// The service clock jumps to `at` (frozen there).
    SetClock,
    /// The service clock moves `seconds` on.
    AdvanceClock,
    /// The lab's hands take the card out of the reader.
    RemoveCard,
    /// The lab's hands put the card taken out back.
    InsertCard,
    /// Another card (`person`, `variant`, `phone`) is held from now on.
    SwapCard,
    /// The PIN is locked (tries at 0), as three wrong PINs elsewhere would.
    LockPin,
    /// The municipality resets the PIN: its tries are full again.
    ResetPin,
    /// The patient authenticates with Face ID on the iPhone now.
    FaceId,
    /// The municipality revokes a certificate (lost card, moved, died): the
    /// physical card's, or `phone`'s. The card itself cannot know; the
    /// service refuses it (`KZE101`) from now on.
    RevokeCertificate,
    /// The patient adds their card to a new phone (`variant`, `phone`,
    /// `pin`, `not_after`) and holds it from now on; their older phones'
    /// certificates are no longer valid (one phone per person).
    AddPhone,
    /// The staff types `count` wrong passwords for the account (5 lock it).
    WrongPasswords,
    /// The account is locked as 5 wrong passwords typed elsewhere would
    /// lock it: for 30 minutes of the service clock from now.
    LockAccount,
    /// The administrator unlocks the account before its 30 minutes are over.
    UnlockAccount,
    /// The administrator creates a staff account (`user_id`, `password`),
    /// starting today, that logged in to the system once unless
    /// `system_login = false`.
    CreateAccount,
    /// The administrator turns the environment setting on or off.
    Environment,
    /// The administrator invalidates the activation code of the client's device.
    InvalidateActivationCode,
    /// The administrator issues an activation code (`memo`); the client's
    /// device, when the memo is its, is set up again with it.
    IssueActivationCode,
    /// The administrator posts a notice (`title`).
    Notice,
    /// The receipt computer drops an `OQSsiquc01req` (insurance card
    /// confirmation for `about`, default the held card's person) in the
    /// folder and reads the answer file.
    ReceiptRequest,
    /// The receipt computer downloads the facility's results
    /// (資格確認限定型レセコン連携): it is enrolled, logs in with its password
    /// and the authenticator app's TOTP code of the service clock, lists
    /// the results kept and downloads each as XmlMsg.
    ReceiptDownload,
    /// A receipt computer registers a 照会番号 (`OQSsiimm01req`).
    RegisterReferenceNumber,
    /// Faults on, as `service.faults` takes them.
    FaultsOn,
    /// Every fault off.
    FaultsOff,
}

impl Action {
    /// The name as scenario files write it.
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(name)) => name,
            _ => format!("{self:?}"),
        }
    }
}

/// One step per action, as the JSON Schema shows them to editors (and
/// scenarios/README.md to people): each loads and passes [`check_steps`] in
/// a scenario with a `[facility]`.
fn examples() -> serde_json::Value {
    serde_json::json!([
        {"action": "hold", "pin": "9999", "expect": {"outcome": "wrong-pin", "tries_left": 2}},
        {"action": "set-clock", "at": "2026-10-20T00:00:00+09:00"},
        {"action": "advance-clock", "seconds": 1740},
        {"action": "remove-card"},
        {"action": "insert-card"},
        {"action": "swap-card", "person": "phone-replaced", "phone": "new-iphone"},
        {"action": "lock-pin", "expect": {"card": {"auth_locked": true}}},
        {"action": "reset-pin", "expect": {"card": {"auth_tries_left": 3}}},
        {"action": "face-id"},
        {"action": "revoke-certificate", "expect": {"history_count": 1}},
        {"action": "add-phone", "variant": "iphone", "phone": "new-iphone"},
        {"action": "wrong-passwords", "count": 5},
        {"action": "lock-account"},
        {"action": "unlock-account"},
        {"action": "create-account", "user_id": "staff2", "password": "Kazasu-2nd!"},
        {"action": "environment", "outpatient_flow": false},
        {"action": "invalidate-activation-code"},
        {"action": "issue-activation-code"},
        {"action": "notice", "title": "システムメンテナンスのお知らせ"},
        {"action": "receipt-request", "character_code": "Shift_JIS",
         "expect": {"xml": {"encoding": "Shift_JIS", "fields": {"Name": "草●　●男"}}}},
        {"action": "receipt-download",
         "expect": {"xml": {"documents": 1, "fields": {"Name": "草●　●男"}}}},
        {"action": "register-reference-number",
         "reference_number": {"ReferenceNumber": "C-1", "InsurerNumber": "06139990",
                              "InsuredCardSymbol": "1234", "InsuredIdentificationNumber": "8102"}},
        {"action": "faults-on", "faults": {"maintenance": true}},
        {"action": "faults-off"},
    ])
}

/// A facility's character code by the name its XML declaration carries.
pub fn character_code(name: &str) -> Result<CharacterCodeIdentifier, String> {
    match name {
        "UTF-8" => Ok(CharacterCodeIdentifier::Utf8),
        "Shift_JIS" => Ok(CharacterCodeIdentifier::ShiftJis),
        other => Err(format!("{other:?} is neither \"UTF-8\" nor \"Shift_JIS\"")),
    }
}

/// Which fields each action takes, `(field, required)`.
fn fields_of(action: Action) -> &'static [(&'static str, bool)] {
    match action {
        Action::Hold => &[
            ("pin", false),
            ("method", false),
            ("consent_to_register", false),
            ("user_id", false),
            ("password", false),
        ],
        Action::SetClock => &[("at", true)],
        Action::AdvanceClock => &[("seconds", true)],
        Action::SwapCard => &[("person", false), ("variant", false), ("phone", false)],
        Action::RevokeCertificate => &[("person", false), ("phone", false)],
        Action::AddPhone => &[
            ("person", false),
            ("variant", true),
            ("phone", false),
            ("pin", false),
            ("not_after", false),
        ],
        Action::WrongPasswords => &[("count", true), ("user_id", false)],
        Action::LockAccount | Action::UnlockAccount => &[("user_id", false)],
        Action::CreateAccount => &[
            ("user_id", true),
            ("password", true),
            ("system_login", false),
        ],
        Action::IssueActivationCode => &[("memo", false)],
        Action::Environment => &[("outpatient_flow", true)],
        Action::Notice => &[("title", true)],
        Action::ReceiptRequest => &[("character_code", false), ("about", false)],
        Action::RegisterReferenceNumber => &[("reference_number", true)],
        Action::FaultsOn => &[("faults", true)],
        Action::RemoveCard
        | Action::InsertCard
        | Action::LockPin
        | Action::ResetPin
        | Action::FaceId
        | Action::InvalidateActivationCode
        | Action::ReceiptDownload
        | Action::FaultsOff => &[],
    }
}

/// The names of the action fields a step gives.
fn given(step: &Step) -> Vec<&'static str> {
    let present = [
        ("pin", step.pin.is_some()),
        ("method", step.method.is_some()),
        ("consent_to_register", step.consent_to_register.is_some()),
        ("at", step.at.is_some()),
        ("seconds", step.seconds.is_some()),
        ("person", step.person.is_some()),
        ("variant", step.variant.is_some()),
        ("phone", step.phone.is_some()),
        ("not_after", step.not_after.is_some()),
        ("count", step.count.is_some()),
        ("user_id", step.user_id.is_some()),
        ("password", step.password.is_some()),
        ("system_login", step.system_login.is_some()),
        ("memo", step.memo.is_some()),
        ("outpatient_flow", step.outpatient_flow.is_some()),
        ("title", step.title.is_some()),
        ("character_code", step.character_code.is_some()),
        ("about", step.about.is_some()),
        ("faults", step.faults.is_some()),
        ("reference_number", step.reference_number.is_some()),
    ];
    present
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
}

/// A step's definition is wrong: which step (0-based) and why, naming the
/// field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub index: usize,
    pub message: String,
}

/// Checks what serde cannot: each action's fields, and expectations a step
/// can never meet (a client outcome after anything but a hold).
/// `knows` says whether a person id is the scenario's own or built in.
pub fn check_steps(
    steps: &[Step],
    has_facility: bool,
    knows: &dyn Fn(&str) -> bool,
) -> Result<(), StepError> {
    for (index, step) in steps.iter().enumerate() {
        let fail = |message: String| StepError {
            index,
            message: format!("step {} ({}): {message}", index + 1, step.action.name()),
        };
        let takes = fields_of(step.action);
        for field in given(step) {
            if !takes.iter().any(|(name, _)| *name == field) {
                return Err(fail(format!("{field}: not a field of this action")));
            }
        }
        let present = given(step);
        for (field, required) in takes {
            if *required && !present.contains(field) {
                return Err(fail(format!("{field}: required")));
            }
        }
        if let Some(at) = &step.at {
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .map_err(|e| fail(format!("at: {at:?} is not an RFC 3339 time: {e}")))?;
        }
        if let Some(faults) = &step.faults {
            let set: sim_service::http::FaultSet =
                serde_json::from_value(faults.clone()).map_err(|e| fail(format!("faults: {e}")))?;
            set.validate().map_err(|e| fail(format!("faults: {e}")))?;
        }
        if let Some(code) = &step.character_code {
            character_code(code).map_err(|e| fail(format!("character_code: {e}")))?;
        }
        if let Some(xml) = &step.expect.xml
            && let Some(encoding) = &xml.encoding
        {
            character_code(encoding).map_err(|e| fail(format!("expect.xml.encoding: {e}")))?;
        }
        if let Some(day) = &step.not_after {
            parse_day(day).map_err(|e| fail(format!("not_after: {e}")))?;
        }
        if step.action == Action::AddPhone
            && let Some(variant) = step.variant
            && !variant.is_smartphone()
        {
            return Err(fail(format!(
                "variant: a card is added to a phone (android or iphone), not {variant}"
            )));
        }
        if step.expect.xml.is_some()
            && !matches!(
                step.action,
                Action::Hold | Action::ReceiptRequest | Action::ReceiptDownload
            )
        {
            return Err(fail(
                "expect.xml: only a hold, a receipt-request or a receipt-download receives an XmlMsg"
                    .into(),
            ));
        }
        for (field, id) in [("person", &step.person), ("about", &step.about)] {
            if let Some(id) = id
                && !knows(id)
            {
                return Err(fail(format!(
                    "{field}: no person {id:?} (neither the scenario's own nor built in)"
                )));
            }
        }
        if step.action == Action::SwapCard
            && step.person.is_none()
            && step.variant.is_none()
            && step.phone.is_none()
        {
            return Err(fail("person, variant or phone: required".into()));
        }
        let facility_actions = [
            Action::WrongPasswords,
            Action::LockAccount,
            Action::UnlockAccount,
            Action::InvalidateActivationCode,
            Action::IssueActivationCode,
            Action::CreateAccount,
        ];
        let signs_in = step.user_id.is_some() || step.password.is_some();
        if (facility_actions.contains(&step.action) || signs_in) && !has_facility {
            return Err(fail(
                "needs a [facility] (the account and device it acts on)".into(),
            ));
        }
        if step.action != Action::Hold {
            let e = &step.expect;
            let shown = [
                ("outcome", e.outcome.is_some()),
                ("validity", e.validity.is_some()),
                ("processing_result_code", e.processing_result_code.is_some()),
                ("banners", !e.banners.is_empty()),
                ("tries_left", e.tries_left.is_some()),
                ("fields", !e.fields.is_empty()),
                ("result_count", e.result_count.is_some()),
                ("results", !e.results.is_empty()),
                ("absent", !e.absent.is_empty()),
                ("conformance", !e.conformance.is_empty()),
            ];
            if let Some((field, _)) = shown.iter().find(|(_, on)| *on) {
                return Err(fail(format!(
                    "expect.{field}: only a hold shows a client outcome"
                )));
            }
        }
    }
    Ok(())
}

/// A JST day written `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Result<time::Date, String> {
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| format!("{text:?} is not a YYYY-MM-DD day: {e}"))
}

/// The 1-based line of the `index`th `[[step]]` header in a scenario's text
/// (what a step error points at), or `None` when the steps are written
/// another way (`step = [...]`).
pub fn step_line(text: &str, index: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start();
            line.starts_with("[[step]]")
        })
        .nth(index)
        .map(|(number, _)| number + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Step> {
        #[derive(Deserialize)]
        struct Steps {
            step: Vec<Step>,
        }
        toml::from_str::<Steps>(text).unwrap().step
    }

    #[test]
    fn each_action_takes_its_own_fields() {
        let ok = parse(
            "[[step]]\naction = \"hold\"\npin = \"9999\"\n[[step]]\naction = \"advance-clock\"\nseconds = 60\nexpect = { history_count = 0 }\n",
        );
        assert_eq!(check_steps(&ok, false, &|_| true), Ok(()));
        let cases = [
            (
                "[[step]]\naction = \"advance-clock\"\n",
                "step 1 (advance-clock): seconds: required",
            ),
            (
                "[[step]]\naction = \"hold\"\nseconds = 3\n",
                "step 1 (hold): seconds: not a field",
            ),
            (
                "[[step]]\naction = \"hold\"\n[[step]]\naction = \"set-clock\"\nat = \"tomorrow\"\n",
                "step 2 (set-clock): at: \"tomorrow\"",
            ),
            (
                "[[step]]\naction = \"reset-pin\"\nexpect = { outcome = \"confirmed\" }\n",
                "expect.outcome: only a hold",
            ),
            (
                "[[step]]\naction = \"wrong-passwords\"\ncount = 5\n",
                "needs a [facility]",
            ),
            (
                "[[step]]\naction = \"swap-card\"\n",
                "person, variant or phone",
            ),
            (
                "[[step]]\naction = \"faults-on\"\nfaults = { nonsense = 1 }\n",
                "step 1 (faults-on): faults:",
            ),
            (
                "[[step]]\naction = \"add-phone\"\n",
                "step 1 (add-phone): variant: required",
            ),
            (
                "[[step]]\naction = \"add-phone\"\nvariant = \"physical-contact\"\n",
                "variant: a card is added to a phone",
            ),
            (
                "[[step]]\naction = \"add-phone\"\nvariant = \"iphone\"\nnot_after = \"2030-02-30\"\n",
                "not_after: \"2030-02-30\" is not a YYYY-MM-DD day",
            ),
            (
                "[[step]]\naction = \"revoke-certificate\"\nperson = \"nobody\"\n",
                "person: no person \"nobody\"",
            ),
            (
                "[[step]]\naction = \"receipt-request\"\nabout = \"nobody\"\n",
                "about: no person",
            ),
            (
                "[[step]]\naction = \"create-account\"\nuser_id = \"staff2\"\n",
                "password: required",
            ),
            (
                "[[step]]\naction = \"hold\"\nuser_id = \"staff2\"\n",
                "needs a [facility]",
            ),
            (
                "[[step]]\naction = \"notice\"\ntitle = \"x\"\nexpect = { xml = { encoding = \"UTF-8\" } }\n",
                "expect.xml: only a hold",
            ),
            (
                "[[step]]\naction = \"receipt-download\"\nexpect = { xml = { encoding = \"EUC-JP\" } }\n",
                "expect.xml.encoding: \"EUC-JP\"",
            ),
        ];
        for (text, expected) in cases {
            let error = check_steps(&parse(text), false, &|id| id == "valid").unwrap_err();
            assert!(
                error.message.contains(expected),
                "{text}: {}",
                error.message
            );
        }
    }

    #[test]
    fn the_schema_shows_one_valid_example_per_action() {
        let schema = schemars::schema_for!(Step);
        let schema = serde_json::to_value(&schema).unwrap();
        let examples: Vec<Step> =
            serde_json::from_value(schema["examples"].clone()).expect("the examples are steps");
        let persons = crate::scenario::load::built_in_persons().unwrap();
        let knows = |id: &str| sim_service::fixtures::find(persons, id).is_some();
        assert_eq!(check_steps(&examples, true, &knows), Ok(()));
        // Every action the schema allows has its example, once.
        let actions: Vec<String> = schema["$defs"]["Action"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["const"].as_str().unwrap().to_string())
            .collect();
        let shown: Vec<String> = examples.iter().map(|s| s.action.name()).collect();
        assert_eq!(shown, actions);
    }

    #[test]
    fn a_step_error_points_at_its_header() {
        let text = "name = \"x\"\n[[step]]\naction = \"hold\"\n\n  [[step]]\naction = \"x\"\n";
        assert_eq!(step_line(text, 0), Some(2));
        assert_eq!(step_line(text, 1), Some(5));
        assert_eq!(step_line(text, 2), None);
    }
}
