//! Two threads in lockstep: a spinning barrier, and the slots through which the shards of a
//! batch exchange what the other needs.
//!
//! A batch costs tens of microseconds, and each one needs two meeting points, so a barrier
//! that sleeps in the kernel (`std::sync::Barrier`, a futex per wait) would cost more than the
//! work it guards; this one spins briefly and then yields, which also keeps it fair on a
//! machine with fewer cores than threads. If a thread panics, the barrier is poisoned and the
//! other one panics too instead of waiting forever.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A reusable barrier for a fixed number of threads.
pub(crate) struct SpinBarrier {
    parties: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    poisoned: AtomicBool,
}

impl SpinBarrier {
    pub(crate) fn new(parties: usize) -> SpinBarrier {
        SpinBarrier {
            parties,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Waits until every party has arrived. Everything a thread wrote before `wait` is
    /// visible to every thread after it (acquire/release on the generation).
    pub(crate) fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.parties {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            assert!(
                !self.poisoned.load(Ordering::Relaxed),
                "the other training thread panicked"
            );
            if spins < 2_000 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Marks the barrier broken: waiting threads panic instead of waiting forever.
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Relaxed);
    }
}

/// Poisons the barrier if the thread holding it unwinds.
pub(crate) struct PoisonOnPanic<'a>(pub(crate) &'a SpinBarrier);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn no_thread_passes_before_all_arrive() {
        let barrier = SpinBarrier::new(2);
        let log = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for thread in 0..2 {
                let (barrier, log) = (&barrier, &log);
                scope.spawn(move || {
                    for round in 0..200 {
                        log.lock().unwrap().push((round, thread));
                        barrier.wait();
                    }
                });
            }
        });
        let log = log.into_inner().unwrap();
        // Both threads log round r before either logs round r + 1.
        for pair in log.chunks(2) {
            assert_eq!(pair[0].0, pair[1].0, "{pair:?}");
            assert_ne!(pair[0].1, pair[1].1);
        }
    }

    #[test]
    fn a_panicking_partner_breaks_the_wait() {
        let barrier = SpinBarrier::new(2);
        let result = std::thread::scope(|scope| {
            let waiter = scope.spawn(|| barrier.wait());
            let failing = scope.spawn(|| {
                let _guard = PoisonOnPanic(&barrier);
                panic!("a training thread fails");
            });
            assert!(failing.join().is_err());
            waiter.join()
        });
        assert!(result.is_err(), "the waiter panics instead of hanging");
    }
}
