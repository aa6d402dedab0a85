//! `Ledger`: attempt work per endpoint that outlives the actor that started it.
//!
//! An attempt runs in a task of its own; its outcome is stored by the actor's record
//! task. When an actor fails (or its whole tree with the Supervisor), those tasks
//! keep running. Every attempt holds a `Ticket` from its send until its record is
//! stored; a report its actor never handled (the actor was gone, or died with the
//! report in its mailbox) is kept here as an orphan instead of being lost. The
//! Supervisor starts an endpoint's next actor only once the endpoint holds no ticket,
//! and that actor takes the orphans before it sends anything. So an attempt is never
//! sent twice at once, its record is never lost, and `x-delivery-attempt` never
//! repeats for a delivery within one process.

use foldhash::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::actors::attempt::ReportBody;
use crate::ids::EndpointId;

/// The attempt work of every endpoint of one engine.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    endpoints: Mutex<HashMap<EndpointId, Work>>,
    /// Woken whenever an endpoint's last ticket goes.
    quiet: Notify,
}

#[derive(Debug, Default)]
struct Work {
    tickets: usize,
    orphans: Vec<ReportBody>,
}

/// One attempt's share of its endpoint's work, from send until its record is
/// stored (or it is handed back as an orphan).
#[derive(Debug)]
pub(crate) struct Ticket {
    ledger: Arc<Ledger>,
    endpoint: EndpointId,
}

impl Ledger {
    fn endpoints(&self) -> MutexGuard<'_, HashMap<EndpointId, Work>> {
        self.endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A ticket for an attempt to `endpoint`.
    pub(crate) fn begin(self: &Arc<Self>, endpoint: &EndpointId) -> Ticket {
        self.endpoints()
            .entry(endpoint.clone())
            .or_default()
            .tickets += 1;
        Ticket {
            ledger: self.clone(),
            endpoint: endpoint.clone(),
        }
    }

    /// Whether attempt work of `endpoint` is still running.
    pub(crate) fn busy(&self, endpoint: &EndpointId) -> bool {
        self.endpoints()
            .get(endpoint)
            .is_some_and(|work| work.tickets > 0)
    }

    /// Waits until `endpoint` holds no ticket.
    pub(crate) async fn until_quiet(&self, endpoint: &EndpointId) {
        loop {
            let quiet = self.quiet.notified();
            tokio::pin!(quiet);
            quiet.as_mut().enable();
            if !self.busy(endpoint) {
                return;
            }
            quiet.await;
        }
    }

    /// Takes the reports of `endpoint`'s attempts that no actor handled.
    pub(crate) fn take_orphans(&self, endpoint: &EndpointId) -> Vec<ReportBody> {
        let mut endpoints = self.endpoints();
        let Some(work) = endpoints.get_mut(endpoint) else {
            return Vec::new();
        };
        let orphans = std::mem::take(&mut work.orphans);
        if work.tickets == 0 {
            endpoints.remove(endpoint);
        }
        orphans
    }

    /// Tickets held across every endpoint (shutdown waits for none).
    pub(crate) fn total(&self) -> usize {
        self.endpoints().values().map(|work| work.tickets).sum()
    }
}

impl Ticket {
    /// Keeps `report` for the endpoint's next actor (its own actor never handled it).
    pub(crate) fn orphan(&self, report: ReportBody) {
        self.ledger
            .endpoints()
            .entry(self.endpoint.clone())
            .or_default()
            .orphans
            .push(report);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let quiet = {
            let mut endpoints = self.ledger.endpoints();
            let Some(work) = endpoints.get_mut(&self.endpoint) else {
                return;
            };
            work.tickets = work.tickets.saturating_sub(1);
            let quiet = work.tickets == 0;
            if quiet && work.orphans.is_empty() {
                endpoints.remove(&self.endpoint);
            }
            quiet
        };
        if quiet {
            self.ledger.quiet.notify_waiters();
        }
    }
}
