//! `ChangeFeed`: with storage shared by several engines, keeps this engine's
//! subscription index as current as storage before each publish is routed.
//!
//! Storage numbers endpoint changes in commit order. Before a publish goes to the
//! Router, `catch_up` reads the last number; when it is past what was applied, it
//! reads the changes in between and casts each changed endpoint (as stored now) to
//! the Router, ahead of the publish in its mailbox. So an endpoint change committed
//! on any node applies to the very next publish on every node; the signals between
//! nodes only make the index current sooner.
//!
//! Publishes arriving together share one read: each takes a ticket, and a read
//! begun after a ticket was taken answers it (what it reads was committed before
//! that publish began).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::actors::router::RouterMsg;
use crate::actors::Shared;
use crate::error::StorageError;

/// Changes read at once.
const CHANGE_PAGE: usize = 1000;

/// What this engine applied of storage's endpoint changes.
#[derive(Debug, Default)]
pub(crate) struct ChangeFeed {
    /// The position of the last change cast to the Router.
    applied: AtomicU64,
    /// Catch-ups take turns: one reads while the others wait, then find it done.
    turn: tokio::sync::Mutex<()>,
    /// Tickets taken, and the last ticket a finished read answered.
    asked: AtomicU64,
    answered: AtomicU64,
}

impl ChangeFeed {
    /// Starts at `position`: the Router's index is read after it was.
    pub(crate) fn start_at(&self, position: u64) {
        self.applied.store(position, Ordering::SeqCst);
    }

    /// Casts every endpoint change stored so far and not yet applied to the Router.
    ///
    /// # Errors
    /// The storage's.
    pub(crate) async fn catch_up(&self, shared: &Shared) -> Result<(), StorageError> {
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.turn.lock().await;
        if self.answered.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Every ticket taken so far is answered by a read that begins now.
        let covers = self.asked.load(Ordering::SeqCst);
        let head = shared.storage.endpoint_change_position().await?;
        let mut applied = self.applied.load(Ordering::SeqCst);
        let Some(router) = shared.router() else {
            // Not running: the publish this is for fails anyway.
            return Ok(());
        };
        while applied < head {
            let changes = shared
                .storage
                .endpoint_changes_after(applied, CHANGE_PAGE)
                .await?;
            let contiguous = changes
                .first()
                .is_some_and(|(position, _, _)| *position == applied + 1);
            if !contiguous {
                // Pruned past what this engine applied: read every endpoint again.
                tracing::warn!(
                    applied,
                    head,
                    "endpoint changes were pruned; reading every endpoint again"
                );
                let _ = router.cast(RouterMsg::Reload);
                applied = head;
                break;
            }
            for (position, tenant, id) in changes {
                let message = match shared.storage.endpoint_by_id(&id).await? {
                    Some(endpoint) => RouterMsg::Upsert(endpoint),
                    None => RouterMsg::Remove(tenant, id),
                };
                let _ = router.cast(message);
                applied = position;
            }
        }
        // Stored after the casts: a publish answered by this read casts after them.
        self.applied.fetch_max(applied, Ordering::SeqCst);
        self.answered.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }
}
