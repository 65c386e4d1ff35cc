//! How kernels use the machine's cores.
//!
//! A [`Parallel`] is a handle kernels receive; [`Parallel::for_each_thread`]
//! runs one task per thread and returns when all are done. The handle owns a
//! persistent pool: its workers poll for a short while after each task (a
//! training step issues parallel kernels back to back, tens of microseconds
//! apart) and then park on a condition variable, so a call costs a fraction
//! of a microsecond when the workers are hot and a futex wake-up (a few
//! microseconds) when they slept. Numbers: bench/README.md.
//!
//! Calls that find the pool busy (from another thread sharing the handle)
//! or that come from inside a task running on any pool's worker run every
//! task index on the calling thread instead of waiting, so no call can
//! deadlock on a pool.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::threads::{Threads, split_range, split_range_aligned};

/// How long an idle worker keeps polling for the next task before parking.
/// Long enough to bridge the serial gaps between the kernels of one training
/// step, short enough not to burn a core while the program does other work.
const WORKER_SPIN: Duration = Duration::from_micros(300);

/// For this long an idle worker polls without yielding its core.
const WORKER_PURE_SPIN: Duration = Duration::from_micros(20);

/// How long the caller polls for the last running index before blocking.
const CALLER_SPIN: Duration = Duration::from_micros(50);

/// The threads a kernel may use. Cloning shares the same pool.
#[derive(Clone)]
pub struct Parallel {
    threads: usize,
    pool: Option<Arc<Pool>>,
}

impl std::fmt::Debug for Parallel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parallel")
            .field("threads", &self.threads)
            .finish()
    }
}

impl Default for Parallel {
    fn default() -> Self {
        Parallel::single()
    }
}

impl Parallel {
    /// A handle for `threads` threads (at least one): the caller plus
    /// `threads - 1` pool workers started now.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let pool = (threads > 1).then(|| Arc::new(Pool::start(threads - 1)));
        Parallel { threads, pool }
    }

    /// Everything on the calling thread.
    pub fn single() -> Self {
        Parallel::new(1)
    }

    /// One thread per core the operating system reports.
    pub fn available() -> Self {
        Parallel::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `task(i)` for every thread index `i` in `0..threads()`, the
    /// calling thread taking index 0; returns when every task has finished.
    ///
    /// An index whose worker has not picked it up by the time the caller is
    /// done with its own runs on the caller instead, so tasks must not rely
    /// on running on distinct threads (they only ever run once each).
    ///
    /// If any task panics, the panic is propagated to the caller after all
    /// tasks have finished, and the pool stays usable.
    pub fn for_each_thread(&self, task: &(dyn Fn(usize) + Sync)) {
        match &self.pool {
            None => task(0),
            Some(pool) => pool.run(self.threads, task),
        }
    }

    /// Splits `data` into `threads()` contiguous chunks whose lengths are
    /// multiples of `unit` (the last may hold a partial unit) and runs
    /// `task(first_unit, chunk)` on each in parallel; empty chunks are skipped.
    ///
    /// `unit` is typically a row length, so every task gets whole rows and
    /// `first_unit` is its first row's index.
    pub fn for_each_chunk_mut<T: Send>(
        &self,
        data: &mut [T],
        unit: usize,
        task: &(dyn Fn(usize, &mut [T]) + Sync),
    ) {
        crate::threads::for_each_chunk_mut(self, data, unit, task);
    }
}

impl Threads for Parallel {
    fn threads(&self) -> usize {
        self.threads
    }

    fn for_each_thread(&self, task: &(dyn Fn(usize) + Sync)) {
        Parallel::for_each_thread(self, task);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking task never holds a pool lock, but be robust anyway: the
    // protected data stays consistent at every unlock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A task as the workers see it: the caller's `&dyn Fn` with its lifetime
/// erased. Valid only while the job it belongs to has unfinished indices,
/// which `Pool::run` guarantees by waiting for all of them.
#[derive(Clone, Copy)]
struct TaskPtr(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync`, so sharing the pointer with worker threads
// is as safe as sharing the reference it came from.
unsafe impl Send for TaskPtr {}

struct Job {
    task: Option<TaskPtr>,
    /// How many task indices the current job has.
    threads: usize,
    shutdown: bool,
    /// Workers currently blocked on `work_ready`.
    sleepers: usize,
}

/// Low bits of `Shared::claim` hold the next unclaimed task index, high
/// bits the (truncated) epoch of the job it belongs to.
const INDEX_BITS: u32 = 20;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

fn claim_word(epoch: u64, index: usize) -> u64 {
    (epoch << INDEX_BITS) | index as u64
}

struct Shared {
    job: Mutex<Job>,
    work_ready: Condvar,
    /// Bumped (under `job`'s lock) for every new job; polled without the lock.
    epoch: AtomicU64,
    /// Task indices are claimed from here by workers and by the caller alike,
    /// so a descheduled or slow-to-wake worker never holds a job up: the
    /// caller runs the unclaimed indices itself. Tagging the counter with the
    /// epoch stops a late worker from claiming an index of a newer job with
    /// an older job's (dangling) task.
    claim: AtomicU64,
    /// Task indices (of `1..threads`) not yet finished.
    pending: AtomicUsize,
    /// Set when a task of index > 0 panicked; checked by the caller.
    panicked: AtomicBool,
    done: Mutex<()>,
    done_cv: Condvar,
    /// True while the caller is (about to be) blocked on `done_cv`.
    caller_waiting: AtomicBool,
}

impl Shared {
    /// Claims and runs indices of the job of `epoch` until none is left.
    fn run_claimed(&self, epoch: u64, task: TaskPtr, threads: usize) {
        loop {
            let cur = self.claim.load(Ordering::Acquire);
            let index = (cur & INDEX_MASK) as usize;
            if cur != claim_word(epoch, index) || index >= threads {
                return;
            }
            if self
                .claim
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            // SAFETY: we claimed an index of the job of `epoch` while it was
            // current, so the job is unfinished (`pending` counts our index)
            // and its caller is still inside `Pool::run`, keeping the task
            // alive until we decrement `pending` below.
            let f = unsafe { &*task.0 };
            if panic::catch_unwind(AssertUnwindSafe(|| f(index))).is_err() {
                // Before `pending` drops, so the caller cannot miss it.
                self.panicked.store(true, Ordering::Release);
            }
            if self.pending.fetch_sub(1, Ordering::SeqCst) == 1
                && self.caller_waiting.load(Ordering::SeqCst)
            {
                let _guard = lock(&self.done);
                self.done_cv.notify_all();
            }
        }
    }
}

struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Taken by the one caller currently driving the pool.
    busy: AtomicBool,
}

thread_local! {
    /// Set on pool worker threads, so nested calls never wait for a pool.
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
}

impl Pool {
    fn start(workers: usize) -> Pool {
        let shared = Arc::new(Shared {
            job: Mutex::new(Job {
                task: None,
                threads: 0,
                shutdown: false,
                sleepers: 0,
            }),
            work_ready: Condvar::new(),
            epoch: AtomicU64::new(0),
            claim: AtomicU64::new(claim_word(0, usize::MAX & INDEX_MASK as usize)),
            pending: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            done: Mutex::new(()),
            done_cv: Condvar::new(),
            caller_waiting: AtomicBool::new(false),
        });
        let workers = (0..workers)
            .map(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("nnspec-worker-{}", index + 1))
                    .spawn(move || worker(&shared))
                    .expect("spawning a pool worker thread")
            })
            .collect();
        Pool {
            shared,
            workers,
            busy: AtomicBool::new(false),
        }
    }

    fn run(&self, threads: usize, task: &(dyn Fn(usize) + Sync)) {
        let nested = IN_WORKER.with(|w| w.get());
        if nested
            || self
                .busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            for i in 0..threads {
                task(i);
            }
            return;
        }
        let shared = &*self.shared;
        // SAFETY: only the lifetime is erased. Indices are run only after
        // being claimed for this job, and this function does not return (or
        // unwind) before every claimed index has finished (`pending` == 0).
        let erased: &'static (dyn Fn(usize) + Sync) = unsafe {
            std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(task)
        };
        let task_ptr = TaskPtr(erased);
        let epoch = {
            let mut job = lock(&shared.job);
            job.task = Some(task_ptr);
            job.threads = threads;
            shared.panicked.store(false, Ordering::Relaxed);
            shared.pending.store(threads - 1, Ordering::Relaxed);
            let epoch = (shared.epoch.load(Ordering::Relaxed) + 1) & (u64::MAX >> INDEX_BITS);
            shared.claim.store(claim_word(epoch, 1), Ordering::Release);
            shared.epoch.store(epoch, Ordering::Release);
            if job.sleepers > 0 {
                shared.work_ready.notify_all();
            }
            epoch
        };
        let mine = panic::catch_unwind(AssertUnwindSafe(|| task(0)));
        shared.run_claimed(epoch, task_ptr, threads);
        self.wait_done();
        let worker_panicked = shared.panicked.load(Ordering::Acquire);
        self.busy.store(false, Ordering::Release);
        if let Err(payload) = mine {
            panic::resume_unwind(payload);
        }
        if worker_panicked {
            panic!("a parallel task panicked");
        }
    }

    fn wait_done(&self) {
        let shared = &*self.shared;
        let start = Instant::now();
        let mut spins = 0u32;
        while shared.pending.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(64) && start.elapsed() > CALLER_SPIN {
                // The worker running the last index was descheduled; block.
                let mut guard = lock(&shared.done);
                shared.caller_waiting.store(true, Ordering::SeqCst);
                while shared.pending.load(Ordering::SeqCst) != 0 {
                    guard = shared
                        .done_cv
                        .wait(guard)
                        .unwrap_or_else(|e| e.into_inner());
                }
                shared.caller_waiting.store(false, Ordering::Relaxed);
                return;
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        {
            let mut job = lock(&self.shared.job);
            job.shutdown = true;
            self.shared.epoch.fetch_add(1, Ordering::Release);
            self.shared.work_ready.notify_all();
        }
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker(shared: &Shared) {
    IN_WORKER.with(|w| w.set(true));
    let mut seen = 0u64;
    loop {
        // Poll for a new epoch, then park.
        let start = Instant::now();
        let mut spins = 0u32;
        while shared.epoch.load(Ordering::Acquire) == seen {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(256) {
                let idle = start.elapsed();
                if idle > WORKER_SPIN {
                    break;
                }
                if idle > WORKER_PURE_SPIN {
                    // Past the gaps inside one kernel sequence: let other
                    // threads on this core run (the caller itself, when the
                    // pool has more threads than the machine has cores).
                    std::thread::yield_now();
                }
            }
        }
        let (task, threads) = {
            let mut job = lock(&shared.job);
            while shared.epoch.load(Ordering::Acquire) == seen && !job.shutdown {
                job.sleepers += 1;
                job = shared
                    .work_ready
                    .wait(job)
                    .unwrap_or_else(|e| e.into_inner());
                job.sleepers -= 1;
            }
            if job.shutdown {
                return;
            }
            seen = shared.epoch.load(Ordering::Acquire);
            (job.task, job.threads)
        };
        if let Some(task) = task {
            shared.run_claimed(seen, task, threads);
        }
    }
}

#[cfg(test)]
mod tests;
