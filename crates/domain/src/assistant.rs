//! The assistant's values and rules: conversations and their messages, what a chat
//! message may be, token usage and the daily budget, and the guards every user text
//! passes before it leaves the server (`guards`: prompt-injection screening and PII
//! redaction).

pub mod analysis;
pub mod guards;
pub mod insights;

use crate::ValidationError;
use crate::ids::{ChatMessageId, ConversationId, UserId};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// Who wrote a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    User,
    Assistant,
}

impl ChatRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [ChatRole::User, ChatRole::Assistant].into_iter().find(|r| r.as_str() == raw)
    }
}

/// How a message ended: whole, cut off by the client leaving, or by the provider failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    Complete,
    Interrupted,
    Failed,
}

impl MessageStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Interrupted => "interrupted",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [MessageStatus::Complete, MessageStatus::Interrupted, MessageStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// Tokens one reply cost: from the provider's usage data, or `estimated` by our own count
/// when the provider sent none (or the reply was cut off before it could).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub estimated: bool,
}

impl TokenUsage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// A conversation, as its owner lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    pub user_id: UserId,
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When its last message was stored (its creation time before any).
    pub updated_at: DateTime<Utc>,
    pub message_count: u64,
}

/// A stored message. User messages carry no provider, model or usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub id: ChatMessageId,
    pub conversation_id: ConversationId,
    pub role: ChatRole,
    /// Redacted (see `guards::redact_pii`) before it was stored.
    pub content: String,
    pub status: MessageStatus,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub usage: Option<TokenUsage>,
    pub created_at: DateTime<Utc>,
}

/// What one user spent on one day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DailyUsage {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl DailyUsage {
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// The day (UTC) a usage counts against.
pub fn usage_day(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}

/// The next 00:00 UTC after `now`: when a spent daily budget is whole again.
pub fn next_budget_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    Utc.with_ymd_and_hms(tomorrow.year(), tomorrow.month(), tomorrow.day(), 0, 0, 0).single().unwrap_or(now)
}

/// Whether another request fits the daily token budget: refused once the day's tokens
/// reached it (a request's own cost is known only after it ran).
pub fn within_daily_budget(spent: &DailyUsage, budget: u64) -> bool {
    spent.tokens() < budget
}

/// A user's chat message: 1..=4000 characters, not only whitespace. Kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatText(String);

impl ChatText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::Empty);
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::TooLong { max: Self::MAX_CHARS });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A conversation's title: trimmed, 1..=200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationTitle(String);

impl ConversationTitle {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::TooLong { max: Self::MAX_CHARS });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// A title from a conversation's first message: its first line, cut at a word
    /// boundary to at most 60 characters.
    pub fn from_first_message(text: &str) -> Option<Self> {
        let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
        let mut title = String::new();
        for word in line.split_whitespace() {
            if title.chars().count() + word.chars().count() + 1 > 60 {
                break;
            }
            if !title.is_empty() {
                title.push(' ');
            }
            title.push_str(word);
        }
        if title.is_empty() {
            title = line.chars().take(60).collect();
        }
        Self::parse(&title).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_text_is_one_to_four_thousand_characters_not_only_blank() {
        assert!(ChatText::parse("hi").is_ok());
        assert_eq!(ChatText::parse("   \n"), Err(ValidationError::Empty));
        assert!(ChatText::parse(&"é".repeat(4000)).is_ok());
        assert_eq!(ChatText::parse(&"é".repeat(4001)), Err(ValidationError::TooLong { max: 4000 }));
    }

    #[test]
    fn the_budget_resets_at_the_next_midnight_utc() {
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 30).unwrap();
        assert_eq!(next_budget_reset(now), Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(usage_day(now), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    }

    #[test]
    fn a_budget_refuses_once_reached() {
        let spent = DailyUsage { requests: 3, prompt_tokens: 60, completion_tokens: 40 };
        assert!(within_daily_budget(&spent, 101));
        assert!(!within_daily_budget(&spent, 100));
    }

    #[test]
    fn a_title_from_the_first_message_is_its_first_line_cut_at_a_word() {
        let title = ConversationTitle::from_first_message(
            "\n  Which desk fits a small room and costs less than two hundred dollars?\nthanks",
        );
        assert_eq!(title.unwrap().as_str(), "Which desk fits a small room and costs less than two hundred");
        assert!(ConversationTitle::from_first_message("   ").is_none());
    }

    #[test]
    fn roles_and_statuses_round_trip_through_their_names() {
        for role in [ChatRole::User, ChatRole::Assistant] {
            assert_eq!(ChatRole::parse(role.as_str()), Some(role));
        }
        for status in [MessageStatus::Complete, MessageStatus::Interrupted, MessageStatus::Failed] {
            assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(MessageStatus::parse("done"), None);
    }
}
