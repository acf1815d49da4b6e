//! Words as the builtin utilities compare them: Unicode words (UAX #29), lower case, the
//! NLTK English stop-words left out, Snowball English stems.

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::HashSet;
use std::sync::LazyLock;
use unicode_segmentation::UnicodeSegmentation;

static STOP_WORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| stop_words::lookup("en").unwrap_or_default().iter().copied().collect());

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Whether `word` (lower case) carries no content of its own ("the", "and", "is"…).
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(word)
}

/// The words of `text`, lower case, in order.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.unicode_words().map(str::to_lowercase)
}

/// The stems of the content words of `text` (stop-words and one-letter words left out).
pub fn content_stems(text: &str) -> Vec<String> {
    words(text).filter(|w| w.chars().count() > 1 && !is_stop_word(w)).map(|w| stem(&w)).collect()
}

/// The Snowball English stem of `word` (lower case).
pub fn stem(word: &str) -> String {
    STEMMER.stem(word).into_owned()
}

/// The number of words of `text`, as the contract counts them (runs of non-space).
pub fn count(text: &str) -> usize {
    text.split_whitespace().count()
}
