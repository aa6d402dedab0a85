//! `FairShare`: the engine-wide cap on attempts in flight, shared fairly between
//! tenants. Without it, endpoints × `max_in_flight` × timeouts is unbounded: one
//! tenant with many endpoints that accept connections and never answer (tarpits)
//! could hold every socket and file descriptor the process has, while everyone
//! else's deliveries wait.
//!
//! The rule: of `capacity` permits, a tenant may hold at most
//! `capacity / (active + 1)`, where `active` counts the tenants holding or waiting
//! for a permit. So there is always room for a tenant that has nothing in flight yet
//! to start at once, and a freed permit goes to the waiting tenant holding the
//! fewest. A tenant alone may use half the capacity; two share two thirds; and so
//! on.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::ids::TenantId;

/// The cap and who holds what.
#[derive(Debug)]
pub(crate) struct FairShare {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Permits held, all tenants together.
    held: usize,
    /// The tenants holding or waiting for a permit (no entry otherwise).
    tenants: HashMap<TenantId, Tenant>,
}

#[derive(Debug, Default)]
struct Tenant {
    held: usize,
    /// Waiting acquirers, first come first served within the tenant.
    waiting: VecDeque<oneshot::Sender<()>>,
}

/// One attempt's permit; gives it back when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    share: Arc<FairShare>,
    tenant: TenantId,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.share.release(&self.tenant);
    }
}

impl FairShare {
    /// A cap of `capacity` attempts in flight (at least 2, so that a second tenant
    /// always has room).
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(2),
            state: Mutex::new(State::default()),
        })
    }

    /// What one tenant may hold while `active` tenants hold or wait.
    fn share(&self, active: usize) -> usize {
        (self.capacity / (active + 1)).max(1)
    }

    /// Waits for a permit for `tenant`.
    pub(crate) async fn acquire(self: &Arc<Self>, tenant: &TenantId) -> Permit {
        let granted = {
            let mut state = self.lock();
            let share =
                self.share(state.tenants.len() + usize::from(!state.tenants.contains_key(tenant)));
            let free = state.held < self.capacity;
            let entry = state.tenants.entry(tenant.clone()).or_default();
            if free && entry.waiting.is_empty() && entry.held < share {
                entry.held += 1;
                state.held += 1;
                None
            } else {
                let (grant, granted) = oneshot::channel();
                entry.waiting.push_back(grant);
                Some(granted)
            }
        };
        if let Some(granted) = granted {
            let mut waiting = Waiting {
                share: Arc::clone(self),
                tenant: tenant.clone(),
                granted: Some(granted),
            };
            let receiver = waiting.granted.as_mut().expect("set above");
            // A grant's sender goes only by a send, or with a cancelled waiter's own
            // entry (see `Waiting`), so this is the grant.
            let _ = receiver.await;
            waiting.granted = None;
        }
        Permit {
            share: Arc::clone(self),
            tenant: tenant.clone(),
        }
    }

    /// Gives a permit of `tenant` back and hands free permits to waiting tenants.
    fn release(&self, tenant: &TenantId) {
        let mut state = self.lock();
        state.held -= 1;
        if let Some(entry) = state.tenants.get_mut(tenant) {
            entry.held -= 1;
            if entry.held == 0 && entry.waiting.is_empty() {
                state.tenants.remove(tenant);
            }
        }
        self.grant(&mut state);
    }

    /// While permits are free, gives one to the waiting tenant holding the fewest
    /// (within its share).
    fn grant(&self, state: &mut State) {
        while state.held < self.capacity {
            let share = self.share(state.tenants.len());
            let next = state
                .tenants
                .iter()
                .filter(|(_, t)| !t.waiting.is_empty() && t.held < share)
                .min_by_key(|(_, t)| t.held)
                .map(|(id, _)| id.clone());
            let Some(id) = next else { return };
            let entry = state.tenants.get_mut(&id).expect("just found");
            let Some(grant) = entry.waiting.pop_front() else {
                return;
            };
            // A waiter that went away (its attempt was cancelled) takes nothing.
            if grant.send(()).is_ok() {
                entry.held += 1;
                state.held += 1;
            } else if entry.held == 0 && entry.waiting.is_empty() {
                state.tenants.remove(&id);
            }
        }
    }

    /// Permits held now, and by `tenant`.
    #[cfg(test)]
    fn held(&self, tenant: &TenantId) -> (usize, usize) {
        let state = self.lock();
        let mine = state.tenants.get(tenant).map_or(0, |t| t.held);
        (state.held, mine)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A waiter's side, while it waits: dropped before it was granted a permit (its
/// attempt was cancelled), it leaves the queue; granted one it did not take, it
/// gives it back.
struct Waiting {
    share: Arc<FairShare>,
    tenant: TenantId,
    granted: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let Some(mut granted) = self.granted.take() else {
            return;
        };
        granted.close();
        if granted.try_recv().is_ok() {
            self.share.release(&self.tenant);
            return;
        }
        let mut state = self.share.lock();
        if let Some(entry) = state.tenants.get_mut(&self.tenant) {
            entry.waiting.retain(|grant| !grant.is_closed());
            if entry.held == 0 && entry.waiting.is_empty() {
                state.tenants.remove(&self.tenant);
            }
        }
        self.share.grant(&mut state);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    #[tokio::test]
    async fn a_tenant_alone_takes_half_and_a_newcomer_starts_at_once() {
        let share = FairShare::new(8);
        let (a, b) = (tenant("a"), tenant("b"));
        let mut held_by_a = Vec::new();
        for _ in 0..4 {
            held_by_a.push(share.acquire(&a).await);
        }
        // A fifth for `a` waits: half the capacity is its share alone.
        let waiting = tokio::spawn({
            let share = Arc::clone(&share);
            let a = a.clone();
            async move { share.acquire(&a).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        assert_eq!(share.held(&a), (4, 4));
        // `b` gets one at once.
        let b_permit = tokio::time::timeout(Duration::from_secs(1), share.acquire(&b))
            .await
            .expect("a newcomer is not kept waiting");
        assert_eq!(share.held(&b), (5, 1));
        // `a` releasing one lets its waiter in only within its share of two tenants
        // (8 / 3 = 2): it holds 3 after the release, so it still waits.
        drop(held_by_a.pop());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(b_permit);
        drop(held_by_a.pop());
        drop(held_by_a.pop());
        // Now `a` holds 1, `b` nothing: `a` alone again, its share is 4.
        let permit = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(share.held(&a), (2, 2));
        drop(permit);
        drop(held_by_a);
        assert_eq!(share.held(&a), (0, 0));
        assert!(share.lock().tenants.is_empty());
    }

    #[tokio::test]
    async fn a_cancelled_waiter_leaves_nothing_behind() {
        let share = FairShare::new(2);
        let a = tenant("a");
        let first = share.acquire(&a).await;
        let cancelled = tokio::time::timeout(Duration::from_millis(20), share.acquire(&a)).await;
        assert!(cancelled.is_err());
        drop(first);
        assert_eq!(share.held(&a), (0, 0));
        assert!(share.lock().tenants.is_empty());
        // And the capacity is whole again.
        let again = share.acquire(&a).await;
        assert_eq!(share.held(&a), (1, 1));
        drop(again);
    }
}
