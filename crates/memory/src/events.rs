//! The outbox, its dead letters and the record of handled events, in memory. State changes
//! append their events under the same lock as the change itself, so that, as in a database
//! transaction, there is no change without its events and no event without its change.

use crate::admin::page_of;
use crate::records::{Processing, StoredEvent};
use crate::store::{MemoryStore, State};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::cmp::Reverse;
use storefront_app::StoreError;
use storefront_app::ports::{
    Claim, DeadLetter, DeadLetters, EventOutbox, OutboxBacklog, OutboxEntry, Page, PageRequest, ProcessedEvents,
};
use storefront_domain::{DomainEvent, EventId};

impl State {
    /// Appends the events of the change being made, in order.
    pub(crate) fn append_events(&mut self, events: Vec<DomainEvent>) {
        self.outbox.extend(events.into_iter().map(|event| StoredEvent {
            available_at: event.occurred_at,
            event,
            attempts: 0,
            last_error: None,
            published_at: None,
            handled_at: None,
            dead_at: None,
        }));
    }
}

#[async_trait]
impl EventOutbox for MemoryStore {
    async fn lease_due(
        &self,
        limit: usize,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut state = self.state.lock().await;
        let mut leased = Vec::new();
        for stored in state.outbox.iter_mut().filter(|s| s.is_owed() && s.available_at <= now).take(limit) {
            stored.available_at = now + lease;
            leased.push(OutboxEntry { event: stored.event.clone(), attempts: stored.attempts });
        }
        Ok(leased)
    }

    async fn release(&self, ids: &[EventId], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        for stored in state.outbox.iter_mut().filter(|s| ids.contains(&s.event.id) && s.is_owed()) {
            stored.available_at = stored.available_at.min(now);
        }
        Ok(())
    }

    async fn mark_published(
        &self,
        ids: &[EventId],
        now: DateTime<Utc>,
        redeliver_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        for stored in state.outbox.iter_mut().filter(|s| ids.contains(&s.event.id) && s.is_owed()) {
            stored.published_at = Some(now);
            stored.available_at = redeliver_at;
        }
        Ok(())
    }

    async fn redeliver_published(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state.lock().await;
        let mut due = 0;
        for stored in
            state.outbox.iter_mut().filter(|s| s.is_owed() && s.published_at.is_some() && s.available_at > now)
        {
            stored.available_at = now;
            due += 1;
        }
        Ok(due)
    }

    async fn mark_handled(&self, ids: &[EventId], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        for stored in state.outbox.iter_mut().filter(|s| ids.contains(&s.event.id) && s.is_owed()) {
            stored.handled_at = Some(now);
        }
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: EventId,
        error: &str,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if let Some(stored) = state.outbox.iter_mut().find(|s| s.event.id == id && s.is_owed()) {
            stored.attempts = attempts;
            stored.last_error = Some(error.to_owned());
            match retry_at {
                Some(at) => stored.available_at = at,
                None => stored.dead_at = Some(now),
            }
        }
        Ok(())
    }

    async fn backlog(&self) -> Result<OutboxBacklog, StoreError> {
        let state = self.state.lock().await;
        let owed = state.outbox.iter().filter(|s| s.is_owed());
        Ok(OutboxBacklog { owed: owed.clone().count() as u64, oldest_owed_at: owed.map(|s| s.event.occurred_at).min() })
    }

    async fn events(&self, page: PageRequest) -> Result<Page<DomainEvent>, StoreError> {
        let state = self.state.lock().await;
        let page = page_of(state.outbox.iter().collect(), page);
        Ok(Page { items: page.items.into_iter().map(|s| s.event.clone()).collect(), total: page.total })
    }

    async fn purge_handled(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state.lock().await;
        let count = state.outbox.len();
        state.outbox.retain(|s| s.handled_at.is_none_or(|at| at >= before));
        Ok((count - state.outbox.len()) as u64)
    }
}

#[async_trait]
impl DeadLetters for MemoryStore {
    async fn list(&self, page: PageRequest) -> Result<Page<DeadLetter>, StoreError> {
        let state = self.state.lock().await;
        let mut dead: Vec<DeadLetter> = state
            .outbox
            .iter()
            .filter_map(|s| {
                s.dead_at.map(|failed_at| DeadLetter {
                    event: s.event.clone(),
                    error: s.last_error.clone().unwrap_or_default(),
                    attempts: s.attempts,
                    failed_at,
                })
            })
            .collect();
        dead.sort_by_key(|d| Reverse((d.failed_at, d.event.id)));
        Ok(page_of(dead, page))
    }

    async fn retry(&self, id: EventId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.state.lock().await;
        match state.outbox.iter_mut().find(|s| s.event.id == id && s.dead_at.is_some()) {
            Some(stored) => {
                stored.dead_at = None;
                stored.attempts = 0;
                stored.available_at = now;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl ProcessedEvents for MemoryStore {
    async fn is_processed(&self, handler: &str, event: EventId) -> Result<bool, StoreError> {
        let state = self.state.lock().await;
        Ok(state.processed.get(&(handler.to_owned(), event)).is_some_and(|p| p.processed_at.is_some()))
    }

    async fn claim(
        &self,
        handler: &str,
        event: EventId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut state = self.state.lock().await;
        let record = state
            .processed
            .entry((handler.to_owned(), event))
            .or_insert(Processing { processed_at: None, claimed_until: None });
        if record.processed_at.is_some() {
            return Ok(Claim::Done);
        }
        if record.claimed_until.is_some_and(|held| held > now) {
            return Ok(Claim::Busy);
        }
        record.claimed_until = Some(until);
        Ok(Claim::Mine)
    }

    async fn release_claim(&self, handler: &str, event: EventId) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let key = (handler.to_owned(), event);
        if state.processed.get(&key).is_some_and(|p| p.processed_at.is_none()) {
            state.processed.remove(&key);
        }
        Ok(())
    }

    async fn mark_processed(&self, handler: &str, event: EventId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let record = state
            .processed
            .entry((handler.to_owned(), event))
            .or_insert(Processing { processed_at: None, claimed_until: None });
        record.processed_at.get_or_insert(now);
        Ok(())
    }

    async fn purge_processed(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state.lock().await;
        let count = state.processed.len();
        state.processed.retain(|_, p| match p.processed_at {
            Some(at) => at >= before,
            None => p.claimed_until.is_some_and(|until| until >= before),
        });
        Ok((count - state.processed.len()) as u64)
    }
}
