//! Password hashing: bcrypt over `base64(HMAC-SHA-256(pepper, password))`, so that no byte
//! of a long password is ignored (bcrypt reads only 72 bytes) and a stolen database alone
//! cannot be brute-forced without the pepper.

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use storefront_app::InfraError;
use storefront_app::ports::{HashingError, PasswordHasher};
use storefront_domain::{PasswordHash, PlainPassword};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The counter of hashing jobs refused because the queue was full.
pub const HASHING_SATURATED_METRIC: &str = "password_hashing_saturated_total";

#[derive(Clone)]
pub struct BcryptHasher {
    inner: Arc<Inner>,
    gate: Arc<Gate>,
}

struct Inner {
    pepper: Vec<u8>,
    cost: u32,
    /// Verified against when the account does not exist, so that the work is the same.
    dummy_hash: String,
}

/// How much hashing work may run and wait at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimits {
    /// Hashes computed at once (each takes a whole core while it runs).
    pub workers: usize,
    /// Jobs that may wait for a worker; one more is refused at once (`Saturated`).
    pub queue: usize,
}

impl HashingLimits {
    /// The default queue: 64 waiting jobs.
    pub const DEFAULT_QUEUE: usize = 64;

    /// One worker per core, and `queue` waiting jobs.
    pub fn per_core(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self { workers: cores, queue }
    }
}

impl Default for HashingLimits {
    fn default() -> Self {
        Self::per_core(Self::DEFAULT_QUEUE)
    }
}

impl BcryptHasher {
    /// Builds the hasher, with its dummy hash (about a millisecond whatever the cost), and
    /// the default limits (one worker per core, a queue of 64).
    pub fn new(pepper: impl Into<Vec<u8>>, cost: u32) -> Result<Self, InfraError> {
        Self::with_limits(pepper, cost, HashingLimits::default())
    }

    /// As `new`, with the given limits on concurrent and waiting hashing jobs.
    pub fn with_limits(pepper: impl Into<Vec<u8>>, cost: u32, limits: HashingLimits) -> Result<Self, InfraError> {
        if limits.workers == 0 {
            return Err(InfraError("the password hasher needs at least one worker".into()));
        }
        let pepper = pepper.into();
        let dummy_hash = dummy_hash(&pepper, cost)?;
        Ok(Self { inner: Arc::new(Inner { pepper, cost, dummy_hash }), gate: Arc::new(Gate::new(limits)) })
    }
}

/// Admits hashing jobs: `workers` run at once, at most `queue` wait for a worker, and any
/// other is refused at once. A job holds its worker until its hash is done, even when the
/// request that asked for it is gone, so that abandoned requests cannot overcommit the
/// cores.
struct Gate {
    workers: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

impl Gate {
    fn new(limits: HashingLimits) -> Self {
        Self { workers: Arc::new(Semaphore::new(limits.workers)), waiting: AtomicUsize::new(0), queue: limits.queue }
    }

    async fn enter(&self) -> Result<OwnedSemaphorePermit, HashingError> {
        if let Ok(worker) = Arc::clone(&self.workers).try_acquire_owned() {
            return Ok(worker);
        }
        let reserved = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| (waiting < self.queue).then_some(waiting + 1));
        if reserved.is_err() {
            metrics::counter!(HASHING_SATURATED_METRIC).increment(1);
            tracing::warn!(queue = self.queue, "password hashing queue full; request refused");
            return Err(HashingError::Saturated);
        }
        // Leaves the queue however the wait ends, a dropped request included.
        let _place = QueuePlace(&self.waiting);
        Arc::clone(&self.workers).acquire_owned().await.map_err(|e| HashingError::Failed(e.to_string()))
    }
}

/// A place in the hashing queue, given back when dropped.
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The cheapest cost bcrypt accepts.
const MIN_COST: u32 = 4;

/// A hash of a password nobody has, labelled with `cost`, for unknown accounts.
///
/// bcrypt's work is set by the cost written in the hash being verified, not by how that
/// hash was made: a hash made at the minimum cost and relabelled with `cost` costs a
/// verification exactly what a real hash at `cost` does, and (its digest being that of
/// another cost) matches no password. So an unknown email is refused after the same work as
/// a wrong password, without the start-up paying for one hash at the full cost (~250 ms at
/// cost 12).
fn dummy_hash(pepper: &[u8], cost: u32) -> Result<String, InfraError> {
    if !(MIN_COST..=31).contains(&cost) {
        return Err(InfraError(format!("bcrypt cost {cost} is outside 4..=31")));
    }
    let cheap =
        bcrypt::hash(prehash(pepper, "storefront-dummy-password"), MIN_COST).map_err(|e| InfraError(e.to_string()))?;
    // `$2b$04$` then the salt and digest.
    let salt_and_digest =
        cheap.strip_prefix("$2b$04$").ok_or_else(|| InfraError("bcrypt made a hash of an unexpected format".into()))?;
    Ok(format!("$2b${cost:02}${salt_and_digest}"))
}

/// 44 ASCII bytes whatever the password's length: well inside bcrypt's 72-byte window.
fn prehash(pepper: &[u8], password: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(pepper).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The nice value of a thread that hashes: below the request threads' priority, so that
/// logins saturating the cores still leave every other request served at once (the
/// scheduler preempts a hashing thread as soon as a worker thread has something to do),
/// while hashing still gets every cycle nobody else wants.
const HASHING_NICE: i32 = 10;

/// Runs a hash on tokio's blocking pool, never on a request thread, at [`HASHING_NICE`],
/// holding `worker` until it is done.
async fn on_blocking_pool<T: Send + 'static>(
    worker: OwnedSemaphorePermit,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashingError> {
    tokio::task::spawn_blocking(move || {
        let _worker = worker;
        lower_this_threads_priority();
        work()
    })
    .await
    .map_err(|e| HashingError::Failed(format!("hashing task failed: {e}")))
}

/// Raises the calling thread's nice value to [`HASHING_NICE`], once per thread. On Linux the
/// nice value belongs to the thread, not the process. An unprivileged thread cannot lower
/// it again, so a pool thread stays at it: the blocking pool's other work (migrations at
/// start-up, before any request) is not latency-sensitive either.
fn lower_this_threads_priority() {
    thread_local! {
        static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if LOWERED.get() {
        return;
    }
    LOWERED.set(true);
    let current = rustix::process::getpriority_process(None).unwrap_or(0);
    if current < HASHING_NICE
        && let Err(error) = rustix::process::setpriority_process(None, HASHING_NICE)
    {
        // Hashing at normal priority is slower for everybody else but still correct.
        tracing::warn!(%error, "could not lower the priority of a hashing thread");
    }
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &PlainPassword) -> Result<PasswordHash, HashingError> {
        let worker = self.gate.enter().await?;
        let inner = Arc::clone(&self.inner);
        let password = password.clone();
        on_blocking_pool(worker, move || bcrypt::hash(prehash(&inner.pepper, password.expose()), inner.cost))
            .await?
            .map(PasswordHash::new)
            .map_err(|e| HashingError::Failed(e.to_string()))
    }

    async fn verify(&self, password: &PlainPassword, hash: Option<&PasswordHash>) -> Result<bool, HashingError> {
        let worker = self.gate.enter().await?;
        let inner = Arc::clone(&self.inner);
        let password = password.clone();
        let (hash, real) = match hash {
            Some(h) => (h.as_str().to_owned(), true),
            None => (inner.dummy_hash.clone(), false),
        };
        let matches =
            on_blocking_pool(worker, move || bcrypt::verify(prehash(&inner.pepper, password.expose()), &hash)).await?;
        // A malformed stored hash is a refusal, never a crash.
        Ok(real && matches.unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> BcryptHasher {
        BcryptHasher::new(b"test-pepper".to_vec(), 4).unwrap()
    }

    #[tokio::test]
    async fn hashing_runs_below_the_priority_of_request_threads() {
        let on_request_thread = rustix::process::getpriority_process(None).unwrap();
        let worker = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let on_hashing_thread =
            on_blocking_pool(worker, || rustix::process::getpriority_process(None)).await.unwrap().unwrap();
        assert_eq!(on_hashing_thread, on_request_thread.max(HASHING_NICE));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_only() {
        let h = hasher();
        let hash = h.hash(&PlainPassword::new("correct horse")).await.unwrap();
        assert!(h.verify(&PlainPassword::new("correct horse"), Some(&hash)).await.unwrap());
        assert!(!h.verify(&PlainPassword::new("correct horsE"), Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn the_first_72_bytes_of_a_long_password_do_not_verify() {
        let h = hasher();
        let long: String = "a1b2c3d4e5".repeat(10);
        let hash = h.hash(&PlainPassword::new(long.clone())).await.unwrap();
        assert!(h.verify(&PlainPassword::new(long.clone()), Some(&hash)).await.unwrap());
        assert!(!h.verify(&PlainPassword::new(&long[..72]), Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn no_account_means_false_after_the_same_work() {
        let h = hasher();
        assert!(!h.verify(&PlainPassword::new("storefront-dummy-password"), None).await.unwrap());
    }

    #[test]
    fn the_dummy_hash_carries_the_configured_cost_and_matches_nothing() {
        for cost in [4, 5, 12, 31] {
            let dummy = dummy_hash(b"test-pepper", cost).unwrap();
            assert!(dummy.starts_with(&format!("$2b${cost:02}$")), "{dummy}");
            assert_eq!(dummy.len(), 60);
        }
        let dummy = dummy_hash(b"test-pepper", 5).unwrap();
        let the_dummy_password = prehash(b"test-pepper", "storefront-dummy-password");
        // It parses as a cost-5 hash (so verifying does the cost-5 work) and matches nothing,
        // not even the password it was made from at the cheaper cost.
        assert_eq!(bcrypt::verify(the_dummy_password, &dummy).ok(), Some(false));
        assert!(dummy_hash(b"test-pepper", 3).is_err() && dummy_hash(b"test-pepper", 32).is_err());
    }

    #[tokio::test]
    async fn another_pepper_does_not_verify() {
        let hash = hasher().hash(&PlainPassword::new("correct horse")).await.unwrap();
        let other = BcryptHasher::new(b"other-pepper".to_vec(), 4).unwrap();
        assert!(!other.verify(&PlainPassword::new("correct horse"), Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn past_the_workers_and_the_queue_a_job_is_refused_at_once_and_admitted_again_later() {
        let gate = Arc::new(Gate::new(HashingLimits { workers: 1, queue: 2 }));
        let running = gate.enter().await.unwrap();
        // Two wait for the worker...
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let gate = Arc::clone(&gate);
                tokio::spawn(async move { gate.enter().await.map(drop) })
            })
            .collect();
        while gate.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        // ...a third is refused without waiting.
        assert_eq!(gate.enter().await.err(), Some(HashingError::Saturated));
        drop(running);
        for job in waiting {
            job.await.unwrap().unwrap();
        }
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0);
        assert!(gate.enter().await.is_ok());
    }

    #[tokio::test]
    async fn a_request_dropped_while_it_waits_leaves_the_queue() {
        let gate = Gate::new(HashingLimits { workers: 1, queue: 1 });
        let _running = gate.enter().await.unwrap();
        let abandoned = tokio::time::timeout(std::time::Duration::from_millis(20), gate.enter()).await;
        assert!(abandoned.is_err(), "it waited");
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_hasher_without_workers_is_refused() {
        assert!(BcryptHasher::with_limits(b"p".to_vec(), 4, HashingLimits { workers: 0, queue: 1 }).is_err());
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_a_refusal() {
        assert!(!hasher().verify(&PlainPassword::new("x"), Some(&PasswordHash::new("garbage"))).await.unwrap());
    }
}
