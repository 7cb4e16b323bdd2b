//! Per-example work spread over the machine's cores (scoped threads, contiguous chunks, results
//! in input order): the metrics are sums over examples, so scoring parallelises without
//! changing a figure.

use std::sync::atomic::{AtomicUsize, Ordering};

/// At most this many threads (0: one per core).
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Fewer examples than this are scored on the calling thread.
const PARALLEL_FROM: usize = 512;

/// Limits the threads the metrics use (0: one per core), e.g. to measure one core.
pub fn set_threads(threads: usize) {
    THREADS.store(threads, Ordering::Relaxed);
}

/// The threads the metrics use now.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map(usize::from).unwrap_or(1).min(16),
        n => n,
    }
}

/// `f` of every item, in order.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads();
    if threads <= 1 || items.len() < PARALLEL_FROM {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a scoring thread panicked")).collect()
    })
}

/// `f` of contiguous chunks of the items (one per thread; one chunk for few items), in order.
pub(crate) fn chunks<'a, T: Sync, R: Send>(items: &'a [T], f: impl Fn(&'a [T]) -> R + Sync) -> Vec<R> {
    let threads = threads();
    if threads <= 1 || items.len() < PARALLEL_FROM {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items.chunks(size).map(|part| scope.spawn(move || f(part))).collect();
        handles.into_iter().map(|h| h.join().expect("a scoring thread panicked")).collect()
    })
}

/// `f` of each part (as [`chunks`] made them), each on its own thread when there are several.
pub(crate) fn each<T: Sync, R: Send>(parts: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if parts.len() <= 1 {
        return parts.iter().map(f).collect();
    }
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = parts.iter().map(|part| scope.spawn(move || f(part))).collect();
        handles.into_iter().map(|h| h.join().expect("a scoring thread panicked")).collect()
    })
}
