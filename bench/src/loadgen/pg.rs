//! PostgreSQL, read directly: the cross-check that the server stored exactly the messages it
//! acknowledged, and the optional direct load of data a row of the R10 table needs (used only
//! when asked, and then said so in the output).

use serde::Serialize;
use tokio_postgres::Client;
use uuid::Uuid;

use chat_shared::domain::MessageId;

use super::ledger::{SendOutcome, SendOutcomes};
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

/// The stored messages of a run against how each send ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CrossCheck {
    /// Successful `message:send` acks over the run.
    pub acked: u64,
    /// Of those, the messages found in PostgreSQL.
    pub acked_stored: u64,
    /// Rows in `messages` from the run's senders with the run's `clientMessageId` prefix.
    pub rows: u64,
    /// Distinct `clientMessageId`s among them (the unique index makes this equal to `rows`).
    pub distinct_client_ids: u64,
    /// Sends whose answer did not say whether they were stored: `SERVICE_UNAVAILABLE` or
    /// `INTERNAL_ERROR` (the store timed out, or something failed after it), no answer, or a
    /// frame that could not be written. A client settles these by retrying with the same
    /// `clientMessageId`.
    pub unsettled: u64,
    /// Of those, the messages found in PostgreSQL.
    pub unsettled_stored: u64,
    /// Messages stored although refused with a code that promises nothing was stored.
    pub refused_stored: u64,
    /// Rows with the run's prefix whose number the run never sent.
    pub unknown_rows: u64,
}

impl CrossCheck {
    /// Matches the `clientMessageId`s found in PostgreSQL (`stored`) against the sends.
    pub fn new(prefix: &str, sends: &[SendOutcomes], stored: &[String]) -> CrossCheck {
        let mut check = CrossCheck { rows: stored.len() as u64, ..CrossCheck::default() };
        let mut outcome_of = std::collections::HashMap::new();
        for phase in sends {
            for (i, outcome) in phase.outcomes.iter().enumerate() {
                outcome_of.insert(phase.first + i as u64, *outcome);
                match outcome {
                    SendOutcome::Acked => check.acked += 1,
                    SendOutcome::Unsettled => check.unsettled += 1,
                    SendOutcome::Refused => {}
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for client_id in stored {
            if !seen.insert(client_id.as_str()) {
                continue;
            }
            let number = client_id.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok());
            match number.and_then(|n| outcome_of.get(&n)) {
                Some(SendOutcome::Acked) => check.acked_stored += 1,
                Some(SendOutcome::Unsettled) => check.unsettled_stored += 1,
                Some(SendOutcome::Refused) => check.refused_stored += 1,
                None => check.unknown_rows += 1,
            }
        }
        check.distinct_client_ids = seen.len() as u64;
        check
    }

    /// Every acknowledged message stored once; nothing refused, and nothing the run did not send.
    pub fn passed(&self) -> bool {
        self.acked_stored == self.acked
            && self.distinct_client_ids == self.rows
            && self.refused_stored == 0
            && self.unknown_rows == 0
    }

    /// One line for the summary.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} acked, {} of them stored; {} rows, {} distinct",
            self.acked, self.acked_stored, self.rows, self.distinct_client_ids
        );
        if self.unsettled > 0 {
            line += &format!(
                "; {} unsettled (SERVICE_UNAVAILABLE, INTERNAL_ERROR or no answer), {} of them stored",
                self.unsettled, self.unsettled_stored
            );
        }
        if self.refused_stored > 0 {
            line += &format!("; {} refused yet stored", self.refused_stored);
        }
        if self.unknown_rows > 0 {
            line += &format!("; {} rows the run never sent", self.unknown_rows);
        }
        line
    }
}

/// Reads the run's messages from PostgreSQL, those of `senders` whose `clientMessageId` starts
/// with `prefix`, and matches them against `sends`.
///
/// # Errors
/// PostgreSQL cannot be reached or queried.
pub async fn cross_check(
    url: &str,
    senders: &[Uuid],
    prefix: &str,
    sends: &[SendOutcomes],
) -> Result<CrossCheck, Error> {
    let client = connect(url).await?;
    let rows = client
        .query(
            "SELECT client_message_id FROM messages \
             WHERE sender_id = ANY($1) AND left(client_message_id, length($2)) = $2",
            &[&senders, &prefix],
        )
        .await?;
    let stored: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    Ok(CrossCheck::new(prefix, sends, &stored))
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
    fn a_cross_check_wants_every_ack_stored_and_nothing_refused() {
        use SendOutcome::{Acked, Refused, Unsettled};
        let sends = [
            SendOutcomes { first: 0, outcomes: vec![Acked, Acked, Refused] },
            SendOutcomes { first: 3, outcomes: vec![Unsettled, Unsettled, Acked] },
        ];
        let check = |stored: &[&str]| {
            let stored: Vec<String> = stored.iter().map(|s| format!("p-{s}")).collect();
            CrossCheck::new("p-", &sends, &stored)
        };

        let exact = check(&["0", "1", "5"]);
        assert!(exact.passed(), "{exact:?}");
        assert_eq!((exact.acked, exact.acked_stored, exact.unsettled, exact.unsettled_stored), (3, 3, 2, 0));

        let timed_out_but_stored = check(&["0", "1", "3", "5"]);
        assert!(timed_out_but_stored.passed(), "an unsettled send may be stored");
        assert_eq!(timed_out_but_stored.unsettled_stored, 1);
        assert!(timed_out_but_stored.summary().contains("2 unsettled"), "{}", timed_out_but_stored.summary());

        assert!(!check(&["0", "5"]).passed(), "a message acked and not stored");
        assert!(!check(&["0", "1", "2", "5"]).passed(), "a refused message stored");
        assert!(!check(&["0", "1", "5", "9"]).passed(), "a row the run never sent");
        assert!(!check(&["0", "1", "5", "5"]).passed(), "a message stored twice");
        assert_eq!(
            check(&["0", "1", "2", "5", "9"]).summary(),
            "3 acked, 3 of them stored; 5 rows, 5 distinct; 2 unsettled (SERVICE_UNAVAILABLE, INTERNAL_ERROR or no answer), 0 of them stored; 1 refused yet stored; 1 rows the run never sent"
        );
    }
}
