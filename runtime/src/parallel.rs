//! How kernels use the machine's cores.
//!
//! A [`Parallel`] is a handle kernels receive; [`Parallel::for_each_thread`]
//! runs one task per thread and returns when all are done. This first
//! version spawns scoped threads per call; a persistent pool replaces it
//! behind the same interface.

/// The threads a kernel may use.
#[derive(Debug)]
pub struct Parallel {
    threads: usize,
}

impl Parallel {
    /// A handle for `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        Parallel {
            threads: threads.max(1),
        }
    }

    /// Everything on the calling thread.
    pub fn single() -> Self {
        Parallel::new(1)
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `task(i)` for every thread index `i` in `0..threads()`, the
    /// calling thread taking index 0; returns when every task has finished.
    pub fn for_each_thread(&self, task: &(dyn Fn(usize) + Sync)) {
        if self.threads == 1 {
            task(0);
            return;
        }
        std::thread::scope(|scope| {
            for i in 1..self.threads {
                scope.spawn(move || task(i));
            }
            task(0);
        });
    }
}
