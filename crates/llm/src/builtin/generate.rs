//! Generation from templates: one per kind (email, blog post, product description) and
//! tone (neutral, playful, premium), filled with the request's keywords — its content words
//! (stop-words left out, one per stem), the most frequent first, then in order of
//! appearance, at most six. The first three are the topic, the rest the points. Pieces
//! (subject or title line, then sentences) are added while the text stays within
//! `max_words`; the first piece is cut to `max_words` if it alone is longer. A template
//! states no price, discount or guarantee.

use super::words::{count, is_stop_word, stem, words};
use storefront_domain::{GenerationKind, Tone};

/// The most keywords taken from a request, and how many of them name the topic.
const MAX_KEYWORDS: usize = 6;
const TOPIC_KEYWORDS: usize = 3;

/// The content words of `prompt`, most frequent first, then by first appearance.
pub fn keywords(prompt: &str) -> Vec<String> {
    let mut seen: Vec<(String, String, usize, usize)> = Vec::new(); // (stem, word, count, first)
    for (position, word) in words(prompt).enumerate() {
        if word.chars().count() < 3 || is_stop_word(&word) || !word.chars().any(char::is_alphabetic) {
            continue;
        }
        let stemmed = stem(&word);
        match seen.iter_mut().find(|(s, ..)| *s == stemmed) {
            Some(entry) => entry.2 += 1,
            None => seen.push((stemmed, word, 1, position)),
        }
    }
    seen.sort_by(|a, b| b.2.cmp(&a.2).then(a.3.cmp(&b.3)));
    seen.into_iter().take(MAX_KEYWORDS).map(|(_, word, ..)| word).collect()
}

/// "a", "a and b", "a, b and c".
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// The pieces of the text, in order, each with what joins it to the previous one.
fn pieces(kind: GenerationKind, tone: Tone, topic: &str, points: &str) -> Vec<(&'static str, String)> {
    let title = capitalised(topic);
    let points_line = |lead: &str| if points.is_empty() { None } else { Some(format!("{lead} {points}.")) };
    let mut out: Vec<(&'static str, Option<String>)> = match kind {
        GenerationKind::Email => {
            let (subject, greeting, opening, middle, closing) = match tone {
                Tone::Neutral => (
                    format!("Subject: {title}"),
                    "Hello,",
                    format!("We would like to tell you about {topic}."),
                    "Highlights:",
                    "You will find every detail in our shop.\n\nBest regards,\nThe Storefront team",
                ),
                Tone::Playful => (
                    format!("Subject: Psst… {topic} is here!"),
                    "Hi there!",
                    format!("Guess what just landed: {topic}, and we could not wait to tell you."),
                    "Why you will love it:",
                    "Come and have a look, we saved you a spot.\n\nCheers,\nThe Storefront team",
                ),
                Tone::Premium => (
                    format!("Subject: Introducing {title}"),
                    "Dear customer,",
                    format!("It is our pleasure to present {topic}, selected with care."),
                    "Distinguished by",
                    "We would be delighted to welcome you in our shop.\n\nWith our compliments,\nThe Storefront team",
                ),
            };
            vec![
                ("", Some(subject)),
                ("\n\n", Some(greeting.to_owned())),
                ("\n\n", Some(opening)),
                (" ", points_line(middle)),
                ("\n\n", Some(closing.to_owned())),
            ]
        }
        GenerationKind::BlogPost => {
            let (heading, opening, middle, closing) = match tone {
                Tone::Neutral => (
                    title.clone(),
                    format!("This post is about {topic}: what it is and why it matters."),
                    "The main points are",
                    "We hope this helps you choose; tell us what you think.",
                ),
                Tone::Playful => (
                    format!("{title}: let's talk about it!"),
                    format!("Grab a coffee, because today it is all about {topic}."),
                    "Here is the fun part:",
                    "That's it for today, see you in the next post!",
                ),
                Tone::Premium => (
                    format!("{title}, considered"),
                    format!("Some things deserve a closer look, and {topic} is one of them."),
                    "What sets it apart:",
                    "Quality is in the details, and we are glad to share them with you.",
                ),
            };
            vec![
                ("", Some(heading)),
                ("\n\n", Some(opening)),
                (" ", points_line(middle)),
                ("\n\n", Some(closing.to_owned())),
            ]
        }
        GenerationKind::ProductDescription => {
            let (opening, middle, closing) = match tone {
                Tone::Neutral => (format!("{title}."), "Features:", "A practical choice for everyday use."),
                Tone::Playful => {
                    (format!("Meet {topic}, your new favourite thing."), "It comes with", "Go on, treat yourself!")
                }
                Tone::Premium => (
                    format!("{title}, crafted for those who value the finest."),
                    "Refined details:",
                    "An understated statement of quality.",
                ),
            };
            vec![("", Some(opening)), (" ", points_line(middle)), (" ", Some(closing.to_owned()))]
        }
    };
    out.drain(..).filter_map(|(join, piece)| piece.map(|p| (join, p))).collect()
}

/// Text of `kind` in `tone` about `prompt`, at most `max_words` words.
pub fn generate(kind: GenerationKind, prompt: &str, max_words: usize, tone: Tone) -> String {
    let keywords = keywords(prompt);
    let topic = if keywords.is_empty() {
        // Nothing but stop-words: the request's own first words.
        prompt.split_whitespace().take(TOPIC_KEYWORDS).collect::<Vec<_>>().join(" ")
    } else {
        keywords.iter().take(TOPIC_KEYWORDS).cloned().collect::<Vec<_>>().join(" ")
    };
    let points = listed(keywords.get(TOPIC_KEYWORDS..).unwrap_or_default());
    let mut text = String::new();
    let mut used = 0;
    for (join, piece) in pieces(kind, tone, &topic, &points) {
        let words = count(&piece);
        if used + words > max_words {
            if used == 0 {
                text = piece.split_whitespace().take(max_words).collect::<Vec<_>>().join(" ");
            }
            break;
        }
        text.push_str(join);
        text.push_str(&piece);
        used += words;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "Announce our new bamboo toothbrush: biodegradable handle, soft bristles, \
        plastic-free packaging. The bamboo toothbrush ships worldwide.";

    #[test]
    fn keywords_are_the_frequent_content_words_first() {
        let found = keywords(PROMPT);
        assert_eq!(found[..2], ["bamboo".to_owned(), "toothbrush".to_owned()], "{found:?}");
        assert!(found.len() <= MAX_KEYWORDS);
        assert!(!found.iter().any(|w| is_stop_word(w)));
    }

    #[test]
    fn every_kind_and_tone_mentions_the_topic_within_max_words() {
        for kind in [GenerationKind::Email, GenerationKind::BlogPost, GenerationKind::ProductDescription] {
            for tone in [Tone::Neutral, Tone::Playful, Tone::Premium] {
                for max_words in [10, 25, 1000] {
                    let text = generate(kind, PROMPT, max_words, tone);
                    assert!(count(&text) <= max_words, "{kind:?} {tone:?} {max_words}: {text}");
                    let lower = text.to_lowercase();
                    assert!(lower.contains("bamboo"), "{kind:?} {tone:?} {max_words}: {text}");
                }
                let long = generate(kind, PROMPT, 1000, tone).to_lowercase();
                assert!(long.contains("toothbrush") && long.contains("biodegradable"), "{long}");
            }
        }
    }

    #[test]
    fn an_email_has_a_subject_line() {
        assert!(generate(GenerationKind::Email, PROMPT, 200, Tone::Neutral).starts_with("Subject: Bamboo toothbrush"));
    }

    #[test]
    fn a_request_of_stop_words_only_still_gets_text() {
        let text = generate(GenerationKind::ProductDescription, "it is what it is", 50, Tone::Neutral);
        assert!(!text.is_empty() && count(&text) <= 50, "{text}");
    }
}
