//! Token estimates, for the history budget and for replies whose provider sent no usage:
//! OpenAI's `cl100k_base` vocabulary (tiktoken-rs ships it inside the crate, so nothing is
//! downloaded). Other models' tokenizers differ a little; an estimate is marked as one.
//!
//! Encoding is CPU work: callers run it on the blocking pool (`count_all`).

/// What the chat format adds per message (role markers), as OpenAI documents it.
const PER_MESSAGE_OVERHEAD: usize = 4;

/// The tokens of `text`.
pub fn count(text: &str) -> usize {
    tiktoken_rs::cl100k_base_singleton().encode_ordinary(text).len()
}

/// The tokens of `text` as one message of a chat prompt.
pub fn count_message(text: &str) -> usize {
    count(text) + PER_MESSAGE_OVERHEAD
}

/// `count_message` of each text, on the blocking pool (never on the request threads).
pub async fn count_all(texts: Vec<String>) -> Vec<usize> {
    let fallback: Vec<usize> = texts.iter().map(|t| t.len() / 3 + PER_MESSAGE_OVERHEAD).collect();
    tokio::task::spawn_blocking(move || texts.iter().map(|t| count_message(t)).collect())
        .await
        // The pool only fails when the runtime shuts down; a rough count is enough then.
        .unwrap_or(fallback)
}

/// The tokens of a prompt (its messages) and of its reply, on the blocking pool.
pub async fn estimate_turn(prompt: Vec<String>, reply: String) -> (usize, usize) {
    let rough = (prompt.iter().map(|t| t.len() / 3 + PER_MESSAGE_OVERHEAD).sum(), reply.len() / 3);
    tokio::task::spawn_blocking(move || (prompt.iter().map(|t| count_message(t)).sum(), count(&reply)))
        .await
        .unwrap_or(rough)
}

/// The newest of `sizes` (given oldest first) whose sum fits `budget`: how many to keep,
/// counted from the end. Stops at the first that does not fit, so the history kept is
/// contiguous.
pub fn newest_fitting(sizes: &[usize], budget: usize) -> usize {
    let mut used = 0usize;
    let mut kept = 0;
    for size in sizes.iter().rev() {
        if used + size > budget {
            break;
        }
        used += size;
        kept += 1;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_the_bundled_vocabulary() {
        assert_eq!(count("hello world"), 2);
        assert_eq!(count(""), 0);
        assert_eq!(count_message("hello world"), 6);
    }

    #[test]
    fn the_newest_messages_that_fit_are_kept_contiguously() {
        assert_eq!(newest_fitting(&[10, 50, 20, 30], 60), 2);
        assert_eq!(newest_fitting(&[10, 50, 20, 30], 100), 3);
        assert_eq!(newest_fitting(&[10, 50, 20, 30], 10), 0);
        assert_eq!(newest_fitting(&[], 10), 0);
    }

    #[tokio::test]
    async fn counting_many_runs_off_the_request_threads() {
        assert_eq!(count_all(vec!["hello world".into(), String::new()]).await, vec![6, 4]);
        assert_eq!(estimate_turn(vec!["hello world".into(), "hi".into()], "hello world".into()).await, (11, 2));
    }
}
