//! The event stream on real Redis, driven by the application's own relay and worker: events
//! reach one consumer of the group, in order, once, and are settled in the outbox; two
//! workers share the load; a worker that dies mid-event leaves it to another; a handler that
//! always fails ends in the outbox's dead letters (and one can be put back); the relay loses
//! nothing while Redis is down; when Redis loses its data (a restart without persistence, a
//! flush, the stream deleted) the workers recreate their group by themselves and the relay
//! publishes every unhandled event again; and an event delivered twice has its effect once.
//!
//! Each test works under a key prefix of its own on the shared Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`), and deletes its keys at the end; the same tests run again on a
//! three-master Redis Cluster the test binary starts on loopback ports (and stops); the
//! outage tests own a private `redis-server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use chrono::Duration;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use storefront_app::ports::{
    DeadLetters, EventOutbox, EventPublisher, EventQueue, Mail, MailError, Mailer, NewUser, PageRequest, SystemClock,
    UserRepository,
};
use storefront_app::{
    EventHandler, HandlerError, Notifications, OutboxSettings, Relay, RetryPolicy, StreamWorker, WorkerSettings,
};
use storefront_domain::{DomainEvent, Email, EventId, PasswordHash, RoleName, UserId, UserName};
use storefront_memory::MemoryStore;
use storefront_redis::{RedisConnection, RedisEventStream, RedisSettings, StreamNames};
use storefront_testkit::redis::{RedisCluster, RedisServer};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The keys of one test, on the shared Redis, a private one or a Redis Cluster.
struct Namespace {
    url: String,
    prefix: String,
    /// Kept while the test runs: the cluster stops when its last test drops it.
    cluster: Option<Arc<RedisCluster>>,
}

impl Namespace {
    fn new() -> Self {
        Self::on(redis_url())
    }

    fn on(url: String) -> Self {
        Self { url, prefix: format!("storefront-test:{}:", uuid::Uuid::new_v4().simple()), cluster: None }
    }

    /// On a three-master Redis Cluster (shared with the tests running at the same time).
    async fn on_cluster() -> Self {
        let cluster = tokio::task::spawn_blocking(RedisCluster::shared).await.unwrap();
        Self { cluster: Some(cluster.clone()), ..Self::on(cluster.urls()) }
    }

    /// The stream as consumer `consumer` sees it, on a connection of its own (a blocking
    /// read holds its connection).
    fn stream(&self, consumer: &str) -> RedisEventStream {
        let mut settings = match self.cluster {
            Some(_) => RedisSettings::cluster(self.url.clone()),
            None => RedisSettings::new(self.url.clone()),
        };
        settings.key_prefix = self.prefix.clone();
        settings.timeout = std::time::Duration::from_secs(3);
        let names = StreamNames { stream: "events".into(), group: "workers".into(), consumer: consumer.into() };
        RedisEventStream::new(RedisConnection::new(settings).unwrap(), names)
    }

    /// Deletes every key of the test (on each node of a cluster: each keeps its own).
    async fn clean(&self) {
        for url in self.url.split(',') {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query_async(&mut conn).await.unwrap();
            for key in keys {
                let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
            }
        }
    }
}

/// Counts what it handles, per event id; fails the events it is told to.
#[derive(Default)]
struct Recorder {
    handled: Mutex<Vec<(String, EventId)>>,
    failing: Mutex<bool>,
    /// Handling blocks for ever (a worker that hangs, then dies).
    hang: Mutex<bool>,
}

struct Named(&'static str, Arc<Recorder>);

#[async_trait]
impl EventHandler for Named {
    async fn handle(&self, event: &DomainEvent) -> Result<(), HandlerError> {
        if *self.1.hang.lock().unwrap() {
            std::future::pending::<()>().await;
        }
        if *self.1.failing.lock().unwrap() {
            return Err(HandlerError::Failed(format!("{} refuses {}", self.0, event.event_type)));
        }
        self.1.handled.lock().unwrap().push((self.0.to_owned(), event.id));
        Ok(())
    }
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId(uuid::Uuid::now_v7()),
        email: Email::parse(email).unwrap(),
        name: UserName::parse("Ada Lovelace").unwrap(),
        password_hash: PasswordHash::new("$2b$04$fake"),
        role: RoleName::user(),
        created_at: chrono::Utc::now(),
    }
}

/// `n` events in a memory outbox (each account raises `user.registered`), oldest first.
async fn outbox_with(n: usize) -> (MemoryStore, Vec<EventId>) {
    let store = MemoryStore::new();
    for i in 0..n {
        store.create(new_user(&format!("user-{i}@example.com"))).await.unwrap();
    }
    let ids = store.events(PageRequest { limit: 100, offset: 0 }).await.unwrap().items.iter().map(|e| e.id).collect();
    (store, ids)
}

fn relay(store: &MemoryStore, stream: &RedisEventStream) -> Relay {
    Relay::new(Arc::new(store.clone()), Arc::new(stream.clone()), Arc::new(SystemClock), OutboxSettings::default())
}

fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy { max_attempts, base_backoff: Duration::milliseconds(10), max_backoff: Duration::milliseconds(20) }
}

fn worker(
    stream: &RedisEventStream,
    store: &MemoryStore,
    handler: Arc<dyn EventHandler>,
    policy: RetryPolicy,
    claim_idle_ms: i64,
) -> StreamWorker {
    let settings = WorkerSettings {
        wait: Duration::milliseconds(100),
        claim_idle: Duration::milliseconds(claim_idle_ms),
        concurrency: 8,
    };
    StreamWorker::new(
        Arc::new(stream.clone()),
        Arc::new(store.clone()),
        handler,
        Arc::new(SystemClock),
        policy,
        settings,
    )
}

/// Runs the worker until `done` or ten seconds pass.
async fn run_until(worker: &StreamWorker, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() && tokio::time::Instant::now() < deadline {
        worker.run_once().await.unwrap();
    }
}

async fn relayed_events_reach_one_consumer_in_order_once_and_leave_the_outbox(ns: Namespace) {
    let stream = ns.stream("solo");
    let (store, ids) = outbox_with(5).await;

    assert_eq!(relay(&store, &stream).run_once().await.unwrap(), 5);
    assert_eq!(relay(&store, &stream).run_once().await.unwrap(), 0, "published events are not published again");
    assert_eq!(store.backlog().await.unwrap().owed, 5, "published, not yet handled: still owed");

    let recorder = Arc::new(Recorder::default());
    let solo = worker(&stream, &store, Arc::new(Named("solo", recorder.clone())), fast_policy(3), 60_000);
    run_until(&solo, || recorder.handled.lock().unwrap().len() >= 5).await;
    for _ in 0..3 {
        solo.run_once().await.unwrap();
    }
    let handled: Vec<EventId> = recorder.handled.lock().unwrap().iter().map(|(_, id)| *id).collect();
    assert_eq!(handled, ids, "in order, each once");
    let lag = stream.lag().await.unwrap();
    assert_eq!((lag.undelivered, lag.pending), (0, 0), "every entry acknowledged");
    assert_eq!(store.backlog().await.unwrap().owed, 0, "every event settled in the outbox");
    ns.clean().await;
}

async fn two_workers_share_the_load_and_each_event_is_handled_once(ns: Namespace) {
    let (store, ids) = outbox_with(60).await;
    relay(&store, &ns.stream("relay")).run_once().await.unwrap();
    let recorder = Arc::new(Recorder::default());
    let (one, two) = (ns.stream("one"), ns.stream("two"));
    let first = worker(&one, &store, Arc::new(Named("one", recorder.clone())), fast_policy(3), 60_000);
    let second = worker(&two, &store, Arc::new(Named("two", recorder.clone())), fast_policy(3), 60_000);

    let done = || recorder.handled.lock().unwrap().len() >= 60;
    tokio::join!(run_until(&first, done), run_until(&second, done));

    let handled = recorder.handled.lock().unwrap().clone();
    let mut by_event: HashMap<EventId, usize> = HashMap::new();
    for (_, id) in &handled {
        *by_event.entry(*id).or_default() += 1;
    }
    assert_eq!(by_event.len(), 60);
    assert!(by_event.values().all(|n| *n == 1), "an event handled twice");
    assert!(ids.iter().all(|id| by_event.contains_key(id)));
    let by_one = handled.iter().filter(|(w, _)| w == "one").count();
    assert!(by_one > 0 && by_one < 60, "both workers took a share: {by_one} of 60 by one");
    ns.clean().await;
}

async fn an_event_left_unacknowledged_by_a_dead_worker_is_taken_over_and_handled_once(ns: Namespace) {
    let (store, ids) = outbox_with(1).await;
    relay(&store, &ns.stream("relay")).run_once().await.unwrap();
    let stuck = Arc::new(Recorder::default());
    *stuck.hang.lock().unwrap() = true;
    let doomed_stream = ns.stream("doomed");
    let doomed_store = store.clone();
    let doomed = tokio::spawn(async move {
        let doomed = worker(&doomed_stream, &doomed_store, Arc::new(Named("doomed", stuck)), fast_policy(3), 200);
        loop {
            doomed.run_once().await.unwrap();
        }
    });
    // The doomed worker has the entry in hand (it hangs in its handler) — then dies.
    let survivor_stream = ns.stream("survivor");
    for _ in 0..100 {
        if survivor_stream.lag().await.unwrap().pending == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(survivor_stream.lag().await.unwrap().pending, 1);
    doomed.abort();
    let _ = doomed.await;

    let recorder = Arc::new(Recorder::default());
    let survivor = worker(&survivor_stream, &store, Arc::new(Named("survivor", recorder.clone())), fast_policy(3), 200);
    run_until(&survivor, || !recorder.handled.lock().unwrap().is_empty()).await;
    for _ in 0..3 {
        survivor.run_once().await.unwrap();
    }

    assert_eq!(*recorder.handled.lock().unwrap(), vec![("survivor".to_owned(), ids[0])]);
    assert_eq!(survivor_stream.lag().await.unwrap().pending, 0);
    ns.clean().await;
}

async fn an_event_whose_handler_always_fails_is_dead_lettered_after_its_tries_and_can_be_put_back(ns: Namespace) {
    let stream = ns.stream("w");
    let (store, ids) = outbox_with(1).await;
    let relay = relay(&store, &stream);
    relay.run_once().await.unwrap();
    let recorder = Arc::new(Recorder::default());
    *recorder.failing.lock().unwrap() = true;
    let failing = worker(&stream, &store, Arc::new(Named("w", recorder.clone())), fast_policy(3), 60_000);

    let mut dead = 0;
    let mut rounds = 0;
    while dead == 0 && rounds < 500 {
        dead += failing.run_once().await.unwrap().dead_lettered;
        rounds += 1;
    }

    let letters = store.list(PageRequest { limit: 20, offset: 0 }).await.unwrap();
    assert_eq!(letters.total, 1, "dead letters are kept in the outbox, not in Redis");
    let letter = &letters.items[0];
    assert_eq!((letter.event.id, letter.attempts), (ids[0], 3));
    assert_eq!(letter.error, "w refuses user.registered");
    assert_eq!(stream.lag().await.unwrap().pending, 0, "dead-lettered entries are acknowledged");
    assert_eq!(store.backlog().await.unwrap().owed, 0, "a dead letter is not owed");

    assert!(store.retry(ids[0], chrono::Utc::now()).await.unwrap());
    assert!(!store.retry(ids[0], chrono::Utc::now()).await.unwrap(), "no longer a dead letter");
    *recorder.failing.lock().unwrap() = false;
    assert_eq!(relay.run_once().await.unwrap(), 1, "put back: published again");
    run_until(&failing, || !recorder.handled.lock().unwrap().is_empty()).await;
    assert_eq!(recorder.handled.lock().unwrap().iter().map(|(_, id)| *id).collect::<Vec<_>>(), ids);
    assert_eq!(store.list(PageRequest { limit: 20, offset: 0 }).await.unwrap().total, 0);
    ns.clean().await;
}

/// Runs the relay and the worker together until every one of `ids` was handled at least
/// once, or fifteen seconds pass.
async fn relay_and_handle_until_all(relay: &Relay, worker: &StreamWorker, recorder: &Recorder, ids: &[EventId]) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let all_handled = || {
        let handled = recorder.handled.lock().unwrap();
        ids.iter().all(|id| handled.iter().any(|(_, h)| h == id))
    };
    while !all_handled() && tokio::time::Instant::now() < deadline {
        // Errors are Redis coming back; the rounds after them must recover by themselves.
        let _ = relay.run_once().await;
        let _ = worker.run_once().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_restarts_empty_the_group_is_recreated_and_every_unhandled_event_is_published_again() {
    let mut server = RedisServer::start();
    let ns = Namespace::on(server.url());
    let stream = ns.stream("w");
    let (store, ids) = outbox_with(6).await;
    let relay = relay(&store, &stream);
    let recorder = Arc::new(Recorder::default());
    let consumer = worker(&stream, &store, Arc::new(Named("w", recorder.clone())), fast_policy(3), 60_000);
    // Two handled before the restart; four published and waiting in the stream.
    relay.run_once().await.unwrap();
    let first_two = stream.receive(2, Duration::zero()).await.unwrap();
    assert_eq!(first_two.len(), 2);
    store.mark_handled(&ids[..2], chrono::Utc::now()).await.unwrap();
    stream.ack(&first_two.iter().collect::<Vec<_>>()).await.unwrap();

    server.restart();

    relay_and_handle_until_all(&relay, &consumer, &recorder, &ids[2..]).await;
    let handled: Vec<EventId> = recorder.handled.lock().unwrap().iter().map(|(_, id)| *id).collect();
    assert_eq!(handled, ids[2..], "the four lost with Redis, each once; not the two settled before");
    assert_eq!(store.backlog().await.unwrap().owed, 0);
    for _ in 0..3 {
        consumer.run_once().await.expect("the worker runs without errors once Redis is back");
    }
}

async fn after_a_flush_or_a_deleted_stream_workers_recover_by_themselves_and_nothing_is_lost(ns: Namespace) {
    let stream = ns.stream("w");
    let (store, ids) = outbox_with(8).await;
    let relay = relay(&store, &stream);
    let recorder = Arc::new(Recorder::default());
    let consumer = worker(&stream, &store, Arc::new(Named("w", recorder.clone())), fast_policy(3), 60_000);
    relay.run_once().await.unwrap();
    consumer.run_once().await.unwrap();
    assert_eq!(recorder.handled.lock().unwrap().len(), 8);

    // Four more events, published; then every key of the deployment goes (as FLUSHALL or a
    // restart of a Redis without persistence would do to it).
    for i in 8..12 {
        store.create(new_user(&format!("user-{i}@example.com"))).await.unwrap();
    }
    let all: Vec<EventId> =
        store.events(PageRequest { limit: 100, offset: 0 }).await.unwrap().items.iter().map(|e| e.id).collect();
    assert_eq!(relay.run_once().await.unwrap(), 4);
    ns.clean().await;

    let report = consumer.run_once().await.expect("a missing group is recreated, not an error");
    assert!(report.is_idle(), "the new stream is empty until the relay publishes again");
    relay_and_handle_until_all(&relay, &consumer, &recorder, &all[8..]).await;
    let handled: Vec<EventId> = recorder.handled.lock().unwrap().iter().map(|(_, id)| *id).collect();
    assert_eq!(handled[..8], ids[..], "the first eight once");
    assert_eq!(handled[8..], all[8..], "the four lost with the keys, once each, after the relay saw a new epoch");
    assert_eq!(store.backlog().await.unwrap().owed, 0);
    ns.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_relay_loses_nothing_and_publishes_everything_once_it_is_back() {
    let mut server = RedisServer::start();
    let ns = Namespace::on(server.url());
    let stream = ns.stream("w");
    let (store, ids) = outbox_with(4).await;
    let relay = relay(&store, &stream);
    server.stop();

    assert!(relay.run_once().await.is_err(), "nothing can be published");
    assert_eq!(store.backlog().await.unwrap().owed, 4, "every event still waits in the outbox");

    server.restart();
    let mut published = 0;
    for _ in 0..200 {
        // An error: Redis is still coming back.
        if let Ok(n) = relay.run_once().await {
            published += n;
        }
        if published >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(published, 4);

    let recorder = Arc::new(Recorder::default());
    let consumer = worker(&stream, &store, Arc::new(Named("w", recorder.clone())), fast_policy(3), 60_000);
    run_until(&consumer, || recorder.handled.lock().unwrap().len() >= 4).await;
    assert_eq!(recorder.handled.lock().unwrap().iter().map(|(_, id)| *id).collect::<Vec<_>>(), ids);
    assert_eq!(store.backlog().await.unwrap().owed, 0);
}

/// Counts the mails it would send, each after `delay` (a slow SMTP server).
#[derive(Default)]
struct CountingMailer(Mutex<Vec<Mail>>, std::time::Duration);

#[async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        tokio::time::sleep(self.1).await;
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

fn notifications(store: &MemoryStore, mailer: Arc<CountingMailer>) -> Notifications {
    let account = storefront_app::AccountMail {
        links: Arc::new(store.clone()),
        tokens: Arc::new(storefront_auth::RandomRefreshTokens),
        settings: storefront_app::LifecycleSettings::default(),
    };
    Notifications::new(
        Arc::new(store.clone()),
        mailer,
        Arc::new(store.clone()),
        account,
        Arc::new(SystemClock),
        "USD".into(),
        Duration::seconds(30),
    )
}

async fn an_event_delivered_twice_has_its_effect_once(ns: Namespace) {
    let stream = ns.stream("w");
    let (store, _) = outbox_with(1).await;
    let event = store.events(PageRequest { limit: 1, offset: 0 }).await.unwrap().items.remove(0);
    // A relay that died between publishing and marking: the same event twice on the stream.
    stream.publish(std::slice::from_ref(&event)).await.unwrap();
    stream.publish(std::slice::from_ref(&event)).await.unwrap();
    let mailer = Arc::new(CountingMailer::default());
    let consumer = worker(&stream, &store, Arc::new(notifications(&store, mailer.clone())), fast_policy(3), 60_000);

    for _ in 0..4 {
        consumer.run_once().await.unwrap();
    }

    let sent = mailer.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!((sent[0].to.as_str(), sent[0].subject.as_str()), ("user-0@example.com", "Welcome to Storefront"));
    assert_eq!(stream.lag().await.unwrap().pending, 0, "both entries acknowledged");
    ns.clean().await;
}

async fn two_workers_handed_the_same_event_at_once_by_a_slow_smtp_server_send_one_mail(ns: Namespace) {
    let (store, ids) = outbox_with(1).await;
    let event = store.events(PageRequest { limit: 1, offset: 0 }).await.unwrap().items.remove(0);
    // Published twice (a redelivery while the first entry was still waiting): each worker
    // takes one entry, and both start sending at once.
    let (one, two) = (ns.stream("one"), ns.stream("two"));
    one.publish(std::slice::from_ref(&event)).await.unwrap();
    one.publish(std::slice::from_ref(&event)).await.unwrap();
    let mailer = Arc::new(CountingMailer(Mutex::default(), std::time::Duration::from_millis(400)));
    let policy = fast_policy(5);
    let first = worker(&one, &store, Arc::new(notifications(&store, mailer.clone())), policy, 60_000);
    let second = worker(&two, &store, Arc::new(notifications(&store, mailer.clone())), policy, 60_000);
    // Each consumer takes one entry; their rounds then find it as their own pending entry
    // (due at once) and handle both at the same time.
    assert_eq!(one.receive(1, Duration::zero()).await.unwrap().len(), 1);
    assert_eq!(two.receive(1, Duration::zero()).await.unwrap().len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline && one.lag().await.unwrap().pending > 0 {
        let (a, b) = tokio::join!(first.run_once(), second.run_once());
        a.unwrap();
        b.unwrap();
    }

    let sent = mailer.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one mail, however many workers held the event: {sent:?}");
    assert_eq!(one.lag().await.unwrap().pending, 0, "the deferred entry was settled as handled later");
    assert_eq!(store.backlog().await.unwrap().owed, 0, "{ids:?} settled");
    ns.clean().await;
}

async fn the_lag_counts_entries_not_yet_delivered_and_those_not_yet_acknowledged(ns: Namespace) {
    let stream = ns.stream("w");
    let (store, _) = outbox_with(3).await;
    assert_eq!(stream.lag().await.unwrap().undelivered, 0, "no stream yet");
    relay(&store, &stream).run_once().await.unwrap();
    let taken = stream.receive(1, Duration::zero()).await.unwrap();
    assert_eq!(taken.len(), 1);

    let lag = stream.lag().await.unwrap();
    assert_eq!((lag.undelivered, lag.pending), (2, 1));
    stream.ack(&[&taken[0]]).await.unwrap();
    assert_eq!(stream.lag().await.unwrap().pending, 0);
    ns.clean().await;
}

/// Runs each named test on the shared single Redis and on a three-master Redis Cluster
/// started on loopback ports (`storefront_testkit::redis::RedisCluster`).
macro_rules! on_single_redis_and_on_a_cluster {
    ($($name:ident),* $(,)?) => {
        mod on_single_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Namespace::new()).await;
                }
            )*
        }
        mod on_redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Namespace::on_cluster().await).await;
                }
            )*
        }
    };
}

on_single_redis_and_on_a_cluster!(
    relayed_events_reach_one_consumer_in_order_once_and_leave_the_outbox,
    two_workers_share_the_load_and_each_event_is_handled_once,
    an_event_left_unacknowledged_by_a_dead_worker_is_taken_over_and_handled_once,
    an_event_whose_handler_always_fails_is_dead_lettered_after_its_tries_and_can_be_put_back,
    after_a_flush_or_a_deleted_stream_workers_recover_by_themselves_and_nothing_is_lost,
    an_event_delivered_twice_has_its_effect_once,
    two_workers_handed_the_same_event_at_once_by_a_slow_smtp_server_send_one_mail,
    the_lag_counts_entries_not_yet_delivered_and_those_not_yet_acknowledged,
);
