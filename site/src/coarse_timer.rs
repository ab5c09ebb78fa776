//! The clock behind hyper's header-read timeout and the body timeout: deadlines of seconds,
//! checked every [`TICK`], at the cost of an allocation per request instead of a system call.
//!
//! hyper starts a sleep for every request's headers and drops it when they arrive. With
//! tokio's timer that sleep is an insert into and a removal from one wheel under one lock
//! shared by every worker, and when the runtime had parked with no timer pending, the insert
//! also wakes the parked thread (an `eventfd` write and a context switch). Here a sleep is its
//! deadline plus a slot in a shared list, and one thread looks through the list every [`TICK`],
//! waking the sleeps that are due; a sleep dropped before then only leaves a dead slot for the
//! next look to clear. A sleep never ends before its deadline and at most about one [`TICK`]
//! after it: plenty for a timeout of seconds.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use hyper::rt::{Sleep, Timer};

/// How often due sleeps are looked for: the most a sleep may end after its deadline.
pub const TICK: Duration = Duration::from_millis(100);

/// A [`Timer`] for hyper whose sleeps end within [`TICK`] after their deadline.
#[derive(Clone)]
pub struct CoarseTimer {
    waiting: Arc<Waiting>,
}

/// The sleeps that have been polled and are not yet known to be done or dropped.
#[derive(Default)]
struct Waiting {
    slots: Mutex<Vec<Weak<Slot>>>,
}

impl Waiting {
    fn lock(&self) -> MutexGuard<'_, Vec<Weak<Slot>>> {
        // Only pushes and swaps happen under the lock: a panic cannot leave it half done.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes the sleeps due by `now` and forgets them and the dropped ones.
    fn wake_due(&self, now: Instant) {
        let slots = std::mem::take(&mut *self.lock());
        let mut still = Vec::with_capacity(slots.len());
        for weak in slots {
            let Some(slot) = weak.upgrade() else { continue };
            if slot.deadline <= now {
                slot.waker.wake();
            } else {
                still.push(weak);
            }
        }
        // Slots registered meanwhile were pushed onto the empty list; keep both.
        self.lock().append(&mut still);
    }
}

/// What the waking thread needs of a sleep: when it is due, and whom to wake.
struct Slot {
    deadline: Instant,
    waker: AtomicWaker,
}

impl CoarseTimer {
    /// A timer, and the thread that wakes its sleeps (a thread rather than a task, so that a
    /// timer can be made before the runtime). The thread ends once the timer and every sleep
    /// it made are gone. Without it no sleep would ever end (hyper polls a sleep only when it
    /// is woken), so a thread that cannot be started is an error, not a degraded timer.
    pub fn new() -> std::io::Result<CoarseTimer> {
        let waiting = Arc::new(Waiting::default());
        let weak = Arc::downgrade(&waiting);
        std::thread::Builder::new()
            .name("cinerec-timer".into())
            .spawn(move || loop {
                std::thread::sleep(TICK);
                let Some(waiting) = weak.upgrade() else {
                    return;
                };
                waiting.wake_due(Instant::now());
            })?;
        Ok(CoarseTimer { waiting })
    }

    /// A future that ends within [`TICK`] after `duration` from now.
    pub fn sleep(&self, duration: Duration) -> CoarseSleep {
        self.sleep_until(Instant::now() + duration)
    }

    /// A future that ends within [`TICK`] after `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> CoarseSleep {
        CoarseSleep {
            deadline,
            waiting: self.waiting.clone(),
            slot: None,
        }
    }
}

impl Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(CoarseTimer::sleep(self, duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(CoarseTimer::sleep_until(self, deadline))
    }
}

/// A sleep of [`CoarseTimer`]: registered in the shared list when first polled.
pub struct CoarseSleep {
    deadline: Instant,
    waiting: Arc<Waiting>,
    slot: Option<Arc<Slot>>,
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            return Poll::Ready(());
        }
        match &this.slot {
            Some(slot) => slot.waker.register(cx.waker()),
            None => {
                let slot = Arc::new(Slot {
                    deadline: this.deadline,
                    waker: AtomicWaker::new(),
                });
                slot.waker.register(cx.waker());
                this.waiting.lock().push(Arc::downgrade(&slot));
                this.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Sleep for CoarseSleep {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sleep_ends_after_its_deadline_and_within_a_tick_or_two() {
        let timer = CoarseTimer::new().unwrap();
        for wait in [
            Duration::ZERO,
            Duration::from_millis(30),
            Duration::from_millis(250),
        ] {
            let started = Instant::now();
            timer.sleep(wait).await;
            let slept = started.elapsed();
            assert!(slept >= wait, "{slept:?} < {wait:?}");
            // One tick late at most, plus generous room for a loaded test machine.
            assert!(
                slept < wait + 2 * TICK + Duration::from_secs(1),
                "{slept:?}"
            );
        }
    }

    /// Polls once with a waker that does nothing.
    fn poll_once(sleep: &mut CoarseSleep) -> Poll<()> {
        Pin::new(sleep).poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn dropped_sleeps_are_forgotten_and_due_ones_woken() {
        let timer = CoarseTimer::new().unwrap();
        // Polled once (so registered), then dropped.
        for _ in 0..1000 {
            let mut sleep = timer.sleep(Duration::from_secs(60));
            assert!(poll_once(&mut sleep).is_pending());
        }
        let mut kept = timer.sleep(Duration::from_secs(60));
        assert!(poll_once(&mut kept).is_pending());
        assert_eq!(timer.waiting.lock().len(), 1001);
        timer.waiting.wake_due(Instant::now());
        assert_eq!(timer.waiting.lock().len(), 1, "only the live sleep stays");
        timer
            .waiting
            .wake_due(Instant::now() + Duration::from_secs(61));
        assert_eq!(
            timer.waiting.lock().len(),
            0,
            "a due sleep is woken and forgotten"
        );
        drop(kept);
    }

    #[test]
    fn the_waking_thread_does_not_keep_the_timer_alive() {
        let timer = CoarseTimer::new().unwrap();
        let weak = Arc::downgrade(&timer.waiting);
        drop(timer);
        assert!(weak.upgrade().is_none());
    }
}
