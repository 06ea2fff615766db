//! The service's state: fixtures, confirmation history and
//! health-insurance-use registrations in SQLite; issued challenges in memory
//! (single-use and short-lived, they need not outlive the process: see
//! `store::challenges`).
//!
//! The database runs in WAL mode with `synchronous = NORMAL`: a committed
//! transaction is in the write-ahead log before the call returns, so a crash
//! of the service process (even SIGKILL) loses nothing that was acknowledged;
//! only a power loss could drop the last transactions, which a test bench can
//! afford (`FULL` would add an fsync to every commit). Every write that a
//! client is told about is committed before the call returns; history rows of
//! concurrent confirmations share a commit (`store::group_commit`).
//!
//! The store knows rows, not rules: results are kept as the JSON the client
//! was sent, persons as the TOML of their fixture, and times as UTC
//! milliseconds. What the rows mean is for the rules and the model.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

mod after_confirmation;
mod challenges;
mod facility;
mod group_commit;
mod traces;
pub use after_confirmation::{ReceiptComputerCredential, ReferenceNumberStoreError};
pub use facility::{
    AccountRow, ActivationCodeRow, DeviceRow, FacilitySettingsRow, NoticeRow, SessionRow,
};
pub use traces::ConfirmationTrace;

/// Errors from the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data does not parse: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A challenge as stored: the nonce a card must sign, and its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChallenge {
    pub id: String,
    pub nonce: Vec<u8>,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used: bool,
}

/// One confirmation to add to the history.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConfirmation {
    pub confirmed_at: OffsetDateTime,
    /// 医療機関等コード of the facility that confirmed.
    pub facility: String,
    /// The device that confirmed (empty when the client did not say).
    pub device: String,
    /// visual, pin, iphone, android, or insurance-card-number.
    pub method: String,
    /// The fixture person, when the card was linked to one.
    pub person: Option<String>,
    /// Whether the result showed qualification information (only those are
    /// listed in the facility's result search).
    pub shows_qualification: bool,
    /// The result exactly as the client received it.
    pub result: serde_json::Value,
}

/// A confirmation read back from the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub id: i64,
    pub confirmed_at: OffsetDateTime,
    pub facility: String,
    pub device: String,
    pub method: String,
    pub person: Option<String>,
    pub shows_qualification: bool,
    pub result: serde_json::Value,
}

/// A fixture person with the certificates that identify them.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPerson {
    pub id: String,
    /// The fixture as TOML, the format it was written in.
    pub fixture: String,
}

/// A certificate the service knows: whose it is and on what kind of device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateEntry {
    /// SHA-256 of the certificate DER, hex.
    pub fingerprint: String,
    pub person: String,
    /// physical, android or iphone.
    pub kind: String,
    /// The id of the person's phone the certificate is on; `None` for the
    /// physical card.
    pub phone: Option<String>,
    pub revoked: bool,
}

/// A registration for health-insurance use (健康保険証利用登録).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: String,
    pub person: String,
    pub requested_at: OffsetDateTime,
    /// When the registration takes effect.
    pub completes_at: OffsetDateTime,
}

/// A history row as written: what [`NewConfirmation`] becomes in SQL.
struct HistoryRow {
    confirmed_at: i64,
    facility: String,
    device: String,
    method: String,
    person: Option<String>,
    shows_qualification: bool,
    result: String,
}

/// The database.
pub struct Store {
    conn: Mutex<Connection>,
    challenges: Mutex<challenges::ChallengeBook>,
    history: group_commit::GroupCommit<HistoryRow, i64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS persons (
    id      TEXT PRIMARY KEY,
    fixture TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS certificates (
    fingerprint TEXT PRIMARY KEY,
    person      TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    revoked     INTEGER NOT NULL,
    phone       TEXT
);
CREATE TABLE IF NOT EXISTS confirmations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    confirmed_at        INTEGER NOT NULL,
    facility            TEXT NOT NULL,
    device              TEXT NOT NULL,
    method              TEXT NOT NULL,
    person              TEXT,
    shows_qualification INTEGER NOT NULL,
    result              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS confirmations_by_facility ON confirmations (facility, confirmed_at);
CREATE TABLE IF NOT EXISTS registrations (
    id           TEXT PRIMARY KEY,
    person       TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    completes_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS registrations_by_person ON registrations (person, completes_at);
";

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(ms: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("time {ms}: {e}")))
}

fn json(text: String) -> StoreResult<serde_json::Value> {
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The columns of a history row, in the order [`raw_confirmation`] reads
/// them: every query that reads confirmations back selects these first.
const CONFIRMATION_COLUMNS: &str =
    "id, confirmed_at, facility, device, method, person, shows_qualification, result";

/// A history row's columns as SQLite holds them.
type RawConfirmation = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    bool,
    String,
);

/// Reads the [`CONFIRMATION_COLUMNS`] at the head of `r` (a query may
/// select more after them).
fn raw_confirmation(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawConfirmation> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

/// Decodes a history row: its time and its result JSON can be corrupt.
fn confirmation(raw: RawConfirmation) -> StoreResult<Confirmation> {
    let (id, at, facility, device, method, person, shows, result) = raw;
    Ok(Confirmation {
        id,
        confirmed_at: from_millis(at)?,
        facility,
        device,
        method,
        person,
        shows_qualification: shows,
        result: json(result)?,
    })
}

fn insert_history_row(conn: &Connection, row: &HistoryRow) -> StoreResult<i64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO confirmations (confirmed_at, facility, device, method, person, shows_qualification, result)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    stmt.execute(params![
        row.confirmed_at,
        row.facility,
        row.device,
        row.method,
        row.person,
        row.shows_qualification,
        row.result
    ])?;
    Ok(conn.last_insert_rowid())
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    /// A database that lives as long as the store (tests, throwaway runs).
    pub fn in_memory() -> StoreResult<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> StoreResult<Store> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        // Databases made before phones had ids lack the column.
        let has_phone = conn
            .prepare("SELECT 1 FROM pragma_table_info('certificates') WHERE name = 'phone'")?
            .exists([])?;
        if !has_phone {
            conn.execute("ALTER TABLE certificates ADD COLUMN phone TEXT", [])?;
        }
        conn.execute_batch(after_confirmation::SCHEMA)?;
        conn.execute_batch(facility::SCHEMA)?;
        conn.execute_batch(traces::SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
            challenges: Mutex::default(),
            history: group_commit::GroupCommit::default(),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done
        // transaction behind (rusqlite rolls back on drop), so the
        // connection is still good.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces every person and certificate with these, in one transaction.
    pub fn replace_fixtures(
        &self,
        persons: &[StoredPerson],
        certificates: &[CertificateEntry],
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM certificates", [])?;
        tx.execute("DELETE FROM persons", [])?;
        for p in persons {
            tx.execute(
                "INSERT INTO persons (id, fixture) VALUES (?1, ?2)",
                params![p.id, p.fixture],
            )?;
        }
        for c in certificates {
            tx.execute(
                "INSERT INTO certificates (fingerprint, person, kind, revoked, phone) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![c.fingerprint, c.person, c.kind, c.revoked, c.phone],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces one person's fixture and adds a certificate of theirs, in one
    /// transaction (a phone added at runtime). `false` when there is no
    /// such person.
    pub fn add_certificate(
        &self,
        person: &StoredPerson,
        certificate: &CertificateEntry,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let updated = tx.execute(
            "UPDATE persons SET fixture = ?2 WHERE id = ?1",
            params![person.id, person.fixture],
        )?;
        if updated == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO certificates (fingerprint, person, kind, revoked, phone) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                certificate.fingerprint,
                certificate.person,
                certificate.kind,
                certificate.revoked,
                certificate.phone
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Replaces one person's fixture and marks their certificate on one
    /// carrier revoked (the physical card's when `phone` is `None`), in one
    /// transaction; how many certificates it marked (0: no such person or
    /// carrier).
    pub fn revoke_certificate(
        &self,
        person: &StoredPerson,
        phone: Option<&str>,
    ) -> StoreResult<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let revoked = tx.execute(
            "UPDATE certificates SET revoked = 1 WHERE person = ?1 AND phone IS ?2",
            params![person.id, phone],
        )?;
        if revoked == 0 {
            return Ok(0);
        }
        tx.execute(
            "UPDATE persons SET fixture = ?2 WHERE id = ?1",
            params![person.id, person.fixture],
        )?;
        tx.commit()?;
        Ok(revoked)
    }

    /// A person's fixture, if known.
    pub fn person(&self, id: &str) -> StoreResult<Option<StoredPerson>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT fixture FROM persons WHERE id = ?1")?;
        let fixture = stmt.query_row([id], |r| r.get::<_, String>(0)).optional()?;
        Ok(fixture.map(|fixture| StoredPerson {
            id: id.to_string(),
            fixture,
        }))
    }

    /// The persons, in id order.
    pub fn persons(&self) -> StoreResult<Vec<StoredPerson>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT id, fixture FROM persons ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|row| {
            let (id, fixture) = row?;
            Ok(StoredPerson { id, fixture })
        })
        .collect()
    }

    /// The certificate with this fingerprint and its holder, if known.
    pub fn certificate(
        &self,
        fingerprint: &str,
    ) -> StoreResult<Option<(CertificateEntry, StoredPerson)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT c.person, c.kind, c.revoked, p.fixture, c.phone FROM certificates c
             JOIN persons p ON p.id = c.person WHERE c.fingerprint = ?1",
        )?;
        let row = stmt
            .query_row([fingerprint], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .optional()?;
        row.map(|(person, kind, revoked, fixture, phone)| {
            Ok((
                CertificateEntry {
                    fingerprint: fingerprint.to_string(),
                    person: person.clone(),
                    kind,
                    phone,
                    revoked,
                },
                StoredPerson {
                    id: person,
                    fixture,
                },
            ))
        })
        .transpose()
    }

    fn challenge_book(&self) -> MutexGuard<'_, challenges::ChallengeBook> {
        // Every change to the book is a single map operation.
        self.challenges.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps an issued challenge (in memory).
    pub fn insert_challenge(&self, c: &StoredChallenge) -> StoreResult<()> {
        self.challenge_book().insert(c);
        Ok(())
    }

    /// Marks the challenge used and returns it as it was before, under one
    /// lock: of two clients racing with the same challenge, exactly one sees
    /// it unused.
    pub fn take_challenge(&self, id: &str) -> StoreResult<Option<StoredChallenge>> {
        Ok(self.challenge_book().take(id))
    }

    /// Forgets challenges that expired before `before`; returns how many.
    pub fn purge_challenges(&self, before: OffsetDateTime) -> StoreResult<usize> {
        Ok(self.challenge_book().purge(before))
    }

    /// Adds a confirmation to the history and returns its id. Returns only
    /// once the row is committed (with those of concurrent callers).
    pub fn record_confirmation(&self, c: &NewConfirmation) -> StoreResult<i64> {
        let row = HistoryRow {
            confirmed_at: millis(c.confirmed_at),
            facility: c.facility.clone(),
            device: c.device.clone(),
            method: c.method.clone(),
            person: c.person.clone(),
            shows_qualification: c.shows_qualification,
            result: c.result.to_string(),
        };
        self.history.submit(row, |rows| self.insert_history(rows))
    }

    /// Inserts the rows in one transaction. Should it fail, each row is
    /// tried in a transaction of its own, so that one bad row fails only its
    /// own caller.
    fn insert_history(&self, rows: Vec<HistoryRow>) -> Vec<StoreResult<i64>> {
        let mut conn = self.conn();
        let together = (|| {
            let tx = conn.transaction()?;
            let ids = rows
                .iter()
                .map(|row| insert_history_row(&tx, row))
                .collect::<StoreResult<Vec<i64>>>()?;
            tx.commit()?;
            Ok(ids)
        })();
        match together {
            Ok(ids) => ids.into_iter().map(Ok).collect(),
            Err(_) if rows.len() > 1 => rows
                .iter()
                .map(|row| insert_history_row(&conn, row))
                .collect(),
            Err(e) => vec![Err(e)],
        }
    }

    /// The facility's confirmations in `[from, to)`, oldest first, optionally
    /// of one device only.
    pub fn confirmations(
        &self,
        facility: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        device: Option<&str>,
    ) -> StoreResult<Vec<Confirmation>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CONFIRMATION_COLUMNS}
             FROM confirmations
             WHERE facility = ?1 AND confirmed_at >= ?2 AND confirmed_at < ?3
               AND (?4 IS NULL OR device = ?4)
             ORDER BY confirmed_at, id"
        ))?;
        let rows = stmt.query_map(
            params![facility, millis(from), millis(to), device],
            raw_confirmation,
        )?;
        rows.map(|row| confirmation(row?)).collect()
    }

    /// How many confirmations the history holds (all facilities).
    pub fn confirmation_count(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM confirmations", [], |r| r.get(0))?)
    }

    pub fn insert_registration(&self, r: &Registration) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO registrations (id, person, requested_at, completes_at) VALUES (?1, ?2, ?3, ?4)",
            params![r.id, r.person, millis(r.requested_at), millis(r.completes_at)],
        )?;
        Ok(())
    }

    pub fn registration(&self, id: &str) -> StoreResult<Option<Registration>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT person, requested_at, completes_at FROM registrations WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(person, requested_at, completes_at)| {
            Ok(Registration {
                id: id.to_string(),
                person,
                requested_at: from_millis(requested_at)?,
                completes_at: from_millis(completes_at)?,
            })
        })
        .transpose()
    }

    /// Whether a registration of `person` has taken effect by `now`.
    pub fn is_registered_by(&self, person: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM registrations WHERE person = ?1 AND completes_at <= ?2)",
        )?;
        Ok(stmt.query_row(params![person, millis(now)], |r| r.get(0))?)
    }

    /// Forgets everything but the fixtures: challenges, history,
    /// registrations, the rows of `after_confirmation` and the facilities' app
    /// administration (a scenario's fresh start).
    pub fn reset_state(&self) -> StoreResult<()> {
        self.challenge_book().clear();
        self.conn()
            .execute_batch("DELETE FROM confirmations; DELETE FROM registrations;")?;
        self.conn().execute_batch(after_confirmation::RESET)?;
        self.conn().execute_batch(facility::RESET)?;
        self.conn().execute_batch(traces::RESET)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_database_from_before_phone_ids_gains_the_column() {
        let path = std::env::temp_dir().join(format!(
            "kazasu-store-phone-column-{}.sqlite",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE persons (id TEXT PRIMARY KEY, fixture TEXT NOT NULL);
                 CREATE TABLE certificates (fingerprint TEXT PRIMARY KEY,
                     person TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
                     kind TEXT NOT NULL, revoked INTEGER NOT NULL);
                 INSERT INTO persons VALUES ('p', 'id = \"p\"');
                 INSERT INTO certificates VALUES ('ab', 'p', 'physical', 0);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (entry, _) = store.certificate("ab").unwrap().unwrap();
        assert_eq!((entry.kind.as_str(), entry.phone), ("physical", None));
        let phone = CertificateEntry {
            fingerprint: "cd".into(),
            person: "p".into(),
            kind: "android".into(),
            phone: Some("a".into()),
            revoked: false,
        };
        let person = store.person("p").unwrap().unwrap();
        assert!(store.add_certificate(&person, &phone).unwrap());
        assert_eq!(store.certificate("cd").unwrap().unwrap().0, phone);
        let nobody = StoredPerson {
            id: "q".into(),
            fixture: String::new(),
        };
        assert!(!store.add_certificate(&nobody, &phone).unwrap());
        // It gains the facility tables too.
        assert!(store.facilities_with_app_data().unwrap().is_empty());
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }

    fn confirmation(at: OffsetDateTime, device: &str, shows: bool) -> NewConfirmation {
        NewConfirmation {
            confirmed_at: at,
            facility: "0110000001".into(),
            device: device.into(),
            method: "pin".into(),
            person: Some("valid".into()),
            shows_qualification: shows,
            result: serde_json::json!({"QualificationValidity": "1"}),
        }
    }

    #[test]
    fn a_challenge_is_taken_once() {
        let store = Store::in_memory().unwrap();
        let c = StoredChallenge {
            id: "c1".into(),
            nonce: vec![1, 2, 3],
            issued_at: datetime!(2026-12-01 00:00 UTC),
            expires_at: datetime!(2026-12-01 00:01 UTC),
            used: false,
        };
        store.insert_challenge(&c).unwrap();
        assert_eq!(store.take_challenge("c1").unwrap(), Some(c.clone()));
        let again = store.take_challenge("c1").unwrap().unwrap();
        assert!(again.used);
        assert_eq!(store.take_challenge("nope").unwrap(), None);
        assert_eq!(
            store
                .purge_challenges(datetime!(2026-12-01 00:02 UTC))
                .unwrap(),
            1
        );
    }

    #[test]
    fn history_filters_by_period_and_device() {
        let store = Store::in_memory().unwrap();
        store
            .record_confirmation(&confirmation(datetime!(2026-11-05 10:00 UTC), "A", true))
            .unwrap();
        store
            .record_confirmation(&confirmation(datetime!(2026-11-06 10:00 UTC), "B", true))
            .unwrap();
        store
            .record_confirmation(&confirmation(datetime!(2026-12-01 10:00 UTC), "A", false))
            .unwrap();
        let november = store
            .confirmations(
                "0110000001",
                datetime!(2026-11-01 00:00 UTC),
                datetime!(2026-12-01 00:00 UTC),
                None,
            )
            .unwrap();
        assert_eq!(november.len(), 2);
        let device_a = store
            .confirmations(
                "0110000001",
                datetime!(2026-11-01 00:00 UTC),
                datetime!(2027-01-01 00:00 UTC),
                Some("A"),
            )
            .unwrap();
        assert_eq!(device_a.len(), 2);
        assert!(!device_a[1].shows_qualification);
        assert_eq!(device_a[0].result["QualificationValidity"], "1");
        let other = store
            .confirmations(
                "0220000002",
                datetime!(2026-01-01 00:00 UTC),
                datetime!(2027-01-01 00:00 UTC),
                None,
            )
            .unwrap();
        assert!(other.is_empty());
    }

    #[test]
    fn concurrent_confirmations_each_get_their_own_committed_row() {
        let store = std::sync::Arc::new(Store::in_memory().unwrap());
        let threads: Vec<_> = (0..16)
            .map(|n| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let at = datetime!(2026-11-05 10:00 UTC) + time::Duration::seconds(n);
                    (at, store.record_confirmation(&confirmation(at, "A", true)))
                })
            })
            .collect();
        let mut ids = std::collections::BTreeMap::new();
        for t in threads {
            let (at, id) = t.join().unwrap();
            ids.insert(id.unwrap(), at);
        }
        assert_eq!(ids.len(), 16, "every caller has an id of its own");
        let rows = store
            .confirmations(
                "0110000001",
                datetime!(2026-11-01 00:00 UTC),
                datetime!(2026-12-01 00:00 UTC),
                None,
            )
            .unwrap();
        assert_eq!(rows.len(), 16);
        for row in rows {
            assert_eq!(ids[&row.id], row.confirmed_at, "the id names its own row");
        }
    }

    #[test]
    fn history_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("kazasu-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("service.db");
        {
            let store = Store::open(&path).unwrap();
            store
                .record_confirmation(&confirmation(datetime!(2026-11-05 10:00 UTC), "A", true))
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.confirmation_count().unwrap(), 1);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fixtures_and_registrations() {
        let store = Store::in_memory().unwrap();
        let person = StoredPerson {
            id: "unregistered".into(),
            fixture: "id = \"unregistered\"".into(),
        };
        let cert = CertificateEntry {
            fingerprint: "ab".into(),
            person: "unregistered".into(),
            kind: "physical".into(),
            phone: None,
            revoked: false,
        };
        store
            .replace_fixtures(std::slice::from_ref(&person), std::slice::from_ref(&cert))
            .unwrap();
        assert_eq!(store.certificate("ab").unwrap(), Some((cert, person)));
        assert_eq!(store.certificate("cd").unwrap(), None);
        let now = datetime!(2026-12-01 10:00 UTC);
        assert!(!store.is_registered_by("unregistered", now).unwrap());
        store
            .insert_registration(&Registration {
                id: "r1".into(),
                person: "unregistered".into(),
                requested_at: now,
                completes_at: now + time::Duration::seconds(15),
            })
            .unwrap();
        assert!(!store.is_registered_by("unregistered", now).unwrap());
        assert!(
            store
                .is_registered_by("unregistered", now + time::Duration::seconds(15))
                .unwrap()
        );
        store.reset_state().unwrap();
        assert!(
            !store
                .is_registered_by("unregistered", now + time::Duration::hours(1))
                .unwrap()
        );
        assert_eq!(
            store.persons().unwrap().len(),
            1,
            "fixtures survive a state reset"
        );
    }
}
