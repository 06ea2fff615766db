//! `kazasu keygen`, `kazasu verify-report`, and the certificate that
//! `kazasu run --certificate` writes (docs/certificate.md).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use kazasu::certificate::{self, DeclaredClient, SigningKey, Statement, Suite};
use kazasu::scenario::pcsc_slot::VpcdReaders;
use kazasu::scenario::report::RunReport;

#[derive(Args)]
pub struct KeygenArgs {
    /// The private key to write (PKCS#8 PEM, readable by its owner only);
    /// the public key goes beside it as `<name>.pub.pem`. Existing files are
    /// never overwritten.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
}

/// Writes a new Ed25519 key pair and prints the public key's fingerprint.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let key = SigningKey::generate().map_err(anyhow::Error::msg)?;
    let public = public_path(&args.out);
    for path in [&args.out, &public] {
        if path.exists() {
            bail!(
                "{} exists; kazasu keygen never overwrites a key",
                path.display()
            );
        }
    }
    let private = key.private_pem().map_err(anyhow::Error::msg)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.out)
        .and_then(|mut f| f.write_all(private.as_bytes()))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    std::fs::write(&public, key.public_pem().map_err(anyhow::Error::msg)?)
        .with_context(|| format!("cannot write {}", public.display()))?;
    println!("private key: {} (keep it secret)", args.out.display());
    println!("public key:  {} (publish it)", public.display());
    println!(
        "fingerprint: {}",
        key.fingerprint().map_err(anyhow::Error::msg)?
    );
    Ok(())
}

/// `key.pem` → `key.pub.pem`.
fn public_path(private: &Path) -> PathBuf {
    let stem = private.file_stem().unwrap_or_default().to_string_lossy();
    private.with_file_name(format!("{stem}.pub.pem"))
}

#[derive(Args)]
pub struct VerifyReportArgs {
    /// The certificate (`kazasu run --certificate FILE`).
    file: PathBuf,
    /// The signer's public key you trust (PEM), e.g. the one the vendor
    /// published. Without it the certificate is checked against the key it
    /// encloses, which proves it unchanged but not who signed it.
    #[arg(long, value_name = "PEM")]
    public_key: Option<PathBuf>,
    /// The suite to compare with: the `scenarios` folder of this repository.
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    scenarios: PathBuf,
}

/// Checks a certificate; an error (exit 1) says why it is refused.
pub fn verify_report(args: VerifyReportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let trusted = match &args.public_key {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        None => None,
    };
    let suite = Suite::of_folder(&args.scenarios).map_err(anyhow::Error::msg)?;
    let verified = certificate::verify(&text, trusted.as_deref(), &suite)
        .map_err(|e| anyhow::anyhow!("REFUSED {}: {e}", args.file.display()))?;
    let s = &verified.statement;
    println!(
        "{}: {} {} {}",
        args.file.display(),
        s.client.name,
        s.client.version,
        if s.conforms {
            "CONFORMS"
        } else {
            "DOES NOT CONFORM"
        }
    );
    println!(
        "  run:       {} over {} ({}), {} passed, {} failed, {} skipped",
        s.started_at, s.transport, s.card_reader, s.passed, s.failed, s.skipped
    );
    println!(
        "  suite:     {} files, sha256 {}, the same as {}",
        s.suite.files.len(),
        s.suite.sha256,
        args.scenarios.display()
    );
    if verified.key_checked {
        println!(
            "  signature: valid, by the key you gave ({})",
            verified.fingerprint
        );
    } else {
        println!(
            "  signature: valid, by the enclosed key {}\n             \
             (unchanged since signed; whose key it is, only a fingerprint you got from the \
             signer tells: check it, or pass --public-key)",
            verified.fingerprint
        );
    }
    for note in &verified.notes {
        println!("  note:      {note}");
    }
    Ok(())
}

/// What `kazasu run` needs to write a certificate: checked before the run,
/// so that a missing key does not cost a whole suite.
pub struct CertificateRequest {
    pub path: PathBuf,
    key: SigningKey,
    suite: Suite,
    name: String,
    version: String,
}

impl CertificateRequest {
    /// `paths` are the run's scenario paths: a certificate covers one whole
    /// suite folder.
    pub fn prepare(
        path: PathBuf,
        signing_key: &Path,
        paths: &[PathBuf],
        client: Option<(String, String)>,
    ) -> anyhow::Result<Self> {
        let key = SigningKey::from_pem(
            &std::fs::read(signing_key)
                .with_context(|| format!("cannot read {}", signing_key.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", signing_key.display()))?;
        let [folder] = paths else {
            bail!("--certificate covers one whole suite: give one scenario folder");
        };
        let suite = Suite::of_folder(folder).map_err(anyhow::Error::msg)?;
        let (name, version) = client.unwrap_or_else(|| {
            (
                "kazasu reference client".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            )
        });
        Ok(CertificateRequest {
            path,
            key,
            suite,
            name,
            version,
        })
    }

    /// Signs the run's verdicts and writes the certificate.
    pub fn write(self, report: &RunReport, readers: &VpcdReaders) -> anyhow::Result<()> {
        let card_reader = match readers {
            VpcdReaders::Local => "this computer's pcscd".to_string(),
            VpcdReaders::Remote { host, reader } => format!("vpcd at {host}, reader {reader:?}"),
        };
        let statement = Statement::of_run(
            report,
            self.suite,
            DeclaredClient {
                name: self.name,
                version: self.version,
                run_as: report.client.clone(),
            },
            card_reader,
        )
        .map_err(anyhow::Error::msg)?;
        let signed = self.key.sign(statement).map_err(anyhow::Error::msg)?;
        std::fs::write(&self.path, signed.json())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        println!(
            "certificate: {} (signed by {})",
            self.path.display(),
            signed.signature.fingerprint
        );
        Ok(())
    }
}
