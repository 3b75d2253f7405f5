//! Version checks shared by the reads that arrive while one is on its way.
//!
//! Under load, many requests check the same version at once: every list page
//! of a tenant checks the tenant's one list version, and every read of a busy
//! conversation checks its row. Each check is a round trip and a statement
//! for PostgreSQL, most of what a cached read costs. Here a read that finds a
//! check of its key in flight does not send its own, and does not take that
//! one's answer either (it may have been read before the caller's own
//! request arrived, so it could miss a write the caller already saw
//! acknowledged). It joins the *next* check, which starts when the one in
//! flight ends and is shared by every read that arrived meanwhile. A check
//! therefore always starts after each read it answers arrived: its snapshot
//! holds every change committed before that, the same guarantee as a check
//! of one's own. Under light load nothing is in flight and a read checks at
//! once, as before; under heavy load a key costs at most one check in flight
//! plus one waiting, however many reads share them.
//!
//! Each check runs in a task of its own, so a caller that gives up (its
//! client went away) does not leave the others waiting. Only keys with a
//! check in flight are held.

use enuchat_domain::store::{StoreError, StoreResult};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

type Answer<T> = Option<StoreResult<T>>;
type Check<T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send>>;

/// The next check of a key: not started yet, joined by every read that
/// arrives until it starts.
struct Waiting<T> {
    check: Check<T>,
    answer: watch::Sender<Answer<T>>,
}

/// A key with a check in flight, and perhaps the next one waiting.
struct InFlight<T> {
    next: Option<Waiting<T>>,
}

pub(crate) struct SharedChecks<K, T> {
    keys: Arc<Mutex<HashMap<K, InFlight<T>>>>,
    /// Reads answered by a check that another read started.
    shared: AtomicU64,
}

impl<K, T> std::fmt::Debug for SharedChecks<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedChecks")
            .field("shared", &self.shared())
            .finish_non_exhaustive()
    }
}

impl<K, T> Default for SharedChecks<K, T> {
    fn default() -> Self {
        SharedChecks {
            keys: Arc::default(),
            shared: AtomicU64::new(0),
        }
    }
}

impl<K, T> SharedChecks<K, T> {
    /// Reads so far that another read's check answered.
    pub(crate) fn shared(&self) -> u64 {
        self.shared.load(Ordering::Relaxed)
    }
}

fn lock<K, T>(keys: &Mutex<HashMap<K, InFlight<T>>>) -> MutexGuard<'_, HashMap<K, InFlight<T>>> {
    // Every statement under the lock leaves the map consistent.
    keys.lock().unwrap_or_else(|e| e.into_inner())
}

impl<K, T> SharedChecks<K, T>
where
    K: Copy + Eq + Hash + Send + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// What `check` answers for `key`, from a check that started after this
    /// call: `check` itself if no check of `key` is in flight, otherwise the
    /// one that follows it (whichever waiting read's `check` that is; all
    /// checks of one key must ask the same thing).
    pub(crate) async fn check<F>(&self, key: K, check: F) -> StoreResult<T>
    where
        F: Future<Output = StoreResult<T>> + Send + 'static,
    {
        let check: Check<T> = Box::pin(check);
        let (mut answer, start) = {
            let mut keys = lock(&self.keys);
            match keys.get_mut(&key) {
                None => {
                    keys.insert(key, InFlight { next: None });
                    let (sender, receiver) = watch::channel(None);
                    (receiver, Some((sender, check)))
                }
                Some(in_flight) => {
                    self.shared.fetch_add(1, Ordering::Relaxed);
                    let receiver = match &in_flight.next {
                        Some(waiting) => waiting.answer.subscribe(),
                        None => {
                            let (answer, receiver) = watch::channel(None);
                            in_flight.next = Some(Waiting { check, answer });
                            receiver
                        }
                    };
                    (receiver, None)
                }
            }
        };
        if let Some((sender, check)) = start {
            // The guard exists before the task does, outside the lock: a task
            // dropped before it first runs (a runtime shutting down) still
            // frees the key.
            let release = Release {
                keys: self.keys.clone(),
                key,
                done: false,
            };
            tokio::spawn(run(release, check, sender));
        }
        let answered = match answer.wait_for(Option::is_some).await {
            Ok(done) => match &*done {
                Some(result) => result.clone(),
                None => Err(StoreError::Database(
                    "a version check answered nothing".into(),
                )),
            },
            // The task ended without answering: the check panicked, or the
            // runtime is going away.
            Err(_) => Err(StoreError::Database(
                "a version check ended without an answer".into(),
            )),
        };
        answered
    }
}

/// Frees the key of a task that ends without finishing (a check that
/// panicked, a task dropped unrun): the waiting check's readers then see
/// their answer dropped, and the next read of the key starts afresh.
struct Release<K: Copy + Eq + Hash, T> {
    keys: Arc<Mutex<HashMap<K, InFlight<T>>>>,
    key: K,
    done: bool,
}

impl<K: Copy + Eq + Hash, T> Drop for Release<K, T> {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.keys).remove(&self.key);
        }
    }
}

/// Runs `check`, then each check that waited for it, until none waits.
async fn run<K, T>(
    mut release: Release<K, T>,
    mut check: Check<T>,
    mut answer: watch::Sender<Answer<T>>,
) where
    K: Copy + Eq + Hash,
{
    loop {
        let result = check.await;
        answer.send_replace(Some(result));
        // Under the same lock as the look for a waiting check: a read that
        // comes after this finds the key free and checks by itself.
        let mut held = lock(&release.keys);
        match held
            .get_mut(&release.key)
            .and_then(|in_flight| in_flight.next.take())
        {
            Some(next) => {
                check = next.check;
                answer = next.answer;
            }
            None => {
                held.remove(&release.key);
                drop(held);
                release.done = true;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;
    use tokio::sync::Semaphore;
    use tokio::task::JoinHandle;

    /// A version that counts the checks sent, each held until the test lets
    /// one through.
    struct Database {
        checks_sent: AtomicU32,
        gate: Semaphore,
    }

    impl Database {
        fn new() -> Arc<Database> {
            Arc::new(Database {
                checks_sent: AtomicU32::new(0),
                gate: Semaphore::new(0),
            })
        }

        fn sent(&self) -> u32 {
            self.checks_sent.load(Ordering::SeqCst)
        }

        /// A check that answers the number of checks sent until it started.
        fn check(self: &Arc<Self>) -> impl Future<Output = StoreResult<u32>> + Send + 'static {
            let db = self.clone();
            async move {
                let version = db.checks_sent.fetch_add(1, Ordering::SeqCst) + 1;
                db.gate.acquire().await.expect("open").forget();
                Ok(version)
            }
        }
    }

    /// A check that panics once let through.
    async fn explode(db: Arc<Database>) -> StoreResult<u32> {
        db.gate.acquire().await.expect("open").forget();
        panic!("check failed hard")
    }

    type Checks = Arc<SharedChecks<u8, u32>>;

    /// A read of key 1 in a task of its own.
    fn read(checks: &Checks, db: &Arc<Database>) -> JoinHandle<StoreResult<u32>> {
        let (checks, check) = (checks.clone(), db.check());
        tokio::spawn(async move { checks.check(1, check).await })
    }

    /// Fresh checks with a read of key 1 whose check is in flight (held).
    async fn a_check_in_flight() -> (Checks, Arc<Database>, JoinHandle<StoreResult<u32>>) {
        let checks = Checks::default();
        let db = Database::new();
        let first = read(&checks, &db);
        until(|| db.sent() == 1).await;
        (checks, db, first)
    }

    /// A read's answer; the test fails instead of hanging if none comes.
    async fn answered(read: JoinHandle<StoreResult<u32>>) -> StoreResult<u32> {
        let read = tokio::time::timeout(Duration::from_secs(5), read).await;
        read.expect("answered in time").expect("the read's task")
    }

    async fn until(what: impl Fn() -> bool) {
        for _ in 0..2_000 {
            if what() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out");
    }

    #[tokio::test]
    async fn reads_during_a_check_share_the_next_one_not_that_one() {
        let (checks, db, first) = a_check_in_flight().await;
        // Arrived while check 1 is in flight: not answered by it.
        let later: Vec<_> = (0..5).map(|_| read(&checks, &db)).collect();
        until(|| checks.shared() == 5).await;
        // Another key is not held up by key 1.
        let other = checks.check(2, async { Ok(7) }).await;
        assert_eq!(other.unwrap(), 7);
        tokio::task::yield_now().await;
        assert_eq!(db.sent(), 1, "the later reads wait for check 1 to end");

        db.gate.add_permits(1);
        assert_eq!(answered(first).await.unwrap(), 1);
        until(|| db.sent() == 2).await;
        db.gate.add_permits(1);
        for read in later {
            assert_eq!(answered(read).await.unwrap(), 2);
        }
        assert_eq!(db.sent(), 2, "one check for the five later reads");
        assert_eq!(checks.shared(), 5);
        assert!(lock(&checks.keys).is_empty(), "nothing held once done");

        // Nothing in flight: the next read checks at once.
        db.gate.add_permits(1);
        assert_eq!(answered(read(&checks, &db)).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_failed_check_fails_its_readers_only() {
        let (checks, db, first) = a_check_in_flight().await;
        let joined: Vec<_> = (0..3)
            .map(|_| {
                let checks = checks.clone();
                tokio::spawn(async move {
                    checks
                        .check(1, async { Err(StoreError::Database("lost".into())) })
                        .await
                })
            })
            .collect();
        until(|| checks.shared() == 3).await;
        db.gate.add_permits(1);
        assert_eq!(answered(first).await.unwrap(), 1);
        for read in joined {
            assert!(matches!(answered(read).await, Err(StoreError::Database(_))));
        }
        db.gate.add_permits(1);
        assert_eq!(answered(read(&checks, &db)).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_reader_that_gives_up_leaves_the_check_to_the_others() {
        let (checks, db, gave_up) = a_check_in_flight().await;
        let waiting = read(&checks, &db);
        until(|| checks.shared() == 1).await;
        gave_up.abort();
        db.gate.add_permits(2);
        assert_eq!(answered(waiting).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_check_that_panics_releases_its_key() {
        let checks = Checks::default();
        let db = Database::new();
        let panicking = tokio::spawn({
            let (checks, db) = (checks.clone(), db.clone());
            async move { checks.check(1, explode(db)).await }
        });
        until(|| !lock(&checks.keys).is_empty()).await;
        let joined = read(&checks, &db);
        until(|| checks.shared() == 1).await;
        db.gate.add_permits(1);
        assert!(answered(panicking).await.is_err());
        assert!(answered(joined).await.is_err());
        assert!(lock(&checks.keys).is_empty());
        db.gate.add_permits(1);
        assert_eq!(answered(read(&checks, &db)).await.unwrap(), 1);
    }

    #[test]
    fn a_check_dropped_before_it_runs_frees_its_key() {
        let checks = Checks::default();
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime")
        };
        // The read gets as far as spawning its check; then its runtime goes
        // away with the check's task never run.
        let going = runtime();
        going.block_on(async {
            let read = checks.check(1, async { Ok(1) });
            let mut read = std::pin::pin!(read);
            assert!(futures::poll!(read.as_mut()).is_pending());
            assert!(!lock(&checks.keys).is_empty(), "the check is in flight");
        });
        drop(going);
        assert!(lock(&checks.keys).is_empty(), "freed with its task");
        let answer = runtime().block_on(checks.check(1, async { Ok(2) }));
        assert_eq!(answer.unwrap(), 2);
    }
}
