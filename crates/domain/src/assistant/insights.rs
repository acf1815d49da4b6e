//! The assistant's catalogue features: when a product's review summary may be generated
//! again (the debounce), the period an AI usage report covers, and what usage costs by
//! the configured price table.

use crate::FieldViolation;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// How often a product's review summary may be generated: at most once per `min_interval`
/// whatever the burst of reviews, readers and workers asking for it. Stores apply it to the
/// row they locked (`ReviewSummaryRepository::claim_summary_regeneration`), so it holds
/// across concurrent handlers and instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegenerationRule {
    pub min_interval: TimeDelta,
}

impl Default for RegenerationRule {
    fn default() -> Self {
        Self { min_interval: TimeDelta::seconds(60) }
    }
}

impl RegenerationRule {
    /// Whether a regeneration may start at `now`, the last one having been claimed at
    /// `last_claim` (`None`: never). A claim in the future (a clock that went back) waits
    /// out the interval from that claim too.
    pub fn allows(&self, last_claim: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match last_claim {
            None => true,
            Some(last) => now - last >= self.min_interval,
        }
    }
}

/// Whether a stored summary no longer describes the product's visible reviews: marked
/// stale by a review change, or made from another count or average than the product has
/// now (a review deleted or hidden by moderation changes both without a summary event).
pub fn summary_is_stale(
    marked_stale: bool,
    summarised_count: u64,
    summarised_avg: Option<f64>,
    current_count: u64,
    current_avg: Option<f64>,
) -> bool {
    marked_stale || summarised_count != current_count || summarised_avg != current_avg
}

/// The days (UTC, both included) an AI usage report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsagePeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl UsagePeriod {
    /// The longest period a report may cover, in days.
    pub const MAX_DAYS: i64 = 366;
    /// The period without `from` / `to`: the last 30 days, today included.
    pub const DEFAULT_DAYS: i64 = 30;

    /// `from..=to`, each defaulting from the other (or from `today`): `to` defaults to
    /// today, `from` to 29 days before `to`.
    ///
    /// # Errors
    /// `from` later than `to` (field `from`), or more than `MAX_DAYS` days (field `to`).
    pub fn new(from: Option<NaiveDate>, to: Option<NaiveDate>, today: NaiveDate) -> Result<Self, FieldViolation> {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| to - TimeDelta::days(Self::DEFAULT_DAYS - 1));
        if from > to {
            return Err(FieldViolation::new("from", "must not be later than `to`"));
        }
        if (to - from).num_days() + 1 > Self::MAX_DAYS {
            return Err(FieldViolation::new("to", format!("the period may cover at most {} days", Self::MAX_DAYS)));
        }
        Ok(Self { from, to })
    }
}

/// What one million tokens cost with one provider and model, in US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TokenPrice {
    pub prompt_per_million: f64,
    pub completion_per_million: f64,
}

/// The configured prices, per provider and model. A pair without a price costs nothing
/// (the builtin provider runs in process).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable {
    prices: Vec<(String, String, TokenPrice)>,
}

impl PriceTable {
    pub fn new(prices: Vec<(String, String, TokenPrice)>) -> Self {
        Self { prices }
    }

    pub fn price(&self, provider: &str, model: &str) -> Option<TokenPrice> {
        self.prices.iter().find(|(p, m, _)| p == provider && m == model).map(|(_, _, price)| *price)
    }

    /// What `prompt_tokens` and `completion_tokens` cost, in US dollars, rounded to
    /// millionths of a dollar (the price of one token at a dollar per million).
    pub fn cost(&self, provider: &str, model: &str, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        let Some(price) = self.price(provider, model) else {
            return 0.0;
        };
        let dollars = (prompt_tokens as f64 * price.prompt_per_million
            + completion_tokens as f64 * price.completion_per_million)
            / 1_000_000.0;
        (dollars * 1_000_000.0).round() / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn regeneration_waits_out_the_interval_from_the_last_claim() {
        let rule = RegenerationRule::default();
        assert!(rule.allows(None, at(0)));
        assert!(!rule.allows(Some(at(0)), at(0)));
        assert!(!rule.allows(Some(at(0)), at(59)));
        assert!(rule.allows(Some(at(0)), at(60)));
        // A clock that went back does not open the slot early.
        assert!(!rule.allows(Some(at(30)), at(0)));
    }

    #[test]
    fn a_summary_is_stale_when_marked_or_made_from_other_numbers() {
        assert!(!summary_is_stale(false, 3, Some(4.0), 3, Some(4.0)));
        assert!(summary_is_stale(true, 3, Some(4.0), 3, Some(4.0)));
        assert!(summary_is_stale(false, 3, Some(4.0), 2, Some(4.0)));
        assert!(summary_is_stale(false, 3, Some(4.0), 3, Some(3.5)));
    }

    #[test]
    fn the_period_defaults_to_the_last_thirty_days_and_is_bounded() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let period = UsagePeriod::new(None, None, today).unwrap();
        assert_eq!(period.to, today);
        assert_eq!(period.from, NaiveDate::from_ymd_opt(2026, 11, 7).unwrap());
        let later = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(UsagePeriod::new(Some(later), Some(today), today).unwrap_err().field, "from");
        let year_ago = NaiveDate::from_ymd_opt(2025, 12, 5).unwrap();
        assert_eq!(UsagePeriod::new(Some(year_ago), Some(today), today).unwrap_err().field, "to");
        let ok = NaiveDate::from_ymd_opt(2025, 12, 6).unwrap();
        assert!(UsagePeriod::new(Some(ok), Some(today), today).is_ok());
    }

    #[test]
    fn cost_follows_the_price_table_and_unpriced_pairs_cost_nothing() {
        let table = PriceTable::new(vec![(
            "openai".into(),
            "gpt-4o-mini".into(),
            TokenPrice { prompt_per_million: 0.15, completion_per_million: 0.6 },
        )]);
        assert_eq!(table.cost("openai", "gpt-4o-mini", 1_000_000, 500_000), 0.45);
        assert_eq!(table.cost("openai", "gpt-4o-mini", 10, 0), 0.000002);
        assert_eq!(table.cost("builtin", "builtin", 1_000_000, 1_000_000), 0.0);
        assert_eq!(table.cost("openai", "other", 1_000_000, 0), 0.0);
    }
}
