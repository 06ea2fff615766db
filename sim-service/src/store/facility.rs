//! The rows of the facility's app administration (see [`crate::facility`]):
//! environment settings, activation codes, devices, accounts, app sessions
//! and notices.
//!
//! Rows only: whether a code is usable, an account locked or a session live
//! is decided by the rules over these rows and the service clock. Secrets
//! (passwords, device and session tokens) are kept as hashes.

use rusqlite::{OptionalExtension, Row, params};
use time::{Date, OffsetDateTime};

use super::{Store, StoreError, StoreResult, from_millis, millis};

/// The facility tables, created with the store's (`IF NOT EXISTS`: an older
/// database gains them when it is opened).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS facility_settings (
    facility                 TEXT PRIMARY KEY,
    outpatient_flow          INTEGER NOT NULL DEFAULT 0,
    activation_delay_seconds INTEGER NOT NULL DEFAULT 600
);
CREATE TABLE IF NOT EXISTS activation_codes (
    code           TEXT PRIMARY KEY,
    facility       TEXT NOT NULL,
    memo           TEXT NOT NULL,
    issued_at      INTEGER NOT NULL,
    usable_from    INTEGER NOT NULL,
    invalidated    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS activation_codes_by_facility ON activation_codes (facility, issued_at);
CREATE TABLE IF NOT EXISTS app_devices (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    facility        TEXT NOT NULL,
    activation_code TEXT NOT NULL UNIQUE REFERENCES activation_codes(code) ON DELETE CASCADE,
    registered_at   INTEGER NOT NULL,
    deregistered_at INTEGER
);
CREATE TABLE IF NOT EXISTS app_accounts (
    facility        TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL,
    name            TEXT NOT NULL,
    kana            TEXT NOT NULL,
    start_date      TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER,
    first_login_at  INTEGER,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (facility, user_id)
);
CREATE TABLE IF NOT EXISTS app_sessions (
    token_hash TEXT PRIMARY KEY,
    facility   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    device     TEXT NOT NULL REFERENCES app_devices(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notices (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    title        TEXT NOT NULL,
    link         TEXT NOT NULL,
    outage       INTEGER NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notice_reads (
    notice   INTEGER NOT NULL REFERENCES notices(id) ON DELETE CASCADE,
    facility TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    read_at  INTEGER NOT NULL,
    PRIMARY KEY (notice, facility, user_id)
);
";

/// What the facility tables forget on a state reset.
pub(super) const RESET: &str = "DELETE FROM notice_reads; DELETE FROM notices;
DELETE FROM app_sessions; DELETE FROM app_devices; DELETE FROM activation_codes;
DELETE FROM app_accounts; DELETE FROM facility_settings;";

/// A facility's environment settings as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FacilitySettingsRow {
    pub outpatient_flow: bool,
    pub activation_delay_seconds: i64,
}

/// An activation code as stored, with the device it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationCodeRow {
    pub code: String,
    pub facility: String,
    pub memo: String,
    pub issued_at: OffsetDateTime,
    pub usable_from: OffsetDateTime,
    pub invalidated: bool,
    /// The id of the device that registered with the code.
    pub device: Option<String>,
}

/// A registered device as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub id: String,
    pub facility: String,
    pub activation_code: String,
    /// The memo of its activation code (端末識別メモ情報).
    pub memo: String,
    pub registered_at: OffsetDateTime,
    pub deregistered_at: Option<OffsetDateTime>,
    /// Whether the activation code was invalidated.
    pub invalidated: bool,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub facility: String,
    pub user_id: String,
    pub role: String,
    pub name: String,
    pub kana: String,
    pub start_date: Date,
    /// The password's argon2 PHC string.
    pub password_hash: String,
    pub failed_attempts: u32,
    pub locked_until: Option<OffsetDateTime>,
    pub first_login_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// An app session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub facility: String,
    pub user_id: String,
    pub device: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A notice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    pub id: i64,
    pub title: String,
    pub link: String,
    pub outage: bool,
    pub published_at: OffsetDateTime,
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn opt_time(ms: Option<i64>) -> StoreResult<Option<OffsetDateTime>> {
    ms.map(from_millis).transpose()
}

const ACCOUNT_COLUMNS: &str = "facility, user_id, role, name, kana, start_date, password_hash,
    failed_attempts, locked_until, first_login_at, created_at";

type RawAccount = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    u32,
    Option<i64>,
    Option<i64>,
    i64,
);

fn account(raw: RawAccount) -> StoreResult<AccountRow> {
    let (
        facility,
        user_id,
        role,
        name,
        kana,
        start_date,
        password_hash,
        failed_attempts,
        locked_until,
        first_login_at,
        created_at,
    ) = raw;
    let start_date = Date::parse(&start_date, DATE)
        .map_err(|e| StoreError::Corrupt(format!("account start date {start_date:?}: {e}")))?;
    Ok(AccountRow {
        facility,
        user_id,
        role,
        name,
        kana,
        start_date,
        password_hash,
        failed_attempts,
        locked_until: opt_time(locked_until)?,
        first_login_at: opt_time(first_login_at)?,
        created_at: from_millis(created_at)?,
    })
}

type RawCode = (String, String, String, i64, i64, bool, Option<String>);

fn code_row(raw: RawCode) -> StoreResult<ActivationCodeRow> {
    let (code, facility, memo, issued_at, usable_from, invalidated, device) = raw;
    Ok(ActivationCodeRow {
        code,
        facility,
        memo,
        issued_at: from_millis(issued_at)?,
        usable_from: from_millis(usable_from)?,
        invalidated,
        device,
    })
}

const CODE_SELECT: &str = "SELECT c.code, c.facility, c.memo, c.issued_at, c.usable_from,
    c.invalidated, d.id FROM activation_codes c LEFT JOIN app_devices d ON d.activation_code = c.code";

impl Store {
    /// The one row `sql` selects, read by `raw` and then decoded: apart,
    /// because a stored time or date that does not decode is
    /// [`StoreError::Corrupt`], which rusqlite's row mapper cannot answer.
    fn decoded_row<R, T>(
        &self,
        sql: &str,
        values: impl rusqlite::Params,
        raw: impl FnOnce(&Row<'_>) -> rusqlite::Result<R>,
        decode: impl FnOnce(R) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let raw = self.conn().query_row(sql, values, raw).optional()?;
        raw.map(decode).transpose()
    }

    /// The rows `sql` selects, each read by `raw` and then decoded (see
    /// [`Store::decoded_row`]).
    fn decoded_rows<R, T>(
        &self,
        sql: &str,
        values: impl rusqlite::Params,
        raw: impl FnMut(&Row<'_>) -> rusqlite::Result<R>,
        mut decode: impl FnMut(R) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(values, raw)?;
        rows.map(|row| decode(row?)).collect()
    }

    /// The facility's settings; `None` when it never had any.
    pub fn facility_settings(&self, facility: &str) -> StoreResult<Option<FacilitySettingsRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT outpatient_flow, activation_delay_seconds FROM facility_settings WHERE facility = ?1",
                [facility],
                |r| {
                    Ok(FacilitySettingsRow {
                        outpatient_flow: r.get(0)?,
                        activation_delay_seconds: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Writes the facility's settings.
    pub fn put_facility_settings(
        &self,
        facility: &str,
        settings: FacilitySettingsRow,
    ) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO facility_settings (facility, outpatient_flow, activation_delay_seconds)
             VALUES (?1, ?2, ?3)
             ON CONFLICT (facility) DO UPDATE SET outpatient_flow = excluded.outpatient_flow,
                 activation_delay_seconds = excluded.activation_delay_seconds",
            params![
                facility,
                settings.outpatient_flow,
                settings.activation_delay_seconds
            ],
        )?;
        Ok(())
    }

    /// Every facility with a setting, an activation code or an account.
    pub fn facilities_with_app_data(&self) -> StoreResult<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT facility FROM facility_settings UNION SELECT facility FROM activation_codes
             UNION SELECT facility FROM app_accounts ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds an activation code; `false` when the code is already taken.
    pub fn insert_activation_code(&self, row: &ActivationCodeRow) -> StoreResult<bool> {
        let inserted = self.conn().execute(
            "INSERT INTO activation_codes (code, facility, memo, issued_at, usable_from, invalidated)
             VALUES (?1, ?2, ?3, ?4, ?5, 0) ON CONFLICT (code) DO NOTHING",
            params![
                row.code,
                row.facility,
                row.memo,
                millis(row.issued_at),
                millis(row.usable_from)
            ],
        )?;
        Ok(inserted == 1)
    }

    /// One activation code of the facility.
    pub fn activation_code(
        &self,
        facility: &str,
        code: &str,
    ) -> StoreResult<Option<ActivationCodeRow>> {
        self.decoded_row(
            &format!("{CODE_SELECT} WHERE c.facility = ?1 AND c.code = ?2"),
            params![facility, code],
            |r| r.try_into(),
            code_row,
        )
    }

    /// The facility's activation codes, newest first.
    pub fn activation_codes(&self, facility: &str) -> StoreResult<Vec<ActivationCodeRow>> {
        self.decoded_rows(
            &format!("{CODE_SELECT} WHERE c.facility = ?1 ORDER BY c.issued_at DESC, c.code"),
            [facility],
            |r| r.try_into(),
            code_row,
        )
    }

    /// Invalidates a code and ends the sessions of the device bound to it;
    /// `false` when the facility has no such code.
    pub fn invalidate_activation_code(&self, facility: &str, code: &str) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let updated = tx.execute(
            "UPDATE activation_codes SET invalidated = 1 WHERE facility = ?1 AND code = ?2",
            params![facility, code],
        )?;
        tx.execute(
            "DELETE FROM app_sessions WHERE device IN
             (SELECT id FROM app_devices WHERE activation_code = ?1)",
            [code],
        )?;
        tx.commit()?;
        Ok(updated == 1)
    }

    /// Binds the code to a new device, unless a device is already bound to
    /// it (in one statement: of two devices racing, one wins). `false` when
    /// the code was taken.
    pub fn insert_device(
        &self,
        id: &str,
        token_hash: &str,
        facility: &str,
        activation_code: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let inserted = self.conn().execute(
            "INSERT INTO app_devices (id, token_hash, facility, activation_code, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (activation_code) DO NOTHING",
            params![id, token_hash, facility, activation_code, millis(at)],
        )?;
        Ok(inserted == 1)
    }

    /// The device holding this token.
    pub fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<DeviceRow>> {
        self.device_where("d.token_hash = ?1", token_hash)
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> StoreResult<Option<DeviceRow>> {
        self.device_where("d.id = ?1", id)
    }

    fn device_where(&self, condition: &str, value: &str) -> StoreResult<Option<DeviceRow>> {
        self.decoded_row(
            &format!(
                "SELECT d.id, d.facility, d.activation_code, c.memo, d.registered_at,
                 d.deregistered_at, c.invalidated
                 FROM app_devices d JOIN activation_codes c ON c.code = d.activation_code
                 WHERE {condition}"
            ),
            [value],
            |r| r.try_into(),
            |(id, facility, activation_code, memo, registered, deregistered, invalidated): (
                String,
                String,
                String,
                String,
                i64,
                Option<i64>,
                bool,
            )| {
                Ok(DeviceRow {
                    id,
                    facility,
                    activation_code,
                    memo,
                    registered_at: from_millis(registered)?,
                    deregistered_at: opt_time(deregistered)?,
                    invalidated,
                })
            },
        )
    }

    /// Deregisters a device and ends its sessions.
    pub fn deregister_device(&self, id: &str, at: OffsetDateTime) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE app_devices SET deregistered_at = COALESCE(deregistered_at, ?2) WHERE id = ?1",
            params![id, millis(at)],
        )?;
        tx.execute("DELETE FROM app_sessions WHERE device = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Adds an account; `false` when the facility already has this user ID.
    pub fn insert_account(&self, row: &AccountRow) -> StoreResult<bool> {
        let start = row
            .start_date
            .format(DATE)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let inserted = self.conn().execute(
            &format!(
                "INSERT INTO app_accounts ({ACCOUNT_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (facility, user_id) DO NOTHING"
            ),
            params![
                row.facility,
                row.user_id,
                row.role,
                row.name,
                row.kana,
                start,
                row.password_hash,
                row.failed_attempts,
                row.locked_until.map(millis),
                row.first_login_at.map(millis),
                millis(row.created_at)
            ],
        )?;
        Ok(inserted == 1)
    }

    /// Rewrites an account's row (everything but its keys and creation time).
    pub fn update_account(&self, row: &AccountRow) -> StoreResult<()> {
        let start = row
            .start_date
            .format(DATE)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn().execute(
            "UPDATE app_accounts SET role = ?3, name = ?4, kana = ?5, start_date = ?6,
                 password_hash = ?7, failed_attempts = ?8, locked_until = ?9, first_login_at = ?10
             WHERE facility = ?1 AND user_id = ?2",
            params![
                row.facility,
                row.user_id,
                row.role,
                row.name,
                row.kana,
                start,
                row.password_hash,
                row.failed_attempts,
                row.locked_until.map(millis),
                row.first_login_at.map(millis)
            ],
        )?;
        Ok(())
    }

    /// One account of the facility.
    pub fn account(&self, facility: &str, user_id: &str) -> StoreResult<Option<AccountRow>> {
        self.decoded_row(
            &format!(
                "SELECT {ACCOUNT_COLUMNS} FROM app_accounts WHERE facility = ?1 AND user_id = ?2"
            ),
            params![facility, user_id],
            |r| r.try_into(),
            account,
        )
    }

    /// The facility's accounts, in user ID order.
    pub fn accounts(&self, facility: &str) -> StoreResult<Vec<AccountRow>> {
        self.decoded_rows(
            &format!(
                "SELECT {ACCOUNT_COLUMNS} FROM app_accounts WHERE facility = ?1 ORDER BY user_id"
            ),
            [facility],
            |r| r.try_into(),
            account,
        )
    }

    /// Adds a session.
    pub fn insert_session(&self, token_hash: &str, row: &SessionRow) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO app_sessions (token_hash, facility, user_id, device, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token_hash,
                row.facility,
                row.user_id,
                row.device,
                millis(row.created_at),
                millis(row.expires_at)
            ],
        )?;
        Ok(())
    }

    /// The session holding this token.
    pub fn session(&self, token_hash: &str) -> StoreResult<Option<SessionRow>> {
        self.decoded_row(
            "SELECT facility, user_id, device, created_at, expires_at FROM app_sessions
             WHERE token_hash = ?1",
            [token_hash],
            |r| r.try_into(),
            |(facility, user_id, device, created, expires): (String, String, String, i64, i64)| {
                Ok(SessionRow {
                    facility,
                    user_id,
                    device,
                    created_at: from_millis(created)?,
                    expires_at: from_millis(expires)?,
                })
            },
        )
    }

    /// Ends a session; `false` when there was none.
    pub fn delete_session(&self, token_hash: &str) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "DELETE FROM app_sessions WHERE token_hash = ?1",
            [token_hash],
        )? == 1)
    }

    /// Publishes a notice and returns its id.
    pub fn insert_notice(
        &self,
        title: &str,
        link: &str,
        outage: bool,
        at: OffsetDateTime,
    ) -> StoreResult<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO notices (title, link, outage, published_at) VALUES (?1, ?2, ?3, ?4)",
            params![title, link, outage, millis(at)],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Every notice, newest first.
    pub fn notices(&self) -> StoreResult<Vec<NoticeRow>> {
        self.notices_where("1", params![])
    }

    /// The notices this account has not read, newest first.
    pub fn unread_notices(&self, facility: &str, user_id: &str) -> StoreResult<Vec<NoticeRow>> {
        self.notices_where(
            "NOT EXISTS (SELECT 1 FROM notice_reads r WHERE r.notice = n.id
                 AND r.facility = ?1 AND r.user_id = ?2)",
            params![facility, user_id],
        )
    }

    fn notices_where(
        &self,
        condition: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> StoreResult<Vec<NoticeRow>> {
        self.decoded_rows(
            &format!(
                "SELECT n.id, n.title, n.link, n.outage, n.published_at FROM notices n
                 WHERE {condition} ORDER BY n.published_at DESC, n.id DESC"
            ),
            values,
            |r| r.try_into(),
            |(id, title, link, outage, at): (i64, String, String, bool, i64)| {
                Ok(NoticeRow {
                    id,
                    title,
                    link,
                    outage,
                    published_at: from_millis(at)?,
                })
            },
        )
    }

    /// Marks a notice read by an account; `false` when there is no such notice.
    pub fn mark_notice_read(
        &self,
        notice: i64,
        facility: &str,
        user_id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let conn = self.conn();
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM notices WHERE id = ?1)",
            [notice],
            |r| r.get(0),
        )?;
        if exists {
            conn.execute(
                "INSERT INTO notice_reads (notice, facility, user_id, read_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![notice, facility, user_id, millis(at)],
            )?;
        }
        Ok(exists)
    }
}
