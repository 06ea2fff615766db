//! The folder exchange (`kazasu service --oqs-dir DIR`): how a receipt
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
//!   [`codes::MALFORMED_REQUEST`]; a file over [`crate::xml::MAX_DOCUMENT_BYTES`]
//!   → ErrorCode [`codes::REQUEST_TOO_LARGE`], without reading it;
//! - names not matching a pattern, symbolic links (never followed: checked
//!   with `symlink_metadata`, and the opened file must be the same inode),
//!   anything but a regular file → skipped with a logged reason;
//! - names are never used as paths: the response's name is built from the
//!   validated `<id>` alone; `req`, `res` and `face` must be real folders
//!   (not links) when the watcher starts.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use time::{OffsetDateTime, PrimitiveDateTime};

use super::insurance_card;
use super::reference_number::{self, RegistrationAnswer, RegistrationResponse};
use crate::clock::{JST, ServiceClock, jst_date};
use crate::codes::{self, ResultCode};
use crate::model::dates::format_yyyymmddhhmmss;
use crate::model::{
    CharacterCodeIdentifier, ConfirmationOutcome, MedicalInstitutionCode, ReferenceClassification,
    ResponseContext,
};
use crate::store::Store;
use crate::xml::MAX_DOCUMENT_BYTES;

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

/// What one poll did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Answered; the request was removed.
    Answered { request: String, response: PathBuf },
    /// Left alone, for this reason (reported once per file).
    Skipped { name: String, reason: String },
}

/// A file's size and modification time, to see it stop changing.
type Signature = (u64, Option<SystemTime>);

/// The watcher of one folder: call [`Watcher::poll`] repeatedly, or
/// [`Watcher::spawn`] a thread that does.
pub struct Watcher {
    folder: OqsFolder,
    store: Arc<Store>,
    clock: ServiceClock,
    /// Files seen on the previous poll and how they looked.
    settling: HashMap<String, Signature>,
    /// Files skipped and already reported.
    skipped: HashSet<String>,
}

impl Watcher {
    pub fn new(folder: OqsFolder, store: Arc<Store>, clock: ServiceClock) -> io::Result<Self> {
        folder.prepare()?;
        Ok(Watcher {
            folder,
            store,
            clock,
            settling: HashMap::new(),
            skipped: HashSet::new(),
        })
    }

    /// Runs [`Watcher::poll`] every [`POLL_INTERVAL`] on a thread until
    /// `stop` is set, logging what it does.
    pub fn spawn(mut self, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for handled in self.poll() {
                    match handled {
                        Handled::Answered { request, response } => {
                            tracing::info!(request, response = %response.display(), "answered")
                        }
                        Handled::Skipped { name, reason } => {
                            tracing::warn!(name, reason, "skipped a file in req")
                        }
                    }
                }
                std::thread::sleep(POLL_INTERVAL);
            }
        })
    }

    fn skip(&mut self, name: &str, reason: String, out: &mut Vec<Handled>) {
        if self.skipped.insert(name.to_string()) {
            out.push(Handled::Skipped {
                name: name.to_string(),
                reason,
            });
        }
    }

    /// One scan of `req`: answers every request that has stopped changing.
    pub fn poll(&mut self) -> Vec<Handled> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(self.folder.req()) {
            Ok(entries) => entries,
            Err(e) => {
                self.skip("req", format!("cannot list the folder: {e}"), &mut out);
                return out;
            }
        };
        let mut present = HashSet::new();
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                let shown = entry.file_name().to_string_lossy().into_owned();
                present.insert(shown.clone());
                self.skip(&shown, "the name is not UTF-8".into(), &mut out);
                continue;
            };
            present.insert(name.clone());
            if name.starts_with('.') {
                continue; // hidden: a temporary name by convention
            }
            let request = match classify(&name) {
                Ok(request) => request,
                Err(reason) => {
                    self.skip(&name, reason, &mut out);
                    continue;
                }
            };
            let path = entry.path();
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(_) => continue, // gone since the listing
            };
            if meta.file_type().is_symlink() {
                self.skip(&name, "a symbolic link: not followed".into(), &mut out);
                continue;
            }
            if !meta.is_file() {
                self.skip(&name, "not a regular file".into(), &mut out);
                continue;
            }
            let signature = (meta.len(), meta.modified().ok());
            if self.settling.insert(name.clone(), signature) != Some(signature) {
                continue; // new or still changing: look again next poll
            }
            match self.answer(&path, &meta, &request) {
                Ok(response) => {
                    self.settling.remove(&name);
                    match fs::remove_file(&path) {
                        Ok(()) => out.push(Handled::Answered {
                            request: name,
                            response,
                        }),
                        Err(e) => {
                            out.push(Handled::Answered {
                                request: name.clone(),
                                response,
                            });
                            self.skip(
                                &name,
                                format!("answered, but cannot remove the request: {e}"),
                                &mut out,
                            );
                        }
                    }
                }
                Err(e) => self.skip(&name, format!("cannot answer: {e}"), &mut out),
            }
        }
        self.settling.retain(|name, _| present.contains(name));
        self.skipped.retain(|name| present.contains(name));
        out
    }

    /// Reads, decides and writes the response of one request.
    fn answer(
        &self,
        path: &Path,
        meta: &fs::Metadata,
        request: &RequestName,
    ) -> io::Result<PathBuf> {
        let bytes = if meta.len() > MAX_DOCUMENT_BYTES as u64 {
            Err(&codes::REQUEST_TOO_LARGE)
        } else {
            read_no_follow(path, meta)?
        };
        let now = self.clock.now();
        let response = match request.kind {
            RequestKind::InsuranceCardConfirmation => self.confirm(bytes, now)?,
            RequestKind::ReferenceNumberRegistration => self.register(bytes, now)?,
        };
        let target = self.folder.res().join(request.response_name());
        write_atomically(&target, &response)?;
        Ok(target)
    }

    fn failure_context(
        &self,
        now: OffsetDateTime,
        kind: ReferenceClassification,
    ) -> ResponseContext {
        let jst = now.to_offset(JST);
        ResponseContext {
            process_execution_time: PrimitiveDateTime::new(jst.date(), jst.time()),
            qualification_confirmation_date: jst_date(now),
            medical_institution_code: self.folder.facility.clone(),
            arbitrary_file_identifier: None,
            reference_classification: kind,
            character_code_identifier: self.folder.character_code,
        }
    }

    fn confirm(
        &self,
        bytes: Result<Vec<u8>, &'static ResultCode>,
        now: OffsetDateTime,
    ) -> io::Result<Vec<u8>> {
        let parsed = bytes.and_then(|b| {
            crate::xml::parse_request(&b).map_err(|e| {
                tracing::info!("malformed OQSsiquc01req: {e}");
                &codes::MALFORMED_REQUEST
            })
        });
        let outcome = match parsed {
            Ok(request) => {
                insurance_card::confirm(&self.store, &request, self.folder.character_code, now)
                    .map_err(io::Error::other)?
                    .1
            }
            Err(code) => ConfirmationOutcome::failed(
                &self.failure_context(now, ReferenceClassification::InsuredCardInfo),
                code,
            )
            .map_err(io::Error::other)?,
        };
        crate::xml::render(&outcome).map_err(io::Error::other)
    }

    fn register(
        &self,
        bytes: Result<Vec<u8>, &'static ResultCode>,
        now: OffsetDateTime,
    ) -> io::Result<Vec<u8>> {
        let jst = now.to_offset(JST);
        let mut response = RegistrationResponse {
            process_execution_time: PrimitiveDateTime::new(jst.date(), jst.time()),
            medical_institution_code: self.folder.facility.clone(),
            arbitrary_file_identifier: None,
            character_code_identifier: self.folder.character_code,
            answer: RegistrationAnswer::Failed(&codes::MALFORMED_REQUEST),
        };
        let parsed = bytes.and_then(|b| {
            reference_number::parse_request(&b).map_err(|e| {
                tracing::info!("malformed OQSsiimm01req: {e}");
                &codes::MALFORMED_REQUEST
            })
        });
        match parsed {
            Ok(registration) => {
                let persons = insurance_card::persons_with_reference_numbers(&self.store)
                    .map_err(io::Error::other)?;
                let answer = reference_number::register(&self.store, &persons, &registration, now)
                    .map_err(io::Error::other)?;
                response.medical_institution_code = registration.medical_institution_code.clone();
                response.arbitrary_file_identifier = registration.arbitrary_file_identifier.clone();
                response.answer = match answer {
                    Ok(_) => RegistrationAnswer::Registered(registration.info),
                    Err(refusal) => RegistrationAnswer::Refused(registration.info, refusal),
                };
            }
            Err(code) => response.answer = RegistrationAnswer::Failed(code),
        }
        reference_number::render_response(&response).map_err(io::Error::other)
    }
}

/// Reads a request without following links: the opened file must be the
/// inode `meta` described (a link swapped in after the check is refused).
fn read_no_follow(
    path: &Path,
    meta: &fs::Metadata,
) -> io::Result<Result<Vec<u8>, &'static ResultCode>> {
    let file = fs::File::open(path)?;
    let opened = file.metadata()?;
    if opened.dev() != meta.dev() || opened.ino() != meta.ino() || !opened.is_file() {
        return Err(io::Error::other(
            "the file changed into another while being opened",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Ok(Err(&codes::REQUEST_TOO_LARGE));
    }
    Ok(Ok(bytes))
}

/// Writes `bytes` to `target` through a hidden temporary name in the same
/// folder and a rename, so that a reader never sees half a file. The
/// temporary file is created exclusively (a link planted there fails it),
/// and a rename replaces a link at `target` rather than following it.
fn write_atomically(target: &Path, bytes: &[u8]) -> io::Result<()> {
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
            result.map_text(&|text| crate::charset::for_facility(text, identifier));
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
