//! A local certificate authority and server certificate for `--tls`, made
//! with rcgen, so a client can test HTTPS against the mock by trusting one
//! CA file.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyUsagePurpose, SerialNumber,
};
use sim_card::keys::RsaKey;

/// PEM texts of the CA and of the server's certificate and key.
pub struct ServerTls {
    pub ca_certificate_pem: String,
    pub certificate_pem: String,
    pub private_key_pem: String,
}

/// Errors while making the certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make the TLS certificates: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("cannot export the TLS key: {0}")]
    Key(#[from] sim_card::keys::KeyError),
}

/// Makes a CA and a certificate for `names` (DNS names or IP addresses)
/// signed by it. Keys are derived from `seed`, so the CA file a client
/// trusts stays valid across restarts with the same seed.
pub fn server_tls(seed: &str, names: &[String]) -> Result<ServerTls, TlsError> {
    let ca_key = RsaKey::derive(seed, "service-tls-ca");
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kazasu mock service CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.serial_number = Some(serial(seed, "ca"));
    let ca_certificate = ca_params.self_signed(&ca_key)?;

    let server_key = RsaKey::derive(seed, "service-tls-server");
    let mut params = CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kazasu mock service");
    params.serial_number = Some(serial(seed, "server"));
    let issuer = Issuer::new(ca_params, &ca_key);
    let certificate = params.signed_by(&server_key, &issuer)?;
    Ok(ServerTls {
        ca_certificate_pem: ca_certificate.pem(),
        certificate_pem: certificate.pem(),
        private_key_pem: server_key.private_key_pem()?,
    })
}

/// A positive 16-byte serial derived from the seed: reproducible, and
/// distinct for the CA and the server.
fn serial(seed: &str, which: &str) -> SerialNumber {
    let mut bytes = openssl::sha::sha256(format!("{seed}\0{which}").as_bytes())[..16].to_vec();
    bytes[0] &= 0x7F;
    SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::x509::X509;

    #[test]
    fn server_certificate_chains_to_the_ca_and_names_the_host() {
        let tls = server_tls("test", &["localhost".into(), "127.0.0.1".into()]).unwrap();
        let ca = X509::from_pem(tls.ca_certificate_pem.as_bytes()).unwrap();
        let leaf = X509::from_pem(tls.certificate_pem.as_bytes()).unwrap();
        assert!(leaf.verify(&ca.public_key().unwrap()).unwrap());
        let names: Vec<String> = leaf
            .subject_alt_names()
            .unwrap()
            .iter()
            .filter_map(|n| n.dnsname().map(str::to_string))
            .collect();
        assert_eq!(names, ["localhost"]);
        assert!(tls.private_key_pem.contains("PRIVATE KEY"));
    }
}
