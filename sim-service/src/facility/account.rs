//! Accounts of the facility's staff (一般利用者 or 医療情報閲覧), the password
//! policy, the lockout after wrong passwords, and the first system login
//! that the app requires.
//!
//! Passwords are kept as argon2id PHC strings, never in clear and never in
//! a log line; hashing is deliberately slow, so callers run these functions
//! off the async threads.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use super::{FacilityError, rfc3339};
use crate::clock::jst_date;
use crate::model::MedicalInstitutionCode;
use crate::store::{AccountRow, Store};

/// Wrong passwords in a row that lock the account.
pub const MAX_FAILED_ATTEMPTS: u32 = 5;
/// How long a locked account stays locked (service clock).
pub const LOCK_DURATION: Duration = Duration::minutes(30);
/// The symbols a password may contain (docs/service-rules.md, Facility rules); nothing else
/// outside the ASCII letters and digits is allowed.
pub const PASSWORD_SYMBOLS: &str = "`~!@#$%^&*_{}[]|;'<>,.?-()/";

/// 権限区分.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Role {
    /// 一般利用者: confirms eligibility.
    #[serde(rename = "一般利用者", alias = "general")]
    General,
    /// 医療情報閲覧: also views medical information (with the patient's consent).
    #[serde(rename = "医療情報閲覧", alias = "medical-information")]
    MedicalInformation,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::General => "一般利用者",
            Role::MedicalInformation => "医療情報閲覧",
        }
    }

    fn parse(label: &str) -> Option<Role> {
        [Role::General, Role::MedicalInformation]
            .into_iter()
            .find(|r| r.label() == label)
    }
}

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// An account the administrator registers (アカウント管理(登録)), with its
/// initial password.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub role: Role,
    /// 2–8 half-width letters and digits.
    pub user_id: String,
    pub name: String,
    pub kana: String,
    /// 利用開始年月日 (`YYYY-MM-DD`, JST).
    #[serde(with = "iso_date")]
    pub start_date: Date,
    pub password: String,
}

/// What the administrator changes about an account (アカウント管理(更新));
/// absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub kana: Option<String>,
    #[serde(default, with = "iso_date::option")]
    pub start_date: Option<Date>,
    /// A new password set by the administrator.
    #[serde(default)]
    pub password: Option<String>,
    /// Lifts a lock before its 30 minutes are over.
    #[serde(default)]
    pub unlock: bool,
}

/// Whether an account can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AccountStatus {
    Usable,
    Locked,
    /// Before its start date.
    NotStarted,
    /// Never logged in to the system: the app refuses it.
    FirstSystemLoginRequired,
}

/// An account as the administrator sees it (no password, not even hashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub user_id: String,
    pub role: Role,
    pub name: String,
    pub kana: String,
    pub start_date: String,
    pub status: AccountStatus,
    pub failed_attempts: u32,
    pub locked_until: Option<String>,
    pub first_system_login_at: Option<String>,
}

/// Why a password breaks the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("{0} characters; 8 to 20 are needed")]
    Length(usize),
    #[error("{0:?} is not allowed; only ASCII letters, digits and the symbols {PASSWORD_SYMBOLS}")]
    Forbidden(char),
    #[error("needs at least one {0}")]
    Missing(&'static str),
}

/// The password policy (docs/service-rules.md, Facility rules): 8–20 characters, at least one
/// upper-case letter, one lower-case letter, one digit and one symbol of
/// [`PASSWORD_SYMBOLS`], and nothing else.
pub fn check_password_policy(password: &str) -> Result<(), PasswordPolicyError> {
    if let Some(c) = password
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !PASSWORD_SYMBOLS.contains(*c))
    {
        return Err(PasswordPolicyError::Forbidden(c));
    }
    let length = password.chars().count();
    if !(8..=20).contains(&length) {
        return Err(PasswordPolicyError::Length(length));
    }
    type Member = fn(&char) -> bool;
    let classes: [(&'static str, Member); 4] = [
        ("upper-case letter", char::is_ascii_uppercase),
        ("lower-case letter", char::is_ascii_lowercase),
        ("digit", char::is_ascii_digit),
        ("symbol", |c| PASSWORD_SYMBOLS.contains(*c)),
    ];
    for (name, member) in classes {
        if !password.chars().any(|c| member(&c)) {
            return Err(PasswordPolicyError::Missing(name));
        }
    }
    Ok(())
}

/// Checks a user ID: 2–8 half-width letters and digits.
pub fn check_user_id(user_id: &str) -> Result<(), FacilityError> {
    if (2..=8).contains(&user_id.len()) && user_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(FacilityError::InvalidUserId(user_id.to_string()))
    }
}

fn check_text(field: &'static str, text: &str) -> Result<(), FacilityError> {
    if text.trim().is_empty() || text.chars().count() > 50 || text.chars().any(char::is_control) {
        return Err(FacilityError::InvalidField {
            field,
            reason: "1 to 50 characters, no control characters".into(),
        });
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String, FacilityError> {
    crate::password::hash(password).map_err(FacilityError::Internal)
}

/// A hash to check passwords of unknown users against (made once).
fn unknown_user_hash() -> Result<&'static str, FacilityError> {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = HASH.get() {
        return Ok(hash);
    }
    let hash = hash_password("no such user")?;
    Ok(HASH.get_or_init(|| hash))
}

/// Whether the account is locked at `now`.
fn locked(row: &AccountRow, now: OffsetDateTime) -> Option<OffsetDateTime> {
    row.locked_until.filter(|until| now < *until)
}

/// The account's status at `now`.
pub fn status(row: &AccountRow, now: OffsetDateTime) -> AccountStatus {
    if locked(row, now).is_some() {
        AccountStatus::Locked
    } else if jst_date(now) < row.start_date {
        AccountStatus::NotStarted
    } else if row.first_login_at.is_none() {
        AccountStatus::FirstSystemLoginRequired
    } else {
        AccountStatus::Usable
    }
}

/// The account as the administrator sees it at `now`.
pub fn view(row: &AccountRow, now: OffsetDateTime) -> AccountView {
    AccountView {
        user_id: row.user_id.clone(),
        role: Role::parse(&row.role).unwrap_or(Role::General),
        name: row.name.clone(),
        kana: row.kana.clone(),
        start_date: row.start_date.to_string(),
        status: status(row, now),
        failed_attempts: row.failed_attempts,
        locked_until: locked(row, now).map(rfc3339),
        first_system_login_at: row.first_login_at.map(rfc3339),
    }
}

/// Registers an account (slow: argon2).
pub fn register(
    store: &Store,
    facility: &MedicalInstitutionCode,
    account: NewAccount,
    now: OffsetDateTime,
) -> Result<AccountView, FacilityError> {
    check_user_id(&account.user_id)?;
    check_text("name", &account.name)?;
    check_text("kana", &account.kana)?;
    check_password_policy(&account.password)?;
    let row = AccountRow {
        facility: facility.to_string(),
        user_id: account.user_id.clone(),
        role: account.role.label().to_string(),
        name: account.name,
        kana: account.kana,
        start_date: account.start_date,
        password_hash: hash_password(&account.password)?,
        failed_attempts: 0,
        locked_until: None,
        first_login_at: None,
        created_at: now,
    };
    if !store.insert_account(&row)? {
        return Err(FacilityError::AccountExists(account.user_id));
    }
    Ok(view(&row, now))
}

fn existing(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
) -> Result<AccountRow, FacilityError> {
    store
        .account(facility.as_str(), user_id)?
        .ok_or_else(|| FacilityError::UnknownAccount(user_id.to_string()))
}

/// Changes an account as the administrator (slow when a password is set).
pub fn update(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
    update: AccountUpdate,
    now: OffsetDateTime,
) -> Result<AccountView, FacilityError> {
    let mut row = existing(store, facility, user_id)?;
    if let Some(role) = update.role {
        row.role = role.label().to_string();
    }
    if let Some(name) = update.name {
        check_text("name", &name)?;
        row.name = name;
    }
    if let Some(kana) = update.kana {
        check_text("kana", &kana)?;
        row.kana = kana;
    }
    if let Some(start) = update.start_date {
        row.start_date = start;
    }
    if let Some(password) = update.password {
        check_password_policy(&password)?;
        row.password_hash = hash_password(&password)?;
    }
    if update.unlock {
        row.locked_until = None;
        row.failed_attempts = 0;
    }
    store.update_account(&row)?;
    Ok(view(&row, now))
}

/// Checks a user ID and password (slow: argon2), counting wrong passwords:
/// the [`MAX_FAILED_ATTEMPTS`]th in a row locks the account for
/// [`LOCK_DURATION`]. A locked account is refused without looking at the
/// password; once the lock is over, the count starts again.
pub fn authenticate(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
    password: &str,
    now: OffsetDateTime,
) -> Result<AccountRow, FacilityError> {
    let Some(mut row) = store.account(facility.as_str(), user_id)? else {
        // As slow as a wrong password, so that the time of the answer does
        // not tell which user IDs exist.
        let _ = crate::password::matches(password, unknown_user_hash()?);
        return Err(FacilityError::BadCredentials);
    };
    if let Some(until) = locked(&row, now) {
        return Err(FacilityError::AccountLocked {
            user_id: row.user_id,
            until,
        });
    }
    if row.locked_until.is_some() {
        row.locked_until = None;
        row.failed_attempts = 0;
    }
    if crate::password::matches(password, &row.password_hash) {
        if row.failed_attempts > 0 {
            row.failed_attempts = 0;
            store.update_account(&row)?;
        }
        return Ok(row);
    }
    row.failed_attempts += 1;
    let error = if row.failed_attempts >= MAX_FAILED_ATTEMPTS {
        let until = now + LOCK_DURATION;
        row.locked_until = Some(until);
        FacilityError::AccountLocked {
            user_id: row.user_id.clone(),
            until,
        }
    } else {
        FacilityError::BadCredentials
    };
    store.update_account(&row)?;
    Err(error)
}

/// Refuses an account the app may not use at `now`.
pub fn require_app_usable(row: &AccountRow, now: OffsetDateTime) -> Result<(), FacilityError> {
    match status(row, now) {
        AccountStatus::Usable => Ok(()),
        AccountStatus::Locked => Err(FacilityError::AccountLocked {
            user_id: row.user_id.clone(),
            until: row.locked_until.unwrap_or(now),
        }),
        AccountStatus::NotStarted => Err(FacilityError::AccountNotStarted {
            user_id: row.user_id.clone(),
            start: row.start_date,
        }),
        AccountStatus::FirstSystemLoginRequired => {
            Err(FacilityError::FirstSystemLoginRequired(row.user_id.clone()))
        }
    }
}

/// A login to the system on the confirmation terminal (slow: argon2): the
/// first one makes the account usable by the app. With `new_password` the
/// password is changed at the same time (as staff do with the initial
/// password the administrator gave them).
pub fn system_login(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
    password: &str,
    new_password: Option<&str>,
    now: OffsetDateTime,
) -> Result<AccountView, FacilityError> {
    let mut row = authenticate(store, facility, user_id, password, now)?;
    if jst_date(now) < row.start_date {
        return Err(FacilityError::AccountNotStarted {
            user_id: row.user_id,
            start: row.start_date,
        });
    }
    if let Some(new) = new_password {
        check_password_policy(new)?;
        row.password_hash = hash_password(new)?;
    }
    row.first_login_at.get_or_insert(now);
    store.update_account(&row)?;
    Ok(view(&row, now))
}

/// Changes one's own password (slow: argon2): the current one must be
/// right (a wrong one counts towards the lock).
pub fn change_password(
    store: &Store,
    facility: &MedicalInstitutionCode,
    user_id: &str,
    current: &str,
    new: &str,
    now: OffsetDateTime,
) -> Result<(), FacilityError> {
    check_password_policy(new)?;
    let mut row = authenticate(store, facility, user_id, current, now)?;
    row.password_hash = hash_password(new)?;
    store.update_account(&row)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    #[test]
    fn policy_edges() {
        assert_eq!(check_password_policy("Abcdef1!"), Ok(()));
        assert_eq!(
            check_password_policy("Abcde1!"),
            Err(PasswordPolicyError::Length(7))
        );
        assert_eq!(check_password_policy("Abcdefghijklmnopq1!/"), Ok(()));
        assert_eq!(
            check_password_policy("Abcdefghijklmnopqr1!/"),
            Err(PasswordPolicyError::Length(21))
        );
        assert_eq!(
            check_password_policy("abcdef1!"),
            Err(PasswordPolicyError::Missing("upper-case letter"))
        );
        assert_eq!(
            check_password_policy("ABCDEF1!"),
            Err(PasswordPolicyError::Missing("lower-case letter"))
        );
        assert_eq!(
            check_password_policy("Abcdefg!"),
            Err(PasswordPolicyError::Missing("digit"))
        );
        assert_eq!(
            check_password_policy("Abcdefg1"),
            Err(PasswordPolicyError::Missing("symbol"))
        );
        for forbidden in [' ', '"', '=', '+', ':', '\\', 'Ａ', 'あ'] {
            assert_eq!(
                check_password_policy(&format!("Abcdef1!{forbidden}")),
                Err(PasswordPolicyError::Forbidden(forbidden))
            );
        }
        for symbol in PASSWORD_SYMBOLS.chars() {
            assert_eq!(check_password_policy(&format!("Abcdef1{symbol}")), Ok(()));
        }
    }

    fn allowed() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::char::range('a', 'z'),
            prop::char::range('A', 'Z'),
            prop::char::range('0', '9'),
            prop::sample::select(PASSWORD_SYMBOLS.chars().collect::<Vec<_>>()),
        ]
    }

    proptest! {
        /// The policy accepts exactly the strings docs/service-rules.md describes.
        #[test]
        fn policy_is_the_spec(password in "\\PC{0,24}") {
            let chars: Vec<char> = password.chars().collect();
            let expected = (8..=20).contains(&chars.len())
                && chars.iter().all(|c| c.is_ascii_alphanumeric() || PASSWORD_SYMBOLS.contains(*c))
                && chars.iter().any(char::is_ascii_uppercase)
                && chars.iter().any(char::is_ascii_lowercase)
                && chars.iter().any(char::is_ascii_digit)
                && chars.iter().any(|c| PASSWORD_SYMBOLS.contains(*c));
            prop_assert_eq!(check_password_policy(&password).is_ok(), expected);
        }

        /// Any allowed characters of allowed length, with one of each
        /// class, pass.
        #[test]
        fn allowed_passwords_pass(rest in prop::collection::vec(allowed(), 4..=16)) {
            let password: String = "aZ9!".chars().chain(rest).collect();
            prop_assert_eq!(check_password_policy(&password), Ok(()));
        }
    }

    #[test]
    fn user_ids() {
        for ok in ["ab", "A1", "abcd1234"] {
            check_user_id(ok).unwrap();
        }
        for bad in ["a", "abcde12345", "ab-c", "ａｂ", ""] {
            assert!(check_user_id(bad).is_err(), "{bad}");
        }
    }

    fn facility() -> MedicalInstitutionCode {
        MedicalInstitutionCode::new("0110000001").unwrap()
    }

    fn new_account() -> NewAccount {
        NewAccount {
            role: Role::General,
            user_id: "staff1".into(),
            name: "資格 太郎".into(),
            kana: "シカク タロウ".into(),
            start_date: date!(2026 - 12 - 01),
            password: "Initial1!".into(),
        }
    }

    #[test]
    fn five_wrong_passwords_lock_for_thirty_minutes() {
        let store = Store::in_memory().unwrap();
        let now = datetime!(2026-12-01 10:00 +9);
        register(&store, &facility(), new_account(), now).unwrap();
        assert!(matches!(
            authenticate(&store, &facility(), "nobody", "Initial1!", now),
            Err(FacilityError::BadCredentials)
        ));
        for _ in 0..4 {
            assert!(matches!(
                authenticate(&store, &facility(), "staff1", "Wrong11!", now),
                Err(FacilityError::BadCredentials)
            ));
        }
        let Err(FacilityError::AccountLocked { until, .. }) =
            authenticate(&store, &facility(), "staff1", "Wrong11!", now)
        else {
            panic!("the fifth wrong password locks");
        };
        assert_eq!(until, now + LOCK_DURATION);
        let almost = now + LOCK_DURATION - Duration::seconds(1);
        assert!(matches!(
            authenticate(&store, &facility(), "staff1", "Initial1!", almost),
            Err(FacilityError::AccountLocked { .. })
        ));
        let row = authenticate(
            &store,
            &facility(),
            "staff1",
            "Initial1!",
            now + LOCK_DURATION,
        )
        .unwrap();
        assert_eq!((row.failed_attempts, row.locked_until), (0, None));
        assert!(!row.password_hash.contains("Initial1!"));
    }

    #[test]
    fn the_app_needs_a_started_account_that_logged_in_once() {
        let store = Store::in_memory().unwrap();
        let before = datetime!(2026-11-30 23:00 +9);
        let view = register(&store, &facility(), new_account(), before).unwrap();
        assert_eq!(view.status, AccountStatus::NotStarted);
        assert!(matches!(
            system_login(&store, &facility(), "staff1", "Initial1!", None, before),
            Err(FacilityError::AccountNotStarted { .. })
        ));
        let now = datetime!(2026-12-01 09:00 +9);
        let row = store.account("0110000001", "staff1").unwrap().unwrap();
        assert!(matches!(
            require_app_usable(&row, now),
            Err(FacilityError::FirstSystemLoginRequired(_))
        ));
        assert!(matches!(
            system_login(
                &store,
                &facility(),
                "staff1",
                "Initial1!",
                Some("short"),
                now
            ),
            Err(FacilityError::PasswordPolicy(_))
        ));
        let view = system_login(
            &store,
            &facility(),
            "staff1",
            "Initial1!",
            Some("Changed1!"),
            now,
        )
        .unwrap();
        assert_eq!(view.status, AccountStatus::Usable);
        let row = authenticate(&store, &facility(), "staff1", "Changed1!", now).unwrap();
        require_app_usable(&row, now).unwrap();
        change_password(&store, &facility(), "staff1", "Changed1!", "Again22?", now).unwrap();
        authenticate(&store, &facility(), "staff1", "Again22?", now).unwrap();
        assert!(matches!(
            register(&store, &facility(), new_account(), now),
            Err(FacilityError::AccountExists(_))
        ));
    }

    #[test]
    fn the_administrator_unlocks_and_updates() {
        let store = Store::in_memory().unwrap();
        let now = datetime!(2026-12-01 10:00 +9);
        register(&store, &facility(), new_account(), now).unwrap();
        for _ in 0..MAX_FAILED_ATTEMPTS {
            let _ = authenticate(&store, &facility(), "staff1", "Wrong11!", now);
        }
        let update = AccountUpdate {
            role: Some(Role::MedicalInformation),
            unlock: true,
            ..AccountUpdate::default()
        };
        let view = super::update(&store, &facility(), "staff1", update, now).unwrap();
        assert_eq!(view.role, Role::MedicalInformation);
        assert_eq!(view.locked_until, None);
        authenticate(&store, &facility(), "staff1", "Initial1!", now).unwrap();
        assert!(matches!(
            super::update(&store, &facility(), "nobody", AccountUpdate::default(), now),
            Err(FacilityError::UnknownAccount(_))
        ));
    }
}
