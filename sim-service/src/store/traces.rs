//! What the admin console shows of each confirmation beyond its result: the
//! HTTP exchange as the service saw it (masked before it is stored) and the
//! APDU trace the harness posts afterwards.
//!
//! A separate `impl Store`, like `after_confirmation`'s, so that the
//! console's SQL stays apart from the confirmation history's. A trace row lives and dies
//! with its confirmation (cascade on delete, cleared on a state reset).

use rusqlite::{OptionalExtension, params};

use super::{
    CONFIRMATION_COLUMNS, Confirmation, Store, StoreResult, confirmation, json, raw_confirmation,
};

/// The traces' table, created with the store's.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS confirmation_traces (
    confirmation INTEGER PRIMARY KEY REFERENCES confirmations(id) ON DELETE CASCADE,
    http         TEXT,
    apdu         TEXT
);
";

/// What a state reset forgets.
pub(super) const RESET: &str = "DELETE FROM confirmation_traces;";

/// The traces of one confirmation, each as the JSON it was stored as.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfirmationTrace {
    /// The HTTP request and response, masked (see `http::console::trace`).
    pub http: Option<serde_json::Value>,
    /// The APDU records the harness posted (`sim_card::trace::TraceRecord`s).
    pub apdu: Option<serde_json::Value>,
}

/// Sets one trace `column` of a confirmation (parameters: its id, the JSON
/// text), adding its row if need be; inserts nothing when the confirmation
/// does not exist. `column` is `http` or `apdu`, never input.
fn upsert_sql(column: &str) -> String {
    format!(
        "INSERT INTO confirmation_traces (confirmation, {column})
         SELECT id, ?2 FROM confirmations WHERE id = ?1
         ON CONFLICT (confirmation) DO UPDATE SET {column} = excluded.{column}"
    )
}

impl Store {
    /// Keeps the HTTP exchanges of several confirmations in one transaction
    /// (the console's trace writer batches what concurrent confirmations
    /// left). Returns how many had a confirmation to belong to.
    pub fn record_http_traces(&self, traces: &[(i64, serde_json::Value)]) -> StoreResult<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut kept = 0;
        {
            let mut insert = tx.prepare_cached(&upsert_sql("http"))?;
            for (confirmation, http) in traces {
                kept += insert.execute(params![confirmation, http.to_string()])?;
            }
        }
        tx.commit()?;
        Ok(kept)
    }

    /// Keeps (replacing any earlier one) the APDU trace of a confirmation.
    /// `false` when there is no such confirmation.
    pub fn record_apdu_trace(
        &self,
        confirmation: i64,
        apdu: &serde_json::Value,
    ) -> StoreResult<bool> {
        Ok(self
            .conn()
            .execute(&upsert_sql("apdu"), params![confirmation, apdu.to_string()])?
            > 0)
    }

    /// The traces of a confirmation (empty when none were kept).
    pub fn confirmation_trace(&self, confirmation: i64) -> StoreResult<ConfirmationTrace> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT http, apdu FROM confirmation_traces WHERE confirmation = ?1",
                [confirmation],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                    ))
                },
            )
            .optional()?;
        let Some((http, apdu)) = row else {
            return Ok(ConfirmationTrace::default());
        };
        Ok(ConfirmationTrace {
            http: http.map(json).transpose()?,
            apdu: apdu.map(json).transpose()?,
        })
    }

    /// The latest confirmations of every facility, newest first, with
    /// whether each has an HTTP and an APDU trace.
    pub fn latest_confirmations(&self, limit: u32) -> StoreResult<Vec<(Confirmation, bool, bool)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CONFIRMATION_COLUMNS}, t.http IS NOT NULL, t.apdu IS NOT NULL
             FROM confirmations c LEFT JOIN confirmation_traces t ON t.confirmation = c.id
             ORDER BY c.id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit], |r| {
            Ok((
                raw_confirmation(r)?,
                r.get::<_, Option<bool>>(8)?.unwrap_or(false),
                r.get::<_, Option<bool>>(9)?.unwrap_or(false),
            ))
        })?;
        rows.map(|row| {
            let (raw, http, apdu) = row?;
            Ok((confirmation(raw)?, http, apdu))
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewConfirmation;
    use super::*;
    use time::macros::datetime;

    fn confirm(store: &Store) -> i64 {
        store
            .record_confirmation(&NewConfirmation {
                confirmed_at: datetime!(2026-12-01 10:00 UTC),
                facility: "0110000001".into(),
                device: "受付1".into(),
                method: "pin".into(),
                person: Some("valid".into()),
                shows_qualification: true,
                result: serde_json::json!({"QualificationValidity": "1"}),
            })
            .unwrap()
    }

    #[test]
    fn traces_attach_to_an_existing_confirmation_only() {
        let store = Store::in_memory().unwrap();
        let id = confirm(&store);
        assert_eq!(
            store.confirmation_trace(id).unwrap(),
            ConfirmationTrace::default()
        );
        let http = serde_json::json!({"request": {"method": "pin"}});
        // One batch: the trace of a confirmation that does not exist is
        // left out, the others kept.
        let batch = [(id + 1, http.clone()), (id, http.clone())];
        assert_eq!(store.record_http_traces(&batch).unwrap(), 1);
        let apdu = serde_json::json!([{"summary": "SELECT"}]);
        assert!(store.record_apdu_trace(id, &apdu).unwrap());
        let again = serde_json::json!([{"summary": "SELECT again"}]);
        assert!(store.record_apdu_trace(id, &again).unwrap());
        assert_eq!(
            store.confirmation_trace(id).unwrap(),
            ConfirmationTrace {
                http: Some(http),
                apdu: Some(again)
            }
        );
        assert!(!store.record_apdu_trace(id + 1, &apdu).unwrap());
        let latest = store.latest_confirmations(10).unwrap();
        assert_eq!(latest.len(), 1);
        assert_eq!((latest[0].0.id, latest[0].1, latest[0].2), (id, true, true));
        store.reset_state().unwrap();
        assert_eq!(
            store.confirmation_trace(id).unwrap(),
            ConfirmationTrace::default()
        );
    }
}
