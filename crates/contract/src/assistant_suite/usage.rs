//! Contract of the usage half of `ConversationRepository`: usage kept per user, day,
//! provider and model (summed over providers for the daily budget), recorded with or
//! without a message, and the report over a period.

use crate::AssistantStores;
use crate::suite::support::new_user;
use chrono::NaiveDate;
use storefront_app::StoreError;
use storefront_app::ports::{ProviderDayUsage, UsageDelta};
use storefront_domain::{DailyUsage, User, UserId};
use uuid::Uuid;

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, n).unwrap()
}

fn used(on: NaiveDate, provider: &str, model: &str, requests: u64, prompt: u64, completion: u64) -> UsageDelta {
    UsageDelta {
        day: on,
        provider: provider.into(),
        model: model.into(),
        requests,
        prompt_tokens: prompt,
        completion_tokens: completion,
    }
}

async fn create_user(stores: &AssistantStores, email: &str) -> User {
    stores.users.create(new_user(email)).await.unwrap()
}

pub async fn usage_is_kept_per_provider_and_model_and_summed_for_the_budget(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let usage = &stores.conversations;
    usage.record_usage(ada.id, &used(day(7), "openai", "gpt-4o-mini", 1, 100, 20)).await.unwrap();
    usage.record_usage(ada.id, &used(day(7), "openai", "gpt-4o-mini", 1, 50, 10)).await.unwrap();
    usage.record_usage(ada.id, &used(day(7), "builtin", "builtin", 2, 5, 5)).await.unwrap();
    usage.record_usage(ada.id, &used(day(8), "openai", "gpt-4o-mini", 1, 1, 1)).await.unwrap();

    let today = usage.usage_on(ada.id, day(7)).await.unwrap();
    assert_eq!(today, DailyUsage { requests: 4, prompt_tokens: 155, completion_tokens: 35 });
    let report = usage.usage_report(day(7), day(7), 10).await.unwrap();
    let rows: Vec<(&str, &str, DailyUsage)> =
        report.days.iter().map(|d| (d.provider.as_str(), d.model.as_str(), d.usage)).collect();
    assert_eq!(
        rows,
        vec![
            ("builtin", "builtin", DailyUsage { requests: 2, prompt_tokens: 5, completion_tokens: 5 }),
            ("openai", "gpt-4o-mini", DailyUsage { requests: 2, prompt_tokens: 150, completion_tokens: 30 }),
        ]
    );
}

pub async fn recording_usage_for_an_unknown_user_is_an_invalid_reference(stores: AssistantStores) {
    let ghost = UserId(Uuid::now_v7());
    let err = stores.conversations.record_usage(ghost, &used(day(7), "builtin", "builtin", 1, 1, 1)).await.unwrap_err();
    assert_eq!(err, StoreError::InvalidReference("user_id".into()));
}

pub async fn the_report_sums_each_day_provider_and_model_in_the_period(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let bob = create_user(&stores, "bob@example.com").await;
    let usage = &stores.conversations;
    for (user, on, provider) in [
        (ada.id, day(5), "openai"),
        (bob.id, day(5), "openai"),
        (ada.id, day(6), "openai"),
        (bob.id, day(6), "builtin"),
        (ada.id, day(9), "openai"),
    ] {
        usage.record_usage(user, &used(on, provider, "m", 1, 10, 2)).await.unwrap();
    }

    let report = usage.usage_report(day(5), day(8), 10).await.unwrap();
    let expect = |on: NaiveDate, provider: &str, n: u64| ProviderDayUsage {
        day: on,
        provider: provider.into(),
        model: "m".into(),
        usage: DailyUsage { requests: n, prompt_tokens: 10 * n, completion_tokens: 2 * n },
    };
    assert_eq!(
        report.days,
        vec![expect(day(5), "openai", 2), expect(day(6), "builtin", 1), expect(day(6), "openai", 1)],
        "oldest day first, then provider; day 9 is outside"
    );
    let empty = usage.usage_report(day(1), day(4), 10).await.unwrap();
    assert!(empty.days.is_empty() && empty.top_users.is_empty());
}

pub async fn the_report_ranks_users_by_tokens_in_the_period(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let bob = create_user(&stores, "bob@example.com").await;
    let cy = create_user(&stores, "cy@example.com").await;
    let idle = create_user(&stores, "idle@example.com").await;
    let usage = &stores.conversations;
    usage.record_usage(ada.id, &used(day(5), "openai", "m", 3, 100, 50)).await.unwrap();
    usage.record_usage(bob.id, &used(day(5), "openai", "m", 1, 300, 0)).await.unwrap();
    usage.record_usage(bob.id, &used(day(6), "builtin", "b", 1, 10, 10)).await.unwrap();
    usage.record_usage(cy.id, &used(day(6), "openai", "m", 1, 20, 0)).await.unwrap();
    // Outside the period: would put Cy first.
    usage.record_usage(cy.id, &used(day(9), "openai", "m", 1, 10_000, 0)).await.unwrap();
    // Requests without tokens do not rank.
    usage.record_usage(idle.id, &used(day(5), "openai", "m", 5, 0, 0)).await.unwrap();

    let report = usage.usage_report(day(5), day(8), 2).await.unwrap();
    let ranked: Vec<(UserId, &str, u64, u64)> =
        report.top_users.iter().map(|u| (u.user_id, u.email.as_str(), u.usage.tokens(), u.usage.requests)).collect();
    assert_eq!(ranked, vec![(bob.id, "bob@example.com", 320, 2), (ada.id, "ada@example.com", 150, 3)]);
    assert_eq!(report.top_users[0].name, bob.name.as_str());
    let all = usage.usage_report(day(5), day(8), 10).await.unwrap();
    assert_eq!(all.top_users.iter().map(|u| u.user_id).collect::<Vec<_>>(), vec![bob.id, ada.id, cy.id]);
}
