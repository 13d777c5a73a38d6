use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Sealed under a data key, bound to the row id.
    pub email: String,
    /// HMAC-SHA256 of the normalized email under the blind-index key.
    #[sea_orm(unique)]
    pub email_index: String,
    /// Sealed under a data key, bound to the row id.
    pub full_name: String,
    pub role: String,
    pub status: String,
    pub password_hash: String,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
    pub must_change_password: bool,
    /// The data key the row's sealed fields use; `NULL` for rows not sealed yet.
    pub data_key_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
