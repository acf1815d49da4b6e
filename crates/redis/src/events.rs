//! Domain events on a Redis Stream: `EventPublisher` (`XADD`, each entry carrying the event
//! id, its type and the whole event as JSON, atomically with the stream's epoch marker) and
//! `EventQueue` for one consumer of a consumer group (`XREADGROUP`, `XAUTOCLAIM` of a dead
//! consumer's entries, `XPENDING` + `XCLAIM` of its own failed ones, `XACK`), with failure
//! counts in a hash every consumer sees.
//!
//! Redis is not trusted to keep anything: the outbox in the store owes every event until it
//! is handled. The epoch marker vanishes with the stream when Redis loses its data (a
//! restart without persistence, a failover, `FLUSHALL`), which tells the relay to publish
//! again; a consumer group that vanished is created again on the first command that misses
//! it.

use crate::connection::{RedisConn, RedisConnection, RedisError};
use async_trait::async_trait;
use chrono::Duration;
use redis::streams::{
    StreamAutoClaimReply, StreamClaimReply, StreamId, StreamInfoGroupsReply, StreamPendingCountReply, StreamReadReply,
};
use storefront_app::StoreError;
use storefront_app::ports::{Delivery, EventPublisher, EventQueue, QueueLag, StreamEpoch};
use storefront_domain::DomainEvent;

/// About how many entries the event stream keeps (`MAXLEN ~`): acknowledged entries are
/// not needed once every group has read them; far more than any backlog.
const STREAM_MAX_LEN: u64 = 1_000_000;

/// Where the events live and who reads them, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamNames {
    /// The event stream's name (`events`): its key is `<prefix>{<stream>}`, its epoch
    /// marker `<prefix>{<stream>}:epoch` (one hash tag, for Redis Cluster).
    pub stream: String,
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
    /// Names the stream's current life; gone when the stream's data is.
    epoch: String,
    /// stream entry id → failed handlings so far.
    failures: String,
    /// stream entry id → the last handling error.
    errors: String,
    group: String,
    consumer: String,
}

/// The key of the stream named `stream` under `key_prefix`: `<key_prefix>{<stream>}`. Its
/// epoch marker, failure counts and errors are this key with `:epoch`, `:failures` and
/// `:errors` after it. One hash tag for the four keys: the publication's transaction (the
/// epoch marker and the entries) and an acknowledgement's pipeline (XACK, both HDELs)
/// touch several of them, which a Redis Cluster allows only within one hash slot.
pub fn stream_key(key_prefix: &str, stream: &str) -> String {
    format!("{key_prefix}{{{stream}}}")
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis: {error}"))
}

impl RedisEventStream {
    pub fn new(connection: RedisConnection, names: StreamNames) -> Self {
        let stream = stream_key(&connection.settings().key_prefix, &names.stream);
        Self {
            epoch: format!("{stream}:epoch"),
            failures: format!("{stream}:failures"),
            errors: format!("{stream}:errors"),
            stream,
            group: names.group,
            consumer: names.consumer,
            connection,
        }
    }

    async fn conn(&self) -> Result<RedisConn, StoreError> {
        self.connection.connection().await.map_err(unavailable)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        self.connection.bounded(cmd.query_async(&mut conn)).await.map_err(unavailable)
    }

    async fn run_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        self.connection.bounded(pipe.query_async(&mut conn)).await.map_err(unavailable)
    }

    /// Runs a command of the consumer group. When the group is missing — never made, or
    /// gone with the stream's data (a restart without persistence, a flush) — it creates
    /// the group and runs the command again, so that no worker loops on an error that one
    /// command fixes.
    async fn run_in_group<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        match self.connection.bounded(cmd.query_async(&mut conn)).await {
            Err(RedisError::Command(e)) if group_is_missing(&e) => {
                tracing::warn!(group = %self.group, stream = %self.stream, "the consumer group is missing (Redis lost its data?); creating it");
                self.create_group().await?;
                self.connection.bounded(cmd.query_async(&mut conn)).await.map_err(unavailable)
            }
            outcome => outcome.map_err(unavailable),
        }
    }

    /// Creates the consumer group (and the stream); a group that exists is fine. A new
    /// group starts at the stream's beginning, so events published before any worker ran
    /// (or since Redis lost its data) are handled too.
    async fn create_group(&self) -> Result<(), StoreError> {
        let create =
            redis::cmd("XGROUP").arg("CREATE").arg(&self.stream).arg(&self.group).arg("0").arg("MKSTREAM").clone();
        let mut conn = self.conn().await?;
        match self.connection.bounded(create.query_async::<()>(&mut conn)).await {
            Ok(()) => Ok(()),
            Err(RedisError::Command(e)) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
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

/// Whether Redis refused a command because the stream or its consumer group does not
/// exist (`NOGROUP`), or because the stream a read was blocked on was deleted.
fn group_is_missing(error: &redis::RedisError) -> bool {
    error.code() == Some("NOGROUP")
        || error.to_string().contains("NOGROUP")
        || error.to_string().contains("no longer exists")
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
    async fn publish(&self, events: &[DomainEvent]) -> Result<StreamEpoch, StoreError> {
        // One round trip for the whole batch, in order, in one transaction with the epoch
        // marker: the entries and the marker live and die together.
        let fresh = storefront_domain::EventId::new().to_string();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("SET").arg(&self.epoch).arg(&fresh).arg("NX");
        pipe.cmd("GET").arg(&self.epoch);
        for event in events {
            self.queue_append(&mut pipe, event)?;
        }
        let (set, id): (Option<String>, String) = self.run_pipe(&pipe).await?;
        Ok(StreamEpoch { began: set.is_some(), id })
    }
}

#[async_trait]
impl EventQueue for RedisEventStream {
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError> {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP").arg(&self.group).arg(&self.consumer).arg("COUNT").arg(max.max(1));
        // BLOCK 0 would wait for ever.
        if wait > Duration::zero() {
            read.arg("BLOCK").arg(millis(wait).max(1));
        }
        read.arg("STREAMS").arg(&self.stream).arg(">");
        let reply: Option<StreamReadReply> = self.run_in_group(&read).await?;
        let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect();
        self.deliveries(entries).await
    }

    async fn reclaim_abandoned(&self, idle: Duration, max: usize) -> Result<Vec<Delivery>, StoreError> {
        let claim = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(millis(idle))
            .arg("0-0")
            .arg("COUNT")
            .arg(max.max(1))
            .clone();
        let reply: StreamAutoClaimReply = self.run_in_group(&claim).await?;
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
        let pending: StreamPendingCountReply = self
            .run_in_group(
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
            .run_in_group(
                redis::cmd("XCLAIM").arg(&self.stream).arg(&self.group).arg(&self.consumer).arg(0).arg(&ready),
            )
            .await?;
        self.deliveries(claimed.ids).await
    }

    async fn ack(&self, deliveries: &[&Delivery]) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let receipts: Vec<&str> = deliveries.iter().map(|d| d.receipt.as_str()).collect();
        let mut pipe = redis::pipe();
        self.finish(&mut pipe, &receipts);
        // An acknowledgement the group no longer knows of (Redis lost it) is no error: the
        // outbox has settled the events already.
        match self.run_pipe::<()>(&pipe).await {
            Err(StoreError::Unavailable(why)) if why.contains("NOGROUP") => Ok(()),
            outcome => outcome,
        }
    }

    async fn record_failure(&self, delivery: &Delivery, error: &str) -> Result<u32, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HINCRBY").arg(&self.failures).arg(&delivery.receipt).arg(1);
        pipe.cmd("HSET").arg(&self.errors).arg(&delivery.receipt).arg(error).ignore();
        let (failures,): (u32,) = self.run_pipe(&pipe).await?;
        Ok(failures)
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
