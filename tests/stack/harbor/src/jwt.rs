//! The token signing key, its certificate, the libtrust key ID distribution looks keys
//! up by, and signing and checking our own JWTs.

use std::path::Path;

use anyhow::{Context, Result, bail};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer};
use serde::{Deserialize, Serialize};

use crate::scope::Access;

enum Key {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

pub struct Signer {
    key: Key,
    /// DER of the certificate, sent in `x5c` so distribution finds the key through its
    /// `rootcertbundle`.
    cert_der: Vec<u8>,
    kid: String,
    rng: SystemRandom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// A string, not a list: distribution 2.8 refuses a list.
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub access: Vec<Access>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    typ: String,
    alg: String,
    #[serde(default)]
    kid: String,
    #[serde(default)]
    x5c: Vec<String>,
}

impl Signer {
    pub fn load(key_path: &Path, cert_path: &Path) -> Result<Signer> {
        let key_der = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read a private key (PEM) from {}: {e}",
                key_path.display()
            )
        })?;
        let cert = CertificateDer::from_pem_file(cert_path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read a certificate (PEM) from {}: {e}",
                cert_path.display()
            )
        })?;
        Signer::from_der(&key_der, cert.as_ref()).with_context(|| {
            format!(
                "signing key {} with certificate {}",
                key_path.display(),
                cert_path.display()
            )
        })
    }

    pub fn from_der(key_der: &PrivateKeyDer<'_>, cert_der: &[u8]) -> Result<Signer> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| {
            anyhow::anyhow!("the key is neither EC P-256 nor RSA (2048 bits or more): {e}")
        };
        let key = match key_der {
            PrivateKeyDer::Sec1(k) => Key::Ec(
                EcdsaKeyPair::from_private_key_der(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    k.secret_sec1_der(),
                )
                .map_err(rejected)?,
            ),
            PrivateKeyDer::Pkcs1(k) => {
                Key::Rsa(RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(rejected)?)
            }
            PrivateKeyDer::Pkcs8(k) => {
                let der = k.secret_pkcs8_der();
                match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
                    Ok(ec) => Key::Ec(ec),
                    Err(_) => Key::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
                }
            }
            _ => bail!("unsupported private key format"),
        };
        let spki = spki_of_certificate(cert_der)?;
        let cert_key = public_key_bits(spki)?;
        let own_key = match &key {
            Key::Ec(k) => k.public_key().as_ref(),
            Key::Rsa(k) => k.public_key().as_ref(),
        };
        if cert_key != own_key {
            bail!("the certificate does not hold the signing key's public key");
        }
        Ok(Signer {
            key,
            cert_der: cert_der.to_vec(),
            kid: libtrust_kid(spki),
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn alg(&self) -> &'static str {
        match self.key {
            Key::Ec(_) => "ES256",
            Key::Rsa(_) => "RS256",
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let header = Header {
            typ: "JWT".to_string(),
            alg: self.alg().to_string(),
            kid: self.kid.clone(),
            x5c: vec![STANDARD.encode(&self.cert_der)],
        };
        let payload = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let signature = match &self.key {
            Key::Ec(k) => k
                .sign(&self.rng, payload.as_bytes())
                .map_err(|_| anyhow::anyhow!("signing the token failed"))?
                .as_ref()
                .to_vec(),
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, payload.as_bytes(), &mut sig)
                    .map_err(|_| anyhow::anyhow!("signing the token failed"))?;
                sig
            }
        };
        Ok(format!("{payload}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The claims of a token this key signed; None for anything else (malformed, another
    /// key, another algorithm). Times are not checked here.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.alg != self.alg() {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
        let signed = &token.as_bytes()[..h.len() + 1 + c.len()];
        let ok = match &self.key {
            Key::Ec(k) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.public_key().as_ref())
                .verify(signed, &signature),
            Key::Rsa(k) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, k.public_key().as_ref())
                    .verify(signed, &signature)
            }
        };
        ok.ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()
    }
}

/// The key ID libtrust (and so distribution) gives a public key: SHA-256 of the DER
/// SubjectPublicKeyInfo, first 240 bits in base32, in 12 groups of 4 joined by ':'.
pub fn libtrust_kid(spki_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
    let b32 = data_encoding::BASE32.encode(&digest.as_ref()[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// The kid of a PEM file holding a certificate or a public key.
pub fn kid_of_pem_file(path: &Path) -> Result<String> {
    if let Ok(cert) = CertificateDer::from_pem_file(path) {
        return Ok(libtrust_kid(spki_of_certificate(cert.as_ref())?));
    }
    match SubjectPublicKeyInfoDer::from_pem_file(path) {
        Ok(spki) => Ok(libtrust_kid(spki.as_ref())),
        Err(e) => bail!(
            "{}: no CERTIFICATE nor PUBLIC KEY in PEM form: {e}",
            path.display()
        ),
    }
}

/// One DER element: (tag, content, the rest after it).
fn der_element(input: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let bad = || anyhow::anyhow!("malformed DER in the certificate");
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return Err(bad());
    }
    let (content, after) = rest.split_at(len);
    Ok((tag, content, after))
}

const SEQUENCE: u8 = 0x30;

/// The SubjectPublicKeyInfo (whole DER element) of an X.509 certificate.
pub fn spki_of_certificate(cert: &[u8]) -> Result<&[u8]> {
    let (tag, cert_content, _) = der_element(cert)?;
    let (tbs_tag, tbs, _) = der_element(cert_content)?;
    if tag != SEQUENCE || tbs_tag != SEQUENCE {
        bail!("not an X.509 certificate");
    }
    let mut rest = tbs;
    // optional [0] version, then serial, signature algorithm, issuer, validity, subject
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest)?.2;
    }
    for _ in 0..5 {
        rest = der_element(rest)?.2;
    }
    let (spki_tag, _, after) = der_element(rest)?;
    if spki_tag != SEQUENCE {
        bail!("no public key where X.509 puts it");
    }
    Ok(&rest[..rest.len() - after.len()])
}

/// The key bits of a SubjectPublicKeyInfo (the BIT STRING's content).
fn public_key_bits(spki: &[u8]) -> Result<&[u8]> {
    let (_, content, _) = der_element(spki)?;
    let (_, _, after_algorithm) = der_element(content)?;
    let (tag, bits, _) = der_element(after_algorithm)?;
    match bits.split_first() {
        Some((0, key)) if tag == 0x03 => Ok(key),
        _ => bail!("malformed public key in the certificate"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_KEY: &str = include_str!("../tests/fixtures/ec-key.pem");
    const EC_CERT: &str = include_str!("../tests/fixtures/ec-cert.pem");
    const RSA_KEY: &str = include_str!("../tests/fixtures/rsa-key.pem");
    const RSA_CERT: &str = include_str!("../tests/fixtures/rsa-cert.pem");
    // computed with openssl, see tests/fixtures/README.md
    const EC_KID: &str = include_str!("../tests/fixtures/ec-kid.txt");
    const RSA_KID: &str = include_str!("../tests/fixtures/rsa-kid.txt");

    fn signer(key: &str, cert: &str) -> Result<Signer> {
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let cert = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        Signer::from_der(&key, cert.as_ref())
    }

    fn claims() -> Claims {
        Claims {
            iss: "harbor-token-issuer".into(),
            sub: "robot$vcity+ci".into(),
            aud: "harbor-registry".into(),
            exp: 2000,
            nbf: 1000,
            iat: 1000,
            jti: "abc".into(),
            access: vec![],
        }
    }

    #[test]
    fn kid_matches_openssl() {
        assert_eq!(signer(EC_KEY, EC_CERT).unwrap().kid(), EC_KID.trim());
        assert_eq!(signer(RSA_KEY, RSA_CERT).unwrap().kid(), RSA_KID.trim());
        assert_eq!(EC_KID.trim().len(), 59);
    }

    #[test]
    fn signs_and_verifies_both_kinds() {
        for (key, cert, alg) in [(EC_KEY, EC_CERT, "ES256"), (RSA_KEY, RSA_CERT, "RS256")] {
            let s = signer(key, cert).unwrap();
            let token = s.sign(&claims()).unwrap();
            assert_eq!(s.verify(&token), Some(claims()));
            let header: serde_json::Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], alg);
            assert_eq!(header["kid"], s.kid());
            assert_eq!(header["x5c"].as_array().unwrap().len(), 1);
            // the aud claim is a string
            let body: serde_json::Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.split('.').nth(1).unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert!(body["aud"].is_string());
        }
    }

    #[test]
    fn refuses_tampered_and_foreign_tokens() {
        let ec = signer(EC_KEY, EC_CERT).unwrap();
        let rsa = signer(RSA_KEY, RSA_CERT).unwrap();
        let token = ec.sign(&claims()).unwrap();
        assert!(rsa.verify(&token).is_none());
        let mut other = claims();
        other.sub = "admin".into();
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        assert!(ec.verify(&forged).is_none());
        for junk in ["", "a.b", "a.b.c", "a.b.c.d", "...", "é.é.é"] {
            assert!(ec.verify(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn key_and_certificate_must_match() {
        let e = signer(EC_KEY, RSA_CERT).err().unwrap();
        assert!(e.to_string().contains("does not hold"), "{e}");
    }

    #[test]
    fn malformed_der_is_an_error() {
        for junk in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x05, 0x30],
        ] {
            assert!(spki_of_certificate(junk).is_err());
        }
    }
}
