//! The app's flow for one patient: identity check, card read, confirmation,
//! and what the screen tells the staff afterwards.
//!
//! The rules it keeps, from the manuals (docs/service-rules.md: Identity check,
//! Registration, When confirmation cannot be done):
//! - visual confirmation needs the card's photo, and sends no PIN at all;
//! - the PIN's tries left are read first (the empty VERIFY costs nothing),
//!   and a locked PIN is never tried;
//! - a PIN is sent once: a wrong PIN is reported with the tries left, never
//!   retried by the app;
//! - an iPhone authenticates on the phone (Face ID): the app sends it no PIN,
//!   not even an empty VERIFY, and a phone that wants authenticating (6982)
//!   or shows no card (6A82: not opened in Wallet) is the patient's to fix;
//! - an Android phone's certificate is read only after its PIN (myna's order):
//!   VERIFY, then the signature and EF 000A;
//! - an unregistered physical card is registered on the spot only with the
//!   patient's consent; phones register through Mynaportal;
//! - when confirmation is impossible, the staff is told the other means.
//!
//! Every path ends in a [`ClientOutcome`]; nothing here panics on what a card
//! or the service answers, and the PIN appears in no outcome or message.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::card::{self, CardFault, PinVerdict, Signed};
use super::service::{Presentation, RegistrationAnswer, ServiceClient, ServiceFailure};
use super::{CardChannel, CardError, CheckInputs, ClientOutcome, Method, OutcomeKind};

/// What the staff can fall back on when the card cannot confirm (§8).
pub const OTHER_MEANS: &str = "資格確認書、マイナポータルの資格情報画面（またはそのPDF）とマイナンバーカード、又はマイナンバーカードと「資格情報のお知らせ」で資格を確認してください。";

pub const MSG_VISUAL_NOT_POSSIBLE: &str =
    "顔写真のないカードは目視確認できません。暗証番号で確認してください。";
pub const MSG_CARD_REMOVED: &str = "カードが読み取り中に離されました。もう一度かざしてください。";
pub const MSG_AUTHENTICATE_ON_PHONE: &str = "iPhoneでの生体認証（Face ID / Touch ID）が必要です。患者にウォレットでマイナンバーカードを表示して認証してもらい、もう一度かざしてください。";
pub const MSG_OPEN_IN_WALLET: &str = "iPhoneにマイナンバーカードが表示されていません。患者にApple ウォレットでマイナンバーカードを表示してもらってから、もう一度かざしてください。カードを追加していない場合（15歳未満は追加できません）は、マイナンバーカード（カード本体）で資格確認してください。";
pub const MSG_NOT_ON_ANDROID: &str = "このスマートフォンにはマイナンバーカードが追加されていません（15歳未満は追加できません）。マイナンバーカード（カード本体）で資格確認してください。";
pub const BANNER_PRESCHOOL: &str = "義務教育就学前";
pub const BANNER_EXPIRING: &str = "3か月以内に証明書が失効します";
pub const BANNER_GRACE: &str = "電子証明書の有効期限切れ（猶予期間中：資格情報のみ確認できます）";
pub const BANNER_INVALID: &str = "この資格は無効です";
pub const BANNER_NONE: &str = "該当資格なし";
pub const BANNER_SEVERAL: &str = "複数該当";

/// The service's code for a card not registered for health-insurance use.
const NOT_REGISTERED: &str = "KZE110";

/// An outcome with only a kind and a message.
pub fn outcome(kind: OutcomeKind, message: impl Into<String>) -> ClientOutcome {
    ClientOutcome {
        outcome: kind,
        message: message.into(),
        validity: None,
        processing_result_code: None,
        banners: Vec::new(),
        tries_left: None,
        result: None,
    }
}

/// What the staff sees when a step ends the check early (boxed: an outcome
/// is large, and most steps succeed).
type Step<T> = Result<T, Box<ClientOutcome>>;

/// One check, as the app does it: see the module documentation.
pub fn check(
    card: &mut dyn CardChannel,
    service: &ServiceClient,
    inputs: &CheckInputs,
) -> ClientOutcome {
    if let Some(refusal) = before_the_card(inputs) {
        return refusal;
    }
    let mut timed = card::TimedChannel::new(card, Duration::from_millis(inputs.card_timeout_ms));
    let mut ongoing = CheckInProgress {
        card: &mut timed,
        service,
        inputs,
        timeout: Duration::from_millis(inputs.timeout_ms),
        connected: false,
    };
    let result = ongoing.run();
    ongoing.card.disconnect();
    result.unwrap_or_else(|stop| *stop)
}

/// What is refused before the card is touched: visual confirmation of a
/// photo-less card, and a PIN method without a (well-formed) PIN.
pub fn before_the_card(inputs: &CheckInputs) -> Option<ClientOutcome> {
    match inputs.method {
        Method::Visual if !inputs.card_has_photo => Some(outcome(
            OutcomeKind::VisualNotPossible,
            MSG_VISUAL_NOT_POSSIBLE,
        )),
        Method::Pin | Method::Android => match inputs.pin.as_deref() {
            None | Some("") => Some(outcome(
                OutcomeKind::PinRequired,
                "暗証番号（数字4桁）を患者に入力してもらってください。",
            )),
            // The app's keypad takes 4 digits only; anything else would cost
            // the patient a try for nothing.
            Some(pin) if !is_four_digits(pin) => Some(outcome(
                OutcomeKind::PinRequired,
                "暗証番号は数字4桁です。患者にもう一度入力してもらってください。",
            )),
            Some(_) => None,
        },
        _ => None,
    }
}

fn is_four_digits(pin: &str) -> bool {
    pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// The method's name in the API.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Visual => "visual",
        Method::Pin => "pin",
        Method::Iphone => "iphone",
        Method::Android => "android",
    }
}

/// One check under way: the card and the service it talks to, the staff's
/// and the patient's inputs, and whether the card is powered yet (not a
/// session of the service: the terminal channel has none, and the app
/// channel's is the token `app::sign_in` gets).
struct CheckInProgress<'a> {
    card: &'a mut dyn CardChannel,
    service: &'a ServiceClient,
    inputs: &'a CheckInputs,
    timeout: Duration,
    connected: bool,
}

impl CheckInProgress<'_> {
    fn run(&mut self) -> Step<ClientOutcome> {
        self.card
            .connect()
            .map_err(|e| Box::new(self.card_stop(e.into())))?;
        self.connected = true;
        match card::select_jpki(&mut *self.card) {
            Ok(()) => {}
            Err(CardFault::NoJpkiApplet) if self.on_phone() => {
                return Err(Box::new(card_not_on_phone(self.inputs.method)));
            }
            Err(fault) => return Err(Box::new(self.card_stop(fault))),
        }
        let (certificate, presentation) = match self.inputs.method {
            Method::Visual => {
                let certificate = self.on_card(card::read_auth_certificate)?;
                let presentation = self.presentation(&certificate, None, None);
                (certificate, presentation)
            }
            Method::Pin | Method::Android => self.pin_read()?,
            Method::Iphone => self.phone_read()?,
        };
        let result = self.confirm(&presentation)?;
        self.interpret(result, &certificate, true)
    }

    /// The PIN flow: tries left, a challenge, one VERIFY, the signature, the
    /// certificate.
    fn pin_read(&mut self) -> Step<(Vec<u8>, Presentation)> {
        let tries = self.on_card(card::auth_pin_tries_left)?;
        if tries == 0 {
            return Err(Box::new(self.locked(false)));
        }
        // The challenge comes before the VERIFY: a service that does not
        // answer must not cost the patient a try.
        let challenge = self.service.challenge(self.timeout).map_err(service_stop)?;
        let pin = self.inputs.pin.as_deref().unwrap_or_default();
        match self.on_card(|c| card::verify_pin(c, pin))? {
            PinVerdict::Verified => {}
            PinVerdict::Wrong(left) => return Err(Box::new(wrong_pin(left))),
            PinVerdict::Locked => return Err(Box::new(self.locked(true))),
        }
        if self.inputs.reselect_before_sign {
            self.on_card(card::select_jpki)?;
        }
        let signature = self.sign(&challenge.nonce)?;
        let certificate = self.on_card(card::read_auth_certificate)?;
        let presentation = self.presentation(&certificate, Some((challenge.id, signature)), None);
        Ok((certificate, presentation))
    }

    /// The iPhone flow: the phone signs after Face ID; no PIN is sent.
    fn phone_read(&mut self) -> Step<(Vec<u8>, Presentation)> {
        let challenge = self.service.challenge(self.timeout).map_err(service_stop)?;
        let signature = self.sign(&challenge.nonce)?;
        let certificate = self.on_card(card::read_auth_certificate)?;
        let presentation = self.presentation(&certificate, Some((challenge.id, signature)), None);
        Ok((certificate, presentation))
    }

    /// Signs a challenge with the auth key. A 6982 means the card (or the
    /// phone) wants authenticating again: the app does not send the PIN a
    /// second time on its own.
    fn sign(&mut self, nonce: &[u8]) -> Step<Vec<u8>> {
        match self.on_card(|c| card::sign_challenge(c, nonce))? {
            Signed::Signature(s) => Ok(s),
            Signed::NeedsAuthentication if self.inputs.method == Method::Iphone => Err(Box::new(
                outcome(OutcomeKind::AuthenticateOnPhone, MSG_AUTHENTICATE_ON_PHONE),
            )),
            Signed::NeedsAuthentication => Err(Box::new(outcome(
                OutcomeKind::CardError,
                "カードが暗証番号の再入力を求めています（6982）。最初からもう一度読み取ってください。",
            ))),
        }
    }

    /// A presentation for the service; signed when `signed` is given.
    fn presentation(
        &self,
        certificate: &[u8],
        signed: Option<(String, Vec<u8>)>,
        consent: Option<bool>,
    ) -> Presentation {
        let (challenge_id, signature) = match signed {
            Some((id, signature)) => (Some(id), Some(BASE64.encode(signature))),
            None => (None, None),
        };
        Presentation {
            medical_institution_code: self.inputs.facility.clone(),
            device: self.inputs.device.clone(),
            method: method_name(self.inputs.method),
            certificate: BASE64.encode(certificate),
            challenge_id,
            signature,
            consent,
        }
    }

    /// A fresh presentation of the card already read: a new challenge and a
    /// new signature for the signing methods, without a new VERIFY (the
    /// card's security state holds for the session).
    fn present_again(&mut self, certificate: &[u8], consent: Option<bool>) -> Step<Presentation> {
        if self.inputs.method == Method::Visual {
            return Ok(self.presentation(certificate, None, consent));
        }
        let challenge = self.service.challenge(self.timeout).map_err(service_stop)?;
        let signature = self.sign(&challenge.nonce)?;
        Ok(self.presentation(certificate, Some((challenge.id, signature)), consent))
    }

    fn confirm(&self, presentation: &Presentation) -> Step<Value> {
        self.service
            .confirm(presentation, self.timeout)
            .map_err(service_stop)
    }

    /// The service's answer, as the result screen shows it.
    fn interpret(
        &mut self,
        result: Value,
        certificate: &[u8],
        may_register: bool,
    ) -> Step<ClientOutcome> {
        let body = &result["MessageBody"];
        let header = &result["MessageHeader"];
        if text(header, "SegmentOfResult") == Some("9") {
            let code = text(header, "ErrorCode").unwrap_or_default();
            let message = text(header, "ErrorMessage").unwrap_or_default();
            let kind = if code == "KZF903" {
                OutcomeKind::Maintenance
            } else {
                OutcomeKind::ServiceError
            };
            let mut o = outcome(kind, format!("{message}（{code}）{OTHER_MEANS}"));
            o.processing_result_code = (!code.is_empty()).then(|| code.to_string());
            o.result = Some(result);
            return Ok(o);
        }
        match text(body, "ProcessingResultStatus") {
            Some("1") => Ok(confirmed(result)),
            Some("2") => {
                let code = text(body, "ProcessingResultCode").unwrap_or_default();
                if code == NOT_REGISTERED && may_register {
                    self.not_registered(result, certificate)
                } else {
                    Ok(refused(result, self.inputs.method))
                }
            }
            other => Ok(outcome(
                OutcomeKind::ServiceError,
                format!(
                    "資格確認サービスの応答を読み取れません（ProcessingResultStatus {}）。{OTHER_MEANS}",
                    other.unwrap_or("なし")
                ),
            )),
        }
    }

    /// KZE110: offer registration; register with consent, then confirm.
    fn not_registered(&mut self, result: Value, certificate: &[u8]) -> Step<ClientOutcome> {
        let method = self.inputs.method;
        let mut not_registered = refused(result, method);
        not_registered.outcome = OutcomeKind::NotRegistered;
        if matches!(method, Method::Iphone | Method::Android) {
            not_registered.message = "このスマートフォンは健康保険証利用登録がされていません。マイナポータルで利用登録をしてもらうか、マイナンバーカード（カード本体）で資格確認してください。".into();
            return Ok(not_registered);
        }
        if !self.inputs.consent_to_register {
            not_registered.message = "マイナンバーカードの健康保険証利用登録がされていません。患者の同意があれば、この場で利用登録できます（約15秒）。".into();
            return Ok(not_registered);
        }
        let presentation = self.present_again(certificate, Some(true))?;
        let answer = match self.service.register(&presentation, self.timeout) {
            Ok(answer) => answer,
            Err(ServiceFailure::Maintenance { message, .. }) => {
                return Ok(outcome(
                    OutcomeKind::Maintenance,
                    format!(
                        "健康保険証利用登録は毎日午前3時から午前6時までご利用いただけません。時間をおいてもう一度お試しください。（{message}）{OTHER_MEANS}"
                    ),
                ));
            }
            Err(other) => return Err(service_stop(other)),
        };
        match answer {
            RegistrationAnswer::Accepted { completes_at, .. } => Ok(outcome(
                OutcomeKind::RegistrationPending,
                format!(
                    "健康保険証利用登録を受け付けました。処理に時間が掛かっているため、数分以内に完了します（{completes_at}）。完了後にもう一度かざしてください。"
                ),
            )),
            RegistrationAnswer::Registered { .. } => {
                let presentation = self.present_again(certificate, None)?;
                let result = self.confirm(&presentation)?;
                let mut after = self.interpret(result, certificate, false)?;
                match after.outcome {
                    OutcomeKind::Confirmed => {
                        after.outcome = OutcomeKind::Registered;
                        after.message =
                            format!("健康保険証利用登録が完了しました。{}", after.message);
                    }
                    // Registered, but the service does not show it yet: say
                    // so rather than "not registered", and do not loop.
                    OutcomeKind::Refused
                        if after.processing_result_code.as_deref() == Some(NOT_REGISTERED) =>
                    {
                        after.outcome = OutcomeKind::RegistrationPending;
                        after.message = "健康保険証利用登録は完了しましたが、まだ反映されていません。しばらくしてからもう一度かざしてください。".into();
                    }
                    _ => {}
                }
                Ok(after)
            }
        }
    }

    /// Whether the patient holds a phone (the staff chose iPhone or Android).
    fn on_phone(&self) -> bool {
        matches!(self.inputs.method, Method::Iphone | Method::Android)
    }

    /// Runs a card step; its failure becomes the outcome.
    fn on_card<T>(
        &mut self,
        step: impl FnOnce(&mut dyn CardChannel) -> Result<T, CardFault>,
    ) -> Step<T> {
        step(&mut *self.card).map_err(|fault| Box::new(self.card_stop(fault)))
    }

    fn card_stop(&self, fault: CardFault) -> ClientOutcome {
        match fault {
            CardFault::Channel(CardError::Removed) => {
                outcome(OutcomeKind::CardRemoved, MSG_CARD_REMOVED)
            }
            CardFault::Channel(CardError::NoCard) if self.connected => {
                outcome(OutcomeKind::CardRemoved, MSG_CARD_REMOVED)
            }
            CardFault::Channel(CardError::NoAnswer { limit_ms }) => outcome(
                OutcomeKind::CardError,
                format!(
                    "カードが応答しません（{limit_ms} ms 以内に応答がありませんでした）。カードをかざし直してください。続く場合はカードリーダーを確認するか、{OTHER_MEANS}"
                ),
            ),
            CardFault::Channel(CardError::NoCard) => outcome(
                OutcomeKind::CardError,
                "カードリーダーにカードがありません。カードをかざしてください。",
            ),
            other => outcome(
                OutcomeKind::CardError,
                format!("カードを読み取れませんでした: {other}"),
            ),
        }
    }

    /// The PIN is locked: now (the wrong PIN used the last try) or already.
    fn locked(&self, now: bool) -> ClientOutcome {
        let when = if now {
            "暗証番号を3回誤ったため、ロックされました（locked now）。"
        } else {
            "暗証番号はロックされています。"
        };
        let unlock = if self.inputs.method == Method::Android {
            "スマートフォン用電子証明書の暗証番号のロックは、マイナポータルアプリで解除できます。"
        } else {
            "ロックの解除は住民票のある市区町村の窓口でのみできます。"
        };
        let mut o = outcome(
            OutcomeKind::PinLocked,
            format!(
                "{when}目視確認（顔写真付きのマイナンバーカード）又はその他の方法に切り替えてください。{unlock}{OTHER_MEANS}"
            ),
        );
        o.tries_left = Some(0);
        o
    }
}

/// A phone with no JPKI applet: the card is not opened in Wallet (iPhone) or
/// not on the phone at all.
fn card_not_on_phone(method: Method) -> ClientOutcome {
    let message = if method == Method::Iphone {
        MSG_OPEN_IN_WALLET
    } else {
        MSG_NOT_ON_ANDROID
    };
    outcome(OutcomeKind::CardNotOnPhone, message)
}

fn wrong_pin(left: u8) -> ClientOutcome {
    let mut o = outcome(
        OutcomeKind::WrongPin,
        format!(
            "暗証番号が違います（残り{left}回）。3回誤るとロックされます。患者にもう一度入力してもらい、カードをかざし直してください。"
        ),
    );
    o.tries_left = Some(left);
    o
}

pub(super) fn service_stop(failure: ServiceFailure) -> Box<ClientOutcome> {
    Box::new(match failure {
        ServiceFailure::Maintenance { code, message } => outcome(
            OutcomeKind::Maintenance,
            format!(
                "資格確認サービスはメンテナンス中です（{code}: {message}）。時間をおいてもう一度お試しください。{OTHER_MEANS}"
            ),
        ),
        ServiceFailure::Timeout(after) => outcome(
            OutcomeKind::Timeout,
            format!(
                "資格確認サービスから応答がありません（{} ms）。ネットワークを確認してもう一度お試しください。{OTHER_MEANS}",
                after.as_millis()
            ),
        ),
        ServiceFailure::Failed(detail) => outcome(
            OutcomeKind::ServiceError,
            format!("資格確認サービスでエラーが発生しました（{detail}）。{OTHER_MEANS}"),
        ),
        ServiceFailure::AppRefused { code, message } => app_refused(&code, &message),
    })
}

fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// The results of an outcome (ResultList).
pub fn results(result: &Value) -> &[Value] {
    result["MessageBody"]["ResultList"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// ProcessingResultStatus 1: a result, with its banners.
fn confirmed(result: Value) -> ClientOutcome {
    let body = &result["MessageBody"];
    let validity = text(body, "QualificationValidity").map(str::to_string);
    let code = text(body, "ProcessingResultCode")
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let notice = text(body, "ProcessingResultMessage").unwrap_or_default();
    let banners = banners(&result);
    let headline = match validity.as_deref() {
        Some("1") => "資格が有効です。",
        Some("2") => "この資格は無効です。",
        Some("3") => "この資格は無効です（新しい資格があります）。",
        Some("4") => "該当資格なし：保険者が資格情報を登録していません。",
        Some("5") => "複数該当：複数の資格情報が見つかりました。",
        Some("6") => "医療扶助の資格があります。",
        _ => "資格確認結果を受け取りました。",
    };
    let mut message = headline.to_string();
    if !notice.is_empty() {
        message.push_str(notice);
    }
    if matches!(validity.as_deref(), Some("2" | "3" | "4")) {
        message.push_str(OTHER_MEANS);
    }
    ClientOutcome {
        outcome: OutcomeKind::Confirmed,
        message,
        validity,
        processing_result_code: code,
        banners,
        tries_left: None,
        result: Some(result),
    }
}

/// The banners the result screen shows for a result.
pub fn banners(result: &Value) -> Vec<String> {
    let body = &result["MessageBody"];
    let mut banners = Vec::new();
    if results(result)
        .iter()
        .any(|r| text(r, "PreschoolClassification") == Some("1"))
    {
        banners.push(BANNER_PRESCHOOL);
    }
    match text(body, "ProcessingResultCode") {
        Some("KZN001") => banners.push(BANNER_EXPIRING),
        Some("KZN002") => banners.push(BANNER_GRACE),
        _ => {}
    }
    match text(body, "QualificationValidity") {
        Some("2" | "3") => banners.push(BANNER_INVALID),
        Some("4") => banners.push(BANNER_NONE),
        Some("5") => banners.push(BANNER_SEVERAL),
        _ => {}
    }
    banners.into_iter().map(str::to_string).collect()
}

/// ProcessingResultStatus 2: no result; the reason, and what to do.
fn refused(result: Value, method: Method) -> ClientOutcome {
    let body = &result["MessageBody"];
    let code = text(body, "ProcessingResultCode").unwrap_or_default();
    let reason = text(body, "ProcessingResultMessage").unwrap_or_default();
    let advice = match code {
        "KZE102" => {
            "カードの電子証明書の有効期限が切れています。住民票のある市区町村の窓口で更新手続きをしてもらってください。"
        }
        "KZE103" => {
            "スマートフォン用電子証明書の有効期限が切れています（猶予期間はありません）。マイナンバーカード（カード本体）で資格確認してください。"
        }
        "KZE101" => "電子証明書が失効しています。",
        "KZE107" => {
            "このスマートフォンの電子証明書は、別のスマートフォンにカードが追加されたため使えません。新しいスマートフォン又はマイナンバーカード（カード本体）で資格確認してください。"
        }
        "KZE108" => {
            "15歳未満の方はスマートフォン用電子証明書を利用できません。マイナンバーカード（カード本体）で資格確認してください。"
        }
        _ => "",
    };
    // A phone refused for an expired certificate can still use the card.
    let advice = if code == "KZE102" && matches!(method, Method::Iphone | Method::Android) {
        "スマートフォン用電子証明書の有効期限が切れています。マイナンバーカード（カード本体）で資格確認してください。"
    } else {
        advice
    };
    let mut o = outcome(
        OutcomeKind::Refused,
        format!("資格確認できませんでした（{code}）。{reason}{advice}{OTHER_MEANS}"),
    );
    o.processing_result_code = (!code.is_empty()).then(|| code.to_string());
    o.result = Some(result);
    o
}

/// The staff's message for a refusal of the app channel (`KZA…`): what the
/// administrator or the staff does next.
fn app_refused(code: &str, message: &str) -> ClientOutcome {
    let advice = match code {
        "KZA001" => {
            "管理者に環境設定情報（外来診療等(通常とは異なる動線)機能）を「利用する」に変更するよう依頼してください。"
        }
        "KZA003" => "アクティベーションコードは発行から10分程度経過してから利用してください。",
        "KZA004" | "KZA005" | "KZA015" | "KZA016" => {
            "管理者に新しいアクティベーションコードの発行を依頼し、端末を登録し直してください。"
        }
        "KZA007" => "30分経過してから再度ログインしてください。",
        "KZA009" => "資格確認端末からオンライン資格確認等システムに一度ログインしてください。",
        "KZA017" => "再度ログインしてください。",
        _ => "入力内容を確認してください。",
    };
    let mut o = outcome(
        OutcomeKind::AppRefused,
        format!("マイナ資格確認アプリを利用できません（{code}: {message}）。{advice}"),
    );
    o.processing_result_code = Some(code.to_string());
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inputs(method: Method, pin: Option<&str>) -> CheckInputs {
        CheckInputs {
            method,
            pin: pin.map(str::to_string),
            consent_to_register: false,
            card_has_photo: true,
            facility: super::super::default_facility(),
            device: "test".into(),
            timeout_ms: 1000,
            card_timeout_ms: 1000,
            reselect_before_sign: false,
        }
    }

    #[test]
    fn refusals_before_the_card() {
        let mut no_photo = inputs(Method::Visual, None);
        no_photo.card_has_photo = false;
        assert_eq!(
            before_the_card(&no_photo).map(|o| o.outcome),
            Some(OutcomeKind::VisualNotPossible)
        );
        assert_eq!(
            before_the_card(&inputs(Method::Pin, None)).map(|o| o.outcome),
            Some(OutcomeKind::PinRequired)
        );
        assert_eq!(
            before_the_card(&inputs(Method::Android, Some("12345"))).map(|o| o.outcome),
            Some(OutcomeKind::PinRequired)
        );
        assert_eq!(before_the_card(&inputs(Method::Pin, Some("1234"))), None);
        assert_eq!(before_the_card(&inputs(Method::Iphone, None)), None);
    }

    #[test]
    fn banners_from_the_result() {
        let r = json!({"MessageBody": {
            "ProcessingResultStatus": "1", "QualificationValidity": "1",
            "ProcessingResultCode": "KZN001",
            "ResultList": [{"PreschoolClassification": "1"}]}});
        assert_eq!(banners(&r), [BANNER_PRESCHOOL, BANNER_EXPIRING]);
        let r = json!({"MessageBody": {"QualificationValidity": "3"}});
        assert_eq!(banners(&r), [BANNER_INVALID]);
        let r = json!({"MessageBody": {"QualificationValidity": "5"}});
        assert_eq!(banners(&r), [BANNER_SEVERAL]);
        assert!(banners(&json!(null)).is_empty());
    }

    #[test]
    fn a_refusal_names_the_code_and_the_other_means() {
        let r = json!({"MessageBody": {"ProcessingResultStatus": "2",
            "ProcessingResultCode": "KZE103", "ProcessingResultMessage": "x"}});
        let o = refused(r, Method::Iphone);
        assert_eq!(o.processing_result_code.as_deref(), Some("KZE103"));
        assert!(o.message.contains("カード本体"));
        assert!(o.message.contains("資格確認書"));
    }
}
