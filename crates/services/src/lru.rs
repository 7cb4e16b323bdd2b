//! A small least-recently-used map for values worth keeping between requests (loaded
//! tokenizers, recounted statistics). Linear scans: meant for a handful of entries.

use std::collections::VecDeque;
use std::sync::Mutex;

pub(crate) struct SmallLru<V> {
    capacity: usize,
    /// Most recently used last.
    entries: Mutex<VecDeque<(String, V)>>,
}

impl<V: Clone> SmallLru<V> {
    pub fn new(capacity: usize) -> Self {
        SmallLru { capacity: capacity.max(1), entries: Mutex::new(VecDeque::new()) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let at = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(at)?;
        let value = entry.1.clone();
        entries.push_back(entry);
        Some(value)
    }

    pub fn put(&self, key: String, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(k, _)| *k != key);
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::SmallLru;

    #[test]
    fn keeps_the_most_recently_used() {
        let lru = SmallLru::new(2);
        lru.put("a".into(), 1);
        lru.put("b".into(), 2);
        assert_eq!(lru.get("a"), Some(1)); // a is now newer than b
        lru.put("c".into(), 3);
        assert_eq!((lru.get("a"), lru.get("b"), lru.get("c")), (Some(1), None, Some(3)));
        lru.put("c".into(), 4);
        assert_eq!(lru.get("c"), Some(4));
    }
}
