//! Extractive summarisation: the text's own sentences, the most representative first.
//!
//! 1. Sentences are split by Unicode's sentence boundaries (UAX #29).
//! 2. Each content word (stop-words left out, stemmed) weighs (f - 1) / (h - 1), f its
//!    frequency in the text and h the highest frequency (Luhn's idea: what a text says
//!    repeatedly is what it is about; a word said once carries no weight). When no word
//!    repeats, every word weighs 1.
//! 3. A sentence scores the mean weight of its content words, times a position bonus
//!    (1.5 for the first sentence, falling linearly to 1 for the last: openings state the
//!    point).
//! 4. The best sentences that fit `max_chars` together are taken, greedily by score, and
//!    given in their original order; a sentence scoring 0 (nothing the text repeats) is
//!    left out unless no sentence scores more. If not even one fits, the best one is cut
//!    at a word boundary and ends with "…" (counted in the limit).

use super::words::content_stems;
use std::collections::HashMap;
use unicode_segmentation::UnicodeSegmentation;

/// The bonus of the first sentence over the last.
const FIRST_SENTENCE_BONUS: f64 = 0.5;

/// A summary of `text` of at most `max_chars` characters.
pub fn summarize(text: &str, max_chars: usize) -> String {
    let sentences: Vec<String> = text
        .split_sentence_bounds()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect();
    if sentences.is_empty() || max_chars == 0 {
        return String::new();
    }
    let stems: Vec<Vec<String>> = sentences.iter().map(|s| content_stems(s)).collect();
    let mut frequency: HashMap<&str, f64> = HashMap::new();
    for stem in stems.iter().flatten() {
        *frequency.entry(stem).or_default() += 1.0;
    }
    let highest = frequency.values().copied().fold(1.0, f64::max);
    let weight_of = |stem: &str| {
        let f = frequency.get(stem).copied().unwrap_or(0.0);
        if highest > 1.0 { (f - 1.0) / (highest - 1.0) } else { 1.0 }
    };
    let last = (sentences.len() - 1).max(1) as f64;
    let mut ranked: Vec<(usize, f64)> = stems
        .iter()
        .enumerate()
        .map(|(i, sentence)| {
            let weight: f64 = sentence.iter().map(|s| weight_of(s)).sum();
            let mean = if sentence.is_empty() { 0.0 } else { weight / sentence.len() as f64 };
            let position = 1.0 + FIRST_SENTENCE_BONUS * (1.0 - i as f64 / last);
            (i, mean * position)
        })
        .collect();
    // Best first; ties to the earlier sentence, so the order is deterministic.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    let anything_scores = ranked[0].1 > 0.0;
    let mut chosen: Vec<usize> = Vec::new();
    let mut used = 0usize;
    for &(i, score) in &ranked {
        if anything_scores && score <= 0.0 {
            break;
        }
        let length = sentences[i].chars().count();
        let separator = usize::from(!chosen.is_empty());
        if used + separator + length <= max_chars {
            used += separator + length;
            chosen.push(i);
        }
    }
    if chosen.is_empty() {
        return truncate(&sentences[ranked[0].0], max_chars);
    }
    chosen.sort_unstable();
    chosen.iter().map(|&i| sentences[i].as_str()).collect::<Vec<_>>().join(" ")
}

/// `sentence` cut at the last word boundary that leaves room for "…".
fn truncate(sentence: &str, max_chars: usize) -> String {
    let room = sentence.char_indices().nth(max_chars.saturating_sub(1)).map_or(sentence.len(), |(i, _)| i);
    let head = &sentence[..room];
    let cut =
        if sentence[room..].starts_with(' ') { head } else { head.rfind(' ').map_or(head, |space| &head[..space]) };
    let cut = cut.trim_end_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation());
    let cut = if cut.is_empty() { head } else { cut };
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REVIEW: &str = "This walnut desk is the best desk I have owned. The delivery took two weeks, \
        which was annoying. The walnut desk surface is smooth and the desk legs are solid. \
        My cat likes to sleep under it. Assembly took ten minutes.";

    #[test]
    fn it_keeps_the_sentences_about_what_the_text_is_about_in_order() {
        let summary = summarize(REVIEW, 120);
        assert!(summary.chars().count() <= 120, "{summary}");
        assert!(summary.starts_with("This walnut desk is the best desk I have owned."), "{summary}");
        assert!(!summary.contains("cat"), "the off-topic sentence is left out: {summary}");
    }

    #[test]
    fn a_text_that_fits_is_kept_whole() {
        assert_eq!(summarize("Short and sweet.  Really.", 100), "Short and sweet. Really.");
    }

    #[test]
    fn a_sentence_longer_than_the_limit_is_cut_at_a_word_with_an_ellipsis() {
        let summary = summarize(REVIEW, 25);
        assert!(summary.chars().count() <= 25, "{summary}");
        assert!(summary.ends_with('…'), "{summary}");
        assert!(REVIEW.contains(summary.trim_end_matches('…')), "{summary}");
    }

    #[test]
    fn every_limit_is_honoured_on_multibyte_text() {
        let text = "Der Schreibtisch ist großartig. Die Lieferung dauerte zwei Wochen! 東京の店はとても素晴らしいです。 Ça marche très bien.";
        for limit in 1..=140 {
            let summary = summarize(text, limit);
            assert!(summary.chars().count() <= limit, "{limit}: {summary}");
            assert!(!summary.is_empty());
        }
    }

    #[test]
    fn it_is_deterministic() {
        assert_eq!(summarize(REVIEW, 80), summarize(REVIEW, 80));
    }
}
