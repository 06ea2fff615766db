//! The folder edge (`kazasu service --oqs-dir DIR`): a thread polling
//! `DIR/req`, answering each request file through the service core and
//! writing the response in `DIR/res`. What the folder is, its names and its
//! rules are in [`crate::after_confirmation::folder`]; this is only the watching,
//! reading and writing.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use crate::after_confirmation::folder::{
    OqsFolder, POLL_INTERVAL, RequestKind, RequestName, classify, write_atomically,
};
use crate::after_confirmation::reference_number;
use crate::codes::{self, ResultCode};
use crate::service::Service;
use crate::xml::MAX_DOCUMENT_BYTES;

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
    service: Service,
    /// Files seen on the previous poll and how they looked.
    settling: HashMap<String, Signature>,
    /// Files skipped and already reported.
    skipped: HashSet<String>,
}

impl Watcher {
    pub fn new(folder: OqsFolder, service: Service) -> io::Result<Self> {
        folder.prepare()?;
        Ok(Watcher {
            folder,
            service,
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
        let response = match request.kind {
            RequestKind::InsuranceCardConfirmation => self.confirm(bytes)?,
            RequestKind::ReferenceNumberRegistration => self.register(bytes)?,
        };
        let target = self.folder.res().join(request.response_name());
        write_atomically(&target, &response)?;
        Ok(target)
    }

    /// An OQSsiquc01req: [`Service::confirm_by_insurance_card`], or a
    /// SegmentOfResult 9 response for a file that cannot be one.
    fn confirm(&self, bytes: Result<Vec<u8>, &'static ResultCode>) -> io::Result<Vec<u8>> {
        let parsed = bytes.and_then(|b| {
            crate::xml::parse_request(&b).map_err(|e| {
                tracing::info!("malformed OQSsiquc01req: {e}");
                &codes::MALFORMED_REQUEST
            })
        });
        let character_code = self.folder.character_code;
        let outcome = match parsed {
            Ok(request) => {
                self.service
                    .confirm_by_insurance_card(&request, Some(character_code))
                    .map_err(io::Error::other)?
                    .1
            }
            Err(code) => self
                .service
                .unreadable_confirmation(self.folder.facility.clone(), character_code, code)
                .map_err(io::Error::other)?,
        };
        crate::xml::render(&outcome).map_err(io::Error::other)
    }

    /// An OQSsiimm01req: [`Service::register_reference_number`], or a
    /// SegmentOfResult 9 response for a file that cannot be one.
    fn register(&self, bytes: Result<Vec<u8>, &'static ResultCode>) -> io::Result<Vec<u8>> {
        let parsed = bytes.and_then(|b| {
            reference_number::parse_request(&b).map_err(|e| {
                tracing::info!("malformed OQSsiimm01req: {e}");
                &codes::MALFORMED_REQUEST
            })
        });
        let character_code = self.folder.character_code;
        let response = match parsed {
            Ok(registration) => {
                self.service
                    .register_reference_number(registration, Some(character_code))
                    .map_err(io::Error::other)?
                    .response
            }
            Err(code) => self.service.unreadable_registration(
                self.folder.facility.clone(),
                character_code,
                code,
            ),
        };
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
