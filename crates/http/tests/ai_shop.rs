//! The assistant's catalogue features over HTTP: every status of
//! `GET /products/{id}/reviews/summary`, `POST /products/{id}/description/suggestion` and
//! `GET /admin/ai-usage`, on the memory store with a fake `TextAnalysis` (deterministic,
//! counting its calls) behind the services.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::Method;
use actix_web::test::{TestRequest, init_service};
use async_trait::async_trait;
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use storefront_app::assistant::analysis::{
    Analysed, AnalysisOperation, CacheMode, CacheStatus, GenerationRequest, TextAnalysis,
};
use storefront_app::assistant::insights::{InsightService, InsightSettings};
use storefront_app::ports::{ModelError, SystemClock};
use storefront_app::{ProductInput, ServiceSettings};
use storefront_domain::{Classification, Moderation, PriceTable, TokenPrice, TokenUsage};
use storefront_http::{AppState, HttpConfig, build_app};
use storefront_llm::BuiltinModel;
use storefront_memory::MemoryStore;

/// Summaries that count the reviews they were given; descriptions that echo the product
/// line and the tone. Counts summaries.
#[derive(Default)]
struct FakeAnalysis {
    summaries: AtomicUsize,
}

fn answer<T>(value: T, usage: TokenUsage) -> Result<Analysed<T>, ModelError> {
    Ok(Analysed { value, provider: "fake".into(), model: "fake-1".into(), usage, cache: CacheStatus::Miss })
}

#[async_trait]
impl TextAnalysis for FakeAnalysis {
    fn provider(&self) -> &str {
        "fake"
    }

    fn model(&self) -> &str {
        "fake-1"
    }

    fn prompt_version(&self, _operation: AnalysisOperation) -> u32 {
        1
    }

    async fn summarize(&self, text: &str, _max_chars: u32, _cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        self.summaries.fetch_add(1, Ordering::SeqCst);
        answer(format!("{} reviews, mostly happy.", text.lines().count()), TokenUsage::default())
    }

    async fn moderate(&self, _text: &str, _cache: CacheMode) -> Result<Analysed<Moderation>, ModelError> {
        answer(Moderation::default(), TokenUsage::default())
    }

    async fn classify(
        &self,
        _text: &str,
        _labels: &[String],
        _cache: CacheMode,
    ) -> Result<Analysed<Classification>, ModelError> {
        Err(ModelError::Unavailable("not used here".into()))
    }

    async fn generate(&self, request: &GenerationRequest, _cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        let first = request.prompt.lines().next().unwrap_or("");
        answer(
            format!("{first}, described {}.", request.tone.as_str()),
            TokenUsage { prompt_tokens: 4_000, completion_tokens: 1_000, estimated: false },
        )
    }
}

/// The app with the fake behind the insights, and the price table pricing it.
fn shop() -> (AppState, Arc<FakeAnalysis>) {
    shop_with(InsightSettings::default())
}

fn shop_with(settings: InsightSettings) -> (AppState, Arc<FakeAnalysis>) {
    let store = MemoryStore::new();
    let mut services = services_for(&store, Arc::new(BuiltinModel::new()), ServiceSettings::default());
    let analysis = Arc::new(FakeAnalysis::default());
    let prices = PriceTable::new(vec![(
        "fake".into(),
        "fake-1".into(),
        TokenPrice { prompt_per_million: 0.15, completion_per_million: 0.6 },
    )]);
    services.insights = InsightService::new(
        services.catalog.clone(),
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        analysis.clone(),
        Arc::new(SystemClock),
        InsightSettings { prices, ..settings },
    );
    (AppState::new(services, vec![Arc::new(store)], HttpConfig::default()), analysis)
}

fn summary_of(product: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/api/v1/products/{product}/reviews/summary"))
}

fn suggestion(product: &str, access: &str, body: Option<Value>) -> TestRequest {
    request(Method::POST, &format!("/api/v1/products/{product}/description/suggestion"), access, body)
}

fn usage_report(query: &str, access: &str) -> TestRequest {
    request(Method::GET, &format!("/api/v1/admin/ai-usage{query}"), access, None)
}

async fn product_of(state: &AppState, owner_access: &str, name: &str) -> String {
    let owner = principal(state, owner_access).await;
    let input = ProductInput {
        name: Some(name.into()),
        description: Some("Solid walnut; ask me at owner@example.com".into()),
        price_cents: Some(24_900),
        stock: Some(3),
        ..ProductInput::default()
    };
    state.catalog.create_product(&owner, input).await.unwrap().id.to_string()
}

#[actix_web::test]
async fn a_summary_is_served_for_a_product_with_reviews_and_neutral_without() {
    let (state, analysis) = shop();
    let app = init_service(build_app(state.clone())).await;
    let owner = signed_up(&app, "owner@example.com").await;
    let desk = product_of(&state, &owner.access, "Walnut desk").await;

    let empty = send(&app, summary_of(&desk)).await;
    assert_eq!(empty.status.as_u16(), 200, "{:?}", empty.body);
    assert_eq!(empty.json(), json!({"summary": null, "review_count": 0, "rating_avg": null, "generated_at": null}));

    for (n, rating) in [(1, 5), (2, 4)] {
        let reviewer = signed_up(&app, &format!("reviewer{n}@example.com")).await;
        let body = json!({"rating": rating, "body": format!("Lovely desk, number {n}")});
        let posted = send(
            &app,
            request(Method::POST, &format!("/api/v1/products/{desk}/reviews"), &reviewer.access, Some(body)),
        )
        .await;
        assert_eq!(posted.status.as_u16(), 201, "{:?}", posted.body);
    }
    let served = send(&app, summary_of(&desk)).await;
    assert_eq!(served.status.as_u16(), 200);
    assert_eq!(served.header("x-cache"), Some("MISS"), "this read made the summary");
    let body = served.json();
    assert_eq!(body["summary"], "2 reviews, mostly happy.");
    assert_eq!((body["review_count"].clone(), body["rating_avg"].clone()), (json!(2), json!(4.5)));
    assert!(body["generated_at"].as_str().unwrap().ends_with('Z'), "{body}");
    let again = send(&app, summary_of(&desk)).await;
    assert_eq!(again.header("x-cache"), Some("HIT"), "the stored summary");
    assert_eq!(analysis.summaries.load(Ordering::SeqCst), 1, "served as stored the second time");
}

#[actix_web::test]
async fn the_summary_of_an_unknown_product_is_not_found() {
    let (state, _) = shop();
    let app = init_service(build_app(state)).await;
    send(&app, summary_of("0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4b10")).await.problem(404, "not_found");
    send(&app, summary_of("not-a-uuid")).await.problem(404, "not_found");
}

#[actix_web::test]
async fn the_owner_and_products_update_any_get_a_suggestion_nobody_else() {
    let (state, _) = shop();
    let app = init_service(build_app(state.clone())).await;
    let owner = signed_up(&app, "owner@example.com").await;
    let desk = product_of(&state, &owner.access, "Walnut desk").await;

    let reply = send(&app, suggestion(&desk, &owner.access, Some(json!({"tone": "playful"})))).await;
    assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
    assert_eq!(reply.json(), json!({"description": "Product: Walnut desk, described playful."}));
    let bare = send(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/products/{desk}/description/suggestion"))
            .insert_header(bearer(&owner.access)),
    )
    .await;
    assert_eq!(bare.status.as_u16(), 200, "no body: the neutral tone");
    assert_eq!(bare.json()["description"], "Product: Walnut desk, described neutral.");
    let product = send(&app, TestRequest::get().uri(&format!("/api/v1/products/{desk}"))).await.json();
    assert_eq!(product["description"], "Solid walnut; ask me at owner@example.com", "not applied");

    let admin = signed_in_admin(&app, &state).await;
    let by_admin = send(&app, suggestion(&desk, &admin.access, Some(json!({"tone": "premium"})))).await;
    assert_eq!(by_admin.status.as_u16(), 200, "{:?}", by_admin.body);

    let stranger = signed_up(&app, "stranger@example.com").await;
    send(&app, suggestion(&desk, &stranger.access, Some(json!({})))).await.problem(403, "forbidden");
    let anonymous =
        TestRequest::post().uri(&format!("/api/v1/products/{desk}/description/suggestion")).set_json(json!({}));
    send(&app, anonymous).await.problem(401, "unauthorized");
    let unknown = "0192f5a4-3c1e-7d2a-9b7e-5f1d2c3b4b10";
    send(&app, suggestion(unknown, &owner.access, Some(json!({})))).await.problem(404, "not_found");
}

#[actix_web::test]
async fn a_spent_budget_answers_429_until_midnight() {
    let (state, _) = shop_with(InsightSettings { daily_token_budget: 5_000, ..InsightSettings::default() });
    let app = init_service(build_app(state.clone())).await;
    let owner = signed_up(&app, "owner@example.com").await;
    let desk = product_of(&state, &owner.access, "Walnut desk").await;
    assert_eq!(send(&app, suggestion(&desk, &owner.access, None)).await.status.as_u16(), 200);
    let refused = send(&app, suggestion(&desk, &owner.access, None)).await;
    refused.problem(429, "ai_budget_exceeded");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry_after));
}

#[actix_web::test]
async fn a_bad_tone_or_an_unknown_field_is_named() {
    let (state, _) = shop();
    let app = init_service(build_app(state.clone())).await;
    let owner = signed_up(&app, "owner@example.com").await;
    let desk = product_of(&state, &owner.access, "Walnut desk").await;
    for body in [json!({"tone": "grumpy"}), json!({"tone": 3}), json!({"tone": null}), json!({"mood": "playful"})] {
        let reply = send(&app, suggestion(&desk, &owner.access, Some(body.clone()))).await;
        reply.problem(422, "validation_failed");
        let field = if body.get("mood").is_some() { "mood" } else { "tone" };
        assert_eq!(reply.fields(), vec![field.to_owned()], "{body}");
    }
}

#[actix_web::test]
async fn the_usage_report_counts_days_providers_cost_and_top_users() {
    let (state, _) = shop();
    let app = init_service(build_app(state.clone())).await;
    let owner = signed_up(&app, "owner@example.com").await;
    let desk = product_of(&state, &owner.access, "Walnut desk").await;
    for _ in 0..2 {
        let reply = send(&app, suggestion(&desk, &owner.access, Some(json!({})))).await;
        assert_eq!(reply.status.as_u16(), 200);
    }
    let admin = signed_in_admin(&app, &state).await;

    let reply = send(&app, usage_report("", &admin.access)).await;
    assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
    let report = reply.json();
    let today = chrono::Utc::now().date_naive();
    assert_eq!(report["to"], today.to_string());
    assert_eq!(report["from"], (today - chrono::Days::new(29)).to_string(), "the last 30 days");
    assert_eq!(
        report["days"],
        json!([{"day": today.to_string(), "provider": "fake", "model": "fake-1", "requests": 2,
                "prompt_tokens": 8_000, "completion_tokens": 2_000, "cost_usd": 0.0024}])
    );
    assert_eq!(report["total"], json!({"requests": 2, "prompt_tokens": 8_000, "completion_tokens": 2_000}));
    assert_eq!(report["total_cost_usd"], json!(0.0024));
    let top = &report["top_users"][0];
    assert_eq!(
        (top["email"].clone(), top["tokens"].clone(), top["requests"].clone()),
        (json!("owner@example.com"), json!(10_000), json!(2))
    );
    assert_eq!(report["top_users"].as_array().unwrap().len(), 1);

    let earlier = send(&app, usage_report("?from=2020-01-01&to=2020-01-31", &admin.access)).await.json();
    assert_eq!((earlier["days"].clone(), earlier["top_users"].clone()), (json!([]), json!([])));
}

#[actix_web::test]
async fn the_usage_report_refuses_a_bad_period_and_unprivileged_callers() {
    let (state, _) = shop();
    let app = init_service(build_app(state.clone())).await;
    let admin = signed_in_admin(&app, &state).await;
    for (query, field) in [
        ("?from=2026-12-07&to=2026-12-06", "from"),
        ("?from=2025-01-01&to=2026-12-06", "to"),
        ("?from=yesterday", "from"),
        ("?to=2026-13-01", "to"),
    ] {
        let reply = send(&app, usage_report(query, &admin.access)).await;
        reply.problem(422, "validation_failed");
        assert_eq!(reply.fields(), vec![field.to_owned()], "{query}");
    }
    let plain = signed_up(&app, "plain@example.com").await;
    send(&app, usage_report("", &plain.access)).await.problem(403, "forbidden");
    send(&app, TestRequest::get().uri("/api/v1/admin/ai-usage")).await.problem(401, "unauthorized");
}

/// End to end with the real utilities on the builtin provider: a review's event, handled
/// by the dispatcher through the summaries' handler, leaves a summary stored before any
/// read; the suggestion is the builtin's, within its bounds.
#[actix_web::test]
async fn with_the_builtin_provider_the_event_stores_a_summary_and_a_suggestion_is_written() {
    use storefront_app::ports::ReviewSummaryRepository;
    use storefront_app::{OutboxDispatcher, OutboxSettings, RetryPolicy};

    let store = MemoryStore::new();
    let state = state_on(store.clone(), storefront_app::AuthSettings::default());
    let app = init_service(build_app(state.clone())).await;
    let owner = signed_up(&app, "owner@example.com").await;
    let desk = product_of(&state, &owner.access, "Walnut desk").await;
    let reviewer = signed_up(&app, "reviewer@example.com").await;
    let body = json!({"rating": 5, "body": "The walnut desk is sturdy and beautiful. Assembly took ten minutes. I love the drawer."});
    let posted =
        send(&app, request(Method::POST, &format!("/api/v1/products/{desk}/reviews"), &reviewer.access, Some(body)))
            .await;
    assert_eq!(posted.status.as_u16(), 201, "{:?}", posted.body);

    let handler = Arc::new(storefront_app::assistant::insights::ReviewSummaryRefresh::new(state.insights.clone()));
    let dispatcher = OutboxDispatcher::new(
        Arc::new(store.clone()),
        handler,
        Arc::new(SystemClock),
        RetryPolicy::default(),
        OutboxSettings::default(),
    );
    dispatcher.run_once().await.unwrap();
    let id = storefront_domain::ProductId(desk.parse().unwrap());
    let stored = store.review_summary(id).await.unwrap().expect("the handler stored a summary");
    assert!(!stored.stale);
    assert_eq!(stored.provider.as_deref(), Some("builtin"));
    let summary = stored.summary.unwrap();
    assert!(!summary.is_empty() && summary.chars().count() <= 300, "{summary}");

    let served = send(&app, summary_of(&desk)).await.json();
    assert_eq!(served["summary"], summary.as_str(), "the stored one is served");
    assert_eq!((served["review_count"].clone(), served["rating_avg"].clone()), (json!(1), json!(5.0)));

    let reply = send(&app, suggestion(&desk, &owner.access, Some(json!({"tone": "premium"})))).await;
    assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
    let description = reply.json()["description"].as_str().unwrap().to_owned();
    let words = description.split_whitespace().count();
    assert!((1..=120).contains(&words), "{description}");
    let usage = send(&app, request(Method::GET, "/api/v1/users/me/ai-usage", &owner.access, None)).await.json();
    assert_eq!(usage["requests"], 1, "the suggestion counted as the owner's request: {usage}");
}
