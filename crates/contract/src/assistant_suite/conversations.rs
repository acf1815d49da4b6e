//! Contract of `ConversationRepository`: conversations owned by one user (invisible to
//! others), their messages oldest first, the daily usage a stored message (or a text
//! utility's call, without a message) adds to, and
//! everything gone with the conversation or the account.

use crate::AssistantStores;
use crate::suite::support::{new_user, now};
use chrono::{Duration, NaiveDate};
use storefront_app::StoreError;
use storefront_app::ports::{AuditContext, NewConversation, PageRequest, UsageDelta};
use storefront_domain::{
    ChatMessage, ChatMessageId, ChatRole, Conversation, ConversationId, DailyUsage, MessageStatus, TokenUsage, User,
    UserId,
};
use uuid::Uuid;

fn all() -> PageRequest {
    PageRequest { limit: 100, offset: 0 }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
}

async fn create_user(stores: &AssistantStores, email: &str) -> User {
    stores.users.create(new_user(email)).await.unwrap()
}

async fn create_conversation(stores: &AssistantStores, owner: UserId, title: Option<&str>) -> Conversation {
    let new = NewConversation {
        id: ConversationId(Uuid::now_v7()),
        user_id: owner,
        title: title.map(str::to_owned),
        now: now(),
    };
    stores.conversations.create_conversation(new).await.unwrap()
}

fn message(conversation: ConversationId, role: ChatRole, content: &str, offset_ms: i64) -> ChatMessage {
    let assistant = role == ChatRole::Assistant;
    ChatMessage {
        id: ChatMessageId(Uuid::now_v7()),
        conversation_id: conversation,
        role,
        content: content.to_owned(),
        status: if assistant { MessageStatus::Interrupted } else { MessageStatus::Complete },
        provider: assistant.then(|| "openai".to_owned()),
        model: assistant.then(|| "smollm2".to_owned()),
        usage: assistant.then_some(TokenUsage { prompt_tokens: 30, completion_tokens: 7, estimated: true }),
        created_at: now() + Duration::milliseconds(offset_ms),
    }
}

fn request() -> UsageDelta {
    UsageDelta {
        day: day(),
        provider: "openai".into(),
        model: "smollm2".into(),
        requests: 1,
        prompt_tokens: 0,
        completion_tokens: 0,
    }
}

fn tokens(prompt: u64, completion: u64) -> UsageDelta {
    UsageDelta { requests: 0, prompt_tokens: prompt, completion_tokens: completion, ..request() }
}

pub async fn a_created_conversation_is_read_back_by_its_owner_only(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let bob = create_user(&stores, "bob@example.com").await;
    let created = create_conversation(&stores, ada.id, Some("Desks")).await;

    assert_eq!(created.title.as_deref(), Some("Desks"));
    assert_eq!((created.message_count, created.updated_at), (0, created.created_at));
    assert_eq!(stores.conversations.conversation(created.id, ada.id).await.unwrap(), Some(created.clone()));
    assert_eq!(stores.conversations.conversation(created.id, bob.id).await.unwrap(), None);
    let unknown = ConversationId(Uuid::now_v7());
    assert_eq!(stores.conversations.conversation(unknown, ada.id).await.unwrap(), None);
}

pub async fn a_conversation_for_an_unknown_user_is_an_invalid_reference(stores: AssistantStores) {
    let new = NewConversation {
        id: ConversationId(Uuid::now_v7()),
        user_id: UserId(Uuid::now_v7()),
        title: None,
        now: now(),
    };
    let err = stores.conversations.create_conversation(new).await.unwrap_err();
    assert_eq!(err, StoreError::InvalidReference("user_id".into()));
}

pub async fn messages_are_stored_oldest_first_and_bump_the_conversation(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let chat = create_conversation(&stores, ada.id, None).await;
    let question = message(chat.id, ChatRole::User, "A desk?", 1);
    let answer = message(chat.id, ChatRole::Assistant, "The walnut desk.", 2);
    stores.conversations.append_message(ada.id, &question, request()).await.unwrap();
    stores.conversations.append_message(ada.id, &answer, tokens(30, 7)).await.unwrap();

    let page = stores.conversations.messages(chat.id, ada.id, all()).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items, vec![question.clone(), answer.clone()], "every field as stored");
    let second = stores.conversations.messages(chat.id, ada.id, PageRequest { limit: 1, offset: 1 }).await.unwrap();
    assert_eq!((second.total, second.items), (2, vec![answer.clone()]));

    let bumped = stores.conversations.conversation(chat.id, ada.id).await.unwrap().unwrap();
    assert_eq!((bumped.message_count, bumped.updated_at), (2, answer.created_at));
}

pub async fn the_recent_messages_are_the_newest_ones_oldest_first(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let chat = create_conversation(&stores, ada.id, None).await;
    let mut stored = Vec::new();
    for i in 0..5 {
        let m = message(chat.id, ChatRole::User, &format!("message {i}"), i);
        stores.conversations.append_message(ada.id, &m, request()).await.unwrap();
        stored.push(m);
    }
    let recent = stores.conversations.recent_messages(chat.id, 3).await.unwrap();
    assert_eq!(recent, stored[2..].to_vec());
    assert_eq!(stores.conversations.recent_messages(chat.id, 10).await.unwrap().len(), 5);
}

pub async fn another_users_conversation_cannot_be_read_written_or_deleted(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let bob = create_user(&stores, "bob@example.com").await;
    let chat = create_conversation(&stores, ada.id, None).await;
    let intruding = message(chat.id, ChatRole::User, "hello", 1);

    let err = stores.conversations.append_message(bob.id, &intruding, request()).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound);
    assert_eq!(stores.conversations.messages(chat.id, bob.id, all()).await.unwrap_err(), StoreError::NotFound);
    assert_eq!(stores.conversations.delete_conversation(chat.id, bob.id).await.unwrap_err(), StoreError::NotFound);

    assert_eq!(stores.conversations.messages(chat.id, ada.id, all()).await.unwrap().total, 0, "nothing stored");
    assert_eq!(stores.conversations.usage_on(bob.id, day()).await.unwrap(), DailyUsage::default(), "nothing counted");
    assert!(stores.conversations.conversation(chat.id, ada.id).await.unwrap().is_some(), "not deleted");
}

pub async fn a_message_id_is_stored_once(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let chat = create_conversation(&stores, ada.id, None).await;
    let m = message(chat.id, ChatRole::User, "hello", 1);
    stores.conversations.append_message(ada.id, &m, request()).await.unwrap();
    let err = stores.conversations.append_message(ada.id, &m, request()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(stores.conversations.usage_on(ada.id, day()).await.unwrap().requests, 1, "counted once");
}

pub async fn conversations_are_listed_most_recently_updated_first_and_paginated(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let bob = create_user(&stores, "bob@example.com").await;
    let first = create_conversation(&stores, ada.id, Some("first")).await;
    let second = create_conversation(&stores, ada.id, Some("second")).await;
    let third = create_conversation(&stores, ada.id, Some("third")).await;
    create_conversation(&stores, bob.id, Some("bob's")).await;
    // The first one gets a message later than every creation: it moves to the top.
    let later = message(first.id, ChatRole::User, "again", 60_000);
    stores.conversations.append_message(ada.id, &later, request()).await.unwrap();

    let page = stores.conversations.conversations(ada.id, all()).await.unwrap();
    let titles: Vec<_> = page.items.iter().map(|c| c.title.clone().unwrap()).collect();
    assert_eq!(titles, vec!["first", "third", "second"]);
    assert_eq!(page.total, 3);
    let middle = stores.conversations.conversations(ada.id, PageRequest { limit: 1, offset: 1 }).await.unwrap();
    assert_eq!((middle.total, middle.items.iter().map(|c| c.id).collect::<Vec<_>>()), (3, vec![third.id]));
    let _ = second;
}

pub async fn deleting_a_conversation_deletes_its_messages(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let chat = create_conversation(&stores, ada.id, None).await;
    let kept = create_conversation(&stores, ada.id, None).await;
    stores.conversations.append_message(ada.id, &message(chat.id, ChatRole::User, "x", 1), request()).await.unwrap();
    stores.conversations.append_message(ada.id, &message(kept.id, ChatRole::User, "y", 1), request()).await.unwrap();

    stores.conversations.delete_conversation(chat.id, ada.id).await.unwrap();

    assert_eq!(stores.conversations.conversation(chat.id, ada.id).await.unwrap(), None);
    assert_eq!(stores.conversations.messages(chat.id, ada.id, all()).await.unwrap_err(), StoreError::NotFound);
    assert!(stores.conversations.recent_messages(chat.id, 10).await.unwrap().is_empty());
    assert_eq!(stores.conversations.messages(kept.id, ada.id, all()).await.unwrap().total, 1);
    let late = message(chat.id, ChatRole::Assistant, "too late", 2);
    let err = stores.conversations.append_message(ada.id, &late, tokens(1, 1)).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound, "a reply to a deleted conversation is not stored");
    assert_eq!(stores.conversations.delete_conversation(chat.id, ada.id).await.unwrap_err(), StoreError::NotFound);
}

pub async fn usage_adds_up_per_user_and_day(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let bob = create_user(&stores, "bob@example.com").await;
    let chat = create_conversation(&stores, ada.id, None).await;
    stores.conversations.append_message(ada.id, &message(chat.id, ChatRole::User, "q", 1), request()).await.unwrap();
    let answer = message(chat.id, ChatRole::Assistant, "a", 2);
    stores.conversations.append_message(ada.id, &answer, tokens(30, 7)).await.unwrap();
    stores.conversations.append_message(ada.id, &message(chat.id, ChatRole::User, "q2", 3), request()).await.unwrap();
    let next_day = UsageDelta { day: day().succ_opt().unwrap(), ..tokens(5, 5) };
    stores
        .conversations
        .append_message(ada.id, &message(chat.id, ChatRole::Assistant, "a2", 4), next_day)
        .await
        .unwrap();

    let today = stores.conversations.usage_on(ada.id, day()).await.unwrap();
    assert_eq!(today, DailyUsage { requests: 2, prompt_tokens: 30, completion_tokens: 7 });
    let tomorrow = stores.conversations.usage_on(ada.id, day().succ_opt().unwrap()).await.unwrap();
    assert_eq!(tomorrow, DailyUsage { requests: 0, prompt_tokens: 5, completion_tokens: 5 });
    assert_eq!(stores.conversations.usage_on(bob.id, day()).await.unwrap(), DailyUsage::default());
}

pub async fn usage_without_a_message_adds_to_the_same_day(stores: AssistantStores) {
    let ada = create_user(&stores, "ada@example.com").await;
    let chat = create_conversation(&stores, ada.id, None).await;
    stores.conversations.append_message(ada.id, &message(chat.id, ChatRole::User, "q", 1), request()).await.unwrap();
    let call = UsageDelta {
        day: day(),
        provider: "builtin".into(),
        model: "builtin".into(),
        requests: 1,
        prompt_tokens: 12,
        completion_tokens: 3,
    };
    stores.conversations.record_usage(ada.id, &call).await.unwrap();
    stores.conversations.record_usage(ada.id, &call).await.unwrap();
    let today = stores.conversations.usage_on(ada.id, day()).await.unwrap();
    assert_eq!(today, DailyUsage { requests: 3, prompt_tokens: 24, completion_tokens: 6 });
    assert_eq!(chat.message_count, 0);
    assert_eq!(stores.conversations.conversation(chat.id, ada.id).await.unwrap().unwrap().message_count, 1);

    let nobody = UserId(Uuid::now_v7());
    let refused = stores.conversations.record_usage(nobody, &call).await;
    assert_eq!(refused, Err(StoreError::InvalidReference("user_id".into())));
    assert_eq!(stores.conversations.usage_on(nobody, day()).await.unwrap(), DailyUsage::default());
}

pub async fn deleting_the_account_deletes_its_conversations_messages_and_usage(stores: AssistantStores) {
    let admin = create_user(&stores, "root@example.com").await;
    let ada = create_user(&stores, "ada@example.com").await;
    let grace = create_user(&stores, "grace@example.com").await;
    let doomed = create_user(&stores, "doomed@example.com").await;
    for (user, by_admin) in [(ada.id, false), (doomed.id, true)] {
        let chat = create_conversation(&stores, user, None).await;
        stores.conversations.append_message(user, &message(chat.id, ChatRole::User, "q", 1), request()).await.unwrap();
        if by_admin {
            stores.user_admin.delete(user, AuditContext { actor: admin.id, now: now() }).await.unwrap();
        } else {
            stores.users.delete(user).await.unwrap();
        }
        assert_eq!(stores.conversations.conversations(user, all()).await.unwrap().total, 0);
        assert!(stores.conversations.recent_messages(chat.id, 10).await.unwrap().is_empty());
        assert_eq!(stores.conversations.usage_on(user, day()).await.unwrap(), DailyUsage::default());
    }
    let kept = create_conversation(&stores, grace.id, None).await;
    assert_eq!(stores.conversations.conversations(grace.id, all()).await.unwrap().items, vec![kept]);
}
