//! DynamoDB `Connections` table: connection id <-> user, with a TTL and a GSI on `userId`.
//!
//! Item: `connectionId` (S, partition key), `userId` (S), `connectedAt` (N, epoch ms),
//! `expiresAt` (N, epoch seconds; the table's TTL attribute). GSI `byUser` (partition key
//! `userId`, keys only) answers "which connections does this user have".

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use crate::domain::{ConnectionId, UserId};
use crate::ports::{Cause, Connection, ConnectionRegistry, PortError};

/// Name of the GSI on `userId`.
pub const USER_INDEX: &str = "byUser";

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

    /// Creates the table (with its GSI and TTL) if it does not exist. Setting the TTL is best
    /// effort: some emulators (dynalite) do not implement `UpdateTimeToLive`.
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
        Ok(true)
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
        self.client
            .put_item()
            .table_name(&self.table)
            .item("connectionId", AttributeValue::S(connection.connection_id.as_str().to_owned()))
            .item("userId", AttributeValue::S(connection.user_id.to_string()))
            .item("connectedAt", AttributeValue::N(connection.connected_at.timestamp_millis().to_string()))
            .item("expiresAt", AttributeValue::N(connection.expires_at.timestamp().to_string()))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn remove(&self, connection_id: &ConnectionId) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("connectionId", AttributeValue::S(connection_id.as_str().to_owned()))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn connections_of(&self, user: UserId) -> Result<Vec<ConnectionId>, PortError> {
        let mut connections = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(USER_INDEX)
                .key_condition_expression("userId = :u")
                .expression_attribute_values(":u", AttributeValue::S(user.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            connections.extend(
                page.items()
                    .iter()
                    .filter_map(|item| item.get("connectionId")?.as_s().ok())
                    .map(|id| ConnectionId::new(id.clone())),
            );
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(connections),
            }
        }
    }
}
