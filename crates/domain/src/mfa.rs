//! The second factor's rules: RFC 6238 time steps (30 s, one step of drift either way), a
//! code accepted at most once (a step is used only if it is later than the last one used),
//! and the recovery codes' count and spelling.

use chrono::{DateTime, Utc};

/// The length of one TOTP time step (RFC 6238's default, what authenticator apps use).
pub const TOTP_STEP_SECS: i64 = 30;

/// Steps of clock drift accepted either way.
pub const TOTP_DRIFT_STEPS: i64 = 1;

/// Recovery codes handed out when the second factor is turned on.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// The RFC 6238 time step `at` falls in (T = floor(unix time / 30)).
pub fn totp_step(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(TOTP_STEP_SECS)
}

/// The steps a code presented at `at` may belong to: the current one and its neighbours.
pub fn acceptable_steps(at: DateTime<Utc>) -> impl Iterator<Item = i64> {
    let now = totp_step(at);
    (now - TOTP_DRIFT_STEPS)..=(now + TOTP_DRIFT_STEPS)
}

/// Whether a code of `step` may be accepted after `last_used`: each code at most once, and
/// never one older than a code already used (a replayed or intercepted code is refused).
pub fn step_is_fresh(step: i64, last_used: Option<i64>) -> bool {
    last_used.is_none_or(|last| step > last)
}

/// A recovery code as compared: what the user typed, without spaces or dashes, lower case.
pub fn normalize_recovery_code(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// Whether `raw` has the shape of a TOTP code (six ASCII digits, spaces ignored) rather than
/// a recovery code.
pub fn looks_like_totp(raw: &str) -> bool {
    let digits: Vec<char> = raw.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.iter().all(char::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_thirty_seconds_with_one_step_of_drift() {
        let at = DateTime::from_timestamp(59, 0).unwrap();
        assert_eq!(totp_step(at), 1);
        assert_eq!(acceptable_steps(at).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(totp_step(DateTime::from_timestamp(1_111_111_109, 0).unwrap()), 37_037_036);
    }

    #[test]
    fn a_step_is_used_once_and_never_an_older_one() {
        assert!(step_is_fresh(5, None));
        assert!(step_is_fresh(6, Some(5)));
        assert!(!step_is_fresh(5, Some(5)));
        assert!(!step_is_fresh(4, Some(5)));
    }

    #[test]
    fn recovery_codes_compare_without_dashes_spaces_or_case() {
        assert_eq!(normalize_recovery_code(" AbCde-fGh12 "), "abcdefgh12");
        assert!(looks_like_totp("123 456") && !looks_like_totp("abcde-12345") && !looks_like_totp("12345"));
    }
}
