//! The text utilities end to end through `ModelTextAnalysis`: on the `builtin` provider
//! (its answers read by the same parser as a language model's) and on the `openai`
//! provider against a fake upstream (the versioned prompt is what is sent).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use storefront_app::assistant::analysis::{CacheMode, CacheStatus, GenerationRequest, ModelTextAnalysis, TextAnalysis};
use storefront_app::ports::ModelError;
use storefront_domain::{GenerationKind, Sentiment, Tone};
use storefront_llm::{BuiltinModel, OpenAiModel, OpenAiSettings};
use storefront_testkit::llm::{FakeUpstream, Reply};

fn builtin() -> ModelTextAnalysis {
    ModelTextAnalysis::new(Arc::new(BuiltinModel::new()))
}

const REVIEW: &str = "I ordered the oak bookshelf in March. The oak bookshelf arrived well packed and the \
    shelves are thick solid oak. Assembly was simple with the included tools. My neighbour has a red car. \
    Overall the bookshelf is sturdy and looks great in the living room.";

#[tokio::test]
async fn builtin_summaries_stay_within_max_chars_and_keep_the_point() {
    for max_chars in [20, 60, 100, 1000] {
        let answer = builtin().summarize(REVIEW, max_chars, CacheMode::Use).await.unwrap();
        assert!(answer.value.chars().count() <= max_chars as usize, "{max_chars}: {}", answer.value);
        assert!(!answer.value.is_empty());
        assert_eq!(answer.cache, CacheStatus::Miss);
        assert_eq!((answer.provider.as_str(), answer.model.as_str()), ("builtin", "builtin"));
        assert!(answer.usage.estimated && answer.usage.prompt_tokens > 0);
    }
    let answer = builtin().summarize(REVIEW, 150, CacheMode::Use).await.unwrap();
    assert!(answer.value.contains("bookshelf"), "{}", answer.value);
    assert!(!answer.value.contains("red car"), "{}", answer.value);
}

#[tokio::test]
async fn builtin_moderation_flags_a_toxic_text_and_passes_a_friendly_one() {
    let toxic =
        builtin().moderate("You are a worthless fucking idiot, I will kill you.", CacheMode::Use).await.unwrap();
    assert!(toxic.value.flagged, "{toxic:?}");
    assert!(toxic.value.toxicity >= 0.5);
    assert!(toxic.value.categories.violence >= 0.5, "{toxic:?}");
    assert!(!toxic.value.issues.is_empty());
    let friendly = builtin().moderate(REVIEW, CacheMode::Use).await.unwrap();
    assert!(!friendly.value.flagged, "{friendly:?}");
    assert!(friendly.value.toxicity < 0.5);
}

#[tokio::test]
async fn builtin_classification_picks_the_obvious_label_from_the_list() {
    let labels: Vec<String> = ["billing", "delivery", "product quality"].map(String::from).to_vec();
    let answer = builtin()
        .classify(
            "The delivery was three weeks late, which is terrible, and nobody answered about my delivery.",
            &labels,
            CacheMode::Use,
        )
        .await
        .unwrap();
    assert_eq!(answer.value.label, "delivery");
    assert_eq!(answer.value.sentiment, Sentiment::Negative);
    assert!((0.0..=1.0).contains(&answer.value.confidence));
    let no_labels = builtin().classify("What a wonderful, lovely lamp!", &[], CacheMode::Use).await.unwrap();
    assert_eq!((no_labels.value.label.as_str(), no_labels.value.sentiment), ("positive", Sentiment::Positive));
}

#[tokio::test]
async fn builtin_generation_stays_within_max_words_and_mentions_the_request() {
    let request = GenerationRequest {
        kind: GenerationKind::ProductDescription,
        prompt: "A ceramic coffee mug, hand glazed, dishwasher safe, holds 350 ml.".into(),
        max_words: 40,
        tone: Tone::Premium,
    };
    let answer = builtin().generate(&request, CacheMode::Use).await.unwrap();
    assert!(answer.value.split_whitespace().count() <= 40, "{}", answer.value);
    let lower = answer.value.to_lowercase();
    assert!(lower.contains("ceramic") && lower.contains("mug"), "{}", answer.value);
}

fn openai(upstream: &FakeUpstream) -> ModelTextAnalysis {
    let mut settings = OpenAiSettings::new(upstream.base_url(), "test-model");
    settings.timeout = Duration::from_secs(5);
    settings.initial_backoff = Duration::from_millis(10);
    ModelTextAnalysis::new(Arc::new(OpenAiModel::new(settings).unwrap()))
}

/// An SSE reply that streams `text` in two chunks, then stops with usage.
fn streamed(text: &str) -> Reply {
    let middle = text.len() / 2;
    let chunk =
        |part: &str| serde_json::json!({"choices": [{"delta": {"content": part}, "finish_reason": null}]}).to_string();
    let stop =
        r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":90,"completion_tokens":30}}"#;
    let chunks = [chunk(&text[..middle]), chunk(&text[middle..]), stop.to_owned(), "[DONE]".to_owned()];
    let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
    Reply::sse(&chunks, Duration::ZERO)
}

#[tokio::test]
async fn openai_moderation_sends_the_versioned_prompt_and_reads_a_fenced_answer() {
    let answer = "Here is my assessment:\n```json\n{\"flagged\": true, \"toxicity\": 0.92, \"categories\": \
        {\"harassment\": 0.92, \"hate\": 0.1, \"sexual\": 0, \"violence\": 0.3, \"self-harm\": 0, \"spam\": 0}, \
        \"issues\": [\"insult\"]}\n```";
    let upstream = FakeUpstream::start(vec![streamed(answer)]).await;
    let verdict = openai(&upstream).moderate("You idiot.", CacheMode::Use).await.unwrap();
    assert!(verdict.value.flagged);
    assert_eq!(verdict.value.categories.harassment, 0.92);
    assert_eq!(verdict.value.issues, vec!["insult".to_owned()]);
    assert!(!verdict.usage.estimated);
    assert_eq!((verdict.usage.prompt_tokens, verdict.usage.completion_tokens), (90, 30));

    let sent: serde_json::Value = serde_json::from_str(&upstream.requests().await[0]).unwrap();
    assert_eq!(sent["messages"][0]["role"], "system");
    assert!(sent["messages"][0]["content"].as_str().unwrap().contains("\"self_harm\""));
    assert_eq!(sent["messages"][1]["role"], "user");
    assert_eq!(sent["messages"][1]["content"], "Moderate:\n<text>\nYou idiot.\n</text>");
}

#[tokio::test]
async fn openai_prose_instead_of_json_is_a_bad_response() {
    let upstream = FakeUpstream::start(vec![streamed("The text seems mostly fine to me.")]).await;
    let labels: Vec<String> = ["a", "b"].map(String::from).to_vec();
    let result = openai(&upstream).classify("text", &labels, CacheMode::Use).await;
    assert!(matches!(result, Err(ModelError::BadResponse(_))), "{result:?}");
}

#[tokio::test]
async fn openai_summaries_longer_than_asked_are_cut() {
    let upstream = FakeUpstream::start(vec![streamed(
        "The bookshelf is solid oak and easy to assemble, and it looks great in the living room.",
    )])
    .await;
    let answer = openai(&upstream).summarize(REVIEW, 40, CacheMode::Use).await.unwrap();
    assert!(answer.value.chars().count() <= 40, "{}", answer.value);
    let sent: serde_json::Value = serde_json::from_str(&upstream.requests().await[0]).unwrap();
    assert!(sent["messages"][0]["content"].as_str().unwrap().contains("at most 40 characters"));
    assert_eq!(sent["max_tokens"], 52);
}
