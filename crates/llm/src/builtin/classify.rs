//! Classification: VADER's lexicon sentiment, and labels matched by the words they share
//! with the text.
//!
//! - Sentiment: VADER's compound score (-1..1) of the text, with VADER's own thresholds:
//!   positive from 0.05, negative to -0.05, neutral between. Its confidence is
//!   0.5 + |compound| / 2 for positive and negative, and 1 - |compound| * 10 (0.5..1) for
//!   neutral.
//! - A label scores the larger of (a) the share of its content words (Snowball stems,
//!   stop-words left out) found in the text — a stem also matches a longer or shorter
//!   stem it begins, from 4 letters ("deliver" ~ "delivery") — and (b) its sentiment
//!   affinity: a label whose own VADER score is positive ("praise", "positive", "love")
//!   scores |compound| on a positive text (likewise negative; a label "neutral" scores
//!   the neutral confidence on a neutral text).
//! - The label is the best-scoring (ties: the earlier); if none scores, the first. The
//!   confidence is the mean of its score and its share of all the labels' scores.
//! - Without labels the label is the sentiment's name, with the sentiment's confidence.

use super::words::{content_stems, stem, words};
use serde_json::json;
use std::sync::LazyLock;
use vader_sentiment::SentimentIntensityAnalyzer;

/// VADER's thresholds between negative, neutral and positive.
const NEUTRAL_BAND: f64 = 0.05;
/// The shortest stem that matches by prefix.
const PREFIX_MATCH_CHARS: usize = 4;

static ANALYZER: LazyLock<SentimentIntensityAnalyzer<'static>> = LazyLock::new(SentimentIntensityAnalyzer::new);

/// VADER's compound score of `text`, -1..1.
pub fn compound(text: &str) -> f64 {
    ANALYZER.polarity_scores(text).get("compound").copied().filter(|c| c.is_finite()).unwrap_or(0.0)
}

fn sentiment(compound: f64) -> (&'static str, f64) {
    if compound >= NEUTRAL_BAND {
        ("positive", 0.5 + compound / 2.0)
    } else if compound <= -NEUTRAL_BAND {
        ("negative", 0.5 - compound / 2.0)
    } else {
        ("neutral", 1.0 - compound.abs() * 10.0)
    }
}

fn stems_match(a: &str, b: &str) -> bool {
    a == b || {
        let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        short.chars().count() >= PREFIX_MATCH_CHARS && long.starts_with(short)
    }
}

/// A label's score for a text with `text_stems` and `text_compound` (see the module).
fn label_score(label: &str, text_stems: &[String], text_compound: f64) -> f64 {
    let mut label_stems = content_stems(label);
    if label_stems.is_empty() {
        // A label of stop-words only ("other", "none"…) is matched by its words as they are.
        label_stems = words(label).map(|w| stem(&w)).collect();
    }
    let overlap = if label_stems.is_empty() {
        0.0
    } else {
        let found = label_stems.iter().filter(|l| text_stems.iter().any(|t| stems_match(l, t))).count();
        found as f64 / label_stems.len() as f64
    };
    let (text_sentiment, text_confidence) = sentiment(text_compound);
    let label_compound = compound(label);
    let affinity = match text_sentiment {
        "positive" if label_compound >= NEUTRAL_BAND => text_compound.abs(),
        "negative" if label_compound <= -NEUTRAL_BAND => text_compound.abs(),
        "neutral" if label_stems.iter().any(|s| s == "neutral") => text_confidence,
        _ => 0.0,
    };
    overlap.max(affinity).clamp(0.0, 1.0)
}

/// The label of `labels` that fits `text`, and its sentiment, as the JSON object the
/// classification prompt asks for (with each label's score under `scores`).
pub fn classify(text: &str, labels: &[String]) -> serde_json::Value {
    let text_compound = compound(text);
    let (sentiment_name, sentiment_confidence) = sentiment(text_compound);
    if labels.is_empty() {
        return json!({"label": sentiment_name, "sentiment": sentiment_name, "confidence": sentiment_confidence});
    }
    let text_stems = content_stems(text);
    let scores: Vec<f64> = labels.iter().map(|l| label_score(l, &text_stems, text_compound)).collect();
    let total: f64 = scores.iter().sum();
    let mut best = 0;
    for (i, &score) in scores.iter().enumerate() {
        if score > scores[best] {
            best = i;
        }
    }
    let confidence = if total > 0.0 { (scores[best] + scores[best] / total) / 2.0 } else { 1.0 / labels.len() as f64 };
    let by_label: serde_json::Map<String, serde_json::Value> =
        labels.iter().zip(&scores).map(|(l, s)| (l.clone(), json!(s))).collect();
    json!({
        "label": labels[best],
        "sentiment": sentiment_name,
        "confidence": confidence,
        "scores": by_label,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn the_label_sharing_the_texts_words_wins() {
        let list = labels(&["shipping", "product quality", "billing"]);
        let late = classify("The shipment arrived two weeks late and the courier lost the tracking.", &list);
        assert_eq!(late["label"], "shipping", "{late}");
        let invoice = classify("I was billed twice for one order, please fix the bill.", &list);
        assert_eq!(invoice["label"], "billing", "{invoice}");
        let quality = classify("Great quality, the product feels solid and well made!", &list);
        assert_eq!(quality["label"], "product quality", "{quality}");
        assert_eq!(quality["sentiment"], "positive");
    }

    #[test]
    fn sentiment_labels_follow_the_texts_sentiment() {
        let list = labels(&["praise", "complaint", "neutral"]);
        let happy = classify("I love this lamp, it is wonderful and beautiful.", &list);
        assert_eq!(happy["label"], "praise", "{happy}");
        assert_eq!(happy["sentiment"], "positive");
        let angry = classify("Terrible lamp, it broke after a day. Awful.", &list);
        assert_eq!(angry["sentiment"], "negative", "{angry}");
        let plain = classify("The lamp is 40 cm tall.", &list);
        assert_eq!(plain["label"], "neutral", "{plain}");
        let confidence = happy["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
    }

    #[test]
    fn without_labels_the_label_is_the_sentiment() {
        let v = classify("This is horrible and I hate it.", &[]);
        assert_eq!(v["label"], "negative");
        assert_eq!(v["sentiment"], "negative");
        assert!(v["confidence"].as_f64().unwrap() > 0.5);
    }

    #[test]
    fn nothing_in_common_falls_back_to_the_first_label() {
        let v = classify("Zzz qqq.", &labels(&["alpha", "beta"]));
        assert_eq!(v["label"], "alpha");
        assert_eq!(v["confidence"], 0.5);
    }

    #[test]
    fn odd_input_does_not_panic() {
        for text in ["", " ", "!!!", "😀😀", "but", "not not not", "BUT!!! no", "x", "kind of", "sort of but", "never"]
        {
            let _ = classify(text, &labels(&["a", "b"]));
        }
    }
}
