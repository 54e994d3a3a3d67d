//! DynamoDB `Connections` table: each user's live connections, one item per user.
//!
//! User item: `connectionId` (S, the partition key) = `user#{userId}`, `connections` (SS, the
//! user's connection ids; absent when none), `expiresAt` (N, epoch seconds; the table's TTL
//! attribute, the newest connection's expiry). Connecting adds to the set, disconnecting and a
//! `410 Gone` remove from it, and a push reads every target's set in one consistent
//! `BatchGetItem`: a connection is seen as soon as `$connect` has answered.
//!
//! Earlier versions kept one item per connection (`connectionId`, `userId`, `connectedAt`,
//! `expiresAt`) and found a user's through the GSI `byUser` on `userId`. The GSI stays so that
//! [`DynamoConnectionRegistry::adopt_legacy_connections`] (run by `migrate` after a deploy) can
//! move connections opened before the upgrade into their user's item; user items have no
//! `userId`, so the index holds nothing else.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    KeysAndAttributes, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use crate::domain::{ConnectionId, UserId};
use crate::ports::{Cause, Connection, ConnectionRegistry, PortError};

/// Name of the GSI on `userId` (connections of the earlier, per-connection layout).
pub const USER_INDEX: &str = "byUser";
/// The table's partition key.
const KEY: &str = "connectionId";
/// A user item's set of connection ids.
const CONNECTIONS: &str = "connections";
/// `BatchGetItem` takes at most 100 keys.
const BATCH_GET_MAX: usize = 100;
/// How often keys that DynamoDB left unprocessed are asked for again (10, 20, 40 ms apart).
const UNPROCESSED_RETRIES: u32 = 3;

/// The partition key of `user`'s item.
fn user_key_string(user: UserId) -> String {
    format!("user#{user}")
}

fn user_key(user: UserId) -> AttributeValue {
    AttributeValue::S(user_key_string(user))
}

/// The connection map over DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoConnectionRegistry {
    client: Client,
    table: String,
}

impl DynamoConnectionRegistry {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The table `config` names, through the SDK configuration every function uses.
    pub async fn from_config(config: &crate::config::Config) -> Self {
        let sdk = super::aws_sdk_config(config).await;
        Self::new(Client::new(&sdk), config.connections_table.clone())
    }

    /// Creates the table (with its GSI and TTL) if it does not exist, and waits until it is
    /// `ACTIVE`. Setting the TTL is best effort: some emulators (dynalite) do not implement
    /// `UpdateTimeToLive`.
    ///
    /// # Errors
    /// The table cannot be created.
    pub async fn ensure_table(&self) -> Result<bool, Cause> {
        let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let attr = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("connectionId")?)
            .attribute_definitions(attr("userId")?)
            .key_schema(key("connectionId", KeyType::Hash)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(USER_INDEX)
                    .key_schema(key("userId", KeyType::Hash)?)
                    .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                    .build()?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(false),
            Err(e) => return Err(Box::new(e.into_service_error())),
        }
        let ttl = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name("expiresAt").enabled(true).build()?,
            )
            .send()
            .await;
        if let Err(e) = ttl {
            tracing::warn!(error = %e.into_service_error(), "UpdateTimeToLive failed; items will not expire on their own");
        }
        self.wait_until_active().await?;
        Ok(true)
    }

    /// Waits until a new table and its index are `ACTIVE` (some emulators, like DynamoDB
    /// itself, answer `ResourceNotFound` to reads of a table still being created).
    async fn wait_until_active(&self) -> Result<(), Cause> {
        use aws_sdk_dynamodb::types::{IndexStatus, TableStatus};
        for _ in 0..300 {
            let table = self.client.describe_table().table_name(&self.table).send().await;
            let table = table.map_err(|e| Box::new(e.into_service_error()))?.table;
            let active = table.as_ref().is_some_and(|t| {
                t.table_status == Some(TableStatus::Active)
                    && t.global_secondary_indexes().iter().all(|i| i.index_status == Some(IndexStatus::Active))
            });
            if active {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(format!("table {} did not become ACTIVE within 30 s", self.table).into())
    }

    /// Adds `connections` to `user`'s item (creating it), whose expiry becomes `expires_at`.
    async fn add(
        &self,
        user: UserId,
        connections: &[ConnectionId],
        expires_at: i64,
    ) -> Result<(), SdkError<UpdateItemError, HttpResponse>> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, user_key(user))
            .update_expression("ADD #c :c SET expiresAt = :e")
            .expression_attribute_names("#c", CONNECTIONS)
            .expression_attribute_values(
                ":c",
                AttributeValue::Ss(connections.iter().map(|c| c.as_str().to_owned()).collect()),
            )
            .expression_attribute_values(":e", AttributeValue::N(expires_at.to_string()))
            .send()
            .await?;
        Ok(())
    }

    /// Moves the connections of the earlier layout (one item per connection, found through the
    /// GSI `byUser`) into their users' items, then deletes the old items. `migrate` runs it
    /// after every deploy; once nothing is left it costs one empty `Scan` of the index.
    /// Returns how many connections it moved. Their users' items expire `ttl` from now at the
    /// earliest (the old items' expiry is not read). A moved connection that has since closed
    /// is forgotten at its first push (`410 Gone`), like any other.
    ///
    /// # Errors
    /// The table cannot be read or written; what was moved stays moved, and a second run
    /// finishes the rest.
    pub async fn adopt_legacy_connections(&self, ttl: std::time::Duration) -> Result<usize, Cause> {
        let expires_at = chrono::Utc::now().timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let mut moved = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .index_name(USER_INDEX)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Box::new(e.into_service_error()))?;
            for item in page.items() {
                let (Some(Ok(id)), Some(Ok(user))) =
                    (item.get(KEY).map(AttributeValue::as_s), item.get("userId").map(AttributeValue::as_s))
                else {
                    continue;
                };
                let Ok(user) = user.parse::<UserId>() else {
                    tracing::warn!(connection = %id, %user, "a legacy connection item with an invalid userId; left alone");
                    continue;
                };
                self.add(user, &[ConnectionId::new(id.clone())], expires_at)
                    .await
                    .map_err(|e| Box::new(e.into_service_error()))?;
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key(KEY, AttributeValue::S(id.clone()))
                    .send()
                    .await
                    .map_err(|e| Box::new(e.into_service_error()))?;
                moved += 1;
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(moved),
            }
        }
    }

    /// Deletes the table (tests use a table per test).
    ///
    /// # Errors
    /// The table cannot be deleted.
    pub async fn delete_table(&self) -> Result<(), Cause> {
        self.client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| Box::new(e.into_service_error()))?;
        Ok(())
    }
}

/// Timeouts and transport failures are `Unavailable`, and so are throttling and 5xx answers;
/// any other service error (a missing table, a bad request) is `Internal`.
fn sdk_error<E>(e: SdkError<E, HttpResponse>) -> PortError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    let unavailable = match &e {
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error()
                || s.err().code().is_some_and(|c| {
                    c.contains("Throttl")
                        || c == "ProvisionedThroughputExceededException"
                        || c == "RequestLimitExceeded"
                })
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    let cause: Cause = Box::new(e);
    if unavailable { PortError::Unavailable(cause) } else { PortError::Internal(cause) }
}

#[async_trait]
impl ConnectionRegistry for DynamoConnectionRegistry {
    async fn register(&self, connection: &Connection) -> Result<(), PortError> {
        self.add(connection.user_id, std::slice::from_ref(&connection.connection_id), connection.expires_at.timestamp())
            .await
            .map_err(sdk_error)
    }

    async fn remove(&self, user: UserId, connection_id: &ConnectionId) -> Result<(), PortError> {
        let removed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, user_key(user))
            .update_expression("DELETE #c :c")
            // Without the condition, an update of a missing item would create one (with no TTL).
            .condition_expression("attribute_exists(#k)")
            .expression_attribute_names("#c", CONNECTIONS)
            .expression_attribute_names("#k", KEY)
            .expression_attribute_values(":c", AttributeValue::Ss(vec![connection_id.as_str().to_owned()]))
            .send()
            .await;
        match removed {
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            other => other.map(|_| ()).map_err(sdk_error),
        }
    }

    async fn connections_of_each(&self, users: &[UserId]) -> Result<Vec<Vec<ConnectionId>>, PortError> {
        let mut found: HashMap<String, Vec<ConnectionId>> = HashMap::new();
        let mut keys: Vec<String> = users.iter().map(|u| user_key_string(*u)).collect();
        keys.sort_unstable();
        keys.dedup();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk.iter().map(|k| HashMap::from([(KEY.to_owned(), AttributeValue::S(k.clone()))])).collect(),
                ))
                .consistent_read(true)
                .projection_expression("#k, #c")
                .expression_attribute_names("#k", KEY)
                .expression_attribute_names("#c", CONNECTIONS)
                .build()
                .map_err(|e| PortError::Internal(Box::new(e)))?;
            for attempt in 0.. {
                let answer =
                    self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(sdk_error)?;
                for item in answer.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    let Some(key) = item.get(KEY).and_then(|k| k.as_s().ok()) else { continue };
                    let connections = item
                        .get(CONNECTIONS)
                        .and_then(|c| c.as_ss().ok())
                        .map(|ids| ids.iter().map(|id| ConnectionId::new(id.clone())).collect())
                        .unwrap_or_default();
                    found.insert(key.clone(), connections);
                }
                // DynamoDB may leave keys unprocessed (throughput); ask again for those, backing off.
                match answer.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    Some(rest) if !rest.keys.is_empty() && attempt < UNPROCESSED_RETRIES => {
                        tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                        request = rest;
                    }
                    Some(rest) if !rest.keys.is_empty() => {
                        return Err(PortError::Unavailable("DynamoDB left keys unprocessed after retries".into()));
                    }
                    _ => break,
                }
            }
        }
        Ok(users.iter().map(|u| found.get(&user_key_string(*u)).cloned().unwrap_or_default()).collect())
    }
}
