//! `CachedTextAnalysis`: the text utilities behind a cache (the `AnalysisCache` port).
//!
//! A result is keyed by the SHA-256 of (operation, provider, model, prompt version,
//! normalised input, parameters) — each part length-prefixed, so no two tuples hash the
//! same bytes — and kept for its operation's TTL (summarize and generate 1 h, moderate and
//! classify 30 min). The input is normalised before hashing (NFKC, trimmed, runs of
//! whitespace as one space), so texts that differ only there share a result; the inner
//! analysis still gets the text as it was given.
//!
//! `CacheMode::Bypass` skips the read, and the fresh result is still stored (the next
//! ordinary call gets it). Only complete results are stored: an error is never cached
//! (the inner analysis answers `Ok` only for a whole reply). A cache that fails (Redis
//! down, an entry that does not decode) is a MISS, logged and counted, never an error.
//!
//! Hashing a text of the largest size (20,000 characters) takes well under a millisecond,
//! so it runs where it is called.

use super::analysis::{Analysed, AnalysisOperation, CacheMode, CacheStatus, GenerationRequest, TextAnalysis};
use crate::ports::{AnalysisCache, CacheKey, ModelError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use storefront_domain::{Classification, Moderation, ModerationCategories, Sentiment, TokenUsage};
use unicode_normalization::UnicodeNormalization;

/// Cache lookups, by operation and outcome (`hit`, `miss`, `bypass`).
pub const AI_CACHE_METRIC: &str = "ai_cache_total";
/// Cache failures (each also a MISS or an unstored result), by operation and stage (`get`,
/// `put`, `decode`).
pub const AI_CACHE_ERRORS_METRIC: &str = "ai_cache_errors_total";

/// The format of a cached entry; a new one makes older entries unreachable.
const KEY_SCHEME: &str = "storefront.ai-cache.v1";

/// How long a result is kept, per operation (the contract's TTLs).
pub const fn ttl(operation: AnalysisOperation) -> Duration {
    match operation {
        AnalysisOperation::Summarize | AnalysisOperation::Generate => Duration::from_secs(60 * 60),
        AnalysisOperation::Moderate | AnalysisOperation::Classify => Duration::from_secs(30 * 60),
    }
}

/// NFKC, trimmed, every run of whitespace as one space.
pub fn normalise(text: &str) -> String {
    let folded: String = text.nfkc().collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A key built field by field, each length-prefixed.
struct KeyBuilder(Sha256);

impl KeyBuilder {
    fn new(scheme: &str) -> Self {
        let mut builder = Self(Sha256::new());
        builder.field(scheme.as_bytes());
        builder
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
        self
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.field(text.as_bytes())
    }

    fn number(&mut self, n: u64) -> &mut Self {
        self.field(&n.to_be_bytes())
    }

    fn finish(self) -> CacheKey {
        CacheKey(self.0.finalize().into())
    }
}

/// What a cached entry holds: the answer and who gave it.
#[derive(Serialize, Deserialize)]
struct Entry<T> {
    value: T,
    provider: String,
    model: String,
}

#[derive(Serialize, Deserialize)]
struct ModerationRecord {
    flagged: bool,
    toxicity: f64,
    categories: [f64; 6],
    issues: Vec<String>,
}

impl From<&Moderation> for ModerationRecord {
    fn from(m: &Moderation) -> Self {
        let c = &m.categories;
        Self {
            flagged: m.flagged,
            toxicity: m.toxicity,
            categories: [c.harassment, c.hate, c.sexual, c.violence, c.self_harm, c.spam],
            issues: m.issues.clone(),
        }
    }
}

impl From<ModerationRecord> for Moderation {
    fn from(r: ModerationRecord) -> Self {
        let [harassment, hate, sexual, violence, self_harm, spam] = r.categories;
        Moderation {
            flagged: r.flagged,
            toxicity: r.toxicity,
            categories: ModerationCategories { harassment, hate, sexual, violence, self_harm, spam },
            issues: r.issues,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct ClassificationRecord {
    label: String,
    sentiment: String,
    confidence: f64,
}

impl From<&Classification> for ClassificationRecord {
    fn from(c: &Classification) -> Self {
        Self { label: c.label.clone(), sentiment: c.sentiment.as_str().to_owned(), confidence: c.confidence }
    }
}

impl TryFrom<ClassificationRecord> for Classification {
    type Error = String;

    fn try_from(r: ClassificationRecord) -> Result<Self, String> {
        let sentiment = Sentiment::parse(&r.sentiment).ok_or_else(|| format!("unknown sentiment {:?}", r.sentiment))?;
        Ok(Classification { label: r.label, sentiment, confidence: r.confidence })
    }
}

/// The text utilities of `inner`, answered from `cache` when they can be.
pub struct CachedTextAnalysis {
    inner: Arc<dyn TextAnalysis>,
    cache: Arc<dyn AnalysisCache>,
}

impl CachedTextAnalysis {
    pub fn new(inner: Arc<dyn TextAnalysis>, cache: Arc<dyn AnalysisCache>) -> Self {
        Self { inner, cache }
    }

    /// The key of `operation` on `input` with `parameters` (already in the key's terms).
    fn key(&self, operation: AnalysisOperation, input: &str, parameters: impl FnOnce(&mut KeyBuilder)) -> CacheKey {
        let mut key = KeyBuilder::new(KEY_SCHEME);
        key.text(operation.as_str())
            .text(self.inner.provider())
            .text(self.inner.model())
            .number(u64::from(self.inner.prompt_version(operation)))
            .text(&normalise(input));
        parameters(&mut key);
        key.finish()
    }

    /// The cached entry under `key`, if there is one that decodes.
    async fn lookup<R: DeserializeOwned>(
        &self,
        operation: AnalysisOperation,
        key: &CacheKey,
        mode: CacheMode,
    ) -> Option<Entry<R>> {
        if mode == CacheMode::Bypass {
            count(operation, "bypass");
            return None;
        }
        let found = match self.cache.get(key).await {
            Ok(found) => found,
            Err(error) => {
                failed(operation, "get", &error.to_string());
                None
            }
        };
        let entry = found.and_then(|bytes| match serde_json::from_slice::<Entry<R>>(&bytes) {
            Ok(entry) => Some(entry),
            Err(error) => {
                failed(operation, "decode", &error.to_string());
                None
            }
        });
        count(operation, if entry.is_some() { "hit" } else { "miss" });
        entry
    }

    /// Stores a fresh result; a failure only loses the entry.
    async fn store<R: Serialize>(&self, operation: AnalysisOperation, key: &CacheKey, entry: &Entry<R>) {
        let bytes = match serde_json::to_vec(entry) {
            Ok(bytes) => bytes,
            Err(error) => return failed(operation, "put", &error.to_string()),
        };
        if let Err(error) = self.cache.put(key, &bytes, ttl(operation)).await {
            failed(operation, "put", &error.to_string());
        }
    }

    /// The cached answer, or `fresh`'s stored and answered. `to_record` and `from_record`
    /// turn a value into what is stored and back (`None` when a stored one is not valid).
    async fn cached<T, R>(
        &self,
        operation: AnalysisOperation,
        key: CacheKey,
        mode: CacheMode,
        fresh: impl Future<Output = Result<Analysed<T>, ModelError>>,
        to_record: impl FnOnce(&T) -> R,
        from_record: impl FnOnce(R) -> Result<T, String>,
    ) -> Result<Analysed<T>, ModelError>
    where
        R: Serialize + DeserializeOwned,
    {
        if let Some(entry) = self.lookup::<R>(operation, &key, mode).await {
            match from_record(entry.value) {
                Ok(value) => {
                    return Ok(Analysed {
                        value,
                        provider: entry.provider,
                        model: entry.model,
                        usage: TokenUsage { prompt_tokens: 0, completion_tokens: 0, estimated: false },
                        cache: CacheStatus::Hit,
                    });
                }
                Err(why) => failed(operation, "decode", &why),
            }
        }
        let answer = fresh.await?;
        let entry =
            Entry { value: to_record(&answer.value), provider: answer.provider.clone(), model: answer.model.clone() };
        self.store(operation, &key, &entry).await;
        Ok(Analysed { cache: CacheStatus::Miss, ..answer })
    }
}

fn count(operation: AnalysisOperation, outcome: &'static str) {
    metrics::counter!(AI_CACHE_METRIC, "operation" => operation.as_str(), "outcome" => outcome).increment(1);
}

fn failed(operation: AnalysisOperation, stage: &'static str, error: &str) {
    metrics::counter!(AI_CACHE_ERRORS_METRIC, "operation" => operation.as_str(), "stage" => stage).increment(1);
    tracing::warn!(operation = operation.as_str(), stage, error, "the analysis cache failed; answering without it");
}

#[async_trait]
impl TextAnalysis for CachedTextAnalysis {
    fn provider(&self) -> &str {
        self.inner.provider()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    fn prompt_version(&self, operation: AnalysisOperation) -> u32 {
        self.inner.prompt_version(operation)
    }

    async fn summarize(&self, text: &str, max_chars: u32, cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        let operation = AnalysisOperation::Summarize;
        let key = self.key(operation, text, |k| {
            k.number(u64::from(max_chars));
        });
        let fresh = self.inner.summarize(text, max_chars, cache);
        self.cached(operation, key, cache, fresh, String::clone, Ok).await
    }

    async fn moderate(&self, text: &str, cache: CacheMode) -> Result<Analysed<Moderation>, ModelError> {
        let operation = AnalysisOperation::Moderate;
        let key = self.key(operation, text, |_| {});
        let fresh = self.inner.moderate(text, cache);
        self.cached(
            operation,
            key,
            cache,
            fresh,
            |m: &Moderation| ModerationRecord::from(m),
            |r| Ok(Moderation::from(r)),
        )
        .await
    }

    async fn classify(
        &self,
        text: &str,
        labels: &[String],
        cache: CacheMode,
    ) -> Result<Analysed<Classification>, ModelError> {
        let operation = AnalysisOperation::Classify;
        // Labels in the order given: a provider may break a tie by it.
        let key = self.key(operation, text, |k| {
            k.number(labels.len() as u64);
            for label in labels {
                k.text(&normalise(label));
            }
        });
        let fresh = self.inner.classify(text, labels, cache);
        // A hit keyed by a label that differs from this call's only where the key
        // normalises answers with this call's spelling of it.
        let respell = |record: ClassificationRecord| {
            let mut classification = Classification::try_from(record)?;
            let wanted = normalise(&classification.label);
            if let Some(given) = labels.iter().find(|l| normalise(l) == wanted) {
                classification.label.clone_from(given);
            }
            Ok(classification)
        };
        self.cached(operation, key, cache, fresh, |c: &Classification| ClassificationRecord::from(c), respell).await
    }

    async fn generate(&self, request: &GenerationRequest, cache: CacheMode) -> Result<Analysed<String>, ModelError> {
        let operation = AnalysisOperation::Generate;
        let key = self.key(operation, &request.prompt, |k| {
            k.text(request.kind.as_str()).number(u64::from(request.max_words)).text(request.tone.as_str());
        });
        let fresh = self.inner.generate(request, cache);
        self.cached(operation, key, cache, fresh, String::clone, Ok).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::ports::CacheError;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use storefront_domain::{GenerationKind, Tone};

    /// Answers from the input, counting calls; fails when told to.
    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
        version: std::sync::atomic::AtomicU32,
    }

    impl Counting {
        fn answer<T>(&self, value: T) -> Result<Analysed<T>, ModelError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(ModelError::Timeout);
            }
            Ok(Analysed {
                value,
                provider: "fake".into(),
                model: "fake-1".into(),
                usage: TokenUsage { prompt_tokens: 10, completion_tokens: 5, estimated: false },
                cache: CacheStatus::Miss,
            })
        }
    }

    #[async_trait]
    impl TextAnalysis for Counting {
        fn provider(&self) -> &str {
            "fake"
        }
        fn model(&self) -> &str {
            "fake-1"
        }
        fn prompt_version(&self, _operation: AnalysisOperation) -> u32 {
            self.version.load(Ordering::SeqCst)
        }
        async fn summarize(&self, text: &str, max_chars: u32, _: CacheMode) -> Result<Analysed<String>, ModelError> {
            self.answer(text.chars().take(max_chars as usize).collect())
        }
        async fn moderate(&self, text: &str, _: CacheMode) -> Result<Analysed<Moderation>, ModelError> {
            let flagged = text.contains("bad");
            let categories = ModerationCategories { harassment: 0.5, spam: 0.25, ..ModerationCategories::default() };
            self.answer(Moderation { flagged, toxicity: 0.75, categories, issues: vec!["profanity: bad".into()] })
        }
        async fn classify(
            &self,
            _: &str,
            labels: &[String],
            _: CacheMode,
        ) -> Result<Analysed<Classification>, ModelError> {
            let label = labels.first().cloned().unwrap_or_else(|| "positive".into());
            self.answer(Classification { label, sentiment: Sentiment::Negative, confidence: 0.5 })
        }
        async fn generate(&self, request: &GenerationRequest, _: CacheMode) -> Result<Analysed<String>, ModelError> {
            self.answer(format!("{} about {}", request.kind.as_str(), request.prompt))
        }
    }

    /// A map with the TTLs it was given; fails when told to.
    #[derive(Default)]
    struct Recording {
        entries: Mutex<HashMap<CacheKey, (Vec<u8>, Duration)>>,
        down: std::sync::atomic::AtomicBool,
        gets: AtomicUsize,
    }

    #[async_trait]
    impl AnalysisCache for Recording {
        async fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, CacheError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(CacheError::Unavailable("down".into()));
            }
            Ok(self.entries.lock().unwrap().get(key).map(|(v, _)| v.clone()))
        }
        async fn put(&self, key: &CacheKey, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(CacheError::Unavailable("down".into()));
            }
            self.entries.lock().unwrap().insert(*key, (value.to_vec(), ttl));
            Ok(())
        }
    }

    fn setup() -> (Arc<Counting>, Arc<Recording>, CachedTextAnalysis) {
        let inner = Arc::new(Counting { version: 1.into(), ..Counting::default() });
        let cache = Arc::new(Recording::default());
        let cached = CachedTextAnalysis::new(inner.clone(), cache.clone());
        (inner, cache, cached)
    }

    fn generation(prompt: &str, max_words: u32) -> GenerationRequest {
        GenerationRequest { kind: GenerationKind::Email, prompt: prompt.into(), max_words, tone: Tone::Neutral }
    }

    #[tokio::test]
    async fn a_second_identical_call_is_a_hit_that_costs_nothing_and_answers_the_same() {
        let (inner, _, cached) = setup();
        let first = cached.summarize("A long text.", 50, CacheMode::Use).await.unwrap();
        let second = cached.summarize("A long text.", 50, CacheMode::Use).await.unwrap();
        assert_eq!((first.cache, second.cache), (CacheStatus::Miss, CacheStatus::Hit));
        assert_eq!(first.value, second.value);
        assert_eq!((second.provider.as_str(), second.model.as_str()), ("fake", "fake-1"));
        assert_eq!(first.usage.total(), 15);
        assert_eq!(second.usage.total(), 0);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn every_operation_round_trips_its_value_through_the_cache() {
        let (inner, _, cached) = setup();
        let labels = vec!["shoes".to_owned(), "hats".to_owned()];
        for _ in 0..2 {
            let m = cached.moderate("bad words", CacheMode::Use).await.unwrap();
            assert!(m.value.flagged);
            assert_eq!(m.value.categories.harassment, 0.5);
            assert_eq!(m.value.categories.spam, 0.25);
            assert_eq!(m.value.issues, vec!["profanity: bad".to_owned()]);
            let c = cached.classify("text", &labels, CacheMode::Use).await.unwrap();
            assert_eq!(
                (c.value.label.as_str(), c.value.sentiment, c.value.confidence),
                ("shoes", Sentiment::Negative, 0.5)
            );
            let g = cached.generate(&generation("socks", 50), CacheMode::Use).await.unwrap();
            assert_eq!(g.value, "email about socks");
        }
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn texts_that_differ_only_in_width_or_whitespace_share_a_result() {
        let (inner, _, cached) = setup();
        cached.moderate("  Hello \t\n world ", CacheMode::Use).await.unwrap();
        // Fullwidth letters fold to ASCII under NFKC.
        let again = cached.moderate("\u{ff28}ello world", CacheMode::Use).await.unwrap();
        assert_eq!(again.cache, CacheStatus::Hit);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        assert_eq!(normalise("  a \u{00a0}\t b\n"), "a b");
    }

    #[tokio::test]
    async fn operation_parameters_and_prompt_version_each_change_the_key() {
        let (inner, _, cached) = setup();
        cached.summarize("text", 50, CacheMode::Use).await.unwrap();
        assert_eq!(cached.summarize("text", 60, CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
        assert_eq!(cached.summarize("other", 50, CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
        cached.generate(&generation("text", 50), CacheMode::Use).await.unwrap();
        assert_eq!(cached.generate(&generation("text", 51), CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
        let mut blog = generation("text", 50);
        blog.kind = GenerationKind::BlogPost;
        assert_eq!(cached.generate(&blog, CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
        let ab = vec!["a".to_owned(), "b".to_owned()];
        let ba = vec!["b".to_owned(), "a".to_owned()];
        cached.classify("text", &ab, CacheMode::Use).await.unwrap();
        assert_eq!(cached.classify("text", &ba, CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
        // Labels "a","b" vs one label "a b": length-prefixed fields never collide.
        let joined = vec!["a b".to_owned()];
        assert_eq!(cached.classify("text", &joined, CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
        let before = inner.calls.load(Ordering::SeqCst);
        inner.version.store(2, Ordering::SeqCst);
        assert_eq!(cached.summarize("text", 50, CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
        assert_eq!(inner.calls.load(Ordering::SeqCst), before + 1);
    }

    #[tokio::test]
    async fn each_operation_is_stored_for_its_contract_ttl() {
        let (_, cache, cached) = setup();
        cached.summarize("t", 50, CacheMode::Use).await.unwrap();
        cached.moderate("t", CacheMode::Use).await.unwrap();
        cached.classify("t", &[], CacheMode::Use).await.unwrap();
        cached.generate(&generation("t", 50), CacheMode::Use).await.unwrap();
        let mut ttls: Vec<u64> = cache.entries.lock().unwrap().values().map(|(_, ttl)| ttl.as_secs()).collect();
        ttls.sort_unstable();
        assert_eq!(ttls, vec![1800, 1800, 3600, 3600]);
    }

    #[tokio::test]
    async fn a_bypass_skips_the_read_but_stores_the_fresh_result() {
        let (inner, cache, cached) = setup();
        cached.summarize("text", 50, CacheMode::Use).await.unwrap();
        let gets = cache.gets.load(Ordering::SeqCst);
        let bypassed = cached.summarize("text", 50, CacheMode::Bypass).await.unwrap();
        assert_eq!(bypassed.cache, CacheStatus::Miss);
        assert_eq!(cache.gets.load(Ordering::SeqCst), gets, "no read on a bypass");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
        assert_eq!(cache.entries.lock().unwrap().len(), 1, "stored again under the same key");
        assert_eq!(cached.summarize("text", 50, CacheMode::Use).await.unwrap().cache, CacheStatus::Hit);
    }

    #[tokio::test]
    async fn a_failed_call_is_not_stored() {
        let (inner, cache, cached) = setup();
        inner.fail.store(true, Ordering::SeqCst);
        assert_eq!(cached.summarize("text", 50, CacheMode::Use).await, Err(ModelError::Timeout));
        assert!(cache.entries.lock().unwrap().is_empty());
        inner.fail.store(false, Ordering::SeqCst);
        assert_eq!(cached.summarize("text", 50, CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
    }

    #[tokio::test]
    async fn a_cache_that_is_down_is_a_miss_never_an_error() {
        let (inner, cache, cached) = setup();
        cache.down.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            let answer = cached.moderate("text", CacheMode::Use).await.unwrap();
            assert_eq!(answer.cache, CacheStatus::Miss);
        }
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_entry_that_does_not_decode_is_a_miss_and_is_replaced() {
        let (inner, cache, cached) = setup();
        cached.moderate("text", CacheMode::Use).await.unwrap();
        for (value, _) in cache.entries.lock().unwrap().values_mut() {
            *value = b"not json".to_vec();
        }
        assert_eq!(cached.moderate("text", CacheMode::Use).await.unwrap().cache, CacheStatus::Miss);
        assert_eq!(cached.moderate("text", CacheMode::Use).await.unwrap().cache, CacheStatus::Hit);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_hit_answers_with_the_callers_spelling_of_the_label() {
        let (_, _, cached) = setup();
        cached.classify("text", &["Red  shoes".to_owned(), "hats".to_owned()], CacheMode::Use).await.unwrap();
        let hit = cached.classify("text", &["Red shoes".to_owned(), "hats".to_owned()], CacheMode::Use).await.unwrap();
        assert_eq!(hit.cache, CacheStatus::Hit);
        assert_eq!(hit.value.label, "Red shoes");
    }
}
