//! `BuiltinModel`: answers the chat from the products the catalogue search found, and the
//! text utilities with documented deterministic methods (see each module), word by word.
//! Utility answers take the shape their prompts ask a language model for (plain text, or
//! one JSON object), so the application reads both providers with one parser.

mod classify;
mod generate;
mod moderate;
mod summarize;
mod words;

use async_trait::async_trait;
use futures::StreamExt;
use std::time::Duration;
use storefront_app::assistant::money;
use storefront_app::ports::{
    CompletionEvent, CompletionRequest, CompletionStream, CompletionTask, LanguageModel, ModelError,
};

/// What it is called, as provider and as model.
const NAME: &str = "builtin";

/// The offline, deterministic provider. It says what it is in every reply.
#[derive(Debug, Clone, Default)]
pub struct BuiltinModel {
    /// A pause before each word (none by default), to show streaming in a demo.
    word_delay: Duration,
}

impl BuiltinModel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pauses `delay` before each word.
    pub fn with_word_delay(delay: Duration) -> Self {
        Self { word_delay: delay }
    }

    /// The whole answer to `request`, by its task. CPU work (the utilities read the whole
    /// text): `complete` runs it on the blocking pool.
    pub fn answer(request: &CompletionRequest) -> String {
        match &request.task {
            CompletionTask::Chat => Self::reply(request),
            CompletionTask::Summarize { text, max_chars } => summarize::summarize(text, *max_chars as usize),
            CompletionTask::Moderate { text } => moderate::moderate(text).to_string(),
            CompletionTask::Classify { text, labels } => classify::classify(text, labels).to_string(),
            CompletionTask::Generate { kind, prompt, max_words, tone } => {
                generate::generate(*kind, prompt, *max_words as usize, *tone)
            }
        }
    }

    /// The whole chat reply to `request`.
    pub fn reply(request: &CompletionRequest) -> String {
        let intro = "I am Storefront's built-in assistant, not a language model: I answer from the catalogue search.";
        if request.products.is_empty() {
            return format!("{intro} No product matches your message; try the name or the kind of product you want.");
        }
        let listed: Vec<String> = request
            .products
            .iter()
            .map(|p| {
                let stock = if p.stock > 0 { format!("{} in stock", p.stock) } else { "out of stock".to_owned() };
                format!("{} [{}] at {} ({stock})", p.name, p.id, money(p.price_cents, &request.currency))
            })
            .collect();
        format!("{intro} These products match your message: {}.", listed.join("; "))
    }
}

#[async_trait]
impl LanguageModel for BuiltinModel {
    fn provider(&self) -> &str {
        NAME
    }

    fn model(&self) -> &str {
        NAME
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionStream, ModelError> {
        let reply = match request.task {
            CompletionTask::Chat => Self::reply(&request),
            _ => tokio::task::spawn_blocking(move || Self::answer(&request))
                .await
                .map_err(|error| ModelError::Unavailable(format!("the builtin provider failed: {error}")))?,
        };
        // Each word with the space before it, so that the deltas add up to the reply.
        let mut words: Vec<String> = Vec::new();
        for (i, word) in reply.split(' ').enumerate() {
            words.push(if i == 0 { word.to_owned() } else { format!(" {word}") });
        }
        let delay = self.word_delay;
        let deltas = futures::stream::iter(words).then(move |word| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(CompletionEvent::Delta(word))
        });
        let finished = futures::stream::once(async {
            // No usage: the application counts the tokens and marks them estimated.
            Ok(CompletionEvent::Finished { finish_reason: Some("stop".into()), usage: None })
        });
        Ok(deltas.chain(finished).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storefront_app::ports::{ProductFact, PromptMessage, PromptRole};
    use storefront_domain::ProductId;

    fn request(products: Vec<ProductFact>) -> CompletionRequest {
        CompletionRequest {
            task: CompletionTask::Chat,
            messages: vec![PromptMessage { role: PromptRole::User, content: "a desk".into() }],
            products,
            max_tokens: 100,
            currency: "USD".into(),
        }
    }

    #[tokio::test]
    async fn it_streams_the_matching_products_word_by_word_and_says_what_it_is() {
        let id = ProductId(uuid::Uuid::nil());
        let desk = ProductFact { id, name: "Walnut desk".into(), price_cents: 24900, stock: 3 };
        let mut stream = BuiltinModel::new().complete(request(vec![desk])).await.unwrap();
        let mut text = String::new();
        let mut deltas = 0;
        let mut finished = None;
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                CompletionEvent::Delta(d) => {
                    deltas += 1;
                    text.push_str(&d);
                }
                CompletionEvent::Finished { finish_reason, usage } => finished = Some((finish_reason, usage)),
            }
        }
        assert!(text.starts_with("I am Storefront's built-in assistant, not a language model"), "{text}");
        assert!(
            text.contains(&format!(
                "These products match your message: Walnut desk [{id}] at 249.00 USD (3 in stock)."
            )),
            "{text}"
        );
        assert_eq!(deltas, text.split(' ').count(), "one delta per word");
        assert_eq!(finished, Some((Some("stop".into()), None)));
    }

    #[test]
    fn without_products_it_says_none_matched() {
        assert!(BuiltinModel::reply(&request(vec![])).contains("No product matches your message"));
    }

    #[test]
    fn it_is_deterministic() {
        let id = ProductId(uuid::Uuid::nil());
        let lamp = ProductFact { id, name: "Lamp".into(), price_cents: 1999, stock: 0 };
        let req = request(vec![lamp]);
        assert_eq!(BuiltinModel::reply(&req), BuiltinModel::reply(&req));
        assert!(BuiltinModel::reply(&req).contains("(out of stock)"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use storefront_domain::{GenerationKind, Tone};

    fn answer(task: CompletionTask) -> String {
        BuiltinModel::answer(&CompletionRequest {
            task,
            messages: Vec::new(),
            products: Vec::new(),
            max_tokens: 100,
            currency: String::new(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Any text, however odd: no panic, and the bounds hold.
        #[test]
        fn any_text_is_answered_within_bounds(text in "\\PC{0,300}", max in 20u32..200, words in 10u32..60) {
            let summary = answer(CompletionTask::Summarize { text: text.clone(), max_chars: max });
            prop_assert!(summary.chars().count() <= max as usize);
            let verdict: serde_json::Value =
                serde_json::from_str(&answer(CompletionTask::Moderate { text: text.clone() })).unwrap_or_default();
            prop_assert!(verdict["toxicity"].as_f64().is_some_and(|t| (0.0..=1.0).contains(&t)));
            let labels = vec!["alpha".to_owned(), "beta gamma".to_owned()];
            let classified: serde_json::Value =
                serde_json::from_str(&answer(CompletionTask::Classify { text: text.clone(), labels })).unwrap_or_default();
            prop_assert!(classified["confidence"].as_f64().is_some_and(|c| (0.0..=1.0).contains(&c)));
            let generated = answer(CompletionTask::Generate {
                kind: GenerationKind::BlogPost,
                prompt: text,
                max_words: words,
                tone: Tone::Playful,
            });
            prop_assert!(generated.split_whitespace().count() <= words as usize);
        }
    }
}
