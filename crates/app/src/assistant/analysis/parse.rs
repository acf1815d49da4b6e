//! Post-processing: what a provider answered, read leniently (models wrap JSON in prose
//! or ``` fences, write scores as strings, invent labels) and bounded strictly by the
//! contract (a summary within `max_chars`, scores in 0..=1, a label from the list, at most
//! `max_words` words). One reader serves every provider: the `builtin` provider answers in
//! the shape the prompts ask a language model for.

use serde_json::{Map, Value};
use storefront_domain::{Classification, Moderation, ModerationCategories, Sentiment, clamp_score};

/// A moderation verdict is `flagged` from this toxicity on (the prompt says so too).
pub const FLAG_THRESHOLD: f64 = 0.5;
/// The most issues a verdict keeps, and the longest issue, in characters.
const MAX_ISSUES: usize = 20;
const MAX_ISSUE_CHARS: usize = 200;
/// A label the model wrote counts as one of the list when this similar (normalised
/// Levenshtein, 0..=1) and no label matches better.
const LABEL_SIMILARITY: f64 = 0.6;
/// The confidence of a classification whose provider gave none.
const DEFAULT_CONFIDENCE: f64 = 0.5;
/// The most `{` an answer is tried from: a model puts its object early; the bound keeps
/// reading a misbehaving provider's long answer linear.
const MAX_OBJECT_STARTS: usize = 64;
/// What ends a truncated text.
const ELLIPSIS: char = '…';

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// `raw` without a surrounding ``` fence (with or without a language tag) and trimmed.
pub fn strip_fences(raw: &str) -> &str {
    let trimmed = raw.trim();
    let Some(rest) = trimmed.strip_prefix("```") else { return trimmed };
    // The language tag runs to the end of the first line.
    let body = rest.split_once('\n').map_or("", |(_, body)| body);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

/// The first JSON object in `raw`: the whole answer, inside a fence, or amid prose.
pub fn find_object(raw: &str) -> Option<Map<String, Value>> {
    let text = strip_fences(raw);
    for (start, _) in text.match_indices('{').take(MAX_OBJECT_STARTS) {
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        if let Some(Ok(Value::Object(object))) = values.next() {
            return Some(object);
        }
    }
    None
}

/// A number, also when written as a string (`"0.8"`); `None` otherwise.
fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    }
}

/// A boolean, also when written as a string.
fn boolean(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A key's normal form: lower case, letters and digits only (`self-harm` = `self_harm`).
fn key(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The value under `wanted` (compared in normal form).
fn field<'a>(object: &'a Map<String, Value>, wanted: &str) -> Option<&'a Value> {
    object.iter().find(|(k, _)| key(k) == key(wanted)).map(|(_, v)| v)
}

/// `text` whitespace-collapsed, cut to at most `max_chars` characters: at the last
/// sentence end that keeps at least half of the limit, else at the last word boundary with
/// "…" (counted in the limit), else (one long word) mid-word with "…". Always on a
/// character boundary.
pub fn fit_chars(text: &str, max_chars: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max_chars {
        return text;
    }
    if max_chars == 0 {
        return String::new();
    }
    // The byte offset just after the first `max_chars` characters.
    let limit = text.char_indices().nth(max_chars).map_or(text.len(), |(i, _)| i);
    let head = &text[..limit];
    let sentence_end = head
        .char_indices()
        .filter(|&(i, c)| {
            matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
                && text[i + c.len_utf8()..].chars().next().is_none_or(char::is_whitespace)
        })
        .map(|(i, c)| i + c.len_utf8())
        .next_back();
    if let Some(end) = sentence_end
        && text[..end].chars().count() * 2 >= max_chars
    {
        return text[..end].to_owned();
    }
    // Room for the ellipsis: the first `max_chars - 1` characters.
    let room = text.char_indices().nth(max_chars - 1).map_or(text.len(), |(i, _)| i);
    let cut = if text[room..].starts_with(' ') {
        room
    } else {
        text[..room].rfind(' ').filter(|&space| space > 0).unwrap_or(room)
    };
    let kept = text[..cut].trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-' | '–'));
    let kept = if kept.is_empty() { &text[..room] } else { kept };
    format!("{kept}{ELLIPSIS}")
}

/// A summary: the answer without fences, quotes or a "Summary:" preamble, within `max_chars`.
pub fn summary(raw: &str, max_chars: u32) -> Result<String, Unreadable> {
    let mut text = strip_fences(raw);
    if let Some((head, rest)) = text.split_once(':')
        && key(head) == "summary"
    {
        text = rest.trim();
    }
    let text = text.trim_matches(|c: char| c == '"' || c == '“' || c == '”' || c.is_whitespace());
    if text.is_empty() {
        return Err(Unreadable("the summary is empty".into()));
    }
    Ok(fit_chars(text, max_chars as usize))
}

/// Generated text: the answer without fences, at most `max_words` words (line breaks kept).
pub fn generated(raw: &str, max_words: u32) -> Result<String, Unreadable> {
    let text = strip_fences(raw);
    if text.is_empty() {
        return Err(Unreadable("the generated text is empty".into()));
    }
    let mut words = 0u32;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_word = false;
        } else if !in_word {
            in_word = true;
            words += 1;
            if words > max_words {
                return Ok(text[..i].trim_end().to_owned());
            }
        }
    }
    Ok(text.to_owned())
}

/// A moderation verdict from the first JSON object of the answer. Scores are clamped;
/// `toxicity` is never below the highest category (it is that when missing); `flagged`
/// when the provider said so or toxicity reaches `FLAG_THRESHOLD`.
pub fn moderation(raw: &str) -> Result<Moderation, Unreadable> {
    let object = find_object(raw).ok_or_else(|| Unreadable("no JSON object in the moderation answer".into()))?;
    let categories_object = field(&object, "categories").and_then(Value::as_object);
    let score = |name: &str| {
        // A flat answer (categories at the top level) is read too.
        let found = categories_object.and_then(|c| field(c, name)).or_else(|| field(&object, name));
        number(found).map(clamp_score)
    };
    let named = ["harassment", "hate", "sexual", "violence", "self_harm", "spam"].map(score);
    let given_toxicity = number(field(&object, "toxicity")).map(clamp_score);
    let given_flag = boolean(field(&object, "flagged"));
    if given_toxicity.is_none() && given_flag.is_none() && named.iter().all(Option::is_none) {
        return Err(Unreadable("the moderation answer has no toxicity, flag or category".into()));
    }
    let [harassment, hate, sexual, violence, self_harm, spam] = named.map(|s| s.unwrap_or(0.0));
    let categories = ModerationCategories { harassment, hate, sexual, violence, self_harm, spam };
    let highest = named.iter().flatten().copied().fold(0.0, f64::max);
    let toxicity = given_toxicity.unwrap_or(0.0).max(highest);
    let flagged = given_flag.unwrap_or(false) || toxicity >= FLAG_THRESHOLD;
    let issues = match field(&object, "issues") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.trim().to_owned(),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .take(MAX_ISSUES)
            .map(|s| s.chars().take(MAX_ISSUE_CHARS).collect())
            .collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().chars().take(MAX_ISSUE_CHARS).collect()],
        _ => Vec::new(),
    };
    Ok(Moderation { flagged, toxicity, categories, issues })
}

/// A label's normal form for matching: lower case, words separated by one space.
fn normal(label: &str) -> String {
    label.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The label of `labels` that `answered` names: equal in normal form; else the longest
/// label it contains or that contains it; else the most similar, if similar enough.
pub fn closest_label<'a>(answered: &str, labels: &'a [String]) -> Option<&'a String> {
    let wanted = normal(answered);
    if wanted.is_empty() {
        return None;
    }
    if let Some(label) = labels.iter().find(|l| normal(l) == wanted) {
        return Some(label);
    }
    let contained = labels
        .iter()
        .filter(|l| {
            let label = normal(l);
            !label.is_empty() && (wanted.contains(&label) || label.contains(&wanted))
        })
        .max_by_key(|l| normal(l).len());
    if contained.is_some() {
        return contained;
    }
    labels
        .iter()
        .map(|l| (l, strsim::normalized_levenshtein(&normal(l), &wanted)))
        .filter(|&(_, similarity)| similarity >= LABEL_SIMILARITY)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(l, _)| l)
}

/// A sentiment, leniently (`"Positive"`, `"pos"`, `"NEGATIVE."`).
fn sentiment(value: Option<&Value>) -> Option<Sentiment> {
    let raw = normal(value?.as_str()?);
    let word = raw.split(' ').next()?;
    Sentiment::parse(word).or_else(|| match word.get(..3)? {
        "pos" => Some(Sentiment::Positive),
        "neu" => Some(Sentiment::Neutral),
        "neg" => Some(Sentiment::Negative),
        _ => None,
    })
}

/// A classification from the first JSON object of the answer. The label is always one of
/// `labels`: the one the answer names (`closest_label`), else the best of the answer's
/// `scores` object when it has one, else the first. Without labels it is the sentiment's
/// name. A missing sentiment is neutral; a missing confidence is 0.5; both clamped.
pub fn classification(raw: &str, labels: &[String]) -> Result<Classification, Unreadable> {
    let object = find_object(raw).ok_or_else(|| Unreadable("no JSON object in the classification answer".into()))?;
    let given_sentiment = sentiment(field(&object, "sentiment"));
    let answered = field(&object, "label").and_then(Value::as_str);
    if labels.is_empty() {
        // The sentiment is the label; a model may have put it under `label` only.
        let sentiment = given_sentiment
            .or_else(|| answered.and_then(|a| sentiment(Some(&Value::String(a.to_owned())))))
            .ok_or_else(|| Unreadable("the classification answer has no sentiment".into()))?;
        let confidence = number(field(&object, "confidence")).map_or(DEFAULT_CONFIDENCE, clamp_score);
        return Ok(Classification { label: sentiment.as_str().to_owned(), sentiment, confidence });
    }
    let scores: Vec<(&String, f64)> = field(&object, "scores")
        .and_then(Value::as_object)
        .map(|scores| {
            labels
                .iter()
                .filter_map(|l| number(field_exact_or_normal(scores, l)).map(|s| (l, clamp_score(s))))
                .collect()
        })
        .unwrap_or_default();
    if answered.is_none() && given_sentiment.is_none() && scores.is_empty() {
        return Err(Unreadable("the classification answer has no label, sentiment or scores".into()));
    }
    let best_scored = scores.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
    let label = answered
        .and_then(|a| closest_label(a, labels))
        .or(best_scored.map(|(l, _)| l))
        .or(labels.first())
        .ok_or_else(|| Unreadable("no labels".into()))?;
    let confidence = number(field(&object, "confidence"))
        .map(clamp_score)
        .or_else(|| scores.iter().find(|(l, _)| *l == label).map(|&(_, s)| s))
        .unwrap_or(DEFAULT_CONFIDENCE);
    Ok(Classification { label: label.clone(), sentiment: given_sentiment.unwrap_or(Sentiment::Neutral), confidence })
}

/// The value under `label` in `scores`: the exact key, else the key equal in normal form.
fn field_exact_or_normal<'a>(scores: &'a Map<String, Value>, label: &str) -> Option<&'a Value> {
    scores.get(label).or_else(|| scores.iter().find(|(k, _)| normal(k) == normal(label)).map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn json_is_found_in_a_fence_amid_prose_or_alone() {
        let plain = r#"{"toxicity": 0.2}"#;
        let fenced = "```json\n{\"toxicity\": 0.2}\n```";
        let prose = "Sure! Here is the verdict: {\"toxicity\": 0.2} Let me know {if} more.";
        let after_a_false_start = "Note {not json} then {\"toxicity\": 0.2}";
        for raw in [plain, fenced, prose, after_a_false_start] {
            assert_eq!(find_object(raw).unwrap()["toxicity"], 0.2, "{raw}");
        }
        assert!(find_object("no json here").is_none());
        assert!(find_object("[1, 2]").is_none());
        assert!(find_object("{\"unterminated\": ").is_none());
        let buried = format!("{}{{\"toxicity\": 0.2}}", "{ ".repeat(MAX_OBJECT_STARTS));
        assert!(find_object(&buried).is_none(), "only the first {MAX_OBJECT_STARTS} braces are tried");
    }

    #[test]
    fn moderation_scores_are_clamped_and_toxicity_follows_the_categories() {
        let raw = r#"Result: ```{"flagged": "false", "toxicity": 7, "categories": {"harassment": 1.5, "hate": -2, "self-harm": "0.3", "spam": null}, "issues": ["insult", "", 3]}```"#;
        let verdict = moderation(raw).unwrap();
        assert_eq!(verdict.toxicity, 1.0);
        assert!(verdict.flagged, "toxicity above the threshold flags, whatever the flag said");
        assert_eq!(verdict.categories.harassment, 1.0);
        assert_eq!(verdict.categories.hate, 0.0);
        assert_eq!(verdict.categories.self_harm, 0.3);
        assert_eq!(verdict.categories.spam, 0.0);
        assert_eq!(verdict.issues, vec!["insult".to_owned(), "3".to_owned()]);

        let low_toxicity_high_category = moderation(r#"{"toxicity": 0.1, "categories": {"violence": 0.8}}"#).unwrap();
        assert_eq!(low_toxicity_high_category.toxicity, 0.8);
        assert!(low_toxicity_high_category.flagged);

        let clean = moderation(r#"{"flagged": false, "toxicity": 0.02}"#).unwrap();
        assert!(!clean.flagged);
        assert_eq!(clean.categories, ModerationCategories::default());

        let nan_like = moderation(r#"{"toxicity": "NaN"}"#).unwrap();
        assert_eq!(nan_like.toxicity, 0.0);
    }

    #[test]
    fn moderation_without_anything_to_read_is_unreadable() {
        assert!(moderation("I think this text is fine.").is_err());
        assert!(moderation(r#"{"verdict": "fine"}"#).is_err());
    }

    #[test]
    fn an_unknown_label_becomes_the_closest_of_the_list() {
        let list = labels(&["Shipping", "Product quality", "Billing"]);
        let read = |raw: &str| classification(raw, &list).unwrap();
        assert_eq!(read(r#"{"label": "shipping", "sentiment": "Negative", "confidence": 0.9}"#).label, "Shipping");
        assert_eq!(read(r#"{"label": "quality", "sentiment": "neg"}"#).label, "Product quality");
        assert_eq!(read(r#"{"label": "Biling", "sentiment": "neutral"}"#).label, "Billing");
        // Nothing alike: the best of the scores, else the first label.
        let scored = read(r#"{"label": "weather", "scores": {"Billing": 0.7, "Shipping": 0.2}}"#);
        assert_eq!((scored.label.as_str(), scored.confidence), ("Billing", 0.7));
        let unknown = read(r#"{"label": "weather", "sentiment": "positive", "confidence": 3}"#);
        assert_eq!(unknown.label, "Shipping");
        assert_eq!(unknown.confidence, 1.0);
        assert_eq!(unknown.sentiment, Sentiment::Positive);
        let no_confidence = read(r#"{"label": "Billing"}"#);
        assert_eq!((no_confidence.sentiment, no_confidence.confidence), (Sentiment::Neutral, 0.5));
    }

    #[test]
    fn without_labels_the_label_is_the_sentiment() {
        let read = classification(r#"{"label": "whatever", "sentiment": "POSITIVE", "confidence": -1}"#, &[]).unwrap();
        assert_eq!(read.label, "positive");
        assert_eq!(read.sentiment, Sentiment::Positive);
        assert_eq!(read.confidence, 0.0);
        assert_eq!(classification(r#"{"label": "negative"}"#, &[]).unwrap().label, "negative");
        assert!(classification(r#"{"label": "happy-ish"}"#, &[]).is_err());
        assert!(classification("positive", &[]).is_err(), "no JSON object");
    }

    #[test]
    fn a_summary_never_exceeds_its_limit_and_cuts_at_a_boundary() {
        let text = "The desk is sturdy. It arrived late and the box was damaged, but support helped.";
        assert_eq!(summary(text, 200).unwrap(), text);
        assert_eq!(summary(text, 36).unwrap(), "The desk is sturdy.");
        // A sentence end under half the limit would waste it: a word boundary instead.
        assert_eq!(summary(text, 40).unwrap(), "The desk is sturdy. It arrived late and…");
        let cut = summary("One very long sentence without any stop that goes on and on", 20).unwrap();
        assert_eq!(cut, "One very long…");
        assert!(cut.chars().count() <= 20);
        assert_eq!(summary("Summary: \"Short.\"", 100).unwrap(), "Short.");
        assert!(summary("```\n\n```", 100).is_err());
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries_within_the_limit() {
        let text = "Ünïcödé wörds everywhere — 東京の店はとても素晴らしいです 😀😀😀 and more ëxtra wörds here";
        for limit in 1..=text.chars().count() + 2 {
            let cut = fit_chars(text, limit);
            assert!(cut.chars().count() <= limit, "{limit}: {cut}");
            assert!(!cut.is_empty());
        }
        let no_spaces = "東京の店はとても素晴らしいです東京の店はとても素晴らしいです";
        let cut = fit_chars(no_spaces, 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn generated_text_keeps_at_most_max_words_and_its_line_breaks() {
        assert_eq!(generated("Subject: Hi\n\nDear customer, welcome", 4).unwrap(), "Subject: Hi\n\nDear customer,");
        assert_eq!(generated("```\nfew words\n```", 10).unwrap(), "few words");
        assert!(generated("   ", 10).is_err());
    }
}
