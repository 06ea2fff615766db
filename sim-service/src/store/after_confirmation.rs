//! The rows of what facilities do after a confirmation (see
//! [`crate::after_confirmation`]): 照会番号 registered by facilities, and the
//! receipt-computer credentials with their download sessions.
//!
//! A separate `impl Store` so that this SQL lives apart from the
//! confirmation history's; the tables are created with the others when the
//! store opens.

use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::{
    CONFIRMATION_COLUMNS, Confirmation, Store, StoreError, StoreResult, confirmation, from_millis,
    millis, raw_confirmation,
};

/// These tables, created with the store's.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reference_numbers (
    facility         TEXT NOT NULL,
    person           TEXT NOT NULL,
    reference_number TEXT NOT NULL,
    registered_at    INTEGER NOT NULL,
    PRIMARY KEY (facility, person),
    UNIQUE (facility, reference_number)
);
CREATE TABLE IF NOT EXISTS receipt_computer_credentials (
    facility       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    totp_secret    BLOB NOT NULL,
    enrolled_at    INTEGER NOT NULL,
    last_used_step INTEGER
);
CREATE TABLE IF NOT EXISTS receipt_computer_sessions (
    token_hash TEXT PRIMARY KEY,
    facility   TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
";

/// What these tables forget on a state reset (credentials included: they
/// are enrolled through the admin API, like the rest of a run's state).
pub(super) const RESET: &str = "DELETE FROM reference_numbers;
DELETE FROM receipt_computer_credentials; DELETE FROM receipt_computer_sessions;";

/// Why a 照会番号 was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceNumberStoreError {
    /// The facility already gave this number to another person.
    #[error("the facility registered this reference number for another person")]
    InUse,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A facility's receipt-computer credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptComputerCredential {
    pub facility: String,
    /// The password's argon2 PHC string.
    pub password_hash: String,
    pub totp_secret: Vec<u8>,
    /// The last TOTP time step a login was accepted with: codes of this
    /// step or earlier are refused (each code is good once).
    pub last_used_step: Option<u64>,
}

impl Store {
    /// Registers (or replaces) the facility's 照会番号 for a person.
    pub fn register_reference_number(
        &self,
        facility: &str,
        person: &str,
        reference_number: &str,
        at: OffsetDateTime,
    ) -> Result<(), ReferenceNumberStoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(StoreError::from)?;
        let holder: Option<String> = tx
            .query_row(
                "SELECT person FROM reference_numbers WHERE facility = ?1 AND reference_number = ?2",
                params![facility, reference_number],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)?;
        if holder.is_some_and(|h| h != person) {
            return Err(ReferenceNumberStoreError::InUse);
        }
        tx.execute(
            "INSERT INTO reference_numbers (facility, person, reference_number, registered_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (facility, person) DO UPDATE
             SET reference_number = excluded.reference_number, registered_at = excluded.registered_at",
            params![facility, person, reference_number, millis(at)],
        )
        .map_err(StoreError::from)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// Every 照会番号 registered for a person: (facility, number).
    pub fn reference_numbers_of(&self, person: &str) -> StoreResult<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT facility, reference_number FROM reference_numbers WHERE person = ?1 ORDER BY facility",
        )?;
        let rows = stmt.query_map([person], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every 照会番号 registered: (person, facility, number).
    pub fn all_reference_numbers(&self) -> StoreResult<Vec<(String, String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT person, facility, reference_number FROM reference_numbers ORDER BY person, facility",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every 照会番号 one facility registered: (person, number).
    pub fn reference_numbers_at(&self, facility: &str) -> StoreResult<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT person, reference_number FROM reference_numbers WHERE facility = ?1 ORDER BY person",
        )?;
        let rows = stmt.query_map([facility], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One confirmation of the history by its id.
    pub fn confirmation(&self, id: i64) -> StoreResult<Option<Confirmation>> {
        let raw = self
            .conn()
            .query_row(
                &format!("SELECT {CONFIRMATION_COLUMNS} FROM confirmations WHERE id = ?1"),
                [id],
                raw_confirmation,
            )
            .optional()?;
        raw.map(confirmation).transpose()
    }

    /// Enrols (or re-enrols) a facility's receipt computer: a new password
    /// hash and TOTP secret; earlier sessions end.
    pub fn enrol_receipt_computer(
        &self,
        facility: &str,
        password_hash: &str,
        totp_secret: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO receipt_computer_credentials (facility, password_hash, totp_secret, enrolled_at, last_used_step)
             VALUES (?1, ?2, ?3, ?4, NULL)
             ON CONFLICT (facility) DO UPDATE SET password_hash = excluded.password_hash,
               totp_secret = excluded.totp_secret, enrolled_at = excluded.enrolled_at, last_used_step = NULL",
            params![facility, password_hash, totp_secret, millis(at)],
        )?;
        tx.execute(
            "DELETE FROM receipt_computer_sessions WHERE facility = ?1",
            [facility],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The facility's receipt-computer credential, if enrolled.
    pub fn receipt_computer_credential(
        &self,
        facility: &str,
    ) -> StoreResult<Option<ReceiptComputerCredential>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT password_hash, totp_secret, last_used_step FROM receipt_computer_credentials WHERE facility = ?1",
                [facility],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                    ))
                },
            )
            .optional()?;
        Ok(row.map(
            |(password_hash, totp_secret, step)| ReceiptComputerCredential {
                facility: facility.to_string(),
                password_hash,
                totp_secret,
                last_used_step: step.and_then(|s| u64::try_from(s).ok()),
            },
        ))
    }

    /// Records that a login used TOTP step `step`, unless a login already
    /// used it or a later one: returns whether this login got the step. One
    /// transaction, so of two logins racing with the same code exactly one
    /// wins.
    pub fn claim_totp_step(&self, facility: &str, step: u64) -> StoreResult<bool> {
        let step = i64::try_from(step).map_err(|_| StoreError::Corrupt("TOTP step".into()))?;
        let changed = self.conn().execute(
            "UPDATE receipt_computer_credentials SET last_used_step = ?2
             WHERE facility = ?1 AND (last_used_step IS NULL OR last_used_step < ?2)",
            params![facility, step],
        )?;
        Ok(changed == 1)
    }

    /// Opens a download session (the token's SHA-256, never the token).
    pub fn insert_receipt_session(
        &self,
        token_hash: &str,
        facility: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO receipt_computer_sessions (token_hash, facility, expires_at) VALUES (?1, ?2, ?3)",
            params![token_hash, facility, millis(expires_at)],
        )?;
        Ok(())
    }

    /// The facility and expiry of a download session.
    pub fn receipt_session(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(String, OffsetDateTime)>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT facility, expires_at FROM receipt_computer_sessions WHERE token_hash = ?1",
                [token_hash],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()?;
        row.map(|(facility, at)| Ok((facility, from_millis(at)?)))
            .transpose()
    }

    /// Ends a download session.
    pub fn delete_receipt_session(&self, token_hash: &str) -> StoreResult<()> {
        self.conn().execute(
            "DELETE FROM receipt_computer_sessions WHERE token_hash = ?1",
            [token_hash],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_reference_number_belongs_to_one_person_per_facility() {
        let store = Store::in_memory().unwrap();
        let at = datetime!(2026-12-01 01:00 UTC);
        store
            .register_reference_number("0110000001", "valid", "K1", at)
            .unwrap();
        // Re-registering replaces the person's number.
        store
            .register_reference_number("0110000001", "valid", "K2", at)
            .unwrap();
        assert_eq!(
            store.reference_numbers_of("valid").unwrap(),
            vec![("0110000001".to_string(), "K2".to_string())]
        );
        // Another person cannot take K2 at the same facility; elsewhere they can.
        assert!(matches!(
            store.register_reference_number("0110000001", "other", "K2", at),
            Err(ReferenceNumberStoreError::InUse)
        ));
        store
            .register_reference_number("0110000002", "other", "K2", at)
            .unwrap();
        assert_eq!(store.reference_numbers_at("0110000002").unwrap().len(), 1);
        store.reset_state().unwrap();
        assert!(store.reference_numbers_of("valid").unwrap().is_empty());
    }

    #[test]
    fn a_totp_step_is_claimed_once_and_never_backwards() {
        let store = Store::in_memory().unwrap();
        let at = datetime!(2026-12-01 01:00 UTC);
        assert!(
            !store.claim_totp_step("0110000001", 5).unwrap(),
            "not enrolled"
        );
        store
            .enrol_receipt_computer("0110000001", "$argon2id$x", &[7; 20], at)
            .unwrap();
        assert!(store.claim_totp_step("0110000001", 5).unwrap());
        assert!(!store.claim_totp_step("0110000001", 5).unwrap());
        assert!(!store.claim_totp_step("0110000001", 4).unwrap());
        assert!(store.claim_totp_step("0110000001", 6).unwrap());
        let credential = store
            .receipt_computer_credential("0110000001")
            .unwrap()
            .unwrap();
        assert_eq!(credential.last_used_step, Some(6));
        // Re-enrolment forgets the steps and the sessions.
        store.insert_receipt_session("h", "0110000001", at).unwrap();
        store
            .enrol_receipt_computer("0110000001", "$argon2id$y", &[8; 20], at)
            .unwrap();
        assert_eq!(store.receipt_session("h").unwrap(), None);
        assert!(store.claim_totp_step("0110000001", 1).unwrap());
    }
}
