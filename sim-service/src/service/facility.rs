//! The facility's administration of マイナ資格確認アプリ and the app's own
//! calls, at the service clock's now (see [`crate::facility`] for the
//! rules). Password checks are argon2: slow on purpose.

use super::Service;
use crate::facility::device::RegisteredDevice;
use crate::facility::session::LoggedIn;
use crate::facility::{
    AccountUpdate, AccountView, ActivationCodeView, AppSession, EnvironmentSetting, FacilityError,
    NewAccount, NewNotice, NoticeView, account, admin, device, notice, session,
};
use crate::model::MedicalInstitutionCode;

/// A change of a facility's environment settings; absent fields stay.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvironmentChange {
    pub outpatient_flow: Option<bool>,
    pub activation_delay_seconds: Option<i64>,
}

impl Service {
    /// The facilities that have app data.
    pub fn facilities(&self) -> Result<Vec<MedicalInstitutionCode>, FacilityError> {
        admin::facilities(&self.store)
    }

    pub fn environment(
        &self,
        facility: &MedicalInstitutionCode,
    ) -> Result<EnvironmentSetting, FacilityError> {
        admin::environment(&self.store, facility)
    }

    /// Changes the environment settings and answers them as they are now.
    pub fn change_environment(
        &self,
        facility: &MedicalInstitutionCode,
        change: EnvironmentChange,
    ) -> Result<EnvironmentSetting, FacilityError> {
        if let Some(seconds) = change.activation_delay_seconds {
            admin::set_activation_delay(&self.store, facility, seconds)?;
        }
        if let Some(enabled) = change.outpatient_flow {
            admin::set_outpatient_flow(&self.store, facility, enabled)?;
        }
        admin::environment(&self.store, facility)
    }

    pub fn activation_codes(
        &self,
        facility: &MedicalInstitutionCode,
    ) -> Result<Vec<ActivationCodeView>, FacilityError> {
        admin::activation_codes(&self.store, facility, self.clock.now())
    }

    pub fn issue_activation_code(
        &self,
        facility: &MedicalInstitutionCode,
        memo: &str,
    ) -> Result<ActivationCodeView, FacilityError> {
        admin::issue_activation_code(&self.store, facility, memo, self.clock.now())
    }

    pub fn invalidate_activation_code(
        &self,
        facility: &MedicalInstitutionCode,
        code: &str,
    ) -> Result<(), FacilityError> {
        admin::invalidate_activation_code(&self.store, facility, code)
    }

    pub fn accounts(
        &self,
        facility: &MedicalInstitutionCode,
    ) -> Result<Vec<AccountView>, FacilityError> {
        admin::accounts(&self.store, facility, self.clock.now())
    }

    /// Registers an account (argon2: slow).
    pub fn register_account(
        &self,
        facility: &MedicalInstitutionCode,
        new: NewAccount,
    ) -> Result<AccountView, FacilityError> {
        admin::register_account(&self.store, facility, new, self.clock.now())
    }

    /// Changes an account (argon2 when it sets a password: slow).
    pub fn update_account(
        &self,
        facility: &MedicalInstitutionCode,
        user_id: &str,
        update: AccountUpdate,
    ) -> Result<AccountView, FacilityError> {
        admin::update_account(&self.store, facility, user_id, update, self.clock.now())
    }

    /// Locks an account as [`account::MAX_FAILED_ATTEMPTS`] wrong passwords
    /// typed elsewhere (another terminal, another device) would: for
    /// [`account::LOCK_DURATION`] from now. What a tester does to reach the
    /// locked state without typing the passwords (each an argon2 check).
    pub fn lock_account(
        &self,
        facility: &MedicalInstitutionCode,
        user_id: &str,
    ) -> Result<AccountView, FacilityError> {
        let now = self.clock.now();
        let mut row = self
            .store
            .account(facility.as_str(), user_id)?
            .ok_or_else(|| FacilityError::UnknownAccount(user_id.to_string()))?;
        row.failed_attempts = account::MAX_FAILED_ATTEMPTS;
        row.locked_until = Some(now + account::LOCK_DURATION);
        self.store.update_account(&row)?;
        Ok(account::view(&row, now))
    }

    pub fn notices(&self) -> Result<Vec<NoticeView>, FacilityError> {
        admin::notices(&self.store)
    }

    pub fn publish_notice(&self, new: NewNotice) -> Result<NoticeView, FacilityError> {
        admin::publish_notice(&self.store, new, self.clock.now())
    }

    /// Publishes the outage notice the app shows at the next login (お知らせ),
    /// as the real service announces its outages.
    pub fn announce_outage(&self) -> Result<NoticeView, FacilityError> {
        self.publish_notice(NewNotice {
            title: notice::OUTAGE_TITLE.to_string(),
            link: String::new(),
            outage: true,
        })
    }

    /// A staff login on the confirmation terminal (argon2: slow).
    pub fn system_login(
        &self,
        facility: &MedicalInstitutionCode,
        user_id: &str,
        password: &str,
        new_password: Option<&str>,
    ) -> Result<AccountView, FacilityError> {
        account::system_login(
            &self.store,
            facility,
            user_id,
            password,
            new_password,
            self.clock.now(),
        )
    }

    /// Checks a password as a login would, counting a wrong one (argon2:
    /// slow).
    pub fn check_password(
        &self,
        facility: &MedicalInstitutionCode,
        user_id: &str,
        password: &str,
    ) -> Result<(), FacilityError> {
        account::authenticate(&self.store, facility, user_id, password, self.clock.now()).map(drop)
    }

    /// The app's first start on a device, with an activation code (argon2:
    /// slow).
    pub fn register_device(
        &self,
        facility: &MedicalInstitutionCode,
        user_id: &str,
        password: &str,
        activation_code: &str,
    ) -> Result<RegisteredDevice, FacilityError> {
        device::register(
            &self.store,
            facility,
            user_id,
            password,
            activation_code.trim(),
            self.clock.now(),
        )
    }

    pub fn deregister_device(&self, device_id: &str) -> Result<(), FacilityError> {
        device::deregister(&self.store, device_id, self.clock.now())
    }

    /// An app login on a registered device (argon2: slow).
    pub fn app_login(
        &self,
        facility: &MedicalInstitutionCode,
        user_id: &str,
        password: &str,
        device_token: &str,
    ) -> Result<LoggedIn, FacilityError> {
        session::login(
            &self.store,
            facility,
            user_id,
            password,
            device_token,
            self.clock.now(),
        )
    }

    /// The live session a bearer token names, every facility rule checked
    /// again now.
    pub fn app_session(&self, token: &str) -> Result<AppSession, FacilityError> {
        session::check(&self.store, token, self.clock.now())
    }

    pub fn app_logout(&self, session: &AppSession) -> Result<(), FacilityError> {
        session::logout(&self.store, session)
    }

    /// The session's account changes its password (argon2: slow).
    pub fn change_password(
        &self,
        session: &AppSession,
        current: &str,
        new: &str,
    ) -> Result<(), FacilityError> {
        account::change_password(
            &self.store,
            &session.facility,
            &session.user_id,
            current,
            new,
            self.clock.now(),
        )
    }

    pub fn unread_notices(&self, session: &AppSession) -> Result<Vec<NoticeView>, FacilityError> {
        notice::unread(&self.store, &session.facility, &session.user_id)
    }

    pub fn mark_notice_read(&self, session: &AppSession, id: i64) -> Result<(), FacilityError> {
        notice::mark_read(
            &self.store,
            &session.facility,
            &session.user_id,
            id,
            self.clock.now(),
        )
    }
}
