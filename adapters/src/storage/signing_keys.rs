use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder};
use somnium_domain::ports::{FieldBinding, FieldEncryption, FieldEncryptionError, RepositoryError};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::connect::begin_write;
use super::entities::signing_key;
use super::errors::{is_unique_violation, repository_error};

const PRIVATE_KEY_FIELD: &str = "signing_keys.private_key";

/// A signing key as stored: the private key opened, with its schedule.
pub struct StoredSigningKey {
    pub kid: String,
    pub generation: i32,
    pub pem: Zeroizing<String>,
    pub created_at: OffsetDateTime,
    pub activates_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyStoreError {
    #[error("signing key `{kid}` cannot be opened with the data key ring: {source}")]
    Unreadable {
        kid: String,
        #[source]
        source: FieldEncryptionError,
    },
    #[error("another rotation of the signing key finished first; run the command again")]
    ConcurrentRotation,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl From<sea_orm::DbErr> for SigningKeyStoreError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Repository(repository_error(error))
    }
}

/// ES256 signing keys in the `signing_keys` table, private keys sealed under the data key, so
/// every instance signs and verifies with the same keys and a rotation reaches all of them.
#[derive(Clone)]
pub struct SqlSigningKeys {
    connection: DatabaseConnection,
    encryption: Arc<dyn FieldEncryption>,
}

impl SqlSigningKeys {
    pub fn new(connection: DatabaseConnection, encryption: Arc<dyn FieldEncryption>) -> Self {
        Self { connection, encryption }
    }

    fn seal(&self, kid: &str, pem: &str) -> Result<String, SigningKeyStoreError> {
        self.encryption
            .seal(
                FieldBinding {
                    field: PRIVATE_KEY_FIELD,
                    row: kid,
                },
                pem,
            )
            .map_err(|source| SigningKeyStoreError::Unreadable {
                kid: kid.to_owned(),
                source,
            })
    }

    fn open(&self, row: &signing_key::Model) -> Result<Zeroizing<String>, SigningKeyStoreError> {
        let binding = FieldBinding {
            field: PRIVATE_KEY_FIELD,
            row: &row.kid,
        };
        self.encryption
            .open(binding, &row.private_key)
            .map(Zeroizing::new)
            .map_err(|source| SigningKeyStoreError::Unreadable {
                kid: row.kid.clone(),
                source,
            })
    }

    /// Every stored key, oldest generation first.
    ///
    /// # Errors
    /// [`SigningKeyStoreError`] when the store fails or a key cannot be opened.
    pub async fn load(&self) -> Result<Vec<StoredSigningKey>, SigningKeyStoreError> {
        let rows = signing_key::Entity::find()
            .order_by_asc(signing_key::Column::Generation)
            .all(&self.connection)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredSigningKey {
                    pem: self.open(&row)?,
                    kid: row.kid,
                    generation: row.generation,
                    created_at: row.created_at,
                    activates_at: row.activates_at,
                    retired_at: row.retired_at,
                })
            })
            .collect()
    }

    /// Stores `pem` as the first key when there is none. Returns `false` when a key exists
    /// already, including when another instance stored its first key at the same moment.
    ///
    /// # Errors
    /// [`SigningKeyStoreError`] when the store fails.
    pub async fn insert_first(&self, kid: &str, pem: &str, now: OffsetDateTime) -> Result<bool, SigningKeyStoreError> {
        if signing_key::Entity::find().count(&self.connection).await? > 0 {
            return Ok(false);
        }
        let row = self.row(kid, pem, 1, now, now)?;
        match signing_key::Entity::insert(row.into_active_model())
            .exec_without_returning(&self.connection)
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if is_unique_violation(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Adds `pem` as the next generation, signing from `activates_at` on; the keys signing until
    /// then are retired at that time.
    ///
    /// # Errors
    /// [`SigningKeyStoreError::ConcurrentRotation`] when another rotation took the generation.
    pub async fn rotate(
        &self,
        kid: &str,
        pem: &str,
        now: OffsetDateTime,
        activates_at: OffsetDateTime,
    ) -> Result<(), SigningKeyStoreError> {
        let transaction = begin_write(&self.connection).await?;
        let newest = signing_key::Entity::find()
            .order_by_desc(signing_key::Column::Generation)
            .one(&transaction)
            .await?;
        let generation = newest.map_or(1, |row| row.generation + 1);
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::RetiredAt, Expr::value(activates_at))
            .filter(signing_key::Column::RetiredAt.is_null())
            .exec(&transaction)
            .await?;
        let row = self.row(kid, pem, generation, now, activates_at)?;
        match signing_key::Entity::insert(row.into_active_model())
            .exec_without_returning(&transaction)
            .await
        {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => return Err(SigningKeyStoreError::ConcurrentRotation),
            Err(error) => return Err(error.into()),
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Seals every key not under the current data key with it.
    ///
    /// # Errors
    /// [`SigningKeyStoreError`] when a key cannot be opened or the store fails.
    pub async fn reseal(&self) -> Result<u64, SigningKeyStoreError> {
        let current = self.encryption.current_key_id();
        let rows = signing_key::Entity::find()
            .filter(signing_key::Column::DataKeyId.ne(current.as_str()))
            .all(&self.connection)
            .await?;
        let mut resealed = 0;
        for row in rows {
            let pem = self.open(&row)?;
            let sealed = self.seal(&row.kid, &pem)?;
            let updated = signing_key::Entity::update_many()
                .col_expr(signing_key::Column::PrivateKey, Expr::value(sealed))
                .col_expr(signing_key::Column::DataKeyId, Expr::value(current.clone()))
                .filter(signing_key::Column::Kid.eq(row.kid.as_str()))
                .filter(signing_key::Column::PrivateKey.eq(row.private_key.as_str()))
                .exec(&self.connection)
                .await?;
            resealed += updated.rows_affected;
        }
        Ok(resealed)
    }

    /// Counts keys sealed under the data key `key_id`.
    ///
    /// # Errors
    /// [`SigningKeyStoreError`] when the store fails.
    pub async fn count_under(&self, key_id: &str) -> Result<u64, SigningKeyStoreError> {
        Ok(signing_key::Entity::find()
            .filter(signing_key::Column::DataKeyId.eq(key_id))
            .count(&self.connection)
            .await?)
    }

    fn row(
        &self,
        kid: &str,
        pem: &str,
        generation: i32,
        now: OffsetDateTime,
        activates_at: OffsetDateTime,
    ) -> Result<signing_key::Model, SigningKeyStoreError> {
        Ok(signing_key::Model {
            kid: kid.to_owned(),
            generation,
            private_key: self.seal(kid, pem)?,
            data_key_id: self.encryption.current_key_id(),
            created_at: now,
            activates_at,
            retired_at: None,
        })
    }
}
