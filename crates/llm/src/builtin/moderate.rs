//! Moderation: rustrict's profanity and toxicity analysis, plus a few rules of our own for
//! what it does not look for (threats, self-harm, link and repetition spam).
//!
//! rustrict reports a severity (mild, moderate, severe) per kind; a severity scores 0.4,
//! 0.75 or 0.95. Its kinds map to the contract's categories: `mean` → harassment,
//! `profane` → harassment at 0.8 of its score (swearing is not always aimed at someone),
//! `offensive` (slurs) → hate, `sexual` → sexual, `evasive` (spelling tricks around the
//! filter) → harassment at 0.6, `spam` → spam. Our rules:
//!
//! - violence: a violent verb aimed at someone ("kill you", "i will stab", "going to hurt")
//!   0.9; a word of graphic violence alone ("murder", "massacre", "behead", "torture") 0.5;
//! - self-harm: an explicit phrase ("kill myself", "end my life", "want to die",
//!   "self harm") 0.9; "suicide"/"suicidal" alone 0.7;
//! - spam: links (1: 0.2, 2: 0.5, 3 or more: 0.8); shouting (at least 20 letters, 70%
//!   capitals) 0.4; one word making 30% of 10 or more words 0.6; a character repeated 10
//!   times 0.3; then 0.25 more per promotional phrase ("click here", "buy now", "promo
//!   code"…).
//!
//! Toxicity is the highest category; the text is flagged from `FLAG_THRESHOLD` (0.5). The
//! issues name what was found — kinds and our rules' phrases, never the slurs themselves.

use super::words::words;
use rustrict::{Censor, Type};
use serde_json::json;
use storefront_app::assistant::analysis::FLAG_THRESHOLD;

const VIOLENT_VERBS: &[&str] =
    &["kill", "murder", "stab", "shoot", "hurt", "beat", "punch", "strangle", "burn", "choke", "slap"];
const TARGETS: &[&str] = &["you", "u", "ya", "him", "her", "them", "everyone", "everybody", "people", "your"];
const INTENT: &[&str] = &["i will", "i'll", "ill", "gonna", "going to", "want to", "i'm going to"];
const GRAPHIC_VIOLENCE: &[&str] =
    &["murder", "massacre", "behead", "beheading", "torture", "slaughter", "bloodbath", "execute you"];
const SELF_HARM: &[&str] = &[
    "kill myself",
    "killing myself",
    "end my life",
    "ending my life",
    "take my own life",
    "want to die",
    "wanna die",
    "self harm",
    "hurt myself",
    "cut myself",
    "cutting myself",
    "don't want to live",
    "dont want to live",
];
const SUICIDE: &[&str] = &["suicide", "suicidal"];
const PROMOTION: &[&str] = &[
    "click here",
    "buy now",
    "order now",
    "limited offer",
    "limited time offer",
    "promo code",
    "discount code",
    "free money",
    "earn money",
    "make money",
    "work from home",
    "check out my",
    "visit my",
    "dm me",
    "100 free",
];

/// A verdict on `text`, as the JSON object the moderation prompt asks for.
pub fn moderate(text: &str) -> serde_json::Value {
    let mut issues: Vec<String> = Vec::new();
    let found = Censor::from_str(text).analyze();
    let severity = |kind: Type| -> (f64, &str) {
        if found.is(kind & Type::SEVERE) {
            (0.95, "severe")
        } else if found.is(kind & Type::MODERATE) {
            (0.75, "moderate")
        } else if found.is(kind & Type::MILD) {
            (0.4, "mild")
        } else {
            (0.0, "")
        }
    };
    let mut score_of = |kind: Type, what: &str| -> f64 {
        let (score, level) = severity(kind);
        if score > 0.0 {
            issues.push(format!("{what} ({level})"));
        }
        score
    };
    let mean = score_of(Type::MEAN, "insults or mean language");
    let profane = score_of(Type::PROFANE, "profanity");
    let hate = score_of(Type::OFFENSIVE, "hateful or offensive language");
    let sexual = score_of(Type::SEXUAL, "sexual content");
    let evasive = score_of(Type::EVASIVE, "words spelt to evade the filter");
    let lexicon_spam = score_of(Type::SPAM, "spam-like text");
    let harassment = mean.max(profane * 0.8).max(evasive * 0.6);

    // Our rules read the words joined by single spaces, padded, so phrases match whole words.
    let joined = format!(" {} ", words(text).collect::<Vec<_>>().join(" "));
    let has = |phrase: &str| joined.contains(&format!(" {phrase} "));
    let violence = violence(&has, &mut issues);
    let self_harm = self_harm(&has, &mut issues);
    let spam = lexicon_spam.max(spam(text, &joined, &has, &mut issues)).min(1.0);

    let toxicity = [harassment, hate, sexual, violence, self_harm, spam].into_iter().fold(0.0, f64::max);
    json!({
        "flagged": toxicity >= FLAG_THRESHOLD,
        "toxicity": toxicity,
        "categories": {
            "harassment": harassment,
            "hate": hate,
            "sexual": sexual,
            "violence": violence,
            "self_harm": self_harm,
            "spam": spam,
        },
        "issues": issues,
    })
}

fn violence(has: &impl Fn(&str) -> bool, issues: &mut Vec<String>) -> f64 {
    let threat = VIOLENT_VERBS.iter().find(|verb| {
        TARGETS.iter().any(|target| has(&format!("{verb} {target}")))
            || INTENT.iter().any(|intent| has(&format!("{intent} {verb}")))
    });
    if let Some(verb) = threat {
        issues.push(format!("threat of violence (\"{verb}\")"));
        return 0.9;
    }
    if let Some(word) = GRAPHIC_VIOLENCE.iter().find(|w| has(w)) {
        issues.push(format!("violent language (\"{word}\")"));
        return 0.5;
    }
    // "kill" alone ("this price kills it") is no threat.
    0.0
}

fn self_harm(has: &impl Fn(&str) -> bool, issues: &mut Vec<String>) -> f64 {
    if let Some(phrase) = SELF_HARM.iter().find(|p| has(p)) {
        issues.push(format!("self-harm (\"{phrase}\")"));
        return 0.9;
    }
    if let Some(word) = SUICIDE.iter().find(|w| has(w)) {
        issues.push(format!("self-harm (\"{word}\")"));
        return 0.7;
    }
    0.0
}

fn spam(text: &str, joined: &str, has: &impl Fn(&str) -> bool, issues: &mut Vec<String>) -> f64 {
    let lower = text.to_lowercase();
    let links = lower.matches("http://").count() + lower.matches("https://").count() + lower.matches("www.").count()
        - lower.matches("://www.").count();
    let link_score = match links {
        0 => 0.0,
        1 => 0.2,
        2 => 0.5,
        _ => 0.8,
    };
    if links > 0 {
        issues.push(format!("{links} link{}", if links == 1 { "" } else { "s" }));
    }

    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let capitals = letters.iter().filter(|c| c.is_uppercase()).count();
    let shouting = if letters.len() >= 20 && capitals * 10 >= letters.len() * 7 {
        issues.push("written in capitals".into());
        0.4
    } else {
        0.0
    };

    let all: Vec<&str> = joined.split_whitespace().collect();
    let mut repetition = 0.0;
    if all.len() >= 10 {
        let mut counts = std::collections::HashMap::new();
        for word in all.iter().filter(|w| w.chars().count() > 1) {
            *counts.entry(*word).or_insert(0usize) += 1;
        }
        // The most repeated word, ties to the alphabetically first (deterministic).
        if let Some((word, n)) = counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            && n * 10 >= all.len() * 3
        {
            issues.push(format!("the word \"{word}\" repeated {n} times"));
            repetition = 0.6;
        }
    }
    let mut run = (None, 0usize);
    let mut longest_run = 0;
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        run = if run.0 == Some(c) { (run.0, run.1 + 1) } else { (Some(c), 1) };
        longest_run = longest_run.max(run.1);
    }
    if longest_run >= 10 {
        issues.push("a character repeated many times".into());
        repetition = f64::max(repetition, 0.3);
    }

    let promotions: Vec<&str> = PROMOTION.iter().copied().filter(|p| has(p)).collect();
    if !promotions.is_empty() {
        issues.push(format!("promotional phrases ({})", promotions.join(", ")));
    }
    let base: f64 = [link_score, shouting, repetition].into_iter().fold(0.0, f64::max);
    (base + 0.25 * promotions.len() as f64).min(1.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn verdict(text: &str) -> serde_json::Value {
        moderate(text)
    }

    #[test]
    fn a_friendly_review_is_not_flagged() {
        let v = verdict("Lovely desk, sturdy and easy to assemble. The delivery was quick. Thank you!");
        assert_eq!(v["flagged"], false, "{v}");
        assert_eq!(v["toxicity"], 0.0, "{v}");
        assert_eq!(v["issues"], json!([]));
    }

    #[test]
    fn an_insulting_review_is_flagged_as_harassment() {
        let v = verdict("You are a fucking idiot and your shop is shit.");
        assert_eq!(v["flagged"], true, "{v}");
        assert!(v["categories"]["harassment"].as_f64().unwrap() >= FLAG_THRESHOLD, "{v}");
        assert!(!v["issues"].as_array().unwrap().is_empty());
    }

    #[test]
    fn a_threat_is_violence_and_a_cry_for_help_is_self_harm() {
        let threat = verdict("If this parcel is late again I will kill you.");
        assert_eq!(threat["flagged"], true, "{threat}");
        assert_eq!(threat["categories"]["violence"], 0.9);
        let help = verdict("I feel like I want to end my life.");
        assert_eq!(help["flagged"], true, "{help}");
        assert_eq!(help["categories"]["self_harm"], 0.9);
        let figure_of_speech = verdict("This price kills the competition, a killer deal.");
        assert_eq!(figure_of_speech["categories"]["violence"], 0.0, "{figure_of_speech}");
    }

    #[test]
    fn links_and_promotions_are_spam() {
        let v = verdict("Click here https://a.example and https://b.example buy now at www.c.example");
        assert_eq!(v["flagged"], true, "{v}");
        assert_eq!(v["categories"]["spam"], 1.0, "{v}");
        let one_link = verdict("The manual is at https://example.com/manual.pdf, very useful.");
        assert_eq!(one_link["flagged"], false, "{one_link}");
        let repeated = verdict("buy buy buy buy buy buy buy buy this desk today please");
        assert!(repeated["categories"]["spam"].as_f64().unwrap() >= 0.6, "{repeated}");
    }

    #[test]
    fn it_is_deterministic() {
        let text = "Terrible service, you idiots. Visit my shop www.example.com";
        assert_eq!(moderate(text), moderate(text));
    }
}
