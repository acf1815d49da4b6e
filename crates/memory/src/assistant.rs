//! `ConversationRepository` over the in-memory state: conversations, their messages and
//! each user's daily usage, deleted with their user (`State::remove_user`).

use crate::admin::page_of;
use crate::store::MemoryStore;
use async_trait::async_trait;
use chrono::NaiveDate;
use storefront_app::StoreError;
use storefront_app::ports::{ConversationRepository, NewConversation, Page, PageRequest, UsageDelta};
use storefront_domain::{ChatMessage, Conversation, ConversationId, DailyUsage, UserId};

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
        let day = data.usage.entry((owner, usage.day)).or_default();
        day.requests += usage.requests;
        day.prompt_tokens += usage.prompt_tokens;
        day.completion_tokens += usage.completion_tokens;
        Ok(())
    }

    async fn add_usage(&self, owner: UserId, usage: UsageDelta) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if !state.users.contains_key(&owner) {
            return Err(StoreError::InvalidReference("user_id".into()));
        }
        let day = state.assistant.usage.entry((owner, usage.day)).or_default();
        day.requests += usage.requests;
        day.prompt_tokens += usage.prompt_tokens;
        day.completion_tokens += usage.completion_tokens;
        Ok(())
    }

    async fn usage_on(&self, owner: UserId, day: NaiveDate) -> Result<DailyUsage, StoreError> {
        Ok(self.state.lock().await.assistant.usage.get(&(owner, day)).copied().unwrap_or_default())
    }
}
