//! Domain events on a Redis Stream: `EventPublisher` (`XADD`, each entry carrying the event
//! id, its type and the whole event as JSON), `EventQueue` for one consumer of a consumer
//! group (`XREADGROUP`, `XAUTOCLAIM` of a dead consumer's entries, `XPENDING` + `XCLAIM` of
//! its own failed ones, `XACK`), failure counts in a hash every consumer sees, and
//! `DeadLetters` on a second stream.

use crate::connection::{RedisConnection, RedisError};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use redis::streams::{
    StreamAutoClaimReply, StreamClaimReply, StreamId, StreamInfoGroupsReply, StreamPendingCountReply, StreamRangeReply,
    StreamReadReply,
};
use storefront_app::StoreError;
use storefront_app::ports::{
    DeadLetter, DeadLetters, Delivery, EventPublisher, EventQueue, Page, PageRequest, QueueLag,
};
use storefront_domain::{DomainEvent, EventId};
use tokio::sync::OnceCell;

/// About how many entries the event stream keeps (`MAXLEN ~`): acknowledged entries are
/// not needed once every group has read them; far more than any backlog.
const STREAM_MAX_LEN: u64 = 1_000_000;

/// About how many entries the dead-letter stream keeps.
const DEAD_LETTERS_MAX_LEN: u64 = 100_000;

/// Where the events live and who reads them, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamNames {
    /// The event stream, under the connection's key prefix (`events`).
    pub stream: String,
    /// The dead-letter stream, under the prefix (`events:dead`).
    pub dead_letters: String,
    /// The consumer group every worker joins.
    pub group: String,
    /// This consumer's name in the group.
    pub consumer: String,
}

/// The event stream as one consumer (or a publisher) sees it; clones share the connection.
#[derive(Clone)]
pub struct RedisEventStream {
    connection: RedisConnection,
    stream: String,
    dead_letters: String,
    /// stream entry id → failed handlings so far.
    failures: String,
    /// stream entry id → the last handling error.
    errors: String,
    group: String,
    consumer: String,
    group_created: std::sync::Arc<OnceCell<()>>,
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis: {error}"))
}

impl RedisEventStream {
    pub fn new(connection: RedisConnection, names: StreamNames) -> Self {
        Self {
            stream: connection.key(&names.stream),
            dead_letters: connection.key(&names.dead_letters),
            failures: connection.key(&format!("{}:failures", names.stream)),
            errors: connection.key(&format!("{}:errors", names.stream)),
            group: names.group,
            consumer: names.consumer,
            group_created: std::sync::Arc::new(OnceCell::new()),
            connection,
        }
    }

    async fn conn(&self) -> Result<redis::aio::ConnectionManager, StoreError> {
        self.connection.manager().await.map_err(unavailable)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        self.connection.bounded(cmd.query_async(&mut conn)).await.map_err(unavailable)
    }

    async fn run_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        self.connection.bounded(pipe.query_async(&mut conn)).await.map_err(unavailable)
    }

    /// Creates the consumer group (and the stream) once; a group that exists is fine. A new
    /// group starts at the stream's beginning, so events published before any worker ran
    /// are handled too.
    async fn ensure_group(&self) -> Result<(), StoreError> {
        self.group_created
            .get_or_try_init(|| async {
                let create = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .arg("0")
                    .arg("MKSTREAM")
                    .clone();
                let mut conn = self.conn().await?;
                match self.connection.bounded(create.query_async::<()>(&mut conn)).await {
                    Ok(()) => Ok(()),
                    Err(RedisError::Command(e)) if e.code() == Some("BUSYGROUP") => Ok(()),
                    Err(e) => Err(unavailable(e)),
                }
            })
            .await
            .map(|_| ())
    }

    /// The failure counts of entries.
    async fn failure_counts(&self, ids: &[String]) -> Result<Vec<u32>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let counts: Vec<Option<u32>> = self.run(redis::cmd("HMGET").arg(&self.failures).arg(ids)).await?;
        Ok(counts.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Stream entries as deliveries, with their failure counts.
    async fn deliveries(&self, entries: Vec<StreamId>) -> Result<Vec<Delivery>, StoreError> {
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let failures = self.failure_counts(&ids).await?;
        Ok(entries
            .into_iter()
            .zip(failures)
            .map(|(entry, failures)| Delivery { event: decode(&entry), receipt: entry.id, failures })
            .collect())
    }

    /// Acknowledges entries and forgets their failures.
    fn finish(&self, pipe: &mut redis::Pipeline, ids: &[&str]) {
        pipe.cmd("XACK").arg(&self.stream).arg(&self.group).arg(ids).ignore();
        pipe.cmd("HDEL").arg(&self.failures).arg(ids).ignore();
        pipe.cmd("HDEL").arg(&self.errors).arg(ids).ignore();
    }
}

/// The event an entry carries.
fn decode(entry: &StreamId) -> Result<DomainEvent, String> {
    let json: String = entry.get("event").ok_or_else(|| format!("stream entry {} has no event", entry.id))?;
    serde_json::from_str(&json).map_err(|e| format!("stream entry {} is not an event: {e}", entry.id))
}

fn encode(event: &DomainEvent) -> Result<String, StoreError> {
    serde_json::to_string(event)
        .map_err(|e| StoreError::Internal(format!("event {} does not serialise: {e}", event.id)))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.num_milliseconds()).unwrap_or(0)
}

impl RedisEventStream {
    /// Queues on `pipe` the `XADD` of `event` to the stream, as an entry `decode` reads back.
    fn queue_append(&self, pipe: &mut redis::Pipeline, event: &DomainEvent) -> Result<(), StoreError> {
        pipe.cmd("XADD")
            .arg(&self.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_MAX_LEN)
            .arg("*")
            .arg("id")
            .arg(event.id.to_string())
            .arg("type")
            .arg(event.event_type.as_str())
            .arg("event")
            .arg(encode(event)?)
            .ignore();
        Ok(())
    }
}

#[async_trait]
impl EventPublisher for RedisEventStream {
    #[tracing::instrument(level = "debug", skip_all, fields(events = events.len()))]
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        // One round trip for the whole batch, in order.
        let mut pipe = redis::pipe();
        for event in events {
            self.queue_append(&mut pipe, event)?;
        }
        self.run_pipe::<()>(&pipe).await
    }
}

#[async_trait]
impl EventQueue for RedisEventStream {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError> {
        self.ensure_group().await?;
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP").arg(&self.group).arg(&self.consumer).arg("COUNT").arg(max.max(1));
        // BLOCK 0 would wait for ever.
        if wait > Duration::zero() {
            read.arg("BLOCK").arg(millis(wait).max(1));
        }
        read.arg("STREAMS").arg(&self.stream).arg(">");
        let reply: Option<StreamReadReply> = self.run(&read).await?;
        let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect();
        self.deliveries(entries).await
    }

    async fn reclaim_abandoned(&self, idle: Duration, max: usize) -> Result<Vec<Delivery>, StoreError> {
        self.ensure_group().await?;
        let claim = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(millis(idle))
            .arg("0-0")
            .arg("COUNT")
            .arg(max.max(1))
            .clone();
        let reply: StreamAutoClaimReply = self.run(&claim).await?;
        if !reply.deleted_ids.is_empty() {
            // Trimmed away while pending: nothing left to handle.
            let mut pipe = redis::pipe();
            let gone: Vec<&str> = reply.deleted_ids.iter().map(String::as_str).collect();
            self.finish(&mut pipe, &gone);
            self.run_pipe::<()>(&pipe).await?;
        }
        if !reply.claimed.is_empty() {
            tracing::info!(entries = reply.claimed.len(), "took over entries another consumer left unacknowledged");
        }
        self.deliveries(reply.claimed).await
    }

    async fn due_retries(
        &self,
        max: usize,
        due: &(dyn Fn(u32, Duration) -> bool + Send + Sync),
    ) -> Result<Vec<Delivery>, StoreError> {
        self.ensure_group().await?;
        let pending: StreamPendingCountReply = self
            .run(
                redis::cmd("XPENDING")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .arg("-")
                    .arg("+")
                    .arg(max.max(1))
                    .arg(&self.consumer),
            )
            .await?;
        let ids: Vec<String> = pending.ids.iter().map(|p| p.id.clone()).collect();
        let failures = self.failure_counts(&ids).await?;
        let ready: Vec<String> = pending
            .ids
            .into_iter()
            .zip(failures)
            .filter(|(p, failures)| due(*failures, Duration::milliseconds(p.last_delivered_ms as i64)))
            .map(|(p, _)| p.id)
            .collect();
        if ready.is_empty() {
            return Ok(Vec::new());
        }
        let claimed: StreamClaimReply = self
            .run(redis::cmd("XCLAIM").arg(&self.stream).arg(&self.group).arg(&self.consumer).arg(0).arg(&ready))
            .await?;
        self.deliveries(claimed.ids).await
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        self.finish(&mut pipe, &[delivery.receipt.as_str()]);
        self.run_pipe::<()>(&pipe).await
    }

    async fn record_failure(&self, delivery: &Delivery, error: &str) -> Result<u32, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HINCRBY").arg(&self.failures).arg(&delivery.receipt).arg(1);
        pipe.cmd("HSET").arg(&self.errors).arg(&delivery.receipt).arg(error).ignore();
        let (failures,): (u32,) = self.run_pipe(&pipe).await?;
        Ok(failures)
    }

    async fn dead_letter(&self, delivery: &Delivery, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let attempts: Option<u32> = self.run(redis::cmd("HGET").arg(&self.failures).arg(&delivery.receipt)).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        let add = pipe
            .cmd("XADD")
            .arg(&self.dead_letters)
            .arg("MAXLEN")
            .arg("~")
            .arg(DEAD_LETTERS_MAX_LEN)
            .arg("*")
            .arg("receipt")
            .arg(&delivery.receipt)
            .arg("error")
            .arg(error)
            .arg("attempts")
            .arg(attempts.unwrap_or_default())
            .arg("failed_at")
            .arg(now.to_rfc3339());
        if let Ok(event) = &delivery.event {
            add.arg("id")
                .arg(event.id.to_string())
                .arg("type")
                .arg(event.event_type.as_str())
                .arg("event")
                .arg(encode(event)?);
        }
        add.ignore();
        self.finish(&mut pipe, &[delivery.receipt.as_str()]);
        self.run_pipe::<()>(&pipe).await
    }

    async fn lag(&self) -> Result<QueueLag, StoreError> {
        let groups: Result<StreamInfoGroupsReply, StoreError> =
            self.run(redis::cmd("XINFO").arg("GROUPS").arg(&self.stream)).await;
        match groups {
            Ok(reply) => Ok(reply
                .groups
                .into_iter()
                .find(|g| g.name == self.group)
                .map(|g| QueueLag { undelivered: g.lag.unwrap_or(0) as u64, pending: g.pending as u64 })
                .unwrap_or_default()),
            // No stream yet: nothing waits.
            Err(StoreError::Unavailable(why)) if why.contains("no such key") => Ok(QueueLag::default()),
            Err(e) => Err(e),
        }
    }
}

/// A dead-letter stream entry as a dead letter; `None` for one without a readable event.
fn dead_letter(entry: &StreamId) -> Option<DeadLetter> {
    let event = decode(entry).ok()?;
    let failed_at = entry.get::<String>("failed_at").and_then(|at| DateTime::parse_from_rfc3339(&at).ok())?;
    Some(DeadLetter {
        event,
        error: entry.get("error").unwrap_or_default(),
        attempts: entry.get("attempts").unwrap_or_default(),
        failed_at: failed_at.with_timezone(&Utc),
    })
}

#[async_trait]
impl DeadLetters for RedisEventStream {
    async fn list(&self, page: PageRequest) -> Result<Page<DeadLetter>, StoreError> {
        let total: u64 = self.run(redis::cmd("XLEN").arg(&self.dead_letters)).await?;
        let wanted = page.offset.saturating_add(u64::from(page.limit));
        let newest: StreamRangeReply = self
            .run(redis::cmd("XREVRANGE").arg(&self.dead_letters).arg("+").arg("-").arg("COUNT").arg(wanted))
            .await?;
        let items = newest
            .ids
            .iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .filter_map(|entry| {
                let letter = dead_letter(entry);
                if letter.is_none() {
                    tracing::warn!(entry = %entry.id, "a dead letter without a readable event is not listed");
                }
                letter
            })
            .collect();
        Ok(Page { items, total })
    }

    async fn retry(&self, id: EventId, _now: DateTime<Utc>) -> Result<bool, StoreError> {
        // Dead letters are few: a scan finds the entry.
        let all: StreamRangeReply = self.run(redis::cmd("XRANGE").arg(&self.dead_letters).arg("-").arg("+")).await?;
        let wanted = id.to_string();
        let Some(entry) = all.ids.iter().find(|e| e.get::<String>("id").as_deref() == Some(wanted.as_str())) else {
            return Ok(false);
        };
        let event = decode(entry).map_err(StoreError::Internal)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        self.queue_append(&mut pipe, &event)?;
        pipe.cmd("XDEL").arg(&self.dead_letters).arg(&entry.id).ignore();
        self.run_pipe::<()>(&pipe).await?;
        Ok(true)
    }
}
