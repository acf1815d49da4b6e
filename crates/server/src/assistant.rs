//! The assistant's wiring: which provider answers, and the limits it runs under.

use crate::error::StartupError;
use crate::settings::{AiProviderName, Settings};
use std::sync::Arc;
use std::time::Duration;
use storefront_app::AssistantSettings;
use storefront_app::assistant::analysis::{ModelTextAnalysis, TextAnalysis};
use storefront_app::ports::LanguageModel;
use storefront_llm::{BuiltinModel, OpenAiModel, OpenAiSettings};

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
