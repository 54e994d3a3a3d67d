//! PostgreSQL, read directly: the cross-check that the server stored exactly the messages it
//! acknowledged, and the optional direct load of data a row of the R10 table needs (used only
//! when asked, and then said so in the output).

use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

use chat_shared::domain::MessageId;

use crate::Error;

async fn connect(url: &str) -> Result<Client, Error> {
    crate::load::connect(url).await.map_err(|e| format!("PostgreSQL ({}): {e}", redacted(url)).into())
}

/// `url` without its password.
fn redacted(url: &str) -> String {
    match url.split_once("://").and_then(|(scheme, rest)| Some((scheme, rest.split_once('@')?))) {
        Some((scheme, (credentials, host))) => {
            let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

/// The stored messages of a run against its successful acks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrossCheck {
    /// Successful `message:send` acks over the run.
    pub acked: u64,
    /// Rows in `messages` from the run's senders with the run's `clientMessageId` prefix.
    pub rows: u64,
    /// Distinct `clientMessageId`s among them (the unique index makes this equal to `rows`).
    pub distinct_client_ids: u64,
}

impl CrossCheck {
    /// Every acked message stored once, and nothing else stored.
    pub fn passed(&self) -> bool {
        self.rows == self.acked && self.distinct_client_ids == self.rows
    }
}

/// Counts the run's messages in PostgreSQL: those of `senders` whose `clientMessageId` starts
/// with `prefix`.
///
/// # Errors
/// PostgreSQL cannot be reached or queried.
pub async fn cross_check(url: &str, senders: &[Uuid], prefix: &str, acked: u64) -> Result<CrossCheck, Error> {
    let client = connect(url).await?;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT client_message_id) FROM messages \
             WHERE sender_id = ANY($1) AND left(client_message_id, length($2)) = $2",
            &[&senders, &prefix],
        )
        .await?;
    let count = |i: usize| row.get::<_, i64>(i).max(0) as u64;
    Ok(CrossCheck { acked, rows: count(0), distinct_client_ids: count(1) })
}

/// Appends `contents` to `conversation` in one transaction, as the server would store them
/// (gap-free `seq` after the conversation's last, the conversation's participants, UUIDv7
/// ids), sent alternately by its two participants.
///
/// # Errors
/// The conversation does not exist, or PostgreSQL refused.
pub async fn insert_messages(url: &str, conversation: Uuid, contents: &[String]) -> Result<(), Error> {
    let mut client = connect(url).await?;
    let transaction = client.transaction().await?;
    let row = transaction
        .query_opt(
            "SELECT participant1_id, participant2_id, last_seq FROM conversations WHERE id = $1 FOR UPDATE",
            &[&conversation],
        )
        .await?
        .ok_or_else(|| format!("conversation {conversation} is not in PostgreSQL"))?;
    let participants: [Uuid; 2] = [row.get(0), row.get(1)];
    let last_seq: i64 = row.get(2);
    let ids: Vec<Uuid> = contents.iter().map(|_| MessageId::new_v7().as_uuid()).collect();
    let senders: Vec<Uuid> = (0..contents.len()).map(|i| participants[i % 2]).collect();
    let count = contents.len() as i64;
    transaction
        .execute(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, content, participant_ids) \
             SELECT t.id, $1, $2 + t.ord, t.sender, t.content, $3 \
             FROM unnest($4::uuid[], $5::uuid[], $6::text[]) WITH ORDINALITY AS t(id, sender, content, ord)",
            &[&conversation, &last_seq, &participants.to_vec(), &ids, &senders, &contents],
        )
        .await?;
    transaction
        .execute(
            "UPDATE conversations SET last_seq = last_seq + $2, updated_at = now() WHERE id = $1",
            &[&conversation, &count],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_the_password() {
        assert_eq!(
            redacted("postgres://postgres:secret@127.0.0.1:5432/chat"),
            "postgres://postgres@127.0.0.1:5432/chat"
        );
        assert_eq!(redacted("postgres://127.0.0.1/chat"), "postgres://127.0.0.1/chat");
    }

    #[test]
    fn a_cross_check_passes_only_on_exact_agreement() {
        let check = |acked, rows, distinct| CrossCheck { acked, rows, distinct_client_ids: distinct }.passed();
        assert!(check(10, 10, 10));
        assert!(!check(10, 9, 9), "a message acked and not stored");
        assert!(!check(10, 11, 11), "a message stored and not acked");
        assert!(!check(10, 10, 9));
    }
}
