//! The thread pool: every index runs once, panics propagate, nested and
//! concurrent calls, chunked helpers.

use super::*;
use std::sync::atomic::AtomicUsize;

#[test]
fn every_index_runs_once() {
    for threads in 1..=4 {
        let par = Parallel::new(threads);
        for _ in 0..200 {
            let hits: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
            par.for_each_thread(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }
}

#[test]
fn survives_parking() {
    let par = Parallel::new(2);
    let n = AtomicUsize::new(0);
    for _ in 0..3 {
        par.for_each_thread(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        std::thread::sleep(WORKER_SPIN * 3);
    }
    assert_eq!(n.load(Ordering::Relaxed), 6);
}

#[test]
fn panic_propagates_and_pool_stays_usable() {
    let par = Parallel::new(2);
    for bad in 0..2 {
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            par.for_each_thread(&|i| {
                if i == bad {
                    panic!("task {i} fails on purpose");
                }
            })
        }));
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        par.for_each_thread(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }
}

#[test]
fn nested_and_concurrent_calls_do_not_deadlock() {
    let par = Parallel::new(2);
    let n = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..300 {
                    par.for_each_thread(&|_| {
                        par.for_each_thread(&|_| {
                            n.fetch_add(1, Ordering::Relaxed);
                        });
                    });
                }
            });
        }
    });
    assert_eq!(n.load(Ordering::Relaxed), 3 * 300 * 4);
}

#[test]
fn chunks_cover_the_slice_in_whole_units() {
    for threads in 1..=3 {
        let par = Parallel::new(threads);
        for len in [0, 1, 5, 6, 7, 30, 31] {
            let mut v = vec![0usize; len];
            par.for_each_chunk_mut(&mut v, 3, &|first, chunk| {
                for (j, x) in chunk.iter_mut().enumerate() {
                    *x = first * 3 + j + 1;
                }
            });
            assert_eq!(
                v,
                (1..=len).collect::<Vec<_>>(),
                "threads {threads} len {len}"
            );
        }
    }
}

#[test]
fn ranges_partition() {
    for n in [0, 1, 7, 100, 101] {
        for parts in 1..5 {
            let mut next = 0;
            for p in 0..parts {
                let r = split_range(n, parts, p);
                assert_eq!(r.start, next);
                next = r.end;
                let a = split_range_aligned(n, parts, p, 16);
                assert!(a.start.is_multiple_of(16) || a.start == n);
            }
            assert_eq!(next, n);
        }
    }
}

#[test]
fn run_items_with_lends_each_thread_its_own_scratch() {
    for threads in 1..=3 {
        let par = Parallel::new(threads);
        let mut items: Vec<u32> = vec![0; 97];
        // One scratch counter per thread: each counts the items it ran.
        let mut scratch: Vec<usize> = vec![0; threads];
        crate::threads::run_items_with(
            &par,
            items.chunks_mut(5),
            scratch.iter_mut(),
            |chunk, ran| {
                chunk.iter_mut().for_each(|v| *v += 1);
                **ran += chunk.len();
            },
        );
        assert!(items.iter().all(|&v| v == 1), "every item once");
        assert_eq!(scratch.iter().sum::<usize>(), 97, "{threads} threads");
    }
}
