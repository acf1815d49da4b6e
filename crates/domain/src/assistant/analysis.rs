//! What the assistant's text utilities answer (summaries, moderation verdicts,
//! classifications, generated text) and the bounds the contract puts on them. The
//! bounds are enforced here, once, whatever the provider answered.

/// The moderation categories of the contract, each a score in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ModerationCategories {
    pub harassment: f64,
    pub hate: f64,
    pub sexual: f64,
    pub violence: f64,
    pub self_harm: f64,
    pub spam: f64,
}

/// A moderation verdict on one text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Moderation {
    pub flagged: bool,
    /// 0..=1.
    pub toxicity: f64,
    pub categories: ModerationCategories,
    /// What was found, in words (`"profanity: …"`, `"link spam"`…), for a moderator.
    pub issues: Vec<String>,
}

/// The overall feeling of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sentiment {
    Positive,
    Neutral,
    Negative,
}

impl Sentiment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Sentiment::Positive => "positive",
            Sentiment::Neutral => "neutral",
            Sentiment::Negative => "negative",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Sentiment::Positive, Sentiment::Neutral, Sentiment::Negative].into_iter().find(|s| s.as_str() == raw)
    }
}

/// A text's label (one of the labels asked for) and sentiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub label: String,
    pub sentiment: Sentiment,
    /// 0..=1.
    pub confidence: f64,
}

/// What `generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GenerationKind {
    Email,
    BlogPost,
    ProductDescription,
}

impl GenerationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            GenerationKind::Email => "email",
            GenerationKind::BlogPost => "blog_post",
            GenerationKind::ProductDescription => "product_description",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [GenerationKind::Email, GenerationKind::BlogPost, GenerationKind::ProductDescription]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// The voice of a generated text (description suggestions take one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tone {
    #[default]
    Neutral,
    Playful,
    Premium,
}

impl Tone {
    pub const fn as_str(self) -> &'static str {
        match self {
            Tone::Neutral => "neutral",
            Tone::Playful => "playful",
            Tone::Premium => "premium",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Tone::Neutral, Tone::Playful, Tone::Premium].into_iter().find(|t| t.as_str() == raw)
    }
}

/// Clamps a score a provider gave into 0..=1 (NaN counts as 0).
pub fn clamp_score(score: f64) -> f64 {
    if score.is_nan() { 0.0 } else { score.clamp(0.0, 1.0) }
}
