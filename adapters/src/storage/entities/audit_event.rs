use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: TimeDateTimeWithTimeZone,
    pub event_type: String,
    pub user_id: Option<Uuid>,
    pub resource: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub sequence: Option<i64>,
    pub previous_hash: Option<String>,
    pub hash: Option<String>,
    pub severity: Option<String>,
    pub actor_id: Option<Uuid>,
    pub changes: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
