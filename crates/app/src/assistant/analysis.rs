//! `TextAnalysis`: the assistant's text utilities (summarize, moderate, classify,
//! generate) as the rest of the application uses them — the HTTP utilities, review
//! moderation, review summaries and description suggestions. An implementation asks the
//! provider with a versioned prompt and enforces the contract's bounds on what comes back;
//! a caching decorator keys results by operation, provider, model, prompt version,
//! normalised input and parameters.
//!
//! Callers pass text that has already been screened and redacted where the text comes
//! from a user (`screen_prompt`, `redact_pii`).

use crate::ports::ModelError;
use async_trait::async_trait;
use storefront_domain::{Classification, GenerationKind, Moderation, TokenUsage, Tone};

/// The four utilities, as cache keys, prompts and metrics name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnalysisOperation {
    Summarize,
    Moderate,
    Classify,
    Generate,
}

impl AnalysisOperation {
    pub const fn as_str(self) -> &'static str {
        match self {
            AnalysisOperation::Summarize => "summarize",
            AnalysisOperation::Moderate => "moderate",
            AnalysisOperation::Classify => "classify",
            AnalysisOperation::Generate => "generate",
        }
    }
}

/// Whether a call may answer from the cache (`Cache-Control: no-cache` skips it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    #[default]
    Use,
    Bypass,
}

/// Where an answer came from, as `X-Cache` says (`HIT` / `MISS`; a bypass is a `MISS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
}

impl CacheStatus {
    pub const fn header_value(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
        }
    }
}

/// A utility's answer with who gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysed<T> {
    pub value: T,
    pub provider: String,
    pub model: String,
    /// What the provider call cost (zero on a cache hit).
    pub usage: TokenUsage,
    pub cache: CacheStatus,
}

/// What `generate` is asked to write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GenerationRequest {
    pub kind: GenerationKind,
    /// What to write about (1..=4000 characters).
    pub prompt: String,
    /// The longest text, in words (10..=1000).
    pub max_words: u32,
    pub tone: Tone,
}

/// The text utilities. Results honour the contract's bounds: a summary is never longer
/// than `max_chars`, scores are in 0..=1, a classification's label is one of the labels
/// asked for, generated text has at most `max_words` words.
#[async_trait]
pub trait TextAnalysis: Send + Sync {
    /// Who answers (`builtin`, `openai`).
    fn provider(&self) -> &str;

    /// Which model answers.
    fn model(&self) -> &str;

    /// The version of the prompt (and post-processing) `operation` uses; a new version
    /// makes earlier cached results unreachable.
    fn prompt_version(&self, operation: AnalysisOperation) -> u32;

    /// A summary of `text` of at most `max_chars` characters (20..=1000).
    async fn summarize(&self, text: &str, max_chars: u32, cache: CacheMode) -> Result<Analysed<String>, ModelError>;

    /// A moderation verdict on `text`.
    async fn moderate(&self, text: &str, cache: CacheMode) -> Result<Analysed<Moderation>, ModelError>;

    /// The label of `labels` (2..=20 of them) that fits `text` best, and its sentiment.
    /// Without labels the label is the sentiment's name.
    async fn classify(
        &self,
        text: &str,
        labels: &[String],
        cache: CacheMode,
    ) -> Result<Analysed<Classification>, ModelError>;

    /// Text of `request.kind` about `request.prompt`.
    async fn generate(&self, request: &GenerationRequest, cache: CacheMode) -> Result<Analysed<String>, ModelError>;
}

/// The utilities on a `LanguageModel`: a versioned prompt per operation, the provider's
/// answer post-processed to the contract's bounds.
pub struct ModelTextAnalysis {
    model: std::sync::Arc<dyn crate::ports::LanguageModel>,
}

impl ModelTextAnalysis {
    pub fn new(model: std::sync::Arc<dyn crate::ports::LanguageModel>) -> Self {
        Self { model }
    }
}

#[async_trait]
impl TextAnalysis for ModelTextAnalysis {
    fn provider(&self) -> &str {
        self.model.provider()
    }

    fn model(&self) -> &str {
        self.model.model()
    }

    fn prompt_version(&self, _operation: AnalysisOperation) -> u32 {
        1
    }

    async fn summarize(&self, _text: &str, _max_chars: u32, _cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        todo!("utilities branch")
    }

    async fn moderate(&self, _text: &str, _cache: CacheMode) -> Result<Analysed<Moderation>, ModelError> {
        todo!("utilities branch")
    }

    async fn classify(
        &self,
        _text: &str,
        _labels: &[String],
        _cache: CacheMode,
    ) -> Result<Analysed<Classification>, ModelError> {
        todo!("utilities branch")
    }

    async fn generate(&self, _request: &GenerationRequest, _cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        todo!("utilities branch")
    }
}
