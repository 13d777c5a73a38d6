use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

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
    #[error("could not read or write the signing key file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
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

    /// Loads the key at `path`, or generates one and writes it there with mode 0600.
    ///
    /// # Errors
    /// [`SigningKeyError`] when the file cannot be read, written or parsed.
    pub fn load_or_generate(path: &Path) -> Result<Self, SigningKeyError> {
        let io_error = |source| SigningKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        if path.exists() {
            let pem = fs::read(path).map_err(io_error)?;
            return Self::from_pem(&pem);
        }

        let key = Self::generate()?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io_error)?;
        file.write_all(&key.key_pair.to_pem_private_key()).map_err(io_error)?;
        // The umask may have cleared bits but never adds any; this makes the mode exact.
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_error)?;
        tracing::info!(path = %path.display(), kid = %key.kid, "generated a new signing key");
        Ok(key)
    }

    fn from_key_pair(key_pair: EcKeyPair) -> Self {
        let kid = thumbprint(&key_pair);
        Self { key_pair, kid }
    }

    /// Returns the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Derives a 32-byte secret for another purpose (such as CSRF tokens) from the private key,
    /// so every instance that shares the signing key shares the secret without another key to
    /// distribute. Distinct labels give unrelated secrets.
    pub fn derive_secret(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key_pair.to_der_private_key()).expect("HMAC takes keys of any length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
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
