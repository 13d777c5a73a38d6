use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::KeyPair;
use sha2::{Digest, Sha256};

/// An ES256 (P-256) signing key with its key id.
#[derive(Clone)]
pub struct SigningKey {
    key_pair: EcKeyPair,
    kid: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("signing key is not a P-256 private key in PEM form")]
    InvalidPem(#[source] josekit::JoseError),
    #[error("could not generate a signing key")]
    Generation(#[source] josekit::JoseError),
}

impl SigningKey {
    /// # Errors
    /// [`SigningKeyError::Generation`] when OpenSSL cannot generate a key.
    pub fn generate() -> Result<Self, SigningKeyError> {
        let key_pair = EcKeyPair::generate(EcCurve::P256).map_err(SigningKeyError::Generation)?;
        Ok(Self::from_key_pair(key_pair))
    }

    /// Reads a PKCS#8 or SEC1 PEM private key.
    ///
    /// # Errors
    /// [`SigningKeyError::InvalidPem`] when the input is not a P-256 private key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SigningKeyError> {
        let key_pair = EcKeyPair::from_pem(pem, Some(EcCurve::P256)).map_err(SigningKeyError::InvalidPem)?;
        Ok(Self::from_key_pair(key_pair))
    }

    fn from_key_pair(key_pair: EcKeyPair) -> Self {
        let kid = thumbprint(&key_pair);
        Self { key_pair, kid }
    }

    /// Returns the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 PEM, for sealing into storage.
    pub fn to_pem(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(String::from_utf8_lossy(&self.key_pair.to_pem_private_key()).into_owned())
    }

    pub(crate) fn key_pair(&self) -> &EcKeyPair {
        &self.key_pair
    }
}

/// SHA-256 over the required members of the public JWK in lexicographic order (RFC 7638).
fn thumbprint(key_pair: &EcKeyPair) -> String {
    let jwk = key_pair.to_jwk_public_key();
    let member = |name: &str| {
        jwk.parameter(name)
            .and_then(|value| value.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        member("crv"),
        member("x"),
        member("y")
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}
