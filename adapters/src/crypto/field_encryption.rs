//! AES-256-GCM field encryption with a key ring, and the HMAC-SHA256 blind index of emails.
//!
//! A sealed value reads `v1:<key id>:<base64url(nonce || ciphertext || tag)>`. The associated
//! data binds the field, the row id and the key id, so a ciphertext moved to another row or
//! column fails authentication instead of opening as someone else's data.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use somnium_domain::ports::{FieldBinding, FieldEncryption, FieldEncryptionError};
use zeroize::Zeroizing;

const FORMAT_VERSION: &str = "v1";
const NONCE_LEN: usize = 12;
/// Length of every data key: AES-256 takes exactly 32 bytes.
pub const DATA_KEY_LEN: usize = 32;
/// Shortest blind-index key accepted.
pub const BLIND_INDEX_KEY_MIN_LEN: usize = 32;
/// How often a missing key id may trigger a reread of the key ring file.
const RELOAD_BACKOFF: Duration = Duration::from_secs(1);

/// An error reading, parsing or writing a key ring or a blind-index key.
#[derive(Debug, thiserror::Error)]
pub enum KeyMaterialError {
    #[error("the key ring is empty; it needs at least one `id:base64` entry")]
    EmptyRing,
    #[error("entry {0} of the key ring is not `id:base64`")]
    MalformedEntry(usize),
    #[error("key id `{0}` may use only letters, digits, `-` and `_`, at most 40 of them")]
    InvalidId(String),
    #[error("key id `{0}` appears twice in the key ring")]
    DuplicateId(String),
    #[error("key `{0}` is not valid base64")]
    InvalidBase64(String),
    #[error("key `{id}` is {length} bytes; it must be exactly {DATA_KEY_LEN} random bytes")]
    WrongDataKeyLength { id: String, length: usize },
    #[error("the blind-index key is {0} bytes; it must be at least {BLIND_INDEX_KEY_MIN_LEN} random bytes")]
    ShortBlindIndexKey(usize),
    #[error("could not read or write the key file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One AES-256 data key and its id.
#[derive(Clone)]
pub struct DataKey {
    id: String,
    cipher: Aes256Gcm,
    bytes: Zeroizing<[u8; DATA_KEY_LEN]>,
}

impl DataKey {
    pub fn id(&self) -> &str {
        &self.id
    }

    fn new(id: String, bytes: [u8; DATA_KEY_LEN]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let cipher = Aes256Gcm::new_from_slice(bytes.as_slice()).expect("a 32-byte key is an AES-256 key");
        Self { id, cipher, bytes }
    }
}

/// The data keys, current first. Older keys stay to open values sealed before a rotation.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<DataKey>,
}

impl KeyRing {
    /// Parses `id:base64` entries separated by commas or line breaks; the first is current.
    ///
    /// # Errors
    /// [`KeyMaterialError`] naming the entry that is malformed, duplicated or not 32 bytes.
    pub fn parse(text: &str) -> Result<Self, KeyMaterialError> {
        let mut keys: Vec<DataKey> = Vec::new();
        let entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|entry| !entry.is_empty() && !entry.starts_with('#'));
        for (index, entry) in entries.enumerate() {
            let (id, encoded) = entry
                .split_once(':')
                .ok_or(KeyMaterialError::MalformedEntry(index + 1))?;
            let id = id.trim();
            check_key_id(id)?;
            if keys.iter().any(|key| key.id == id) {
                return Err(KeyMaterialError::DuplicateId(id.to_owned()));
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| KeyMaterialError::InvalidBase64(id.to_owned()))?,
            );
            let bytes: [u8; DATA_KEY_LEN] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyMaterialError::WrongDataKeyLength {
                        id: id.to_owned(),
                        length: bytes.len(),
                    })?;
            keys.push(DataKey::new(id.to_owned(), bytes));
        }
        if keys.is_empty() {
            return Err(KeyMaterialError::EmptyRing);
        }
        Ok(Self { keys })
    }

    /// A ring with one fresh random key.
    pub fn generate(id: &str) -> Self {
        Self {
            keys: vec![random_key(id)],
        }
    }

    /// This ring with a fresh random key in front, as the new current key.
    #[must_use]
    pub fn with_new_current(&self, id: &str) -> Self {
        let mut keys = vec![random_key(id)];
        keys.extend(self.keys.iter().cloned());
        Self { keys }
    }

    /// This ring with a fresh random key at the end: every instance learns it before any value
    /// is sealed under it, which [`KeyRing::promoting`] then makes current.
    #[must_use]
    pub fn with_new_staged(&self, id: &str) -> Self {
        let mut keys = self.keys.clone();
        keys.push(random_key(id));
        Self { keys }
    }

    /// This ring with the key `id` moved in front, as the current key; `None` when it is not in
    /// the ring.
    #[must_use]
    pub fn promoting(&self, id: &str) -> Option<Self> {
        let key = self.find(id)?.clone();
        let mut keys = vec![key];
        keys.extend(self.keys.iter().filter(|other| other.id != id).cloned());
        Some(Self { keys })
    }

    /// This ring without the key `id`; `None` when it is the current key or not in the ring.
    #[must_use]
    pub fn without(&self, id: &str) -> Option<Self> {
        if self.current().id == id || !self.contains(id) {
            return None;
        }
        Some(Self {
            keys: self.keys.iter().filter(|key| key.id != id).cloned().collect(),
        })
    }

    pub fn current(&self) -> &DataKey {
        &self.keys[0]
    }

    pub fn contains(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|key| key.id.as_str())
    }

    /// The ring in the form [`KeyRing::parse`] reads, one entry per line. It contains the keys
    /// themselves: write it only to a file with mode 0600 or to a secret store.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::new());
        for key in &self.keys {
            text.push_str(&key.id);
            text.push(':');
            text.push_str(&STANDARD.encode(key.bytes.as_slice()));
            text.push('\n');
        }
        text
    }

    fn find(&self, id: &str) -> Option<&DataKey> {
        self.keys.iter().find(|key| key.id == id)
    }
}

fn random_key(id: &str) -> DataKey {
    let mut bytes = [0_u8; DATA_KEY_LEN];
    OsRng.fill_bytes(&mut bytes);
    let key = DataKey::new(id.to_owned(), bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    key
}

fn check_key_id(id: &str) -> Result<(), KeyMaterialError> {
    let valid = !id.is_empty()
        && id.len() <= 40
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(KeyMaterialError::InvalidId(id.to_owned()))
    }
}

/// A fresh key id: the date plus random hex, so operators can tell keys apart by age.
pub fn new_key_id(date: time::Date) -> String {
    let mut suffix = [0_u8; 3];
    OsRng.fill_bytes(&mut suffix);
    format!(
        "{:04}{:02}{:02}-{}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        hex::encode(suffix)
    )
}

/// The HMAC-SHA256 key of the email blind index.
#[derive(Clone)]
pub struct BlindIndexKey(Zeroizing<Vec<u8>>);

impl BlindIndexKey {
    /// Parses a base64 key of at least 32 bytes.
    ///
    /// # Errors
    /// [`KeyMaterialError`] when it is not base64 or too short.
    pub fn parse(text: &str) -> Result<Self, KeyMaterialError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyMaterialError::InvalidBase64("blind index".to_owned()))?,
        );
        if bytes.len() < BLIND_INDEX_KEY_MIN_LEN {
            return Err(KeyMaterialError::ShortBlindIndexKey(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A fresh random key, base64-encoded.
    pub fn generate_text() -> Zeroizing<String> {
        let mut bytes = Zeroizing::new([0_u8; 32]);
        OsRng.fill_bytes(bytes.as_mut_slice());
        Zeroizing::new(STANDARD.encode(bytes.as_slice()))
    }

    fn mac(&self, label: &[u8], message: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(label);
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Derives a 32-byte secret for another purpose (such as CSRF tokens), so every instance
    /// that shares this key shares the secret. The blind-index key never rotates, so neither
    /// do secrets derived from it. Distinct labels give unrelated secrets.
    pub fn derive_secret(&self, label: &str) -> [u8; 32] {
        self.mac(b"somnium derived secret\0", label.as_bytes())
    }
}

/// [`FieldEncryption`] with AES-256-GCM under a key ring, reread from its file when a value
/// names a key this process has not loaded yet (another instance rotated first).
pub struct AesGcmFieldEncryption {
    ring: RwLock<Arc<KeyRing>>,
    ring_file: Option<PathBuf>,
    last_reload: Mutex<Option<Instant>>,
    /// Modification time of the ring file when it was last read.
    loaded_modified: Mutex<Option<SystemTime>>,
    blind_index: BlindIndexKey,
}

impl AesGcmFieldEncryption {
    /// `ring_file` is the file the ring came from, when it came from one; it is reread on
    /// [`AesGcmFieldEncryption::reload`] and when a value names an unknown key.
    pub fn new(ring: KeyRing, ring_file: Option<PathBuf>, blind_index: BlindIndexKey) -> Self {
        let loaded_modified = ring_file.as_deref().and_then(modified_time);
        Self {
            ring: RwLock::new(Arc::new(ring)),
            ring_file,
            last_reload: Mutex::new(None),
            loaded_modified: Mutex::new(loaded_modified),
            blind_index,
        }
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().expect("key ring lock").clone()
    }

    pub fn blind_index_key(&self) -> &BlindIndexKey {
        &self.blind_index
    }

    /// Rereads the key ring file. Returns whether the current key changed.
    ///
    /// # Errors
    /// [`KeyMaterialError`] when the file cannot be read or parsed; the loaded ring stays.
    pub fn reload(&self) -> Result<bool, KeyMaterialError> {
        let Some(path) = &self.ring_file else {
            return Ok(false);
        };
        *self.last_reload.lock().expect("reload lock") = Some(Instant::now());
        let modified = modified_time(path);
        let ring = read_ring(path)?;
        *self.loaded_modified.lock().expect("modified lock") = modified;
        let mut slot = self.ring.write().expect("key ring lock");
        let changed = slot.current().id != ring.current().id;
        if changed || slot.keys.len() != ring.keys.len() {
            tracing::info!(current_key_id = %ring.current().id, keys = ring.keys.len(), "reloaded the data key ring");
        }
        *slot = Arc::new(ring);
        Ok(changed)
    }

    /// Rereads the ring file when it changed since it was read, so a value is never sealed under
    /// a key that a rotation on this host has already retired. It costs one `stat` per sealed
    /// value, and values are sealed only when accounts or second factors change.
    fn reload_if_changed(&self) {
        let Some(path) = &self.ring_file else {
            return;
        };
        let modified = modified_time(path);
        if modified == *self.loaded_modified.lock().expect("modified lock") {
            return;
        }
        if let Err(error) = self.reload() {
            tracing::error!(%error, "could not reread the changed data key ring; sealing with the loaded one");
        }
    }

    fn reload_for_unknown_key(&self, id: &str) -> bool {
        let due = self
            .last_reload
            .lock()
            .expect("reload lock")
            .is_none_or(|at| at.elapsed() >= RELOAD_BACKOFF);
        if !due {
            return false;
        }
        match self.reload() {
            Ok(_) => self.ring().contains(id),
            Err(error) => {
                tracing::error!(%error, key_id = %id, "could not reread the data key ring");
                false
            }
        }
    }
}

fn associated_data(binding: FieldBinding<'_>, key_id: &str) -> Vec<u8> {
    format!("somnium:{FORMAT_VERSION}:{}:{}:{key_id}", binding.field, binding.row).into_bytes()
}

impl FieldEncryption for AesGcmFieldEncryption {
    fn seal(&self, binding: FieldBinding<'_>, plaintext: &str) -> Result<String, FieldEncryptionError> {
        self.reload_if_changed();
        let ring = self.ring();
        let key = ring.current();
        let mut nonce = [0_u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(binding, &key.id);
        let ciphertext = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| FieldEncryptionError::Tampered)?;
        let mut combined = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        combined.extend_from_slice(&nonce);
        combined.extend_from_slice(&ciphertext);
        Ok(format!(
            "{FORMAT_VERSION}:{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(combined)
        ))
    }

    fn open(&self, binding: FieldBinding<'_>, sealed: &str) -> Result<String, FieldEncryptionError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(FORMAT_VERSION), Some(key_id), Some(encoded)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(FieldEncryptionError::Malformed);
        };
        let combined = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| FieldEncryptionError::Malformed)?;
        if combined.len() < NONCE_LEN + 16 {
            return Err(FieldEncryptionError::Malformed);
        }
        let mut ring = self.ring();
        if !ring.contains(key_id) && self.reload_for_unknown_key(key_id) {
            ring = self.ring();
        }
        let key = ring
            .find(key_id)
            .ok_or_else(|| FieldEncryptionError::UnknownKey(key_id.to_owned()))?;
        let (nonce, ciphertext) = combined.split_at(NONCE_LEN);
        let aad = associated_data(binding, key_id);
        let plaintext = Zeroizing::new(
            key.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| FieldEncryptionError::Tampered)?,
        );
        String::from_utf8(plaintext.to_vec()).map_err(|_| FieldEncryptionError::Malformed)
    }

    fn current_key_id(&self) -> String {
        self.ring().current().id.clone()
    }

    fn blind_index(&self, normalized_email: &str) -> String {
        hex::encode(
            self.blind_index
                .mac(b"somnium email index\0", normalized_email.as_bytes()),
        )
    }
}

/// The key id a sealed value names, without opening it.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(FORMAT_VERSION), Some(id), Some(_)) => Some(id),
        _ => None,
    }
}

/// The modification time of `path`, or `None` when it cannot be read.
pub fn modified_time(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|metadata| metadata.modified()).ok()
}

/// Reads a key ring file.
///
/// # Errors
/// [`KeyMaterialError`] when the file cannot be read or parsed.
pub fn read_ring(path: &Path) -> Result<KeyRing, KeyMaterialError> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| io_error(path, source))?);
    KeyRing::parse(&text)
}

/// Reads a blind-index key file.
///
/// # Errors
/// [`KeyMaterialError`] when the file cannot be read or parsed.
pub fn read_blind_index_key(path: &Path) -> Result<BlindIndexKey, KeyMaterialError> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| io_error(path, source))?);
    BlindIndexKey::parse(&text)
}

/// Replaces `path` with `contents` in one rename, with mode 0600, so a reader never sees half a
/// key file and no other user can read it.
///
/// # Errors
/// [`KeyMaterialError::Io`] when the file cannot be written.
pub fn write_secret_file(path: &Path, contents: &str) -> Result<(), KeyMaterialError> {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        // The umask may have cleared bits but never adds any; this makes the mode exact.
        fs::set_permissions(&temporary, fs::Permissions::from_mode(0o600))?;
        fs::rename(&temporary, path)
    };
    write().map_err(|source| {
        let _ = fs::remove_file(&temporary);
        io_error(path, source)
    })
}

fn io_error(path: &Path, source: std::io::Error) -> KeyMaterialError {
    KeyMaterialError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encryption(ring: KeyRing) -> AesGcmFieldEncryption {
        let blind = BlindIndexKey::parse(&BlindIndexKey::generate_text()).unwrap();
        AesGcmFieldEncryption::new(ring, None, blind)
    }

    fn email_of(row: &str) -> FieldBinding<'_> {
        FieldBinding {
            field: "users.email",
            row,
        }
    }

    #[test]
    fn a_sealed_value_opens_for_its_own_row_only() {
        let encryption = encryption(KeyRing::generate("k1"));
        let sealed = encryption.seal(email_of("row-a"), "nurse@example.org").unwrap();
        assert!(!sealed.contains("nurse"));
        assert_eq!(sealed_key_id(&sealed), Some("k1"));
        assert_eq!(
            encryption.open(email_of("row-a"), &sealed).unwrap(),
            "nurse@example.org"
        );
        assert!(matches!(
            encryption.open(email_of("row-b"), &sealed),
            Err(FieldEncryptionError::Tampered)
        ));
        let as_name = FieldBinding {
            field: "users.full_name",
            row: "row-a",
        };
        assert!(matches!(
            encryption.open(as_name, &sealed),
            Err(FieldEncryptionError::Tampered)
        ));
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let encryption = encryption(KeyRing::generate("k1"));
        let first = encryption.seal(email_of("row"), "same").unwrap();
        let second = encryption.seal(email_of("row"), "same").unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn a_flipped_bit_fails_authentication() {
        let encryption = encryption(KeyRing::generate("k1"));
        let sealed = encryption.seal(email_of("row"), "value").unwrap();
        let (prefix, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        let altered = format!("{prefix}:{}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(matches!(
            encryption.open(email_of("row"), &altered),
            Err(FieldEncryptionError::Tampered)
        ));
    }

    #[test]
    fn older_keys_still_open_after_a_rotation() {
        let old = KeyRing::generate("k1");
        let sealed = encryption(old.clone()).seal(email_of("row"), "value").unwrap();
        let rotated = encryption(old.with_new_current("k2"));
        assert_eq!(rotated.current_key_id(), "k2");
        assert_eq!(rotated.open(email_of("row"), &sealed).unwrap(), "value");
        let retired = rotated.ring().without("k1").unwrap();
        assert!(matches!(
            encryption(retired).open(email_of("row"), &sealed),
            Err(FieldEncryptionError::UnknownKey(id)) if id == "k1"
        ));
    }

    #[test]
    fn the_same_id_with_other_bytes_is_refused() {
        let sealed = encryption(KeyRing::generate("k1"))
            .seal(email_of("row"), "value")
            .unwrap();
        assert!(matches!(
            encryption(KeyRing::generate("k1")).open(email_of("row"), &sealed),
            Err(FieldEncryptionError::Tampered)
        ));
    }

    #[test]
    fn a_staged_key_opens_values_before_it_is_promoted() {
        let staged = KeyRing::generate("k1").with_new_staged("k2");
        assert_eq!(staged.current().id(), "k1");
        let promoted = staged.promoting("k2").unwrap();
        assert_eq!(promoted.ids().collect::<Vec<_>>(), ["k2", "k1"]);
        let sealed = encryption(promoted).seal(email_of("row"), "value").unwrap();
        assert_eq!(
            encryption(staged.clone()).open(email_of("row"), &sealed).unwrap(),
            "value"
        );
        assert!(staged.promoting("k9").is_none());
    }

    #[test]
    fn rings_parse_and_print_round_trip() {
        let ring = KeyRing::generate("a").with_new_current("b");
        let parsed = KeyRing::parse(&ring.to_text()).unwrap();
        assert_eq!(parsed.ids().collect::<Vec<_>>(), ["b", "a"]);
        let inline = ring.to_text().trim().replace('\n', ",");
        assert_eq!(KeyRing::parse(&inline).unwrap().current().id(), "b");
    }

    #[test]
    fn malformed_rings_are_refused_with_the_reason() {
        let short = format!("k1:{}", STANDARD.encode([7_u8; 16]));
        assert!(matches!(
            KeyRing::parse(&short),
            Err(KeyMaterialError::WrongDataKeyLength { length: 16, .. })
        ));
        assert!(matches!(KeyRing::parse(" , "), Err(KeyMaterialError::EmptyRing)));
        assert!(matches!(
            KeyRing::parse("no-colon"),
            Err(KeyMaterialError::MalformedEntry(1))
        ));
        assert!(matches!(
            KeyRing::parse("k1:***"),
            Err(KeyMaterialError::InvalidBase64(_))
        ));
        let key = STANDARD.encode([1_u8; 32]);
        assert!(matches!(
            KeyRing::parse(&format!("k1:{key},k1:{key}")),
            Err(KeyMaterialError::DuplicateId(_))
        ));
        assert!(matches!(
            KeyRing::parse(&format!("bad id:{key}")),
            Err(KeyMaterialError::InvalidId(_))
        ));
        assert!(matches!(
            BlindIndexKey::parse(&STANDARD.encode([1_u8; 31])),
            Err(KeyMaterialError::ShortBlindIndexKey(31))
        ));
    }

    #[test]
    fn the_blind_index_is_keyed_and_deterministic() {
        let first = encryption(KeyRing::generate("k1"));
        let second = encryption(KeyRing::generate("k1"));
        assert_eq!(first.blind_index("a@example.org"), first.blind_index("a@example.org"));
        assert_ne!(first.blind_index("a@example.org"), first.blind_index("b@example.org"));
        assert_ne!(first.blind_index("a@example.org"), second.blind_index("a@example.org"));
    }

    #[test]
    fn a_ring_file_is_reread_when_a_value_names_a_new_key() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("data-keys");
        let old = KeyRing::generate("k1");
        write_secret_file(&path, &old.to_text()).unwrap();
        let blind = BlindIndexKey::parse(&BlindIndexKey::generate_text()).unwrap();
        let running = AesGcmFieldEncryption::new(read_ring(&path).unwrap(), Some(path.clone()), blind.clone());

        let rotated = old.with_new_current("k2");
        write_secret_file(&path, &rotated.to_text()).unwrap();
        let sealed_elsewhere = AesGcmFieldEncryption::new(rotated, None, blind)
            .seal(email_of("row"), "value")
            .unwrap();
        assert_eq!(running.open(email_of("row"), &sealed_elsewhere).unwrap(), "value");
        assert_eq!(running.current_key_id(), "k2");

        // A retirement written to the file is seen before the next value is sealed.
        let retired = read_ring(&path).unwrap().without("k1").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_secret_file(&path, &retired.with_new_current("k3").to_text()).unwrap();
        let sealed = running.seal(email_of("row"), "value").unwrap();
        assert_eq!(sealed_key_id(&sealed), Some("k3"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
