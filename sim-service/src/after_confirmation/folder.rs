//! The folder exchange (`kazasu service --oqs-dir DIR`; the watcher is the
//! edge [`crate::oqs_dir`]): how a receipt
//! computer talks to the service through files, as with the confirmation
//! terminal's shared folder (harness/RECEIPT-COMPUTER.md).
//!
//! ```text
//! DIR/req/OQSsiquc01req_<id>.xml   → DIR/res/OQSsiquc01res_<id>.xml   confirmation by insurance card number
//! DIR/req/OQSsiimm01req_<id>.xml   → DIR/res/OQSsiimm01res_<id>.xml   照会番号 registration
//!                                    DIR/face/OQSsiquc01res_face_<n>_<YYYYMMDDHHMMSS>.xml
//!                                      every card confirmation of the folder's facility
//! ```
//!
//! `<id>` is 1 to 64 of `A–Z a–z 0–9 _ -`; the response reuses it. In the
//! face file's name `<n>` is the confirmation's id in the service's history
//! (two confirmations in one second get two files) and the time is the
//! service clock's, JST.
//!
//! How it works, and what a receipt computer must do:
//! - **Polling**, every [`POLL_INTERVAL`] (200 ms): simpler than filesystem
//!   notifications and the same on every filesystem, including network shares.
//! - **Write requests under another name, then rename**: only names matching
//!   the patterns above are read, so `OQSsiquc01req_42.xml.tmp` (or any other
//!   name) is ignored until renamed. As a second guard a file is read only
//!   once its size and modification time are the same on two polls in a row.
//! - Responses are written the same way (a hidden temporary name in `res`,
//!   then a rename): a response that exists is complete.
//! - **A request is deleted once answered.** A file that is skipped (see
//!   below) is left where it is and logged once.
//! - Responses follow the folder's CharacterCodeIdentifier (`--oqs-character-code`):
//!   0 UTF-8, 1 Shift_JIS, with the Shift_JIS character rules. Requests may
//!   come in either encoding, as their declaration says.
//!
//! Hostile input never crashes the watcher and never touches anything outside
//! DIR:
//! - unreadable XML, a DTD or entity (so no entity bomb), a wrong root,
//!   missing fields → a response with SegmentOfResult 9 and ErrorCode
//!   [`crate::codes::MALFORMED_REQUEST`]; a file over [`crate::xml::MAX_DOCUMENT_BYTES`]
//!   → ErrorCode [`crate::codes::REQUEST_TOO_LARGE`], without reading it;
//! - names not matching a pattern, symbolic links (never followed: checked
//!   with `symlink_metadata`, and the opened file must be the same inode),
//!   anything but a regular file → skipped with a logged reason;
//! - names are never used as paths: the response's name is built from the
//!   validated `<id>` alone; `req`, `res` and `face` must be real folders
//!   (not links) when the watcher starts.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::{OffsetDateTime, PrimitiveDateTime};

use crate::clock::JST;
use crate::model::dates::format_yyyymmddhhmmss;
use crate::model::{CharacterCodeIdentifier, ConfirmationOutcome, MedicalInstitutionCode};

/// How often `req` is scanned.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The longest `<id>` in a request's name.
pub const MAX_ID_CHARS: usize = 64;

/// One facility's exchange folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OqsFolder {
    pub dir: PathBuf,
    /// The facility whose terminal the folder is: its card confirmations
    /// drop face files, and it is named in error responses that cannot say.
    pub facility: MedicalInstitutionCode,
    /// The facility's setting: the encoding of every file written.
    pub character_code: CharacterCodeIdentifier,
}

impl OqsFolder {
    pub fn req(&self) -> PathBuf {
        self.dir.join("req")
    }
    pub fn res(&self) -> PathBuf {
        self.dir.join("res")
    }
    pub fn face(&self) -> PathBuf {
        self.dir.join("face")
    }

    /// Creates `req`, `res` and `face` if missing; refuses any that is not a
    /// real folder (a symbolic link could lead the service outside DIR).
    pub fn prepare(&self) -> io::Result<()> {
        for sub in [self.req(), self.res(), self.face()] {
            match fs::symlink_metadata(&sub) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(io::Error::other(format!(
                        "{} is not a folder (symbolic links are not followed)",
                        sub.display()
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(&sub)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The requests the folder answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// OQSsiquc01req: confirmation by insurance card number.
    InsuranceCardConfirmation,
    /// OQSsiimm01req: 照会番号 registration.
    ReferenceNumberRegistration,
}

impl RequestKind {
    fn prefixes(self) -> (&'static str, &'static str) {
        match self {
            RequestKind::InsuranceCardConfirmation => ("OQSsiquc01req_", "OQSsiquc01res_"),
            RequestKind::ReferenceNumberRegistration => ("OQSsiimm01req_", "OQSsiimm01res_"),
        }
    }
}

/// A request file's name, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestName {
    pub kind: RequestKind,
    pub id: String,
}

impl RequestName {
    /// The response's file name (in `res`).
    pub fn response_name(&self) -> String {
        format!("{}{}.xml", self.kind.prefixes().1, self.id)
    }
}

/// Reads a file name as a request's, or says why it is not one. Pure.
pub fn classify(name: &str) -> Result<RequestName, String> {
    for kind in [
        RequestKind::InsuranceCardConfirmation,
        RequestKind::ReferenceNumberRegistration,
    ] {
        let Some(rest) = name.strip_prefix(kind.prefixes().0) else {
            continue;
        };
        let Some(id) = rest.strip_suffix(".xml") else {
            return Err("not a final request name (…_<id>.xml); still being written?".into());
        };
        if id.is_empty()
            || id.len() > MAX_ID_CHARS
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!(
                "the id {id:?} is not 1 to {MAX_ID_CHARS} of A-Z a-z 0-9 _ -"
            ));
        }
        return Ok(RequestName {
            kind,
            id: id.to_string(),
        });
    }
    Err("not a request name (OQSsiquc01req_<id>.xml or OQSsiimm01req_<id>.xml)".into())
}

/// Writes `bytes` to `target` through a hidden temporary name in the same
/// folder and a rename, so that a reader never sees half a file. The
/// temporary file is created exclusively (a link planted there fails it),
/// and a rename replaces a link at `target` rather than following it.
pub(crate) fn write_atomically(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = target
        .parent()
        .ok_or_else(|| io::Error::other("no folder"))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other("no file name"))?;
    let temporary = folder.join(format!(".{name}.tmp"));
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, target)
}

/// The face file's name for a confirmation.
pub fn face_name(confirmation_id: i64, at: OffsetDateTime) -> String {
    let jst = at.to_offset(JST);
    format!(
        "OQSsiquc01res_face_{confirmation_id}_{}.xml",
        format_yyyymmddhhmmss(PrimitiveDateTime::new(jst.date(), jst.time()))
    )
}

/// Writes the face file of a card confirmation (ReferenceClassification 1)
/// in the folder's encoding. Texts of a UTF-8 outcome go through the
/// Shift_JIS character rules for a Shift_JIS folder; a Shift_JIS outcome
/// for a UTF-8 folder keeps its substitutions.
pub fn write_face(
    folder: &OqsFolder,
    outcome: &ConfirmationOutcome,
    confirmation_id: i64,
    at: OffsetDateTime,
) -> io::Result<PathBuf> {
    let mut outcome = outcome.clone();
    let identifier = folder.character_code;
    if outcome.message_header.character_code_identifier != identifier {
        outcome.message_header.character_code_identifier = identifier;
        for result in &mut outcome.message_body.result_list {
            result.map_text(&|text| identifier.received_text(text));
        }
    }
    let bytes = crate::xml::render(&outcome).map_err(io::Error::other)?;
    let target = folder.face().join(face_name(confirmation_id, at));
    write_atomically(&target, &bytes)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_names() {
        assert_eq!(
            classify("OQSsiquc01req_20261201-0001.xml").unwrap(),
            RequestName {
                kind: RequestKind::InsuranceCardConfirmation,
                id: "20261201-0001".into()
            }
        );
        assert_eq!(
            classify("OQSsiimm01req_a_b.xml").unwrap().response_name(),
            "OQSsiimm01res_a_b.xml"
        );
        for bad in [
            "OQSsiquc01req_.xml",
            "OQSsiquc01req_1.xml.tmp",
            "OQSsiquc01req_..xml",
            "OQSsiquc01req_a.b.xml",
            "OQSsiquc01req_日本.xml",
            "OQSmuquc01req_1.xml",
            "notes.txt",
        ] {
            assert!(classify(bad).is_err(), "{bad}");
        }
        assert!(classify(&format!("OQSsiquc01req_{}.xml", "1".repeat(65))).is_err());
    }

    #[test]
    fn face_names_carry_the_service_time_in_japan() {
        assert_eq!(
            face_name(7, time::macros::datetime!(2026-12-01 01:02:03 UTC)),
            "OQSsiquc01res_face_7_20261201100203.xml"
        );
    }

    proptest! {
        #[test]
        fn a_valid_name_is_only_ever_a_plain_file_name(name in "\\PC{0,80}") {
            if let Ok(request) = classify(&name) {
                let response = request.response_name();
                prop_assert!(!response.contains('/') && !response.contains(".."));
                prop_assert!(!request.id.is_empty());
            }
        }
    }
}
