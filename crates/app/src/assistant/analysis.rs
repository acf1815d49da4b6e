//! `TextAnalysis`: the assistant's text utilities (summarize, moderate, classify,
//! generate) as the rest of the application uses them — the HTTP utilities, review
//! moderation, review summaries and description suggestions. An implementation asks the
//! provider with a versioned prompt and enforces the contract's bounds on what comes back;
//! a caching decorator keys results by operation, provider, model, prompt version,
//! normalised input and parameters.
//!
//! Callers pass text that has already been screened and redacted where the text comes
//! from a user (`screen_prompt`, `redact_pii`).

mod operation;
mod parse;
mod prompts;

pub use operation::AnalysisOperation;
pub use parse::FLAG_THRESHOLD;

use super::{AI_ERRORS_METRIC, AI_TOKENS_METRIC, AI_UPSTREAM_LATENCY_METRIC, tokens};
use crate::ports::{CompletionEvent, CompletionRequest, CompletionTask, LanguageModel, ModelError, PromptMessage};
use async_trait::async_trait;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;
use storefront_domain::{Classification, GenerationKind, Moderation, TokenUsage, Tone};

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

/// The longest answer collected, in bytes: far above any `max_tokens` asked for, it only
/// stops a provider that streams without end.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The utilities on a `LanguageModel`: a versioned prompt per operation, the provider's
/// answer post-processed to the contract's bounds. It has no cache of its own: it ignores
/// `CacheMode` and always answers `CacheStatus::Miss` (a caching decorator wraps it).
pub struct ModelTextAnalysis {
    model: Arc<dyn LanguageModel>,
}

impl ModelTextAnalysis {
    pub fn new(model: Arc<dyn LanguageModel>) -> Self {
        Self { model }
    }

    /// Sends `messages` for `task`, collects the whole answer and its usage (the
    /// provider's, else our estimate, counted on the blocking pool).
    async fn ask(
        &self,
        task: CompletionTask,
        messages: Vec<PromptMessage>,
        max_tokens: u32,
    ) -> Result<(String, TokenUsage), ModelError> {
        let provider = self.model.provider().to_owned();
        let prompt_texts: Vec<String> = messages.iter().map(|m| m.content.clone()).collect();
        let request = CompletionRequest { task, messages, products: Vec::new(), max_tokens, currency: String::new() };
        let started = Instant::now();
        let answer = self.collect(request).await;
        metrics::histogram!(AI_UPSTREAM_LATENCY_METRIC, "provider" => provider.clone())
            .record(started.elapsed().as_secs_f64());
        let (text, provider_usage) = answer.inspect_err(|error| self.count_error(error))?;
        let usage = match provider_usage {
            Some(u) => {
                TokenUsage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, estimated: false }
            }
            None => {
                let (prompt_tokens, completion_tokens) = tokens::estimate_turn(prompt_texts, text.clone()).await;
                TokenUsage {
                    prompt_tokens: prompt_tokens as u64,
                    completion_tokens: completion_tokens as u64,
                    estimated: true,
                }
            }
        };
        for (kind, count) in [("prompt", usage.prompt_tokens), ("completion", usage.completion_tokens)] {
            let estimated = if usage.estimated { "true" } else { "false" };
            metrics::counter!(AI_TOKENS_METRIC, "provider" => provider.clone(), "kind" => kind, "estimated" => estimated)
                .increment(count);
        }
        Ok((text, usage))
    }

    /// The provider's whole answer, and its usage when it sent one.
    async fn collect(
        &self,
        request: CompletionRequest,
    ) -> Result<(String, Option<crate::ports::ProviderUsage>), ModelError> {
        let mut stream = self.model.complete(request).await?;
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            match event? {
                CompletionEvent::Delta(delta) => {
                    text.push_str(&delta);
                    if text.len() > MAX_ANSWER_BYTES {
                        return Err(ModelError::BadResponse("the answer is far longer than asked for".into()));
                    }
                }
                CompletionEvent::Finished { usage, .. } => return Ok((text, usage)),
            }
        }
        Err(ModelError::BadResponse("the stream ended before the answer was finished".into()))
    }

    fn count_error(&self, error: &ModelError) {
        metrics::counter!(AI_ERRORS_METRIC, "provider" => self.model.provider().to_owned(), "kind" => error.kind())
            .increment(1);
    }

    /// An unreadable answer is the provider's fault: `BadResponse`, counted as one.
    fn unreadable(&self, operation: AnalysisOperation, why: parse::Unreadable) -> ModelError {
        let error = ModelError::BadResponse(format!("{}: {}", operation.as_str(), why.0));
        self.count_error(&error);
        tracing::warn!(provider = self.model.provider(), operation = operation.as_str(), %error, "unreadable answer");
        error
    }

    fn answer<T>(&self, value: T, usage: TokenUsage) -> Analysed<T> {
        Analysed {
            value,
            provider: self.model.provider().to_owned(),
            model: self.model.model().to_owned(),
            usage,
            cache: CacheStatus::Miss,
        }
    }
}

/// Token budgets: a summary's characters are about a quarter token each (doubled for
/// languages that take more), a verdict or a classification is a small JSON object, a
/// word is about 1.3 tokens (doubled too, for markup and longer words).
fn summary_tokens(max_chars: u32) -> u32 {
    max_chars / 2 + 32
}
const MODERATION_TOKENS: u32 = 300;
const CLASSIFICATION_TOKENS: u32 = 120;
fn generation_tokens(max_words: u32) -> u32 {
    max_words.saturating_mul(2).saturating_add(32)
}

#[async_trait]
impl TextAnalysis for ModelTextAnalysis {
    fn provider(&self) -> &str {
        self.model.provider()
    }

    fn model(&self) -> &str {
        self.model.model()
    }

    fn prompt_version(&self, operation: AnalysisOperation) -> u32 {
        prompts::version(operation)
    }

    async fn summarize(&self, text: &str, max_chars: u32, _cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        let task = CompletionTask::Summarize { text: text.to_owned(), max_chars };
        let (raw, usage) = self.ask(task, prompts::summarize(text, max_chars), summary_tokens(max_chars)).await?;
        let summary =
            parse::summary(&raw, max_chars).map_err(|why| self.unreadable(AnalysisOperation::Summarize, why))?;
        Ok(self.answer(summary, usage))
    }

    async fn moderate(&self, text: &str, _cache: CacheMode) -> Result<Analysed<Moderation>, ModelError> {
        let task = CompletionTask::Moderate { text: text.to_owned() };
        let (raw, usage) = self.ask(task, prompts::moderate(text), MODERATION_TOKENS).await?;
        let verdict = parse::moderation(&raw).map_err(|why| self.unreadable(AnalysisOperation::Moderate, why))?;
        Ok(self.answer(verdict, usage))
    }

    async fn classify(
        &self,
        text: &str,
        labels: &[String],
        _cache: CacheMode,
    ) -> Result<Analysed<Classification>, ModelError> {
        let task = CompletionTask::Classify { text: text.to_owned(), labels: labels.to_vec() };
        let (raw, usage) = self.ask(task, prompts::classify(text, labels), CLASSIFICATION_TOKENS).await?;
        let classification =
            parse::classification(&raw, labels).map_err(|why| self.unreadable(AnalysisOperation::Classify, why))?;
        Ok(self.answer(classification, usage))
    }

    async fn generate(&self, request: &GenerationRequest, _cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        let task = CompletionTask::Generate {
            kind: request.kind,
            prompt: request.prompt.clone(),
            max_words: request.max_words,
            tone: request.tone,
        };
        let messages = prompts::generate(request.kind, &request.prompt, request.max_words, request.tone);
        let (raw, usage) = self.ask(task, messages, generation_tokens(request.max_words)).await?;
        let text = parse::generated(&raw, request.max_words)
            .map_err(|why| self.unreadable(AnalysisOperation::Generate, why))?;
        Ok(self.answer(text, usage))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ports::{CompletionStream, PromptRole, ProviderUsage};
    use std::sync::Mutex;

    /// A provider that answers `answer` in two deltas (or fails), and keeps the requests.
    struct Scripted {
        answer: Result<String, ModelError>,
        usage: Option<ProviderUsage>,
        finish: bool,
        seen: Mutex<Vec<CompletionRequest>>,
    }

    impl Scripted {
        fn answering(answer: &str) -> Arc<Self> {
            Arc::new(Self { answer: Ok(answer.to_owned()), usage: None, finish: true, seen: Mutex::new(Vec::new()) })
        }
    }

    #[async_trait]
    impl LanguageModel for Scripted {
        fn provider(&self) -> &str {
            "scripted"
        }

        fn model(&self) -> &str {
            "scripted-1"
        }

        async fn complete(&self, request: CompletionRequest) -> Result<CompletionStream, ModelError> {
            self.seen.lock().unwrap().push(request);
            let answer = self.answer.clone()?;
            let middle = answer.char_indices().nth(answer.chars().count() / 2).map_or(answer.len(), |(i, _)| i);
            let mut events = vec![
                Ok(CompletionEvent::Delta(answer[..middle].to_owned())),
                Ok(CompletionEvent::Delta(answer[middle..].to_owned())),
            ];
            if self.finish {
                events.push(Ok(CompletionEvent::Finished { finish_reason: Some("stop".into()), usage: self.usage }));
            }
            Ok(futures::stream::iter(events).boxed())
        }
    }

    fn analysis(model: &Arc<Scripted>) -> ModelTextAnalysis {
        ModelTextAnalysis::new(model.clone())
    }

    #[tokio::test]
    async fn garbage_from_the_provider_is_a_bad_response_for_every_json_operation() {
        let model = Scripted::answering("I'm sorry, I cannot help with that.");
        let prose = analysis(&model);
        assert!(matches!(prose.moderate("text", CacheMode::Use).await, Err(ModelError::BadResponse(_))));
        let labels = vec!["a".to_owned(), "b".to_owned()];
        assert!(matches!(prose.classify("text", &labels, CacheMode::Use).await, Err(ModelError::BadResponse(_))));
        let empty = analysis(&Scripted::answering("  "));
        assert!(matches!(empty.summarize("text", 100, CacheMode::Use).await, Err(ModelError::BadResponse(_))));
        let request = GenerationRequest {
            kind: GenerationKind::Email,
            prompt: "desk".into(),
            max_words: 10,
            tone: Tone::Neutral,
        };
        assert!(matches!(empty.generate(&request, CacheMode::Use).await, Err(ModelError::BadResponse(_))));
    }

    #[tokio::test]
    async fn a_stream_that_never_finishes_is_a_bad_response_and_a_failure_passes_through() {
        let cut = Arc::new(Scripted {
            answer: Ok("{\"toxicity\": 0.1}".into()),
            usage: None,
            finish: false,
            seen: Mutex::new(Vec::new()),
        });
        assert!(matches!(analysis(&cut).moderate("text", CacheMode::Use).await, Err(ModelError::BadResponse(_))));
        let down = Arc::new(Scripted {
            answer: Err(ModelError::Timeout),
            usage: None,
            finish: true,
            seen: Mutex::new(Vec::new()),
        });
        assert_eq!(analysis(&down).summarize("text", 100, CacheMode::Use).await, Err(ModelError::Timeout));
    }

    #[tokio::test]
    async fn an_answer_is_bounded_by_the_contract_and_a_miss_with_estimated_usage() {
        let model = Scripted::answering(
            "Here you go:\n```json\n{\"label\": \"Shiping\", \"sentiment\": \"Negative\", \"confidence\": 1.7}\n```",
        );
        let labels = vec!["Shipping".to_owned(), "Billing".to_owned()];
        let answer = analysis(&model).classify("It came late.", &labels, CacheMode::Bypass).await.unwrap();
        assert_eq!(
            answer.value,
            Classification {
                label: "Shipping".into(),
                sentiment: storefront_domain::Sentiment::Negative,
                confidence: 1.0
            }
        );
        assert_eq!((answer.provider.as_str(), answer.model.as_str()), ("scripted", "scripted-1"));
        assert_eq!(answer.cache, CacheStatus::Miss);
        assert!(answer.usage.estimated);
        assert!(answer.usage.prompt_tokens > 0 && answer.usage.completion_tokens > 0);

        let seen = model.seen.lock().unwrap();
        let request = &seen[0];
        assert_eq!(request.task, CompletionTask::Classify { text: "It came late.".into(), labels: labels.clone() });
        assert_eq!(request.messages[0].role, PromptRole::System);
        assert!(request.messages[1].content.contains("[\"Shipping\",\"Billing\"]"));
        assert!(request.messages[1].content.contains("<text>\nIt came late.\n</text>"));
    }

    #[tokio::test]
    async fn the_providers_usage_is_used_when_sent_and_summaries_are_cut_to_max_chars() {
        let model = Arc::new(Scripted {
            answer: Ok("Summary: Größe passt. Die Lieferung war schnell und die Qualität überzeugt völlig.".into()),
            usage: Some(ProviderUsage { prompt_tokens: 40, completion_tokens: 12 }),
            finish: true,
            seen: Mutex::new(Vec::new()),
        });
        let answer = analysis(&model).summarize("…", 30, CacheMode::Use).await.unwrap();
        assert_eq!(answer.value, "Größe passt. Die Lieferung…");
        assert!(answer.value.chars().count() <= 30);
        assert_eq!(answer.usage, TokenUsage { prompt_tokens: 40, completion_tokens: 12, estimated: false });
    }

    #[tokio::test]
    async fn generated_text_is_cut_to_max_words() {
        let model = Scripted::answering("one two three four five six seven eight nine ten eleven twelve");
        let request = GenerationRequest {
            kind: GenerationKind::BlogPost,
            prompt: "numbers".into(),
            max_words: 10,
            tone: Tone::Playful,
        };
        let answer = analysis(&model).generate(&request, CacheMode::Use).await.unwrap();
        assert_eq!(answer.value, "one two three four five six seven eight nine ten");
        let seen = model.seen.lock().unwrap();
        assert!(matches!(seen[0].task, CompletionTask::Generate { max_words: 10, tone: Tone::Playful, .. }));
        assert!(seen[0].messages[0].content.contains("at most 10 words"));
    }

    #[test]
    fn every_operation_has_a_prompt_version() {
        let analysis = analysis(&Scripted::answering(""));
        for operation in [
            AnalysisOperation::Summarize,
            AnalysisOperation::Moderate,
            AnalysisOperation::Classify,
            AnalysisOperation::Generate,
        ] {
            assert!(analysis.prompt_version(operation) >= 1);
        }
    }
}
