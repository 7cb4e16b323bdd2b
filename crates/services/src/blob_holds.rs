//! Holds on blob ids. Blobs are content-addressed and shared: an upload of content that is
//! already stored reuses the stored blob, so a request that is about to reference a blob must
//! not lose it to another request deleting the last old reference at the same moment.
//!
//! A writer holds the id from the moment its content is sealed (the id known, the file not yet
//! committed) until the transaction that writes the rows referencing it has committed. A
//! deletion first marks the id (refused while it is held), then re-checks the references in the
//! database, then deletes the file. A writer that arrives during a deletion waits for it to end
//! and then stores its own copy, so no row ever points at a missing blob. In-process, like the
//! blob store itself (one process owns a store).

use crate::datasets::internal;
use crate::Result;
use blob_store::{BlobInfo, SealedBlob};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

#[derive(Default)]
struct Entry {
    holds: usize,
    deleting: bool,
}

/// The ids held or being deleted.
#[derive(Default)]
pub(crate) struct BlobHolds {
    state: Mutex<HashMap<String, Entry>>,
    changed: Condvar,
}

/// A hold on a blob id: the blob is not deleted while it lives. Keep it until the rows that
/// reference the blob are committed.
#[must_use = "the hold must live until the rows referencing the blob are committed"]
pub struct BlobHold {
    holds: Arc<BlobHolds>,
    id: String,
}

/// A deletion in progress: nobody can take a hold on the id until it is dropped.
pub(crate) struct DeleteMark {
    holds: Arc<BlobHolds>,
    id: String,
}

impl BlobHolds {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `id`, waiting while a deletion of it is in progress. Blocking.
    pub fn hold(self: &Arc<Self>, id: &str) -> BlobHold {
        let mut entries = self.entries();
        while entries.get(id).is_some_and(|e| e.deleting) {
            entries = self.changed.wait(entries).unwrap_or_else(|e| e.into_inner());
        }
        entries.entry(id.to_string()).or_default().holds += 1;
        BlobHold { holds: self.clone(), id: id.to_string() }
    }

    /// Marks `id` for deletion; `None` while it is held (or already being deleted).
    pub fn mark_for_delete(self: &Arc<Self>, id: &str) -> Option<DeleteMark> {
        let mut entries = self.entries();
        let entry = entries.entry(id.to_string()).or_default();
        if entry.holds > 0 || entry.deleting {
            return None;
        }
        entry.deleting = true;
        Some(DeleteMark { holds: self.clone(), id: id.to_string() })
    }

    fn release(&self, id: &str, hold: bool) {
        let mut entries = self.entries();
        if let Some(entry) = entries.get_mut(id) {
            if hold {
                entry.holds = entry.holds.saturating_sub(1);
            } else {
                entry.deleting = false;
            }
            if entry.holds == 0 && !entry.deleting {
                entries.remove(id);
            }
        }
        self.changed.notify_all();
    }
}

impl BlobHold {
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Debug for BlobHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BlobHold").field(&self.id).finish()
    }
}

impl Drop for BlobHold {
    fn drop(&mut self) {
        self.holds.release(&self.id, true);
    }
}

impl Drop for DeleteMark {
    fn drop(&mut self) {
        self.holds.release(&self.id, false);
    }
}

/// Holds a sealed blob's id, then commits it (blocking): the blob exists, and stays, while the
/// hold lives.
pub(crate) fn commit_held(holds: &Arc<BlobHolds>, sealed: SealedBlob) -> Result<(BlobInfo, BlobHold)> {
    let hold = holds.hold(sealed.id());
    let info = sealed.commit().map_err(internal)?;
    Ok((info, hold))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_id_cannot_be_marked_and_a_marked_id_waits_its_holders() {
        let holds = Arc::new(BlobHolds::default());
        let hold = holds.hold("a");
        assert!(holds.mark_for_delete("a").is_none(), "held");
        drop(hold);
        let mark = holds.mark_for_delete("a").expect("free");
        assert!(holds.mark_for_delete("a").is_none(), "already being deleted");
        let waiter = {
            let holds = holds.clone();
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                let _hold = holds.hold("a");
                started.elapsed()
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(mark);
        assert!(waiter.join().unwrap() >= std::time::Duration::from_millis(90), "the hold waited for the deletion");
        assert!(holds.entries().is_empty(), "nothing left behind");
    }
}
