//! Service descriptors (the provider's answer to `built-in.get_service`: every member, with the
//! `_rmethod` of each function) kept between HTTP calls, so a call to a known service is one
//! round trip to its provider, not two (http-and-cluster.md §5 item 16).
//!
//! Entries are dropped when the service is removed or replaced (the Router's `service_removed`
//! notices), and the cache is a byte budget: entries over [`MAX_ENTRY`] are not kept, and the
//! oldest go first past [`MAX_TOTAL`].

use std::collections::VecDeque;

use crate::hashing::HashMap;
use std::sync::Arc;

use rmpv::Value;

/// Largest descriptor kept, in encoded bytes.
pub(super) const MAX_ENTRY: usize = 256 * 1024;
/// Bytes of descriptors kept in all.
pub(super) const MAX_TOTAL: usize = 16 * 1024 * 1024;

#[derive(Debug, Default)]
pub(super) struct Descriptors {
    /// Shared, so a call takes its descriptor without copying the tree.
    entries: HashMap<String, (Arc<Value>, usize)>,
    order: VecDeque<String>,
    bytes: usize,
    /// Bumped whenever an entry may have gone stale, so an answer fetched before that is not
    /// stored after it.
    epoch: u64,
}

impl Descriptors {
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(super) fn get(&self, id: &str) -> Option<Arc<Value>> {
        self.entries.get(id).map(|(v, _)| Arc::clone(v))
    }

    /// Keep `descriptor` of `id`, fetched at `epoch`, weighing `size` bytes.
    pub(super) fn insert(&mut self, id: &str, descriptor: Arc<Value>, size: usize, epoch: u64) {
        if epoch != self.epoch || size > MAX_ENTRY {
            return;
        }
        self.forget_entry(id);
        while self.bytes + size > MAX_TOTAL {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, s)) = self.entries.remove(&oldest) {
                self.bytes -= s;
            }
        }
        self.bytes += size;
        self.order.push_back(id.to_owned());
        self.entries.insert(id.to_owned(), (descriptor, size));
    }

    /// The service `id` went away or changed.
    pub(super) fn forget(&mut self, id: &str) {
        self.epoch += 1;
        self.forget_entry(id);
    }

    fn forget_entry(&mut self, id: &str) {
        if let Some((_, size)) = self.entries.remove(id) {
            self.bytes -= size;
            self.order.retain(|k| k != id);
        }
    }

    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_answers_and_oversized_entries_are_not_kept() {
        let mut d = Descriptors::default();
        let epoch = d.epoch();
        d.forget("ws/c:other");
        d.insert("ws/c:svc", Arc::new(Value::Nil), 10, epoch);
        assert!(d.get("ws/c:svc").is_none());
        d.insert("ws/c:svc", Arc::new(Value::Nil), MAX_ENTRY + 1, d.epoch());
        assert!(d.get("ws/c:svc").is_none());
        d.insert("ws/c:svc", Arc::new(Value::Nil), 10, d.epoch());
        assert!(d.get("ws/c:svc").is_some());
    }

    #[test]
    fn the_budget_evicts_the_oldest() {
        let mut d = Descriptors::default();
        let n = MAX_TOTAL / MAX_ENTRY;
        for i in 0..=n {
            d.insert(
                &format!("ws/c:s{i}"),
                Arc::new(Value::Nil),
                MAX_ENTRY,
                d.epoch(),
            );
        }
        assert!(d.bytes() <= MAX_TOTAL);
        assert!(d.get("ws/c:s0").is_none());
        assert!(d.get(&format!("ws/c:s{n}")).is_some());
    }
}
