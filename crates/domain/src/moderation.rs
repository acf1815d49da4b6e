//! Review moderation (post-moderation): a review is shown as soon as it is written
//! (approved by default), checked afterwards by the text analysis, and hidden when the
//! check flags it or a moderator rejects it. When a verdict may be stored and what a
//! decision does live here once (who sees a hidden review is `catalog::ReviewViewer`); the
//! stores lock and filter as these functions say.

use crate::admin::{AuditAction, AuditDraft};
use crate::assistant::analysis::Moderation;
use crate::ids::{ProductId, ReviewId, UserId};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ModerationStatus {
    /// Shown to everyone: every review until its check says otherwise, and every review a
    /// moderator approved.
    #[default]
    Approved,
    /// The check found it toxic: hidden until a moderator decides.
    Flagged,
    /// A moderator rejected it: hidden.
    Rejected,
}

impl ModerationStatus {
    pub const ALL: [ModerationStatus; 3] =
        [ModerationStatus::Approved, ModerationStatus::Flagged, ModerationStatus::Rejected];

    pub const fn as_str(self) -> &'static str {
        match self {
            ModerationStatus::Approved => "approved",
            ModerationStatus::Flagged => "flagged",
            ModerationStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether reviews in this status are shown to everyone and count in their product's
    /// review count and rating.
    pub const fn is_public(self) -> bool {
        matches!(self, ModerationStatus::Approved)
    }
}

/// A review's moderation, as its author and moderators see it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReviewModeration {
    pub status: ModerationStatus,
    /// The last check's toxicity (0..=1); `None` until checked.
    pub toxicity: Option<f64>,
    /// When the status was last set by a check or a moderator; `None` until then.
    pub checked_at: Option<DateTime<Utc>>,
}

/// The status an automatic check gives a text: flagged when the analysis flags it, else
/// approved. Only a moderator rejects.
pub fn verdict_status(moderation: &Moderation) -> ModerationStatus {
    if moderation.flagged { ModerationStatus::Flagged } else { ModerationStatus::Approved }
}

/// An automatic check's result for one revision of a review's text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReviewVerdict {
    /// The revision of the text that was checked (`Review::revision`).
    pub revision: i64,
    pub status: ModerationStatus,
    /// `None` when the text was flagged without asking the model (an injection attempt).
    pub toxicity: Option<f64>,
    pub checked_at: DateTime<Utc>,
}

/// What became of a verdict offered to a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictOutcome {
    /// Stored.
    Recorded,
    /// The text changed since it was checked: the check of the newer text decides.
    Stale,
    /// A moderator decided on this text: their decision stands.
    Decided,
}

/// Whether a verdict on `verdict_revision` may be stored on a review whose text is now at
/// `current_revision` and on which a moderator last decided at `decided_revision`. A
/// moderator's decision holds for the text it was made on: once the author edits the text,
/// the check of the new text applies again (a review approved by hand could otherwise be
/// rewritten into anything). The store calls this with the review's row locked.
pub fn verdict_outcome(verdict_revision: i64, current_revision: i64, decided_revision: Option<i64>) -> VerdictOutcome {
    if verdict_revision != current_revision {
        VerdictOutcome::Stale
    } else if decided_revision.is_some_and(|decided| decided >= current_revision) {
        VerdictOutcome::Decided
    } else {
        VerdictOutcome::Recorded
    }
}

/// A moderator's decision on a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModerationDecision {
    Approve,
    Reject,
}

impl ModerationDecision {
    pub const ALL: [ModerationDecision; 2] = [ModerationDecision::Approve, ModerationDecision::Reject];

    pub const fn as_str(self) -> &'static str {
        match self {
            ModerationDecision::Approve => "approve",
            ModerationDecision::Reject => "reject",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == raw)
    }

    /// The status the decision gives the review.
    pub const fn status(self) -> ModerationStatus {
        match self {
            ModerationDecision::Approve => ModerationStatus::Approved,
            ModerationDecision::Reject => ModerationStatus::Rejected,
        }
    }

    pub const fn audit_action(self) -> AuditAction {
        match self {
            ModerationDecision::Approve => AuditAction::ReviewApproved,
            ModerationDecision::Reject => AuditAction::ReviewRejected,
        }
    }

    /// The audit entry of deciding on `review` (as it was before, its status `before`).
    pub fn audit(self, review: ReviewId, product: ProductId, author: UserId, before: ModerationStatus) -> AuditDraft {
        AuditDraft {
            action: self.audit_action(),
            target: format!("review:{review}"),
            details: json!({
                "product_id": product.to_string(),
                "author_id": author.to_string(),
                "from": before.as_str(),
                "to": self.status().as_str(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn statuses_round_trip_and_only_approved_is_public() {
        for status in ModerationStatus::ALL {
            assert_eq!(ModerationStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ModerationStatus::parse("Approved"), None);
        assert!(ModerationStatus::Approved.is_public());
        assert!(!ModerationStatus::Flagged.is_public() && !ModerationStatus::Rejected.is_public());
        assert_eq!(ReviewModeration::default().status, ModerationStatus::Approved, "approved until checked");
    }

    #[test]
    fn a_verdict_is_stored_only_for_the_current_text_and_never_over_a_decision_on_it() {
        assert_eq!(verdict_outcome(1, 1, None), VerdictOutcome::Recorded);
        assert_eq!(verdict_outcome(1, 2, None), VerdictOutcome::Stale, "the text was edited since");
        assert_eq!(verdict_outcome(2, 2, Some(2)), VerdictOutcome::Decided, "a moderator decided on this text");
        assert_eq!(verdict_outcome(2, 2, Some(1)), VerdictOutcome::Recorded, "the decision was on an older text");
        assert_eq!(verdict_outcome(1, 2, Some(2)), VerdictOutcome::Stale);
    }

    #[test]
    fn the_check_flags_but_only_a_moderator_rejects() {
        let flagged = Moderation { flagged: true, toxicity: 0.9, ..Moderation::default() };
        assert_eq!(verdict_status(&flagged), ModerationStatus::Flagged);
        assert_eq!(verdict_status(&Moderation::default()), ModerationStatus::Approved);
        assert_eq!(
            ModerationDecision::parse("reject").map(ModerationDecision::status),
            Some(ModerationStatus::Rejected)
        );
        assert_eq!(ModerationDecision::parse("approved"), None);
        let entry = ModerationDecision::Reject.audit(
            ReviewId(Uuid::from_u128(1)),
            ProductId(Uuid::from_u128(2)),
            UserId(Uuid::from_u128(3)),
            ModerationStatus::Flagged,
        );
        assert_eq!(entry.action.as_str(), "review.rejected");
        assert_eq!(entry.target, format!("review:{}", Uuid::from_u128(1)));
        assert_eq!((entry.details["from"].as_str(), entry.details["to"].as_str()), (Some("flagged"), Some("rejected")));
    }
}
