use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// Increases by one with every rotation; the unique constraint settles racing rotations.
    #[sea_orm(unique)]
    pub generation: i32,
    /// The PKCS#8 PEM private key, sealed under a data key and bound to the kid.
    pub private_key: String,
    pub data_key_id: String,
    pub created_at: TimeDateTimeWithTimeZone,
    /// From this time on the key signs new access tokens.
    pub activates_at: TimeDateTimeWithTimeZone,
    /// When a newer key took over signing; published until tokens it signed have expired.
    pub retired_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
