//! The rows of each table in PostgreSQL's COPY text format, and the statistics of the
//! generated message content (collected as the rows are written, so they describe exactly the
//! data that was loaded).

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Timelike};
use uuid::Uuid;

use crate::plan::{Plan, Status};
use crate::rng::{Rng, Stream};
use crate::text::TextGenerator;

/// Share of messages sent with a client message id (an idempotency key).
pub const CLIENT_ID_SHARE: f64 = 0.3;

pub const USERS_COPY: &str = "COPY users (id, display_name, created_at, updated_at) FROM STDIN";
pub const CONVERSATIONS_COPY: &str =
    "COPY conversations (id, participant1_id, participant2_id, last_seq, created_at, updated_at) FROM STDIN";
pub const MEMBERS_COPY: &str =
    "COPY conversation_members (conversation_id, user_id, last_read_seq, last_delivered_seq) FROM STDIN";
pub const MESSAGES_COPY: &str = "COPY messages (id, conversation_id, seq, sender_id, content, status, created_at, \
     delivered_at, read_at, client_message_id, participant_ids) FROM STDIN";

/// Appends `ms` (Unix milliseconds) as a UTC timestamp literal.
pub fn push_timestamp(out: &mut String, ms: i64) {
    let t = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}+00",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis()
    );
}

/// Appends `text` escaped for the COPY text format.
pub fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

fn push_uuid(out: &mut String, id: Uuid) {
    let mut buffer = Uuid::encode_buffer();
    out.push_str(id.hyphenated().encode_lower(&mut buffer));
}

/// Row `i` (in load order) of `users`.
pub fn user_row(plan: &Plan, i: usize, out: &mut String) {
    let user = &plan.users[plan.user_order[i] as usize];
    push_uuid(out, user.id);
    out.push('\t');
    push_escaped(out, &user.display_name);
    out.push('\t');
    push_timestamp(out, user.created_ms);
    out.push('\t');
    push_timestamp(out, user.created_ms);
    out.push('\n');
}

/// Row `i` (in load order) of `conversations`.
pub fn conversation_row(plan: &Plan, i: usize, out: &mut String) {
    let c = &plan.conversations[plan.conversation_order[i] as usize];
    push_uuid(out, c.id);
    for p in c.participants {
        out.push('\t');
        push_uuid(out, plan.users[p as usize].id);
    }
    let _ = write!(out, "\t{}\t", c.last_seq);
    push_timestamp(out, c.created_ms);
    out.push('\t');
    push_timestamp(out, c.updated_ms);
    out.push('\n');
}

/// Rows `2i` and `2i + 1` (both members of conversation `i` in load order) of `conversation_members`.
pub fn member_rows(plan: &Plan, i: usize, out: &mut String) {
    let c = &plan.conversations[plan.conversation_order[i] as usize];
    for (p, member) in c.participants.iter().zip(c.members) {
        push_uuid(out, c.id);
        out.push('\t');
        push_uuid(out, plan.users[*p as usize].id);
        let _ = writeln!(out, "\t{}\t{}", member.last_read_seq, member.last_delivered_seq);
    }
}

/// What the generated content contains.
#[derive(Debug, Clone)]
pub struct ContentStats {
    /// Per vocabulary rank, the number of messages containing the word.
    pub documents: Vec<u32>,
    pub messages: u64,
    pub words: u64,
    pub with_client_id: u64,
    /// Messages per status: sent, delivered, read.
    pub statuses: [u64; 3],
}

/// Writes message rows in load order, generating ids and content from the content stream.
#[derive(Debug)]
pub struct MessageRows<'a> {
    plan: &'a Plan,
    text: &'a TextGenerator,
    rng: Rng,
    content: String,
    ranks: Vec<u32>,
    stats: ContentStats,
}

impl<'a> MessageRows<'a> {
    pub fn new(plan: &'a Plan, text: &'a TextGenerator) -> Self {
        Self {
            plan,
            text,
            rng: Rng::new(plan.params.seed, Stream::Content),
            content: String::new(),
            ranks: Vec::new(),
            stats: ContentStats {
                documents: vec![0; text.vocabulary().len()],
                messages: 0,
                words: 0,
                with_client_id: 0,
                statuses: [0; 3],
            },
        }
    }

    /// Writes row `i`; rows must be written in order, each once.
    pub fn write(&mut self, i: usize, out: &mut String) {
        let m = &self.plan.messages[i];
        let c = &self.plan.conversations[m.conversation as usize];
        let sender = self.plan.users[c.participants[usize::from(m.sender)] as usize].id;
        let id = self.rng.uuid_v7(m.created_ms);
        self.text.message(&mut self.rng, &mut self.content, &mut self.ranks);
        let client_id = self.rng.chance(CLIENT_ID_SHARE).then(|| self.rng.uuid_v4());
        let status = m.status(c);

        self.stats.messages += 1;
        self.stats.words += self.ranks.len() as u64;
        self.ranks.sort_unstable();
        self.ranks.dedup();
        for &r in &self.ranks {
            self.stats.documents[r as usize] += 1;
        }
        self.stats.with_client_id += u64::from(client_id.is_some());
        self.stats.statuses[status as usize] += 1;

        push_uuid(out, id);
        out.push('\t');
        push_uuid(out, c.id);
        let _ = write!(out, "\t{}\t", m.seq);
        push_uuid(out, sender);
        out.push('\t');
        push_escaped(out, &self.content);
        out.push('\t');
        out.push_str(status.as_str());
        out.push('\t');
        push_timestamp(out, m.created_ms);
        out.push('\t');
        if status == Status::Sent {
            out.push_str("\\N");
        } else {
            push_timestamp(out, m.delivered_ms);
        }
        out.push('\t');
        if status == Status::Read {
            push_timestamp(out, m.read_ms);
        } else {
            out.push_str("\\N");
        }
        out.push('\t');
        match client_id {
            Some(id) => push_uuid(out, id),
            None => out.push_str("\\N"),
        }
        out.push_str("\t{");
        for (n, p) in c.participants.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            push_uuid(out, self.plan.users[*p as usize].id);
        }
        out.push_str("}\n");
    }

    pub fn into_stats(self) -> ContentStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_escapes_use_the_copy_text_format() {
        let mut out = String::new();
        push_timestamp(&mut out, 1_700_000_000_123);
        assert_eq!(out, "2023-11-14 22:13:20.123+00");
        out.clear();
        push_escaped(&mut out, "a\\b\nc\td");
        assert_eq!(out, "a\\\\b\\nc\\td");
    }
}
