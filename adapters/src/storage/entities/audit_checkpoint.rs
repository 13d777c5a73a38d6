use sea_orm::entity::prelude::*;

/// Where the chain resumes after events outside retention were pruned.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub created_at: TimeDateTimeWithTimeZone,
    pub pruned_before: TimeDateTimeWithTimeZone,
    /// The sequence number of the first event kept.
    pub first_sequence: i64,
    /// The hash that event's `previous_hash` must equal.
    pub previous_hash: String,
    pub pruned_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
