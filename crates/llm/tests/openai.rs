//! The `openai` provider against a fake upstream that replays the chunk formats real
//! servers send (OpenAI, llama.cpp's server, Ollama), fails before or after the first byte,
//! sends malformed chunks or 429s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use std::time::Duration;
use storefront_app::ports::{
    CompletionEvent, CompletionRequest, CompletionTask, LanguageModel, ModelError, PromptMessage, PromptRole,
    ProviderUsage,
};
use storefront_llm::{OpenAiModel, OpenAiSettings};
use storefront_testkit::llm::{FakeUpstream, Reply, Step};

fn request() -> CompletionRequest {
    CompletionRequest {
        task: CompletionTask::Chat,
        messages: vec![
            PromptMessage { role: PromptRole::System, content: "You are a shop assistant.".into() },
            PromptMessage { role: PromptRole::User, content: "A desk?".into() },
        ],
        products: vec![],
        max_tokens: 64,
        currency: "USD".into(),
    }
}

fn model(upstream: &FakeUpstream) -> OpenAiModel {
    let mut settings = OpenAiSettings::new(upstream.base_url(), "test-model");
    settings.api_key = Some("sk-test".into());
    settings.timeout = Duration::from_secs(5);
    settings.initial_backoff = Duration::from_millis(10);
    OpenAiModel::new(settings).unwrap()
}

/// Every event of the stream: the text, then how it ended.
async fn run(model: &OpenAiModel) -> Result<(String, Result<CompletionEvent, ModelError>), ModelError> {
    let mut stream = model.complete(request()).await?;
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(CompletionEvent::Delta(delta)) => text.push_str(&delta),
            other => {
                assert!(stream.next().await.is_none(), "nothing after the end");
                return Ok((text, other));
            }
        }
    }
    panic!("the stream ended without saying how");
}

const OPENAI: &[&str] = &[
    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"The walnut"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" desk."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":21,"completion_tokens":4,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":0}}}"#,
    "[DONE]",
];

#[tokio::test]
async fn an_openai_stream_gives_its_text_its_finish_reason_and_its_usage() {
    let upstream = FakeUpstream::start(vec![Reply::sse(OPENAI, Duration::ZERO)]).await;
    let (text, end) = run(&model(&upstream)).await.unwrap();
    assert_eq!(text, "The walnut desk.");
    let usage = Some(ProviderUsage { prompt_tokens: 21, completion_tokens: 4 });
    assert_eq!(end, Ok(CompletionEvent::Finished { finish_reason: Some("stop".into()), usage }));

    let sent: serde_json::Value = serde_json::from_str(&upstream.requests().await[0]).unwrap();
    assert_eq!(sent["model"], "test-model");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["messages"][0], serde_json::json!({"role": "system", "content": "You are a shop assistant."}));
    assert_eq!(sent["messages"][1], serde_json::json!({"role": "user", "content": "A desk?"}));
}

#[tokio::test]
async fn a_llama_cpp_stream_with_usage_and_timings_in_the_last_chunk_is_read() {
    let chunks = &[
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"chatcmpl-x","model":"smollm2","system_fingerprint":"b1-abc","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Hello"}}],"created":1,"id":"chatcmpl-x","model":"smollm2","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1,"id":"chatcmpl-x","model":"smollm2","object":"chat.completion.chunk","usage":{"completion_tokens":1,"prompt_tokens":30,"total_tokens":31},"timings":{"prompt_n":30,"predicted_per_second":42.0}}"#,
        "[DONE]",
    ];
    let upstream = FakeUpstream::start(vec![Reply::sse(chunks, Duration::from_millis(5))]).await;
    let (text, end) = run(&model(&upstream)).await.unwrap();
    assert_eq!(text, "Hello");
    let usage = Some(ProviderUsage { prompt_tokens: 30, completion_tokens: 1 });
    assert_eq!(end, Ok(CompletionEvent::Finished { finish_reason: Some("length".into()), usage }));
}

#[tokio::test]
async fn an_ollama_stream_without_usage_finishes_without_usage() {
    let chunks = &[
        r#"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ];
    let upstream = FakeUpstream::start(vec![Reply::sse(chunks, Duration::ZERO)]).await;
    let (text, end) = run(&model(&upstream)).await.unwrap();
    assert_eq!(text, "Hi");
    assert_eq!(end, Ok(CompletionEvent::Finished { finish_reason: Some("stop".into()), usage: None }));
}

#[tokio::test]
async fn an_empty_finish_reason_extra_fields_and_a_missing_done_are_tolerated() {
    let chunks = &[
        r#"{"choices":[{"delta":{"content":"One"},"finish_reason":"","extra":{"x":1}}],"vendor_field":true}"#,
        r#"{"choices":[{"delta":{"content":" two"},"finish_reason":""}]}"#,
        r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
    ];
    let upstream = FakeUpstream::start(vec![Reply::sse(chunks, Duration::ZERO)]).await;
    let (text, end) = run(&model(&upstream)).await.unwrap();
    assert_eq!(text, "One two");
    assert_eq!(end, Ok(CompletionEvent::Finished { finish_reason: Some("stop".into()), usage: None }));
}

#[tokio::test]
async fn a_429_and_a_503_before_the_first_byte_are_retried() {
    let upstream = FakeUpstream::start(vec![
        Reply::status(429, &[("retry-after", "0")], r#"{"error":{"message":"slow down"}}"#),
        Reply::status(503, &[], "overloaded"),
        Reply::sse(OPENAI, Duration::ZERO),
    ])
    .await;
    let (text, _) = run(&model(&upstream)).await.unwrap();
    assert_eq!(text, "The walnut desk.");
    assert_eq!(upstream.connections(), 3);
}

#[tokio::test]
async fn a_429_that_persists_is_reported_as_rate_limited_after_the_retries() {
    let upstream = FakeUpstream::start(vec![Reply::status(429, &[("retry-after", "0")], "{}")]).await;
    let error = run(&model(&upstream)).await.unwrap_err();
    assert_eq!(error, ModelError::RateLimited { retry_after: Some(Duration::ZERO) });
    assert_eq!(upstream.connections(), 3, "the first try and two retries");
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let upstream = FakeUpstream::start(vec![Reply::status(401, &[], r#"{"error":"bad key"}"#)]).await;
    let error = run(&model(&upstream)).await.unwrap_err();
    assert!(matches!(error, ModelError::BadResponse(ref why) if why.contains("401")), "{error:?}");
    assert_eq!(upstream.connections(), 1);
}

#[tokio::test]
async fn a_connection_closed_before_the_first_byte_is_retried_then_unavailable() {
    let upstream = FakeUpstream::start(vec![Reply::close_before_reply()]).await;
    let error = run(&model(&upstream)).await.unwrap_err();
    assert!(matches!(error, ModelError::Unavailable(_)), "{error:?}");
    assert_eq!(upstream.connections(), 3);
}

#[tokio::test]
async fn a_nothing_listening_is_unavailable() {
    let upstream = FakeUpstream::start(vec![]).await;
    let url = upstream.base_url();
    drop(upstream);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut settings = OpenAiSettings::new(url, "m");
    settings.initial_backoff = Duration::from_millis(1);
    let error = run(&OpenAiModel::new(settings).unwrap()).await.unwrap_err();
    assert!(matches!(error, ModelError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_stream_cut_after_the_first_byte_ends_in_an_error_and_is_not_retried() {
    let reply = Reply::steps(vec![
        Step::Raw(Reply::stream_head().into_bytes()),
        Step::Chunk(format!("data: {}\n\n", OPENAI[1]).into_bytes()),
        Step::Close,
    ]);
    let upstream = FakeUpstream::start(vec![reply, Reply::sse(OPENAI, Duration::ZERO)]).await;
    let (text, end) = run(&model(&upstream)).await.unwrap();
    assert_eq!(text, "The walnut");
    assert!(matches!(end, Err(ModelError::Unavailable(_))), "{end:?}");
    assert_eq!(upstream.connections(), 1, "no retry once text arrived");
}

#[tokio::test]
async fn a_malformed_chunk_is_a_bad_response() {
    let chunks = &[OPENAI[1], "{not json", OPENAI[2]];
    let upstream = FakeUpstream::start(vec![Reply::sse(chunks, Duration::ZERO)]).await;
    let (text, end) = run(&model(&upstream)).await.unwrap();
    assert_eq!(text, "The walnut");
    assert!(matches!(end, Err(ModelError::BadResponse(ref why)) if why.contains("not JSON")), "{end:?}");
}

#[tokio::test]
async fn an_error_object_mid_stream_ends_it() {
    let chunks = &[OPENAI[1], r#"{"error":{"message":"the model crashed","type":"server_error"}}"#];
    let upstream = FakeUpstream::start(vec![Reply::sse(chunks, Duration::ZERO)]).await;
    let (_, end) = run(&model(&upstream)).await.unwrap();
    assert!(matches!(end, Err(ModelError::Unavailable(ref why)) if why.contains("crashed")), "{end:?}");
}

#[tokio::test]
async fn a_reply_slower_than_the_timeout_times_out() {
    let reply = Reply::steps(vec![
        Step::Raw(Reply::stream_head().into_bytes()),
        Step::Chunk(format!("data: {}\n\n", OPENAI[1]).into_bytes()),
        Step::Hang,
    ]);
    let upstream = FakeUpstream::start(vec![reply]).await;
    let mut settings = OpenAiSettings::new(upstream.base_url(), "m");
    settings.timeout = Duration::from_millis(300);
    let (text, end) = run(&OpenAiModel::new(settings).unwrap()).await.unwrap();
    assert_eq!(text, "The walnut");
    assert_eq!(end, Err(ModelError::Timeout));
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let reply = Reply::steps(vec![
        Step::Raw(Reply::stream_head().into_bytes()),
        Step::Chunk(format!("data: {}\n\n", OPENAI[1]).into_bytes()),
        Step::Hang,
    ]);
    let upstream = FakeUpstream::start(vec![reply]).await;
    let model = model(&upstream);
    let mut stream = model.complete(request()).await.unwrap();
    assert_eq!(stream.next().await, Some(Ok(CompletionEvent::Delta("The walnut".into()))));
    drop(stream);
    assert!(upstream.wait_for_hang_up(Duration::from_secs(5)).await, "the upstream saw its connection closed");
}
