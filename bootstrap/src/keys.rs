//! The keys that protect data at rest and sign tokens: loading them at startup, checking them
//! against the stored rows, and the `somnium keys` commands that rotate them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use anyhow::{bail, Context};
use sea_orm::DatabaseConnection;
use somnium_adapters::crypto::field_encryption::{
    self, new_key_id, read_blind_index_key, read_ring, write_secret_file,
};
use somnium_adapters::crypto::{AesGcmFieldEncryption, BlindIndexKey, KeyRing};
use somnium_adapters::jwt::{Es256AccessTokens, ManagedKey, SigningKey};
use somnium_adapters::storage::{SqlMfaRepository, SqlSigningKeys, SqlUserRepository};
use somnium_domain::ports::FieldEncryption;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::config::{Config, SecretSource, SigningKeySource};

/// Default number of rows `somnium keys reencrypt` reseals per step.
pub const DEFAULT_BATCH: u64 = 500;

/// An open database with the field encryption that reads it.
#[derive(Clone)]
pub struct Storage {
    pub connection: DatabaseConnection,
    pub encryption: Arc<AesGcmFieldEncryption>,
}

impl Storage {
    pub fn users(&self) -> SqlUserRepository {
        SqlUserRepository::new(self.connection.clone(), self.encryption.clone())
    }

    pub fn signing_keys(&self) -> SqlSigningKeys {
        SqlSigningKeys::new(self.connection.clone(), self.encryption.clone())
    }

    pub fn mfa(&self) -> SqlMfaRepository {
        SqlMfaRepository::new(self.connection.clone(), self.encryption.clone())
    }
}

/// Loads the keys, opens and migrates the database, seals rows written before encryption and
/// checks that the keys open what is stored. A wrong key stops here with the reason, before
/// anything is served.
///
/// # Errors
/// Fails with the variable to fix when a key is missing, malformed or does not match the data.
pub async fn prepare_storage(config: &Config) -> anyhow::Result<Storage> {
    if config.is_sqlite() || generates_keys(config) {
        crate::create_private_dir(&config.data_dir)?;
    }
    let encryption = Arc::new(load_field_encryption(config)?);
    let connection = crate::open_database(config).await?;
    let storage = Storage { connection, encryption };
    seal_unsealed_rows(&storage).await?;
    let ring_variable = ring_variable(&config.data_keys);
    storage.users().check_keys().await.with_context(|| {
        format!("the configured keys do not open the stored accounts; check {ring_variable} and the blind-index key")
    })?;
    storage
        .signing_keys()
        .load()
        .await
        .with_context(|| format!("the stored signing keys do not open; check {ring_variable}"))?;
    Ok(storage)
}

fn generates_keys(config: &Config) -> bool {
    matches!(config.data_keys, SecretSource::Generated(_))
        || matches!(config.blind_index_key, SecretSource::Generated(_))
}

fn ring_variable(source: &SecretSource) -> &'static str {
    match source {
        SecretSource::Inline(_) => "SOMNIUM_DATA_KEYS",
        SecretSource::File(_) => "SOMNIUM_DATA_KEYS_FILE",
        SecretSource::Generated(_) => "the generated key ring under SOMNIUM_DATA_DIR",
    }
}

/// Reads the data key ring and the blind-index key, generating them in development.
///
/// # Errors
/// Fails naming the variable when a key cannot be read or is malformed.
pub fn load_field_encryption(config: &Config) -> anyhow::Result<AesGcmFieldEncryption> {
    let (ring, ring_file) = load_ring(config)?;
    Ok(AesGcmFieldEncryption::new(
        ring,
        ring_file,
        load_blind_index_key(config)?,
    ))
}

fn load_ring(config: &Config) -> anyhow::Result<(KeyRing, Option<PathBuf>)> {
    Ok(match &config.data_keys {
        SecretSource::Inline(text) => (KeyRing::parse(text).context("SOMNIUM_DATA_KEYS is invalid")?, None),
        SecretSource::File(path) => (
            read_ring(path).with_context(|| format!("SOMNIUM_DATA_KEYS_FILE {} is invalid", path.display()))?,
            Some(path.clone()),
        ),
        SecretSource::Generated(path) => {
            if !path.exists() {
                let ring = KeyRing::generate(&new_key_id(OffsetDateTime::now_utc().date()));
                write_secret_file(path, &ring.to_text())?;
                tracing::info!(path = %path.display(), key_id = %ring.current().id(), "generated a data key ring");
            }
            (read_ring(path)?, Some(path.clone()))
        }
    })
}

fn load_blind_index_key(config: &Config) -> anyhow::Result<BlindIndexKey> {
    Ok(match &config.blind_index_key {
        SecretSource::Inline(text) => BlindIndexKey::parse(text).context("SOMNIUM_BLIND_INDEX_KEY is invalid")?,
        SecretSource::File(path) => read_blind_index_key(path)
            .with_context(|| format!("SOMNIUM_BLIND_INDEX_KEY_FILE {} is invalid", path.display()))?,
        SecretSource::Generated(path) => {
            if !path.exists() {
                write_secret_file(path, &BlindIndexKey::generate_text())?;
                tracing::info!(path = %path.display(), "generated a blind-index key");
            }
            read_blind_index_key(path)?
        }
    })
}

/// Seals rows stored in the clear by a version without field encryption.
async fn seal_unsealed_rows(storage: &Storage) -> anyhow::Result<()> {
    let users = storage.users();
    let mut sealed = 0;
    loop {
        let step = users.reseal_batch(DEFAULT_BATCH, true).await?;
        sealed += step.resealed;
        if step.resealed + step.raced == 0 {
            break;
        }
    }
    if sealed > 0 {
        tracing::info!(rows = sealed, "sealed account rows stored in the clear");
    }
    Ok(())
}

/// Makes sure a signing key is stored: the configured one when its kid is new, or a generated
/// one when there is none at all.
///
/// # Errors
/// Fails when the configured key cannot be read or the store fails.
pub async fn ensure_signing_key(config: &Config, storage: &Storage, now: OffsetDateTime) -> anyhow::Result<()> {
    let store = storage.signing_keys();
    let stored = store.load().await?;
    let configured = match &config.signing_key {
        SigningKeySource::Pem(pem) => {
            Some(SigningKey::from_pem(pem.as_bytes()).context("SOMNIUM_SIGNING_KEY is invalid")?)
        }
        SigningKeySource::File(path) => {
            let pem = Zeroizing::new(
                std::fs::read(path)
                    .with_context(|| format!("could not read SOMNIUM_SIGNING_KEY_FILE {}", path.display()))?,
            );
            Some(SigningKey::from_pem(&pem).context("SOMNIUM_SIGNING_KEY_FILE does not hold a P-256 private key")?)
        }
        SigningKeySource::Stored => None,
    };
    match configured {
        Some(key) if stored.iter().any(|existing| existing.kid == key.kid()) => {}
        Some(key) if stored.is_empty() => {
            store.insert_first(key.kid(), &key.to_pem(), now).await?;
        }
        Some(key) => {
            // A new key in the operator's file is a rotation: publish it first, and sign with it
            // once every instance has had time to load it.
            let activates_at = now + refresh_margin(config);
            store.rotate(key.kid(), &key.to_pem(), now, activates_at).await?;
            tracing::info!(kid = %key.kid(), %activates_at, "added the configured signing key");
        }
        None if stored.is_empty() => {
            let key = SigningKey::generate()?;
            if store.insert_first(key.kid(), &key.to_pem(), now).await? {
                tracing::info!(kid = %key.kid(), "generated the first signing key");
            }
        }
        None => {}
    }
    Ok(())
}

/// Twice the refresh interval: by then every running instance has reread the keys.
fn refresh_margin(config: &Config) -> time::Duration {
    time::Duration::try_from(config.key_refresh_interval * 2).unwrap_or(time::Duration::MINUTE)
}

/// The stored signing keys in the form the token signer takes.
///
/// # Errors
/// Fails when a key cannot be opened or parsed.
pub async fn managed_keys(storage: &Storage) -> anyhow::Result<Vec<ManagedKey>> {
    storage
        .signing_keys()
        .load()
        .await?
        .into_iter()
        .map(|stored| {
            let key = SigningKey::from_pem(stored.pem.as_bytes())
                .with_context(|| format!("stored signing key {} is not a P-256 private key", stored.kid))?;
            Ok(ManagedKey {
                key,
                activates_at: stored.activates_at,
                retired_at: stored.retired_at,
            })
        })
        .collect()
}

/// Rereads the key ring file and the stored signing keys every `interval`, so rotations made by
/// a command or another instance reach this one. Ends when the signer is dropped.
pub fn spawn_key_refresh(storage: Storage, access_tokens: Weak<Es256AccessTokens>, interval: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(access_tokens) = access_tokens.upgrade() else {
                return;
            };
            if let Err(error) = storage.encryption.reload() {
                tracing::error!(%error, "could not reread the data key ring; keeping the loaded one");
            }
            match managed_keys(&storage).await {
                Ok(keys) => {
                    if let Err(error) = access_tokens.install(keys) {
                        tracing::error!(%error, "could not install the stored signing keys");
                    }
                }
                Err(error) => tracing::error!(error = format!("{error:#}"), "could not reload the signing keys"),
            }
        }
    });
}

/// Where `keys rotate-data` and `keys retire-data` put the new ring.
enum RingDestination {
    File(PathBuf),
    Print,
}

fn ring_destination(config: &Config, print: bool) -> RingDestination {
    match &config.data_keys {
        SecretSource::File(path) | SecretSource::Generated(path) if !print => RingDestination::File(path.clone()),
        _ => RingDestination::Print,
    }
}

fn write_ring(destination: &RingDestination, ring: &KeyRing) -> anyhow::Result<()> {
    match destination {
        RingDestination::File(path) => write_ring_file(path, ring),
        RingDestination::Print => {
            let inline = Zeroizing::new(ring.to_text().trim().replace('\n', ","));
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "SOMNIUM_DATA_KEYS={}", inline.as_str())?;
            eprintln!(
                "set this value on every instance (or in the file SOMNIUM_DATA_KEYS_FILE names) and restart them one by one"
            );
            Ok(())
        }
    }
}

fn write_ring_file(path: &Path, ring: &KeyRing) -> anyhow::Result<()> {
    write_secret_file(path, &ring.to_text()).with_context(|| {
        format!(
            "could not write the key ring to {}; when it is mounted read-only, run the command with --print and update \
             the secret it comes from",
            path.display()
        )
    })
}

/// `somnium keys rotate-data`: puts a fresh data key in front of the ring. Values sealed from
/// then on use it; older values still open with the older keys until `reencrypt` reseals them.
/// With `staged`, the key goes at the end instead and seals nothing until `promote-data`: for
/// deployments where the ring reaches instances at different times, so that no instance meets
/// a value under a key it does not hold yet.
///
/// # Errors
/// Fails when the ring cannot be read or written.
pub async fn rotate_data(config: &Config, staged: bool, print: bool) -> anyhow::Result<String> {
    let storage = prepare_storage(config).await?;
    let ring = storage.encryption.ring();
    let id = new_key_id(OffsetDateTime::now_utc().date());
    let rotated = if staged {
        ring.with_new_staged(&id)
    } else {
        ring.with_new_current(&id)
    };
    let destination = ring_destination(config, print);
    write_ring(&destination, &rotated)?;
    let refresh = config.key_refresh_interval.as_secs();
    match (&destination, staged) {
        (RingDestination::File(path), false) => eprintln!(
            "data key {id} is now current in {}; running instances pick it up within {refresh} seconds. Next: somnium \
             keys reencrypt",
            path.display()
        ),
        (RingDestination::File(path), true) => eprintln!(
            "data key {id} is staged in {}; once every instance has it (within {refresh} seconds of the file \
             reaching it), run somnium keys promote-data {id}",
            path.display()
        ),
        (RingDestination::Print, _) => {}
    }
    tracing::info!(key_id = %id, staged, "rotated the data key");
    Ok(id)
}

/// `somnium keys promote-data <id>`: makes a staged data key current.
///
/// # Errors
/// Fails when the key is not in the ring or the ring cannot be written.
pub async fn promote_data(config: &Config, id: &str, print: bool) -> anyhow::Result<()> {
    let storage = prepare_storage(config).await?;
    let Some(promoted) = storage.encryption.ring().promoting(id) else {
        bail!("data key {id} is not in the key ring; stage it first with somnium keys rotate-data --staged");
    };
    write_ring(&ring_destination(config, print), &promoted)?;
    eprintln!("data key {id} is current. Next: somnium keys reencrypt");
    tracing::info!(key_id = %id, "promoted a data key");
    Ok(())
}

/// What `keys reencrypt` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReencryptReport {
    pub accounts: u64,
    pub signing_keys: u64,
    pub totp_secrets: u64,
}

/// `somnium keys reencrypt`: reseals every row not under the current data key, in batches,
/// while the service runs. Interrupted, it continues where it stopped when run again, because
/// it only ever takes rows still under an older key.
///
/// # Errors
/// Fails when a row cannot be opened (naming it) or the store fails.
pub async fn reencrypt(config: &Config, batch: u64) -> anyhow::Result<ReencryptReport> {
    let storage = prepare_storage(config).await?;
    let current = storage.encryption.current_key_id();
    let users = storage.users();
    let total = users.count_not_under(&current).await?;
    eprintln!("re-encrypting {total} accounts under data key {current}");
    let mut report = ReencryptReport::default();
    loop {
        let step = users.reseal_batch(batch.max(1), false).await?;
        report.accounts += step.resealed;
        if step.resealed + step.raced == 0 {
            break;
        }
        eprintln!(
            "re-encrypted {} of {total} accounts{}",
            report.accounts,
            if step.raced > 0 {
                format!(" ({} changed meanwhile, taken again)", step.raced)
            } else {
                String::new()
            }
        );
    }
    report.signing_keys = storage.signing_keys().reseal().await?;
    report.totp_secrets = storage.mfa().reseal().await?;
    eprintln!(
        "done: {} accounts, {} signing keys and {} TOTP secrets resealed; every row is under {current}. Older keys can \
         now be retired with somnium keys retire-data <id>",
        report.accounts, report.signing_keys, report.totp_secrets
    );
    tracing::info!(key_id = %current, accounts = report.accounts, signing_keys = report.signing_keys, "re-encryption finished");
    Ok(report)
}

/// `somnium keys retire-data <id>`: removes a data key from the ring once no row uses it.
///
/// # Errors
/// Fails when the key is current, unknown or still in use.
pub async fn retire_data(config: &Config, id: &str, print: bool) -> anyhow::Result<()> {
    let storage = prepare_storage(config).await?;
    let ring = storage.encryption.ring();
    if !ring.contains(id) {
        bail!("data key {id} is not in the key ring");
    }
    let Some(retired) = ring.without(id) else {
        bail!("data key {id} is the current key; rotate first with somnium keys rotate-data");
    };
    ensure_ring_settled(config)?;
    let accounts = storage.users().count_under(id).await?;
    let signing_keys = storage.signing_keys().count_under(id).await?;
    let totp_secrets = storage.mfa().count_under(id).await?;
    if accounts + signing_keys + totp_secrets > 0 {
        bail!(
            "data key {id} still seals {accounts} accounts, {signing_keys} signing keys and {totp_secrets} TOTP \
             secrets; run somnium keys reencrypt first"
        );
    }
    write_ring(&ring_destination(config, print), &retired)?;
    eprintln!("data key {id} is retired; destroy every copy of it, backups of the key ring included");
    tracing::info!(key_id = %id, "retired a data key");
    Ok(())
}

/// Refuses while the ring file changed less than twice the refresh interval ago: an instance
/// that has not reread it yet may still seal values under the key about to be retired, and
/// those would be lost with it.
fn ensure_ring_settled(config: &Config) -> anyhow::Result<()> {
    let (SecretSource::File(path) | SecretSource::Generated(path)) = &config.data_keys else {
        return Ok(());
    };
    let Some(modified) = field_encryption::modified_time(path) else {
        return Ok(());
    };
    let settle = config.key_refresh_interval * 2;
    let age = modified.elapsed().unwrap_or_default();
    if age < settle {
        bail!(
            "the key ring changed {} s ago; running instances reread it every {} s, so wait {} s more and run this \
             again (then run somnium keys reencrypt once more if it reports rows)",
            age.as_secs(),
            config.key_refresh_interval.as_secs(),
            (settle - age).as_secs() + 1
        );
    }
    Ok(())
}

/// `somnium keys rotate-signing`: stores a new ES256 key that signs from `activate_in` on;
/// the key signing until then stays published until the tokens it signed have expired.
///
/// # Errors
/// Fails when the store fails or another rotation finished first.
pub async fn rotate_signing(config: &Config, activate_in: Option<time::Duration>) -> anyhow::Result<String> {
    let storage = prepare_storage(config).await?;
    ensure_signing_key(config, &storage, OffsetDateTime::now_utc()).await?;
    let key = SigningKey::generate()?;
    let now = OffsetDateTime::now_utc();
    let activates_at = now + activate_in.unwrap_or_else(|| refresh_margin(config));
    storage
        .signing_keys()
        .rotate(key.kid(), &key.to_pem(), now, activates_at)
        .await?;
    let published_until = activates_at + config.access_token_lifetime + config.jwt_leeway;
    eprintln!(
        "signing key {} is published now and signs new tokens from {activates_at}; the previous key stays published \
         until {published_until}",
        key.kid()
    );
    tracing::info!(kid = %key.kid(), %activates_at, "rotated the signing key");
    Ok(key.kid().to_owned())
}

/// `somnium keys list`: the data keys with the rows each seals, and the signing keys with their
/// schedule. Never prints key material.
///
/// # Errors
/// Fails when the storage cannot be opened.
pub async fn list(config: &Config) -> anyhow::Result<String> {
    let storage = prepare_storage(config).await?;
    let ring = storage.encryption.ring();
    let users = storage.users();
    let signing = storage.signing_keys();
    let mfa = storage.mfa();
    let mut out = String::from("data keys (current first):\n");
    for id in ring.ids() {
        let accounts = users.count_under(id).await?;
        let signing_keys = signing.count_under(id).await?;
        let totp_secrets = mfa.count_under(id).await?;
        out.push_str(&format!(
            "  {id}  accounts={accounts} signing_keys={signing_keys} totp_secrets={totp_secrets}\n"
        ));
    }
    out.push_str("signing keys (oldest first):\n");
    for key in signing.load().await? {
        let retired = key
            .retired_at
            .map_or_else(|| "-".to_owned(), |retired_at| retired_at.to_string());
        out.push_str(&format!(
            "  {}  generation={} activates_at={} retired_at={retired}\n",
            key.kid, key.generation, key.activates_at
        ));
    }
    Ok(out)
}

/// Validates the key material without opening the database, for `somnium config check`.
///
/// # Errors
/// Fails naming the variable when a key is unreadable or malformed.
pub fn check_key_material(config: &Config) -> anyhow::Result<()> {
    let generated_later = |source: &SecretSource| matches!(source, SecretSource::Generated(path) if !path.exists());
    if !generated_later(&config.data_keys) {
        load_ring(config)?;
    }
    if !generated_later(&config.blind_index_key) {
        load_blind_index_key(config)?;
    }
    match &config.signing_key {
        SigningKeySource::Pem(pem) => {
            SigningKey::from_pem(pem.as_bytes()).context("SOMNIUM_SIGNING_KEY is invalid")?;
        }
        SigningKeySource::File(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("could not read SOMNIUM_SIGNING_KEY_FILE {}", path.display()))?;
            SigningKey::from_pem(&pem).context("SOMNIUM_SIGNING_KEY_FILE does not hold a P-256 private key")?;
        }
        SigningKeySource::Stored => {}
    }
    Ok(())
}

/// The key id a stored value names, for tests and tools that read raw rows.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    field_encryption::sealed_key_id(sealed)
}
