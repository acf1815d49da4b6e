//! The assistant's wiring: which provider answers, and the limits it runs under.

use crate::error::StartupError;
use crate::settings::{AiProviderName, Settings};
use std::sync::Arc;
use std::time::Duration;
use storefront_app::AssistantSettings;
use storefront_app::assistant::analysis::{ModelTextAnalysis, TextAnalysis};
use storefront_app::ports::{AnalysisCache, LanguageModel};
use storefront_llm::{BuiltinModel, OpenAiModel, OpenAiSettings};
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
    Ok(Arc::new(ModelTextAnalysis::new(language_model(settings)?)))
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
