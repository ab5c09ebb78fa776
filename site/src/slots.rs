//! The `--max-connections` slots, and who gives one up when they are all taken.
//!
//! A slot is held from accept to close. When all are taken, the connection that has been idle
//! the longest (between two requests of a keep-alive client, or connected and silent) is told
//! to close, and the newcomer takes its slot at once: clients that each send a tiny request
//! every few seconds would otherwise hold every slot for as long as they like, since they never
//! stay idle long enough for the header timeout. Closing is hyper's graceful shutdown: a
//! request that arrives meanwhile is still answered, then the connection closes; so, for a
//! moment, the connections open may exceed the limit by those closing. Only when every
//! connection is in the middle of a request does a newcomer wait, and those are bounded by the
//! request and write timeouts. Running out of file descriptors before the limit (a low
//! `ulimit -n`) is a full house too: the server then closes the longest idle connection
//! ([`Slots::evict_idle`]) and accepts again.
//!
//! With `--max-connections-per-ip`, an address at its cap gives up its own connection idle
//! the longest for its newcomer, or, when all of its connections are busy, the newcomer is
//! closed at once (waiting would hold up the accept loop for everyone).
//!
//! The per-request cost is two atomic operations on the connection's own counter and a clock
//! read; the registry's lock is taken once per connection, and the scan for the longest idle
//! one happens only when the house is full.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

/// The slots of one server.
pub struct Slots {
    max: usize,
    /// The most connections from one address (0: no cap).
    per_ip: usize,
    /// When the server started: idle times are nanoseconds since.
    epoch: Instant,
    inner: Mutex<Inner>,
    /// A slot was freed or a connection became idle: the accept loop may look again.
    changed: Notify,
    /// The last connection ended.
    emptied: Notify,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// The connections holding a slot.
    holding: HashMap<u64, Arc<Connection>>,
    /// How many of them each address holds (only with a per-address cap).
    by_ip: HashMap<IpAddr, usize>,
    /// Every connection not yet ended, those closing to make room included.
    live: usize,
    /// How many were closed to make room (for the log).
    evicted: u64,
}

/// One connection's state, shared between its task and the registry.
pub struct Connection {
    /// The client's address.
    ip: IpAddr,
    /// Requests in progress.
    busy: AtomicU32,
    /// When it last became idle (nanoseconds since [`Slots::epoch`]).
    idle_since: AtomicU64,
    /// Told to close: evicted, or the server is stopping.
    close: Notify,
}

/// A connection's hold on its slot; the slot is freed when it is dropped.
pub struct Ticket {
    slots: Arc<Slots>,
    id: u64,
    connection: Arc<Connection>,
}

/// A request in progress on a connection; it is idle again when the last one is dropped.
pub struct Busy {
    slots: Arc<Slots>,
    connection: Arc<Connection>,
}

impl Slots {
    /// `max` slots (at least one), at most `per_ip` of them for one address (0: no cap).
    pub fn new(max: usize, per_ip: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            per_ip,
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            emptied: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// A slot for a new connection from `ip`: a free one, or the one of the connection idle
    /// the longest, which is told to close; waits only while every connection is busy. `None`
    /// when `ip` already holds its cap and none of its connections is idle: the newcomer is
    /// refused at once (waiting would hold up everyone else's).
    pub async fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        loop {
            match self.try_admit(ip) {
                Admission::Admitted(ticket) => return Some(ticket),
                Admission::Refused => return None,
                // `notify_one` keeps its permit if nobody waits yet: no change is missed.
                Admission::Full => self.changed.notified().await,
            }
        }
    }

    fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let mut inner = self.lock();
        let capped = self.per_ip > 0 && inner.by_ip.get(&ip).copied().unwrap_or(0) >= self.per_ip;
        if capped && Self::evict(&mut inner, Some(ip)).is_none() {
            return Admission::Refused;
        }
        if inner.holding.len() >= self.max && Self::evict(&mut inner, None).is_none() {
            return Admission::Full;
        }
        if self.per_ip > 0 {
            *inner.by_ip.entry(ip).or_default() += 1;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let connection = Arc::new(Connection {
            ip,
            busy: AtomicU32::new(0),
            idle_since: AtomicU64::new(self.now()),
            close: Notify::new(),
        });
        inner.holding.insert(id, connection.clone());
        inner.live += 1;
        Admission::Admitted(Ticket {
            slots: self.clone(),
            id,
            connection,
        })
    }

    /// Tells the connection idle the longest to close, when there is one; for when the
    /// process is out of file descriptors before the limit is reached.
    pub fn evict_idle(&self) -> bool {
        Self::evict(&mut self.lock(), None).is_some()
    }

    /// Tells the connection idle the longest (from `only`, when given) to close and frees
    /// its slot.
    fn evict(inner: &mut Inner, only: Option<IpAddr>) -> Option<()> {
        let oldest = inner
            .holding
            .iter()
            .filter(|(_, connection)| only.is_none_or(|ip| connection.ip == ip))
            .filter(|(_, connection)| connection.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, connection)| connection.idle_since.load(Ordering::Relaxed))
            .map(|(&id, _)| id)?;
        let evicted = inner.release(oldest)?;
        evicted.close.notify_one();
        inner.evicted += 1;
        tracing::debug!(
            evicted = inner.evicted,
            "all connections taken: the one idle the longest is closed to make room"
        );
        Some(())
    }

    /// Tells every connection to close once its request, if any, is answered.
    pub fn close_all(&self) {
        for connection in self.lock().holding.values() {
            connection.close.notify_one();
        }
    }

    /// Resolves when every connection has ended.
    pub async fn all_closed(&self) {
        loop {
            // Created before looking: `notify_waiters` reaches it even if not yet polled.
            let emptied = self.emptied.notified();
            if self.lock().live == 0 {
                return;
            }
            emptied.await;
        }
    }
}

/// What [`Slots::try_admit`] decided.
enum Admission {
    Admitted(Ticket),
    /// Every connection is busy: wait.
    Full,
    /// The address holds its cap, all busy.
    Refused,
}

impl Inner {
    /// Takes connection `id` off the slots, and off its address's count.
    fn release(&mut self, id: u64) -> Option<Arc<Connection>> {
        let connection = self.holding.remove(&id)?;
        if let Some(count) = self.by_ip.get_mut(&connection.ip) {
            *count -= 1;
            if *count == 0 {
                self.by_ip.remove(&connection.ip);
            }
        }
        Some(connection)
    }
}

impl Ticket {
    /// Marks a request in progress until the guard is dropped.
    pub fn busy(&self) -> Busy {
        self.connection.busy.fetch_add(1, Ordering::AcqRel);
        Busy {
            slots: self.slots.clone(),
            connection: self.connection.clone(),
        }
    }

    /// Resolves when the connection must close (evicted, or the server is stopping).
    pub async fn closing(&self) {
        self.connection.close.notified().await;
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connection
            .idle_since
            .store(self.slots.now(), Ordering::Relaxed);
        if self.connection.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.slots.changed.notify_one();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.slots.lock();
        inner.release(self.id);
        inner.live -= 1;
        let empty = inner.live == 0;
        drop(inner);
        self.slots.changed.notify_one();
        if empty {
            self.slots.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn one_address_gives_up_its_own_idle_connection_or_is_refused_at_its_cap() {
        let slots = Slots::new(10, 2);
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
        let first = slots.admit(HOME).await.unwrap();
        let _elsewhere = slots.admit(other).await.unwrap();
        let second = slots.admit(HOME).await.unwrap();
        let _busy = second.busy();
        // HOME holds two: its own idle one (`first`) makes room, not `other`'s.
        let third = slots.admit(HOME).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), first.closing())
            .await
            .expect("the address's idle connection is told to close");
        let _busy_too = third.busy();
        assert!(slots.admit(HOME).await.is_none(), "both busy: refused");
        assert!(
            slots.admit(other).await.is_some(),
            "other addresses still come in"
        );
    }

    #[tokio::test]
    async fn a_full_house_evicts_the_longest_idle_and_waits_only_when_all_are_busy() {
        let slots = Slots::new(2, 0);
        let first = slots.admit(HOME).await.unwrap();
        let second = slots.admit(HOME).await.unwrap();
        let busy_second = second.busy();
        drop(busy_second);
        // Both idle, `first` the longest: it is told to close.
        let third = slots.admit(HOME).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), first.closing())
            .await
            .expect("the longest idle is told to close");
        // `second` and `third` busy: a fourth waits until one is idle again.
        let busy = (second.busy(), third.busy());
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.admit(HOME).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "admitted while every connection was busy"
        );
        drop(busy.0);
        let fourth = tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
            .await
            .expect("admitted once one is idle")
            .unwrap()
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), second.closing())
            .await
            .expect("the one that became idle is told to close");
        drop(busy.1);
        let all_closed = tokio::spawn({
            let slots = slots.clone();
            async move { slots.all_closed().await }
        });
        drop((first, second, third));
        assert!(!all_closed.is_finished());
        drop(fourth);
        tokio::time::timeout(std::time::Duration::from_secs(1), all_closed)
            .await
            .expect("all closed")
            .unwrap();
    }
}
