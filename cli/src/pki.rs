//! The lab's small PKI with rcgen: a CA, and a server certificate for the
//! registry signed by it. Inspection of existing certificates (expiry,
//! SANs, issuer) with x509-parser.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot make the certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{what} is not a valid PEM certificate: {reason}")]
    BadCert { what: String, reason: String },
}

/// A certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What matters about an existing certificate.
pub struct CertInfo {
    pub not_after: OffsetDateTime,
    /// DNS names and IP addresses, as strings.
    pub sans: Vec<String>,
    pub issuer_der: Vec<u8>,
    pub subject_der: Vec<u8>,
    /// The SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
}

/// A new CA for the lab, valid `days`.
pub fn new_ca(lab: &str, days: i64) -> Result<Issued, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("labctl CA {lab}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "labctl");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
    let cert = params.self_signed(&key)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A server certificate for `sans` (the first is the common name), signed
/// by the CA, valid `days`.
pub fn issue_server(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    sans: &[String],
    days: i64,
) -> Result<Issued, PkiError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(sans.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, sans[0].clone());
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Reads expiry, SANs, issuer and subject of a PEM certificate.
pub fn inspect(what: &str, pem: &str) -> Result<CertInfo, PkiError> {
    let bad = |reason: String| PkiError::BadCert {
        what: what.to_string(),
        reason,
    };
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| bad(e.to_string()))?;
    let not_after = cert.validity().not_after.to_datetime();
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).map(IpAddr::from).ok(),
                        16 => <[u8; 16]>::try_from(*b).map(IpAddr::from).ok(),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        not_after,
        sans,
        issuer_der: cert.issuer().as_raw().to_vec(),
        subject_der: cert.subject().as_raw().to_vec(),
        spki_der: cert.public_key().raw.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_cert_has_sans_and_issuer() {
        let ca = new_ca("t", 3650).unwrap();
        let sans = vec![
            "reg.example.com".to_string(),
            "10.0.0.5".to_string(),
            "reg".to_string(),
        ];
        let srv = issue_server(&ca.cert_pem, &ca.key_pem, &sans, 365).unwrap();
        let info = inspect("srv", &srv.cert_pem).unwrap();
        let ca_info = inspect("ca", &ca.cert_pem).unwrap();
        assert_eq!(info.sans, sans);
        assert_eq!(info.issuer_der, ca_info.subject_der);
        let days = (info.not_after - OffsetDateTime::now_utc()).whole_days();
        assert!((363..=365).contains(&days), "{days}");
    }
}
