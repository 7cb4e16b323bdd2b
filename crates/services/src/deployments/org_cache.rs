//! A per-organization value the gateway reads on every request and the database on at most one
//! request a second per organization (inference limits, the content policy): a change takes
//! effect within [`FRESH_MS`].

use std::collections::HashMap;
use std::sync::Mutex;

/// How long a value read is used before it is read again.
pub const FRESH_MS: i64 = 1000;

/// Past this many organizations, the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Organization id → (when read, value).
pub struct OrgCache<V> {
    entries: Mutex<HashMap<String, (i64, V)>>,
}

impl<V> Default for OrgCache<V> {
    fn default() -> Self {
        OrgCache { entries: Mutex::default() }
    }
}

impl<V: Clone> OrgCache<V> {
    /// The value read less than [`FRESH_MS`] before `now`, if any.
    pub fn fresh(&self, org_id: &str, now: i64) -> Option<V> {
        let entries = self.entries.lock().expect("organization cache lock");
        entries.get(org_id).filter(|(at, _)| now - at < FRESH_MS).map(|(_, v)| v.clone())
    }

    pub fn put(&self, org_id: &str, now: i64, value: V) {
        let mut entries = self.entries.lock().expect("organization cache lock");
        if entries.len() > MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(org_id.to_string(), (now, value));
    }

    /// Forgets an organization's value (it changed here: read it again at once).
    pub fn forget(&self, org_id: &str) {
        self.entries.lock().expect("organization cache lock").remove(org_id);
    }
}
