//! The certificate of conformance: a conformance run's verdicts, the suite
//! they were reached on and the client they are about, signed by whoever
//! ran it (docs/certificate.md).
//!
//! What the signature proves is narrow, and this module keeps it so: that
//! the holder of one Ed25519 key (named in the certificate by its
//! fingerprint) issued exactly these verdicts about exactly this suite, and
//! that nothing was changed since. It does not prove that the run was
//! honest: the signer controls the machine the suite ran on. Who the key
//! belongs to is for the reader to establish (a fingerprint the vendor
//! published, a test lab's key); [`verify`] reports the fingerprint so that
//! they can.
//!
//! The signed bytes are the `statement` object written canonically (keys
//! sorted, no white space), so a certificate survives being re-indented or
//! re-ordered by a JSON tool, and any change of a value breaks it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scenario::report::{RuleResult, RunReport, tool};

/// The certificate format's name and version, the first thing checked.
pub const FORMAT: &str = "kazasu-conformance-certificate/1";

/// The one signature algorithm: small keys, deterministic signatures, no
/// parameters to get wrong, and in the OpenSSL the card already uses.
pub const ALGORITHM: &str = "Ed25519";

/// A signed certificate, as written to its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub statement: Statement,
    pub signature: Signature,
}

/// What the signer states: everything but the signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// [`FORMAT`].
    pub format: String,
    /// The kazasu that ran the suite (its built-in fixture persons and rules
    /// are part of what the verdicts mean).
    pub tool: String,
    pub suite: Suite,
    pub client: DeclaredClient,
    /// How the client reached the card: `pcsc` for a vendor's client.
    pub transport: String,
    /// Where the card was: `this computer's pcscd`, or the remote vpcd
    /// host and the reader's name there (`--vpcd-host`).
    pub card_reader: String,
    /// The readers the suite's cards were held to (`[card.reader]`), each
    /// once, as the scenario files spell them; `{}` is the ideal reader.
    pub reader_profiles: Vec<Value>,
    /// When the run started, RFC 3339 (UTC).
    pub started_at: String,
    /// Every conformance rule across the suite.
    pub rules: Vec<RuleResult>,
    /// Every scenario's verdict, in id order.
    pub scenarios: Vec<ScenarioVerdict>,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Every rule held in every scenario and every scenario passed.
    pub conforms: bool,
}

/// The client as its vendor declared it (`--client-name`,
/// `--client-version`), and how the runner started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredClient {
    pub name: String,
    pub version: String,
    /// The runner's own name for it (`external command `…``).
    pub run_as: String,
}

/// One scenario's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioVerdict {
    pub id: String,
    /// `passed`, `failed` or `skipped`.
    pub verdict: String,
}

/// The suite the verdicts were reached on: every `*.toml` file under its
/// folder (scenarios and `persons/` files), by path relative to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// The suite's version: the version of the kazasu it ships with.
    pub version: String,
    /// SHA-256 (hex) of the lines `<sha256 hex>  <path>\n` of every file,
    /// sorted by path: what `sha256sum` prints, so that
    /// `find . -name '*.toml' -printf '%P\n' | LC_ALL=C sort | xargs sha256sum | sha256sum`
    /// in the folder gives the same digest.
    pub sha256: String,
    pub files: Vec<SuiteFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    pub path: String,
    pub sha256: String,
}

/// The signature over the canonical statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// [`ALGORITHM`].
    pub algorithm: String,
    /// The signer's public key (SubjectPublicKeyInfo PEM).
    pub public_key: String,
    /// `SHA256:` and the hex SHA-256 of the public key's DER: the name a
    /// vendor publishes and a customer compares.
    pub fingerprint: String,
    /// Base64 of the 64-byte signature.
    pub value: String,
}

impl Suite {
    /// Hashes every `*.toml` file under `folder`.
    pub fn of_folder(folder: &Path) -> Result<Suite, String> {
        if !folder.is_dir() {
            return Err(format!(
                "{}: a certificate covers a whole suite, give its folder",
                folder.display()
            ));
        }
        let mut paths = Vec::new();
        collect_toml(folder, &mut paths)?;
        let mut files: Vec<SuiteFile> = paths
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok(SuiteFile {
                    path: relative(folder, &path),
                    sha256: hex::encode(openssl::sha::sha256(&bytes)),
                })
            })
            .collect::<Result<_, String>>()?;
        files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        Ok(Suite {
            version: env!("CARGO_PKG_VERSION").to_string(),
            sha256: digest_of(&files),
            files,
        })
    }

    /// What differs from `other` (the suite found now), file by file;
    /// empty when the two are the same suite.
    pub fn differences(&self, other: &Suite) -> Vec<String> {
        let mut found = Vec::new();
        for file in &self.files {
            match other.files.iter().find(|f| f.path == file.path) {
                None => found.push(format!("{} is gone", file.path)),
                Some(f) if f.sha256 != file.sha256 => found.push(format!("{} changed", file.path)),
                Some(_) => {}
            }
        }
        for file in &other.files {
            if !self.files.iter().any(|f| f.path == file.path) {
                found.push(format!("{} is new", file.path));
            }
        }
        if found.is_empty() && self.sha256 != other.sha256 {
            found.push(format!(
                "the suite's digest {} is not that of its own file list ({})",
                self.sha256, other.sha256
            ));
        }
        found
    }
}

/// The `sha256sum` listing's digest.
fn digest_of(files: &[SuiteFile]) -> String {
    let listing: String = files
        .iter()
        .map(|f| format!("{}  {}\n", f.sha256, f.path))
        .collect();
    hex::encode(openssl::sha::sha256(listing.as_bytes()))
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// `root/pin/wrong-once.toml` → `pin/wrong-once.toml`, `/` on every system.
fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

impl Statement {
    /// The statement of a conformance run: its report (which must carry the
    /// conformance profile's certification), the suite it ran, and the
    /// client as declared.
    pub fn of_run(
        report: &RunReport,
        suite: Suite,
        client: DeclaredClient,
        card_reader: String,
    ) -> Result<Self, String> {
        let certification = report.certification.as_ref().ok_or(
            "a certificate is written for a conformance run only: add --profile conformance",
        )?;
        let mut reader_profiles: Vec<Value> = Vec::new();
        for s in &report.scenarios {
            let profile = serde_json::to_value(&s.scenario.card.reader).unwrap_or(Value::Null);
            if !reader_profiles.contains(&profile) {
                reader_profiles.push(profile);
            }
        }
        let scenarios = report
            .scenarios
            .iter()
            .map(|s| ScenarioVerdict {
                id: s.id.clone(),
                verdict: if s.skipped.is_some() {
                    "skipped"
                } else if s.passed {
                    "passed"
                } else {
                    "failed"
                }
                .to_string(),
            })
            .collect();
        Ok(Statement {
            format: FORMAT.to_string(),
            tool: tool(),
            suite,
            client,
            transport: report.transport.clone(),
            card_reader,
            reader_profiles,
            started_at: report.started_at.clone(),
            rules: certification.rules.clone(),
            scenarios,
            passed: report.passed,
            failed: report.failed,
            skipped: report.skipped,
            conforms: certification.conforms,
        })
    }

    /// Whether the statement's verdicts agree with each other: counts with
    /// the scenarios, `conforms` with the rules and the scenarios. A
    /// signature only says who stated something; this says it is coherent.
    pub fn inconsistencies(&self) -> Vec<String> {
        let mut found = Vec::new();
        let count = |verdict: &str| {
            self.scenarios
                .iter()
                .filter(|s| s.verdict == verdict)
                .count()
        };
        for (name, stated, counted) in [
            ("passed", self.passed, count("passed")),
            ("failed", self.failed, count("failed")),
            ("skipped", self.skipped, count("skipped")),
        ] {
            if stated != counted {
                found.push(format!(
                    "it says {stated} {name} but lists {counted} scenarios {name}"
                ));
            }
        }
        if let Some(s) = self
            .scenarios
            .iter()
            .find(|s| !matches!(s.verdict.as_str(), "passed" | "failed" | "skipped"))
        {
            found.push(format!("scenario {} has no verdict: {:?}", s.id, s.verdict));
        }
        for rule in &self.rules {
            if let Some(id) = rule.violated_in.iter().find(|id| {
                !self
                    .scenarios
                    .iter()
                    .any(|s| &s.id == *id && s.verdict == "failed")
            }) {
                found.push(format!(
                    "rule {} is broken in {id}, which is not listed as failed",
                    rule.rule
                ));
            }
        }
        let conforms = self.rules.iter().all(|r| r.failed == 0 && r.passed > 0)
            && self.failed == 0
            && self.scenarios.iter().all(|s| s.verdict != "failed");
        if self.conforms != conforms {
            found.push(format!(
                "it says conforms = {} but its rules and scenarios say {conforms}",
                self.conforms
            ));
        }
        found
    }
}

/// A signing key: an Ed25519 private key.
pub struct SigningKey(PKey<Private>);

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Result<Self, String> {
        PKey::generate_ed25519()
            .map(SigningKey)
            .map_err(|e| format!("cannot generate an Ed25519 key: {e}"))
    }

    /// A PKCS#8 PEM private key; only Ed25519 is taken.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let key =
            PKey::private_key_from_pem(pem).map_err(|e| format!("not a PEM private key: {e}"))?;
        if key.id() != Id::ED25519 {
            return Err(format!(
                "the key is not an {ALGORITHM} key: make one with `kazasu keygen`"
            ));
        }
        Ok(SigningKey(key))
    }

    pub fn private_pem(&self) -> Result<String, String> {
        let pem = self
            .0
            .private_key_to_pem_pkcs8()
            .map_err(|e| format!("cannot write the key: {e}"))?;
        String::from_utf8(pem).map_err(|e| e.to_string())
    }

    pub fn public_pem(&self) -> Result<String, String> {
        let pem = self
            .0
            .public_key_to_pem()
            .map_err(|e| format!("cannot write the public key: {e}"))?;
        String::from_utf8(pem).map_err(|e| e.to_string())
    }

    pub fn fingerprint(&self) -> Result<String, String> {
        let der = self
            .0
            .public_key_to_der()
            .map_err(|e| format!("cannot encode the public key: {e}"))?;
        Ok(fingerprint_of_der(&der))
    }

    /// Signs the statement.
    pub fn sign(&self, statement: Statement) -> Result<Certificate, String> {
        let bytes = canonical_bytes(&serde_json::to_value(&statement).map_err(|e| e.to_string())?);
        let mut signer =
            Signer::new_without_digest(&self.0).map_err(|e| format!("cannot sign: {e}"))?;
        let value = signer
            .sign_oneshot_to_vec(&bytes)
            .map_err(|e| format!("cannot sign: {e}"))?;
        Ok(Certificate {
            statement,
            signature: Signature {
                algorithm: ALGORITHM.to_string(),
                public_key: self.public_pem()?,
                fingerprint: self.fingerprint()?,
                value: base64::engine::general_purpose::STANDARD.encode(value),
            },
        })
    }
}

impl Certificate {
    pub fn json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// `SHA256:<hex>` of a public key's DER.
fn fingerprint_of_der(der: &[u8]) -> String {
    format!("SHA256:{}", hex::encode(openssl::sha::sha256(der)))
}

/// The fingerprint of a PEM public key (for `--public-key`, or printed by
/// `kazasu keygen`).
pub fn public_key_fingerprint(pem: &[u8]) -> Result<String, String> {
    let key = public_key(pem)?;
    let der = key.public_key_to_der().map_err(|e| e.to_string())?;
    Ok(fingerprint_of_der(&der))
}

fn public_key(pem: &[u8]) -> Result<PKey<Public>, String> {
    let key = PKey::public_key_from_pem(pem).map_err(|e| format!("not a PEM public key: {e}"))?;
    if key.id() != Id::ED25519 {
        return Err(format!("the public key is not an {ALGORITHM} key"));
    }
    Ok(key)
}

/// JSON with object keys sorted and no white space: the bytes signed.
fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out.into_bytes()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// What `verify` found in a certificate it accepts.
#[derive(Debug, Clone)]
pub struct Verified {
    pub statement: Statement,
    pub fingerprint: String,
    /// Whether the key was the one the caller trusts (`--public-key`); when
    /// not, only the fingerprint ties the certificate to a signer.
    pub key_checked: bool,
    /// Said, not refused: a certificate made by another kazasu.
    pub notes: Vec<String>,
}

/// Checks a certificate's text: its signature (against `trusted`, the
/// public key PEM the reader trusts, when given), the coherence of its
/// verdicts, and its suite against `suite`, the suite found now. Each
/// refusal says what is wrong.
pub fn verify(text: &str, trusted: Option<&[u8]>, suite: &Suite) -> Result<Verified, String> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| format!("not a certificate (not JSON: {e})"))?;
    let format = document
        .pointer("/statement/format")
        .and_then(Value::as_str)
        .unwrap_or("(none)");
    if format != FORMAT {
        return Err(format!(
            "not a certificate this kazasu reads: format {format:?}, expected {FORMAT:?}"
        ));
    }
    let certificate: Certificate = serde_json::from_value(document.clone())
        .map_err(|e| format!("a malformed certificate: {e}"))?;
    let signature = &certificate.signature;
    if signature.algorithm != ALGORITHM {
        return Err(format!(
            "signed with {:?}; this kazasu checks {ALGORITHM} signatures only",
            signature.algorithm
        ));
    }
    let enclosed = public_key(signature.public_key.as_bytes())
        .map_err(|e| format!("the certificate's public key: {e}"))?;
    let fingerprint = fingerprint_of_der(&enclosed.public_key_to_der().map_err(|e| e.to_string())?);
    if fingerprint != signature.fingerprint {
        return Err(format!(
            "the certificate names the key {} but encloses the key {fingerprint}",
            signature.fingerprint
        ));
    }
    if let Some(trusted) = trusted {
        let expected = public_key_fingerprint(trusted)?;
        if expected != fingerprint {
            return Err(format!(
                "signed by another key: the certificate's key is {fingerprint}, the key you \
                 trust is {expected}"
            ));
        }
    }
    let value = base64::engine::general_purpose::STANDARD
        .decode(signature.value.trim())
        .map_err(|e| format!("the signature is not base64: {e}"))?;
    let bytes = canonical_bytes(document.get("statement").unwrap_or(&Value::Null));
    let verified = Verifier::new_without_digest(&enclosed)
        .and_then(|mut v| v.verify_oneshot(&value, &bytes))
        .unwrap_or(false);
    if !verified {
        return Err(
            "the signature does not match: the certificate was changed after it was signed \
             (a verdict, a count, the suite's digest or another field)"
                .into(),
        );
    }
    let statement = certificate.statement;
    let incoherent = statement.inconsistencies();
    if !incoherent.is_empty() {
        return Err(format!(
            "the signed verdicts contradict each other: {}",
            incoherent.join("; ")
        ));
    }
    let differences = statement.suite.differences(suite);
    if !differences.is_empty() {
        return Err(format!(
            "the certificate is about another suite (digest {}; the suite here is {}): {}",
            statement.suite.sha256,
            suite.sha256,
            differences.join(", ")
        ));
    }
    let mut notes = Vec::new();
    if statement.tool != tool() {
        notes.push(format!(
            "made with {}, checked with {}: the built-in fixture persons and rules may differ",
            statement.tool,
            tool()
        ));
    }
    Ok(Verified {
        statement,
        fingerprint,
        key_checked: trusted.is_some(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kazasu-certificate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pin/persons")).unwrap();
        std::fs::write(dir.join("pin/wrong.toml"), "name = \"a\"\n").unwrap();
        std::fs::write(dir.join("pin/persons/p.toml"), "id = \"p\"\n").unwrap();
        std::fs::write(dir.join("visual.toml"), "name = \"b\"\n").unwrap();
        std::fs::write(dir.join("README.md"), "not part of the suite\n").unwrap();
        dir
    }

    fn statement(suite: Suite) -> Statement {
        Statement {
            format: FORMAT.into(),
            tool: tool(),
            suite,
            client: DeclaredClient {
                name: "Clinic Desk".into(),
                version: "2.1".into(),
                run_as: "external command `./adapter.sh`".into(),
            },
            transport: "pcsc".into(),
            card_reader: "this computer's pcscd".into(),
            reader_profiles: vec![serde_json::json!({})],
            started_at: "2026-12-07T10:00:00Z".into(),
            rules: vec![RuleResult {
                rule: "never_reads_my_number".into(),
                passed: 2,
                failed: 0,
                violated_in: vec![],
            }],
            scenarios: vec![
                ScenarioVerdict {
                    id: "pin/wrong".into(),
                    verdict: "passed".into(),
                },
                ScenarioVerdict {
                    id: "visual".into(),
                    verdict: "passed".into(),
                },
            ],
            passed: 2,
            failed: 0,
            skipped: 0,
            conforms: true,
        }
    }

    #[test]
    fn the_suite_digest_is_sha256sum_of_the_sorted_listing() {
        let dir = suite_dir("digest");
        let suite = Suite::of_folder(&dir).unwrap();
        let paths: Vec<&str> = suite.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["pin/persons/p.toml", "pin/wrong.toml", "visual.toml"]
        );
        let listing = format!(
            "{}  pin/persons/p.toml\n{}  pin/wrong.toml\n{}  visual.toml\n",
            hex::encode(openssl::sha::sha256(b"id = \"p\"\n")),
            hex::encode(openssl::sha::sha256(b"name = \"a\"\n")),
            hex::encode(openssl::sha::sha256(b"name = \"b\"\n")),
        );
        assert_eq!(
            suite.sha256,
            hex::encode(openssl::sha::sha256(listing.as_bytes()))
        );
        std::fs::write(dir.join("visual.toml"), "name = \"c\"\n").unwrap();
        let changed = Suite::of_folder(&dir).unwrap();
        assert_ne!(changed.sha256, suite.sha256);
        assert_eq!(suite.differences(&changed), ["visual.toml changed"]);
    }

    #[test]
    fn an_untouched_certificate_verifies_even_reformatted() {
        let suite = Suite::of_folder(&suite_dir("untouched")).unwrap();
        let key = SigningKey::generate().unwrap();
        let certificate = key.sign(statement(suite.clone())).unwrap();
        let text = certificate.json();
        let verified = verify(&text, None, &suite).unwrap();
        assert!(!verified.key_checked);
        assert_eq!(verified.fingerprint, key.fingerprint().unwrap());
        let trusted = key.public_pem().unwrap();
        assert!(
            verify(&text, Some(trusted.as_bytes()), &suite)
                .unwrap()
                .key_checked
        );
        // Compact and re-ordered by a JSON tool: the same statement.
        let compact =
            serde_json::to_string(&serde_json::from_str::<Value>(&text).unwrap()).unwrap();
        verify(&compact, Some(trusted.as_bytes()), &suite).unwrap();
    }

    #[test]
    fn a_changed_verdict_is_refused() {
        let suite = Suite::of_folder(&suite_dir("verdict")).unwrap();
        let key = SigningKey::generate().unwrap();
        let text = key.sign(statement(suite.clone())).unwrap().json();
        let changed = text.replacen("\"verdict\": \"passed\"", "\"verdict\": \"failed\"", 1);
        assert_ne!(changed, text);
        let e = verify(&changed, None, &suite).unwrap_err();
        assert!(e.contains("changed after it was signed"), "{e}");
        let flipped = text.replace("\"conforms\": true", "\"conforms\": false");
        let e = verify(&flipped, None, &suite).unwrap_err();
        assert!(e.contains("changed after it was signed"), "{e}");
    }

    #[test]
    fn another_suite_is_refused_file_by_file() {
        let dir = suite_dir("suite");
        let suite = Suite::of_folder(&dir).unwrap();
        let key = SigningKey::generate().unwrap();
        let text = key.sign(statement(suite.clone())).unwrap().json();
        // The digest edited in the certificate: the signature breaks.
        let forged = text.replace(&suite.sha256, &"0".repeat(64));
        let e = verify(&forged, None, &suite).unwrap_err();
        assert!(e.contains("changed after it was signed"), "{e}");
        // The suite edited in the repository: named file by file.
        std::fs::write(dir.join("pin/wrong.toml"), "name = \"easier\"\n").unwrap();
        std::fs::remove_file(dir.join("visual.toml")).unwrap();
        std::fs::write(dir.join("new.toml"), "name = \"n\"\n").unwrap();
        let now = Suite::of_folder(&dir).unwrap();
        let e = verify(&text, None, &now).unwrap_err();
        assert!(e.contains("another suite"), "{e}");
        assert!(e.contains("pin/wrong.toml changed"), "{e}");
        assert!(e.contains("visual.toml is gone"), "{e}");
        assert!(e.contains("new.toml is new"), "{e}");
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let suite = Suite::of_folder(&suite_dir("key")).unwrap();
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let text = key.sign(statement(suite.clone())).unwrap().json();
        let e = verify(&text, Some(other.public_pem().unwrap().as_bytes()), &suite).unwrap_err();
        assert!(e.contains("signed by another key"), "{e}");
        assert!(e.contains(&other.fingerprint().unwrap()), "{e}");
        // Another key swapped into the certificate, its fingerprint kept.
        let mut document: Value = serde_json::from_str(&text).unwrap();
        document["signature"]["public_key"] = Value::String(other.public_pem().unwrap());
        let e = verify(&document.to_string(), None, &suite).unwrap_err();
        assert!(e.contains("names the key"), "{e}");
        // … and with its own fingerprint: the signature is not its.
        document["signature"]["fingerprint"] = Value::String(other.fingerprint().unwrap());
        let e = verify(&document.to_string(), None, &suite).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
    }

    #[test]
    fn incoherent_verdicts_are_refused_even_when_signed() {
        let suite = Suite::of_folder(&suite_dir("coherent")).unwrap();
        let key = SigningKey::generate().unwrap();
        let mut bad = statement(suite.clone());
        bad.scenarios[1].verdict = "failed".into();
        let text = key.sign(bad).unwrap().json();
        let e = verify(&text, None, &suite).unwrap_err();
        assert!(e.contains("contradict"), "{e}");
        assert!(e.contains("conforms = true"), "{e}");
    }

    #[test]
    fn keys_round_trip_and_only_ed25519_is_taken() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pem(key.private_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(again.fingerprint().unwrap(), key.fingerprint().unwrap());
        assert_eq!(
            public_key_fingerprint(key.public_pem().unwrap().as_bytes()).unwrap(),
            key.fingerprint().unwrap()
        );
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let pem = PKey::from_rsa(rsa)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap();
        let e = SigningKey::from_pem(&pem).err().unwrap();
        assert!(e.contains("not an Ed25519 key"), "{e}");
    }
}
