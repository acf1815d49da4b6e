//! `OpenAiModel`: the OpenAI-compatible Chat Completions API, streamed.
//!
//! Servers that claim compatibility differ: llama.cpp and Ollama may send no usage (or
//! only without `stream_options`), some send `finish_reason: ""` or extra fields, some end
//! without `[DONE]`. Decoding is lenient about all of that and strict about what matters:
//! a `data:` payload that is not JSON, an `error` object, or a body that stops before the
//! reply finished is an error. 429 and 5xx (and refused connections) are retried with
//! exponential backoff only before the first byte of the reply; afterwards a failure ends
//! the stream, since the client has seen text already.

use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::pin::Pin;
use std::time::Duration;
use storefront_app::assistant::analysis::answer_schema;
use storefront_app::ports::{
    CompletionEvent, CompletionRequest, CompletionStream, LanguageModel, ModelError, ProviderUsage,
};
use tokio::time::Instant;

const PROVIDER: &str = "openai";

/// How to reach the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiSettings {
    /// Up to and including the version: `https://api.openai.com/v1`,
    /// `https://generativelanguage.googleapis.com/v1beta/openai`, `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; local servers need none.
    pub api_key: Option<String>,
    pub model: String,
    /// For one whole request: connecting, retries and the streamed reply.
    pub timeout: Duration,
    /// Retries of a 429, a 5xx or a refused connection, before the first byte.
    pub max_retries: u32,
    /// The first backoff; each next one doubles (a `Retry-After` that asks for longer wins).
    pub initial_backoff: Duration,
    /// How an answer's JSON Schema is asked for (moderation, classification).
    pub structured_output: StructuredOutput,
}

/// How the request asks for an answer that fits a JSON Schema. Providers differ: OpenAI,
/// Gemini, vLLM, Ollama and llama.cpp's own server take `json_schema`; llama-cpp-python's
/// server takes a schema only inside `json_object`; some take only plain JSON mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StructuredOutput {
    /// `{"type": "json_schema", "json_schema": {"name", "strict": true, "schema"}}`.
    #[default]
    JsonSchema,
    /// `{"type": "json_object", "schema"}` (llama-cpp-python, Anyscale).
    JsonObjectSchema,
    /// `{"type": "json_object"}`: valid JSON, any shape.
    JsonObject,
    /// No `response_format`: the prompt alone asks for JSON.
    Off,
}

impl OpenAiSettings {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            timeout: Duration::from_secs(60),
            max_retries: 2,
            initial_backoff: Duration::from_millis(250),
            structured_output: StructuredOutput::default(),
        }
    }
}

/// A client of one OpenAI-compatible endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OpenAiModel {
    client: reqwest::Client,
    settings: OpenAiSettings,
    endpoint: String,
}

impl OpenAiModel {
    /// # Errors
    /// When the HTTP client cannot be built (no TLS backend).
    pub fn new(settings: OpenAiSettings) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("the HTTP client cannot be built: {e}"))?;
        let endpoint = format!("{}/chat/completions", settings.base_url.trim_end_matches('/'));
        Ok(Self { client, settings, endpoint })
    }

    fn body(&self, request: &CompletionRequest) -> serde_json::Value {
        let messages: Vec<serde_json::Value> =
            request.messages.iter().map(|m| json!({"role": m.role.as_str(), "content": m.content})).collect();
        let mut body = json!({
            "model": self.settings.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": request.max_tokens,
        });
        if let Some(format) = answer_schema(&request.task).and_then(|schema| self.response_format(schema)) {
            body["response_format"] = format;
        }
        body
    }

    /// `response_format` for an answer that must fit `schema`, as the provider takes it.
    fn response_format(&self, schema: serde_json::Value) -> Option<serde_json::Value> {
        match self.settings.structured_output {
            StructuredOutput::JsonSchema => Some(
                json!({"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema": schema}}),
            ),
            StructuredOutput::JsonObjectSchema => Some(json!({"type": "json_object", "schema": schema})),
            StructuredOutput::JsonObject => Some(json!({"type": "json_object"})),
            StructuredOutput::Off => None,
        }
    }

    /// Sends the request until it is accepted, retrying what is worth retrying.
    async fn send(&self, body: &serde_json::Value, deadline: Instant) -> Result<reqwest::Response, ModelError> {
        let mut attempt = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ModelError::Timeout);
            }
            // The deadline is ours (also over the body, in `decode`), not reqwest's: one
            // clock for the whole request, and a timeout reported as one.
            let mut builder = self.client.post(&self.endpoint).json(body);
            if let Some(key) = &self.settings.api_key {
                builder = builder.bearer_auth(key);
            }
            let sent = match tokio::time::timeout(remaining, builder.send()).await {
                Ok(sent) => sent,
                Err(_) => return Err(ModelError::Timeout),
            };
            let (error, retry_after) = match sent {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(&response);
                    let text = tokio::time::timeout_at(deadline, response.text()).await.ok().and_then(Result::ok);
                    let text = text.unwrap_or_default();
                    let snippet: String = text.chars().take(200).collect();
                    if status.as_u16() == 429 {
                        (ModelError::RateLimited { retry_after }, retry_after)
                    } else if status.is_server_error() {
                        (ModelError::Unavailable(format!("{status}: {snippet}")), retry_after)
                    } else {
                        // 4xx: our request or our key is wrong; retrying cannot help.
                        return Err(ModelError::BadResponse(format!("{status}: {snippet}")));
                    }
                }
                Err(e) if e.is_timeout() => return Err(ModelError::Timeout),
                Err(e) => (ModelError::Unavailable(e.to_string()), None),
            };
            if attempt >= self.settings.max_retries {
                return Err(error);
            }
            let backoff = self.settings.initial_backoff.saturating_mul(2u32.saturating_pow(attempt));
            let pause = retry_after.map_or(backoff, |asked| asked.max(backoff));
            if Instant::now() + pause >= deadline {
                return Err(error);
            }
            tracing::info!(attempt, kind = error.kind(), pause_ms = pause.as_millis() as u64, "retrying the provider");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

/// `Retry-After` in seconds, when the provider said.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[async_trait]
impl LanguageModel for OpenAiModel {
    fn provider(&self) -> &str {
        PROVIDER
    }

    fn model(&self) -> &str {
        &self.settings.model
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionStream, ModelError> {
        let deadline = Instant::now() + self.settings.timeout;
        let response = self.send(&self.body(&request), deadline).await?;
        let events = response.bytes_stream().eventsource();
        Ok(decode(events, deadline).boxed())
    }
}

/// One chunk of a streamed completion, as leniently as servers send it.
#[derive(Debug, Default, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    /// Some servers report a failure mid-stream as a chunk with an `error` object.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Where a stream's decoding stands.
struct Decoder<S> {
    events: Pin<Box<S>>,
    deadline: Instant,
    finish_reason: Option<String>,
    usage: Option<ProviderUsage>,
    done: bool,
}

/// The provider's events as completion events: text deltas, then `Finished` (at `[DONE]`,
/// or at the end of a body after a `finish_reason`), or one error.
fn decode<S, E>(events: S, deadline: Instant) -> impl Stream<Item = Result<CompletionEvent, ModelError>> + Send
where
    S: Stream<Item = Result<eventsource_stream::Event, E>> + Send + 'static,
    E: std::fmt::Display + Send,
{
    let decoder = Decoder { events: Box::pin(events), deadline, finish_reason: None, usage: None, done: false };
    futures::stream::unfold(decoder, |mut decoder| async move {
        if decoder.done {
            return None;
        }
        loop {
            let next = match tokio::time::timeout_at(decoder.deadline, decoder.events.next()).await {
                Err(_) => {
                    decoder.done = true;
                    return Some((Err(ModelError::Timeout), decoder));
                }
                Ok(next) => next,
            };
            let event = match next {
                None => {
                    decoder.done = true;
                    // Some servers end the body without `[DONE]`: a finished reply is whole.
                    let outcome = match decoder.finish_reason.take() {
                        Some(reason) => {
                            Ok(CompletionEvent::Finished { finish_reason: Some(reason), usage: decoder.usage })
                        }
                        None => Err(ModelError::Unavailable("the stream ended before the reply was finished".into())),
                    };
                    return Some((outcome, decoder));
                }
                Some(Err(e)) => {
                    decoder.done = true;
                    return Some((Err(ModelError::Unavailable(format!("the stream broke: {e}"))), decoder));
                }
                Some(Ok(event)) => event,
            };
            let data = event.data.trim();
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                decoder.done = true;
                let finished =
                    CompletionEvent::Finished { finish_reason: decoder.finish_reason.take(), usage: decoder.usage };
                return Some((Ok(finished), decoder));
            }
            let chunk: Chunk = match serde_json::from_str(data) {
                Ok(chunk) => chunk,
                Err(e) => {
                    decoder.done = true;
                    let error = ModelError::BadResponse(format!("a chunk is not JSON: {e}"));
                    return Some((Err(error), decoder));
                }
            };
            if let Some(error) = chunk.error {
                decoder.done = true;
                let message: String = error.to_string().chars().take(200).collect();
                return Some((Err(ModelError::Unavailable(format!("the provider reported: {message}"))), decoder));
            }
            if let Some(usage) = chunk.usage
                && let (Some(prompt_tokens), Some(completion_tokens)) = (usage.prompt_tokens, usage.completion_tokens)
            {
                decoder.usage = Some(ProviderUsage { prompt_tokens, completion_tokens });
            }
            let mut text = String::new();
            for choice in chunk.choices {
                if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                    decoder.finish_reason = Some(reason);
                }
                if let Some(content) = choice.delta.and_then(|d| d.content) {
                    text.push_str(&content);
                }
            }
            if !text.is_empty() {
                return Some((Ok(CompletionEvent::Delta(text)), decoder));
            }
        }
    })
}
