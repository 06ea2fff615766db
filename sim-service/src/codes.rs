//! The simulator's table of error and notice codes: the one place they live.
//!
//! The real service's codes (別紙6-1 of the interface specification) are not
//! public, so kazasu defines its own. Every code has the prefix `KZ` so that
//! nobody mistakes it for a real one, a level that says where it goes in the
//! response, and the Japanese message a facility sees. Messages are in JIS X
//! 0208 so that a Shift_JIS facility receives them unchanged. The one message
//! quoted from the manuals is the expiry warning; the others are the
//! simulator's wording of what the manuals describe.

use serde::Serialize;

/// Where a code goes in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeLevel {
    /// The qualification is returned, with the code as ProcessingResultCode
    /// and ProcessingResultStatus 1 (正常終了): the expiry warning, grace period.
    Notice,
    /// No qualification is returned: ProcessingResultStatus 2 (エラー) with
    /// the code as ProcessingResultCode. The request itself was processed.
    Refusal,
    /// The request could not be processed: SegmentOfResult 9 (異常終了) with
    /// the code as the header's ErrorCode.
    Failure,
    /// マイナ資格確認アプリ's administration refused (environment setting,
    /// activation code, account, device, session): the HTTP error answer
    /// carries the code; no confirmation is made.
    App,
}

/// One code of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResultCode {
    /// The machine-readable code, e.g. `KZN001`.
    pub code: &'static str,
    pub level: CodeLevel,
    /// The Japanese message, as ProcessingResultMessage or ErrorMessage.
    pub message: &'static str,
    /// What the code means, in English, for logs and documentation.
    pub meaning: &'static str,
}

/// The auth certificate expires within three months (manual wording).
pub const EXPIRY_WARNING: ResultCode = ResultCode {
    code: "KZN001",
    level: CodeLevel::Notice,
    message: "証明書の有効期限が3か月以内となっています。市区町村の窓口で更新手続きをお願いします。",
    meaning: "the user-authentication certificate expires within three months",
};

/// A physical card's certificate has expired but is in its grace period.
pub const GRACE_PERIOD_ONLY: ResultCode = ResultCode {
    code: "KZN002",
    level: CodeLevel::Notice,
    message: "電子証明書の有効期限が切れています。有効期限から3か月後の月末までは資格情報のみ確認できます。市区町村の窓口で更新手続きをお願いします。",
    meaning: "expired physical-card certificate in its grace period: eligibility only",
};

/// The certificate has been revoked (lost card, moved, died).
pub const CERTIFICATE_REVOKED: ResultCode = ResultCode {
    code: "KZE101",
    level: CodeLevel::Refusal,
    message: "電子証明書が失効しているため資格確認できません。資格確認書等で資格を確認してください。",
    meaning: "the user-authentication certificate is revoked",
};

/// A physical card's certificate expired and its grace period has ended.
pub const CERTIFICATE_EXPIRED: ResultCode = ResultCode {
    code: "KZE102",
    level: CodeLevel::Refusal,
    message: "電子証明書の有効期限が切れており、猶予期間も過ぎているため資格確認できません。市区町村の窓口で更新手続きをお願いします。",
    meaning: "physical-card certificate expired and its grace period is over",
};

/// A smartphone certificate has expired (there is no grace period).
pub const PHONE_CERTIFICATE_EXPIRED: ResultCode = ResultCode {
    code: "KZE103",
    level: CodeLevel::Refusal,
    message: "スマートフォン用電子証明書の有効期限が切れています。マイナンバーカードで資格確認を行ってください。",
    meaning: "smartphone certificate expired (no grace period)",
};

/// The certificate does not chain to the user-authentication CA.
pub const CERTIFICATE_UNTRUSTED: ResultCode = ResultCode {
    code: "KZE104",
    level: CodeLevel::Refusal,
    message: "電子証明書を確認できませんでした。",
    meaning: "the certificate does not chain to the JPKI user-authentication CA",
};

/// The signature over the challenge does not verify.
pub const SIGNATURE_INVALID: ResultCode = ResultCode {
    code: "KZE105",
    level: CodeLevel::Refusal,
    message: "電子署名を確認できませんでした。もう一度読み取ってください。",
    meaning: "the signature over the challenge does not verify with the certificate's key",
};

/// The challenge is unknown, already used or too old.
pub const CHALLENGE_INVALID: ResultCode = ResultCode {
    code: "KZE106",
    level: CodeLevel::Refusal,
    message: "読み取りの有効時間を過ぎました。もう一度読み取ってください。",
    meaning: "the challenge is unknown, used, or expired",
};

/// The card was added to another phone since: this phone's smartphone
/// certificate was replaced (one phone per person).
pub const PHONE_CERTIFICATE_REPLACED: ResultCode = ResultCode {
    code: "KZE107",
    level: CodeLevel::Refusal,
    message: "このスマートフォンの電子証明書は、別のスマートフォンへのマイナンバーカードの追加により無効になっています。新しいスマートフォン又はマイナンバーカードで資格確認を行ってください。",
    meaning: "this phone's certificate was replaced by the card on another phone; use the newer phone or the physical card",
};

/// A smartphone certificate of a holder under 15 (none may be issued).
pub const PHONE_HOLDER_UNDER_15: ResultCode = ResultCode {
    code: "KZE108",
    level: CodeLevel::Refusal,
    message: "15歳未満の方はスマートフォン用電子証明書を利用できません。マイナンバーカードで資格確認を行ってください。",
    meaning: "a smartphone certificate of a holder under 15, which is never issued; use the physical card",
};

/// The card is not registered for health-insurance use.
pub const NOT_REGISTERED: ResultCode = ResultCode {
    code: "KZE110",
    level: CodeLevel::Refusal,
    message: "マイナンバーカードの健康保険証利用登録がされていません。",
    meaning: "the card is not registered for health-insurance use (健康保険証利用登録)",
};

/// Registration for health-insurance use is closed (03:00 to 06:00).
pub const REGISTRATION_UNAVAILABLE: ResultCode = ResultCode {
    code: "KZE111",
    level: CodeLevel::Refusal,
    message: "健康保険証利用登録は毎日午前3時から午前6時までご利用いただけません。",
    meaning: "health-insurance-use registration is unavailable 03:00-06:00",
};

/// The service knows nobody with this card or insurance card number.
pub const NO_QUALIFICATION: ResultCode = ResultCode {
    code: "KZN003",
    level: CodeLevel::Notice,
    message: "該当する資格情報がありません。",
    meaning: "no qualification found (QualificationValidity 4)",
};

/// The request file cannot be read.
pub const MALFORMED_REQUEST: ResultCode = ResultCode {
    code: "KZF901",
    level: CodeLevel::Failure,
    message: "要求ファイルの形式に誤りがあります。",
    meaning: "the request is not a well-formed, acceptable request",
};

/// The facility code is not known to the service.
pub const UNKNOWN_FACILITY: ResultCode = ResultCode {
    code: "KZF902",
    level: CodeLevel::Failure,
    message: "医療機関等コードが登録されていません。",
    meaning: "the medical institution code is not registered",
};

/// The service is down for maintenance.
pub const SERVICE_UNAVAILABLE: ResultCode = ResultCode {
    code: "KZF903",
    level: CodeLevel::Failure,
    message: "システムメンテナンス中のため処理できません。",
    meaning: "the service is unavailable (maintenance)",
};

/// A 照会番号 registration names a qualification nobody holds.
pub const REFERENCE_NUMBER_NO_QUALIFICATION: ResultCode = ResultCode {
    code: "KZE120",
    level: CodeLevel::Refusal,
    message: "照会番号の登録対象となる資格情報が見つかりません。",
    meaning: "reference number registration: no qualification matches",
};

/// A 照会番号 registration matches several persons (記号 or 枝番 omitted).
pub const REFERENCE_NUMBER_AMBIGUOUS: ResultCode = ResultCode {
    code: "KZE121",
    level: CodeLevel::Refusal,
    message: "照会番号の登録対象となる資格情報が複数あります。記号及び枝番を指定してください。",
    meaning: "reference number registration: several persons match",
};

/// The facility already registered this 照会番号 for another person.
pub const REFERENCE_NUMBER_IN_USE: ResultCode = ResultCode {
    code: "KZE122",
    level: CodeLevel::Refusal,
    message: "この照会番号は既に別の方に登録されています。",
    meaning: "reference number registration: the number belongs to another person",
};

/// A request file is larger than the service reads.
pub const REQUEST_TOO_LARGE: ResultCode = ResultCode {
    code: "KZF904",
    level: CodeLevel::Failure,
    message: "要求ファイルの容量が上限を超えています。",
    meaning: "the request file is too large",
};

/// The facility has not turned on 外来診療等(通常とは異なる動線)機能.
pub const APP_OUTPATIENT_FLOW_OFF: ResultCode = ResultCode {
    code: "KZA001",
    level: CodeLevel::App,
    message: "外来診療等(通常とは異なる動線)機能が利用しない設定のため、マイナ資格確認アプリを利用できません。管理者に環境設定情報の変更を依頼してください。",
    meaning: "the facility's environment setting 外来診療等(通常とは異なる動線)機能 is off: the app cannot be used",
};

/// The activation code is not one the facility issued.
pub const APP_ACTIVATION_CODE_UNKNOWN: ResultCode = ResultCode {
    code: "KZA002",
    level: CodeLevel::App,
    message: "アクティベーションコードが正しくありません。",
    meaning: "no such activation code at the facility",
};

/// The activation code was issued too recently.
pub const APP_ACTIVATION_CODE_NOT_YET_USABLE: ResultCode = ResultCode {
    code: "KZA003",
    level: CodeLevel::App,
    message: "アクティベーションコードはまだ利用できません。発行から10分程度経過してから利用してください。",
    meaning: "the activation code has not matured yet (usable about 10 minutes after issue)",
};

/// The activation code is already bound to a device.
pub const APP_ACTIVATION_CODE_USED: ResultCode = ResultCode {
    code: "KZA004",
    level: CodeLevel::App,
    message: "このアクティベーションコードは既に別の端末で登録されています。",
    meaning: "the activation code is already bound to a device",
};

/// The administrator invalidated the activation code.
pub const APP_ACTIVATION_CODE_INVALIDATED: ResultCode = ResultCode {
    code: "KZA005",
    level: CodeLevel::App,
    message: "このアクティベーションコードは無効化されています。管理者に新しいアクティベーションコードの発行を依頼してください。",
    meaning: "the activation code was invalidated",
};

/// Wrong user ID or password.
pub const APP_BAD_CREDENTIALS: ResultCode = ResultCode {
    code: "KZA006",
    level: CodeLevel::App,
    message: "ユーザIDまたはパスワードが正しくありません。",
    meaning: "wrong user ID or password",
};

/// The account is locked after wrong passwords.
pub const APP_ACCOUNT_LOCKED: ResultCode = ResultCode {
    code: "KZA007",
    level: CodeLevel::App,
    message: "パスワードを5回間違えたため、アカウントがロックされています。30分後に再度ログインしてください。",
    meaning: "the account is locked for 30 minutes after 5 wrong passwords",
};

/// The account's start date is in the future.
pub const APP_ACCOUNT_NOT_STARTED: ResultCode = ResultCode {
    code: "KZA008",
    level: CodeLevel::App,
    message: "アカウントの利用開始年月日前のため、ログインできません。",
    meaning: "the account's start date has not come",
};

/// The account has not made its first system login.
pub const APP_FIRST_SYSTEM_LOGIN_REQUIRED: ResultCode = ResultCode {
    code: "KZA009",
    level: CodeLevel::App,
    message: "一度もオンライン資格確認等システムにログインしていないアカウントのため、アプリを利用できません。資格確認端末からログインしてください。",
    meaning: "the account never logged in to the system: the app refuses it",
};

/// The password breaks the policy.
pub const APP_PASSWORD_POLICY: ResultCode = ResultCode {
    code: "KZA010",
    level: CodeLevel::App,
    message: "パスワードは英大文字、英小文字、数字、記号をそれぞれ1文字以上含む8文字以上20文字以下で入力してください。",
    meaning: "the password breaks the policy (8-20 characters, upper, lower, digit, symbol)",
};

/// A field is invalid.
pub const APP_INVALID_FIELD: ResultCode = ResultCode {
    code: "KZA011",
    level: CodeLevel::App,
    message: "入力内容に誤りがあります。",
    meaning: "a field of the request is invalid (user ID, memo, name...)",
};

/// The user ID is taken.
pub const APP_ACCOUNT_EXISTS: ResultCode = ResultCode {
    code: "KZA012",
    level: CodeLevel::App,
    message: "このユーザIDは既に登録されています。",
    meaning: "the facility already has an account with this user ID",
};

/// No such account.
pub const APP_ACCOUNT_UNKNOWN: ResultCode = ResultCode {
    code: "KZA013",
    level: CodeLevel::App,
    message: "アカウントが登録されていません。",
    meaning: "no such account at the facility",
};

/// The device is not registered.
pub const APP_DEVICE_UNKNOWN: ResultCode = ResultCode {
    code: "KZA014",
    level: CodeLevel::App,
    message: "この端末は登録されていません。アクティベーションコードで端末を登録してください。",
    meaning: "the device is not registered at the facility",
};

/// The device was deregistered.
pub const APP_DEVICE_DEREGISTERED: ResultCode = ResultCode {
    code: "KZA015",
    level: CodeLevel::App,
    message: "この端末は登録解除されています。",
    meaning: "the device was deregistered",
};

/// The device's activation code was invalidated.
pub const APP_DEVICE_INVALIDATED: ResultCode = ResultCode {
    code: "KZA016",
    level: CodeLevel::App,
    message: "この端末のアクティベーションコードは無効化されています。",
    meaning: "the device's activation code was invalidated",
};

/// The session is not live.
pub const APP_SESSION_INVALID: ResultCode = ResultCode {
    code: "KZA017",
    level: CodeLevel::App,
    message: "ログインの有効期間が切れました。再度ログインしてください。",
    meaning: "the app session is unknown, logged out or expired",
};

/// Another facility than the session's.
pub const APP_FACILITY_MISMATCH: ResultCode = ResultCode {
    code: "KZA018",
    level: CodeLevel::App,
    message: "ログイン中の医療機関等コードと異なります。",
    meaning: "the request names another facility than the session's",
};

/// No such notice.
pub const APP_NOTICE_UNKNOWN: ResultCode = ResultCode {
    code: "KZA019",
    level: CodeLevel::App,
    message: "お知らせが見つかりません。",
    meaning: "no such notice",
};

/// Every code, in table order.
pub const ALL: &[&ResultCode] = &[
    &EXPIRY_WARNING,
    &GRACE_PERIOD_ONLY,
    &NO_QUALIFICATION,
    &CERTIFICATE_REVOKED,
    &CERTIFICATE_EXPIRED,
    &PHONE_CERTIFICATE_EXPIRED,
    &CERTIFICATE_UNTRUSTED,
    &SIGNATURE_INVALID,
    &CHALLENGE_INVALID,
    &PHONE_CERTIFICATE_REPLACED,
    &PHONE_HOLDER_UNDER_15,
    &NOT_REGISTERED,
    &REGISTRATION_UNAVAILABLE,
    &REFERENCE_NUMBER_NO_QUALIFICATION,
    &REFERENCE_NUMBER_AMBIGUOUS,
    &REFERENCE_NUMBER_IN_USE,
    &MALFORMED_REQUEST,
    &UNKNOWN_FACILITY,
    &SERVICE_UNAVAILABLE,
    &REQUEST_TOO_LARGE,
    &APP_OUTPATIENT_FLOW_OFF,
    &APP_ACTIVATION_CODE_UNKNOWN,
    &APP_ACTIVATION_CODE_NOT_YET_USABLE,
    &APP_ACTIVATION_CODE_USED,
    &APP_ACTIVATION_CODE_INVALIDATED,
    &APP_BAD_CREDENTIALS,
    &APP_ACCOUNT_LOCKED,
    &APP_ACCOUNT_NOT_STARTED,
    &APP_FIRST_SYSTEM_LOGIN_REQUIRED,
    &APP_PASSWORD_POLICY,
    &APP_INVALID_FIELD,
    &APP_ACCOUNT_EXISTS,
    &APP_ACCOUNT_UNKNOWN,
    &APP_DEVICE_UNKNOWN,
    &APP_DEVICE_DEREGISTERED,
    &APP_DEVICE_INVALIDATED,
    &APP_SESSION_INVALID,
    &APP_FACILITY_MISMATCH,
    &APP_NOTICE_UNKNOWN,
];

/// A code by its value.
pub fn by_code(code: &str) -> Option<&'static ResultCode> {
    ALL.iter().copied().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_carry_their_level_in_the_name() {
        let mut seen = std::collections::HashSet::new();
        for code in ALL {
            assert!(seen.insert(code.code), "duplicate {}", code.code);
            let letter = match code.level {
                CodeLevel::Notice => 'N',
                CodeLevel::Refusal => 'E',
                CodeLevel::Failure => 'F',
                CodeLevel::App => 'A',
            };
            assert!(code.code.starts_with("KZ"), "{}", code.code);
            assert_eq!(code.code.chars().nth(2), Some(letter), "{}", code.code);
            assert_eq!(by_code(code.code), Some(*code));
        }
    }

    #[test]
    fn the_expiry_warning_is_the_manuals_wording() {
        assert_eq!(
            EXPIRY_WARNING.message,
            "証明書の有効期限が3か月以内となっています。市区町村の窓口で更新手続きをお願いします。"
        );
    }

    #[test]
    fn every_message_survives_a_shift_jis_facility_unchanged() {
        for code in ALL {
            assert_eq!(
                crate::charset::as_level_1_2(code.message),
                code.message,
                "{}",
                code.code
            );
        }
    }
}
