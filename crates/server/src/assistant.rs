//! The assistant's wiring: which provider answers, and the limits it runs under.

use crate::error::StartupError;
use crate::settings::{AiProviderName, Settings, StructuredOutputName};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use storefront_app::AssistantSettings;
use storefront_app::assistant::analysis::TextAnalysis;
use storefront_app::assistant::insights::InsightSettings;
use storefront_app::assistant::insights::{InsightService, ReviewSummaryRefresh};
use storefront_app::ports::{AnalysisCache, LanguageModel};
use storefront_app::ports::{SystemClock, UuidV7Generator};
use storefront_app::{CatalogService, EventHandler, ServiceStore};
use storefront_domain::{PriceTable, TokenPrice};
use storefront_llm::{BuiltinModel, OpenAiModel, OpenAiSettings, StructuredOutput};
use storefront_memory::MokaAnalysisCache;
use storefront_redis::{RedisAnalysisCache, RedisConnection, RedisSettings};

/// The configured provider.
pub fn language_model(settings: &Settings) -> Result<Arc<dyn LanguageModel>, StartupError> {
    let ai = &settings.ai;
    match ai.provider {
        AiProviderName::Builtin => {
            Ok(Arc::new(BuiltinModel::with_word_delay(Duration::from_millis(ai.builtin_word_delay_ms))))
        }
        AiProviderName::Openai => {
            let missing = || StartupError::Config("ai.provider = openai needs ai.base_url and ai.model".into());
            let mut openai =
                OpenAiSettings::new(ai.base_url.clone().ok_or_else(missing)?, ai.model.clone().ok_or_else(missing)?);
            openai.api_key = ai.api_key.clone().filter(|key| !key.trim().is_empty());
            openai.timeout = Duration::from_secs(ai.timeout_secs);
            openai.structured_output = match ai.structured_output {
                StructuredOutputName::JsonSchema => StructuredOutput::JsonSchema,
                StructuredOutputName::JsonObjectSchema => StructuredOutput::JsonObjectSchema,
                StructuredOutputName::JsonObject => StructuredOutput::JsonObject,
                StructuredOutputName::Off => StructuredOutput::Off,
            };
            tracing::info!(base_url = %openai.base_url, model = %openai.model, "the assistant answers through an OpenAI-compatible API");
            Ok(Arc::new(OpenAiModel::new(openai).map_err(StartupError::Config)?))
        }
    }
}

/// Where the text utilities' results are kept: in Redis when it is configured (shared by
/// every instance; an outage is a MISS, never an error), else in this process, bounded.
pub fn analysis_cache(settings: &Settings) -> Result<Arc<dyn AnalysisCache>, StartupError> {
    match &settings.redis.url {
        Some(url) => {
            let redis = RedisSettings {
                url: url.clone(),
                cluster: settings.redis.cluster,
                key_prefix: settings.redis.key_prefix.clone(),
                timeout: Duration::from_millis(settings.redis.timeout_ms),
            };
            let connection = RedisConnection::new(redis).map_err(|e| StartupError::Config(e.to_string()))?;
            tracing::info!("the text utilities' cache is in Redis, shared by every instance");
            Ok(Arc::new(RedisAnalysisCache::new(connection)))
        }
        None => Ok(Arc::new(MokaAnalysisCache::default())),
    }
}

/// The text utilities on the configured provider, for the event handlers (review
/// moderation) of a process that serves no requests or builds them apart from the services.
pub fn text_analysis(settings: &Settings) -> Result<Arc<dyn TextAnalysis>, StartupError> {
    Ok(storefront_app::services::text_analysis(language_model(settings)?, analysis_cache(settings)?))
}

/// The assistant's limits and prompt sizes.
pub fn assistant_settings(settings: &Settings) -> AssistantSettings {
    let ai = &settings.ai;
    AssistantSettings {
        requests_per_minute: ai.requests_per_minute,
        daily_token_budget: ai.daily_token_budget,
        history_token_budget: ai.history_token_budget,
        max_reply_tokens: ai.max_tokens,
        currency: settings.catalog.currency.clone(),
        ..AssistantSettings::default()
    }
}

/// The catalogue features' settings: the per-user limits shared with the chat, and the
/// price table of the usage report.
pub fn insight_settings(settings: &Settings) -> InsightSettings {
    let ai = &settings.ai;
    let prices = ai
        .prices
        .iter()
        .map(|p| {
            let price = TokenPrice {
                prompt_per_million: p.prompt_per_million,
                completion_per_million: p.completion_per_million,
            };
            (p.provider.clone(), p.model.clone(), price)
        })
        .collect();
    InsightSettings {
        requests_per_minute: ai.requests_per_minute,
        daily_token_budget: ai.daily_token_budget,
        prices: PriceTable::new(prices),
        ..InsightSettings::default()
    }
}

/// The event handler that keeps review summaries fresh, over `store`.
pub fn review_summary_refresh(
    settings: &Settings,
    store: &Store,
    analysis: Arc<dyn TextAnalysis>,
) -> Arc<dyn EventHandler> {
    let insights = match store {
        Store::Postgres(pg) => insight_service(settings, pg, analysis),
        Store::Memory(memory) => insight_service(settings, memory, analysis),
    };
    Arc::new(ReviewSummaryRefresh::new(insights))
}

fn insight_service<S: ServiceStore>(settings: &Settings, store: &S, analysis: Arc<dyn TextAnalysis>) -> InsightService {
    let port = || Arc::new(store.clone());
    let clock = Arc::new(SystemClock);
    let catalog = CatalogService::new(
        port(),
        port(),
        port(),
        clock.clone(),
        Arc::new(UuidV7Generator),
        settings.catalog.low_stock_rule(),
    );
    InsightService::new(catalog, port(), port(), analysis, clock, insight_settings(settings))
}
