//! How kernels use the machine's cores, without `std`.
//!
//! A kernel receives a `&dyn` [`Threads`]: how many threads it may use and
//! a way to run one task per thread. The `std` crate's thread pool
//! (`nnspec_runtime::parallel::Parallel`) implements it; [`Serial`] runs
//! everything on the calling thread, for callers without threads (a deploy
//! build, or a kernel that already runs inside one thread's task).
//!
//! The helpers here ([`run_items`], [`for_each_chunk_mut`], [`split_range`])
//! hand work to the threads without allocating.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut, Range};
use core::sync::atomic::{AtomicBool, Ordering};

/// The threads a kernel may use.
pub trait Threads: Sync {
    /// How many task indices [`Threads::for_each_thread`] runs (at least 1).
    fn threads(&self) -> usize;

    /// Runs `task(i)` for every `i` in `0..threads()` and returns when all
    /// have finished. Tasks must not rely on running on distinct threads:
    /// each index runs exactly once, on whichever thread is free.
    fn for_each_thread(&self, task: &(dyn Fn(usize) + Sync));
}

/// One thread: the caller's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Serial;

impl Threads for Serial {
    fn threads(&self) -> usize {
        1
    }

    fn for_each_thread(&self, task: &(dyn Fn(usize) + Sync)) {
        task(0);
    }
}

/// The `part`-th of `parts` nearly equal consecutive sub-ranges of `0..n`
/// (the first `n % parts` ranges are one longer).
pub fn split_range(n: usize, parts: usize, part: usize) -> Range<usize> {
    assert!(part < parts, "split_range: part {part} of {parts}");
    let base = n / parts;
    let extra = n % parts;
    let start = part * base + part.min(extra);
    let len = base + usize::from(part < extra);
    start..start + len
}

/// Like [`split_range`], but every boundary except the end of the last range
/// falls on a multiple of `align` (so SIMD tiles are not cut in two).
pub fn split_range_aligned(n: usize, parts: usize, part: usize, align: usize) -> Range<usize> {
    let align = align.max(1);
    let r = split_range(n.div_ceil(align), parts, part);
    (r.start * align).min(n)..(r.end * align).min(n)
}

/// Runs `f` on every item, the threads of `par` taking items from a shared
/// queue. Handing out `&mut` chunks through the queue keeps the split safe
/// and allocation-free; the lock is taken once per item, so items should be
/// coarse (about one per thread).
pub fn run_items<I: Iterator + Send>(par: &dyn Threads, items: I, f: impl Fn(I::Item) + Sync) {
    if par.threads() == 1 {
        items.for_each(f);
        return;
    }
    let queue = SpinLock::new(items);
    par.for_each_thread(&|_| {
        loop {
            // The guard is a temporary, so the lock is released before `f` runs.
            let item = queue.lock().next();
            match item {
                Some(item) => f(item),
                None => break,
            }
        }
    });
}

/// Like [`run_items`], with per-thread state: each thread first takes one
/// element of `scratch` (so it needs one per thread) and lends it to every
/// item it runs. Items can then be finer than one per thread without each
/// needing scratch of its own, so a thread that runs slowly (a busy
/// neighbour on a shared core) holds up only its own few items while the
/// others take the rest.
pub fn run_items_with<I, S>(
    par: &dyn Threads,
    items: I,
    mut scratch: S,
    f: impl Fn(I::Item, &mut S::Item) + Sync,
) where
    I: Iterator + Send,
    S: Iterator + Send,
{
    if par.threads() == 1 {
        let mut mine = scratch.next().expect("run_items_with: no scratch");
        items.for_each(|item| f(item, &mut mine));
        return;
    }
    let queue = SpinLock::new(items);
    let scratch = SpinLock::new(scratch);
    par.for_each_thread(&|_| {
        // Threads beyond the scratch's count sit this one out.
        let Some(mut mine) = scratch.lock().next() else {
            return;
        };
        loop {
            let item = queue.lock().next();
            match item {
                Some(item) => f(item, &mut mine),
                None => break,
            }
        }
    });
}

/// Splits `data` into `threads()` contiguous chunks whose lengths are
/// multiples of `unit` (the last may hold a partial unit) and runs
/// `task(first_unit, chunk)` on each in parallel; empty chunks are skipped.
///
/// `unit` is typically a row length, so every task gets whole rows and
/// `first_unit` is its first row's index.
pub fn for_each_chunk_mut<T: Send>(
    par: &dyn Threads,
    data: &mut [T],
    unit: usize,
    task: &(dyn Fn(usize, &mut [T]) + Sync),
) {
    let unit = unit.max(1);
    let units = data.len().div_ceil(unit);
    let threads = par.threads();
    if threads == 1 || units <= 1 {
        if !data.is_empty() {
            task(0, data);
        }
        return;
    }
    let parts = threads.min(units);
    let mut rest = data;
    let mut part = 0;
    let chunks = core::iter::from_fn(move || {
        if part == parts {
            return None;
        }
        let r = split_range(units, parts, part);
        part += 1;
        let len = (r.len() * unit).min(rest.len());
        let (chunk, tail) = core::mem::take(&mut rest).split_at_mut(len);
        rest = tail;
        Some((r.start, chunk))
    });
    run_items(par, chunks, |(first, chunk)| task(first, chunk));
}

/// A minimal lock for handing out work items: held only while an item is
/// taken from an iterator, never while work runs.
struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and one guard exists
// at a time (the `locked` flag), as with `std::sync::Mutex`.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    fn lock(&self) -> SpinGuard<'_, T> {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.locked.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        SpinGuard { lock: self }
    }
}

struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// Real threads for the unit tests: `n` scoped threads per call.
#[cfg(test)]
pub(crate) struct Scoped(pub usize);

#[cfg(test)]
impl Threads for Scoped {
    fn threads(&self) -> usize {
        self.0.max(1)
    }

    fn for_each_thread(&self, task: &(dyn Fn(usize) + Sync)) {
        std::thread::scope(|s| {
            for i in 1..self.threads() {
                s.spawn(move || task(i));
            }
            task(0);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_runs_index_zero_once() {
        let count = core::sync::atomic::AtomicUsize::new(0);
        Serial.for_each_thread(&|i| {
            assert_eq!(i, 0);
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }

    /// Pretends to have `0` threads but runs their tasks one after another.
    struct Fake(usize);
    impl Threads for Fake {
        fn threads(&self) -> usize {
            self.0
        }
        fn for_each_thread(&self, task: &(dyn Fn(usize) + Sync)) {
            for i in (0..self.0).rev() {
                task(i);
            }
        }
    }

    #[test]
    fn chunks_cover_the_data_once_with_their_first_unit() {
        for threads in 1..5 {
            for len in [0usize, 1, 5, 16, 33] {
                let mut data = [0usize; 33];
                let data = &mut data[..len];
                for_each_chunk_mut(&Fake(threads), data, 4, &|first, chunk| {
                    for (i, v) in chunk.iter_mut().enumerate() {
                        *v = first * 4 + i + 1;
                    }
                });
                for (i, v) in data.iter().enumerate() {
                    assert_eq!(*v, i + 1, "threads {threads} len {len}");
                }
            }
        }
    }
}
