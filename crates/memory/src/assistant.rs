//! `ConversationRepository` over the in-memory state: conversations, their messages and
//! each user's daily usage per provider and model, deleted with their user
//! (`State::remove_user`); and `ReviewSummaryRepository`, the review summaries, deleted with
//! their product.

use crate::admin::page_of;
use crate::records::AssistantData;
use crate::store::MemoryStore;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};
use storefront_app::StoreError;
use storefront_app::ports::{
    ConversationRepository, GeneratedSummary, NewConversation, Page, PageRequest, ProviderDayUsage,
    ReviewSummaryRepository, StoredReviewSummary, UsageDelta, UsageReport, UserUsage,
};
use storefront_domain::{ChatMessage, Conversation, ConversationId, DailyUsage, ProductId, RegenerationRule, UserId};

fn sorted_messages(messages: &[ChatMessage]) -> Vec<ChatMessage> {
    let mut sorted = messages.to_vec();
    sorted.sort_by_key(|m| (m.created_at, m.id));
    sorted
}

#[async_trait]
impl ConversationRepository for MemoryStore {
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, StoreError> {
        let mut state = self.state.lock().await;
        if !state.users.contains_key(&new.user_id) {
            return Err(StoreError::InvalidReference("user_id".into()));
        }
        if state.assistant.conversations.contains_key(&new.id) {
            return Err(StoreError::Conflict(format!("conversation {} already exists", new.id)));
        }
        let conversation = Conversation {
            id: new.id,
            user_id: new.user_id,
            title: new.title,
            created_at: new.now,
            updated_at: new.now,
            message_count: 0,
        };
        state.assistant.conversations.insert(new.id, conversation.clone());
        Ok(conversation)
    }

    async fn conversation(&self, id: ConversationId, owner: UserId) -> Result<Option<Conversation>, StoreError> {
        Ok(self.state.lock().await.assistant.owned(id, owner).cloned())
    }

    async fn conversations(&self, owner: UserId, page: PageRequest) -> Result<Page<Conversation>, StoreError> {
        let state = self.state.lock().await;
        let mut mine: Vec<Conversation> =
            state.assistant.conversations.values().filter(|c| c.user_id == owner).cloned().collect();
        mine.sort_by_key(|c| std::cmp::Reverse((c.updated_at, c.id)));
        Ok(page_of(mine, page))
    }

    async fn delete_conversation(&self, id: ConversationId, owner: UserId) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        state.assistant.owned(id, owner).ok_or(StoreError::NotFound)?;
        state.assistant.conversations.remove(&id);
        state.assistant.messages.remove(&id);
        Ok(())
    }

    async fn messages(
        &self,
        id: ConversationId,
        owner: UserId,
        page: PageRequest,
    ) -> Result<Page<ChatMessage>, StoreError> {
        let state = self.state.lock().await;
        state.assistant.owned(id, owner).ok_or(StoreError::NotFound)?;
        let messages = state.assistant.messages.get(&id).map(|m| sorted_messages(m)).unwrap_or_default();
        Ok(page_of(messages, page))
    }

    async fn recent_messages(&self, id: ConversationId, limit: u32) -> Result<Vec<ChatMessage>, StoreError> {
        let state = self.state.lock().await;
        let messages = state.assistant.messages.get(&id).map(|m| sorted_messages(m)).unwrap_or_default();
        let skip = messages.len().saturating_sub(limit as usize);
        Ok(messages.into_iter().skip(skip).collect())
    }

    async fn append_message(&self, owner: UserId, message: &ChatMessage, usage: UsageDelta) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let data = &mut state.assistant;
        data.owned(message.conversation_id, owner).ok_or(StoreError::NotFound)?;
        if data.messages.values().flatten().any(|m| m.id == message.id) {
            return Err(StoreError::Conflict(format!("message {} already exists", message.id)));
        }
        data.messages.entry(message.conversation_id).or_default().push(message.clone());
        if let Some(conversation) = data.conversations.get_mut(&message.conversation_id) {
            conversation.message_count += 1;
            conversation.updated_at = message.created_at;
        }
        add_usage(data, owner, &usage);
        Ok(())
    }

    async fn usage_on(&self, owner: UserId, day: NaiveDate) -> Result<DailyUsage, StoreError> {
        let state = self.state.lock().await;
        Ok(state
            .assistant
            .usage
            .iter()
            .filter(|((user, on, ..), _)| *user == owner && *on == day)
            .fold(DailyUsage::default(), |sum, (_, usage)| plus(sum, usage)))
    }

    async fn record_usage(&self, owner: UserId, usage: &UsageDelta) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if !state.users.contains_key(&owner) {
            return Err(StoreError::InvalidReference("user_id".into()));
        }
        add_usage(&mut state.assistant, owner, usage);
        Ok(())
    }

    async fn usage_report(&self, from: NaiveDate, to: NaiveDate, top: u32) -> Result<UsageReport, StoreError> {
        let state = self.state.lock().await;
        let in_period = state.assistant.usage.iter().filter(|((_, day, ..), _)| *day >= from && *day <= to);
        let mut days: BTreeMap<(NaiveDate, String, String), DailyUsage> = BTreeMap::new();
        let mut users: HashMap<UserId, DailyUsage> = HashMap::new();
        for ((user, day, provider, model), usage) in in_period {
            let row = days.entry((*day, provider.clone(), model.clone())).or_default();
            *row = plus(*row, usage);
            let sum = users.entry(*user).or_default();
            *sum = plus(*sum, usage);
        }
        let mut ranked: Vec<(UserId, DailyUsage)> = users.into_iter().filter(|(_, u)| u.tokens() > 0).collect();
        ranked.sort_by_key(|(id, usage)| (std::cmp::Reverse(usage.tokens()), *id));
        let top_users = ranked
            .into_iter()
            .take(top as usize)
            .filter_map(|(id, usage)| {
                let user = &state.users.get(&id)?.user;
                Some(UserUsage {
                    user_id: id,
                    email: user.email.as_str().to_owned(),
                    name: user.name.as_str().to_owned(),
                    usage,
                })
            })
            .collect();
        let days = days
            .into_iter()
            .map(|((day, provider, model), usage)| ProviderDayUsage { day, provider, model, usage })
            .collect();
        Ok(UsageReport { days, top_users })
    }
}

fn plus(sum: DailyUsage, usage: &DailyUsage) -> DailyUsage {
    DailyUsage {
        requests: sum.requests + usage.requests,
        prompt_tokens: sum.prompt_tokens + usage.prompt_tokens,
        completion_tokens: sum.completion_tokens + usage.completion_tokens,
    }
}

fn add_usage(data: &mut AssistantData, owner: UserId, usage: &UsageDelta) {
    let key = (owner, usage.day, usage.provider.clone(), usage.model.clone());
    let day = data.usage.entry(key).or_default();
    day.requests += usage.requests;
    day.prompt_tokens += usage.prompt_tokens;
    day.completion_tokens += usage.completion_tokens;
}

#[async_trait]
impl ReviewSummaryRepository for MemoryStore {
    async fn review_summary(&self, product: ProductId) -> Result<Option<StoredReviewSummary>, StoreError> {
        Ok(self.state.lock().await.assistant.summaries.get(&product).map(|(summary, _)| summary.clone()))
    }

    async fn mark_summary_stale(&self, product: ProductId) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if !state.products.contains_key(&product) {
            return Err(StoreError::NotFound);
        }
        let (summary, revision) = state.assistant.summaries.entry(product).or_insert_with(|| (empty(product), 0));
        summary.stale = true;
        *revision += 1;
        Ok(())
    }

    async fn claim_summary_regeneration(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        rule: RegenerationRule,
    ) -> Result<Option<i64>, StoreError> {
        let mut state = self.state.lock().await;
        if !state.products.contains_key(&product) {
            return Err(StoreError::NotFound);
        }
        let (summary, revision) = state.assistant.summaries.entry(product).or_insert_with(|| (empty(product), 0));
        if !rule.allows(summary.claimed_at, now) {
            return Ok(None);
        }
        summary.claimed_at = Some(now);
        Ok(Some(*revision))
    }

    async fn store_review_summary(&self, product: ProductId, generated: &GeneratedSummary) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let (summary, revision) = state.assistant.summaries.get_mut(&product).ok_or(StoreError::NotFound)?;
        summary.summary = Some(generated.summary.clone());
        summary.review_count = generated.review_count;
        summary.rating_avg = generated.rating_avg;
        summary.generated_at = Some(generated.generated_at);
        summary.provider = Some(generated.provider.clone());
        summary.model = Some(generated.model.clone());
        summary.stale = *revision != generated.revision;
        Ok(())
    }
}

/// A product's row before any summary: stale, never claimed.
fn empty(product: ProductId) -> StoredReviewSummary {
    StoredReviewSummary {
        product_id: product,
        summary: None,
        review_count: 0,
        rating_avg: None,
        generated_at: None,
        provider: None,
        model: None,
        stale: true,
        claimed_at: None,
    }
}
