//! Free text that users write (descriptions, review bodies, role descriptions) and search
//! terms: the characters every such text must keep out before it is stored or searched.

use crate::ValidationError;

/// The line breaks and tab that multi-line text may hold; every other control character
/// (NUL, which PostgreSQL cannot store in `text`, escape sequences, C1 controls) is refused.
fn allowed_in_free_text(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

/// Multi-line text of at most `max` characters (may be empty), as written.
pub fn free_text(raw: &str, max: usize) -> Result<&str, ValidationError> {
    if raw.chars().count() > max {
        return Err(ValidationError::TooLong { max });
    }
    if !raw.chars().all(allowed_in_free_text) {
        return Err(ValidationError::Other(
            "must not contain control characters other than tab and line breaks".into(),
        ));
    }
    Ok(raw)
}

/// A search term: one line, so no control character at all.
pub fn search_term(raw: &str) -> Result<&str, ValidationError> {
    if raw.chars().any(char::is_control) {
        return Err(ValidationError::Other("must not contain control characters".into()));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_keeps_line_breaks_and_tabs_and_refuses_other_controls() {
        assert_eq!(free_text("Solid walnut.\r\n\tOiled.", 100), Ok("Solid walnut.\r\n\tOiled."));
        assert_eq!(free_text("", 10), Ok(""));
        for bad in ["nul\u{0}", "escape\u{1b}[31m", "c1\u{85}", "del\u{7f}"] {
            assert!(free_text(bad, 100).is_err(), "{bad:?}");
        }
        assert_eq!(free_text("ééé", 3), Ok("ééé"));
        assert_eq!(free_text("éééé", 3), Err(ValidationError::TooLong { max: 3 }));
    }

    #[test]
    fn a_search_term_is_one_line() {
        assert_eq!(search_term("walnut desk"), Ok("walnut desk"));
        for bad in ["a\nb", "nul\u{0}", "tab\t"] {
            assert!(search_term(bad).is_err(), "{bad:?}");
        }
    }
}
