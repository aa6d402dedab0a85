//! `Directory`: the running endpoint actors, so a publish hands its deliveries
//! straight to them (one message per delivery, no hop through the Supervisor), and
//! an idle actor can leave without a message being lost on its way to it.
//!
//! Senders look an actor up and cast under the read lock, counting what they sent;
//! an actor that has been idle long enough removes itself under the write lock only
//! if it has handled every message counted. So a sender either reaches an actor
//! that will handle its message, or finds none and asks the Supervisor to start one.

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ractor::{ActorId, ActorRef};

use crate::actors::endpoint::EndpointMsg;
use crate::ids::EndpointId;

/// A running actor and how many directory messages were cast to it.
#[derive(Debug)]
struct Entry {
    actor: ActorRef<EndpointMsg>,
    sent: AtomicU64,
    /// A `NewWork` is in its mailbox, not yet handled: another adds nothing.
    wake_pending: AtomicBool,
}

/// The running endpoint actors of one engine. Filled by the Supervisor as it starts
/// them; an actor removes itself when it stops.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    entries: RwLock<HashMap<EndpointId, Entry>>,
}

impl Directory {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<EndpointId, Entry>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<EndpointId, Entry>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Casts `message` to the endpoint's running actor; gives it back when there is
    /// none (or it just died). The message comes back whole so the caller can
    /// forward it; boxing it would cost an allocation on every hand-off.
    #[allow(clippy::result_large_err)]
    pub(crate) fn send(&self, id: &EndpointId, message: EndpointMsg) -> Result<(), EndpointMsg> {
        let entries = self.read();
        let Some(entry) = entries.get(id) else {
            return Err(message);
        };
        match entry.actor.cast(message) {
            Ok(()) => {
                entry.sent.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(ractor::MessagingErr::SendErr(message)) => Err(message),
            // Other errors carry no message back; the actor is gone and storage
            // holds the work, which its next actor reloads.
            Err(_) => Ok(()),
        }
    }

    /// Tells the endpoint's running actor that new work is stored, unless it has
    /// that message waiting already (one read finds all of it); false when no actor
    /// runs.
    pub(crate) fn wake(&self, id: &EndpointId) -> bool {
        let entries = self.read();
        let Some(entry) = entries.get(id) else {
            return false;
        };
        if entry.wake_pending.swap(true, Ordering::SeqCst) {
            return true;
        }
        match entry.actor.cast(EndpointMsg::NewWork) {
            Ok(()) => {
                entry.sent.fetch_add(1, Ordering::SeqCst);
                true
            }
            Err(ractor::MessagingErr::SendErr(_)) => {
                entry.wake_pending.store(false, Ordering::SeqCst);
                false
            }
            // Gone: its next actor reads the work at its start.
            Err(_) => true,
        }
    }

    /// The actor `actor` is handling its `NewWork`: the next wake sends another
    /// (it reads storage after this, so what is stored before is in that read).
    pub(crate) fn woken(&self, id: &EndpointId, actor: ActorId) {
        if let Some(entry) = self
            .read()
            .get(id)
            .filter(|entry| entry.actor.get_id() == actor)
        {
            entry.wake_pending.store(false, Ordering::SeqCst);
        }
    }

    /// The endpoint's running actor, if any.
    pub(crate) fn get(&self, id: &EndpointId) -> Option<ActorRef<EndpointMsg>> {
        self.read().get(id).map(|entry| entry.actor.clone())
    }

    /// Records a newly started actor.
    pub(crate) fn insert(&self, id: EndpointId, actor: ActorRef<EndpointMsg>) {
        self.write().insert(
            id,
            Entry {
                actor,
                sent: AtomicU64::new(0),
                wake_pending: AtomicBool::new(false),
            },
        );
    }

    /// Removes the actor `actor` of endpoint `id` if it has handled all `handled`
    /// messages cast to it; true when it was removed (it must stop then).
    pub(crate) fn leave_if_idle(&self, id: &EndpointId, actor: ActorId, handled: u64) -> bool {
        let mut entries = self.write();
        let idle = entries.get(id).is_some_and(|entry| {
            entry.actor.get_id() == actor && entry.sent.load(Ordering::SeqCst) == handled
        });
        if idle {
            entries.remove(id);
        }
        idle
    }

    /// Removes the actor `actor` of endpoint `id`, whatever it has handled (it
    /// stopped or failed).
    pub(crate) fn remove(&self, id: &EndpointId, actor: ActorId) {
        let mut entries = self.write();
        if entries
            .get(id)
            .is_some_and(|entry| entry.actor.get_id() == actor)
        {
            entries.remove(id);
        }
    }

    /// Forgets every actor (their Supervisor died, and them with it).
    pub(crate) fn clear(&self) {
        self.write().clear();
    }

    /// How many actors run.
    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }
}
